/* A batch's cleanup record as JSON; see sendit/cleanup.h. */
#include "sendit/cleanup.h"
#include "sendit/ops_format.h"

typedef struct record_rows {
  json_t *array;
  int oom;
} record_rows;

static int record_row(void *user, const si_cleanup_record *r) {
  record_rows *rows = user;
  json_t *entry = json_pack("{s:o, s:o, s:I, s:I, s:o, s:o, s:o}", "what", ops_json_text(r->what),
                            "path", ops_json_text(r->path), "files", (json_int_t)r->files, "bytes",
                            (json_int_t)r->bytes, "reason", ops_json_text(r->reason), "planned",
                            ops_json_time(r->planned_at), "removed",
                            r->removed_at ? ops_json_time(r->removed_at) : json_null());
  rows->oom = !entry || json_array_append_new(rows->array, entry) != 0;
  return rows->oom;
}

json_t *ops_batch_cleanup_json(si_db *db, int64_t batch_id, si_error *err) {
  record_rows rows = {json_array(), 0};
  si_status st =
      rows.array ? si_store_cleanup_records(db, batch_id, record_row, &rows, err) : SI_ERR_NOMEM;
  if (st == SI_OK && !rows.oom)
    return rows.array;
  if (st == SI_OK || !rows.array)
    si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  json_decref(rows.array);
  return NULL;
}
