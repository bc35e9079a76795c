/* The delivery engine's records over si_db (issue 16): each destination's
 * circuit breaker and counters (table destination_state, schema.c
 * migration 7), the items a send job delivers, deferring a job without
 * spending an attempt, and the counts the operator surfaces show. The
 * per-image ledger itself (image_destination) is in store_stages.h.
 *
 * Ownership: strings given are borrowed for the call; rows handed to
 * callbacks are borrowed for the callback; filled structs are
 * caller-owned. */
#ifndef SENDIT_STORE_DEST_H
#define SENDIT_STORE_DEST_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"

#define SI_BREAKER_CLOSED "closed"
#define SI_BREAKER_OPEN "open"
#define SI_BREAKER_HALF_OPEN "half-open"

/* One destination_state row. */
typedef struct si_dest_state {
  char name[128];
  char state[16];                                    /* SI_BREAKER_* */
  int failures;                                      /* consecutive failed attempts */
  int64_t opened_at, last_success_at, last_error_at; /* 0: never */
  char last_error[512];
  int64_t attempts, failed_attempts, sent_count, failed_count;
} si_dest_state;

/* Locks destination `name`'s row for the caller's transaction, first
 * writing it (closed, zero counts) when there is none, and reads it. */
si_status si_store_dest_state_lock(si_db *db, const char *name, si_dest_state *out, si_error *err);
/* Writes the row's breaker fields and counters back (inside the caller's
 * transaction, after si_store_dest_state_lock). */
si_status si_store_dest_state_put(si_db *db, const si_dest_state *s, si_error *err);
/* Reads the row; *found 0 when the destination never had one. */
si_status si_store_dest_state_get(si_db *db, const char *name, si_dest_state *out, int *found,
                                  si_error *err);

/* The database's clock (epoch ms), the one leases and run_after use. */
si_status si_store_db_now(si_db *db, int64_t *now_ms, si_error *err);

/* Send jobs of destination `name` running now with a live lease, other
 * than job `except` (per-destination concurrency). */
si_status si_store_dest_running(si_db *db, const char *name, int64_t except, int64_t *count,
                                si_error *err);
/* Pushes the queued send jobs of `name` to run no earlier than `until_ms`
 * (an opened breaker). */
si_status si_store_dest_push_queued(si_db *db, const char *name, int64_t until_ms, si_error *err);

/* Makes the queued send jobs of `name` due now (a closed breaker: what
 * waited for it goes at once). */
si_status si_store_dest_release_queued(si_db *db, const char *name, si_error *err);

/* Gives a claimed job back unstarted, due `delay_ms` from now, without
 * spending an attempt (a destination at its concurrency or behind an open
 * breaker). When a twin is queued meanwhile the job ends done instead, its
 * twin doing the work. SI_ERR_STATE when `worker` does not hold it. */
si_status si_store_job_defer(si_db *db, int64_t job_id, const char *worker, int64_t delay_ms,
                             si_error *err);
/* When job `job_id` was queued (its created_at), for max_age_seconds. */
si_status si_store_job_created(si_db *db, int64_t job_id, int64_t *created_ms, si_error *err);

/* One image of a batch as the send stage sees it: for source "deid" the
 * de-identified copy (image_deid done rows: output_path, new UIDs), for
 * "original" the stored original; its ledger state for the destination
 * (NULL: no row yet). For the filters: the stored original's path (where
 * the calling AE title is read) and the deid stage's reason for the image
 * (image_deid.reason of a done row: "filter SECTION: LABEL" when a recipe
 * filter matched it; "" none, always for an image not de-identified). */
typedef struct si_send_image {
  int64_t image_id;
  const char *path, *sop_class_uid, *sop_instance_uid, *study_uid, *series_uid, *modality;
  int64_t size;
  const char *state, *answer;
  const char *original_path, *deid_reason;
} si_send_image;
typedef int (*si_send_image_fn)(void *user, const si_send_image *row);
/* The batch's images for `source` to destination `destination`, by id. */
si_status si_store_send_images(si_db *db, const char *batch_uid, const char *source,
                               const char *destination, si_send_image_fn fn, void *user,
                               si_error *err);

/* Per destination of batch `batch_id`: fn(user, destination, pending,
 * sent, failed) by name. */
typedef int (*si_dest_counts_fn)(void *user, const char *destination, int64_t pending, int64_t sent,
                                 int64_t failed);
si_status si_store_batch_dest_counts(si_db *db, int64_t batch_id, si_dest_counts_fn fn, void *user,
                                     si_error *err);

/* Over all batches, for destination `name`: ledger rows by state and send
 * jobs queued or running. */
typedef struct si_dest_totals {
  int64_t pending, sent, failed, queued_jobs, running_jobs;
} si_dest_totals;
si_status si_store_dest_totals(si_db *db, const char *name, si_dest_totals *out, si_error *err);

/* Resend (sendit batch resend): the ledger rows of batch `uid` to
 * `destination` back to pending and its SENT images back to what they
 * were before the send stage (DONEPROCESSING when de-identified, else
 * DONE); the batch back to PROCESSING or DONEPROCESSING with its error
 * cleared. Inside the caller's transaction. *found 0 when there is no such
 * batch. */
si_status si_store_dest_reset(si_db *db, const char *uid, const char *destination, int *found,
                              si_error *err);

#endif
