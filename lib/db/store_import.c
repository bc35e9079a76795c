/* The import's queries over si_db; see sendit/store_import.h. */
#include "sendit/store_import.h"

#include "rows.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct uid_rows {
  int (*fn)(void *user, const char *uid);
  void *user;
} uid_rows;

static int uid_row(void *user, int ncols, const char *const *v) {
  uid_rows *u = user;
  return ncols > 0 && v[0] ? u->fn(u->user, v[0]) : 0;
}

si_status si_store_import_known_uids(si_db *db, const char *const *uids, size_t n,
                                     int (*fn)(void *user, const char *uid), void *user,
                                     si_error *err) {
  if (n > SI_STORE_KNOWN_UIDS_MAX)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "%zu uids asked at once (at most %d)", n, SI_STORE_KNOWN_UIDS_MAX);
  if (n == 0)
    return SI_OK;
  const char *params[SI_STORE_KNOWN_UIDS_MAX];
  for (size_t i = 0; i < SI_STORE_KNOWN_UIDS_MAX; i++)
    params[i] = uids[i < n ? i : n - 1];
  /* "$256" is 4 characters and ", " 2 more: 6 per parameter is room. */
  char sql[48 + SI_STORE_KNOWN_UIDS_MAX * 6];
  int len = snprintf(sql, sizeof sql, "SELECT uid FROM image WHERE uid IN (");
  for (int i = 1; i <= SI_STORE_KNOWN_UIDS_MAX; i++)
    len += snprintf(sql + len, sizeof sql - (size_t)len, i > 1 ? ", $%d" : "$%d", i);
  snprintf(sql + len, sizeof sql - (size_t)len, ")");
  uid_rows u = {fn, user};
  return si_db_exec(db, sql, SI_STORE_KNOWN_UIDS_MAX, params, uid_row, &u, NULL, err);
}

typedef struct path_rows {
  int (*fn)(void *user, const char *uid, const char *storage_path);
  void *user;
} path_rows;

static int path_row(void *user, int ncols, const char *const *v) {
  path_rows *p = user;
  if (ncols < 2 || !v[0] || !v[1])
    return 0;
  return p->fn(p->user, v[0], v[1]);
}

si_status si_store_import_rows(si_db *db, int64_t batch_id, const char *status, const char *under,
                               int (*fn)(void *user, const char *uid, const char *storage_path),
                               void *user, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id), status, under};
  path_rows p = {fn, user};
  if (!under)
    return si_db_exec(db, "SELECT uid, storage_path FROM image WHERE batch_id = $1 AND status = $2",
                      2, params, path_row, &p, NULL, err);
  return si_db_exec(db,
                    "SELECT uid, storage_path FROM image WHERE batch_id = $1 AND status = $2 AND "
                    "substr(storage_path, 1, length($3)) = $3",
                    3, params, path_row, &p, NULL, err);
}

si_status si_store_image_set_status(si_db *db, const char *uid, const char *status, si_error *err) {
  const char *params[] = {status, uid};
  return si_db_exec(db, "UPDATE image SET status = $1 WHERE uid = $2", 2, params, NULL, NULL, NULL,
                    err);
}

si_status si_store_import_mark_done_under(si_db *db, int64_t batch_id, const char *under,
                                          int64_t *changed, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id), under};
  int64_t changes = 0;
  si_status st = si_db_exec(db,
                            "UPDATE image SET status = 'DONE' WHERE batch_id = $1 AND status = "
                            "'NEW' AND substr(storage_path, 1, length($2)) = $2",
                            2, params, NULL, NULL, &changes, err);
  if (changed)
    *changed = changes;
  return st;
}

typedef struct date_rows {
  int (*fn)(void *user, const char *study_date, int64_t images, int64_t stored,
            int64_t stored_bytes);
  void *user;
} date_rows;

static int date_row(void *user, int ncols, const char *const *v) {
  date_rows *d = user;
  if (ncols < 4)
    return 1;
  return d->fn(d->user, v[0], si_rows_i64(v[1]), si_rows_i64(v[2]), si_rows_i64(v[3]));
}

si_status si_store_import_study_dates(si_db *db, int64_t batch_id,
                                      int (*fn)(void *user, const char *study_date, int64_t images,
                                                int64_t stored, int64_t stored_bytes),
                                      void *user, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  date_rows d = {fn, user};
  return si_db_exec(
      db,
      "SELECT study_date, count(*), sum(CASE WHEN status <> 'NEW' THEN 1 ELSE 0 END), "
      "sum(CASE WHEN status <> 'NEW' THEN size_bytes ELSE 0 END) FROM image "
      "WHERE batch_id = $1 GROUP BY study_date",
      1, params, date_row, &d, NULL, err);
}

si_status si_store_batch_finish_qa(si_db *db, const si_batch *b, const char *qa, si_error *err) {
  char id_s[24], now_s[24], fin_s[24], el_s[24], size_s[24], ic_s[24], sc_s[24], qc_s[24];
  const char *params[] = {si_rows_param_i64(id_s, b->id),
                          b->status,
                          b->has_error ? "1" : "0",
                          si_rows_param_i64(now_s, si_now_ms()),
                          si_rows_param_i64(fin_s, b->finished_at),
                          si_rows_param_i64(el_s, b->elapsed_ms),
                          si_rows_param_i64(size_s, b->size_bytes),
                          si_rows_param_i64(ic_s, b->image_count),
                          si_rows_param_i64(sc_s, b->skipped_count),
                          si_rows_param_i64(qc_s, b->quarantined_count),
                          qa && qa[0] ? qa : NULL};
  return si_db_exec(db,
                    "UPDATE batch SET status = $2, has_error = CASE WHEN $3 = '1' THEN 1 ELSE "
                    "has_error END, updated_at = $4, finished_at = $5, elapsed_ms = $6, "
                    "size_bytes = $7, image_count = $8, skipped_count = $9, "
                    "quarantined_count = $10, qa = $11 WHERE id = $1",
                    11, params, NULL, NULL, NULL, err);
}

static int any_row(void *user, int ncols, const char *const *v) {
  (void)ncols;
  (void)v;
  *(int *)user = 1;
  return 1;
}

si_status si_store_path_recorded(si_db *db, const char *path, int folders_only, int *recorded,
                                 si_error *err) {
  const char *params[] = {path};
  *recorded = 0;
  return si_db_exec(
      db,
      folders_only
          ? "SELECT 1 FROM quarantine WHERE replace(replace(path, '//', '/'), '//', '/') = $1"
          : "SELECT 1 FROM image WHERE replace(replace(storage_path, '//', '/'), '//', '/') = "
            "$1 UNION ALL "
            "SELECT 1 FROM quarantine WHERE replace(replace(path, '//', '/'), '//', '/') = $1",
      1, params, any_row, recorded, NULL, err);
}
