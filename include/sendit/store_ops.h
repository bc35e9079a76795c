/* Queries for the operator commands (status, batch retry): read-mostly
 * looks at the records of sendit/store.h that the pipeline itself never
 * needs, kept apart so the pipeline's store stays small.
 *
 * Ownership: as in store.h, results go into caller-owned structs. */
#ifndef SENDIT_STORE_OPS_H
#define SENDIT_STORE_OPS_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

/* Number of image rows and the sum of their sizes, over all batches. */
si_status si_store_image_totals(si_db *db, int64_t *count, int64_t *bytes, si_error *err);

/* The most recent job of input folder `folder` (= batch uid) that ended
 * "failed". *found is 0 when there is none. */
si_status si_store_job_last_failed(si_db *db, const char *folder, si_job *job, int *found,
                                   si_error *err);

#endif
