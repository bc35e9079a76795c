/* The delivery engine's records; see sendit/store_dest.h. One SQL text per
 * query serves every backend. */
#include "sendit/store_dest.h"

#include "rows.h"
#include "sendit/store.h"
#include "sendit/store_stages.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define STATE_COLUMNS                                                                              \
  "name, state, failures, opened_at, last_success_at, last_error, last_error_at, attempts, "       \
  "failed_attempts, sent_count, failed_count"

static int state_row(void *user, int ncols, const char *const *v) {
  si_dest_state *s = user;
  if (ncols < 11)
    return 1;
  SI_ROWS_TEXT(s->name, v[0]);
  SI_ROWS_TEXT(s->state, v[1]);
  s->failures = (int)si_rows_i64(v[2]);
  s->opened_at = si_rows_i64(v[3]);
  s->last_success_at = si_rows_i64(v[4]);
  SI_ROWS_TEXT(s->last_error, v[5]);
  s->last_error_at = si_rows_i64(v[6]);
  s->attempts = si_rows_i64(v[7]);
  s->failed_attempts = si_rows_i64(v[8]);
  s->sent_count = si_rows_i64(v[9]);
  s->failed_count = si_rows_i64(v[10]);
  return 1;
}

si_status si_store_dest_state_lock(si_db *db, const char *name, si_dest_state *out, si_error *err) {
  char now_s[24];
  const char *params[] = {name, si_rows_param_i64(now_s, si_now_ms())};
  memset(out, 0, sizeof *out);
  si_status st = si_db_exec(db,
                            "INSERT INTO destination_state (name, state, updated_at) VALUES ($1, "
                            "'closed', $2) ON CONFLICT (name) DO NOTHING",
                            2, params, NULL, NULL, NULL, err);
  /* An update that changes nothing takes the row's lock on PostgreSQL
   * (SQLite's writer holds the whole database already). */
  if (st == SI_OK)
    st = si_db_exec(db,
                    "UPDATE destination_state SET updated_at = updated_at WHERE name = $1 "
                    "RETURNING " STATE_COLUMNS,
                    1, params, state_row, out, NULL, err);
  return st;
}

si_status si_store_dest_state_put(si_db *db, const si_dest_state *s, si_error *err) {
  char f_s[24], o_s[24], ls_s[24], le_s[24], a_s[24], fa_s[24], sc_s[24], fc_s[24], now_s[24];
  const char *params[] = {s->name,
                          s->state,
                          si_rows_param_i64(f_s, s->failures),
                          s->opened_at ? si_rows_param_i64(o_s, s->opened_at) : NULL,
                          s->last_success_at ? si_rows_param_i64(ls_s, s->last_success_at) : NULL,
                          s->last_error[0] ? s->last_error : NULL,
                          s->last_error_at ? si_rows_param_i64(le_s, s->last_error_at) : NULL,
                          si_rows_param_i64(a_s, s->attempts),
                          si_rows_param_i64(fa_s, s->failed_attempts),
                          si_rows_param_i64(sc_s, s->sent_count),
                          si_rows_param_i64(fc_s, s->failed_count),
                          si_rows_param_i64(now_s, si_now_ms())};
  return si_db_exec(db,
                    "UPDATE destination_state SET state = $2, failures = CAST($3 AS INTEGER), "
                    "opened_at = CAST($4 AS BIGINT), last_success_at = CAST($5 AS BIGINT), "
                    "last_error = $6, last_error_at = CAST($7 AS BIGINT), attempts = CAST($8 AS "
                    "BIGINT), failed_attempts = CAST($9 AS BIGINT), sent_count = CAST($10 AS "
                    "BIGINT), failed_count = CAST($11 AS BIGINT), updated_at = CAST($12 AS BIGINT) "
                    "WHERE name = $1",
                    12, params, NULL, NULL, NULL, err);
}

typedef struct state_found {
  si_dest_state *s;
  int found;
} state_found;

static int state_found_row(void *user, int ncols, const char *const *v) {
  state_found *f = user;
  f->found = 1;
  return state_row(f->s, ncols, v);
}

si_status si_store_dest_state_get(si_db *db, const char *name, si_dest_state *out, int *found,
                                  si_error *err) {
  const char *params[] = {name};
  state_found f = {out, 0};
  memset(out, 0, sizeof *out);
  si_status st = si_db_exec(db, "SELECT " STATE_COLUMNS " FROM destination_state WHERE name = $1",
                            1, params, state_found_row, &f, NULL, err);
  *found = st == SI_OK && f.found;
  return st;
}

si_status si_store_db_now(si_db *db, int64_t *now_ms, si_error *err) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT %s", si_db_get_backend(db)->now_ms);
  *now_ms = 0;
  return si_db_exec(db, sql, 0, NULL, si_rows_first_i64, now_ms, NULL, err);
}

si_status si_store_dest_running(si_db *db, const char *name, int64_t except, int64_t *count,
                                si_error *err) {
  char id_s[24], sql[400];
  const char *params[] = {name, si_rows_param_i64(id_s, except)};
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM job WHERE kind = 'send' AND excl_key = $1 AND state = 'running' "
           "AND id <> CAST($2 AS BIGINT) AND lease_until >= %s",
           si_db_get_backend(db)->now_ms);
  *count = 0;
  return si_db_exec(db, sql, 2, params, si_rows_first_i64, count, NULL, err);
}

si_status si_store_dest_push_queued(si_db *db, const char *name, int64_t until_ms, si_error *err) {
  char until_s[24];
  const char *params[] = {name, si_rows_param_i64(until_s, until_ms)};
  return si_db_exec(db,
                    "UPDATE job SET run_after = CAST($2 AS BIGINT) WHERE kind = 'send' AND "
                    "excl_key = $1 AND state = 'queued' AND (run_after IS NULL OR run_after < "
                    "CAST($2 AS BIGINT))",
                    2, params, NULL, NULL, NULL, err);
}

si_status si_store_dest_release_queued(si_db *db, const char *name, si_error *err) {
  const char *params[] = {name};
  return si_db_exec(db,
                    "UPDATE job SET run_after = NULL WHERE kind = 'send' AND excl_key = $1 AND "
                    "state = 'queued' AND run_after IS NOT NULL",
                    1, params, NULL, NULL, NULL, err);
}

si_status si_store_job_defer(si_db *db, int64_t job_id, const char *worker, int64_t delay_ms,
                             si_error *err) {
  char id_s[24], delay_s[24], now_s[24], sql[900];
  const char *params[] = {si_rows_param_i64(id_s, job_id), worker,
                          si_rows_param_i64(delay_s, delay_ms),
                          si_rows_param_i64(now_s, si_now_ms())};
  snprintf(sql, sizeof sql,
           "UPDATE job SET state = CASE WHEN EXISTS (SELECT 1 FROM job q WHERE q.kind = job.kind "
           "AND q.folder = job.folder AND q.excl_key = job.excl_key AND q.state = 'queued') THEN "
           "'done' ELSE 'queued' END, worker = NULL, lease_until = NULL, attempts = attempts - 1, "
           "run_after = %s + CAST($3 AS BIGINT), updated_at = CAST($4 AS BIGINT) WHERE id = "
           "CAST($1 AS BIGINT) AND worker = $2 AND state = 'running'",
           si_db_get_backend(db)->now_ms);
  int64_t changes = 0;
  si_status st = si_db_exec(db, sql, 4, params, NULL, NULL, &changes, err);
  if (st == SI_OK && changes == 0)
    return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "job %" PRId64 " is no longer held by %s", job_id, worker);
  return st;
}

si_status si_store_job_created(si_db *db, int64_t job_id, int64_t *created_ms, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, job_id)};
  *created_ms = 0;
  return si_db_exec(db, "SELECT created_at FROM job WHERE id = CAST($1 AS BIGINT)", 1, params,
                    si_rows_first_i64, created_ms, NULL, err);
}

typedef struct image_iter {
  si_send_image_fn fn;
  void *user;
} image_iter;

static int image_each(void *user, int ncols, const char *const *v) {
  image_iter *it = user;
  if (ncols < 12)
    return 1;
  si_send_image row = {.image_id = si_rows_i64(v[0]),
                       .path = v[1] ? v[1] : "",
                       .sop_class_uid = v[2] ? v[2] : "",
                       .sop_instance_uid = v[3] ? v[3] : "",
                       .study_uid = v[4] ? v[4] : "",
                       .series_uid = v[5] ? v[5] : "",
                       .modality = v[6] ? v[6] : "",
                       .size = si_rows_i64(v[7]),
                       .state = v[8],
                       .answer = v[9],
                       .original_path = v[10] ? v[10] : "",
                       .deid_reason = v[11] ? v[11] : ""};
  return it->fn(it->user, &row);
}

si_status si_store_send_images(si_db *db, const char *batch_uid, const char *source,
                               const char *destination, si_send_image_fn fn, void *user,
                               si_error *err) {
  const char *params[] = {batch_uid, destination};
  image_iter it = {fn, user};
  if (strcmp(source, "deid") == 0)
    return si_db_exec(db,
                      "SELECT i.id, d.output_path, i.sop_class_uid, d.sop_uid, d.study_uid, "
                      "d.series_uid, i.modality, i.size_bytes, x.state, x.answer, i.storage_path, "
                      "d.reason FROM image i JOIN batch b ON b.id = i.batch_id JOIN image_deid d "
                      "ON d.image_id = i.id AND d.state = 'done' LEFT JOIN image_destination x ON "
                      "x.image_id = i.id AND x.destination = $2 WHERE b.uid = $1 ORDER BY i.id",
                      2, params, image_each, &it, NULL, err);
  return si_db_exec(db,
                    "SELECT i.id, i.storage_path, i.sop_class_uid, i.uid, i.study_uid, "
                    "i.series_uid, i.modality, i.size_bytes, x.state, x.answer, i.storage_path, "
                    "d.reason FROM image i JOIN batch b ON b.id = i.batch_id LEFT JOIN "
                    "image_deid d ON d.image_id = i.id AND d.state = 'done' LEFT JOIN "
                    "image_destination x ON x.image_id = i.id AND x.destination = $2 WHERE "
                    "b.uid = $1 AND i.status NOT IN ('NEW', 'ERROR') ORDER BY i.id",
                    2, params, image_each, &it, NULL, err);
}

typedef struct counts_iter {
  si_dest_counts_fn fn;
  void *user;
} counts_iter;

static int counts_each(void *user, int ncols, const char *const *v) {
  counts_iter *it = user;
  return ncols >= 4 ? it->fn(it->user, v[0] ? v[0] : "", si_rows_i64(v[1]), si_rows_i64(v[2]),
                             si_rows_i64(v[3]))
                    : 1;
}

si_status si_store_batch_dest_counts(si_db *db, int64_t batch_id, si_dest_counts_fn fn, void *user,
                                     si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  counts_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT d.destination, count(*) FILTER (WHERE d.state = 'pending'), count(*) "
                    "FILTER (WHERE d.state = 'sent'), count(*) FILTER (WHERE d.state = 'failed') "
                    "FROM image_destination d JOIN image i ON i.id = d.image_id WHERE i.batch_id "
                    "= CAST($1 AS BIGINT) GROUP BY d.destination ORDER BY d.destination",
                    1, params, counts_each, &it, NULL, err);
}

static int totals_row(void *user, int ncols, const char *const *v) {
  si_dest_totals *t = user;
  if (ncols >= 5) {
    t->pending = si_rows_i64(v[0]);
    t->sent = si_rows_i64(v[1]);
    t->failed = si_rows_i64(v[2]);
    t->queued_jobs = si_rows_i64(v[3]);
    t->running_jobs = si_rows_i64(v[4]);
  }
  return 1;
}

si_status si_store_dest_totals(si_db *db, const char *name, si_dest_totals *out, si_error *err) {
  const char *params[] = {name};
  memset(out, 0, sizeof *out);
  return si_db_exec(
      db,
      "SELECT (SELECT count(*) FROM image_destination WHERE destination = $1 AND state = "
      "'pending'), (SELECT count(*) FROM image_destination WHERE destination = $1 AND state = "
      "'sent'), (SELECT count(*) FROM image_destination WHERE destination = $1 AND state = "
      "'failed'), (SELECT count(*) FROM job WHERE kind = 'send' AND excl_key = $1 AND state = "
      "'queued'), (SELECT count(*) FROM job WHERE kind = 'send' AND excl_key = $1 AND state = "
      "'running')",
      1, params, totals_row, out, NULL, err);
}

si_status si_store_dest_reset(si_db *db, const char *uid, const char *destination, int *found,
                              si_error *err) {
  int64_t batch_id = -1;
  si_status st = si_store_batch_lock_uid(db, uid, &batch_id, found, err);
  if (st != SI_OK || !*found)
    return st;
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id), destination,
                          si_rows_param_i64(now_s, si_now_ms())};
  st = si_db_exec(db,
                  "UPDATE image_destination SET state = 'pending', answer = NULL, updated_at = "
                  "CAST($3 AS BIGINT) WHERE destination = $2 AND image_id IN (SELECT id FROM "
                  "image WHERE batch_id = CAST($1 AS BIGINT))",
                  3, params, NULL, NULL, NULL, err);
  if (st == SI_OK)
    st = si_db_exec(db,
                    "UPDATE image SET status = CASE WHEN EXISTS (SELECT 1 FROM image_deid d WHERE "
                    "d.image_id = image.id AND d.state = 'done') THEN 'DONEPROCESSING' ELSE "
                    "'DONE' END WHERE batch_id = CAST($1 AS BIGINT) AND status = 'SENT' AND $2 "
                    "<> '' AND CAST($3 AS BIGINT) > 0",
                    3, params, NULL, NULL, NULL, err);
  if (st == SI_OK)
    st = si_db_exec(db,
                    "UPDATE batch SET status = CASE WHEN EXISTS (SELECT 1 FROM image_deid d WHERE "
                    "d.batch_id = batch.id AND d.state = 'done') THEN 'DONEPROCESSING' ELSE "
                    "'PROCESSING' END, error_stage = NULL, has_error = 0, updated_at = CAST($3 AS "
                    "BIGINT) WHERE id = CAST($1 AS BIGINT) AND $2 <> ''",
                    3, params, NULL, NULL, NULL, err);
  return st;
}
