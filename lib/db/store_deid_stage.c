/* The deid stage's per-image records (table image_deid); see
 * sendit/store_deid_stage.h. One SQL text per query serves every backend. */
#include "sendit/store_deid_stage.h"

#include "rows.h"

#include <string.h>

typedef struct image_iter {
  si_deid_image_fn fn;
  void *user;
} image_iter;

static const char *or_null(const char *v) { return v && v[0] ? v : NULL; }

static int image_each(void *user, int ncols, const char *const *v) {
  image_iter *it = user;
  if (ncols < 14)
    return 1;
  si_deid_image row = {.image_id = si_rows_i64(v[0]),
                       .uid = v[1] ? v[1] : "",
                       .status = v[2] ? v[2] : "",
                       .storage_path = v[3] ? v[3] : "",
                       .original_name = v[4] ? v[4] : "",
                       .patient_id = v[5] ? v[5] : "",
                       .study_uid = v[6] ? v[6] : "",
                       .state = v[7],
                       .reason = v[8],
                       .output_path = v[9],
                       .quarantine_path = v[10],
                       .deid_sop_uid = v[11],
                       .deid_study_uid = v[12],
                       .deid_series_uid = v[13]};
  return it->fn(it->user, &row);
}

si_status si_store_deid_stage_images(si_db *db, int64_t batch_id, int only_undone,
                                     si_deid_image_fn fn, void *user, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id), only_undone ? "1" : "0"};
  image_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT i.id, i.uid, i.status, i.storage_path, i.original_name, i.patient_id, "
                    "i.study_uid, d.state, d.reason, d.output_path, d.quarantine_path, d.sop_uid, "
                    "d.study_uid, d.series_uid FROM image i LEFT JOIN image_deid d ON d.image_id "
                    "= i.id WHERE i.batch_id = $1 AND i.status <> 'NEW' AND ($2 = '0' OR "
                    "(d.state IS NOT NULL AND d.state <> 'done')) ORDER BY i.patient_id, "
                    "i.study_uid, i.id",
                    2, params, image_each, &it, NULL, err);
}

si_status si_store_deid_stage_record(si_db *db, const si_deid_outcome *o, si_error *err) {
  char id_s[24], batch_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, o->image_id),
                          si_rows_param_i64(batch_s, o->batch_id),
                          o->state,
                          or_null(o->reason),
                          or_null(o->sop_uid),
                          or_null(o->study_uid),
                          or_null(o->series_uid),
                          or_null(o->output_path),
                          or_null(o->quarantine_path),
                          si_rows_param_i64(now_s, si_now_ms())};
  si_status st = si_db_exec(
      db,
      "INSERT INTO image_deid (image_id, batch_id, state, reason, sop_uid, study_uid, series_uid, "
      "output_path, quarantine_path, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
      "ON CONFLICT (image_id) DO UPDATE SET batch_id = excluded.batch_id, state = excluded.state, "
      "reason = excluded.reason, sop_uid = excluded.sop_uid, study_uid = excluded.study_uid, "
      "series_uid = excluded.series_uid, output_path = excluded.output_path, quarantine_path = "
      "COALESCE(excluded.quarantine_path, image_deid.quarantine_path), updated_at = "
      "excluded.updated_at",
      10, params, NULL, NULL, NULL, err);
  if (st != SI_OK)
    return st;
  const char *status =
      strcmp(o->state, SI_DEID_DONE) == 0 ? SI_IMAGE_DONEPROCESSING : SI_IMAGE_ERROR;
  const char *iparams[] = {id_s, status};
  return si_db_exec(db, "UPDATE image SET status = $2 WHERE id = $1", 2, iparams, NULL, NULL, NULL,
                    err);
}

si_status si_store_deid_stage_output_taken(si_db *db, const char *output_path, int64_t image_id,
                                           int *taken, si_error *err) {
  char id_s[24];
  const char *params[] = {output_path, si_rows_param_i64(id_s, image_id)};
  int64_t other = -1;
  si_status st = si_db_exec(db,
                            "SELECT image_id FROM image_deid WHERE output_path = $1 AND image_id "
                            "<> $2 LIMIT 1",
                            2, params, si_rows_first_i64, &other, NULL, err);
  *taken = st == SI_OK && other >= 0;
  return st;
}

static int counts_row(void *user, int ncols, const char *const *v) {
  si_deid_counts *c = user;
  if (ncols >= 4) {
    c->done = si_rows_i64(v[0]);
    c->held = si_rows_i64(v[1]);
    c->failed = si_rows_i64(v[2]);
    c->pending = si_rows_i64(v[3]);
  }
  return 1;
}

si_status si_store_deid_stage_counts(si_db *db, int64_t batch_id, si_deid_counts *out,
                                     si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  memset(out, 0, sizeof *out);
  return si_db_exec(db,
                    "SELECT count(*) FILTER (WHERE d.state = 'done'), count(*) FILTER (WHERE "
                    "d.state = 'held'), count(*) FILTER (WHERE d.state = 'failed'), count(*) "
                    "FILTER (WHERE d.state IS NULL OR d.state = 'released') FROM image i LEFT "
                    "JOIN image_deid d ON d.image_id = i.id WHERE i.batch_id = $1 AND i.status "
                    "<> 'NEW'",
                    1, params, counts_row, out, NULL, err);
}

si_status si_store_deid_stage_release(si_db *db, const char *batch_uid, int64_t image_id,
                                      int *changed, si_error *err) {
  char id_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, image_id), batch_uid,
                          si_rows_param_i64(now_s, si_now_ms())};
  int64_t changes = 0;
  si_status st = si_db_exec(db,
                            "UPDATE image_deid SET state = 'released', updated_at = $3 WHERE "
                            "image_id = $1 AND state = 'held' AND batch_id = (SELECT id FROM "
                            "batch WHERE uid = $2)",
                            3, params, NULL, NULL, &changes, err);
  *changed = st == SI_OK && changes > 0;
  return st;
}
