/* The cleanup stage's records over si_db (issue 16): which batches every
 * destination confirmed, the files of their confirmed images, and what a
 * cleanup removed (table batch_cleanup, schema.c).
 *
 * Confirmed: the batch has image_destination rows, every row of its images
 * is "sent", the latest send job of each destination (excl_key) is neither
 * queued, running nor failed, and the batch is not being imported (QUEUE,
 * PROCESSING). Its confirmed images are those with at least one row (all
 * sent, then); an image that goes nowhere was confirmed by nobody and is
 * never the cleanup's.
 *
 * Ownership: strings passed to callbacks are borrowed for the call. */
#ifndef SENDIT_STORE_CLEANUP_H
#define SENDIT_STORE_CLEANUP_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"

#define SI_CLEANUP_ORIGINALS "originals"
#define SI_CLEANUP_DEID "deid"
#define SI_CLEANUP_POLICY "policy"
#define SI_CLEANUP_LOW_WATER "low-water"

typedef struct si_confirmed_batch {
  int64_t batch_id;
  const char *uid, *status;
  int has_error;
  int64_t confirmed_at; /* the newest image_destination update */
  int64_t newest_image; /* the newest image row's created_at (late data) */
} si_confirmed_batch;
typedef int (*si_confirmed_fn)(void *user, const si_confirmed_batch *b);
/* The confirmed batches, oldest confirmation first (then by id); only
 * batch `batch_id` when it is not -1. */
si_status si_store_cleanup_confirmed(si_db *db, int64_t batch_id, si_confirmed_fn fn, void *user,
                                     si_error *err);

/* The files of batch `batch_id`'s confirmed images for `what`
 * (SI_CLEANUP_ORIGINALS: image.storage_path; SI_CLEANUP_DEID: the
 * image_deid output_path of those de-identified), by image id:
 * fn(user, image_id, path, size_bytes recorded or -1). */
typedef int (*si_cleanup_file_fn)(void *user, int64_t image_id, const char *path, int64_t size);
si_status si_store_cleanup_files(si_db *db, int64_t batch_id, const char *what,
                                 si_cleanup_file_fn fn, void *user, si_error *err);

/* One row of batch_cleanup. removed_at 0: planned, not finished. */
typedef struct si_cleanup_record {
  int64_t id, batch_id;
  const char *what, *path, *reason;
  int64_t files, bytes, planned_at, removed_at;
} si_cleanup_record;
typedef int (*si_cleanup_record_fn)(void *user, const si_cleanup_record *r);
/* The batch's records, oldest first. */
si_status si_store_cleanup_records(si_db *db, int64_t batch_id, si_cleanup_record_fn fn, void *user,
                                   si_error *err);
/* The state of (batch, what) for a pass: *done 1 when a finished record
 * is newer than `newest_image` (nothing of it is left to remove); *plan_id
 * the id of an unfinished record (a pass a crash interrupted), else -1. */
si_status si_store_cleanup_state(si_db *db, int64_t batch_id, const char *what,
                                 int64_t newest_image, int *done, int64_t *plan_id, si_error *err);
/* Writes a plan (removed_at NULL) and sets *id. */
si_status si_store_cleanup_plan(si_db *db, int64_t batch_id, const char *what, const char *path,
                                int64_t files, int64_t bytes, const char *reason, int64_t *id,
                                si_error *err);
/* Finishes plan `id`: removed_at now, and the files and bytes removed,
 * or, with keep_planned (a pass a crash interrupted, whose first files
 * went before it), the plan's own. */
si_status si_store_cleanup_finish(si_db *db, int64_t id, int64_t files, int64_t bytes,
                                  int keep_planned, si_error *err);
/* Sets the batch's confirmed images (not ERROR) to DONE, the original's
 * final state; their rows stay. */
si_status si_store_cleanup_images_done(si_db *db, int64_t batch_id, si_error *err);

#endif
