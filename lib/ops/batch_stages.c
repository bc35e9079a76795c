/* A batch's stage timeline as JSON; see sendit/ops_batch.h. */
#include "sendit/ops_batch.h"
#include "sendit/ops_format.h"
#include "sendit/store_stages.h"

typedef struct stage_rows {
  json_t *array;
  int oom;
} stage_rows;

static int stage_row(void *user, const si_stage_row *row) {
  stage_rows *r = user;
  json_t *entry = json_pack(
      "{s:o, s:o, s:i, s:o, s:o, s:o, s:o}", "stage", ops_json_text(row->stage), "state",
      ops_json_text(row->state), "attempts", row->attempts, "queued", ops_json_time(row->queued_at),
      "started", ops_json_time(row->started_at), "finished", ops_json_time(row->finished_at),
      "last_error",
      row->last_error && row->last_error[0] ? ops_json_text(row->last_error) : json_null());
  r->oom = !entry || json_array_append_new(r->array, entry) != 0;
  return r->oom; /* out of memory stops the rows */
}

json_t *ops_batch_stages_json(si_db *db, const char *uid, si_error *err) {
  stage_rows r = {json_array(), 0};
  si_status st = r.array ? si_store_batch_stages(db, uid, stage_row, &r, err) : SI_ERR_NOMEM;
  if (st == SI_OK && !r.oom)
    return r.array;
  if (st == SI_OK || !r.array)
    si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  json_decref(r.array);
  return NULL;
}
