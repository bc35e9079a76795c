/* One batch as the batch page and GET /api/batches/{uid} show it: the
 * record, its errors and warnings, and a timeline merged from the record,
 * its jobs (each import attempt) and its log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_view.h"
#include "sendit/cleanup.h"
#include "sendit/ops_batch.h"
#include "sendit/ops_dest.h"
#include "sendit/stages.h"
#include "sendit/store_web.h"

static int add_event(web_batch_view *v, int64_t at, const char *what, const char *detail) {
  if (at <= 0)
    return 0;
  if (v->nevents == v->cap_events) {
    size_t cap = v->cap_events ? v->cap_events * 2 : 16;
    web_event *e = realloc(v->events, cap * sizeof *e);
    if (!e)
      return -1;
    v->events = e;
    v->cap_events = cap;
  }
  web_event *e = &v->events[v->nevents];
  e->seq = v->nevents++;
  e->at = at;
  snprintf(e->what, sizeof e->what, "%s", what);
  snprintf(e->detail, sizeof e->detail, "%s", detail ? detail : "");
  return 0;
}

static int job_event(void *user, const si_web_job *job) {
  web_batch_view *v = user;
  char detail[1200];
  snprintf(detail, sizeof detail, "job %lld", (long long)job->id);
  add_event(v, job->created_at, "queued", detail);
  if (strcmp(job->state, "done") == 0 || strcmp(job->state, "failed") == 0) {
    snprintf(detail, sizeof detail, "job %lld after %d attempt%s%s%s", (long long)job->id,
             job->attempts, job->attempts == 1 ? "" : "s", job->error[0] ? ": " : "", job->error);
    add_event(v, job->updated_at, strcmp(job->state, "done") == 0 ? "job done" : "job failed",
              detail);
  } else if (strcmp(job->state, "running") == 0) {
    snprintf(detail, sizeof detail, "job %lld on %s", (long long)job->id, job->worker);
    add_event(v, job->updated_at, "running", detail);
  }
  return 0;
}

static int log_line(void *user, int64_t at, const char *level, const char *file,
                    const char *message) {
  web_batch_view *v = user;
  if (!ops_log_is_notable(level)) {
    v->info_lines++;
    return 0;
  }
  v->notable_total++;
  if (v->nnotes >= WEB_NOTES_MAX)
    return 0;
  web_note *n = &v->notes[v->nnotes++];
  n->at = at;
  snprintf(n->level, sizeof n->level, "%s", ops_log_level_name(level));
  n->file = strdup(file ? file : "");
  n->message = strdup(message ? message : "");
  return 0;
}

static int by_time(const void *a, const void *b) {
  const web_event *x = a, *y = b;
  if (x->at != y->at)
    return (x->at > y->at) - (x->at < y->at);
  return (x->seq > y->seq) - (x->seq < y->seq);
}

int web_batch_load(web_req *r, const char *uid, web_batch_view *v) {
  memset(v, 0, sizeof *v);
  si_db *db = web_db(r);
  if (!db)
    return -1;
  v->batch = malloc(sizeof *v->batch);
  v->notes = calloc(WEB_NOTES_MAX, sizeof *v->notes);
  if (!v->batch || !v->notes) {
    web_fail(r, 500, "out of memory");
    return -1;
  }
  si_error err;
  int found = 0;
  if (si_store_batch_get(db, uid, v->batch, &found, &err) != SI_OK) {
    web_fail_db(r, &err);
    return -1;
  }
  if (!found) {
    web_fail(r, 404, "no batch '%.300s'", uid);
    return -1;
  }
  const si_batch *b = v->batch;
  if (!(v->stages = ops_batch_stages_json(db, uid, &err))) {
    web_fail_db(r, &err);
    return -1;
  }
  const si_config *cfg = web_cfg(r);
  if (!(v->deid = ops_batch_deid_json(db, b, cfg->deid_dir, si_stage_enabled(cfg, "deid"), &err))) {
    web_fail_db(r, &err);
    return -1;
  }
  if (!(v->destinations = ops_batch_destinations_json(db, b->id, &err))) {
    web_fail_db(r, &err);
    return -1;
  }
  if (!(v->cleanup = ops_batch_cleanup_json(db, b->id, &err))) {
    web_fail_db(r, &err);
    return -1;
  }
  add_event(v, b->created_at, "created", "the folder was first seen");
  if (si_web_batch_jobs(db, uid, job_event, v, &err) != SI_OK ||
      si_store_batch_logs(db, b->id, log_line, v, &err) != SI_OK) {
    web_fail_db(r, &err);
    return -1;
  }
  add_event(v, b->started_at, "started", "import started");
  if (b->finished_at > 0) {
    char detail[64];
    snprintf(detail, sizeof detail, "%s%s", b->status, b->has_error ? ", with errors" : "");
    add_event(v, b->finished_at, "finished", detail);
  }
  /* The first few errors place trouble in time; the list has them all. */
  for (size_t i = 0; i < v->nnotes && i < WEB_TIMELINE_NOTES; i++)
    add_event(v, v->notes[i].at, v->notes[i].level, v->notes[i].message);
  if (v->notable_total > WEB_TIMELINE_NOTES) {
    char more[64];
    snprintf(more, sizeof more, "%lld more errors and warnings",
             (long long)(v->notable_total - WEB_TIMELINE_NOTES));
    add_event(v, v->notes[WEB_TIMELINE_NOTES - 1].at, "more", more);
  }
  if (v->nevents)
    qsort(v->events, v->nevents, sizeof *v->events, by_time);
  return 0;
}

void web_batch_view_free(web_batch_view *v) {
  for (size_t i = 0; v->notes && i < v->nnotes; i++) {
    free(v->notes[i].file);
    free(v->notes[i].message);
  }
  free(v->notes);
  free(v->events);
  free(v->batch);
  json_decref(v->stages);
  json_decref(v->deid);
  json_decref(v->destinations);
  json_decref(v->cleanup);
  memset(v, 0, sizeof *v);
}
