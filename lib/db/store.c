/* sendit's records over si_db. Every query is one SQL text shared by the
 * backends; values travel as text. */
#include "sendit/store.h"
#include "sendit/store_import.h"

#include "rows.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t si_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- queue ---- */

/* The jobs that hold their input path: queued or running ones whose
 * folder is still in the input (not yet claimed, or imported in place). The
 * text of the partial index job_pending (schema.c, migration 4): ON
 * CONFLICT names the index by repeating its predicate. */
#define JOB_HOLDS_PATH                                                                             \
  "kind = 'import' AND (state = 'queued' OR state = 'running') AND (work_path IS NULL OR "         \
  "work_path = path)"

si_status si_store_enqueue(si_db *db, const char *folder, const char *path, int *created,
                           si_error *err) {
  char now[24];
  const char *params[] = {folder, path, si_rows_param_i64(now, si_now_ms())};
  int64_t changes = 0;
  /* ON CONFLICT rather than catching the violation: callers enqueue inside
   * transactions too, and on PostgreSQL a violation aborts the transaction.
   * No NOT EXISTS in front of it: on PostgreSQL its snapshot could still see
   * a job whose claim is committing, while the index waits for that commit
   * and then lets the late folder in. */
  si_status st = si_db_exec(db,
                            "INSERT INTO job (folder, path, state, created_at, updated_at) "
                            "VALUES ($1, $2, 'queued', $3, $3) "
                            "ON CONFLICT (path) WHERE " JOB_HOLDS_PATH " DO NOTHING",
                            3, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes > 0)
    st = si_db_signal(db, SI_STORE_JOBS_CHANNEL, err);
  if (created)
    *created = st == SI_OK && changes > 0;
  return st;
}

static int job_row(void *user, int ncols, const char *const *v) {
  si_job *job = user;
  if (ncols < 5)
    return 1;
  si_rows_job(job, v);
  snprintf(job->kind, sizeof job->kind, "import");
  return 1;
}

/* The claim's NOT EXISTS sees only committed claims: on PostgreSQL two
 * workers claiming two queued jobs of the same folder at the same instant
 * both pass it. Each checks again once its claim is committed and gives its
 * job back when another live one holds the folder. Of two such claims at
 * least one sees the other (the later check starts after both commits), so
 * one import per batch uid runs at a time; at worst both give way and claim
 * again on their next round. */
static si_status yield_to_twin(si_db *db, const char *worker, si_job *job, int *found,
                               si_error *err) {
  char id_s[24], sql[512];
  const char *params[] = {si_rows_param_i64(id_s, job->id), job->folder,
                          job->kind[0] ? job->kind : "import", job->key};
  snprintf(sql, sizeof sql,
           "SELECT id FROM job WHERE folder = $2 AND id <> $1 AND kind = $3 AND excl_key = $4 AND "
           "state = 'running' AND lease_until >= %s LIMIT 1",
           si_db_get_backend(db)->now_ms);
  int64_t twin = -1;
  si_status st = si_db_exec(db, sql, 4, params, si_rows_first_i64, &twin, NULL, err);
  if (st != SI_OK || twin < 0)
    return st;
  const char *back[] = {id_s, worker};
  st = si_db_exec(db,
                  "UPDATE job SET state = 'queued', worker = NULL, lease_until = NULL, "
                  "attempts = attempts - 1 WHERE id = $1 AND worker = $2 AND state = 'running'",
                  2, back, NULL, NULL, NULL, err);
  *found = 0;
  return st;
}

/* Lease times are the database's clock (see si_db_backend.now_ms). */
static si_status claim_one(si_db *db, const char *worker, int lease_seconds, si_job *job,
                           int *found, si_error *err) {
  char lease_s[24];
  const char *params[] = {worker, si_rows_param_i64(lease_s, (int64_t)lease_seconds * 1000)};
  const char *now = si_db_get_backend(db)->now_ms;
  char sql[2048];
  snprintf(sql, sizeof sql,
           "UPDATE job SET state = 'running', worker = $1, lease_until = %s + $2, updated_at = %s, "
           "attempts = attempts + 1 WHERE id = (SELECT id FROM job j WHERE kind = 'import' AND "
           "(state = 'queued' OR (state = 'running' AND lease_until < %s)) AND NOT EXISTS (SELECT "
           "1 FROM job o WHERE o.folder = j.folder AND o.kind = 'import' AND o.id <> j.id AND "
           "o.state = 'running' AND o.lease_until >= %s) ORDER BY id LIMIT 1%s) "
           "RETURNING id, folder, path, work_path, attempts",
           now, now, now, now, si_db_get_backend(db)->skip_locked);
  memset(job, 0, sizeof *job);
  job->id = -1;
  si_status st = si_db_exec(db, sql, 2, params, job_row, job, NULL, err);
  *found = st == SI_OK && job->id >= 0;
  return st;
}

si_status si_store_claim(si_db *db, const char *worker, int lease_seconds, si_job *job, int *found,
                         si_error *err) {
  si_status st = claim_one(db, worker, lease_seconds, job, found, err);
  if (*found)
    st = yield_to_twin(db, worker, job, found, err);
  return st;
}

si_status si_store_claim_many(si_db *db, const char *worker, int lease_seconds, si_job *jobs,
                              size_t max, size_t *count, si_error *err) {
  *count = 0;
  if (max <= 1) {
    int found = 0;
    si_status st = max ? si_store_claim(db, worker, lease_seconds, jobs, &found, err) : SI_OK;
    *count = (size_t)found;
    return st;
  }
  /* One transaction, one commit. Inside it a claim sees the earlier ones,
   * so no two jobs of one folder are taken together. The commit is relaxed:
   * should a power cut undo it, the jobs are queued again (their queueing was
   * durable), and whoever claims one next finds its folder in the work area
   * under the job's name (pipeline.h, step 2); no import step that follows
   * the claim reaches the disk without it, as every durable commit after it
   * makes it durable too. */
  size_t claimed = 0;
  si_status st = si_db_begin_relaxed(db, err);
  while (st == SI_OK && claimed < max) {
    int found = 0;
    st = claim_one(db, worker, lease_seconds, &jobs[claimed], &found, err);
    if (!found)
      break;
    claimed++;
  }
  if (st == SI_OK)
    st = si_db_commit(db, err);
  else
    si_db_rollback(db);
  size_t kept = 0;
  for (size_t i = 0; st == SI_OK && i < claimed; i++) {
    int found = 1;
    st = yield_to_twin(db, worker, &jobs[i], &found, err);
    if (found && kept != i)
      jobs[kept] = jobs[i];
    kept += (size_t)found;
  }
  *count = st == SI_OK ? kept : 0;
  return st;
}

static si_status not_held(int64_t job_id, const char *worker, si_error *err) {
  return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "job %" PRId64 " is no longer held by %s (its lease ran out)", job_id,
                      worker);
}

/* A lease that has already run out is not renewed, even when no one took
 * the job yet: its holder was too slow to be trusted with it, and another
 * worker may be claiming it at this moment. */
si_status si_store_heartbeat(si_db *db, int64_t job_id, const char *worker, int lease_seconds,
                             si_error *err) {
  char id_s[24], lease_s[24], sql[512];
  const char *params[] = {si_rows_param_i64(id_s, job_id), worker,
                          si_rows_param_i64(lease_s, (int64_t)lease_seconds * 1000)};
  const char *now = si_db_get_backend(db)->now_ms;
  snprintf(sql, sizeof sql,
           "UPDATE job SET lease_until = %s + $3 WHERE id = $1 AND worker = $2 AND "
           "state = 'running' AND lease_until >= %s",
           now, now);
  int64_t changes = 0;
  si_status st = si_db_exec(db, sql, 3, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return not_held(job_id, worker, err);
  return st;
}

si_status si_store_job_set_work_path(si_db *db, int64_t job_id, const char *worker,
                                     const char *work_path, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, job_id), work_path, worker};
  int64_t changes = 0;
  si_status st = si_db_exec(db,
                            "UPDATE job SET work_path = $2 WHERE id = $1 AND worker = $3 AND "
                            "state = 'running'",
                            3, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return not_held(job_id, worker, err);
  return st;
}

si_status si_store_job_finish(si_db *db, int64_t job_id, const char *worker, const char *state,
                              const char *error, si_error *err) {
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, job_id), state, error,
                          si_rows_param_i64(now_s, si_now_ms()), worker};
  int64_t changes = 0;
  si_status st = si_db_exec(db,
                            "UPDATE job SET state = $2, error = $3, updated_at = $4, lease_until = "
                            "NULL WHERE id = $1 AND worker = $5 AND state = 'running'",
                            5, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return not_held(job_id, worker, err);
  return st;
}

si_status si_store_job_release(si_db *db, int64_t job_id, const char *worker, const char *why,
                               si_error *err) {
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, job_id), worker, why,
                          si_rows_param_i64(now_s, si_now_ms())};
  int64_t changes = 0;
  si_status st = si_db_exec(db,
                            "UPDATE job SET state = 'queued', worker = NULL, lease_until = NULL, "
                            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
                            "error = $3, updated_at = $4 WHERE id = $1 AND worker = $2 AND "
                            "state = 'running'",
                            4, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return not_held(job_id, worker, err);
  return st;
}

si_status si_store_oldest_queued(si_db *db, si_job *job, int *found, si_error *err) {
  memset(job, 0, sizeof *job);
  job->id = -1;
  si_status st = si_db_exec(db,
                            "SELECT id, folder, path, work_path, attempts FROM job WHERE kind = "
                            "'import' AND state = 'queued' ORDER BY id LIMIT 1",
                            0, NULL, job_row, job, NULL, err);
  *found = st == SI_OK && job->id >= 0;
  return st;
}

si_status si_store_job_pending(si_db *db, const char *folder, int *pending, si_error *err) {
  const char *params[] = {folder};
  int64_t id = -1;
  si_status st = si_db_exec(db,
                            "SELECT id FROM job WHERE folder = $1 AND state IN ('queued', "
                            "'running') LIMIT 1",
                            1, params, si_rows_first_i64, &id, NULL, err);
  *pending = st == SI_OK && id >= 0;
  return st;
}

/* One query: every worker asks before each claim. */
si_status si_store_queue_depth(si_db *db, int64_t *queued, int64_t *running, si_error *err) {
  int64_t counts[2] = {0, 0};
  si_status st = si_db_exec(db,
                            "SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER "
                            "(WHERE state = 'running') FROM job WHERE state IN ('queued', "
                            "'running')",
                            0, NULL, si_rows_first_two_i64, counts, NULL, err);
  *queued = counts[0];
  *running = counts[1];
  return st;
}

/* ---- batches ---- */

typedef struct batch_found {
  si_batch *b;
  int found;
} batch_found;

static int batch_one(void *user, int ncols, const char *const *v) {
  batch_found *bf = user;
  if (ncols >= SI_ROWS_BATCH_NCOLS) {
    si_rows_batch(bf->b, v);
    bf->found = 1;
  }
  return 1;
}

si_status si_store_batch_get(si_db *db, const char *uid, si_batch *out, int *found, si_error *err) {
  memset(out, 0, sizeof *out);
  batch_found bf = {out, 0};
  const char *params[] = {uid};
  si_status st = si_db_exec(db, "SELECT " SI_ROWS_BATCH_COLUMNS " FROM batch WHERE uid = $1", 1,
                            params, batch_one, &bf, NULL, err);
  *found = bf.found;
  return st;
}

si_status si_store_batch_begin(si_db *db, const char *uid, int64_t *batch_id, int *reopened,
                               si_error *err) {
  si_batch existing;
  int found;
  si_status st = si_store_batch_get(db, uid, &existing, &found, err);
  if (st != SI_OK)
    return st;
  char now_s[24];
  si_rows_param_i64(now_s, si_now_ms());
  if (!found) {
    const char *params[] = {uid, now_s};
    st = si_db_exec(db,
                    "INSERT INTO batch (uid, status, created_at, updated_at, started_at) "
                    "VALUES ($1, 'PROCESSING', $2, $2, $2)",
                    2, params, NULL, NULL, NULL, err);
    if (st == SI_OK)
      st = si_store_batch_get(db, uid, &existing, &found, err);
    *reopened = 0;
  } else {
    /* A batch seen before gets new data: mark it reopened unless it is an
     * interrupted import of the same data being resumed. */
    int finished = strcmp(existing.status, SI_BATCH_PROCESSING) != 0 &&
                   strcmp(existing.status, SI_BATCH_QUEUE) != 0;
    *reopened = finished;
    const char *params[] = {uid, now_s, finished ? "1" : "0"};
    st = si_db_exec(db,
                    "UPDATE batch SET status = 'PROCESSING', updated_at = $2, "
                    "reopened = CASE WHEN $3 = '1' THEN 1 ELSE reopened END, "
                    "started_at = COALESCE(started_at, $2) WHERE uid = $1",
                    3, params, NULL, NULL, NULL, err);
  }
  if (st == SI_OK && !found)
    return si_error_set(err, SI_ERR_DB, NULL, SI_NO_OFFSET, SI_NO_TAG, "batch %s vanished", uid);
  *batch_id = existing.id;
  return st;
}

si_status si_store_batch_finish(si_db *db, const si_batch *b, si_error *err) {
  return si_store_batch_finish_qa(db, b, b->qa, err);
}

si_status si_store_batch_set_status(si_db *db, const char *uid, const char *status, si_error *err) {
  char now_s[24];
  const char *params[] = {uid, status, si_rows_param_i64(now_s, si_now_ms())};
  int64_t changes = 0;
  si_status st = si_db_exec(db, "UPDATE batch SET status = $2, updated_at = $3 WHERE uid = $1", 3,
                            params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return si_error_set(err, SI_ERR_NOT_FOUND, NULL, SI_NO_OFFSET, SI_NO_TAG, "no batch %s", uid);
  return st;
}

typedef struct locked_batch {
  int64_t id;
  char *uid; /* SI_NAME_MAX, or NULL */
  int found;
} locked_batch;

static int locked_row(void *user, int ncols, const char *const *v) {
  locked_batch *l = user;
  if (ncols < 2 || !v[0])
    return 1;
  l->id = si_rows_i64(v[0]);
  if (l->uid)
    snprintf(l->uid, SI_NAME_MAX, "%s", v[1] ? v[1] : "");
  l->found = 1;
  return 1;
}

/* An update that changes nothing still takes the row's lock. */
si_status si_store_batch_lock_id(si_db *db, int64_t id, char *uid_out, int *found, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, id)};
  locked_batch l = {-1, uid_out, 0};
  si_status st = si_db_exec(db,
                            "UPDATE batch SET updated_at = updated_at WHERE id = $1 "
                            "RETURNING id, uid",
                            1, params, locked_row, &l, NULL, err);
  *found = st == SI_OK && l.found;
  return st;
}

si_status si_store_batch_lock_uid(si_db *db, const char *uid, int64_t *id_out, int *found,
                                  si_error *err) {
  const char *params[] = {uid};
  locked_batch l = {-1, NULL, 0};
  si_status st = si_db_exec(db,
                            "UPDATE batch SET updated_at = updated_at WHERE uid = $1 "
                            "RETURNING id, uid",
                            1, params, locked_row, &l, NULL, err);
  *found = st == SI_OK && l.found;
  if (id_out)
    *id_out = l.id;
  return st;
}

si_status si_store_batch_recount(si_db *db, int64_t batch_id, si_error *err) {
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id), si_rows_param_i64(now_s, si_now_ms())};
  si_status st = si_db_exec(
      db,
      "UPDATE batch SET updated_at = $2, "
      "image_count = (SELECT count(*) FROM image WHERE batch_id = $1 AND status <> 'NEW'), "
      "size_bytes = (SELECT COALESCE(sum(size_bytes), 0) FROM image WHERE batch_id = $1 AND "
      "status <> 'NEW'), "
      "quarantined_count = (SELECT count(*) FROM quarantine q WHERE q.batch_uid = batch.uid) "
      "WHERE id = $1",
      2, params, NULL, NULL, NULL, err);
  if (st == SI_OK)
    st = si_db_exec(db,
                    "UPDATE batch SET status = 'EMPTY' WHERE id = $1 AND status = 'DONE' AND "
                    "image_count = 0",
                    1, params, NULL, NULL, NULL, err);
  return st;
}

typedef struct batch_iter {
  si_batch_fn fn;
  void *user;
} batch_iter;

static int batch_each(void *user, int ncols, const char *const *v) {
  batch_iter *it = user;
  if (ncols < SI_ROWS_BATCH_NCOLS)
    return 1;
  si_batch *b = malloc(sizeof *b);
  if (!b)
    return 1;
  si_rows_batch(b, v);
  int stop = it->fn(it->user, b);
  free(b);
  return stop;
}

si_status si_store_batch_list(si_db *db, const char *status, int64_t limit, int64_t offset,
                              si_batch_fn fn, void *user, si_error *err) {
  char lim_s[24], off_s[24];
  const char *params[] = {status, si_rows_param_i64(lim_s, limit > 0 ? limit : INT64_MAX),
                          si_rows_param_i64(off_s, offset)};
  batch_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT " SI_ROWS_BATCH_COLUMNS
                    " FROM batch WHERE (CAST($1 AS TEXT) IS NULL OR "
                    "status = $1) "
                    "ORDER BY id DESC LIMIT $2 OFFSET $3",
                    3, params, batch_each, &it, NULL, err);
}

typedef struct count_iter {
  si_count_fn fn;
  void *user;
} count_iter;

static int count_each(void *user, int ncols, const char *const *v) {
  count_iter *it = user;
  return ncols >= 2 ? it->fn(it->user, v[0] ? v[0] : "", si_rows_i64(v[1])) : 1;
}

si_status si_store_batch_counts(si_db *db, si_count_fn fn, void *user, si_error *err) {
  count_iter it = {fn, user};
  return si_db_exec(db, "SELECT status, count(*) FROM batch GROUP BY status ORDER BY status", 0,
                    NULL, count_each, &it, NULL, err);
}

si_status si_store_batch_log(si_db *db, int64_t batch_id, const char *level, const char *file,
                             const char *message, si_error *err) {
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id), si_rows_param_i64(now_s, si_now_ms()),
                          level, file, message};
  si_status st = si_db_exec(db,
                            "INSERT INTO batch_log (batch_id, created_at, level, file, message) "
                            "VALUES ($1, $2, $3, $4, $5)",
                            5, params, NULL, NULL, NULL, err);
  if (st == SI_OK && strcmp(level, "error") == 0)
    st = si_db_exec(db, "UPDATE batch SET has_error = 1 WHERE id = $1", 1, params, NULL, NULL, NULL,
                    err);
  return st;
}

typedef struct log_iter {
  si_log_row_fn fn;
  void *user;
} log_iter;

static int log_each(void *user, int ncols, const char *const *v) {
  log_iter *it = user;
  return ncols >= 4 ? it->fn(it->user, si_rows_i64(v[0]), v[1], v[2], v[3]) : 1;
}

si_status si_store_batch_logs(si_db *db, int64_t batch_id, si_log_row_fn fn, void *user,
                              si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  log_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT created_at, level, file, message FROM batch_log WHERE batch_id = $1 "
                    "ORDER BY id",
                    1, params, log_each, &it, NULL, err);
}

/* ---- images ---- */

static const char *or_null(const char *s) { return s && s[0] ? s : NULL; }

/* Rows per multi-row INSERT; 15 parameters each stays far below the
 * protocol's 65,535. */
#define INSERT_ROWS 32
#define IMAGE_COLUMNS 15

static const char image_insert_head[] =
    "INSERT INTO image (uid, batch_id, status, storage_path, original_name, size_bytes, "
    "content_hash, patient_id, accession_number, study_uid, series_uid, sop_class_uid, "
    "modality, study_date, created_at) VALUES ";

/* One row's parameters in the INSERT's column order (created_at last);
 * the numbers are written into `num`. */
static void image_params(const si_image_values *v, const char *now_s, char num[2][24],
                         const char **out) {
  const char *p[IMAGE_COLUMNS] = {v->uid,
                                  si_rows_param_i64(num[0], v->batch_id),
                                  v->status,
                                  v->storage_path,
                                  or_null(v->original_name),
                                  si_rows_param_i64(num[1], v->size_bytes),
                                  or_null(v->content_hash),
                                  or_null(v->patient_id),
                                  or_null(v->accession_number),
                                  or_null(v->study_uid),
                                  or_null(v->series_uid),
                                  or_null(v->sop_class_uid),
                                  or_null(v->modality),
                                  or_null(v->study_date),
                                  now_s};
  memcpy(out, p, sizeof p);
}

#define IF_NEW " ON CONFLICT (uid) DO NOTHING"

/* The statement texts for 1 and for INSERT_ROWS rows, built once. */
static char insert_one_sql[sizeof image_insert_head + IMAGE_COLUMNS * 8];
static char insert_new_sql[sizeof insert_one_sql + sizeof IF_NEW];
static char insert_many_sql[sizeof image_insert_head + INSERT_ROWS * IMAGE_COLUMNS * 8];
static char insert_many_new_sql[sizeof insert_many_sql + sizeof IF_NEW];

static void build_insert(char *out, size_t size, size_t rows) {
  size_t len = (size_t)snprintf(out, size, "%s", image_insert_head);
  for (size_t r = 0; r < rows; r++) {
    len += (size_t)snprintf(out + len, size - len, "%s(", r ? ", " : "");
    for (size_t c = 1; c <= IMAGE_COLUMNS; c++)
      len += (size_t)snprintf(out + len, size - len, "%s$%zu", c > 1 ? ", " : "",
                              r * IMAGE_COLUMNS + c);
    len += (size_t)snprintf(out + len, size - len, ")");
  }
}

static void build_inserts(void) {
  build_insert(insert_one_sql, sizeof insert_one_sql, 1);
  build_insert(insert_many_sql, sizeof insert_many_sql, INSERT_ROWS);
  snprintf(insert_new_sql, sizeof insert_new_sql, "%s%s", insert_one_sql, IF_NEW);
  snprintf(insert_many_new_sql, sizeof insert_many_new_sql, "%s%s", insert_many_sql, IF_NEW);
}

static pthread_once_t inserts_built = PTHREAD_ONCE_INIT;

/* n is 1 or INSERT_ROWS; `if_new` skips rows of known uids, and `changes`
 * (may be NULL) then says how many were written. */
static si_status insert_rows(si_db *db, const si_image_values *rows, size_t n, int if_new,
                             int64_t *changes, si_error *err) {
  pthread_once(&inserts_built, build_inserts);
  const char *params[INSERT_ROWS * IMAGE_COLUMNS];
  char nums[INSERT_ROWS][2][24], now_s[24];
  si_rows_param_i64(now_s, si_now_ms());
  for (size_t r = 0; r < n; r++)
    image_params(&rows[r], now_s, nums[r], params + r * IMAGE_COLUMNS);
  const char *sql = n > 1 ? (if_new ? insert_many_new_sql : insert_many_sql)
                          : (if_new ? insert_new_sql : insert_one_sql);
  return si_db_exec(db, sql, (int)(n * IMAGE_COLUMNS), params, NULL, NULL, changes, err);
}

static si_image_values values_of(const si_image *img) {
  return (si_image_values){.uid = img->uid,
                           .batch_id = img->batch_id,
                           .status = img->status,
                           .storage_path = img->storage_path,
                           .original_name = img->original_name,
                           .size_bytes = img->size_bytes,
                           .content_hash = img->content_hash,
                           .patient_id = img->patient_id,
                           .accession_number = img->accession_number,
                           .study_uid = img->study_uid,
                           .series_uid = img->series_uid,
                           .sop_class_uid = img->sop_class_uid,
                           .modality = img->modality,
                           .study_date = img->study_date};
}

si_status si_store_image_insert(si_db *db, const si_image *img, si_error *err) {
  si_image_values v = values_of(img);
  return insert_rows(db, &v, 1, 0, NULL, err);
}

/* Rows for the next statement: INSERT_ROWS while that many are left, then
 * the rest row by row (one more statement text per count would crowd the
 * statement cache). */
static size_t next_statement_rows(size_t left, int multi_row) {
  return multi_row && left >= INSERT_ROWS ? INSERT_ROWS : 1;
}

si_status si_store_image_insert_many(si_db *db, const si_image_values *rows, size_t n,
                                     si_error *err) {
  int multi_row = si_db_get_backend(db)->multi_row_insert;
  si_status st = SI_OK;
  for (size_t i = 0, step = 0; st == SI_OK && i < n; i += step) {
    step = next_statement_rows(n - i, multi_row);
    st = insert_rows(db, rows + i, step, 0, NULL, err);
  }
  return st;
}

si_status si_store_image_insert_new(si_db *db, const si_image_values *row, int *inserted,
                                    si_error *err) {
  int64_t changes = 0;
  si_status st = insert_rows(db, row, 1, 1, &changes, err);
  *inserted = st == SI_OK && changes > 0;
  return st;
}

/* Inside a savepoint, so that a known uid undoes the rows written before
 * it was found: whole statements of INSERT_ROWS rows count their changes. */
si_status si_store_image_insert_all_new(si_db *db, const si_image_values *rows, size_t n,
                                        int *inserted, si_error *err) {
  *inserted = 0;
  si_status st = si_db_exec(db, "SAVEPOINT image_insert_all_new", 0, NULL, NULL, NULL, NULL, err);
  int64_t written = 0;
  for (size_t i = 0, step = 0; st == SI_OK && i < n && written == (int64_t)i; i += step) {
    int64_t changes = 0;
    step = next_statement_rows(n - i, 1);
    st = insert_rows(db, rows + i, step, 1, &changes, err);
    written += changes;
  }
  if (st != SI_OK)
    return st; /* the caller rolls the transaction back */
  *inserted = written == (int64_t)n;
  if (!*inserted)
    st = si_db_exec(db, "ROLLBACK TO image_insert_all_new", 0, NULL, NULL, NULL, NULL, err);
  if (st == SI_OK)
    st = si_db_exec(db, "RELEASE image_insert_all_new", 0, NULL, NULL, NULL, NULL, err);
  if (st != SI_OK)
    *inserted = 0;
  return st;
}

si_status si_store_image_replace(si_db *db, const si_image *img, si_error *err) {
  si_image_values v = values_of(img);
  const char *params[IMAGE_COLUMNS];
  char nums[2][24];
  image_params(&v, NULL, nums, params); /* the first 14, as the UPDATE numbers them */
  return si_db_exec(db,
                    "UPDATE image SET batch_id = $2, status = $3, storage_path = $4, "
                    "original_name = $5, size_bytes = $6, content_hash = $7, patient_id = $8, "
                    "accession_number = $9, study_uid = $10, series_uid = $11, "
                    "sop_class_uid = $12, modality = $13, study_date = $14 WHERE uid = $1",
                    IMAGE_COLUMNS - 1, params, NULL, NULL, NULL, err);
}

typedef struct image_found {
  si_image *img;
  int found;
} image_found;

static int image_one(void *user, int ncols, const char *const *v) {
  image_found *f = user;
  if (ncols >= SI_ROWS_IMAGE_NCOLS) {
    si_rows_image(f->img, v);
    f->found = 1;
  }
  return 1;
}

si_status si_store_image_get(si_db *db, const char *uid, si_image *out, int *found, si_error *err) {
  memset(out, 0, sizeof *out);
  image_found f = {out, 0};
  const char *params[] = {uid};
  si_status st = si_db_exec(db, "SELECT " SI_ROWS_IMAGE_COLUMNS " FROM image WHERE uid = $1", 1,
                            params, image_one, &f, NULL, err);
  *found = f.found;
  return st;
}

typedef struct image_iter {
  si_image_fn fn;
  void *user;
} image_iter;

static int image_each(void *user, int ncols, const char *const *v) {
  image_iter *it = user;
  if (ncols < SI_ROWS_IMAGE_NCOLS)
    return 1;
  si_image *img = malloc(sizeof *img);
  if (!img)
    return 1;
  si_rows_image(img, v);
  int stop = it->fn(it->user, img);
  free(img);
  return stop;
}

si_status si_store_image_list(si_db *db, int64_t batch_id, int64_t limit, int64_t offset,
                              si_image_fn fn, void *user, si_error *err) {
  char id_s[24], lim_s[24], off_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id),
                          si_rows_param_i64(lim_s, limit > 0 ? limit : INT64_MAX),
                          si_rows_param_i64(off_s, offset)};
  image_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT " SI_ROWS_IMAGE_COLUMNS " FROM image WHERE batch_id = $1 ORDER BY id "
                    "LIMIT $2 OFFSET $3",
                    3, params, image_each, &it, NULL, err);
}

si_status si_store_image_count(si_db *db, int64_t batch_id, int64_t *count, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  *count = 0;
  return si_db_exec(db, "SELECT count(*) FROM image WHERE batch_id = $1", 1, params,
                    si_rows_first_i64, count, NULL, err);
}

/* ---- quarantine ---- */

si_status si_store_quarantine_add(si_db *db, const char *batch_uid, const char *path,
                                  const char *original_name, const char *reason, si_error *err) {
  char now_s[24];
  const char *params[] = {batch_uid, path, original_name, reason,
                          si_rows_param_i64(now_s, si_now_ms())};
  return si_db_exec(db,
                    "INSERT INTO quarantine (batch_uid, path, original_name, reason, created_at) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    5, params, NULL, NULL, NULL, err);
}

typedef struct quarantine_iter {
  si_quarantine_fn fn;
  void *user;
} quarantine_iter;

static int quarantine_each(void *user, int ncols, const char *const *v) {
  quarantine_iter *it = user;
  if (ncols < 7)
    return 1;
  si_quarantined q;
  q.id = si_rows_i64(v[0]);
  SI_ROWS_TEXT(q.batch_uid, v[1]);
  SI_ROWS_TEXT(q.path, v[2]);
  SI_ROWS_TEXT(q.original_name, v[3]);
  SI_ROWS_TEXT(q.reason, v[4]);
  q.created_at = si_rows_i64(v[5]);
  q.requeued_at = si_rows_i64(v[6]);
  return it->fn(it->user, &q);
}

si_status si_store_quarantine_list(si_db *db, int include_requeued, si_quarantine_fn fn, void *user,
                                   si_error *err) {
  quarantine_iter it = {fn, user};
  const char *params[] = {include_requeued ? "1" : "0"};
  return si_db_exec(db,
                    "SELECT id, batch_uid, path, original_name, reason, created_at, requeued_at "
                    "FROM quarantine WHERE $1 = '1' OR requeued_at IS NULL ORDER BY id",
                    1, params, quarantine_each, &it, NULL, err);
}

si_status si_store_quarantine_mark_requeued(si_db *db, int64_t id, si_error *err) {
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, id), si_rows_param_i64(now_s, si_now_ms())};
  return si_db_exec(db, "UPDATE quarantine SET requeued_at = $2 WHERE id = $1", 2, params, NULL,
                    NULL, NULL, err);
}

typedef struct path_iter {
  si_path_fn fn;
  void *user;
} path_iter;

static int path_each(void *user, int ncols, const char *const *v) {
  path_iter *it = user;
  return ncols < 1 || !v[0] ? 0 : it->fn(it->user, v[0]);
}

si_status si_store_quarantine_paths(si_db *db, const char *batch_uid, si_path_fn fn, void *user,
                                    si_error *err) {
  const char *params[] = {batch_uid};
  path_iter it = {fn, user};
  return si_db_exec(db, "SELECT path FROM quarantine WHERE batch_uid = $1 AND requeued_at IS NULL",
                    1, params, path_each, &it, NULL, err);
}
