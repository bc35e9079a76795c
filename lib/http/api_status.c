/* GET /api/status (what `sendit status --json` tells, plus the heartbeat
 * and throughput) and GET /metrics (Prometheus text format 0.0.4). */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "sendit/pipeline.h"
#include "sendit/store_web.h"

void api_status(web_req *r) {
  static const char *const known[] = {NULL};
  web_facts f;
  if (web_only_params(r, known) || web_gather(r, &f) != 0)
    return;
  const si_config *cfg = web_cfg(r);
  json_t *counts = json_object(), *minutes = json_array();
  for (int i = 0; i < WEB_STATUS_COUNT; i++)
    json_object_set_new(counts, web_status_name(i), json_integer(f.by_status[i]));
  for (int i = 0; i < WEB_THROUGHPUT_MINUTES; i++)
    json_array_append_new(minutes, json_integer(f.per_minute[i]));
  int64_t free_mb = si_free_space_mb(cfg->storage_dir);
  int paused = free_mb >= 0 && free_mb < cfg->low_water_mb;
  int64_t first_minute = (f.now / 60000 - WEB_THROUGHPUT_MINUTES + 1) * 60000;
  web_json(r, 200,
           json_pack("{s:{s:b, s:b, s:o, s:o, s:o}, s:{s:I, s:I}, s:I, s:o, s:I, s:I, "
                     "s:{s:i, s:o, s:o}, s:{s:o, s:o, s:I, s:I}, s:b}",
                     "watcher", "running", f.pid != 0, "active", f.active, "pid",
                     f.pid ? json_integer(f.pid) : json_null(), "heartbeat",
                     web_time_json(f.beat_at), "heartbeat_age_seconds",
                     f.beat_at > 0 ? json_real((double)(f.now - f.beat_at) / 1000.0) : json_null(),
                     "queue", "queued", (json_int_t)f.queued, "running", (json_int_t)f.running,
                     "batches_total", (json_int_t)f.batches, "batches", counts, "images",
                     (json_int_t)f.images, "bytes", (json_int_t)f.bytes, "throughput", "minutes",
                     WEB_THROUGHPUT_MINUTES, "since", web_time_json(first_minute),
                     "images_per_minute", minutes, "storage", "path",
                     web_text_json(cfg->storage_dir), "free_mb",
                     free_mb >= 0 ? json_integer(free_mb) : json_null(), "low_water_mb",
                     (json_int_t)cfg->low_water_mb, "high_water_mb", (json_int_t)cfg->high_water_mb,
                     "intake_paused", paused));
}

static void metric_head(hbuf *b, const char *name, const char *type, const char *help) {
  hb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Bucket bounds of the import duration histogram, in seconds. */
static const double duration_bounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600};
enum { NBOUNDS = sizeof duration_bounds / sizeof duration_bounds[0] };

void web_metrics(web_req *r) {
  static const char *const known[] = {NULL};
  web_facts f;
  if (web_only_params(r, known) || web_gather(r, &f) != 0)
    return;
  int64_t bounds_ms[NBOUNDS], le[NBOUNDS], count = 0, sum_ms = 0;
  for (int i = 0; i < NBOUNDS; i++)
    bounds_ms[i] = (int64_t)(duration_bounds[i] * 1000);
  si_error err;
  if (si_web_batch_durations(web_db(r), bounds_ms, NBOUNDS, le, &count, &sum_ms, &err) != SI_OK) {
    web_fail_db(r, &err);
    return;
  }
  hbuf *b = &r->out;
  metric_head(b, "sendit_up", "gauge",
              "1 when the watcher runs (pidfile locked) and its heartbeat is fresh.");
  hb_printf(b, "sendit_up %d\n", f.active);
  metric_head(b, "sendit_batches", "gauge", "Batches by status.");
  for (int i = 0; i < WEB_STATUS_COUNT; i++)
    hb_printf(b, "sendit_batches{status=\"%s\"} %lld\n", web_status_name(i),
              (long long)f.by_status[i]);
  metric_head(b, "sendit_images_imported_total", "counter", "Images stored.");
  hb_printf(b, "sendit_images_imported_total %lld\n", (long long)f.images);
  metric_head(b, "sendit_image_bytes_total", "counter", "Bytes of the images stored.");
  hb_printf(b, "sendit_image_bytes_total %lld\n", (long long)f.bytes);
  metric_head(b, "sendit_queue_jobs", "gauge", "Import jobs waiting (queued) or being run.");
  hb_printf(b, "sendit_queue_jobs{state=\"queued\"} %lld\n", (long long)f.queued);
  hb_printf(b, "sendit_queue_jobs{state=\"running\"} %lld\n", (long long)f.running);
  metric_head(b, "sendit_images_last_minute", "gauge",
              "Images stored during the last full minute.");
  hb_printf(b, "sendit_images_last_minute %lld\n",
            (long long)f.per_minute[WEB_THROUGHPUT_MINUTES - 2]);
  metric_head(b, "sendit_heartbeat_timestamp_seconds", "gauge",
              "Time of the daemon's last heartbeat.");
  hb_printf(b, "sendit_heartbeat_timestamp_seconds %.3f\n", (double)f.beat_at / 1000.0);
  metric_head(b, "sendit_batch_import_duration_seconds", "histogram",
              "Elapsed time of finished batch imports.");
  for (int i = 0; i < NBOUNDS; i++)
    hb_printf(b, "sendit_batch_import_duration_seconds_bucket{le=\"%g\"} %lld\n",
              duration_bounds[i], (long long)le[i]);
  hb_printf(b, "sendit_batch_import_duration_seconds_bucket{le=\"+Inf\"} %lld\n", (long long)count);
  hb_printf(b, "sendit_batch_import_duration_seconds_sum %.3f\n", (double)sum_ms / 1000.0);
  hb_printf(b, "sendit_batch_import_duration_seconds_count %lld\n", (long long)count);
  r->status = 200;
  r->type = "text/plain; version=0.0.4; charset=utf-8";
}
