/* GET /api/status (what `sendit status --json` tells, plus the heartbeat
 * and throughput) and GET /metrics (Prometheus text format 0.0.4). */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "sendit/ops_dest.h"
#include "sendit/store_stages.h"
#include "sendit/store_web.h"

void api_status(web_req *r) {
  static const char *const known[] = {NULL};
  web_facts f;
  if (web_only_params(r, known) || web_gather(r, &f) != 0)
    return;
  json_t *o = ops_summary_json(web_cfg(r), &f.sum);
  json_t *watcher = json_object_get(o, "watcher"), *minutes = json_array();
  for (int i = 0; i < WEB_THROUGHPUT_MINUTES; i++)
    json_array_append_new(minutes, json_integer(f.per_minute[i]));
  int64_t first_minute = (f.now / 60000 - WEB_THROUGHPUT_MINUTES + 1) * 60000;
  json_t *throughput = json_pack("{s:i, s:o, s:o}", "minutes", WEB_THROUGHPUT_MINUTES, "since",
                                 ops_json_time(first_minute), "images_per_minute", minutes);
  if (!o || !watcher || !throughput) {
    json_decref(o);
    json_decref(throughput);
    web_json(r, 500, NULL);
    return;
  }
  json_object_set_new(watcher, "active", json_boolean(f.active));
  json_object_set_new(watcher, "heartbeat", ops_json_time(f.beat_at));
  json_object_set_new(watcher, "heartbeat_age_seconds",
                      f.beat_at > 0 ? json_real((double)(f.now - f.beat_at) / 1000.0)
                                    : json_null());
  json_object_set_new(o, "throughput", throughput);
  web_json(r, 200, o);
}

static void metric_head(hbuf *b, const char *name, const char *type, const char *help) {
  hb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Bucket bounds of the import duration histogram, in seconds. */
static const double duration_bounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600};
enum { NBOUNDS = sizeof duration_bounds / sizeof duration_bounds[0] };

/* Jobs that ended, by stage and outcome (done, failed); a job retried is
 * counted once, by how it ended. Queued and running are the gauge
 * sendit_stage_jobs. */
static int outcome_line(void *user, const char *kind, const char *state, int64_t n) {
  if (strcmp(state, "done") != 0 && strcmp(state, "failed") != 0)
    return 0;
  hb_put(user, "sendit_jobs_total{stage=\"");
  hb_put(user, kind);
  hb_put(user, "\",outcome=\"");
  hb_put(user, state);
  hb_printf(user, "\"} %lld\n", (long long)n);
  return 0;
}

/* Per destination (sendit/ops_dest.h, as `sendit destinations`): images
 * sent and failed, whether its breaker is open, send jobs waiting. */
static void dest_metrics(web_req *r, hbuf *b) {
  si_error err;
  json_t *j = ops_destinations_json(web_db(r), web_cfg(r), &err);
  json_t *list = json_object_get(j, "destinations");
  static const struct {
    const char *name, *type, *help;
  } series[] = {
      {"sendit_destination_sent_total", "counter", "Images the destination confirmed."},
      {"sendit_destination_failed_total", "counter", "Images the destination refused for good."},
      {"sendit_destination_breaker_open", "gauge", "1 while the destination's breaker is open."},
      {"sendit_destination_queue", "gauge", "Send jobs of the destination queued or running."},
  };
  for (size_t s = 0; list && s < sizeof series / sizeof series[0]; s++) {
    metric_head(b, series[s].name, series[s].type, series[s].help);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
      json_t *q = json_object_get(d, "queue");
      long long v = s == 0   ? (long long)json_integer_value(json_object_get(d, "sent"))
                    : s == 1 ? (long long)json_integer_value(json_object_get(d, "failed"))
                    : s == 2
                        ? strcmp(json_string_value(json_object_get(d, "breaker")), "closed") != 0
                        : (long long)(json_integer_value(json_object_get(q, "queued")) +
                                      json_integer_value(json_object_get(q, "running")));
      hb_printf(b, "%s{destination=\"%s\"} %lld\n", series[s].name,
                json_string_value(json_object_get(d, "name")), v);
    }
  }
  json_decref(j);
}

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
  hbuf jobs = {0};
  si_status st = si_store_job_outcomes(web_db(r), outcome_line, &jobs, &err);
  if (st != SI_OK) {
    hb_free(&jobs);
    web_fail_db(r, &err);
    return;
  }
  metric_head(b, "sendit_up", "gauge",
              "1 when the watcher runs (pidfile locked) and its heartbeat is fresh.");
  hb_printf(b, "sendit_up %d\n", f.active);
  metric_head(b, "sendit_batches", "gauge", "Batches by status.");
  for (int i = 0; i < OPS_STATUS_COUNT; i++)
    hb_printf(b, "sendit_batches{status=\"%s\"} %lld\n", ops_status_name(i),
              (long long)f.sum.by_status[i]);
  metric_head(b, "sendit_images_imported_total", "counter", "Images stored.");
  hb_printf(b, "sendit_images_imported_total %lld\n", (long long)f.sum.images);
  metric_head(b, "sendit_image_bytes_total", "counter", "Bytes of the images stored.");
  hb_printf(b, "sendit_image_bytes_total %lld\n", (long long)f.sum.bytes);
  metric_head(b, "sendit_queue_jobs", "gauge",
              "Jobs of every stage waiting (queued) or being run.");
  hb_printf(b, "sendit_queue_jobs{state=\"queued\"} %lld\n", (long long)f.sum.queued);
  hb_printf(b, "sendit_queue_jobs{state=\"running\"} %lld\n", (long long)f.sum.running);
  metric_head(b, "sendit_stage_jobs", "gauge",
              "Jobs of each stage of [pipeline] stages waiting (queued) or being run.");
  for (int i = 0; i < f.sum.nstages; i++) {
    hb_printf(b, "sendit_stage_jobs{stage=\"%s\",state=\"queued\"} %lld\n", f.sum.stages[i].stage,
              (long long)f.sum.stages[i].queued);
    hb_printf(b, "sendit_stage_jobs{stage=\"%s\",state=\"running\"} %lld\n", f.sum.stages[i].stage,
              (long long)f.sum.stages[i].running);
  }
  metric_head(b, "sendit_jobs_total", "counter",
              "Jobs ended, by stage and outcome (done, failed).");
  if (jobs.len)
    hb_putn(b, jobs.data, jobs.len);
  hb_free(&jobs);
  dest_metrics(r, b);
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
