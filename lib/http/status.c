/* What the dashboard, /api/status and /metrics share: the statuses, the
 * facts about the daemon and the records as JSON. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>

#include "internal.h"
#include "sendit/store_ops.h"
#include "sendit/utf8.h"
#include "sendit/store_web.h"

const char *web_status_name(int i) {
  static const char *const names[WEB_STATUS_COUNT] = {SI_BATCH_QUEUE,          SI_BATCH_PROCESSING,
                                                      SI_BATCH_DONEPROCESSING, SI_BATCH_DONE,
                                                      SI_BATCH_EMPTY,          SI_BATCH_ERROR};
  return i >= 0 && i < WEB_STATUS_COUNT ? names[i] : NULL;
}

int web_status_index(const char *s) {
  for (int i = 0; i < WEB_STATUS_COUNT; i++)
    if (strcmp(s, web_status_name(i)) == 0)
      return i;
  return -1;
}

const char *web_status_lookup(const char *s) {
  for (int i = 0; i < WEB_STATUS_COUNT; i++)
    if (strcasecmp(s, web_status_name(i)) == 0)
      return web_status_name(i);
  return NULL;
}

const char *web_image_status_lookup(const char *s) {
  static const char *const names[] = {SI_IMAGE_NEW, SI_IMAGE_PROCESSING, SI_IMAGE_DONEPROCESSING,
                                      SI_IMAGE_SENT, SI_IMAGE_DONE};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp(s, names[i]) == 0)
      return names[i];
  return NULL;
}

/* As `sendit status` decides it: a running daemon holds an exclusive lock
 * on its pidfile (even when the asker is that daemon, as here: flock locks
 * belong to open files, not processes). */
static long pidfile_owner(const char *pidfile) {
  int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char text[32] = {0};
  long pid = read(fd, text, sizeof text - 1) > 0 ? strtol(text, NULL, 10) : 0;
  int unlocked = flock(fd, LOCK_SH | LOCK_NB) == 0;
  close(fd);
  return unlocked || pid <= 0 ? 0 : pid;
}

static int count_row(void *user, const char *status, int64_t n) {
  web_facts *f = user;
  int i = web_status_index(status);
  if (i >= 0)
    f->by_status[i] += n;
  f->batches += n;
  return 0;
}

int web_gather(web_req *r, web_facts *f) {
  memset(f, 0, sizeof *f);
  si_db *db = web_db(r);
  if (!db)
    return -1;
  si_error err;
  f->now = si_now_ms();
  f->pid = pidfile_owner(web_cfg(r)->pidfile);
  long beat_pid = 0;
  int found = 0;
  char host[128], id[160];
  web_host_name(host, sizeof host);
  snprintf(id, sizeof id, "%s:%ld", host, f->pid);
  si_status st = si_web_heartbeat_get(db, id, &f->beat_at, &beat_pid, &found, &err);
  if (st == SI_OK)
    st = si_store_queue_depth(db, &f->queued, &f->running, &err);
  if (st == SI_OK)
    st = si_store_batch_counts(db, count_row, f, &err);
  if (st == SI_OK)
    st = si_store_image_totals(db, &f->images, &f->bytes, &err);
  if (st == SI_OK)
    st = si_web_throughput(db, f->now, WEB_THROUGHPUT_MINUTES, f->per_minute, &err);
  if (st != SI_OK) {
    web_fail_db(r, &err);
    return -1;
  }
  f->active = f->pid != 0 && found && beat_pid == f->pid &&
              f->now - f->beat_at <= (int64_t)WEB_HEARTBEAT_STALE_S * 1000;
  return 0;
}

json_t *web_time_json(int64_t ms) {
  char buf[WEB_TIME_MAX];
  return ms > 0 ? json_string(web_time(buf, ms, 1)) : json_null();
}

json_t *web_text_json(const char *s) {
  if (!s)
    return json_null();
  size_t n = strlen(s);
  if (si_utf8_valid(s, n))
    return json_stringn(s, n);
  /* jansson refuses invalid UTF-8: the bytes it cannot take become U+FFFD,
   * so a hostile name shows as text, never as null. */
  char *fixed = si_utf8_repair(s, n, &n);
  json_t *j = fixed ? json_stringn(fixed, n) : NULL;
  free(fixed);
  return j ? j : json_null();
}

static json_t *url_json(const web_req *r, const char *prefix, const char *id) {
  hbuf b = {0};
  web_origin(r, &b);
  hb_put(&b, prefix);
  hb_url(&b, id);
  json_t *j = b.oom ? json_null() : web_text_json(b.data);
  hb_free(&b);
  return j;
}

json_t *web_batch_json(const web_req *r, const si_batch *b) {
  json_t *qa = b->qa[0] ? json_loads(b->qa, 0, NULL) : NULL;
  char images[64];
  snprintf(images, sizeof images, "/api/images?batch=");
  hbuf link = {0};
  web_origin(r, &link);
  hb_put(&link, images);
  hb_url(&link, b->uid);
  json_t *j = json_pack(
      "{s:o, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "uid",
      web_text_json(b->uid), "status", b->status, "has_error", b->has_error, "reopened",
      b->reopened, "images", (json_int_t)b->image_count, "size_bytes", (json_int_t)b->size_bytes,
      "skipped", (json_int_t)b->skipped_count, "quarantined", (json_int_t)b->quarantined_count,
      "created", web_time_json(b->created_at), "updated", web_time_json(b->updated_at), "started",
      web_time_json(b->started_at), "finished", web_time_json(b->finished_at), "elapsed_seconds",
      b->finished_at > 0 ? json_real((double)b->elapsed_ms / 1000.0) : json_null(), "qa",
      json_is_object(qa) ? json_incref(qa) : json_null(), "url",
      url_json(r, "/api/batches/", b->uid), "images_url", web_text_json(link.data));
  json_decref(qa);
  hb_free(&link);
  return j;
}

/* Header fields the file did not have are null, not "". */
static json_t *opt(const char *s) { return s[0] ? web_text_json(s) : json_null(); }

json_t *web_image_json(const web_req *r, const si_image *img, const char *batch_uid) {
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)img->id);
  return json_pack(
      "{s:I, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o}", "id",
      (json_int_t)img->id, "uid", web_text_json(img->uid), "batch", web_text_json(batch_uid),
      "status", img->status, "PatientID", opt(img->patient_id), "StudyInstanceUID",
      opt(img->study_uid), "SeriesInstanceUID", opt(img->series_uid), "SOPClassUID",
      opt(img->sop_class_uid), "Modality", opt(img->modality), "StudyDate", opt(img->study_date),
      "AccessionNumber", opt(img->accession_number), "size_bytes", (json_int_t)img->size_bytes,
      "storage_path", web_text_json(img->storage_path), "original_name", opt(img->original_name),
      "created", web_time_json(img->created_at), "url", url_json(r, "/api/images/", id));
}
