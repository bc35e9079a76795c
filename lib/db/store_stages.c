/* Stage jobs, hand-offs, timelines and the send ledger; see
 * sendit/store_stages.h. One SQL text per query serves every backend. */
#include "sendit/store_stages.h"

#include "rows.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The text of the partial index job_stage_queued (schema.c, migration 4):
 * ON CONFLICT names the index by repeating its predicate. */
#define STAGE_QUEUED "kind <> 'import' AND state = 'queued'"

static si_status not_held(int64_t job_id, const char *worker, si_error *err) {
  return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "job %" PRId64 " is no longer held by %s (its lease ran out)", job_id,
                      worker);
}

/* The batch_stage row of (uid, stage), written whole on first sight and
 * updated by what is given afterwards: $3 state, $4 a time for the column
 * the state stands for, $5 the error, $6 the job (attempts come from it,
 * and queued_at is its creation: an import's row is first written at its
 * end); $7 when the job's run began, if known (else $4 stands for it). */
static si_status stage_row(si_db *db, const char *uid, const char *stage, const char *state,
                           int64_t job_id, int64_t at, int64_t started, const char *error,
                           si_error *err) {
  char at_s[24], job_s[24], started_s[24];
  const char *params[] = {uid,
                          stage,
                          state,
                          si_rows_param_i64(at_s, at),
                          error,
                          job_id >= 0 ? si_rows_param_i64(job_s, job_id) : NULL,
                          started > 0 ? si_rows_param_i64(started_s, started) : NULL};
  return si_db_exec(
      db,
      "INSERT INTO batch_stage (batch_uid, stage, state, attempts, queued_at, started_at, "
      "finished_at, last_error) VALUES ($1, $2, $3, COALESCE((SELECT attempts FROM job WHERE id "
      "= CAST($6 AS BIGINT)), 0), COALESCE((SELECT created_at FROM job WHERE id = CAST($6 AS "
      "BIGINT)), CAST($4 AS BIGINT)), COALESCE(CAST($7 AS BIGINT), CASE WHEN $3 IN ('running', "
      "'done', 'failed') THEN CAST($4 AS BIGINT) END), CASE WHEN $3 IN ('done', 'failed') THEN "
      "CAST($4 AS BIGINT) END, "
      "$5) ON CONFLICT (batch_uid, stage) DO UPDATE SET state = excluded.state, attempts = "
      "excluded.attempts, last_error = CASE WHEN $3 = 'done' THEN NULL ELSE "
      "COALESCE(excluded.last_error, batch_stage.last_error) END, queued_at = CASE WHEN $3 = "
      "'queued' AND batch_stage.state IN ('done', 'failed') THEN excluded.queued_at ELSE "
      "batch_stage.queued_at END, started_at = CASE WHEN $3 = 'running' OR CAST($7 AS BIGINT) IS "
      "NOT NULL THEN excluded.started_at "
      "ELSE COALESCE(batch_stage.started_at, excluded.started_at) END, finished_at = CASE WHEN $3 "
      "IN ('done', 'failed') THEN excluded.finished_at ELSE NULL END",
      7, params, NULL, NULL, NULL, err);
}

si_status si_store_stage_enqueue(si_db *db, const char *kind, const char *batch_uid,
                                 const char *key, const char *payload, int *created,
                                 si_error *err) {
  char now_s[24];
  int64_t now = si_now_ms();
  const char *params[] = {kind, batch_uid, key ? key : "", payload && payload[0] ? payload : NULL,
                          si_rows_param_i64(now_s, now)};
  int64_t changes = 0;
  si_status st =
      si_db_exec(db,
                 "INSERT INTO job (kind, folder, path, excl_key, payload, state, "
                 "created_at, updated_at) VALUES ($1, $2, '', $3, $4, 'queued', $5, $5) "
                 "ON CONFLICT (kind, folder, excl_key) WHERE " STAGE_QUEUED " DO NOTHING",
                 5, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes > 0)
    st = stage_row(db, batch_uid, kind, "queued", -1, now, 0, NULL, err);
  if (st == SI_OK && changes > 0)
    st = si_db_signal(db, SI_STORE_JOBS_CHANNEL, err);
  if (created)
    *created = st == SI_OK && changes > 0;
  return st;
}

static int stage_job_row(void *user, int ncols, const char *const *v) {
  si_job *job = user;
  if (ncols < 8)
    return 1;
  si_rows_job(job, v);
  SI_ROWS_TEXT(job->kind, v[5]);
  SI_ROWS_TEXT(job->key, v[6]);
  SI_ROWS_TEXT(job->payload, v[7]);
  return 1;
}

/* As the import's claim (store.c): the NOT EXISTS sees committed claims
 * only, so on PostgreSQL two claims of twins may pass it at once; each
 * looks again after its commit and gives its job back when a twin runs. */
static si_status yield_to_twin(si_db *db, const char *worker, si_job *job, int *found,
                               si_error *err) {
  char id_s[24], sql[512];
  const char *params[] = {si_rows_param_i64(id_s, job->id), job->folder, job->kind, job->key};
  snprintf(sql, sizeof sql,
           "SELECT id FROM job WHERE folder = $2 AND id <> $1 AND kind = $3 AND excl_key = $4 AND "
           "state = 'running' AND lease_until >= %s LIMIT 1",
           si_db_get_backend(db)->now_ms);
  int64_t twin = -1;
  si_status st = si_db_exec(db, sql, 4, params, si_rows_first_i64, &twin, NULL, err);
  if (st != SI_OK || twin < 0)
    return st;
  const char *back[] = {id_s, worker};
  /* Back to the queue only when no twin is queued (job_stage_queued):
   * else it ends, the queued twin doing its work. */
  st = si_db_exec(db,
                  "UPDATE job SET state = CASE WHEN EXISTS (SELECT 1 FROM job q WHERE q.kind = "
                  "job.kind AND q.folder = job.folder AND q.excl_key = job.excl_key AND q.state = "
                  "'queued') THEN 'done' ELSE 'queued' END, worker = NULL, lease_until = NULL, "
                  "attempts = attempts - 1 WHERE id = $1 AND worker = $2 AND state = 'running'",
                  2, back, NULL, NULL, NULL, err);
  *found = 0;
  return st;
}

si_status si_store_stage_claim(si_db *db, const char *worker, int lease_seconds, const char *kind,
                               si_job *job, int *found, si_error *err) {
  char lease_s[24], sql[2048];
  const char *params[] = {worker, si_rows_param_i64(lease_s, (int64_t)lease_seconds * 1000), kind};
  const char *now = si_db_get_backend(db)->now_ms;
  snprintf(sql, sizeof sql,
           "UPDATE job SET state = 'running', worker = $1, lease_until = %s + $2, updated_at = %s, "
           "attempts = attempts + 1 WHERE id = (SELECT id FROM job j WHERE kind = $3 AND ((state "
           "= 'queued' AND (run_after IS NULL OR run_after <= %s)) OR (state = 'running' AND "
           "lease_until < %s)) AND NOT EXISTS (SELECT 1 FROM job o WHERE o.kind = j.kind AND "
           "o.folder = j.folder AND o.excl_key = j.excl_key AND o.id <> j.id AND o.state = "
           "'running' AND o.lease_until >= %s) ORDER BY id LIMIT 1%s) "
           "RETURNING id, folder, path, work_path, attempts, kind, excl_key, payload",
           now, now, now, now, now, si_db_get_backend(db)->skip_locked);
  memset(job, 0, sizeof *job);
  job->id = -1;
  *found = 0;
  si_status st = si_db_begin_relaxed(db, err);
  if (st == SI_OK)
    st = si_db_exec(db, sql, 3, params, stage_job_row, job, NULL, err);
  if (st == SI_OK && job->id >= 0)
    st = stage_row(db, job->folder, job->kind, "running", job->id, si_now_ms(), 0, NULL, err);
  st = st == SI_OK ? si_db_commit(db, err) : (si_db_rollback(db), st);
  if (st != SI_OK || job->id < 0)
    return st;
  *found = 1;
  return yield_to_twin(db, worker, job, found, err);
}

static int status_one(void *user, int ncols, const char *const *v) {
  snprintf((char *)user, 16, "%s", ncols > 0 && v[0] ? v[0] : "");
  return 1;
}

static si_status batch_after(si_db *db, const si_job_end *e, int64_t now, si_error *err);
static si_status fan_in_end(si_db *db, const si_job_end *e, int64_t now, si_error *err);

si_status si_store_job_end(si_db *db, const si_job_end *e, si_error *err) {
  char id_s[24], now_s[24];
  int64_t now = si_now_ms();
  const char *params[] = {si_rows_param_i64(id_s, e->job_id), e->state, e->error,
                          si_rows_param_i64(now_s, now), e->worker};
  int64_t changes = 0;
  si_status st = si_db_exec(db,
                            "UPDATE job SET state = $2, error = $3, updated_at = $4, lease_until = "
                            "NULL WHERE id = $1 AND worker = $5 AND state = 'running'",
                            5, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return not_held(e->job_id, e->worker, err);
  if (st != SI_OK)
    return st;
  if (e->fan_in)
    return fan_in_end(db, e, now, err);
  return batch_after(db, e, now, err);
}

/* What follows a job's end for its batch (see si_store_job_end). */
static si_status batch_after(si_db *db, const si_job_end *e, int64_t now, si_error *err) {
  char now_s[24];
  si_rows_param_i64(now_s, now);
  si_status st = SI_OK;
  int done = strcmp(e->state, "done") == 0;
  int last_after_import = done && !e->next_kind && strcmp(e->kind, "import") != 0;
  const char *bparams[] = {e->batch_uid,
                           e->state,
                           e->kind,
                           done ? e->next_kind : NULL,
                           last_after_import ? "1" : "0",
                           !done && e->batch_error ? "1" : "0",
                           now_s};
  /* The batch's status after this stage (see the header). */
  char status[16] = "";
  st = si_db_exec(db,
                  "UPDATE batch SET status = CASE WHEN $6 = '1' THEN 'ERROR' WHEN CAST($4 AS "
                  "TEXT) IS NOT NULL AND status IN ('QUEUE', 'PROCESSING', 'DONEPROCESSING', "
                  "'DONE') THEN CASE WHEN $3 = 'deid' OR status = 'DONEPROCESSING' THEN "
                  "'DONEPROCESSING' ELSE 'PROCESSING' END WHEN $5 = '1' AND status IN ('QUEUE', "
                  "'PROCESSING', 'DONEPROCESSING') THEN 'DONE' ELSE status END, error_stage = "
                  "CASE WHEN $2 = 'failed' THEN $3 END, "
                  "updated_at = $7 WHERE uid = $1 RETURNING status",
                  7, bparams, e->next_kind && done ? status_one : NULL,
                  e->next_kind && done ? status : NULL, NULL, err);
  if (st == SI_OK)
    st = stage_row(db, e->batch_uid, e->kind, e->state, e->job_id, now, e->started_ms, e->error,
                   err);
  int moving =
      done && e->next_kind &&
      (strcmp(status, SI_BATCH_PROCESSING) == 0 || strcmp(status, SI_BATCH_DONEPROCESSING) == 0);
  for (size_t i = 0; st == SI_OK && moving && i < (e->next_key_count ? e->next_key_count : 1); i++)
    st = si_store_stage_enqueue(db, e->next_kind, e->batch_uid,
                                e->next_key_count ? e->next_keys[i] : e->next_key, e->next_payload,
                                NULL, err);
  return st;
}

static int count_row(void *user, int ncols, const char *const *v) {
  (void)ncols;
  int64_t *n = user;
  *n = si_rows_i64(v[0]);
  return 1;
}

typedef struct failed_keys {
  char text[1400];
  size_t len;
  int count;
} failed_keys;

static int failed_key_row(void *user, int ncols, const char *const *v) {
  failed_keys *f = user;
  if (ncols < 2 || f->len >= sizeof f->text - 1)
    return 1; /* full: the count is what matters */
  f->count++;
  int n = snprintf(f->text + f->len, sizeof f->text - f->len, "%s%s: %s", f->len ? "; " : "",
                   v[0] ? v[0] : "", v[1] ? v[1] : "failed");
  f->len += n > 0 ? (size_t)n : 0;
  if (f->len >= sizeof f->text)
    f->len = sizeof f->text - 1;
  return 0;
}

/* The end of one of several jobs of a stage for a batch (fan_in). */
static si_status fan_in_end(si_db *db, const si_job_end *e, int64_t now, si_error *err) {
  int64_t batch_id = -1;
  int found = 0;
  si_status st = si_store_batch_lock_uid(db, e->batch_uid, &batch_id, &found, err);
  char id_s[24];
  const char *params[] = {e->kind, e->batch_uid, si_rows_param_i64(id_s, e->job_id)};
  int64_t others = 0;
  if (st == SI_OK)
    st = si_db_exec(db,
                    "SELECT count(*) FROM job WHERE kind = $1 AND folder = $2 AND id <> CAST($3 "
                    "AS BIGINT) AND state IN ('queued', 'running')",
                    3, params, count_row, &others, NULL, err);
  if (st != SI_OK)
    return st;
  if (others > 0) /* the stage goes on with the others */
    return stage_row(db, e->batch_uid, e->kind, "running", e->job_id, now, e->started_ms, e->error,
                     err);
  failed_keys f = {.len = 0};
  st = si_db_exec(db,
                  "SELECT j.excl_key, j.error FROM job j WHERE j.kind = $1 AND j.folder = $2 AND "
                  "j.state = 'failed' AND NOT EXISTS (SELECT 1 FROM job n WHERE n.kind = j.kind "
                  "AND n.folder = j.folder AND n.excl_key = j.excl_key AND n.id > j.id) ORDER BY "
                  "j.excl_key",
                  2, params, failed_key_row, &f, NULL, err);
  if (st == SI_OK && strcmp(e->kind, "send") == 0)
    st = si_store_images_mark_sent(db, e->batch_uid, err);
  if (st != SI_OK)
    return st;
  si_job_end last = *e;
  if (f.count) {
    last.state = "failed";
    last.error = f.text;
    last.batch_error = 1;
    last.next_kind = NULL;
  }
  return batch_after(db, &last, now, err);
}

si_status si_store_images_mark_sent(si_db *db, const char *batch_uid, si_error *err) {
  const char *params[] = {batch_uid};
  return si_db_exec(db,
                    "UPDATE image SET status = 'SENT' WHERE batch_id = (SELECT id FROM batch WHERE "
                    "uid = $1) AND status <> 'SENT' AND EXISTS (SELECT 1 FROM image_destination d "
                    "WHERE d.image_id = image.id) AND NOT EXISTS (SELECT 1 FROM image_destination "
                    "d WHERE d.image_id = image.id AND d.state <> 'sent')",
                    1, params, NULL, NULL, NULL, err);
}

si_status si_store_job_retry_later(si_db *db, int64_t job_id, const char *worker,
                                   const char *batch_uid, const char *kind, const char *error,
                                   int64_t delay_ms, si_error *err) {
  char id_s[24], delay_s[24], now_s[24], sql[512];
  const char *params[] = {si_rows_param_i64(id_s, job_id), worker, error,
                          si_rows_param_i64(delay_s, delay_ms),
                          si_rows_param_i64(now_s, si_now_ms())};
  snprintf(sql, sizeof sql,
           "UPDATE job SET state = 'queued', worker = NULL, lease_until = NULL, error = $3, "
           "run_after = %s + $4, updated_at = $5 WHERE id = $1 AND worker = $2 AND state = "
           "'running'",
           si_db_get_backend(db)->now_ms);
  int64_t changes = 0;
  si_status st = si_db_exec(db, sql, 5, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return not_held(job_id, worker, err);
  return stage_row(db, batch_uid, kind, "queued", job_id, si_now_ms(), 0, error, err);
}

si_status si_store_stage_requeue_failed(si_db *db, const char *uid, const char *stage, int *created,
                                        si_error *err) {
  const char *params[] = {uid, stage};
  int64_t failed = -1;
  *created = 0;
  si_status st = si_db_exec(db,
                            "SELECT id FROM job WHERE folder = $1 AND kind = $2 AND state = "
                            "'failed' ORDER BY id DESC LIMIT 1",
                            2, params, si_rows_first_i64, &failed, NULL, err);
  if (st != SI_OK)
    return st;
  if (failed < 0)
    return si_error_set(err, SI_ERR_NOT_FOUND, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "batch %s has no failed %s job", uid, stage);
  char id_s[24], now_s[24];
  int64_t now = si_now_ms();
  const char *p[] = {si_rows_param_i64(id_s, failed), si_rows_param_i64(now_s, now)};
  int64_t changes = 0;
  st = si_db_exec(db,
                  "INSERT INTO job (kind, folder, path, excl_key, payload, state, created_at, "
                  "updated_at) SELECT kind, folder, path, excl_key, payload, 'queued', $2, $2 FROM "
                  "job WHERE id = $1 ON CONFLICT (kind, folder, excl_key) WHERE " STAGE_QUEUED
                  " DO NOTHING",
                  2, p, NULL, NULL, &changes, err);
  *created = st == SI_OK && changes > 0;
  if (st == SI_OK)
    st = stage_row(db, uid, stage, "queued", -1, now, 0, NULL, err);
  const char *bp[] = {uid, now_s};
  if (st == SI_OK)
    st = si_db_exec(db,
                    "UPDATE batch SET status = 'QUEUE', error_stage = NULL, has_error = 0, "
                    "updated_at = $2 WHERE uid = $1",
                    2, bp, NULL, NULL, NULL, err);
  if (st == SI_OK && *created)
    st = si_db_signal(db, SI_STORE_JOBS_CHANNEL, err);
  return st;
}

typedef struct text_found {
  char *out;
  size_t size;
  int found;
} text_found;

static int text_one(void *user, int ncols, const char *const *v) {
  text_found *f = user;
  f->found = 1;
  snprintf(f->out, f->size, "%s", ncols > 0 && v[0] ? v[0] : "");
  return 1;
}

si_status si_store_batch_error_stage(si_db *db, const char *uid, char *out, size_t size, int *found,
                                     si_error *err) {
  text_found f = {out, size, 0};
  if (size)
    out[0] = 0;
  const char *params[] = {uid};
  si_status st = si_db_exec(db, "SELECT error_stage FROM batch WHERE uid = $1", 1, params, text_one,
                            &f, NULL, err);
  *found = st == SI_OK && f.found;
  return st;
}

typedef struct stage_iter {
  si_stage_row_fn fn;
  void *user;
} stage_iter;

static int stage_each(void *user, int ncols, const char *const *v) {
  stage_iter *it = user;
  if (ncols < 7)
    return 1;
  si_stage_row row = {.stage = v[0] ? v[0] : "",
                      .state = v[1] ? v[1] : "",
                      .attempts = (int)si_rows_i64(v[2]),
                      .queued_at = si_rows_i64(v[3]),
                      .started_at = si_rows_i64(v[4]),
                      .finished_at = si_rows_i64(v[5]),
                      .last_error = v[6]};
  return it->fn(it->user, &row);
}

si_status si_store_batch_stages(si_db *db, const char *uid, si_stage_row_fn fn, void *user,
                                si_error *err) {
  const char *params[] = {uid};
  stage_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT stage, state, attempts, queued_at, started_at, finished_at, "
                    "last_error FROM batch_stage WHERE batch_uid = $1 ORDER BY "
                    "COALESCE(queued_at, started_at, finished_at), stage",
                    1, params, stage_each, &it, NULL, err);
}

typedef struct depth_iter {
  si_kind_depth_fn fn;
  void *user;
} depth_iter;

static int depth_each(void *user, int ncols, const char *const *v) {
  depth_iter *it = user;
  return ncols >= 3 ? it->fn(it->user, v[0] ? v[0] : "", si_rows_i64(v[1]), si_rows_i64(v[2])) : 1;
}

si_status si_store_kind_depth(si_db *db, si_kind_depth_fn fn, void *user, si_error *err) {
  depth_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT kind, count(*) FILTER (WHERE state = 'queued'), count(*) FILTER "
                    "(WHERE state = 'running') FROM job WHERE state IN ('queued', 'running') "
                    "GROUP BY kind ORDER BY kind",
                    0, NULL, depth_each, &it, NULL, err);
}

typedef struct outcome_iter {
  si_job_outcome_fn fn;
  void *user;
} outcome_iter;

static int outcome_each(void *user, int ncols, const char *const *v) {
  outcome_iter *it = user;
  return ncols >= 3 ? it->fn(it->user, v[0] ? v[0] : "", v[1] ? v[1] : "", si_rows_i64(v[2])) : 1;
}

si_status si_store_job_outcomes(si_db *db, si_job_outcome_fn fn, void *user, si_error *err) {
  outcome_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT kind, state, count(*) FROM job GROUP BY kind, state ORDER BY kind, "
                    "state",
                    0, NULL, outcome_each, &it, NULL, err);
}

/* ---- image_destination ---- */

si_status si_store_image_destination_add(si_db *db, int64_t image_id, const char *destination,
                                         int *created, si_error *err) {
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, image_id), destination,
                          si_rows_param_i64(now_s, si_now_ms())};
  int64_t changes = 0;
  si_status st = si_db_exec(db,
                            "INSERT INTO image_destination (image_id, destination, state, "
                            "updated_at) VALUES ($1, $2, 'pending', $3) ON CONFLICT (image_id, "
                            "destination) DO NOTHING",
                            3, params, NULL, NULL, &changes, err);
  if (created)
    *created = st == SI_OK && changes > 0;
  return st;
}

si_status si_store_image_destination_set(si_db *db, int64_t image_id, const char *destination,
                                         const char *state, const char *answer, si_error *err) {
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, image_id), destination, state, answer,
                          si_rows_param_i64(now_s, si_now_ms())};
  int64_t changes = 0;
  si_status st = si_db_exec(db,
                            "UPDATE image_destination SET state = $3, answer = $4, updated_at = "
                            "$5 WHERE image_id = $1 AND destination = $2",
                            5, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return si_error_set(err, SI_ERR_NOT_FOUND, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "image %" PRId64 " has no destination %s", image_id, destination);
  return st;
}

typedef struct dest_iter {
  si_image_destination_fn fn;
  void *user;
} dest_iter;

static int dest_each(void *user, int ncols, const char *const *v) {
  dest_iter *it = user;
  if (ncols < 5)
    return 1;
  si_image_destination row = {.image_id = si_rows_i64(v[0]),
                              .destination = v[1] ? v[1] : "",
                              .state = v[2] ? v[2] : "",
                              .answer = v[3],
                              .updated_at = si_rows_i64(v[4])};
  return it->fn(it->user, &row);
}

si_status si_store_image_destination_list(si_db *db, int64_t batch_id, const char *destination,
                                          si_image_destination_fn fn, void *user, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id), destination};
  dest_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT d.image_id, d.destination, d.state, d.answer, d.updated_at FROM "
                    "image_destination d JOIN image i ON i.id = d.image_id WHERE i.batch_id = $1 "
                    "AND (CAST($2 AS TEXT) IS NULL OR d.destination = $2) ORDER BY d.image_id, "
                    "d.destination",
                    2, params, dest_each, &it, NULL, err);
}
