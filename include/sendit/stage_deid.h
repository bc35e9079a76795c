/* The deid stage (issue 14, README "The deid stage"): a stage kind of
 * sendit/stages.h that de-identifies every image of a batch into
 * [deid] folder/<study code>/<name> with the engine (sendit/deid.h), the
 * pseudonym provider of [deid] identifiers (sendit/deid_ids.h) and the leak
 * scan (sendit/deid_verify.h), recording each image's outcome
 * (sendit/store_deid_stage.h). Held images (a leak, a recipe's filter,
 * BurnedInAnnotation YES) are copied into quarantine with their reason and
 * never passed on; originals stay in storage.
 *
 * Ownership: everything is borrowed for the call. */
#ifndef SENDIT_STAGE_DEID_H
#define SENDIT_STAGE_DEID_H

#include <stddef.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/deid_ids.h"
#include "sendit/error.h"
#include "sendit/stages.h"

/* The stage's run (si_stage_run_fn). An attempt fails (and is tried again
 * after the backoff) when the key, the recipe or the provider cannot be
 * used or the disk refuses an output; it fails for good (ctx->give_up)
 * when every image of the batch is held or failed. A lost lease or a
 * failed database returns its status (the job runs again). */
si_status si_stage_deid_run(si_stage_context *ctx, const si_job *job, int *failed, char *error,
                            size_t size, si_error *err);

/* The pseudonym provider [deid] identifiers names (local: the table in db;
 * http: the service at [deid] url), for the stage's run; free it with
 * si_deid_ids_free. */
si_status si_stage_deid_ids_open(const si_config *cfg, si_db *db, si_deid_ids **out, si_error *err);

#endif
