/* Queries for the web dashboard and REST API: filtered, paginated listings
 * of images and batches, throughput, import durations, a batch's jobs (its
 * timeline) and the daemon's heartbeat. Kept apart from sendit/store.h so
 * the pipeline's store stays small.
 *
 * Each filtered query is built from the filters that are set, so the
 * database can use its indexes (a "$1 IS NULL OR col = $1" condition would
 * defeat them). Text filters travel as parameters, never inside the SQL.
 *
 * Ownership: filters are borrowed for the call; results go to callbacks
 * (borrowed for the call only) or into caller-owned structs. */
#ifndef SENDIT_STORE_WEB_H
#define SENDIT_STORE_WEB_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

/* Every member NULL (or "") means "any". */
typedef struct si_web_image_filter {
  const char *status;     /* image status, exact */
  const char *batch_uid;  /* the batch's uid, exact */
  const char *patient_id; /* exact */
  const char *study_uid;  /* StudyInstanceUID, exact */
  const char *modality;   /* exact */
} si_web_image_filter;

/* An image row with the uid of its batch. */
typedef int (*si_web_image_fn)(void *user, const si_image *img, const char *batch_uid);

/* Images matching f, by batch (oldest first) and then in the order they
 * were stored, so pages stay put while new batches arrive: the total in
 * *count, and `limit` rows after `offset` to fn. count may be NULL to skip
 * counting, fn NULL to only count. */
si_status si_web_images(si_db *db, const si_web_image_filter *f, int64_t limit, int64_t offset,
                        int64_t *count, si_web_image_fn fn, void *user, si_error *err);
/* For a page index over the unfiltered listing (lib/http/page_index.c):
 * the number of images and the largest id, cheaply; every `stride`-th key
 * (batch_id, id) in listing order (fn gets the row number and key); and a
 * page that starts at a known key. */
si_status si_web_image_stats(si_db *db, int64_t *count, int64_t *max_id, si_error *err);
typedef int (*si_web_key_fn)(void *user, int64_t row, int64_t batch_id, int64_t id);
si_status si_web_image_keys(si_db *db, int64_t stride, si_web_key_fn fn, void *user, si_error *err);
si_status si_web_images_from(si_db *db, int64_t batch_id, int64_t id, int64_t limit, int64_t offset,
                             si_web_image_fn fn, void *user, si_error *err);

/* batch_uid (may be NULL) receives the batch's uid. */
si_status si_web_image_by_id(si_db *db, int64_t id, si_image *out, char batch_uid[SI_NAME_MAX],
                             int *found, si_error *err);

typedef struct si_web_batch_filter {
  const char *status;        /* exact */
  const char *uid_contains;  /* case-insensitive substring of the uid (accession number) */
  const char *patient_id;    /* batches holding an image of this PatientID */
  int64_t created_from_ms;   /* created at or after (0 = no bound) */
  int64_t created_before_ms; /* created before (0 = no bound) */
} si_web_batch_filter;

/* Batches matching f, newest first; as si_web_images. */
si_status si_web_batches(si_db *db, const si_web_batch_filter *f, int64_t limit, int64_t offset,
                         int64_t *count, si_batch_fn fn, void *user, si_error *err);
si_status si_web_batch_by_id(si_db *db, int64_t id, si_batch *out, int *found, si_error *err);

/* Images stored per minute over the last `minutes` minutes up to now_ms:
 * counts[minutes - 1] is the current minute. Reads only the newest rows
 * (ids grow with time), so its cost does not grow with the table. */
si_status si_web_throughput(si_db *db, int64_t now_ms, int minutes, int64_t *counts, si_error *err);

/* Import durations of finished batches as a cumulative histogram: le[i]
 * counts batches with elapsed_ms <= bounds_ms[i] (i < n); *count and
 * *sum_ms cover them all. */
si_status si_web_batch_durations(si_db *db, const int64_t *bounds_ms, int n, int64_t *le,
                                 int64_t *count, int64_t *sum_ms, si_error *err);

/* One import attempt of a batch's folder, for its timeline. */
typedef struct si_web_job {
  int64_t id;
  char state[16]; /* queued, running, done, failed */
  int attempts;
  char worker[64];
  int64_t created_at, updated_at;
  char error[1024];
} si_web_job;
typedef int (*si_web_job_fn)(void *user, const si_web_job *job);
/* Jobs of the input folder `uid`, oldest first. */
si_status si_web_batch_jobs(si_db *db, const char *uid, si_web_job_fn fn, void *user,
                            si_error *err);

/* The daemon's heartbeat: its row of the worker table under the id
 * "host:pid", which the heartbeat service writes (sendit/worker_registry.h)
 * and the dashboard reads. */
si_status si_web_heartbeat_get(si_db *db, const char *id, int64_t *beat_at, long *pid, int *found,
                               si_error *err);

#endif
