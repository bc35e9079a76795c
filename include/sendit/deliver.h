/* The delivery engine (issue 16): the send stage of the pipeline. When the
 * stage before send is done, one send job per destination whose filters
 * match any image of the batch is queued in the same transaction
 * (si_deliver_fanout, si_store_job_end's fan-out); each job delivers the
 * batch's items to its destination through the destination's type
 * (sendit/destination.h), recording each item's result in the ledger
 * image_destination as it comes. The batch moves on when the last of its
 * send jobs ends (fan-in): its images every destination confirmed are
 * SENT, the batch DONE (or the next stage), or ERROR naming the
 * destinations that failed and why.
 *
 * Each destination has a circuit breaker in the database (destination_state,
 * shared by the workers of every host): after breaker_failures consecutive
 * failed attempts (the type returned an error: the destination could not be
 * reached or used) it opens, and its jobs wait (run_after pushed) until
 * breaker_probe_seconds have passed; then one attempt probes (half-open):
 * success closes it, failure opens it again. A job of a destination at its
 * concurrency, or behind an open breaker, is given back unstarted without
 * spending an attempt, so a dead destination holds no worker and costs
 * the other destinations, the import and the deid stage nothing.
 *
 * Ownership: strings returned point into cfg or are static. */
#ifndef SENDIT_DELIVER_H
#define SENDIT_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/destination.h"
#include "sendit/error.h"
#include "sendit/stages.h"
#include "sendit/store_dest.h"

/* The send stage's run (si_stage_run_fn): the job's key is the
 * destination's name, its folder the batch. */
si_status si_deliver_run(si_stage_context *ctx, const si_job *job, int *failed, char *error,
                         size_t size, si_error *err);

/* The destinations of cfg that take at least one image of batch `uid`
 * (its source's images matched by the filters), in configuration order:
 * names[] (at most cap) point into cfg. */
si_status si_deliver_fanout(si_db *db, const si_config *cfg, const char *uid, const char **names,
                            size_t cap, size_t *count, si_error *err);

/* The destination named `name` in cfg, or NULL. */
const si_dest_config *si_deliver_find(const si_config *cfg, const char *name);

/* ---- the filters (lib/deliver/engine_filter.c) ----
 *
 * A destination's filter_modalities, filter_calling_ae and filter_labels
 * must all match an image for it to go there; an empty list matches
 * anything; an image without the value (no calling AE title in its meta,
 * no LABEL) is in no list. Items and values are compared trimmed,
 * byte for byte (AE titles and LABELs are case-sensitive). The same rule
 * decides the fan-out (which destinations get a send job) and a job's
 * items. */

/* What the filters look at for one image ("" or NULL: none). */
typedef struct si_deliver_facts {
  const char *modality;   /* Modality, as imported */
  const char *calling_ae; /* SourceApplicationEntityTitle of the original's file meta */
  const char *label;      /* the deid recipe LABEL recorded for it (si_deliver_label_of) */
} si_deliver_facts;

/* Whether an image with facts f goes to d. Pure. */
int si_deliver_filter_match(const si_dest_config *d, const si_deliver_facts *f);

/* The LABEL of a deid stage's reason "filter SECTION: LABEL" into
 * out[size] ("" for anything else); returns out. */
const char *si_deliver_label_of(const char *reason, char *out, size_t size);

/* The SourceApplicationEntityTitle (0002,0016) of the Part 10 file at path,
 * trimmed, into out[size] ("" when its meta has none): a header-only read
 * that stops where the data set begins. An error names the file. */
si_status si_deliver_calling_ae(const char *path, char *out, size_t size, si_error *err);

/* Whether image `row` goes to d: the modality and LABEL from the row, then,
 * only when those matched and d filters on it, the calling AE title from
 * row->original_path. An original that cannot be read (gone, damaged) has
 * no calling AE title: excluded, with a warning in the log naming it;
 * only running out of memory is an error. */
si_status si_deliver_image_match(const si_dest_config *d, const si_send_image *row, int *match,
                                 si_error *err);

/* ---- the circuit breaker's rules (lib/deliver/breaker.c), pure ---- */

typedef enum si_breaker_verdict {
  SI_BREAKER_RUN,   /* closed: go */
  SI_BREAKER_PROBE, /* the probe: the state becomes half-open, opened_at = now */
  SI_BREAKER_WAIT,  /* open, or another's probe under way: wait until *until_ms */
} si_breaker_verdict;

/* Whether an attempt may start at now_ms. A probe whose worker died (its
 * half-open began over lease_ms ago) is taken over. Updates s for
 * SI_BREAKER_PROBE. */
si_breaker_verdict si_breaker_admit(si_dest_state *s, int64_t now_ms, int probe_seconds,
                                    int64_t lease_ms, int64_t *until_ms);

/* Records an attempt's outcome in s (ok: the type returned SI_OK): the
 * counters, last success or last error, and the breaker: closed after a
 * success; open once `threshold` consecutive attempts failed or when a
 * probe failed. Returns 1 when this attempt opened it. */
int si_breaker_record(si_dest_state *s, int ok, const char *error, int64_t now_ms, int threshold);

#endif
