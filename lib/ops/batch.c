/* A batch's record as JSON; see sendit/ops_batch.h. */
#include "sendit/ops_batch.h"

#include "sendit/ops_format.h"

#include <stdlib.h>

#include "sendit/store_ops.h"

json_t *ops_batch_qa(si_db *db, const si_batch *b) {
  json_t *qa = NULL;
  if (b->qa_cut && db) {
    char *text = NULL;
    si_error err;
    if (si_store_batch_qa(db, b->uid, &text, &err) == SI_OK && text)
      qa = json_loads(text, 0, NULL);
    free(text);
  } else if (b->qa[0]) {
    qa = json_loads(b->qa, 0, NULL);
  }
  if (json_is_object(qa))
    return qa;
  json_decref(qa);
  return NULL;
}

static json_t *qa_json(si_db *db, const si_batch *b) {
  json_t *qa = ops_batch_qa(db, b);
  return qa ? qa : json_null();
}

json_t *ops_batch_json(si_db *db, const si_batch *b) {
  return json_pack(
      "{s:o, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "uid",
      ops_json_text(b->uid), "status", b->status, "has_error", b->has_error, "reopened",
      b->reopened, "images", (json_int_t)b->image_count, "size_bytes", (json_int_t)b->size_bytes,
      "skipped", (json_int_t)b->skipped_count, "quarantined", (json_int_t)b->quarantined_count,
      "created", ops_json_time(b->created_at), "updated", ops_json_time(b->updated_at), "started",
      ops_json_time(b->started_at), "finished", ops_json_time(b->finished_at), "elapsed_seconds",
      b->finished_at > 0 ? json_real((double)b->elapsed_ms / 1000.0) : json_null(), "qa",
      qa_json(db, b));
}
