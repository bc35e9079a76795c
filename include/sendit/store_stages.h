/* The stage records over si_db (issue 13): jobs of every kind beyond the
 * import's own queries (store.h), the hand-off from one stage's job to the
 * next in one transaction, each batch's stage timeline (table batch_stage),
 * the send stage's per-image ledger (image_destination), and the counts
 * the operator surfaces show.
 *
 * Jobs: kind ("import", "test", later "deid", "send", "cleanup"), folder =
 * the batch uid, excl_key (the exclusivity key within kind and batch: ""
 * for import and deid, the destination for send) and payload (JSON text).
 * At most one job per (kind, batch, key) is queued (the index
 * job_stage_queued) and one runs (the claim's rule). A stage job's path is
 * "" (only imports read folders).
 *
 * batch_stage: one row per batch and stage, state "queued", "running",
 * "done" or "failed", the attempts of its latest job, when it was queued,
 * started and finished, and the last error; written in the transactions
 * that queue, claim, retry and end the stage's jobs. An import's row is
 * written when its job ends (done or failed), not at queueing or claiming,
 * which keeps the import's hot path as it was.
 *
 * Ownership: strings in structs and callbacks are borrowed for the call;
 * filled structs are caller-owned. */
#ifndef SENDIT_STORE_STAGES_H
#define SENDIT_STORE_STAGES_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

/* Queues a job of `kind` for batch `batch_uid` unless one of that kind and
 * key is queued already (*created says which; may be NULL), with its
 * batch_stage row set to queued (attempts 0). Announced on
 * SI_STORE_JOBS_CHANNEL. key and payload may be NULL (""/none). */
si_status si_store_stage_enqueue(si_db *db, const char *kind, const char *batch_uid,
                                 const char *key, const char *payload, int *created, si_error *err);

/* Takes the oldest job of `kind` that is queued and due (run_after passed
 * or none) or running with a lease that ran out, unless another job of the
 * same kind, batch and key is running; sets the lease and the batch_stage
 * row to running. One transaction of its own (not inside the caller's).
 * *found 0 when none. */
si_status si_store_stage_claim(si_db *db, const char *worker, int lease_seconds, const char *kind,
                               si_job *job, int *found, si_error *err);

/* How a job ends (si_store_job_end). */
typedef struct si_job_end {
  int64_t job_id;
  const char *worker;    /* must hold the job */
  const char *kind;      /* the job's kind = the stage's name */
  const char *batch_uid; /* the job's folder */
  const char *state;     /* "done" or "failed" */
  const char *error;     /* may be NULL */
  /* On done: the next stage's kind, key and payload (NULL kind: this was
   * the last stage). */
  const char *next_kind, *next_key, *next_payload;
  /* On failed: set the batch to ERROR (a stage given up). The import sets
   * its batch's status itself and leaves this 0. */
  int batch_error;
  int64_t started_ms; /* when the stage's run began, for batch_stage (0: now) */
  /* On done, a fan-out: one job of next_kind per key (next_key unused), all
   * with next_payload; 0 keys: the one job of next_key. */
  const char *const *next_keys;
  size_t next_key_count;
  /* This job is one of several of its stage for the batch (send: one per
   * destination): the batch moves on only when the last of them ends,
   * done when every one's latest job is done, else ERROR naming the keys
   * that failed and why (the other jobs finish meanwhile). Its batch_stage
   * row says running until then. The batch's row is locked first, so two
   * last jobs ending at once on two hosts see each other. */
  int fan_in;
} si_job_end;

/* Ends a job as its holder, inside the caller's transaction, together with
 * what follows from it: the batch's error_stage (the kind on failure,
 * cleared on success), its status (ERROR on a failure with batch_error;
 * PROCESSING when a next stage is queued, DONEPROCESSING instead once the
 * deid stage is done (the batch is de-identified, later stages follow);
 * DONE when the last stage after
 * the import is done; an import's own status otherwise untouched), the
 * stage's batch_stage row, and on done the next stage's job
 * (si_store_stage_enqueue). A batch the import left EMPTY, ERROR or QUEUE
 * gets no next stage. Because the hand-off commits with the job's end, a
 * crash neither loses it nor queues it twice. SI_ERR_STATE when `worker`
 * does not hold the job (nothing else is written then). */
si_status si_store_job_end(si_db *db, const si_job_end *end, si_error *err);

/* At the fan-in of the send stage (si_store_job_end with fan_in, the last
 * job of the batch): the batch's images whose every ledger row is sent
 * become SENT. Inside the caller's transaction. */
si_status si_store_images_mark_sent(si_db *db, const char *batch_uid, si_error *err);

/* A failed attempt to be tried again: the job goes back to the queue, due
 * `delay_ms` from now by the database's clock (run_after), with `error`;
 * its batch_stage row says queued with the error. SI_ERR_STATE when
 * `worker` does not hold the job. */
si_status si_store_job_retry_later(si_db *db, int64_t job_id, const char *worker,
                                   const char *batch_uid, const char *kind, const char *error,
                                   int64_t delay_ms, si_error *err);

/* Queues again the newest failed job of `stage` for batch `uid` (its key
 * and payload, attempts from 0) and sets the stage's row to queued, the
 * batch to QUEUE, error_stage and has_error cleared. For `sendit batch
 * retry` of a batch that failed in a stage after the import. *created 0
 * when a job of that stage is queued already; SI_ERR_NOT_FOUND when the
 * stage has no failed job. Inside the caller's transaction. */
si_status si_store_stage_requeue_failed(si_db *db, const char *uid, const char *stage, int *created,
                                        si_error *err);

/* The stage whose failure the batch records (error_stage), into out[size]
 * ("" when none); *found 0 when there is no such batch. */
si_status si_store_batch_error_stage(si_db *db, const char *uid, char *out, size_t size, int *found,
                                     si_error *err);

/* One stage of a batch's timeline. Times 0 when not yet. */
typedef struct si_stage_row {
  const char *stage, *state, *last_error; /* last_error may be NULL */
  int attempts;
  int64_t queued_at, started_at, finished_at;
} si_stage_row;
typedef int (*si_stage_row_fn)(void *user, const si_stage_row *row);
/* The batch's stages in the order they began (queued, else started). */
si_status si_store_batch_stages(si_db *db, const char *uid, si_stage_row_fn fn, void *user,
                                si_error *err);

/* Queue depth per kind: fn(user, kind, queued, running) for each kind
 * with a queued or running job, by kind name. `queued` counts jobs waiting
 * for their run_after too. */
typedef int (*si_kind_depth_fn)(void *user, const char *kind, int64_t queued, int64_t running);
si_status si_store_kind_depth(si_db *db, si_kind_depth_fn fn, void *user, si_error *err);

/* Job counts by kind and state (queued, running, done, failed), for
 * /metrics: fn(user, kind, state, count), by kind then state. */
typedef int (*si_job_outcome_fn)(void *user, const char *kind, const char *state, int64_t count);
si_status si_store_job_outcomes(si_db *db, si_job_outcome_fn fn, void *user, si_error *err);

/* ---- image_destination: the send stage's ledger ---- */

#define SI_DEST_PENDING "pending"
#define SI_DEST_SENT "sent"
#define SI_DEST_FAILED "failed"

/* Adds the pair (image, destination) as pending unless it exists
 * (*created says which; may be NULL). */
si_status si_store_image_destination_add(si_db *db, int64_t image_id, const char *destination,
                                         int *created, si_error *err);
/* Sets the pair's state (SI_DEST_*) and the peer's answer (may be NULL);
 * SI_ERR_NOT_FOUND when the pair was never added. */
si_status si_store_image_destination_set(si_db *db, int64_t image_id, const char *destination,
                                         const char *state, const char *answer, si_error *err);
typedef struct si_image_destination {
  int64_t image_id;
  const char *destination, *state, *answer; /* answer may be NULL */
  int64_t updated_at;
} si_image_destination;
typedef int (*si_image_destination_fn)(void *user, const si_image_destination *row);
/* The pairs of batch `batch_id`'s images, optionally only those to
 * `destination` (NULL: all), by image id then destination. */
si_status si_store_image_destination_list(si_db *db, int64_t batch_id, const char *destination,
                                          si_image_destination_fn fn, void *user, si_error *err);

#endif
