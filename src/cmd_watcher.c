/* `sendit start_watcher` / `sendit stop_watcher`: the daemon that watches the
 * input folder and runs the worker pool. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "daemon.h"
#include "heartbeat.h"
#include "listener.h"
#include "sendit/cleanup.h"
#include "sendit/fs.h"
#include "sendit/http.h"
#include "sendit/log.h"
#include "sendit/store.h"
#include "sendit/watch.h"
#include "sendit/workers.h"
#include "stop_signal.h"

const char cmd_start_watcher_usage[] =
    "Usage: sendit start_watcher [--foreground] [--config PATH]\n\n"
    "Starts the daemon: it imports the finished folders already in the input folder,\n"
    "then watches it (inotify) for folders created or renamed into it. A folder is\n"
    "finished when no extension of its name starts with 'tmp' (NAME.tmp1234 is not).\n"
    "It detaches and logs to <logs>/watcher.log; the pidfile holds its pid.\n"
    "SIGTERM or SIGINT stops it gracefully (as stop_watcher does). SIGHUP makes it\n"
    "reopen its log file (for logrotate); only a daemon in the foreground of a\n"
    "terminal stops on SIGHUP, as on SIGTERM.\n\n"
    "  --foreground   stay in the foreground, log to stderr (systemd, containers)\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n\n"
    "Exit status: 0 started, 1 already running or failed to start, 2 usage.\n";

const char cmd_stop_watcher_usage[] =
    "Usage: sendit stop_watcher [--timeout SECONDS] [--config PATH]\n\n"
    "Asks the daemon to stop and waits for it (default 120 s). Imports in progress stop\n"
    "between chunks of files and continue at the next start; nothing is lost.\n\n"
    "  --timeout SECONDS  how long to wait, 1 to 86400 (a day)\n\n"
    "Exit status: 0 stopped, 1 nothing was running or it did not stop in time, 2 usage.\n";

/* A day: longer than any import's safe point is ever away. */
#define STOP_TIMEOUT_MAX 86400

typedef struct enqueue_ctx {
  si_db *db;
  si_worker_pool *pool;
  int in_tx;   /* a burst's transaction is open */
  int created; /* jobs queued in it */
} enqueue_ctx;

/* A burst of folders (name NULL ends it) is queued in one transaction, and
 * the workers are woken once it is committed: they see the whole burst and
 * share it out. The commit is durable: the workers' claims that follow are
 * not (store.c), and this is what finds their folders again. */
static void enqueue_folder(void *user, const char *name, const char *path) {
  enqueue_ctx *ctx = user;
  si_error err;
  char buf[1024];
  if (!name) {
    if (ctx->in_tx && si_db_commit(ctx->db, &err) != SI_OK) {
      si_log(SI_LOG_ERROR, "cannot queue the folders just found: %s",
             si_error_format(&err, buf, sizeof buf));
      si_db_rollback(ctx->db);
      ctx->created = 0; /* the next scan finds them again */
    }
    ctx->in_tx = 0;
    if (ctx->created)
      si_worker_pool_wake(ctx->pool);
    ctx->created = 0;
    return;
  }
  if (!ctx->in_tx && si_db_begin(ctx->db, &err) == SI_OK)
    ctx->in_tx = 1;
  int created = 0;
  /* `path` is the entry itself below the (resolved) input folder, never a
   * link's target (watch.h): it is queued as it is. */
  if (si_store_enqueue(ctx->db, name, path, &created, &err) != SI_OK) {
    si_log(SI_LOG_ERROR, "cannot queue %s: %s", path, si_error_format(&err, buf, sizeof buf));
  } else if (created) {
    si_log(SI_LOG_INFO, "QUEUED %s", path);
    ctx->created++;
  }
}

/* ---- database watchdog ---- */

/* Every second the daemon checks that its SQLite file is still the one at
 * the configured path: deleted or replaced, every later record would land
 * in a file nobody can see, so the daemon stops as stop_watcher stops it
 * (imports reach a safe point) and exits 1. A stat a second costs nothing;
 * what is written between the deletion and the imports' next safe point
 * still goes to the lost file. */
typedef struct watchdog {
  const si_db *db;
  si_watcher *watcher;
  pthread_t thread;
  int started;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stop;         /* guarded by lock */
  atomic_int fired; /* the database was gone */
} watchdog;

static void *watchdog_run(void *arg) {
  watchdog *w = arg;
  pthread_mutex_lock(&w->lock);
  while (!w->stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&w->wake, &w->lock, &until);
    si_error err;
    if (w->stop || si_db_check_file(w->db, &err) == SI_OK)
      continue;
    char buf[1200];
    si_log(SI_LOG_ERROR, "database: %s; stopping the watcher",
           si_error_format(&err, buf, sizeof buf));
    atomic_store(&w->fired, 1);
    si_watcher_stop(w->watcher);
    break;
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

static si_status watchdog_start(watchdog *w, const si_db *db, si_watcher *watcher, si_error *err) {
  w->db = db;
  w->watcher = watcher;
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->wake, NULL);
  w->started = pthread_create(&w->thread, NULL, watchdog_run, w) == 0;
  if (w->started)
    return SI_OK;
  pthread_cond_destroy(&w->wake);
  pthread_mutex_destroy(&w->lock);
  return si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "cannot start its thread: a deleted database file would go unnoticed");
}

static void watchdog_stop(watchdog *w) {
  if (!w->started)
    return;
  pthread_mutex_lock(&w->lock);
  w->stop = 1;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->wake);
  pthread_mutex_destroy(&w->lock);
  w->started = 0;
}

/* The pidfile stays open with an exclusive lock for the daemon's life: the
 * lock, not the pid, says whether it runs (a killed daemon may linger as a
 * zombie where nothing reaps it, and pids get reused). */
static int pidfile_fd = -1;

static int write_pidfile(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    errno = EEXIST;
    return -1;
  }
  char text[32];
  int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
    close(fd);
    return -1;
  }
  pidfile_fd = fd;
  return 0;
}

/* ---- the services ---- */

typedef struct daemon_state {
  app *a;
  const si_config *cfg;
  si_worker_pool *pool;
  si_watcher *watcher;
  heartbeat *beat;
  si_http_server *web;         /* web dashboard (issue #4) */
  listener *dicom;             /* [dicom] listen (issue 15) */
  si_cleanup_service *cleanup; /* the cleanup stage's sweep (issue 16) */
  enqueue_ctx ectx;
  watchdog dog;
} daemon_state;

/* Opened here, after any fork: an SQLite connection must not cross one. */
static si_status database_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  si_status st = si_db_open(d->cfg->database, &d->a->db, err);
  d->ectx.db = d->a->db;
  return st;
}

static void database_stop(void *ctx) {
  daemon_state *d = ctx;
  si_db_close(d->a->db);
  d->a->db = NULL;
}

static si_status pidfile_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  if (write_pidfile(d->cfg->pidfile) != 0)
    return si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG, "cannot write %s: %s",
                        d->cfg->pidfile, strerror(errno));
  return SI_OK;
}

/* Last to go: its lock tells stop_watcher that everything stopped. */
static void pidfile_stop(void *ctx) {
  daemon_state *d = ctx;
  unlink(d->cfg->pidfile); /* ours: we hold its lock */
  close(pidfile_fd);
  pidfile_fd = -1;
}

static si_status workers_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  si_status st = si_worker_pool_start(d->cfg, d->cfg->workers, &d->pool, err);
  d->ectx.pool = d->pool;
  return st;
}

static void workers_stop(void *ctx) {
  daemon_state *d = ctx;
  si_worker_pool_stop(d->pool);
  d->pool = NULL;
}

static si_status watcher_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  return si_watcher_open(d->cfg, enqueue_folder, &d->ectx, &d->watcher, err);
}

static void watcher_stop(void *ctx) {
  daemon_state *d = ctx;
  si_watcher_close(d->watcher);
  d->watcher = NULL;
}

static si_status heartbeat_service_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  return heartbeat_start(d->cfg, &d->beat, err);
}

static void heartbeat_service_stop(void *ctx) {
  daemon_state *d = ctx;
  heartbeat_stop(d->beat);
  d->beat = NULL;
}

/* web dashboard (issue #4): a retry from the web wakes idle workers. */
static void wake_workers(void *pool) { si_worker_pool_wake(pool); }

static si_status web_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  si_http_options opts = {.site = si_http_dashboard(), .wake = wake_workers, .wake_user = d->pool};
  return si_http_start(d->cfg, &opts, &d->web, err);
}

static void web_stop(void *ctx) {
  daemon_state *d = ctx;
  si_http_stop(d->web);
  d->web = NULL;
}

static si_status watchdog_service_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  return watchdog_start(&d->dog, d->a->db, d->watcher, err);
}

static void watchdog_service_stop(void *ctx) { watchdog_stop(&((daemon_state *)ctx)->dog); }

/* The DICOM listener (issue 15): last, so it stops first: its
 * associations end and their folders are finished while the watcher
 * still runs (and what it misses, the next start-up scan finds). */
static int dicom_wanted(void *ctx) { return listener_wanted(((daemon_state *)ctx)->cfg); }

static si_status dicom_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  return listener_start(d->cfg, &d->dicom, err);
}

static void dicom_stop(void *ctx) {
  daemon_state *d = ctx;
  listener_stop(d->dicom);
  d->dicom = NULL;
}

/* The cleanup stage's sweep (keep days, the low water): with the stage. */
static int cleanup_wanted(void *ctx) {
  return si_stage_enabled(((daemon_state *)ctx)->cfg, "cleanup");
}

static si_status cleanup_start(void *ctx, si_error *err) {
  daemon_state *d = ctx;
  return si_cleanup_service_start(d->cfg, &d->cleanup, err);
}

static void cleanup_stop(void *ctx) {
  daemon_state *d = ctx;
  si_cleanup_service_stop(d->cleanup);
  d->cleanup = NULL;
}

/* In start order; they stop in reverse, so each row may rely on the rows
 * above it (the watcher queues for the workers, the web wakes them, the
 * watchdog stops the watcher, the listener's folders are for the watcher).
 * A listener configured and unable to listen stops the start: modalities
 * would otherwise send into nothing. */
static const daemon_service services[] = {
    {"database", database_start, database_stop, 0, NULL},
    {"pidfile", pidfile_start, pidfile_stop, 0, NULL},
    {"workers", workers_start, workers_stop, 0, NULL},
    {"watcher", watcher_start, watcher_stop, 0, NULL},
    {"heartbeat", heartbeat_service_start, heartbeat_service_stop, 0, NULL},
    {"web", web_start, web_stop, 1, NULL},
    {"watchdog", watchdog_service_start, watchdog_service_stop, 1, NULL},
    {"dicom", dicom_start, dicom_stop, 0, dicom_wanted},
    {"cleanup", cleanup_start, cleanup_stop, 0, cleanup_wanted},
};
enum { SERVICE_COUNT = sizeof services / sizeof services[0] };

static void stop_watching(void *watcher) { si_watcher_stop(watcher); }

/* The daemon's life: start the services, scan, watch until a stop signal,
 * stop them. `ready_fd` (or -1) gets one byte when start-up succeeded. */
/* SIGHUP in a detached daemon (stop_signal_hup_reopens): the log file is
 * opened again under its name, so that after logrotate moved it the lines go
 * to the new file; stdout and stderr (where a library's own messages go)
 * follow. When the file cannot be opened the old one is kept and says why. */
static void reopen_log(void *user) {
  const char *path = user;
  si_error err;
  if (!path) {
    si_log(SI_LOG_INFO, "SIGHUP: the log is stderr (the journal), nothing to reopen");
    return;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  char buf[512];
  if (si_log_open(path, si_log_min_level(), &err) != SI_OK)
    si_log(SI_LOG_ERROR, "SIGHUP: cannot reopen the log, keeping the old file: %s",
           si_error_format(&err, buf, sizeof buf));
  else
    si_log(SI_LOG_INFO, "log reopened (SIGHUP)");
}

/* hup_reopens: SIGHUP reopens log_path (the detached daemon's log file;
 * NULL: stderr) instead of stopping. It stops only a daemon in the
 * foreground of a terminal, whose hangup it is; under systemd, where stderr
 * is the journal, a stray SIGHUP (logrotate's) must not stop the service. */
static int run_daemon(app *a, int ready_fd, int hup_reopens, const char *log_path) {
  const si_config *cfg = &a->cfg;
  si_error err;
  char buf[1024];
  daemon_state d = {.a = a, .cfg = cfg};
  int up[SERVICE_COUNT];
  /* Before any thread starts, so that the threads inherit the mask. */
  if (stop_signal_block() != 0) {
    si_log(SI_LOG_ERROR, "cannot set up the stop signals: %s", strerror(errno));
    if (ready_fd >= 0)
      close(ready_fd);
    return CLI_EXIT_FAILURE;
  }
  if (hup_reopens && stop_signal_hup_reopens(reopen_log, (void *)log_path) != 0)
    si_log(SI_LOG_WARN, "SIGHUP will stop the daemon, not reopen the log: %s", strerror(errno));
  if (daemon_start(services, SERVICE_COUNT, &d, up) < 0) {
    si_log(SI_LOG_INFO, "watcher stopped");
    if (ready_fd >= 0)
      close(ready_fd);
    return CLI_EXIT_FAILURE;
  }
  stop_signal_listen(stop_watching, d.watcher);
  si_log(SI_LOG_INFO, "watcher started (pid %ld): input %s, storage %s, database %s, %d workers",
         (long)getpid(), cfg->input_dir, cfg->storage_dir, cfg->database, cfg->workers);
  if (ready_fd >= 0) {
    ssize_t ignored = write(ready_fd, "1", 1);
    (void)ignored;
    close(ready_fd);
  }
  int rc = CLI_EXIT_OK;
  if (!stop_signal_received() && si_watcher_scan(d.watcher, &err) != SI_OK)
    si_log(SI_LOG_ERROR, "start-up scan: %s", si_error_format(&err, buf, sizeof buf));
  if (!stop_signal_received() && si_watcher_run(d.watcher, &err) != SI_OK) {
    si_log(SI_LOG_ERROR, "watcher: %s", si_error_format(&err, buf, sizeof buf));
    rc = CLI_EXIT_FAILURE;
  }
  si_log(SI_LOG_INFO, "stopping: letting running imports reach a safe point");
  /* The watcher's stop must not be asked for once it is freed. */
  stop_signal_listen(NULL, NULL);
  daemon_stop(services, SERVICE_COUNT, &d, up);
  if (atomic_load(&d.dog.fired))
    rc = CLI_EXIT_FAILURE;
  si_log(SI_LOG_INFO, "watcher stopped");
  return rc;
}

/* Detaches: the parent waits until the child says it is up (or died), so
 * the command's exit status tells the truth. */
static int daemonize(app *a, const char *log_path) {
  int pipefd[2];
  if (pipe(pipefd) != 0) {
    perror("sendit start_watcher: pipe");
    return CLI_EXIT_FAILURE;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    perror("sendit start_watcher: fork");
    return CLI_EXIT_FAILURE;
  }
  if (pid > 0) {
    close(pipefd[1]);
    char c;
    ssize_t n = read(pipefd[0], &c, 1);
    close(pipefd[0]);
    if (n == 1) {
      printf("watcher started (pid %ld); log: %s\n", (long)pid, log_path);
      return CLI_EXIT_OK;
    }
    int status;
    waitpid(pid, &status, 0);
    fprintf(stderr, "sendit start_watcher: the watcher failed to start; see %s\n", log_path);
    return CLI_EXIT_FAILURE;
  }
  close(pipefd[0]);
  setsid();
  int devnull = open("/dev/null", O_RDWR);
  int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (devnull >= 0)
    dup2(devnull, STDIN_FILENO);
  if (logfd >= 0) {
    /* Anything printed by a crash or a sanitizer lands in the log too. */
    dup2(logfd, STDOUT_FILENO);
    dup2(logfd, STDERR_FILENO);
  }
  exit(run_daemon(a, pipefd[1], 1, log_path));
}

int cmd_start_watcher(int argc, char **argv) {
  app a;
  int rc = app_init(&a, "start_watcher", &argc, argv);
  if (rc)
    return rc;
  int foreground = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--foreground") == 0)
      foreground = 1;
    else {
      app_close(&a);
      return cli_usage_error("start_watcher", "unknown option '%s'", argv[i]);
    }
  }
  long pid = app_running_pid(&a.cfg);
  if (pid) {
    fprintf(stderr, "sendit start_watcher: a watcher is already running (pid %ld, pidfile %s)\n",
            pid, a.cfg.pidfile);
    app_close(&a);
    return CLI_EXIT_FAILURE;
  }
  si_error err;
  char log_path[4200];
  snprintf(log_path, sizeof log_path, "%s/watcher.log", a.cfg.log_dir);
  if (si_mkdir_p(a.cfg.log_dir, &err) != SI_OK ||
      si_log_open(foreground ? NULL : log_path, si_log_level_parse(a.cfg.log_level), &err) !=
          SI_OK) {
    cli_print_error("start_watcher", &err);
    app_close(&a);
    return CLI_EXIT_FAILURE;
  }
  struct stat st;
  if (stat(a.cfg.pidfile, &st) == 0)
    si_log(SI_LOG_WARN, "replacing the stale pidfile %s", a.cfg.pidfile);
  rc = foreground ? run_daemon(&a, -1, !isatty(STDERR_FILENO), NULL) : daemonize(&a, log_path);
  app_close(&a);
  si_log_close();
  return rc;
}

int cmd_stop_watcher(int argc, char **argv) {
  app a;
  int rc = app_init(&a, "stop_watcher", &argc, argv);
  if (rc)
    return rc;
  long long timeout = 120;
  for (int i = 1; i < argc; i++) {
    const char *value = NULL;
    if (strcmp(argv[i], "--timeout") == 0 && i + 1 >= argc) {
      app_close(&a);
      return cli_usage_error("stop_watcher", "option '--timeout' needs a value");
    }
    if (strcmp(argv[i], "--timeout") == 0)
      value = argv[++i];
    else if (strncmp(argv[i], "--timeout=", 10) == 0)
      value = argv[i] + 10;
    if (!value) {
      app_close(&a);
      return cli_usage_error("stop_watcher", "unknown option '%s'", argv[i]);
    }
    if (cli_parse_number(value, 1, STOP_TIMEOUT_MAX, &timeout) != 0) {
      app_close(&a);
      return cli_bad_number("stop_watcher", "--timeout", value, 1, STOP_TIMEOUT_MAX);
    }
  }
  long pid = app_running_pid(&a.cfg);
  if (!pid) {
    struct stat st;
    if (stat(a.cfg.pidfile, &st) == 0) {
      unlink(a.cfg.pidfile);
      fprintf(stderr, "sendit stop_watcher: no watcher is running (removed stale pidfile %s)\n",
              a.cfg.pidfile);
    } else {
      fprintf(stderr, "sendit stop_watcher: no watcher is running\n");
    }
    app_close(&a);
    return CLI_EXIT_FAILURE;
  }
  if (kill((pid_t)pid, SIGTERM) != 0) {
    fprintf(stderr, "sendit stop_watcher: cannot signal pid %ld: %s\n", pid, strerror(errno));
    app_close(&a);
    return CLI_EXIT_FAILURE;
  }
  struct timespec pause = {0, 50 * 1000 * 1000};
  for (long long waited = 0; waited < timeout * 20; waited++) {
    /* Done when the lock is released (the process may linger as a zombie). */
    if (app_running_pid(&a.cfg) != pid) {
      printf("watcher stopped (pid %ld)\n", pid);
      app_close(&a);
      return CLI_EXIT_OK;
    }
    nanosleep(&pause, NULL);
  }
  fprintf(stderr, "sendit stop_watcher: pid %ld is still finishing after %lld s\n", pid, timeout);
  app_close(&a);
  return CLI_EXIT_FAILURE;
}
