/* The deid stage's records over si_db (issue 14): what the stage decided
 * for each image of a batch (table image_deid, schema.c migration 6), read
 * back by the stage on a re-run and by the operator surfaces.
 *
 * An image's outcome is one of:
 *   "done"   de-identified: its copy is at output_path, its new UIDs are
 *            recorded (and the recipe filter's LABEL that matched it, in
 *            reason), the image is DONEPROCESSING;
 *   "held"   set aside for review (a leak found by the scan, a recipe's
 *            filter, BurnedInAnnotation YES): a copy of the original is at
 *            quarantine_path, the image is SI_IMAGE_ERROR, never passed on;
 *   "failed" could not be de-identified (the original unreadable, an action
 *            that does not apply): the image is SI_IMAGE_ERROR;
 *   "released" an operator released a held image (si_store_deid_stage_release):
 *            the next run of the stage de-identifies it without the review
 *            flag (the leak scan still runs).
 * An image without a row has not been decided yet.
 *
 * Ownership: strings are borrowed for the call; rows given to callbacks are
 * borrowed for the callback. */
#ifndef SENDIT_STORE_DEID_STAGE_H
#define SENDIT_STORE_DEID_STAGE_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

#define SI_DEID_DONE "done"
#define SI_DEID_HELD "held"
#define SI_DEID_FAILED "failed"
#define SI_DEID_RELEASED "released"

/* One image of a batch as the stage sees it: the image's own columns and
 * its image_deid row (state NULL when none). */
typedef struct si_deid_image {
  int64_t image_id;
  const char *uid, *status, *storage_path, *original_name, *patient_id, *study_uid;
  const char *state, *reason, *output_path, *quarantine_path;
  const char *deid_sop_uid, *deid_study_uid, *deid_series_uid;
} si_deid_image;
typedef int (*si_deid_image_fn)(void *user, const si_deid_image *row);

/* The images of batch `batch_id` (not NEW), by PatientID, StudyInstanceUID
 * and id; fn returns non-zero to stop. only_undone: only those with a row
 * that is not done (the held, failed and released), for the surfaces. */
si_status si_store_deid_stage_images(si_db *db, int64_t batch_id, int only_undone,
                                     si_deid_image_fn fn, void *user, si_error *err);

/* What the stage decided for one image. */
typedef struct si_deid_outcome {
  int64_t image_id, batch_id;
  const char *state; /* SI_DEID_* */
  /* held, failed: why; done: the recipe filter's "filter whitelist: LABEL"
   * (for a released image the "filter SECTION: LABEL" that held it) when
   * one matched, else NULL (the destinations' filter_labels read it) */
  const char *reason;
  const char *sop_uid, *study_uid, *series_uid, *output_path; /* done: the new ones */
  const char *quarantine_path;                                /* held: the copy */
} si_deid_outcome;

/* Writes the image's row (replacing one there) and sets the image's status
 * (DONEPROCESSING for done, SI_IMAGE_ERROR for held and failed). Inside the
 * caller's transaction. SI_ERR_STATE when another image already has that
 * output_path. */
si_status si_store_deid_stage_record(si_db *db, const si_deid_outcome *outcome, si_error *err);

/* Whether output_path is recorded for an image other than image_id. */
si_status si_store_deid_stage_output_taken(si_db *db, const char *output_path, int64_t image_id,
                                           int *taken, si_error *err);

/* Counts of a batch's images by outcome; pending = images without a row or
 * released. */
typedef struct si_deid_counts {
  int64_t done, held, failed, pending;
} si_deid_counts;
si_status si_store_deid_stage_counts(si_db *db, int64_t batch_id, si_deid_counts *out,
                                     si_error *err);

/* An operator's release of held image `image_id` of batch `batch_uid`
 * (reviewed: pass it on): its row becomes released, so that the next run
 * of the stage de-identifies it. *changed 0 when it was not held. Inside
 * the caller's transaction. */
si_status si_store_deid_stage_release(si_db *db, const char *batch_uid, int64_t image_id,
                                      int *changed, si_error *err);

#endif
