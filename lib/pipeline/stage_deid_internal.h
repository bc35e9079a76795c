/* The deid stage's parts (internal to lib/pipeline/stage_deid*.c):
 * stage_deid.c runs a batch (the images, one provider lookup per patient,
 * the outcome); stage_deid_image.c does one image (read, de-identify,
 * write under a temporary name, leak scan, rename); stage_deid_hold.c sets
 * a held image's original aside into quarantine with its reason. */
#ifndef SENDIT_PIPELINE_STAGE_DEID_INTERNAL_H
#define SENDIT_PIPELINE_STAGE_DEID_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/deid.h"
#include "sendit/deid_ids.h"
#include "sendit/deid_recipe.h"
#include "sendit/stages.h"
#include "sendit/store.h"

/* What every image of one run shares. */
typedef struct deid_env {
  si_stage_context *ctx;
  int64_t batch_id;
  const char *batch_uid;
  uint8_t key[SI_DEID_KEY_BYTES];
  si_deid_recipe *recipe; /* NULL: none */
  si_deid_rules rules;
  /* The recipe's rules without its filter, for images an operator
   * released after review. */
  si_deid_rules rules_released;
  si_deid_options opts;
  si_deid_ids *ids;
  /* Output folders this run has swept of temporary files a killed run
   * left (owned strings). */
  char **swept;
  size_t nswept;
} deid_env;

/* One image to de-identify (strings owned by the run's list). */
typedef struct deid_item {
  int64_t image_id;
  char *uid, *storage_path, *original_name, *patient_id, *study_uid;
  char *state;       /* NULL: not decided yet */
  char *output_path; /* the recorded output (done) */
  int released;      /* an operator released it (the review flag is waived) */
} deid_item;

/* The output's file name inside its study's folder: [deid] name_pattern
 * (empty: the engine's rule) applied to the de-identified file. */
si_status si_stage_deid_name(const si_file *file, const si_deid_subject *subject,
                             const char *pattern, char *out, size_t size, si_error *err);

/* What happened to one image. */
typedef enum deid_result { DEID_DONE, DEID_HELD, DEID_FAILED } deid_result;

/* De-identifies one image with `subject` and records the outcome (its own
 * short transaction). *result says which; why[size] the reason when not
 * done. SI_OK unless the attempt must stop (the database failed, the disk
 * is full, the output folder cannot be written): then err says why and the
 * image stays undecided. */
si_status deid_image(deid_env *env, const deid_item *item, const si_deid_subject *subject,
                     deid_result *result, char *why, size_t size, si_error *err);

/* Sets a held or failed image's original aside as a copy into
 * quarantine/<batch>/deid/<image id>/ with a reason.txt, records the entry
 * (once), the batch log line and the image's outcome, in one transaction
 * holding the batch's row (quarantine.h's rule). The original stays. */
si_status deid_hold(deid_env *env, const deid_item *item, const char *state, const char *reason,
                    si_error *err);

#endif
