/* A pool of worker threads that claim jobs from the durable queue and run
 * them. Each thread has its own database connection. Free space in storage
 * is checked before every claim: below the low-water mark the pool stops
 * claiming until free space is back above the high-water mark. Idle
 * workers look for jobs every [queue] poll_seconds; on PostgreSQL one more connection
 * listens for jobs announced by other processes (si_store_enqueue) and
 * wakes them at once.
 *
 * Ownership: the pool borrows cfg until si_worker_pool_stop returns. */
#ifndef SENDIT_WORKERS_H
#define SENDIT_WORKERS_H

#include <stddef.h>

#include "sendit/config.h"
#include "sendit/error.h"

typedef struct si_worker_pool si_worker_pool;

si_status si_worker_pool_start(const si_config *cfg, int threads, si_worker_pool **out,
                               si_error *err);
/* Tells idle workers that a job was enqueued (cheap, any thread). */
void si_worker_pool_wake(si_worker_pool *pool);
/* 1 while intake is paused for lack of disk space; `why` gets the reason. */
int si_worker_pool_paused(si_worker_pool *pool, char *why, size_t size);
/* Lets running jobs finish, joins the threads and frees the pool. */
void si_worker_pool_stop(si_worker_pool *pool);

#endif
