/* Delivery as the operators see it (issue 16): one builder of JSON for
 * `sendit destinations --json` and GET /api/destinations, one for the
 * per-destination counts of a batch (`sendit batch show --json`, GET
 * /api/batches/{uid}), and the resend rule that `sendit batch resend` uses
 * (as sendit/batch_retry.h is the retry rule of the CLI and the web).
 *
 * Ownership: returned JSON is the caller's (json_decref); NULL with err
 * set on a database failure or out of memory. */
#ifndef SENDIT_OPS_DEST_H
#define SENDIT_OPS_DEST_H

#include <jansson.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/error.h"

/* {"destinations": [{name, type, source, state, breaker, consecutive_failures,
 * opened, queue: {queued, running}, pending, sent, failed, attempts,
 * failed_attempts, last_success, last_error, last_error_at}]}, in the
 * configuration's order. state: "down" (breaker open), "probing"
 * (half-open), "sending" (a job running), "waiting" (jobs queued), "idle". */
json_t *ops_destinations_json(si_db *db, const si_config *cfg, si_error *err);

/* [{name, pending, sent, failed}] of batch `batch_id`'s ledger, by name. */
json_t *ops_batch_destinations_json(si_db *db, int64_t batch_id, si_error *err);

typedef struct si_resend_result {
  int found;         /* 0: no such batch */
  int unknown;       /* `to` names no configured destination */
  size_t queued;     /* send jobs queued (or queued already) */
  char message[600]; /* what happened, for people */
} si_resend_result;

/* `sendit batch resend UID [--to NAME]`: for each destination (only `to`
 * when given) that takes the batch's images, its ledger rows back to
 * pending and a send job queued; the batch back in delivery (PROCESSING or
 * DONEPROCESSING), in one transaction. SI_OK with the result filled; other
 * statuses: the database failed (nothing changed). */
si_status ops_batch_resend(si_db *db, const si_config *cfg, const char *uid, const char *to,
                           si_resend_result *out, si_error *err);

#endif
