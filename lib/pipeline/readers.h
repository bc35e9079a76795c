/* Header reading on several cores. An import's headers are read without a
 * lock or a database (step 3's first half) and cost far more CPU than the
 * rows they become; helper threads read them while the import's own thread
 * writes the rows of those read already, in order.
 *
 * si_readers_start runs fn(user, i) for every i in [0, n) on helper threads
 * of its own, each taking the lowest index not taken yet; si_readers_wait
 * returns once item i is done, running items not taken yet itself rather
 * than idle while it waits. fn must not touch the caller's
 * database connection; different items must touch different data.
 *
 * Ownership: the pool belongs to the caller until si_readers_stop, which
 * lets the items already taken finish, takes no more, joins the helpers and
 * frees it. */
#ifndef SENDIT_PIPELINE_READERS_H
#define SENDIT_PIPELINE_READERS_H

#include <stddef.h>

typedef struct si_readers si_readers;
typedef void (*si_read_fn)(void *user, size_t i);

/* NULL when memory is short: the caller then runs the items itself. With
 * `helpers` 0 (or no thread could start) the items run in si_readers_wait. */
si_readers *si_readers_start(size_t n, int helpers, si_read_fn fn, void *user);
void si_readers_wait(si_readers *r, size_t i);
void si_readers_stop(si_readers *r);

/* Runs every item, on helper threads and the calling thread, and returns
 * once all are done (on the calling thread alone when n < 2 or no pool
 * could start). */
void si_readers_run_all(size_t n, int helpers, si_read_fn fn, void *user);

/* Helper threads worth starting on this machine: one per online CPU but
 * one, at least 1 and at most 8. The caller's thread is the last reader:
 * with a helper on every core it waited, ready to write, for a core
 * (measured: 5 ms in a 20 ms import on 2 cores). */
int si_readers_default_helpers(void);

#endif
