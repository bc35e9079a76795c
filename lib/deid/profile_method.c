/* What the profile writes after it ran (PS3.15 E.1.1 step 6, E.3.6):
 * Patient Identity Removed YES, De-identification Method (one value per
 * part: the profile, each option, the recipe), De-identification Method
 * Code Sequence with one CID 7050 code per part (scheme DCM), and
 * Longitudinal Temporal Information Modified. Both method attributes are
 * replaced, not appended to, when the input had them. */
#include <stdio.h>
#include <string.h>

#include "profile_internal.h"

#define TAG_IDENTITY_REMOVED SI_TAG(0x0012, 0x0062)
#define TAG_METHOD SI_TAG(0x0012, 0x0063)
#define TAG_METHOD_CODES SI_TAG(0x0012, 0x0064)
#define TAG_LONGITUDINAL SI_TAG(0x0028, 0x0303)
#define TAG_CODE_VALUE SI_TAG(0x0008, 0x0100)
#define TAG_CODING_SCHEME SI_TAG(0x0008, 0x0102)
#define TAG_CODE_MEANING SI_TAG(0x0008, 0x0104)

/* CID 7050 De-identification Method (PS3.16), in the options' bit order. */
static const struct {
  unsigned bit;
  const char *code, *meaning;
} codes[] = {
    {SI_DEID_PROFILE_BASIC, "113100", "Basic Application Confidentiality Profile"},
    {SI_DEID_RETAIN_SAFE_PRIVATE, "113111", "Retain Safe Private Option"},
    {SI_DEID_RETAIN_UIDS, "113110", "Retain UIDs Option"},
    {SI_DEID_RETAIN_DEVICE_IDENTITY, "113109", "Retain Device Identity Option"},
    {SI_DEID_RETAIN_INSTITUTION_IDENTITY, "113112", "Retain Institution Identity Option"},
    {SI_DEID_RETAIN_PATIENT_CHARACTERISTICS, "113108", "Retain Patient Characteristics Option"},
    {SI_DEID_RETAIN_LONG_FULL_DATES, "113106",
     "Retain Longitudinal Temporal Information Full Dates Option"},
    {SI_DEID_RETAIN_LONG_MODIFIED_DATES, "113107",
     "Retain Longitudinal Temporal Information Modified Dates Option"},
    {SI_DEID_CLEAN_DESCRIPTORS, "113105", "Clean Descriptors Option"},
    {SI_DEID_CLEAN_STRUCTURED_CONTENT, "113104", "Clean Structured Content Option"},
    {SI_DEID_CLEAN_GRAPHICS, "113103", "Clean Graphics Option"},
};

/* Appends one LO value (at most 64 characters, no backslash) to buf. */
static void append_value(char *buf, size_t size, const char *value) {
  size_t pos = strlen(buf);
  if (pos && pos + 1 < size)
    buf[pos++] = '\\';
  for (size_t i = 0; value[i] && i < 64 && pos + 1 < size; i++) {
    unsigned char ch = (unsigned char)value[i];
    buf[pos++] = ch == '\\' || ch < 0x20 ? '/' : (char)ch;
  }
  buf[pos] = 0;
}

si_status deid_write_method(deid_profile *p, si_error *err) {
  si_deid_run *run = p->run;
  si_file *file = run->file;
  si_dataset *ds = si_file_dataset_mut(file);
  si_status st = si_ds_set_text(file, ds, TAG_IDENTITY_REMOVED, "YES", err);
  if (st != SI_OK)
    return st;
  char method[2048] = "";
  if (run->opts->method) {
    snprintf(method, sizeof method, "%s", run->opts->method);
  } else {
    append_value(method, sizeof method, "sendit: PS3.15 Basic Profile");
    size_t n;
    const deid_option_name *names = deid_option_names(&n);
    for (size_t i = 1; i < n; i++)
      if (p->bits & names[i].bit)
        append_value(method, sizeof method, names[i].name);
    if (run->opts->rules && run->opts->rules->name)
      append_value(method, sizeof method, run->opts->rules->name);
  }
  if ((st = si_ds_set_text(file, ds, TAG_METHOD, method, err)) != SI_OK)
    return st;
  size_t count = 0;
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    count += (p->bits & codes[i].bit) != 0;
  si_dataset **items;
  if ((st = si_ds_set_sequence(file, ds, TAG_METHOD_CODES, count, &items, err)) != SI_OK)
    return st;
  size_t k = 0;
  for (size_t i = 0; i < sizeof codes / sizeof codes[0] && st == SI_OK; i++) {
    if (!(p->bits & codes[i].bit))
      continue;
    si_dataset *item = items[k++];
    st = si_ds_set_text(file, item, TAG_CODE_VALUE, codes[i].code, err);
    if (st == SI_OK)
      st = si_ds_set_text(file, item, TAG_CODING_SCHEME, "DCM", err);
    if (st == SI_OK)
      st = si_ds_set_text(file, item, TAG_CODE_MEANING, codes[i].meaning, err);
  }
  if (st != SI_OK)
    return st;
  const char *temporal = p->bits & SI_DEID_RETAIN_LONG_FULL_DATES       ? "UNMODIFIED"
                         : p->bits & SI_DEID_RETAIN_LONG_MODIFIED_DATES ? "MODIFIED"
                                                                        : "REMOVED";
  return si_ds_set_text(file, ds, TAG_LONGITUDINAL, temporal, err);
}
