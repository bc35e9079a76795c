/* The pipeline as a sequence of stages (issue 13). Each stage is a kind of
 * job in the durable queue; one table (si_stage_kinds) says, per kind, its
 * name, how a job of it runs, how many run at once in a pool and its retry
 * policy. `[pipeline] stages` (config.h) is the chain: "import" first,
 * then the stages after it. When a stage's job is done, the next stage's
 * job is queued in the same transaction (si_store_job_end), so a crash
 * neither loses nor repeats the hand-off.
 *
 * Kinds today: "import" (the folder import of pipeline.h, run by the worker
 * pool's batched claim; its retries are the queue's leases and [queue]
 * max_attempts, as before) and "test", a stage for the test suite only,
 * usable when the environment has SENDIT_TEST_STAGES=1. "deid", "send"
 * and "cleanup" are known names not built yet: naming one in `[pipeline]
 * stages` is a configuration error that says so.
 *
 * The test stage does what its job's payload says, JSON {"fail": N,
 * "sleep_ms": M}: sleep M ms, then fail while the job's attempt number is
 * at most N (N = -1: always), else succeed. The import's hand-off gives it
 * the payload of the first rule of SENDIT_TEST_STAGE_RULES
 * ("PREFIX=fail:2,sleep:100;OTHER=fail:always") whose prefix begins the
 * batch uid, else {}.
 *
 * Ownership: the table and the names returned are static. */
#ifndef SENDIT_STAGES_H
#define SENDIT_STAGES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

/* A failed attempt is tried again after a delay that doubles from base_ms
 * up to max_ms, with jitter (si_stage_backoff_ms), until the job has had
 * max_attempts attempts; then the stage is given up and its batch goes to
 * ERROR naming the stage. */
typedef struct si_retry_policy {
  int64_t base_ms, max_ms;
  int max_attempts;
} si_retry_policy;

/* What a stage's run borrows. */
typedef struct si_stage_context {
  const si_config *cfg;
  si_db *db;
  const char *worker;
  const atomic_int *cancel; /* may be NULL; set by another thread or a signal */
  /* Set by a run whose failed attempt would fail the same way again (the
   * deid stage with every image held): the stage is given up at once. */
  int give_up;
  /* Set by a run that gave its job back unstarted (si_store_job_defer: the
   * send stage's destination at its concurrency or behind an open
   * breaker): nothing more is written for the job. */
  int deferred;
} si_stage_context;

/* Runs one claimed job of a stage. SI_OK with *failed 0: done; SI_OK with
 * *failed 1: this attempt failed, why in error[size]; other statuses: the
 * database failed (the job's lease runs out and it runs again). */
typedef si_status (*si_stage_run_fn)(si_stage_context *ctx, const si_job *job, int *failed,
                                     char *error, size_t size, si_error *err);

typedef struct si_stage_kind {
  const char *name;
  int built;       /* may be named in [pipeline] stages */
  const char *env; /* NULL, or a variable that must be "1" to use it (test-only kinds) */
  /* NULL for import: the worker pool's batched claim and si_run_jobs. */
  si_stage_run_fn run;
  int concurrency; /* jobs of the kind one pool runs at once; 0: any number */
  si_retry_policy retry;
} si_stage_kind;

/* The table, import first; *count gets its length (at most
 * SI_STAGE_KINDS_MAX). */
#define SI_STAGE_KINDS_MAX 8
const si_stage_kind *si_stage_kinds(size_t *count);
/* The kind named by the `len` bytes at `name`, or NULL. */
const si_stage_kind *si_stage_find(const char *name, size_t len);

/* The check of `[pipeline] stages` (a comma list already normalised: no
 * blanks, no empty items): NULL when fine, else why not, naming the stage
 * (static storage of this thread, valid until the next call). */
const char *si_stages_check(const char *list);

/* Whether stage `name` is in the chain cfg configures (import always is),
 * and the stage after `name` in it (NULL: the last). */
int si_stage_enabled(const si_config *cfg, const char *name);
const char *si_stage_next(const si_config *cfg, const char *name);

/* The delay before attempt `attempt` + 1 after attempt `attempt` (1-based)
 * failed: d = min(max_ms, base_ms * 2^(attempt-1)), then a jitter that
 * takes it to d/2 + (random mod (d/2 + 1)), so that jobs failing together
 * do not come back together. */
int64_t si_stage_backoff_ms(const si_retry_policy *policy, int attempt, uint32_t random);

/* Ends an import's job inside the caller's transaction (the import's
 * finishing one): done, or failed with "import stopped: see the batch
 * log" (`error` NULL) or `error`; records error_stage and the import's
 * batch_stage row, and on done queues the next stage of the chain
 * (si_store_job_end). SI_ERR_STATE when `worker` no longer holds it. */
si_status si_stage_end_import(si_db *db, const si_config *cfg, int64_t job_id, const char *worker,
                              const char *batch_uid, int failed, const char *error,
                              int64_t started_ms, si_error *err);

/* Runs a claimed job of `kind` (not import) and ends it in one
 * transaction: done (hand-off to the next stage), back to the queue with
 * a backoff, or given up (batch ERROR, the stage and the reason in its
 * error_stage and log). A job already over its attempts is given up
 * without running. */
si_status si_stage_run_claimed(si_stage_context *ctx, const si_stage_kind *kind, si_job *job,
                               si_error *err);

#endif
