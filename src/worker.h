/* `sendit worker` (src/cmd_worker.c): the worker pool alone, for scaling
 * imports out over processes and hosts that share one database. The
 * registry of running workers it writes is sendit/worker_registry.h. */
#ifndef SENDIT_WORKER_CMD_H
#define SENDIT_WORKER_CMD_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/worker_registry.h"

int cmd_worker(int argc, char **argv);
extern const char cmd_worker_usage[];

/* The names `sendit status` lists the registry with. */
typedef si_worker_entry worker_entry;
typedef si_worker_entry_fn worker_entry_fn;

static inline si_status worker_registry_list(si_db *db, int64_t since_ms, worker_entry_fn fn,
                                             void *user, si_error *err) {
  return si_worker_list(db, since_ms, fn, user, err);
}

#endif
