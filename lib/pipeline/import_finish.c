/* Step 5: the rows of stored files become DONE, the batch gets its final
 * status, metrics and qa, and the job ends, in one transaction for a folder
 * or a group; what comes between the moves and that transaction. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/stages.h"
#include "sendit/store_import.h"
#include "import_internal.h"

/* One row per StudyDate of the batch: all its images for the histogram
 * (a missing date counts as "unknown"), those stored for the totals. */
typedef struct batch_tally {
  si_batch *batch;
  json_t *histogram;
} batch_tally;

static int tally_row(void *user, const char *study_date, int64_t images, int64_t stored,
                     int64_t stored_bytes) {
  batch_tally *t = user;
  const char *date = study_date && study_date[0] ? study_date : "unknown";
  json_int_t before = json_integer_value(json_object_get(t->histogram, date));
  json_object_set_new(t->histogram, date, json_integer(before + images));
  t->batch->image_count += stored;
  t->batch->size_bytes += stored_bytes;
  return 0;
}

/* Rows collected before any is changed (a callback may not run statements). */
typedef struct pending_row {
  char *uid, *path; /* owned */
} pending_row;

typedef struct pending_rows {
  pending_row *rows;
  size_t count, cap;
  int short_of_memory;
} pending_rows;

static int collect_pending(void *user, const char *uid, const char *path) {
  pending_rows *p = user;
  if (p->count == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    pending_row *grown = realloc(p->rows, cap * sizeof *grown);
    if (!grown)
      return p->short_of_memory = 1;
    p->rows = grown;
    p->cap = cap;
  }
  pending_row row = {strdup(uid), strdup(path)};
  if (!row.uid || !row.path) {
    free(row.uid);
    free(row.path);
    return p->short_of_memory = 1;
  }
  p->rows[p->count++] = row;
  return 0;
}

/* `base` + "/": what the rows of this import's files begin with. */
static char *base_prefix(const run *r) {
  size_t len = strlen(r->base);
  char *prefix = malloc(len + 2);
  if (prefix) {
    memcpy(prefix, r->base, len);
    memcpy(prefix + len, "/", 2);
  }
  return prefix;
}

/* The batch's rows with status `from` (and, with `under_base`, under
 * `base`) whose file is in storage (stored = 1) or is not (stored = 0) get
 * status `to`; *changed counts them, *kept the others (either may be
 * NULL). */
static si_status restatus_rows(run *r, const char *from, int under_base, int stored, const char *to,
                               int64_t *changed, int64_t *kept, si_error *err) {
  char *prefix = under_base ? base_prefix(r) : NULL;
  pending_rows rows = {0};
  si_status st = under_base && !prefix ? SI_ERR_NOMEM
                                       : si_store_import_rows(r->ctx->db, r->batch_id, from, prefix,
                                                              collect_pending, &rows, err);
  if (st == SI_OK && rows.short_of_memory)
    st = SI_ERR_NOMEM;
  if (st == SI_ERR_NOMEM)
    si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  for (size_t i = 0; st == SI_OK && i < rows.count; i++) {
    struct stat sb;
    if ((lstat(rows.rows[i].path, &sb) == 0) != stored) {
      if (kept)
        (*kept)++;
      continue;
    }
    st = si_store_image_set_status(r->ctx->db, rows.rows[i].uid, to, err);
    if (changed)
      (*changed)++;
  }
  for (size_t i = 0; i < rows.count; i++) {
    free(rows.rows[i].uid);
    free(rows.rows[i].path);
  }
  free(rows.rows);
  free(prefix);
  return st;
}

/* Step 5 the slow way, inside the finishing transaction: every NEW row of
 * the batch whose file is in storage becomes DONE. This also finishes rows
 * whose files were stored just before a crash. */
static si_status settle_moved_rows(run *r, si_error *err) {
  int64_t settled = 0;
  si_status st = restatus_rows(r, SI_IMAGE_NEW, 0, 1, SI_IMAGE_DONE, &settled, NULL, err);
  if (st == SI_OK && settled)
    si_log(SI_LOG_INFO,
           "batch %s: %" PRId64 " images stored before an interruption are now recorded", r->uid,
           settled);
  r->res->imported += settled;
  return st;
}

/* Rows written DONE ahead of a folder rename that did not happen (a move
 * that failed, a lease lost first) go back to NEW unless their file is in
 * storage; settle_moved_rows then treats them as any NEW row. The rows under
 * `base` are this import's: `base` did not exist when it began. */
static si_status reset_unmoved_rows(run *r, si_error *err) {
  int64_t kept = 0; /* moved on their own (the folder could not be) */
  si_status st = restatus_rows(r, SI_IMAGE_DONE, 1, 0, SI_IMAGE_NEW, NULL, &kept, err);
  r->res->imported += kept;
  return st;
}

/* Step 5 the fast way: after the whole folder became `base`, every NEW row
 * planned under it is stored (one import per batch runs at a time). */
static si_status mark_folder_done(run *r, si_error *err) {
  char *prefix = base_prefix(r);
  int64_t changes = 0;
  si_status st =
      prefix ? si_store_import_mark_done_under(r->ctx->db, r->batch_id, prefix, &changes, err)
             : si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  free(prefix);
  r->res->imported += changes;
  return st;
}

/* Step 5 inside a transaction the caller holds (it may hold other imports'
 * ends too): the DONE marks, the batch's final metrics over all its images
 * (late data included) and the end of its job. Its first statement renews
 * the job's lease, which fences the rest as it fences each chunk; a lost
 * lease writes nothing and is no error. */
static si_status finish_in_tx(run *r, si_error *err) {
  si_batch *b = &r->res->batch;
  si_db *db = r->ctx->db;
  si_status st = imp_renew_lease_in_tx(r, err);
  if (st != SI_OK || r->res->lease_lost)
    return st;
  /* Locked first, so the counts below include what another import that
   * took one of its images (keep-last) committed meanwhile. */
  int locked = 0;
  st = si_store_batch_lock_id(db, r->batch_id, NULL, &locked, err);
  if (st != SI_OK)
    return st;
  /* Rows may say DONE ahead of the rename: this run's (imp_rows_status), or an
   * interrupted run's that this one reused (imp_plan_known). */
  int ahead = r->folder_rename && (r->optimistic || r->written_ahead);
  if (r->res->folder_moved) {
    /* Rows written DONE are; NEW ones of an interrupted run are reused. */
    if (!ahead || r->reused_new)
      st = mark_folder_done(r, err);
    r->res->imported += r->written_ahead;
    /* Rows of files an interrupted run stored one by one are not under
     * `base` (a resumed run has a `base` of its own: late_data_base). */
    if (st == SI_OK && (r->left_behind || r->reused_new))
      st = settle_moved_rows(r, err);
  } else {
    if (ahead)
      st = reset_unmoved_rows(r, err);
    if (st == SI_OK)
      st = settle_moved_rows(r, err);
  }
  int found;
  if (st == SI_OK)
    st = si_store_batch_get(db, r->uid, b, &found, err);
  json_t *hist = json_object();
  batch_tally tally = {b, hist};
  b->image_count = b->size_bytes = 0;
  if (st == SI_OK)
    st = si_store_import_study_dates(db, r->batch_id, tally_row, &tally, err);
  int64_t finished = si_now_ms();
  b->finished_at = finished;
  b->elapsed_ms = finished - r->started;
  b->skipped_count += r->res->skipped;
  /* This run's entries, those it found (quarantine.h) included; entries
   * another batch's import filed here (keep-last) were counted by it, and
   * are in `b` as the batch's row was locked above. (Counting every entry
   * here would scan the quarantine table at each finish.) */
  b->quarantined_count += r->res->quarantined;
  /* A batch stopped by a full disk waits in QUEUE: its job runs again. */
  snprintf(b->status, sizeof b->status, "%s",
           r->res->fatal         ? SI_BATCH_ERROR
           : r->res->no_space    ? SI_BATCH_QUEUE
           : b->image_count == 0 ? SI_BATCH_EMPTY
                                 : SI_BATCH_DONE);
  json_t *qa = json_pack(
      "{s:I, s:I, s:f, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:b}", "start", (json_int_t)r->started,
      "finish", (json_int_t)finished, "elapsed_seconds", (double)b->elapsed_ms / 1000.0,
      "size_bytes", (json_int_t)b->size_bytes, "image_count", (json_int_t)b->image_count,
      "study_dates", hist, "files_seen", (json_int_t)r->res->files_seen, "duplicates_ignored",
      (json_int_t)r->res->duplicates_ignored, "quarantined", (json_int_t)r->res->quarantined,
      "skipped", (json_int_t)r->res->skipped, "reopened", b->reopened);
  /* Written from the text itself: b->qa's fixed size would cut a batch of
   * many StudyDates into invalid JSON. b->qa gets it only when it fits. */
  char *text = qa ? json_dumps(qa, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(qa);
  if (!text && st == SI_OK)
    st = si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG,
                      "out of memory for the batch's qa");
  b->qa[0] = 0;
  if (text && strlen(text) < sizeof b->qa)
    memcpy(b->qa, text, strlen(text) + 1);
  if (st == SI_OK)
    st = si_store_batch_finish_qa(db, b, text, err);
  free(text);
  if (st == SI_OK && r->job_id >= 0 && r->res->no_space && !r->res->fatal) {
    st = si_store_job_release(db, r->job_id, r->ctx->worker,
                              "waiting for disk space (see the batch log)", err);
    r->res->job_finished = st == SI_OK;
  } else if (st == SI_OK && r->job_id >= 0) {
    st = si_stage_end_import(db, r->ctx->cfg, r->job_id, r->ctx->worker, r->uid, r->res->fatal,
                             NULL, r->started, err);
    r->res->job_finished = st == SI_OK;
  }
  return st;
}

/* Step 5 for several imports in one transaction: one commit ends them all.
 * The transaction is relaxed (its commit does not wait for the disk): the
 * moves it records were fsynced before it began, and should a power cut
 * undo it, the jobs run again and finish the same rows (settle_moved_rows),
 * as after any crash between steps 4 and 5. */
si_status imp_finish_runs(run **runs, size_t n, si_error *err) {
  si_db *db = runs[0]->ctx->db;
  si_status st = si_db_begin_relaxed(db, err);
  for (size_t i = 0; st == SI_OK && i < n; i++)
    st = finish_in_tx(runs[i], err);
  if (st == SI_OK)
    st = si_db_commit(db, err);
  else
    si_db_rollback(db);
  for (size_t i = 0; i < n; i++) {
    run *r = runs[i];
    if (st != SI_OK) {
      r->res->job_finished = 0;
    } else if (r->res->lease_lost) {
      si_log(SI_LOG_WARN, "job %" PRId64 " (batch %s): leaving the batch to the new holder",
             r->job_id, r->uid);
    }
  }
  /* Committed: a failed re-read below does not undo any run's end. */
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    int found;
    if (!runs[i]->res->lease_lost)
      st = si_store_batch_get(db, runs[i]->uid, &runs[i]->res->batch, &found, err);
  }
  return st;
}

/* What comes between an import's moves and its finish. Sets *finish when
 * the run is to be finished (not stopped by a lost lease or a shutdown). */
si_status imp_wrap_up(run *r, int *finish, si_error *err) {
  si_import_context *ctx = r->ctx;
  si_import_result *res = r->res;
  si_status st = SI_OK;
  *finish = 0;
  if (r->batch_id < 0 && !res->lease_lost) {
    /* No file went through a chunk: the batch still gets its record. */
    st = si_db_begin(ctx->db, err);
    if (st == SI_OK)
      st = imp_open_batch(r, err);
    st = st == SI_OK ? si_db_commit(ctx->db, err) : (si_db_rollback(ctx->db), st);
  }
  if (st == SI_OK && r->list_failed)
    imp_batch_log(r, "error", NULL, "cannot list %s: %s", r->folder, r->list_error.message);
  if (st == SI_OK && res->lease_lost) {
    if (r->batch_id >= 0)
      imp_batch_log(
          r, "warning", NULL,
          "this worker's lease on the job ran out: it stopped, and the worker now holding "
          "the job finishes the import");
  } else if (st == SI_OK && res->interrupted) {
    imp_batch_log(r, "info", NULL, "import interrupted by shutdown; the rest follows on restart");
    st = si_store_batch_set_status(ctx->db, r->uid, SI_BATCH_QUEUE, err);
  } else if (st == SI_OK && res->no_space && !res->fatal) {
    /* Finished as far as it got (rows of stored files DONE, the others
     * NEW), in QUEUE, and the job back in the queue (finish_in_tx). */
    imp_batch_log(r, "warning", NULL,
                  "storage is full: the files not stored yet stay in %s; intake pauses and this "
                  "import resumes when there is space again (no attempt counted)",
                  r->folder);
    *finish = 1;
  } else if (st == SI_OK) {
    if (!res->fatal && !res->folder_moved)
      si_remove_empty_dirs(r->folder);
    *finish = 1;
  }
  return st;
}
