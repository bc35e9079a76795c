/* The status summary and the pidfile rule; see sendit/ops_summary.h. */
#include "sendit/ops_summary.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "sendit/ops_format.h"
#include "sendit/fs.h"
#include "sendit/stages.h"
#include "sendit/store_stages.h"
#include "sendit/store_ops.h"
#include "sendit/workers.h"

long ops_running_pid(const char *pidfile) {
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
  ops_summary *s = user;
  int i = ops_status_index(status);
  s->batches += n;
  if (i >= 0) {
    s->by_status[i] += n;
  } else if (s->nother < OPS_OTHER_STATUS_MAX) {
    snprintf(s->other[s->nother].name, sizeof s->other[0].name, "%s", status);
    s->other[s->nother++].n = n;
  }
  return 0;
}

static ops_stage_depth *stage_slot(ops_summary *s, const char *stage) {
  for (int i = 0; i < s->nstages; i++)
    if (strcmp(s->stages[i].stage, stage) == 0)
      return &s->stages[i];
  if (s->nstages >= OPS_STAGE_MAX)
    return NULL;
  ops_stage_depth *d = &s->stages[s->nstages++];
  snprintf(d->stage, sizeof d->stage, "%s", stage);
  return d;
}

static int depth_row(void *user, const char *kind, int64_t queued, int64_t running) {
  ops_stage_depth *d = stage_slot(user, kind);
  if (d) {
    d->queued = queued;
    d->running = running;
  }
  return 0;
}

/* The configured chain first, idle stages included, so an operator sees
 * every stage; then kinds outside it that still have jobs (a chain changed
 * under a full queue). */
static si_status gather_stages(const si_config *cfg, si_db *db, ops_summary *s, si_error *err) {
  for (const char *k = "import"; k && s->nstages < OPS_STAGE_MAX; k = si_stage_next(cfg, k))
    stage_slot(s, k);
  return si_store_kind_depth(db, depth_row, s, err);
}

si_status ops_summary_gather(const si_config *cfg, si_db *db, ops_summary *s, si_error *err) {
  memset(s, 0, sizeof *s);
  s->pid = ops_running_pid(cfg->pidfile);
  si_status st = si_store_queue_depth(db, &s->queued, &s->running, err);
  if (st == SI_OK)
    st = gather_stages(cfg, db, s, err);
  if (st == SI_OK)
    st = si_store_batch_counts(db, count_row, s, err);
  if (st == SI_OK)
    st = si_store_image_totals(db, &s->images, &s->bytes, err);
  /* Same test as the workers (lib/queue/workers.c), so the summary agrees
   * with what they do; storage that does not exist yet pauses nothing. */
  s->free_mb = si_free_space_mb(cfg->storage_dir);
  s->paused = s->free_mb >= 0 && s->free_mb < cfg->low_water_mb;
  if (s->paused) {
    snprintf(s->pause_reason, sizeof s->pause_reason,
             "storage %s has %" PRId64 " MiB free, below the low-water mark of %" PRId64
             " MiB; intake resumes above %" PRId64 " MiB",
             cfg->storage_dir, s->free_mb, cfg->low_water_mb, cfg->high_water_mb);
  } else if (st == SI_OK) {
    /* Above the mark intake still waits when the next folder does not fit. */
    st = si_intake_space_check(cfg, db, &s->paused, s->pause_reason, sizeof s->pause_reason, err);
  }
  return st;
}

static json_t *counts_json(const ops_summary *s) {
  json_t *o = json_object();
  for (int i = 0; o && i < OPS_STATUS_COUNT; i++)
    json_object_set_new(o, ops_status_name(i), json_integer(s->by_status[i]));
  for (int i = 0; o && i < s->nother; i++)
    json_object_set_new(o, s->other[i].name, json_integer(s->other[i].n));
  return o;
}

static json_t *stages_json(const ops_summary *s) {
  json_t *a = json_array();
  for (int i = 0; a && i < s->nstages; i++)
    json_array_append_new(
        a, json_pack("{s:o, s:I, s:I}", "stage", ops_json_text(s->stages[i].stage), "queued",
                     (json_int_t)s->stages[i].queued, "running", (json_int_t)s->stages[i].running));
  return a;
}

json_t *ops_summary_json(const si_config *cfg, const ops_summary *s) {
  return json_pack(
      "{s:{s:b, s:o}, s:{s:I, s:I, s:o}, s:I, s:o, s:I, s:I, s:{s:o, s:o, s:I, s:I}, s:b, s:o}",
      "watcher", "running", s->pid != 0, "pid", s->pid ? json_integer(s->pid) : json_null(),
      "queue", "queued", (json_int_t)s->queued, "running", (json_int_t)s->running, "stages",
      stages_json(s), "batches_total", (json_int_t)s->batches, "batches", counts_json(s), "images",
      (json_int_t)s->images, "bytes", (json_int_t)s->bytes, "storage", "path",
      ops_json_text(cfg->storage_dir), "free_mb",
      s->free_mb >= 0 ? json_integer(s->free_mb) : json_null(), "low_water_mb",
      (json_int_t)cfg->low_water_mb, "high_water_mb", (json_int_t)cfg->high_water_mb,
      "intake_paused", s->paused, "pause_reason",
      s->paused ? ops_json_text(s->pause_reason) : json_null());
}
