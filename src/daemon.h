/* The daemon as a table of services: each row starts one part (the
 * database, the pidfile, the workers, the watcher, the heartbeat, the web
 * server, the watchdog, the DICOM listener) and stops it again.
 * Rows start in table order and stop in reverse, so a part only ever
 * relies on the rows above it. */
#ifndef SENDIT_DAEMON_H
#define SENDIT_DAEMON_H

#include <stddef.h>

#include "sendit/error.h"

typedef struct daemon_service {
  const char *name; /* in the log: "service NAME started" */
  /* Starts the part on ctx (the daemon's state); on failure fills err. */
  si_status (*start)(void *ctx, si_error *err);
  /* Stops what start started; only called after it succeeded. */
  void (*stop)(void *ctx);
  /* A failure is logged and the daemon runs without the part (the web
   * dashboard: one that cannot bind must not stop the imports). */
  int optional;
  /* NULL: always started. Else a row whose part is not configured (the
   * DICOM listener without [dicom] listen) answers 0 and is skipped,
   * neither started nor logged. */
  int (*wanted)(void *ctx);
} daemon_service;

/* Starts the rows in order. Returns how many rows were attempted before
 * it stopped: all n when every required one started. When a required row
 * fails, it is logged by name, the rows already started are stopped in
 * reverse, and -1 is returned. `up[i]` records whether row i runs (the
 * caller's array of n). */
int daemon_start(const daemon_service *rows, size_t n, void *ctx, int *up);
/* Stops the rows that run, in reverse order. */
void daemon_stop(const daemon_service *rows, size_t n, void *ctx, int *up);

#endif
