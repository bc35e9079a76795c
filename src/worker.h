/* `sendit worker` (src/cmd_worker.c): the worker pool alone, for scaling
 * imports out over processes and hosts that share one database, and the
 * registry of running workers in the `worker` table that `sendit status`
 * reads. */
#ifndef SENDIT_WORKER_CMD_H
#define SENDIT_WORKER_CMD_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"

int cmd_worker(int argc, char **argv);
extern const char cmd_worker_usage[];

/* A registered worker process and the jobs its threads hold. */
typedef struct worker_entry {
  char id[256]; /* "host:pid" */
  char host[128];
  long pid;
  int64_t started_at, heartbeat_at;
  int njobs;
  int64_t job_ids[16];
  char job_folders[16][128];
} worker_entry;

typedef int (*worker_entry_fn)(void *user, const worker_entry *w);

/* Calls fn for each worker whose heartbeat is not older than `since_ms`
 * (epoch milliseconds), ordered by id, with the running jobs whose lease
 * holder is one of its threads ("host:pid:N"). */
si_status worker_registry_list(si_db *db, int64_t since_ms, worker_entry_fn fn, void *user,
                               si_error *err);

#endif
