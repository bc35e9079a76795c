/* The batch retry rule; see sendit/batch_retry.h. */
#include "sendit/batch_retry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/fs.h"
#include "sendit/store_ops.h"
#include "sendit/store_stages.h"

const char *si_batch_not_retryable(const si_batch *b) {
  if (strcmp(b->status, SI_BATCH_QUEUE) == 0 || strcmp(b->status, SI_BATCH_PROCESSING) == 0)
    return "is waiting or being imported: let that finish first";
  if (strcmp(b->status, SI_BATCH_ERROR) != 0 && !b->has_error)
    return "has no errors: nothing to retry";
  return NULL;
}

static si_status refuse(si_batch_retry_result *out, si_retry_outcome outcome) {
  out->outcome = outcome;
  return SI_OK;
}

/* A stage after the import: its failed job again. */
static si_status retry_stage(si_db *db, const si_batch *b, si_batch_retry_result *out,
                             si_error *err) {
  int created = 0;
  si_status st = si_db_begin(db, err);
  if (st == SI_OK)
    st = si_store_stage_requeue_failed(db, b->uid, out->stage, &created, err);
  if (st == SI_ERR_NOT_FOUND) {
    si_db_rollback(db);
    snprintf(out->message, sizeof out->message, "batch '%s' has no failed %s job: nothing to retry",
             b->uid, out->stage);
    return refuse(out, SI_RETRY_REFUSED);
  }
  st = st == SI_OK ? si_db_commit(db, err) : (si_db_rollback(db), st);
  if (st != SI_OK)
    return st;
  out->created = created;
  out->outcome = SI_RETRY_QUEUED;
  snprintf(out->message, sizeof out->message, "batch %s: %s stage %s again; status %s -> QUEUE",
           b->uid, created ? "queued" : "already queued", out->stage, b->status);
  return SI_OK;
}

/* The import: a new job for the files its failed job left. */
static si_status requeue_import(si_db *db, const char *uid, const char *path, int *created,
                                si_error *err) {
  si_status st = si_db_begin(db, err);
  if (st == SI_OK)
    st = si_store_enqueue(db, uid, path, created, err);
  if (st == SI_OK)
    st = si_store_batch_set_status(db, uid, SI_BATCH_QUEUE, err);
  if (st == SI_OK) {
    /* A fresh attempt: errors that recur are logged (and flagged) again;
     * the old ones stay in the batch log. */
    st = si_store_batch_clear_error(db, uid, err);
  }
  return st == SI_OK ? si_db_commit(db, err) : (si_db_rollback(db), st);
}

static si_status retry_import(si_db *db, const si_batch *b, si_batch_retry_result *out,
                              si_error *err) {
  si_job *job = malloc(sizeof *job);
  if (!job)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  int found = 0;
  si_status st = si_store_job_last_failed(db, b->uid, job, &found, err);
  if (st == SI_OK && !found) {
    snprintf(out->message, sizeof out->message, "batch '%s' has no failed job: nothing to retry",
             b->uid);
    st = refuse(out, SI_RETRY_REFUSED);
  } else if (st == SI_OK) {
    out->failed_job = job->id;
    if (si_dir_has_files(job->work_path)) {
      snprintf(out->path, sizeof out->path, "%s", job->work_path);
      out->from = "files left in the work area";
    } else if (si_dir_has_files(job->path)) {
      snprintf(out->path, sizeof out->path, "%s", job->path);
      out->from = "the original folder";
    }
    if (!out->from) {
      snprintf(out->message, sizeof out->message,
               "nothing left to retry for batch '%s': job %" PRId64 " left no files in %s or %s",
               b->uid, job->id, job->work_path[0] ? job->work_path : "(no work folder)", job->path);
      st = refuse(out, SI_RETRY_REFUSED);
    } else {
      st = requeue_import(db, b->uid, out->path, &out->created, err);
      out->outcome = SI_RETRY_QUEUED;
      snprintf(out->message, sizeof out->message,
               "batch %s: %s %s (%s, after failed job %" PRId64 "); status %s -> QUEUE", b->uid,
               out->created ? "queued a new job for" : "a job was already queued for", out->path,
               out->from, job->id, b->status);
    }
  }
  free(job);
  return st;
}

si_status si_batch_retry(si_db *db, const char *uid, si_batch_retry_result *out, si_error *err) {
  memset(out, 0, sizeof *out);
  out->failed_job = -1;
  si_batch *b = malloc(sizeof *b);
  if (!b)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  int found = 0;
  si_status st = si_store_batch_get(db, uid, b, &found, err);
  if (st == SI_OK && !found) {
    snprintf(out->message, sizeof out->message, "no batch '%s'", uid);
    st = refuse(out, SI_RETRY_NO_BATCH);
    goto done;
  }
  if (st == SI_OK)
    snprintf(out->old_status, sizeof out->old_status, "%s", b->status);
  const char *why_not = st == SI_OK ? si_batch_not_retryable(b) : NULL;
  if (why_not) {
    snprintf(out->message, sizeof out->message, "batch '%s' (%s) %s", b->uid, b->status, why_not);
    st = refuse(out, SI_RETRY_REFUSED);
    goto done;
  }
  if (st == SI_OK)
    st = si_store_batch_error_stage(db, uid, out->stage, sizeof out->stage, &found, err);
  if (st != SI_OK)
    goto done;
  if (out->stage[0] && strcmp(out->stage, "import") != 0) {
    st = retry_stage(db, b, out, err);
  } else {
    snprintf(out->stage, sizeof out->stage, "import");
    st = retry_import(db, b, out, err);
  }
done:
  free(b);
  return st;
}
