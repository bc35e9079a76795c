/* A pool of worker threads that claim jobs from the durable queue and run
 * them. Each thread has its own database connection. Free space in storage
 * is checked before every claim: below the low-water mark the pool stops
 * claiming until free space is back above the high-water mark. A claim
 * keeps only as many folders as fit, together, in the free space above the
 * low-water mark (a folder on storage's filesystem costs nothing: it is
 * renamed); the rest go back to the queue with no attempt counted, and a
 * first folder larger than all that space waits, in order, until there is
 * room. An import stopped by a full disk (ENOSPC, EDQUOT) pauses intake
 * the same way; its job is back in the queue. At start the pool records
 * files found in quarantine without an entry (quarantine.h). Idle
 * workers look for jobs every [queue] poll_seconds; on PostgreSQL one more connection
 * listens for jobs announced by other processes (si_store_enqueue) and
 * wakes them at once.
 *
 * Ownership: the pool borrows cfg until si_worker_pool_stop returns. */
#ifndef SENDIT_WORKERS_H
#define SENDIT_WORKERS_H

#include <stddef.h>

#include "sendit/db.h"

#include "sendit/config.h"
#include "sendit/error.h"

typedef struct si_worker_pool si_worker_pool;

si_status si_worker_pool_start(const si_config *cfg, int threads, si_worker_pool **out,
                               si_error *err);
/* Tells idle workers that a job was enqueued (cheap, any thread). */
void si_worker_pool_wake(si_worker_pool *pool);
/* 1 while intake is paused for lack of disk space; `why` gets the reason. */
int si_worker_pool_paused(si_worker_pool *pool, char *why, size_t size);
/* For `sendit status` and the API, from any process: whether the oldest
 * queued folder needs more room in storage than there is above the
 * low-water mark, so that intake waits for it (the workers' rule, see
 * above); `why` (may be NULL) gets the reason. */
si_status si_intake_space_check(const si_config *cfg, si_db *db, int *waiting, char *why,
                                size_t size, si_error *err);
/* Lets running jobs finish, joins the threads and frees the pool. */
void si_worker_pool_stop(si_worker_pool *pool);

#endif
