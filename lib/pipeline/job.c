/* Runs one claimed job: claim the folder by rename, import, end the job. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/pipeline.h"
#include "sendit/store_ops.h"
#include "sendit/stages.h"
#include "sendit/watch.h"

static int is_dir(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A problem that ends the job before any file is touched still belongs on
 * the batch, where operators look. `always_error`: the batch goes to ERROR
 * even when it was complete before (a job given up: whatever it brought is
 * not imported, and a batch that says DONE would hide that). */
static si_status record_on_batch(si_import_context *ctx, const si_job *job, const char *message,
                                 int always_error, si_import_result *result, si_error *err) {
  int found;
  si_status st = si_store_batch_get(ctx->db, job->folder, &result->batch, &found, err);
  int finished_before = !always_error && found &&
                        strcmp(result->batch.status, SI_BATCH_PROCESSING) != 0 &&
                        strcmp(result->batch.status, SI_BATCH_QUEUE) != 0;
  int64_t batch_id = result->batch.id;
  int reopened;
  /* A batch that was complete stays as it was; the error joins its log.
   * A batch that exists is not begun again (that would mark it reopened). */
  if (st == SI_OK && !found)
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
static si_status end_job_as(si_import_context *ctx, const si_job *job, const char *state,
                            const char *message, int stage_end, si_error *err) {
  si_status st;
  if (!stage_end) {
    st = si_store_job_finish(ctx->db, job->id, ctx->worker, state, message, err);
  } else {
    /* The stage's end (stages.h): the batch's error_stage and timeline, and
     * on done the next stage's job, land with the job's end. */
    st = si_db_begin(ctx->db, err);
    if (st == SI_OK)
      st = si_stage_end_import(ctx->db, ctx->cfg, job->id, ctx->worker, job->folder,
                               strcmp(state, "failed") == 0, message, 0, err);
    st = st == SI_OK ? si_db_commit(ctx->db, err) : (si_db_rollback(ctx->db), st);
  }
  if (st != SI_ERR_STATE)
    return st;
  si_log(SI_LOG_WARN, "job %" PRId64 " (%s): %s; not marking it %s", job->id, job->folder,
         err->message, state);
  return SI_OK;
}

/* Done or failed: the import stage ends; queued: the job goes back. */
static si_status end_job(si_import_context *ctx, const si_job *job, const char *state,
                         const char *message, si_error *err) {
  return end_job_as(ctx, job, state, message, strcmp(state, "queued") != 0, err);
}

static si_status fail_job(si_import_context *ctx, const si_job *job, const char *message,
                          si_import_result *result, si_error *err) {
  si_status st = record_on_batch(ctx, job, message, 0, result, err);
  return st == SI_OK ? end_job(ctx, job, "failed", message, err) : st;
}

/* Whether another job for the same folder finished after this one was
 * queued: then this job's folder did not vanish, it was imported. */
static int taken_by_another_job(si_import_context *ctx, const si_job *job) {
  int found = 0;
  si_error err;
  return si_store_job_done_since(ctx->db, job->path, job->id, &found, &err) == SI_OK && found;
}

/* What a claim refuses to import: anything but a real folder. An input
 * entry is never resolved: a symbolic link data/EVIL -> storage/A would
 * make the import take A's stored files for new data (issue 11). NULL when
 * `path` is a folder or absent (the rename below tells what absent means). */
static const char *not_a_folder(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return NULL;
  if (S_ISLNK(st.st_mode))
    return "a symbolic link (never followed)";
  return S_ISDIR(st.st_mode) ? NULL : "not a folder";
}

static si_status refuse_claim(si_import_context *ctx, const si_job *job, const char *path,
                              const char *what, si_import_result *result, si_error *err) {
  char msg[SI_PATH_MAX + 128];
  snprintf(msg, sizeof msg, "%s is %s: not imported, nothing moved", path, what);
  si_log(SI_LOG_ERROR, "job %" PRId64 " (%s): %s", job->id, job->folder, msg);
  return fail_job(ctx, job, msg, result, err);
}

/* A folder claimed by a version that named work folders
 * "job-<id>-<folder>" and not recorded before a crash: found there. */
static void legacy_work_name(si_import_context *ctx, const si_job *job, char *work, size_t size) {
  char old[SI_PATH_MAX];
  int n =
      snprintf(old, sizeof old, "%s/job-%" PRId64 "-%s", ctx->cfg->work_dir, job->id, job->folder);
  if (n > 0 && (size_t)n < sizeof old && is_dir(old))
    snprintf(work, size, "%s", old);
}

/* Step 2 of pipeline.h: take the folder out of the input by one rename. The
 * target name is the job id's ("job-<id>"), so a restart finds it again.
 * *record is set when the work path is new and must be recorded on the job
 * (the caller does that for all its jobs in one transaction). */
static si_status claim_folder(si_import_context *ctx, si_job *job, char *work, size_t size,
                              si_import_result *result, si_error *err, int *proceed, int *record) {
  *proceed = *record = 0;
  const char *bad = not_a_folder(job->work_path[0] ? job->work_path : job->path);
  if (bad)
    return refuse_claim(ctx, job, job->work_path[0] ? job->work_path : job->path, bad, result, err);
  if (job->work_path[0]) {
    snprintf(work, size, "%s", job->work_path);
    *proceed = 1;
    return SI_OK;
  }
  si_status st = si_mkdir_p(ctx->cfg->work_dir, err);
  if (st != SI_OK)
    return fail_job(ctx, job, err->message, result, err);
  /* Named by the job id alone: the folder's name is the job's (job->folder),
   * so any name the filesystem accepts fits, and the work area's names are
   * sendit's own (late data goes to storage under a name checked to be new,
   * import.c open_batch). */
  snprintf(work, size, "%s/job-%" PRId64, ctx->cfg->work_dir, job->id);
  if (rename(job->path, work) != 0) {
    int e = errno;
    if (e == ENOENT && !is_dir(work))
      legacy_work_name(ctx, job, work, size);
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
      return end_job_as(ctx, job, "done", "already imported by an earlier job", 0, err);
      /* Otherwise a failure, unless the work folder exists: an earlier
       * attempt moved the folder there and a crash lost the record. What
       * the input holds by now is late data, left for queue_late_data. */
    } else if (!((e == ENOENT || e == ENOTEMPTY || e == EEXIST) && is_dir(work))) {
      char msg[SI_PATH_MAX + 128];
      snprintf(msg, sizeof msg, "%s: cannot claim the folder: %s",
               e == ENOENT ? "folder vanished before import" : "folder not claimable", strerror(e));
      si_log(SI_LOG_ERROR, "job %" PRId64 " (%s): %s", job->id, job->path, msg);
      return fail_job(ctx, job, msg, result, err);
    }
  }
  /* Swapped for a link between the check and the rename: put it back. */
  if ((bad = not_a_folder(work)) != NULL) {
    if (strcmp(work, job->path) != 0 && rename(work, job->path) != 0)
      si_log(SI_LOG_ERROR, "job %" PRId64 ": cannot put %s back as %s: %s", job->id, work,
             job->path, strerror(errno));
    return refuse_claim(ctx, job, job->path, bad, result, err);
  }
  snprintf(job->work_path, sizeof job->work_path, "%s", work);
  *proceed = *record = 1;
  return SI_OK;
}

/* The claimed folders' places, in one transaction. A job whose lease ran
 * out meanwhile is dropped (*proceed cleared): its new holder has it. The
 * transaction is relaxed: the place follows from the job (claim_folder
 * finds it again), so a power cut that undoes the record loses nothing. */
static si_status record_work_paths(si_import_context *ctx, si_job *jobs, size_t n,
                                   unsigned char *proceed, const unsigned char *record,
                                   si_error *err) {
  size_t wanted = 0;
  for (size_t i = 0; i < n; i++)
    wanted += proceed[i] && record[i];
  if (!wanted)
    return SI_OK;
  si_status st = si_db_begin_relaxed(ctx->db, err);
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    if (!proceed[i] || !record[i])
      continue;
    st = si_store_job_set_work_path(ctx->db, jobs[i].id, ctx->worker, jobs[i].work_path, err);
    if (st == SI_ERR_STATE) {
      si_log(SI_LOG_WARN, "job %" PRId64 " (%s): %s; leaving it", jobs[i].id, jobs[i].folder,
             err->message);
      proceed[i] = 0;
      st = SI_OK;
    }
  }
  return st == SI_OK ? si_db_commit(ctx->db, err) : (si_db_rollback(ctx->db), st);
}

/* Late data: a folder renamed in under a claimed job's name before its
 * claim was recorded found the input name still held (store.h) and was not
 * queued. Once the claim is committed the name is free: queue what is there
 * now. Anything later is queued by the watcher itself. With [input]
 * stable_seconds the watcher queues a folder only once it has been quiet
 * that long (the sender may still be writing): one not quiet yet is left to
 * that rule (the watcher waits for it and queues it, the name free by
 * then); one already quiet may have been refused for the held name, so it
 * is queued here. */
static void queue_late_data(si_import_context *ctx, const si_job *job) {
  struct stat st;
  if (!strcmp(job->work_path, job->path) || lstat(job->path, &st) != 0 || !S_ISDIR(st.st_mode))
    return;
  if (ctx->cfg->stable_seconds > 0 &&
      time(NULL) - si_watch_newest_mtime(job->path) < ctx->cfg->stable_seconds)
    return; /* not quiet yet: the watcher holds it until it is */
  int created = 0;
  si_error e;
  char buf[1024];
  if (si_store_enqueue(ctx->db, job->folder, job->path, &created, &e) != SI_OK)
    si_log(SI_LOG_ERROR, "cannot queue late data %s: %s", job->path,
           si_error_format(&e, buf, sizeof buf));
  else if (created)
    si_log(SI_LOG_INFO, "QUEUED %s (late data for batch %s)", job->path, job->folder);
}

/* What follows an import: the log line, and the job's end when the import
 * did not end it with the batch's. */
static si_status after_import(si_import_context *ctx, si_job *job, si_import_result *result,
                              si_error *err) {
  if (result->lease_lost)
    return SI_OK;
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

si_status si_run_jobs(si_import_context *ctx, si_job *jobs, size_t n, si_import_result *results,
                      si_error *err) {
  unsigned char *proceed = calloc(n ? n : 1, 2);
  si_import_item *items = calloc(n ? n : 1, sizeof *items);
  size_t *which = calloc(n ? n : 1, sizeof *which);
  if (!proceed || !items || !which) {
    free(proceed);
    free(items);
    free(which);
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  unsigned char *record = proceed + (n ? n : 1);
  si_status st = SI_OK;
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    si_job *job = &jobs[i];
    si_import_result *result = &results[i];
    memset(result, 0, sizeof *result);
    ctx->job_id = job->id;
    if (job->attempts > ctx->cfg->max_attempts) {
      char msg[SI_PATH_MAX + 160];
      snprintf(msg, sizeof msg,
               "job %" PRId64 " given up after %d attempts: its folder %s was not imported "
               "(see the log of the earlier attempts)",
               job->id, job->attempts - 1, job->work_path[0] ? job->work_path : job->path);
      st = record_on_batch(ctx, job, msg, 1, result, err);
      st = st == SI_OK ? end_job(ctx, job, "failed", msg, err) : st;
      continue;
    }
    char work[SI_PATH_MAX];
    int go = 0, rec = 0;
    st = claim_folder(ctx, job, work, sizeof work, result, err, &go, &rec);
    proceed[i] = (unsigned char)go;
    record[i] = (unsigned char)rec;
  }
  if (st == SI_OK)
    st = record_work_paths(ctx, jobs, n, proceed, record, err);
  for (size_t i = 0; st == SI_OK && i < n; i++)
    if (proceed[i] && record[i])
      queue_late_data(ctx, &jobs[i]);
  size_t count = 0;
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    if (!proceed[i])
      continue;
    si_log(SI_LOG_INFO, "job %" PRId64 ": importing %s as batch %s", jobs[i].id, jobs[i].work_path,
           jobs[i].folder);
    items[count] = (si_import_item){jobs[i].work_path, jobs[i].folder, jobs[i].id, &results[i]};
    which[count++] = i;
  }
  if (st == SI_OK && count)
    st = si_import_folders(ctx, items, count, err);
  for (size_t k = 0; st == SI_OK && k < count; k++)
    st = after_import(ctx, &jobs[which[k]], &results[which[k]], err);
  free(proceed);
  free(items);
  free(which);
  return st;
}

si_status si_run_job(si_import_context *ctx, si_job *job, si_import_result *result, si_error *err) {
  return si_run_jobs(ctx, job, 1, result, err);
}
