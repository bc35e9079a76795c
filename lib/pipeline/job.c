/* Runs one claimed job: claim the folder by rename, import, end the job. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/pipeline.h"

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A problem that ends the job before any file is touched still belongs on
 * the batch, where operators look. */
static si_status record_on_batch(si_import_context *ctx, const si_job *job, const char *message,
                                 si_import_result *result, si_error *err) {
  int found;
  si_status st = si_store_batch_get(ctx->db, job->folder, &result->batch, &found, err);
  int finished_before = found && strcmp(result->batch.status, SI_BATCH_PROCESSING) != 0 &&
                        strcmp(result->batch.status, SI_BATCH_QUEUE) != 0;
  int64_t batch_id = result->batch.id;
  int reopened;
  /* A batch that was complete stays as it was; the error joins its log. */
  if (st == SI_OK && !finished_before)
    st = si_store_batch_begin(ctx->db, job->folder, &batch_id, &reopened, err);
  if (st == SI_OK)
    st = si_store_batch_log(ctx->db, batch_id, "error", job->path, message, err);
  if (st == SI_OK && !finished_before)
    st = si_store_batch_set_status(ctx->db, job->folder, SI_BATCH_ERROR, err);
  if (st == SI_OK)
    st = si_store_batch_get(ctx->db, job->folder, &result->batch, &found, err);
  result->fatal = 1;
  return st;
}

/* Ends the job as its holder. A job taken over meanwhile (the lease ran
 * out) belongs to another worker now: that is logged, not an error. */
static si_status end_job(si_import_context *ctx, const si_job *job, const char *state,
                         const char *message, si_error *err) {
  si_status st = si_store_job_finish(ctx->db, job->id, ctx->worker, state, message, err);
  if (st != SI_ERR_STATE)
    return st;
  si_log(SI_LOG_WARN, "job %" PRId64 " (%s): %s; not marking it %s", job->id, job->folder,
         err->message, state);
  return SI_OK;
}

static si_status fail_job(si_import_context *ctx, const si_job *job, const char *message,
                          si_import_result *result, si_error *err) {
  si_status st = record_on_batch(ctx, job, message, result, err);
  return st == SI_OK ? end_job(ctx, job, "failed", message, err) : st;
}

static int first_column(void *user, int ncols, const char *const *v) {
  *(int *)user = ncols > 0 && v[0] != NULL;
  return 1;
}

/* Whether another job for the same folder finished after this one was
 * queued: then this job's folder did not vanish, it was imported. */
static int taken_by_another_job(si_import_context *ctx, const si_job *job) {
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%" PRId64, job->id);
  const char *params[] = {job->path, id_s};
  int found = 0;
  si_error err;
  si_db_exec(ctx->db,
             "SELECT id FROM job WHERE path = $1 AND id <> $2 AND state = 'done' AND "
             "updated_at >= (SELECT created_at FROM job WHERE id = $2) LIMIT 1",
             2, params, first_column, &found, NULL, &err);
  return found;
}

/* Step 2 of pipeline.h: take the folder out of the input by one rename. The
 * target name is derived from the job id, so a restart finds it again. */
static si_status claim_folder(si_import_context *ctx, si_job *job, char *work, size_t size,
                              si_import_result *result, si_error *err, int *proceed) {
  *proceed = 0;
  if (job->work_path[0]) {
    snprintf(work, size, "%s", job->work_path);
    *proceed = 1;
    return SI_OK;
  }
  si_status st = si_mkdir_p(ctx->cfg->work_dir, err);
  if (st != SI_OK)
    return fail_job(ctx, job, err->message, result, err);
  snprintf(work, size, "%s/job-%" PRId64 "-%s", ctx->cfg->work_dir, job->id, job->folder);
  if (rename(job->path, work) != 0) {
    int e = errno;
    if (e == EXDEV) {
      /* The work area is on another filesystem: import in place; the lease
       * alone keeps other workers away. */
      si_log(SI_LOG_WARN, "work area %s is not on the input's filesystem: importing %s in place",
             ctx->cfg->work_dir, job->path);
      snprintf(work, size, "%s", job->path);
    } else if (e == ENOENT && !is_dir(work) && taken_by_another_job(ctx, job)) {
      /* A rescan queued the folder again while an earlier job was taking it. */
      si_log(SI_LOG_INFO, "job %" PRId64 ": %s was already imported by an earlier job", job->id,
             job->path);
      return end_job(ctx, job, "done", "already imported by an earlier job", err);
    } else if (!(e == ENOENT && is_dir(work))) {
      char msg[SI_PATH_MAX + 128];
      snprintf(msg, sizeof msg, "%s: cannot claim the folder: %s",
               e == ENOENT ? "folder vanished before import" : "folder not claimable", strerror(e));
      si_log(SI_LOG_ERROR, "job %" PRId64 " (%s): %s", job->id, job->path, msg);
      return fail_job(ctx, job, msg, result, err);
    }
  }
  st = si_store_job_set_work_path(ctx->db, job->id, ctx->worker, work, err);
  snprintf(job->work_path, sizeof job->work_path, "%s", work);
  *proceed = st == SI_OK;
  return st;
}

si_status si_run_job(si_import_context *ctx, si_job *job, si_import_result *result, si_error *err) {
  memset(result, 0, sizeof *result);
  ctx->job_id = job->id;
  if (job->attempts > ctx->cfg->max_attempts) {
    char msg[128];
    snprintf(msg, sizeof msg, "given up after %d attempts", job->attempts - 1);
    si_status st = record_on_batch(ctx, job, msg, result, err);
    return st == SI_OK ? end_job(ctx, job, "failed", msg, err) : st;
  }
  char work[SI_PATH_MAX];
  int proceed;
  si_status st = claim_folder(ctx, job, work, sizeof work, result, err, &proceed);
  if (st != SI_OK || !proceed)
    return st; /* claim_folder has ended the job */
  si_log(SI_LOG_INFO, "job %" PRId64 ": importing %s as batch %s", job->id, work, job->folder);
  st = si_import_folder(ctx, work, job->folder, result, err);
  if (st != SI_OK || result->lease_lost)
    return st;
  if (result->interrupted) {
    si_log(SI_LOG_INFO, "job %" PRId64 ": %s interrupted, back in the queue", job->id, job->folder);
    return end_job(ctx, job, "queued", NULL, err);
  }
  si_log(SI_LOG_INFO,
         "job %" PRId64 ": batch %s %s: %" PRId64 " imported, %" PRId64 " quarantined, %" PRId64
         " skipped, %" PRId64 " duplicates ignored in %.3f s",
         job->id, job->folder, result->batch.status, result->imported, result->quarantined,
         result->skipped, result->duplicates_ignored, (double)result->batch.elapsed_ms / 1000.0);
  if (result->job_finished)
    return SI_OK;
  return end_job(ctx, job, result->fatal ? "failed" : "done",
                 result->fatal ? "import stopped: see the batch log" : NULL, err);
}
