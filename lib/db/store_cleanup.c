/* The cleanup stage's records; see sendit/store_cleanup.h. One SQL text
 * per query serves every backend. */
#include "sendit/store_cleanup.h"

#include "rows.h"
#include "sendit/store.h"

#include <string.h>

/* An image is confirmed when it has a destination row and none that is
 * not sent: repeated per image in the files' query, so that a row turned
 * pending after the batch was judged (a resend) keeps its file. */
#define IMAGE_CONFIRMED                                                                            \
  "EXISTS (SELECT 1 FROM image_destination d WHERE d.image_id = i.id) AND NOT EXISTS (SELECT 1 "   \
  "FROM image_destination d WHERE d.image_id = i.id AND d.state <> 'sent')"

/* A finished pass of kind `what` newer than the batch's newest image:
 * batches cleaned of both kinds are left out before the ledger is joined,
 * so that the daemon's sweep costs what is left to do, not the history. */
#define CLEANED(what)                                                                              \
  "EXISTS (SELECT 1 FROM batch_cleanup c WHERE c.batch_id = b.id AND c.what = '" what "' AND "     \
  "c.removed_at IS NOT NULL AND c.planned_at >= (SELECT MAX(i3.created_at) FROM image i3 WHERE "   \
  "i3.batch_id = b.id))"

#define CLEANED_ORIGINALS CLEANED("originals")
#define CLEANED_DEID CLEANED("deid")
#define HAS_COPIES                                                                                 \
  "EXISTS (SELECT 1 FROM image_deid x WHERE x.batch_id = b.id AND x.state = 'done')"
#define FULLY_CLEANED "(" CLEANED_ORIGINALS " AND (" CLEANED_DEID " OR NOT " HAS_COPIES "))"

/* The confirmed batches ($1: one batch, or -1 for all). The latest send
 * job per destination decides: a failed one that a resend followed is
 * history. A sweep over all leaves out the batches cleaned of both kinds;
 * one batch asked for by id is judged whatever its history. */
#define CONFIRMED_SQL                                                                              \
  "SELECT b.id, b.uid, b.status, b.has_error, MAX(d.updated_at), (SELECT MAX(i2.created_at) "      \
  "FROM image i2 WHERE i2.batch_id = b.id) FROM batch b JOIN image i ON i.batch_id = b.id "        \
  "JOIN image_destination d ON d.image_id = i.id "                                                 \
  "WHERE b.status NOT IN ('QUEUE', 'PROCESSING') "                                                 \
  "AND (CAST($1 AS BIGINT) < 0 OR b.id = CAST($1 AS BIGINT)) "                                     \
  "AND (CAST($1 AS BIGINT) >= 0 OR NOT " FULLY_CLEANED ") "                                        \
  "GROUP BY b.id, b.uid, b.status, b.has_error "                                                   \
  "HAVING SUM(CASE WHEN d.state = 'sent' THEN 0 ELSE 1 END) = 0 "                                  \
  "AND NOT EXISTS (SELECT 1 FROM job j WHERE j.kind = 'send' AND j.folder = b.uid "                \
  "AND j.state IN ('queued', 'running', 'failed') AND j.id = (SELECT MAX(j2.id) FROM job j2 "      \
  "WHERE j2.kind = 'send' AND j2.folder = b.uid AND j2.excl_key = j.excl_key)) "                   \
  "ORDER BY 5, b.id"

typedef struct confirmed_iter {
  si_confirmed_fn fn;
  void *user;
} confirmed_iter;

static int confirmed_row(void *user, int ncols, const char *const *v) {
  confirmed_iter *it = user;
  if (ncols < 6)
    return 1;
  si_confirmed_batch b = {.batch_id = si_rows_i64(v[0]),
                          .uid = v[1] ? v[1] : "",
                          .status = v[2] ? v[2] : "",
                          .has_error = si_rows_i64(v[3]) != 0,
                          .confirmed_at = si_rows_i64(v[4]),
                          .newest_image = si_rows_i64(v[5])};
  return it->fn(it->user, &b);
}

si_status si_store_cleanup_confirmed(si_db *db, int64_t batch_id, si_confirmed_fn fn, void *user,
                                     si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  confirmed_iter it = {fn, user};
  return si_db_exec(db, CONFIRMED_SQL, 1, params, confirmed_row, &it, NULL, err);
}

typedef struct file_iter {
  si_cleanup_file_fn fn;
  void *user;
} file_iter;

static int file_row(void *user, int ncols, const char *const *v) {
  file_iter *it = user;
  if (ncols < 3)
    return 1;
  return it->fn(it->user, si_rows_i64(v[0]), v[1] ? v[1] : "", v[2] ? si_rows_i64(v[2]) : -1);
}

si_status si_store_cleanup_files(si_db *db, int64_t batch_id, const char *what,
                                 si_cleanup_file_fn fn, void *user, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  file_iter it = {fn, user};
  const char *sql =
      strcmp(what, SI_CLEANUP_DEID) == 0
          ? "SELECT i.id, x.output_path, NULL FROM image i JOIN image_deid x ON x.image_id = i.id "
            "WHERE i.batch_id = $1 AND x.state = 'done' AND x.output_path IS NOT NULL "
            "AND " IMAGE_CONFIRMED " ORDER BY i.id"
          : "SELECT i.id, i.storage_path, i.size_bytes FROM image i WHERE i.batch_id = $1 "
            "AND " IMAGE_CONFIRMED " ORDER BY i.id";
  return si_db_exec(db, sql, 1, params, file_row, &it, NULL, err);
}

typedef struct record_iter {
  si_cleanup_record_fn fn;
  void *user;
} record_iter;

static int record_row(void *user, int ncols, const char *const *v) {
  record_iter *it = user;
  if (ncols < 9)
    return 1;
  si_cleanup_record r = {.id = si_rows_i64(v[0]),
                         .batch_id = si_rows_i64(v[1]),
                         .what = v[2] ? v[2] : "",
                         .path = v[3] ? v[3] : "",
                         .files = si_rows_i64(v[4]),
                         .bytes = si_rows_i64(v[5]),
                         .planned_at = si_rows_i64(v[6]),
                         .removed_at = si_rows_i64(v[7]),
                         .reason = v[8] ? v[8] : ""};
  return it->fn(it->user, &r);
}

si_status si_store_cleanup_records(si_db *db, int64_t batch_id, si_cleanup_record_fn fn, void *user,
                                   si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  record_iter it = {fn, user};
  return si_db_exec(db,
                    "SELECT id, batch_id, what, path, files, bytes, planned_at, removed_at, reason "
                    "FROM batch_cleanup WHERE batch_id = $1 ORDER BY id",
                    1, params, record_row, &it, NULL, err);
}

si_status si_store_cleanup_state(si_db *db, int64_t batch_id, const char *what,
                                 int64_t newest_image, int *done, int64_t *plan_id, si_error *err) {
  char id_s[24], newest_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id), what,
                          si_rows_param_i64(newest_s, newest_image)};
  int64_t both[2] = {0, 0};
  si_status st = si_db_exec(
      db,
      "SELECT (SELECT COUNT(*) FROM batch_cleanup WHERE batch_id = $1 AND what = $2 AND "
      "removed_at IS NOT NULL AND planned_at >= CAST($3 AS BIGINT)), COALESCE((SELECT MAX(id) "
      "FROM batch_cleanup WHERE batch_id = $1 AND what = $2 AND removed_at IS NULL), -1)",
      3, params, si_rows_first_two_i64, both, NULL, err);
  *done = st == SI_OK && both[0] > 0;
  *plan_id = st == SI_OK ? both[1] : -1;
  return st;
}

si_status si_store_cleanup_plan(si_db *db, int64_t batch_id, const char *what, const char *path,
                                int64_t files, int64_t bytes, const char *reason, int64_t *id,
                                si_error *err) {
  char id_s[24], files_s[24], bytes_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id),
                          what,
                          path,
                          si_rows_param_i64(files_s, files),
                          si_rows_param_i64(bytes_s, bytes),
                          si_rows_param_i64(now_s, si_now_ms()),
                          reason};
  *id = -1;
  return si_db_exec(db,
                    "INSERT INTO batch_cleanup (batch_id, what, path, files, bytes, planned_at, "
                    "reason) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    7, params, si_rows_first_i64, id, NULL, err);
}

si_status si_store_cleanup_finish(si_db *db, int64_t id, int64_t files, int64_t bytes,
                                  int keep_planned, si_error *err) {
  char id_s[24], files_s[24], bytes_s[24], now_s[24];
  const char *params[] = {si_rows_param_i64(id_s, id), si_rows_param_i64(files_s, files),
                          si_rows_param_i64(bytes_s, bytes), si_rows_param_i64(now_s, si_now_ms()),
                          keep_planned ? "1" : "0"};
  return si_db_exec(
      db,
      "UPDATE batch_cleanup SET files = CASE WHEN CAST($5 AS TEXT) = '1' THEN files ELSE "
      "CAST($2 AS BIGINT) END, bytes = CASE WHEN CAST($5 AS TEXT) = '1' THEN bytes ELSE CAST($3 AS "
      "BIGINT) END, removed_at = $4 WHERE id = $1",
      5, params, NULL, NULL, NULL, err);
}

si_status si_store_cleanup_images_done(si_db *db, int64_t batch_id, si_error *err) {
  char id_s[24];
  const char *params[] = {si_rows_param_i64(id_s, batch_id)};
  return si_db_exec(
      db,
      "UPDATE image AS i SET status = 'DONE' WHERE i.batch_id = $1 AND i.status NOT IN "
      "('DONE', 'ERROR') AND " IMAGE_CONFIRMED,
      1, params, NULL, NULL, NULL, err);
}
