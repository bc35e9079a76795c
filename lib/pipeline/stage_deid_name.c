/* The de-identified file's name: the engine's rule (si_deid_output_name,
 * shared with `sendit deid`), so that a study's files get the same names
 * whichever wrote them. See stage_deid_internal.h. */
#include "stage_deid_internal.h"

si_status si_stage_deid_name(const si_file *file, const si_deid_subject *subject,
                             const char *pattern, char *out, size_t size, si_error *err) {
  return si_deid_output_name(file, pattern && pattern[0] ? pattern : NULL, subject->study_code,
                             subject->patient_code, out, size, err);
}
