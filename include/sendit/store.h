/* sendit's records, over the si_db interface: jobs (the durable queue),
 * batches, images, batch logs and quarantined files. One SQL text per query
 * serves every backend.
 *
 * Ownership: rows are filled into caller-owned structs with fixed-size
 * fields; nothing returned needs freeing unless stated. */
#ifndef SENDIT_STORE_H
#define SENDIT_STORE_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"

#define SI_UID_MAX 65
#define SI_PATH_MAX 4096
#define SI_NAME_MAX 256

/* Batch statuses, as the original sendit's. */
#define SI_BATCH_QUEUE "QUEUE"
#define SI_BATCH_PROCESSING "PROCESSING"
#define SI_BATCH_DONEPROCESSING "DONEPROCESSING"
#define SI_BATCH_DONE "DONE"
#define SI_BATCH_EMPTY "EMPTY"
#define SI_BATCH_ERROR "ERROR"
/* Image statuses. */
#define SI_IMAGE_NEW "NEW"
#define SI_IMAGE_PROCESSING "PROCESSING"
#define SI_IMAGE_DONEPROCESSING "DONEPROCESSING"
#define SI_IMAGE_SENT "SENT"
#define SI_IMAGE_DONE "DONE"
/* Held or failed by the deid stage (its reason: store_deid_stage.h). */
#define SI_IMAGE_ERROR "ERROR"

/* Milliseconds since the epoch (wall clock). */
int64_t si_now_ms(void);

/* ---- queue ---- */

typedef struct si_job {
  int64_t id;
  char folder[SI_NAME_MAX];    /* input folder name = batch uid */
  char path[SI_PATH_MAX];      /* where the finished folder was seen */
  char work_path[SI_PATH_MAX]; /* where the worker moved it ("" before) */
  int attempts;
  /* Stages (sendit/stages.h): the job's kind ("import", "test", ...), its
   * exclusivity key within the kind and batch ("" for import and deid, the
   * destination for send) and its payload (JSON text, "" when none). */
  char kind[16];
  char key[SI_NAME_MAX];
  char payload[1024];
} si_job;

/* The signal channel (si_db_signal) on which a new job is announced, so
 * that idle workers of other processes start at once instead of at their
 * next poll. */
#define SI_STORE_JOBS_CHANNEL "sendit_jobs"

/* Adds a queued job for the folder at `path` unless a job already holds
 * that path: one queued, or running while its folder is still there (no
 * work path yet, or importing in place). A running job whose folder has
 * moved into the work area does not hold it: late data renamed in under the
 * same name is queued, and imported into the same batch once that job ends
 * (the claim never runs two jobs of one folder name at once). *created
 * tells which (may be NULL). A new job is announced on SI_STORE_JOBS_CHANNEL
 * (at commit when inside a transaction). */
si_status si_store_enqueue(si_db *db, const char *folder, const char *path, int *created,
                           si_error *err);
/* Atomically takes the oldest queued job, or a running one whose lease has
 * expired (its worker died), for `worker`; sets the lease. *found is 0 when
 * there is nothing to do. */
si_status si_store_claim(si_db *db, const char *worker, int lease_seconds, si_job *job, int *found,
                         si_error *err);
/* Takes up to `max` jobs as si_store_claim does, in one transaction, into
 * the caller's jobs[max]; *count says how many. Never two of one folder. On
 * an error *count is 0 (jobs claimed meanwhile come back when their leases
 * run out). */
si_status si_store_claim_many(si_db *db, const char *worker, int lease_seconds, si_job *jobs,
                              size_t max, size_t *count, si_error *err);
/* Extends the lease; SI_ERR_STATE when the job is no longer ours, or when
 * its lease already ran out. */
si_status si_store_heartbeat(si_db *db, int64_t job_id, const char *worker, int lease_seconds,
                             si_error *err);
/* Both of these change the job only while `worker` holds it (state running,
 * its name on it) and give SI_ERR_STATE otherwise: a worker whose lease ran
 * out and was taken over must not end or redirect the new holder's job. */
si_status si_store_job_set_work_path(si_db *db, int64_t job_id, const char *worker,
                                     const char *work_path, si_error *err);
/* Ends a job: state "done" or "failed" (error may be NULL), or back to
 * "queued" for a retry. */
si_status si_store_job_finish(si_db *db, int64_t job_id, const char *worker, const char *state,
                              const char *error, si_error *err);
/* Gives a claimed job back to the queue without counting the attempt:
 * state queued again, attempts one less, no lease. For a claim the worker
 * cannot start (its folders would not fit the free disk space) and for an
 * import stopped by a full disk (ENOSPC). SI_ERR_STATE when `worker` does
 * not hold the job. `why` (may be NULL) is kept as the job's error. */
si_status si_store_job_release(si_db *db, int64_t job_id, const char *worker, const char *why,
                               si_error *err);
/* The oldest queued import job (the next a claim takes, leases aside); *found 0
 * when none is queued. */
si_status si_store_oldest_queued(si_db *db, si_job *job, int *found, si_error *err);
/* Whether a job for batch folder `folder` is queued or running. */
si_status si_store_job_pending(si_db *db, const char *folder, int *pending, si_error *err);
/* Jobs queued + running. */
si_status si_store_queue_depth(si_db *db, int64_t *queued, int64_t *running, si_error *err);

/* ---- batches ---- */

typedef struct si_batch {
  int64_t id;
  char uid[SI_NAME_MAX];
  char status[16];
  int has_error;
  int reopened;
  int64_t created_at, updated_at, started_at, finished_at, elapsed_ms;
  int64_t size_bytes;
  int64_t image_count, skipped_count, quarantined_count;
  /* JSON: StudyDate histogram, filters, warnings. A stored text too long
   * for this leaves it "" with qa_cut set, never cut: si_store_batch_qa
   * reads it whole (ops_batch_qa does both). */
  char qa[4096];
  int qa_cut;
} si_batch;

/* Finds or creates the batch `uid` and marks it PROCESSING. *reopened is 1
 * when the batch existed and had finished before (late data). */
si_status si_store_batch_begin(si_db *db, const char *uid, int64_t *batch_id, int *reopened,
                               si_error *err);
/* Writes the final status and metrics of a batch (from `b`: status,
 * has_error, started/finished/elapsed, counts, size, qa). */
si_status si_store_batch_finish(si_db *db, const si_batch *b, si_error *err);
si_status si_store_batch_set_status(si_db *db, const char *uid, const char *status, si_error *err);
/* Write-locks the batch's row until the end of the caller's transaction (on
 * PostgreSQL a row lock; SQLite's writer holds its lock anyway), so that
 * statements after it see what other transactions that locked it before
 * have committed. By id (*uid_out, size SI_NAME_MAX, gets the uid; may be
 * NULL) or by uid (*id_out gets the id; may be NULL). *found is 0 when
 * there is no such batch. */
si_status si_store_batch_lock_id(si_db *db, int64_t id, char *uid_out, int *found, si_error *err);
si_status si_store_batch_lock_uid(si_db *db, const char *uid, int64_t *id_out, int *found,
                                  si_error *err);
/* Sets a batch's stored image count and size from its image rows (those
 * not NEW) and its quarantined count from its quarantine entries; a DONE
 * batch left with no image becomes EMPTY. For a batch whose images another
 * batch took over (duplicates = keep-last). */
si_status si_store_batch_recount(si_db *db, int64_t batch_id, si_error *err);
si_status si_store_batch_get(si_db *db, const char *uid, si_batch *out, int *found, si_error *err);
/* Calls fn for each batch (newest first), optionally only those with
 * `status` (NULL = all), at most `limit` (0 = all) after `offset`. */
typedef int (*si_batch_fn)(void *user, const si_batch *b);
si_status si_store_batch_list(si_db *db, const char *status, int64_t limit, int64_t offset,
                              si_batch_fn fn, void *user, si_error *err);
/* Count of batches per status: fn(user, status, count). */
typedef int (*si_count_fn)(void *user, const char *key, int64_t count);
si_status si_store_batch_counts(si_db *db, si_count_fn fn, void *user, si_error *err);

/* Appends to a batch's log; level "error" also sets has_error. */
si_status si_store_batch_log(si_db *db, int64_t batch_id, const char *level, const char *file,
                             const char *message, si_error *err);
typedef int (*si_log_row_fn)(void *user, int64_t at, const char *level, const char *file,
                             const char *message);
si_status si_store_batch_logs(si_db *db, int64_t batch_id, si_log_row_fn fn, void *user,
                              si_error *err);

/* ---- images ---- */

typedef struct si_image {
  int64_t id;
  char uid[SI_UID_MAX];
  int64_t batch_id;
  char status[16];
  char storage_path[SI_PATH_MAX];
  char original_name[SI_NAME_MAX];
  int64_t size_bytes;
  char content_hash[65];
  char patient_id[SI_NAME_MAX];
  char accession_number[SI_NAME_MAX];
  char study_uid[SI_UID_MAX];
  char series_uid[SI_UID_MAX];
  char sop_class_uid[SI_UID_MAX];
  char modality[32];
  char study_date[16];
  int64_t created_at;
} si_image;

/* Inserts; a UNIQUE violation on uid gives SI_ERR_STATE (duplicate). */
si_status si_store_image_insert(si_db *db, const si_image *img, si_error *err);

/* A new image row's values for si_store_image_insert_many, every string
 * borrowed (NULL or "" for SQL NULL where the column allows it). */
typedef struct si_image_values {
  const char *uid;
  int64_t batch_id;
  const char *status;
  const char *storage_path;
  const char *original_name;
  int64_t size_bytes;
  const char *content_hash;
  const char *patient_id;
  const char *accession_number;
  const char *study_uid;
  const char *series_uid;
  const char *sop_class_uid;
  const char *modality;
  const char *study_date;
} si_image_values;

/* Inserts n rows, as n si_store_image_insert calls would (same errors; on
 * failure some rows may be written: call it inside a transaction and roll
 * back). Backends that profit from it (PostgreSQL: one statement's
 * overhead on the server per row was most of its cost) get several rows per
 * statement. */
si_status si_store_image_insert_many(si_db *db, const si_image_values *rows, size_t n,
                                     si_error *err);
/* Inserts the row unless an image with its uid exists; *inserted says
 * which. One statement does the lookup and the insert, through the uid's
 * unique index (cheaper than asking first where a statement is cheap, as on
 * SQLite). Other constraint violations are errors as for the insert. */
si_status si_store_image_insert_new(si_db *db, const si_image_values *row, int *inserted,
                                    si_error *err);
/* Inserts all n rows when none of their uids is known, several per
 * statement, and sets *inserted; when one is known, writes none (the rows
 * written before it was found are undone) and sets *inserted to 0: the
 * caller then decides row by row. Other constraint violations are errors
 * as for the insert. Inside a transaction only (it uses a savepoint); the
 * rows' uids must differ from each other. */
si_status si_store_image_insert_all_new(si_db *db, const si_image_values *rows, size_t n,
                                        int *inserted, si_error *err);
si_status si_store_image_get(si_db *db, const char *uid, si_image *out, int *found, si_error *err);
si_status si_store_image_replace(si_db *db, const si_image *img, si_error *err);
typedef int (*si_image_fn)(void *user, const si_image *img);
si_status si_store_image_list(si_db *db, int64_t batch_id, int64_t limit, int64_t offset,
                              si_image_fn fn, void *user, si_error *err);
si_status si_store_image_count(si_db *db, int64_t batch_id, int64_t *count, si_error *err);

/* ---- quarantine ---- */

typedef struct si_quarantined {
  int64_t id;
  char batch_uid[SI_NAME_MAX];
  char path[SI_PATH_MAX];
  char original_name[SI_NAME_MAX];
  char reason[1024];
  int64_t created_at;
  int64_t requeued_at;
} si_quarantined;

si_status si_store_quarantine_add(si_db *db, const char *batch_uid, const char *path,
                                  const char *original_name, const char *reason, si_error *err);
typedef int (*si_quarantine_fn)(void *user, const si_quarantined *q);
/* Lists not-yet-requeued entries (all when include_requeued). */
si_status si_store_quarantine_list(si_db *db, int include_requeued, si_quarantine_fn fn, void *user,
                                   si_error *err);
si_status si_store_quarantine_mark_requeued(si_db *db, int64_t id, si_error *err);
/* Calls fn(user, path) for every entry of batch `batch_uid` not requeued
 * (fn returns non-zero to stop). */
typedef int (*si_path_fn)(void *user, const char *path);
si_status si_store_quarantine_paths(si_db *db, const char *batch_uid, si_path_fn fn, void *user,
                                    si_error *err);

#endif
