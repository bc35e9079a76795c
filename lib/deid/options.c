/* The engine's options and reports (sendit/deid.h): defaults, the profile's
 * option names (one table, also used for DeidentificationMethod's text),
 * freeing a report. */
#include <stdlib.h>
#include <string.h>

#include "deid_internal.h"

static const deid_option_name names[] = {
    {"basic", SI_DEID_PROFILE_BASIC},
    {"retain-safe-private", SI_DEID_RETAIN_SAFE_PRIVATE},
    {"retain-uids", SI_DEID_RETAIN_UIDS},
    {"retain-device-identity", SI_DEID_RETAIN_DEVICE_IDENTITY},
    {"retain-institution-identity", SI_DEID_RETAIN_INSTITUTION_IDENTITY},
    {"retain-patient-characteristics", SI_DEID_RETAIN_PATIENT_CHARACTERISTICS},
    {"retain-long-full-dates", SI_DEID_RETAIN_LONG_FULL_DATES},
    {"retain-long-modified-dates", SI_DEID_RETAIN_LONG_MODIFIED_DATES},
    {"clean-descriptors", SI_DEID_CLEAN_DESCRIPTORS},
    {"clean-structured-content", SI_DEID_CLEAN_STRUCTURED_CONTENT},
    {"clean-graphics", SI_DEID_CLEAN_GRAPHICS},
};

const deid_option_name *deid_option_names(size_t *count) {
  *count = sizeof names / sizeof names[0];
  return names;
}

void si_deid_options_init(si_deid_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->profile = SI_DEID_PROFILE_BASIC;
}

void si_deid_report_free(si_deid_report *report) {
  if (!report)
    return;
  for (size_t i = 0; i < report->value_count; i++)
    free(report->values[i].text);
  free(report->values);
  report->values = NULL;
  report->value_count = report->value_capacity = 0;
}

si_status si_deid_profile_parse(const char *text, unsigned *bits, si_error *err) {
  *bits = 0;
  if (!text)
    text = "";
  while (*text == ' ')
    text++;
  if (strcmp(text, "none") == 0)
    return SI_OK;
  const char *p = text;
  int first = 1;
  for (;;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    while (n && p[n - 1] == ' ')
      n--;
    size_t i = 0;
    for (; i < sizeof names / sizeof names[0]; i++)
      if (strlen(names[i].name) == n && memcmp(names[i].name, p, n) == 0)
        break;
    if (i == sizeof names / sizeof names[0])
      return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                          "unknown profile option '%.*s' in '%.100s' (expected basic[,OPTION...])",
                          (int)(n > 64 ? 64 : n), p, text);
    if (first != (names[i].bit == SI_DEID_PROFILE_BASIC))
      return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                          "'%.100s': the profile starts with 'basic', then its options", text);
    *bits |= names[i].bit;
    first = 0;
    if (!end)
      break;
    p = end + 1;
    while (*p == ' ')
      p++;
  }
  if ((*bits & SI_DEID_RETAIN_LONG_FULL_DATES) && (*bits & SI_DEID_RETAIN_LONG_MODIFIED_DATES))
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "'%.100s': retain-long-full-dates and retain-long-modified-dates "
                        "exclude each other",
                        text);
  return SI_OK;
}
