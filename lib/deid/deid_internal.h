/* Shared by lib/deid's files (not public). The engine (engine.c) runs the
 * steps of sendit/deid.h; the recipe's actions (recipe_apply.c) and the
 * profile (profile.c) decide elements through the primitives below, so that
 * one rule of UID remapping, date shifting and recording replaced values
 * lives in one place. */
#ifndef SENDIT_DEID_INTERNAL_H
#define SENDIT_DEID_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/deid.h"
#include "sendit/dicom.h"

/* What one run of si_deid_apply carries from step to step. */
struct si_deid_run {
  si_file *file;
  const si_deid_options *opts;
  const si_deid_subject *subject;
  si_deid_report *report;
  /* Elements a recipe decided (KEEP included), which the profile leaves
   * alone: the set is keyed by (data set, tag); see deid_decided_*. */
  void *decided;
};

/* Marks / asks whether (ds, tag) was decided by the recipe. */
si_status deid_decided_mark(si_deid_run *run, const si_dataset *ds, uint32_t tag, si_error *err);
int deid_decided_has(const si_deid_run *run, const si_dataset *ds, uint32_t tag);

/* Records an identifying value that was removed or replaced (for the leak
 * scan); empty values are not recorded. */
si_status deid_record_value(si_deid_run *run, uint32_t tag, const char *text, size_t len,
                            si_error *err);

/* A DA or DT value shifted by `days` into out (the same form as the input:
 * a DT keeps its time and offset). SI_ERR_VALUE when it is not a date. */
si_status deid_shift_date(si_vr vr, const char *value, size_t len, int32_t days, char *out,
                          size_t size, si_error *err);

/* Frees the decided set (the engine, at the end of a run). */
void deid_decided_free(si_deid_run *run);

/* The profile's option names ("basic", "retain-uids", ...) and their bits,
 * in Table E.1-1's column order (options.c). */
typedef struct deid_option_name {
  const char *name;
  unsigned bit;
} deid_option_name;
const deid_option_name *deid_option_names(size_t *count);

/* Whether the private element (group, xxEE) of the block that `creator`
 * reserves is on the safe list (safe_private.c, PS3.15 Table E.3.10-1), and
 * whether a creator in group has any safe element (its creator element is
 * then kept with them). creator is len bytes without padding. */
int deid_safe_private(uint16_t group, uint8_t element, const char *creator, size_t len);
int deid_safe_private_creator(uint16_t group, const char *creator, size_t len);

/* Applies the profile's actions to every element not decided (profile.c),
 * then writes PatientIdentityRemoved and the method. */
si_status deid_profile_apply(si_deid_run *run, si_error *err);
#endif
