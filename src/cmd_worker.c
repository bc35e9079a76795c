/* `sendit worker`: the worker pool without the watcher, so imports scale out
 * over processes and hosts that share one database (PostgreSQL, or one
 * SQLite file on one host). Jobs come from whoever queues them (a watcher,
 * start_queue); the queue's leases already make any number of pools safe
 * side by side, so this command only adds a life cycle and the registry row
 * that `sendit status` shows. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "sendit/log.h"
#include "sendit/store.h"
#include "sendit/workers.h"
#include "worker.h"

const char cmd_worker_usage[] =
    "Usage: sendit worker [--config PATH]\n\n"
    "Runs only the worker pool ([queue] workers threads) against the configured\n"
    "database, in the foreground, logging to stderr, until SIGTERM or SIGINT; imports\n"
    "in progress then stop at a safe point and continue later. There is no watcher\n"
    "and no web server: run any number of these, on any host that sees the input\n"
    "and storage folders and the database, beside one watcher that queues folders.\n"
    "Each worker registers in the database, and `sendit status` lists the live ones\n"
    "with the jobs they hold.\n\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n\n"
    "Exit status: 0 stopped by a signal, 1 could not start or the SQLite database\n"
    "file was deleted or replaced while it ran, 2 usage.\n";

/* Rows of workers killed without a chance to unregister are swept after a
 * day; until then status hides them by their heartbeat's age. */
#define STALE_ROW_MS ((int64_t)24 * 3600 * 1000)

typedef struct registry {
  si_db *db;
  char id[256];
  char host[128];
  long pid;
  int64_t started_at;
} registry;

static int64_t to_i64(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }

/* Whether job holder `worker` ("host:pid:N") is a thread of host:pid. */
static int holder_is(const char *worker, const char *host, long pid) {
  char prefix[160];
  int n = snprintf(prefix, sizeof prefix, "%s:%ld:", host, pid);
  return worker && n > 0 && (size_t)n < sizeof prefix && strncmp(worker, prefix, (size_t)n) == 0;
}

typedef struct held_job {
  const registry *r;
  int64_t job_id; /* -1: none */
} held_job;

static int held_row(void *user, int ncols, const char *const *v) {
  held_job *h = user;
  if (ncols >= 2 && holder_is(v[1], h->r->host, h->r->pid) && h->job_id < 0)
    h->job_id = to_i64(v[0]);
  return 0;
}

/* Refreshes this process's row: heartbeat and the (first) job it holds.
 * An upsert, so a row swept or lost with a rebuilt database comes back. */
static si_status registry_beat(const registry *r, si_error *err) {
  held_job h = {r, -1};
  si_status st = si_db_exec(r->db, "SELECT id, worker FROM job WHERE state = 'running' ORDER BY id",
                            0, NULL, held_row, &h, NULL, err);
  if (st != SI_OK)
    return st;
  char pid_s[24], start_s[24], now_s[24], job_s[24];
  snprintf(pid_s, sizeof pid_s, "%ld", r->pid);
  snprintf(start_s, sizeof start_s, "%" PRId64, r->started_at);
  snprintf(now_s, sizeof now_s, "%" PRId64, si_now_ms());
  snprintf(job_s, sizeof job_s, "%" PRId64, h.job_id);
  const char *params[] = {r->id, r->host, pid_s, start_s, now_s, h.job_id >= 0 ? job_s : NULL};
  return si_db_exec(r->db,
                    "INSERT INTO worker (id, host, pid, started_at, heartbeat_at, job_id) "
                    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET host = $2, "
                    "pid = $3, started_at = $4, heartbeat_at = $5, job_id = $6",
                    6, params, NULL, NULL, NULL, err);
}

static si_status registry_register(const registry *r, si_error *err) {
  char old_s[24];
  snprintf(old_s, sizeof old_s, "%" PRId64, si_now_ms() - STALE_ROW_MS);
  const char *params[] = {old_s};
  si_status st = si_db_exec(r->db, "DELETE FROM worker WHERE heartbeat_at < $1", 1, params, NULL,
                            NULL, NULL, err);
  return st == SI_OK ? registry_beat(r, err) : st;
}

static si_status registry_remove(const registry *r, si_error *err) {
  const char *params[] = {r->id};
  return si_db_exec(r->db, "DELETE FROM worker WHERE id = $1", 1, params, NULL, NULL, NULL, err);
}

/* ---- listing, for `sendit status` ---- */

typedef struct entry_list {
  worker_entry *items;
  size_t count, cap;
  int oom;
} entry_list;

static int entry_row(void *user, int ncols, const char *const *v) {
  entry_list *l = user;
  if (ncols < 5)
    return 0;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    worker_entry *grown = realloc(l->items, cap * sizeof *grown);
    if (!grown) {
      l->oom = 1;
      return 1;
    }
    l->items = grown;
    l->cap = cap;
  }
  worker_entry *w = &l->items[l->count++];
  memset(w, 0, sizeof *w);
  snprintf(w->id, sizeof w->id, "%s", v[0] ? v[0] : "");
  snprintf(w->host, sizeof w->host, "%s", v[1] ? v[1] : "");
  w->pid = (long)to_i64(v[2]);
  w->started_at = to_i64(v[3]);
  w->heartbeat_at = to_i64(v[4]);
  return 0;
}

static int job_row(void *user, int ncols, const char *const *v) {
  entry_list *l = user;
  if (ncols < 3)
    return 0;
  for (size_t i = 0; i < l->count; i++) {
    worker_entry *w = &l->items[i];
    if (!holder_is(v[2], w->host, w->pid) ||
        w->njobs >= (int)(sizeof w->job_ids / sizeof w->job_ids[0]))
      continue;
    w->job_ids[w->njobs] = to_i64(v[0]);
    snprintf(w->job_folders[w->njobs], sizeof w->job_folders[0], "%s", v[1] ? v[1] : "");
    w->njobs++;
  }
  return 0;
}

si_status worker_registry_list(si_db *db, int64_t since_ms, worker_entry_fn fn, void *user,
                               si_error *err) {
  char since_s[24];
  snprintf(since_s, sizeof since_s, "%" PRId64, since_ms);
  const char *params[] = {since_s};
  entry_list l = {0};
  si_status st = si_db_exec(db,
                            "SELECT id, host, pid, started_at, heartbeat_at FROM worker "
                            "WHERE heartbeat_at >= $1 ORDER BY id",
                            1, params, entry_row, &l, NULL, err);
  if (st == SI_OK && l.oom)
    st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK && l.count)
    st = si_db_exec(db, "SELECT id, folder, worker FROM job WHERE state = 'running' ORDER BY id", 0,
                    NULL, job_row, &l, NULL, err);
  for (size_t i = 0; st == SI_OK && i < l.count; i++)
    if (fn(user, &l.items[i]))
      break;
  free(l.items);
  return st;
}

/* ---- the command ---- */

/* Every few seconds, and well inside the window in which status still
 * counts the worker as live (three lease periods). */
static int beat_seconds(const si_config *cfg) {
  int s = cfg->lease_seconds / 3;
  return s < 1 ? 1 : s > 5 ? 5 : s;
}

static void log_error(const char *what, const si_error *err) {
  char buf[1200];
  si_log(SI_LOG_ERROR, "%s: %s", what, si_error_format(err, buf, sizeof buf));
}

/* Beats until SIGTERM or SIGINT. The signals are blocked in every thread
 * and taken here with sigtimedwait, so no handler races the pool. Every
 * second it also checks that the SQLite file is still there (as the
 * watcher's daemon does): a deleted database stops the worker, exit 1. */
static int run_until_signal(const registry *r, const sigset_t *stop_signals, int interval) {
  for (int tick = 1;; tick++) {
    struct timespec wait = {1, 0};
    int sig = sigtimedwait(stop_signals, NULL, &wait);
    if (sig > 0) {
      si_log(SI_LOG_INFO, "worker %s: %s received: letting running imports reach a safe point",
             r->id, strsignal(sig));
      return CLI_EXIT_OK;
    }
    if (errno != EAGAIN && errno != EINTR)
      return CLI_EXIT_FAILURE;
    si_error err;
    if (si_db_check_file(r->db, &err) != SI_OK) {
      log_error("database (stopping the worker)", &err);
      return CLI_EXIT_FAILURE;
    }
    if (tick % interval != 0)
      continue;
    /* A lost connection is re-established by the backend; a missed beat
     * only makes the worker look idle for a moment. */
    if (registry_beat(r, &err) != SI_OK)
      log_error("worker heartbeat", &err);
  }
}

int cmd_worker(int argc, char **argv) {
  app a;
  int rc = app_init(&a, "worker", &argc, argv);
  if (rc)
    return rc;
  if (argc > 1) {
    rc = argv[1][0] == '-' ? cli_usage_error("worker", "unknown option '%s'", argv[1])
                           : cli_usage_error("worker", "unexpected argument '%s'", argv[1]);
    app_close(&a);
    return rc;
  }
  si_error err;
  if (si_log_open(NULL, si_log_level_parse(a.cfg.log_level), &err) != SI_OK) {
    cli_print_error("worker", &err);
    app_close(&a);
    return CLI_EXIT_FAILURE;
  }
  /* Blocked before the pool starts, so its threads inherit the mask. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  registry r = {.pid = (long)getpid(), .started_at = si_now_ms()};
  if (gethostname(r.host, sizeof r.host - 1) != 0)
    snprintf(r.host, sizeof r.host, "localhost");
  snprintf(r.id, sizeof r.id, "%s:%ld", r.host, r.pid);
  si_worker_pool *pool = NULL;
  rc = CLI_EXIT_FAILURE;
  if (si_db_open(a.cfg.database, &a.db, &err) != SI_OK) {
    log_error("database", &err);
    goto done;
  }
  r.db = a.db;
  if (registry_register(&r, &err) != SI_OK) {
    log_error("cannot register the worker", &err);
    goto done;
  }
  if (si_worker_pool_start(&a.cfg, a.cfg.workers, &pool, &err) != SI_OK) {
    log_error("cannot start workers", &err);
    goto done;
  }
  si_log(SI_LOG_INFO, "worker %s started: %d threads, %s database, lease %d s", r.id, a.cfg.workers,
         si_db_get_backend(a.db)->name, a.cfg.lease_seconds);
  rc = run_until_signal(&r, &stop_signals, beat_seconds(&a.cfg));
done:
  si_worker_pool_stop(pool);
  if (r.db && registry_remove(&r, &err) != SI_OK)
    log_error("cannot unregister the worker", &err);
  if (pool)
    si_log(SI_LOG_INFO, "worker %s stopped", r.id);
  app_close(&a);
  si_log_close();
  return rc;
}
