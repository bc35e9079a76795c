/* `sendit worker`: the worker pool without the watcher, so imports scale out
 * over processes and hosts that share one database (PostgreSQL, or one
 * SQLite file on one host). Jobs come from whoever queues them (a watcher,
 * start_queue); the queue's leases already make any number of pools safe
 * side by side, so this command only adds a life cycle and the registry row
 * (the heartbeat service) that `sendit status` shows. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "heartbeat.h"
#include "sendit/log.h"
#include "sendit/workers.h"
#include "stop_signal.h"
#include "worker.h"

const char cmd_worker_usage[] =
    "Usage: sendit worker [--config PATH]\n\n"
    "Runs only the worker pool ([queue] workers threads) against the configured\n"
    "database, in the foreground, logging to stderr, until SIGTERM, SIGINT or SIGHUP;\n"
    "imports in progress then stop at a safe point and continue later. There is no\n"
    "watcher and no web server: run any number of these, on any host that sees the\n"
    "input and storage folders and the database, beside one watcher that queues\n"
    "folders. Each worker registers in the database, and `sendit status` lists the\n"
    "live ones with the jobs they hold.\n\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n\n"
    "Exit status: 0 stopped by a signal, 1 could not start or the SQLite database\n"
    "file was deleted or replaced while it ran, 2 usage.\n";

static void log_error(const char *what, const si_error *err) {
  char buf[1200];
  si_log(SI_LOG_ERROR, "%s: %s", what, si_error_format(err, buf, sizeof buf));
}

/* Waits for a stop signal. Every second it also checks that the SQLite
 * file is still there (as the watcher's daemon does): a deleted database
 * stops the worker, exit 1. */
static int run_until_signal(si_db *db, const char *id) {
  for (;;) {
    int sig = stop_signal_wait(1000);
    if (sig) {
      si_log(SI_LOG_INFO, "worker %s: %s received: letting running imports reach a safe point", id,
             strsignal(sig));
      return CLI_EXIT_OK;
    }
    si_error err;
    if (si_db_check_file(db, &err) != SI_OK) {
      log_error("database (stopping the worker)", &err);
      return CLI_EXIT_FAILURE;
    }
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
  if (stop_signal_block() != 0) {
    si_log(SI_LOG_ERROR, "cannot set up the stop signals: %s", strerror(errno));
    app_close(&a);
    si_log_close();
    return CLI_EXIT_FAILURE;
  }
  heartbeat *beat = NULL;
  si_worker_pool *pool = NULL;
  rc = CLI_EXIT_FAILURE;
  if (si_db_open(a.cfg.database, &a.db, &err) != SI_OK) {
    log_error("database", &err);
    goto done;
  }
  if (heartbeat_start(&a.cfg, &beat, &err) != SI_OK) {
    log_error("cannot register the worker", &err);
    goto done;
  }
  const char *id = heartbeat_self(beat)->id;
  if (si_worker_pool_start(&a.cfg, a.cfg.workers, &pool, &err) != SI_OK) {
    log_error("cannot start workers", &err);
    goto done;
  }
  stop_signal_listen(NULL, NULL);
  si_log(SI_LOG_INFO, "worker %s started: %d threads, %s database, lease %d s", id, a.cfg.workers,
         si_db_get_backend(a.db)->name, a.cfg.lease_seconds);
  rc = run_until_signal(a.db, id);
done:
  si_worker_pool_stop(pool);
  if (pool)
    si_log(SI_LOG_INFO, "worker %s stopped", heartbeat_self(beat)->id);
  heartbeat_stop(beat);
  app_close(&a);
  si_log_close();
  return rc;
}
