/* The registry of running sendit processes that import (the daemon and
 * every `sendit worker`): one row each in the `worker` table, under the id
 * "host:pid", with its start, its last heartbeat and the first job one of
 * its threads holds. The daemon's heartbeat service and `sendit worker`
 * write it with the same functions and columns; `sendit status` and the
 * dashboard read it.
 *
 * Ownership: every struct is the caller's; the database is borrowed for
 * the call. */
#ifndef SENDIT_WORKER_REGISTRY_H
#define SENDIT_WORKER_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"

/* Rows of processes killed without a chance to unregister are swept after
 * a day; until then readers hide them by their heartbeat's age. */
#define SI_WORKER_STALE_MS ((int64_t)24 * 3600 * 1000)

/* One process's identity in the registry. */
typedef struct si_worker_self {
  char id[160]; /* "host:pid" */
  char host[128];
  long pid;
  int64_t started_at; /* epoch ms */
} si_worker_self;

/* This machine's name as the registry spells it ("localhost" when
 * unknown), NUL-terminated within size. */
void si_worker_host_name(char *out, size_t size);
/* Fills self for this process, started now. */
void si_worker_self_init(si_worker_self *self);

/* Sweeps rows older than SI_WORKER_STALE_MS, then writes self's row. */
si_status si_worker_register(si_db *db, const si_worker_self *self, si_error *err);
/* Refreshes self's row: heartbeat and the (first) job one of its threads
 * ("host:pid:N") holds. An upsert, so a row swept or lost with a rebuilt
 * database comes back. */
si_status si_worker_beat(si_db *db, const si_worker_self *self, si_error *err);
/* Removes self's row: a stopped process is no live worker. */
si_status si_worker_unregister(si_db *db, const si_worker_self *self, si_error *err);

/* A registered process and the jobs its threads hold. */
typedef struct si_worker_entry {
  char id[256]; /* "host:pid" */
  char host[128];
  long pid;
  int64_t started_at, heartbeat_at;
  int njobs;
  int64_t job_ids[16];
  char job_folders[16][128];
} si_worker_entry;

/* Returns non-zero to stop the listing. The entry is borrowed for the call. */
typedef int (*si_worker_entry_fn)(void *user, const si_worker_entry *w);

/* Calls fn for each process whose heartbeat is not older than `since_ms`
 * (epoch milliseconds), ordered by id, with the running jobs whose lease
 * holder is one of its threads. */
si_status si_worker_list(si_db *db, int64_t since_ms, si_worker_entry_fn fn, void *user,
                         si_error *err);

#endif
