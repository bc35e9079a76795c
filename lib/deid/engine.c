/* si_deid_apply (sendit/deid.h): the steps in their order. An image to be
 * reviewed (a recipe's filter, BurnedInAnnotation YES) is left exactly as
 * it was and reported flagged: pixel data is not cleaned, so an image with
 * text burned in is not de-identified silently. */
#include <stdio.h>
#include <string.h>

#include "deid_internal.h"

#define TAG_BURNED_IN SI_TAG(0x0028, 0x0301)
#define TAG_STUDY_UID SI_TAG(0x0020, 0x000D)
#define TAG_SERIES_UID SI_TAG(0x0020, 0x000E)
#define TAG_SOP_UID SI_TAG(0x0008, 0x0018)

static int burned_in(const si_dataset *ds) {
  const si_element *el = si_dataset_find(ds, TAG_BURNED_IN);
  if (!el || !el->value)
    return 0;
  size_t n = el->value_len;
  const uint8_t *v = el->value;
  while (n && (v[n - 1] == ' ' || v[n - 1] == 0))
    n--;
  while (n && *v == ' ')
    v++, n--;
  return n == 3 && memcmp(v, "YES", 3) == 0;
}

static void new_uid(const si_dataset *ds, uint32_t tag, char out[65]) {
  si_error ignored;
  if (si_get_uid(ds, tag, out, &ignored) != SI_OK)
    out[0] = 0;
}

si_status si_deid_apply(si_file *file, const si_deid_options *opts, const si_deid_subject *subject,
                        si_deid_report *report, si_error *err) {
  if (!file || !opts || !report)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "si_deid_apply needs a file, options and a report");
  memset(report, 0, sizeof *report);
  const si_dataset *top = si_file_dataset(file);
  if (burned_in(top)) {
    report->flagged = 1;
    snprintf(report->flag_reason, sizeof report->flag_reason, "BurnedInAnnotation is YES");
    return SI_OK;
  }
  const si_deid_rules *rules = opts->rules;
  if (rules && rules->filter) {
    int flagged = 0;
    si_status st = rules->filter(rules->self, file, &flagged, report->flag_reason,
                                 sizeof report->flag_reason, err);
    if (st != SI_OK)
      return st;
    if (flagged) {
      report->flagged = 1;
      return SI_OK;
    }
    report->flag_reason[0] = 0;
  }
  si_deid_run run = {.file = file, .opts = opts, .subject = subject, .report = report};
  si_status st = SI_OK;
  if (rules && rules->apply)
    st = rules->apply(rules->self, &run, err);
  if (st == SI_OK)
    st = deid_profile_apply(&run, err);
  deid_decided_free(&run);
  if (st != SI_OK)
    return st;
  top = si_file_dataset(file);
  new_uid(top, TAG_STUDY_UID, report->study_uid);
  new_uid(top, TAG_SERIES_UID, report->series_uid);
  new_uid(top, TAG_SOP_UID, report->sop_uid);
  return SI_OK;
}
