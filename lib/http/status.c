/* What the dashboard, /api/status and /metrics share: the status summary
 * (lib/ops) with the daemon's heartbeat and throughput, and the records as
 * JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sendit/ops_batch.h"
#include "sendit/store_web.h"

int web_gather(web_req *r, web_facts *f) {
  memset(f, 0, sizeof *f);
  si_db *db = web_db(r);
  if (!db)
    return -1;
  si_error err;
  f->now = si_now_ms();
  si_status st = ops_summary_gather(web_cfg(r), db, &f->sum, &err);
  long beat_pid = 0;
  int found = 0;
  char host[128], id[160];
  web_host_name(host, sizeof host);
  snprintf(id, sizeof id, "%s:%ld", host, f->sum.pid);
  if (st == SI_OK)
    st = si_web_heartbeat_get(db, id, &f->beat_at, &beat_pid, &found, &err);
  if (st == SI_OK)
    st = si_web_throughput(db, f->now, WEB_THROUGHPUT_MINUTES, f->per_minute, &err);
  if (st != SI_OK) {
    web_fail_db(r, &err);
    return -1;
  }
  f->active = f->sum.pid != 0 && found && beat_pid == f->sum.pid &&
              f->now - f->beat_at <= (int64_t)WEB_HEARTBEAT_STALE_S * 1000;
  return 0;
}

static json_t *url_json(const web_req *r, const char *prefix, const char *id) {
  hbuf b = {0};
  web_origin(r, &b);
  hb_put(&b, prefix);
  hb_url(&b, id);
  json_t *j = b.oom ? json_null() : ops_json_text(b.data);
  hb_free(&b);
  return j;
}

json_t *web_batch_json(const web_req *r, const si_batch *b) {
  json_t *j = ops_batch_json(web_db((web_req *)r), b);
  if (j) {
    json_object_set_new(j, "url", url_json(r, "/api/batches/", b->uid));
    json_object_set_new(j, "images_url", url_json(r, "/api/images?batch=", b->uid));
  }
  return j;
}

/* Header fields the file did not have are null, not "". */
static json_t *opt(const char *s) { return s[0] ? ops_json_text(s) : json_null(); }

json_t *web_image_json(const web_req *r, const si_image *img, const char *batch_uid) {
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)img->id);
  return json_pack(
      "{s:I, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o}", "id",
      (json_int_t)img->id, "uid", ops_json_text(img->uid), "batch", ops_json_text(batch_uid),
      "status", img->status, "PatientID", opt(img->patient_id), "StudyInstanceUID",
      opt(img->study_uid), "SeriesInstanceUID", opt(img->series_uid), "SOPClassUID",
      opt(img->sop_class_uid), "Modality", opt(img->modality), "StudyDate", opt(img->study_date),
      "AccessionNumber", opt(img->accession_number), "size_bytes", (json_int_t)img->size_bytes,
      "storage_path", ops_json_text(img->storage_path), "original_name", opt(img->original_name),
      "created", ops_json_time(img->created_at), "url", url_json(r, "/api/images/", id));
}
