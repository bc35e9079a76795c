/* The status summary: what `sendit status`, GET /api/status, /metrics and
 * the dashboard's cards all show (is the daemon running, the queue, the
 * batches by status, the images stored, the storage and whether intake is
 * paused), gathered once by one function so they cannot disagree. Also the
 * pidfile rule that decides whether the daemon runs.
 *
 * To add a fact: a member of ops_summary, filled in ops_summary_gather and
 * written by ops_summary_json; every caller then shows it.
 *
 * Ownership: the summary is a plain caller-owned struct (nothing to free);
 * cfg and db are borrowed for the call. ops_summary_json returns a new
 * object the caller owns. */
#ifndef SENDIT_OPS_SUMMARY_H
#define SENDIT_OPS_SUMMARY_H

#include <jansson.h>
#include <stdint.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/ops_status.h"
#include "sendit/store.h"

/* The pid in `pidfile` when that process holds the file's lock (a running
 * daemon keeps an exclusive flock on it, even when the asker is that
 * daemon: flock locks belong to open files), else 0. A stale pidfile is
 * left for the caller to replace. */
long ops_running_pid(const char *pidfile);

enum { OPS_OTHER_STATUS_MAX = 8, OPS_STAGE_MAX = 16 };

/* One stage's queue: its jobs queued (due or waiting for a retry's
 * backoff) and running. */
typedef struct ops_stage_depth {
  char stage[sizeof((si_job *)0)->kind];
  int64_t queued, running;
} ops_stage_depth;

typedef struct ops_summary {
  long pid;                /* the daemon's (ops_running_pid), 0 when not running */
  int64_t queued, running; /* jobs of every stage */
  /* Per stage: those of `[pipeline] stages` in chain order (0 when idle),
   * then up to the rest of OPS_STAGE_MAX other kinds with jobs queued or
   * running (by name). */
  ops_stage_depth stages[OPS_STAGE_MAX];
  int nstages;
  /* Batches by status: the known ones in life order, then up to
   * OPS_OTHER_STATUS_MAX other values found in the database (a bug worth
   * seeing, not hiding; more are only in batches). */
  int64_t by_status[OPS_STATUS_COUNT];
  struct {
    char name[sizeof((si_batch *)0)->status];
    int64_t n;
  } other[OPS_OTHER_STATUS_MAX];
  int nother;
  int64_t batches; /* all of them */
  int64_t images, bytes;
  int64_t free_mb; /* in storage; -1 when it cannot be looked at (not there yet) */
  /* Intake is paused when storage is below the low-water mark, or the next
   * queued folder does not fit above it (the workers' rule,
   * si_intake_space_check); `pause_reason` says why ("" when not). */
  int paused;
  char pause_reason[SI_PATH_MAX + 640];
} ops_summary;

/* Fills s from the pidfile, the database and the storage folder. */
si_status ops_summary_gather(const si_config *cfg, si_db *db, ops_summary *s, si_error *err);

/* The summary as JSON:
 *   {"watcher": {"running", "pid"},
 *    "queue": {"queued", "running", "stages": [{"stage", "queued", "running"}]},
 *    "batches_total", "batches": {STATUS: n, ...}, "images", "bytes",
 *    "storage": {"path", "free_mb", "low_water_mb", "high_water_mb"},
 *    "intake_paused", "pause_reason"}
 * Callers add their own members (the CLI its workers, the web the
 * heartbeat and throughput). NULL when out of memory. */
json_t *ops_summary_json(const si_config *cfg, const ops_summary *s);

#endif
