/* The profile's actions on values (profile_internal.h): dummies consistent
 * with the VR, empty values, remapped UIDs, shifted dates, capped ages, and
 * recording what identified someone for the leak scan. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "profile_internal.h"

/* Tags whose values identify a person or place whatever their VR. */
static const uint32_t identifying[] = {
    SI_TAG(0x0008, 0x0050), /* AccessionNumber */
    SI_TAG(0x0008, 0x0080), /* InstitutionName */
    SI_TAG(0x0008, 0x0081), /* InstitutionAddress */
    SI_TAG(0x0008, 0x0092), /* ReferringPhysicianAddress */
    SI_TAG(0x0008, 0x0094), /* ReferringPhysicianTelephoneNumbers */
    SI_TAG(0x0008, 0x1010), /* StationName */
    SI_TAG(0x0008, 0x1040), /* InstitutionalDepartmentName */
    SI_TAG(0x0010, 0x0020), /* PatientID */
    SI_TAG(0x0010, 0x0021), /* IssuerOfPatientID */
    SI_TAG(0x0010, 0x0030), /* PatientBirthDate */
    SI_TAG(0x0010, 0x1000), /* OtherPatientIDs */
    SI_TAG(0x0010, 0x1040), /* PatientAddress */
    SI_TAG(0x0010, 0x2154), /* PatientTelephoneNumbers */
    SI_TAG(0x0010, 0x2155), /* PatientTelecomInformation */
    SI_TAG(0x0018, 0x1000), /* DeviceSerialNumber */
    SI_TAG(0x0020, 0x0010), /* StudyID */
    SI_TAG(0x0038, 0x0010), /* AdmissionID */
    SI_TAG(0x0040, 0x2016), /* PlacerOrderNumberImagingServiceRequest */
    SI_TAG(0x0040, 0x2017), /* FillerOrderNumberImagingServiceRequest */
};

int deid_is_identifying_tag(uint32_t tag) {
  for (size_t i = 0; i < sizeof identifying / sizeof identifying[0]; i++)
    if (identifying[i] == tag)
      return 1;
  return 0;
}

si_status deid_record_element(deid_profile *p, const si_dataset *ds, const si_element *el,
                              int force, si_error *err) {
  int private_ = SI_TAG_GROUP(el->tag) & 1;
  int kind = el->vr == SI_VR_PN || (!private_ && (el->vr == SI_VR_DA || el->vr == SI_VR_DT));
  if (!force && !kind && (private_ || !deid_is_identifying_tag(el->tag)))
    return SI_OK;
  if (!el->value || !el->value_len || !si_vr_is_string(el->vr))
    return SI_OK;
  char *text = NULL;
  size_t n = 0;
  si_error ignored;
  if (si_get_string_n(ds, el->tag, SIZE_MAX, &text, &n, &ignored) != SI_OK)
    return deid_record_value(p->run, el->tag, (const char *)el->value, el->value_len, err);
  /* Each value of a multi-valued element is what a copy would hold. */
  si_status st = SI_OK;
  size_t start = 0;
  for (size_t i = 0; i <= n && st == SI_OK; i++)
    if (i == n || text[i] == '\\') {
      st = deid_record_value(p->run, el->tag, text + start, i - start, err);
      start = i + 1;
    }
  free(text);
  return st;
}

/* A dummy per VR: valid for the VR, obviously not a real value. */
static const char *dummy_text(si_vr vr) {
  switch (vr) {
  case SI_VR_AS:
    return "000Y";
  case SI_VR_DA:
    return "19000101";
  case SI_VR_DT:
    return "19000101000000";
  case SI_VR_TM:
    return "000000";
  case SI_VR_DS:
  case SI_VR_IS:
    return "0";
  case SI_VR_UR:
    return "urn:anonymized";
  default:
    return "ANONYMIZED";
  }
}

si_status deid_set_dummy(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err) {
  si_deid_run *run = p->run;
  uint32_t tag = el->tag;
  si_vr vr = el->vr;
  if (vr == SI_VR_UI)
    return deid_remap_uids(p, ds, el, err);
  if (vr == SI_VR_SQ)
    return deid_set_empty(p, ds, el, err);
  si_status st = deid_record_element(p, ds, el, 0, err);
  if (st != SI_OK)
    return st;
  run->report->replaced++;
  if (si_vr_is_string(vr) && vr != SI_VR_UN)
    return si_ds_set_text(run->file, ds, tag, dummy_text(vr), err);
  static const uint8_t zeros[8];
  size_t unit = si_vr_unit_size(vr);
  if (vr == SI_VR_AT)
    unit = 4;
  if (!unit || unit > sizeof zeros)
    unit = sizeof zeros; /* OB OW OF OD OL OV UN: a multiple of every unit */
  return si_ds_set_bytes(run->file, ds, tag, vr == SI_VR_NONE ? SI_VR_UN : vr, zeros, unit, err);
}

si_status deid_set_empty(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err) {
  si_deid_run *run = p->run;
  uint32_t tag = el->tag;
  if (el->vr == SI_VR_SQ) {
    run->report->emptied++;
    return si_ds_set_sequence(run->file, ds, tag, 0, NULL, err);
  }
  if (!el->value_len && !(el->flags & SI_ELEM_VALUE_SKIPPED))
    return SI_OK;
  si_status st = deid_record_element(p, ds, el, 0, err);
  if (st != SI_OK)
    return st;
  run->report->emptied++;
  si_vr vr = el->vr == SI_VR_NONE ? SI_VR_UN : el->vr;
  return si_ds_set_bytes(run->file, ds, tag, vr, NULL, 0, err);
}

si_status deid_remap_uids(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err) {
  si_deid_run *run = p->run;
  if (!el->value_len)
    return SI_OK;
  if (!run->opts->key)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, el->tag,
                        "UIDs are remapped but no de-identification key was given");
  si_status st = deid_record_element(p, ds, el, 1, err);
  if (st != SI_OK)
    return st;
  /* Values of up to 64 characters become 44 at most: the result fits. */
  char out[66 * 16], one[65];
  size_t pos = 0, start = 0;
  const char *v = (const char *)el->value;
  size_t n = el->value_len;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && v[i] != '\\')
      continue;
    if (pos + 66 >= sizeof out)
      return si_error_set(err, SI_ERR_LIMIT, NULL, SI_NO_OFFSET, el->tag,
                          "too many UIDs in one element to remap");
    if (start)
      out[pos++] = '\\';
    size_t len = i - start;
    while (len && (v[start + len - 1] == 0 || v[start + len - 1] == ' '))
      len--;
    if (len) {
      si_deid_uid_remap(run->opts->key, v + start, len, one);
      size_t m = strlen(one);
      memcpy(out + pos, one, m);
      pos += m;
    }
    start = i + 1;
  }
  out[pos] = 0;
  run->report->uids_remapped++;
  return si_ds_set_text(run->file, ds, el->tag, out, err);
}

si_status deid_shift_element(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err) {
  si_deid_run *run = p->run;
  if (!el->value_len)
    return SI_OK;
  char out[512];
  si_error why;
  int32_t days = run->subject ? run->subject->day_shift : 0;
  uint32_t tag = el->tag;
  si_status st = deid_record_element(p, ds, el, 0, err);
  if (st != SI_OK)
    return st;
  if (deid_shift_date(el->vr, (const char *)el->value, el->value_len, days, out, sizeof out,
                      &why) != SI_OK) {
    /* Not a date we can shift: it must not stay as it was. */
    run->report->emptied++;
    return si_ds_set_bytes(run->file, ds, tag, el->vr, NULL, 0, err);
  }
  run->report->dates_shifted++;
  return si_ds_set_text(run->file, ds, tag, out, err);
}

si_status deid_cap_age(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err) {
  const char *v = (const char *)el->value;
  if (el->vr != SI_VR_AS || el->value_len < 4 || v[3] != 'Y' || !isdigit((unsigned char)v[0]) ||
      !isdigit((unsigned char)v[1]) || !isdigit((unsigned char)v[2]))
    return SI_OK;
  int years = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
  if (years < 90)
    return SI_OK;
  p->run->report->replaced++;
  return si_ds_set_text(p->run->file, ds, el->tag, "090Y", err);
}

static int contains_ci(const char *hay, size_t n, const char *needle) {
  size_t m = strlen(needle);
  for (size_t i = 0; i + m <= n; i++) {
    size_t k = 0;
    while (k < m && tolower((unsigned char)hay[i + k]) == (unsigned char)needle[k])
      k++;
    if (k == m)
      return 1;
  }
  return 0;
}

int deid_text_identifies(const deid_profile *p, const si_dataset *ds, const si_element *el) {
  if (!p->ids.count || !el->value_len)
    return 0;
  char *text = NULL;
  size_t n = 0;
  si_error ignored;
  if (si_get_string_n(ds, el->tag, SIZE_MAX, &text, &n, &ignored) != SI_OK)
    return 1; /* cannot read it: cannot call it clean */
  int hit = 0;
  for (size_t i = 0; i < p->ids.count && !hit; i++)
    hit = contains_ci(text, n, p->ids.text[i]);
  free(text);
  return hit;
}
