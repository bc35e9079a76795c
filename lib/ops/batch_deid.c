/* A batch's de-identification state as JSON; see sendit/ops_batch.h. */
#include "sendit/ops_batch.h"
#include "sendit/ops_format.h"
#include "sendit/store_deid_stage.h"

#include <string.h>

typedef struct problem_rows {
  json_t *array;
  int oom;
} problem_rows;

static json_t *text_or_null(const char *s) { return s && s[0] ? ops_json_text(s) : json_null(); }

static int problem_row(void *user, const si_deid_image *row) {
  problem_rows *p = user;
  json_t *entry =
      json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "image_id", (json_int_t)row->image_id, "uid",
                ops_json_text(row->uid), "file", ops_json_text(row->original_name), "state",
                text_or_null(row->state), "reason", text_or_null(row->reason), "quarantine_path",
                text_or_null(row->quarantine_path));
  p->oom = !entry || json_array_append_new(p->array, entry) != 0;
  return p->oom;
}

json_t *ops_batch_deid_json(si_db *db, const si_batch *b, const char *folder, int enabled,
                            si_error *err) {
  si_deid_counts c;
  si_status st = si_store_deid_stage_counts(db, b->id, &c, err);
  if (st != SI_OK)
    return NULL;
  if (!enabled && c.done + c.held + c.failed == 0)
    return json_null();
  problem_rows p = {json_array(), 0};
  st = p.array ? si_store_deid_stage_images(db, b->id, 1, problem_row, &p, err) : SI_ERR_NOMEM;
  if (st != SI_OK || p.oom) {
    if (st == SI_OK || !p.array)
      si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    json_decref(p.array);
    return NULL;
  }
  json_t *out = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o}", "done", (json_int_t)c.done, "held",
                          (json_int_t)c.held, "failed", (json_int_t)c.failed, "pending",
                          (json_int_t)c.pending, "folder", text_or_null(folder), "problems",
                          p.array); /* steals the array, also on failure */
  if (!out)
    si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  return out;
}
