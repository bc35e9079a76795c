/* The Retry button: the same rules as `sendit batch retry` (src/cmd_batches.c),
 * over the library so the server can run them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "sendit/fs.h"
#include "sendit/store_ops.h"

/* A folder that still holds files: only then is there something to import. */
/* Only a failed batch is retried, and never while a worker may be
 * importing it (two imports of one folder would race for the files). */
const char *web_not_retryable(const si_batch *b) {
  if (strcmp(b->status, SI_BATCH_QUEUE) == 0 || strcmp(b->status, SI_BATCH_PROCESSING) == 0)
    return "is waiting or being imported: let that finish first";
  if (strcmp(b->status, SI_BATCH_ERROR) != 0 && !b->has_error)
    return "has no errors: nothing to retry";
  return NULL;
}

/* The new job and the status change land together or not at all. */
static si_status requeue(si_db *db, const char *uid, const char *path, si_error *err) {
  int created = 0;
  si_status st = si_db_begin(db, err);
  if (st == SI_OK)
    st = si_store_enqueue(db, uid, path, &created, err);
  if (st == SI_OK)
    st = si_store_batch_set_status(db, uid, SI_BATCH_QUEUE, err);
  if (st == SI_OK) {
    /* A fresh attempt: errors that recur are flagged again; the old ones
     * stay in the batch log. */
    const char *params[] = {uid};
    st = si_db_exec(db, "UPDATE batch SET has_error = 0 WHERE uid = $1", 1, params, NULL, NULL,
                    NULL, err);
  }
  if (st == SI_OK)
    return si_db_commit(db, err);
  si_db_rollback(db);
  return st;
}

unsigned web_retry_batch(si_db *db, const char *uid, char *why, size_t size, si_error *err) {
  si_batch *b = malloc(sizeof *b);
  si_job *job = malloc(sizeof *job);
  unsigned code = 500;
  int found = 0;
  if (!b || !job) {
    si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    goto done;
  }
  if (si_store_batch_get(db, uid, b, &found, err) != SI_OK)
    goto done;
  if (!found) {
    snprintf(why, size, "no batch '%.200s'", uid);
    code = 404;
    goto done;
  }
  const char *reason = web_not_retryable(b);
  if (reason) {
    snprintf(why, size, "batch '%.200s' (%s) %s", uid, b->status, reason);
    code = 409;
    goto done;
  }
  if (si_store_job_last_failed(db, uid, job, &found, err) != SI_OK)
    goto done;
  const char *path = !found                             ? NULL
                     : si_dir_has_files(job->work_path) ? job->work_path
                     : si_dir_has_files(job->path)      ? job->path
                                                        : NULL;
  if (!path) {
    snprintf(why, size, "nothing left to retry for batch '%.200s': %s", uid,
             found ? "its last failed job left no files" : "it has no failed job");
    code = 409;
    goto done;
  }
  if (requeue(db, uid, path, err) != SI_OK)
    goto done;
  snprintf(why, size, "batch '%.200s' queued again from %s", uid,
           path == job->work_path ? "the files left in the work area" : "the original folder");
  code = 202;
done:
  free(b);
  free(job);
  return code;
}
