/* Queries for the operator commands (status, batch retry): read-mostly
 * looks at the records of sendit/store.h that the pipeline itself never
 * needs, kept apart so the pipeline's store stays small.
 *
 * Ownership: as in store.h, results go into caller-owned structs. */
#ifndef SENDIT_STORE_OPS_H
#define SENDIT_STORE_OPS_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

/* Number of image rows and the sum of their sizes, over all batches. */
si_status si_store_image_totals(si_db *db, int64_t *count, int64_t *bytes, si_error *err);

/* The most recent import job of input folder `folder` (= batch uid) that ended
 * "failed". *found is 0 when there is none. */
si_status si_store_job_last_failed(si_db *db, const char *folder, si_job *job, int *found,
                                   si_error *err);

/* The whole qa text of batch `uid` (si_batch.qa holds it only when it
 * fits): *qa is a new string the caller frees, NULL when there is none. */
si_status si_store_batch_qa(si_db *db, const char *uid, char **qa, si_error *err);

/* A fresh attempt at batch `uid`: clears its error flag and the stage that
 * failed (errors that recur are flagged again; the batch log keeps the old
 * ones). Runs in the caller's transaction, if any. */
si_status si_store_batch_clear_error(si_db *db, const char *uid, si_error *err);

/* Whether a job other than `job_id` for input path `path` ended done after
 * `job_id` was queued (then that job's folder was imported by the other).
 * *found is 0 when none did. */
si_status si_store_job_done_since(si_db *db, const char *path, int64_t job_id, int *found,
                                  si_error *err);

#endif
