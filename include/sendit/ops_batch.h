/* A batch's record as JSON, one builder for `sendit batches --json`,
 * `sendit batch show --json` (its "batch"), GET /api/batches and
 * GET /api/batches/{uid}:
 *   {"uid", "status", "has_error", "reopened", "images", "size_bytes",
 *    "skipped", "quarantined", "created", "updated", "started", "finished",
 *    "elapsed_seconds", "qa"}
 * Times are ISO-8601 UTC to the millisecond or null when unset;
 * elapsed_seconds is null until the batch finished; qa is the stored
 * metrics object, or null when there is none (or it is not an object).
 * The web adds its links ("url", "images_url") after these.
 *
 * To add a field: add it here; every caller shows it.
 *
 * Ownership: db and b are borrowed for the call (db is read only for a qa
 * too long for the record: ops_batch_qa); the result is a new object the
 * caller owns (NULL when out of memory). */
#ifndef SENDIT_OPS_BATCH_H
#define SENDIT_OPS_BATCH_H

#include <jansson.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

json_t *ops_batch_json(si_db *db, const si_batch *b);

/* The batch's qa as a JSON object, or NULL when it has none or it is not
 * an object: from b->qa, or, when that could not hold it (b->qa_cut), read
 * whole from `db` (which may then be NULL only at the price of a NULL).
 * The result is a new reference the caller owns. */
json_t *ops_batch_qa(si_db *db, const si_batch *b);

/* The batch's stage timeline (table batch_stage), one builder for the
 * "stages" member of `sendit batch show --json`'s "batch" and of
 * GET /api/batches/{uid}, which the CLI's text and the batch page show
 * too: an array with one entry per stage, in the order they began,
 *   {"stage", "state", "attempts", "queued", "started", "finished",
 *    "last_error"}
 * state is "queued", "running", "done" or "failed"; times as above (null
 * when not yet); last_error is null when none. An empty array for a batch
 * with no stage row yet (an import still queued or running) or no such
 * batch. NULL with err set when the database fails or memory runs out.
 * The result is a new array the caller owns. */
json_t *ops_batch_stages_json(si_db *db, const char *uid, si_error *err);

/* The batch's de-identification state (the deid stage's outcomes, table
 * image_deid), one builder for the "deid" member of `sendit batch show
 * --json`'s "batch" and of GET /api/batches/{uid}, which the CLI's text
 * and the batch page show too:
 *   {"done", "held", "failed", "pending", "folder", "problems"}
 * counts of the batch's images by outcome (pending: not decided yet, or
 * released for another run), folder the configured [deid] folder (the
 * outputs are in folder/<study code>/), and problems one entry per held,
 * failed or released image, by PatientID and study:
 *   {"image_id", "uid", "file", "state", "reason", "quarantine_path"}
 * (the original's SOPInstanceUID and file name; quarantine_path the copy
 * of a held one, else null). JSON null when the stage is not enabled
 * (`enabled` 0) and decided nothing for the batch. NULL with err set when
 * the database fails or memory runs out. The result is the caller's. */
json_t *ops_batch_deid_json(si_db *db, const si_batch *b, const char *folder, int enabled,
                            si_error *err);

#endif
