/* The PS3.15 Basic Profile and each option (Table E.1-1 rows), the
 * pseudonyms, UID remapping at every depth and in the meta, dates, ages,
 * private elements and the safe list, overlays and curves, the method
 * attributes, flags (BurnedInAnnotation, a rules filter) and rules that
 * decide elements before the profile. Data sets are built with si_file_new
 * and sendit/edit.h, so the test needs no files; then written and read back. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/deid_internal.h"
#include "deid/profile_table.h"
#include "sendit/edit.h"
#include "sendit/write.h"

#define T(g, e) SI_TAG(0x##g, 0x##e)

static const uint8_t key[SI_DEID_KEY_BYTES] = {42, 1, 2, 3};
static const si_deid_subject subject = {"PCODE12345", "SCODE67890", -10};

static const char *STUDY_UID = "1.2.840.99999.1.1";
static const char *SOP_UID = "1.2.840.99999.1.1.2.3";
static const char *REF_UID = "1.2.840.99999.1.1.2.4";

static void set(si_file *f, si_dataset *ds, uint32_t tag, const char *v) {
  si_error err;
  if (si_ds_set_text(f, ds, tag, v, &err) != SI_OK)
    fail_msg("(%04X,%04X) = '%s': %s", tag >> 16, tag & 0xFFFF, v, err.message);
}

static si_file *build(void) {
  si_file *f;
  si_error err;
  assert_int_equal(si_file_new(&f, &err), SI_OK);
  si_dataset *ds = si_file_dataset_mut(f);
  set(f, si_file_meta_mut(f), T(0002, 0003), SOP_UID);
  set(f, si_file_meta_mut(f), T(0002, 0016), "HOSPITAL_AE");
  set(f, ds, T(0008, 0016), "1.2.840.10008.5.1.4.1.1.2");
  set(f, ds, T(0008, 0018), SOP_UID);
  set(f, ds, T(0008, 0020), "20240315");
  set(f, ds, T(0008, 0021), "20240315");
  set(f, ds, T(0008, 0023), "20240315");
  set(f, ds, T(0008, 002A), "20240301123456.5+0100");
  set(f, ds, T(0008, 0030), "101500");
  set(f, ds, T(0008, 0050), "ACC998877");
  set(f, ds, T(0008, 0060), "CT");
  set(f, ds, T(0008, 0080), "St Elsewhere Hospital");
  set(f, ds, T(0008, 0090), "House^Gregory");
  set(f, ds, T(0008, 1010), "CTSTATION7");
  set(f, ds, T(0008, 1030), "CT CHEST");
  set(f, ds, T(0008, 103E), "follow-up for Doe");
  set(f, ds, T(0010, 0010), "Doe^John");
  set(f, ds, T(0010, 0020), "MRN123456");
  set(f, ds, T(0010, 0030), "19280704");
  set(f, ds, T(0010, 0040), "M");
  set(f, ds, T(0010, 1010), "095Y");
  set(f, ds, T(0010, 1030), "80");
  set(f, ds, T(0010, 1040), "1 Main Street, Springfield");
  set(f, ds, T(0018, 0015), "CHEST");
  set(f, ds, T(0018, 1000), "SN-4711");
  set(f, ds, T(0020, 000D), STUDY_UID);
  set(f, ds, T(0020, 0010), "S42");
  set(f, ds, T(0020, 0013), "7");
  set(f, ds, T(0019, 0010), "GEMS_ACQU_01");
  set(f, ds, T(0019, 1023), "12.5");
  set(f, ds, T(0019, 1030), "Doe^John");
  set(f, ds, T(0029, 0010), "ACME PRIVATE");
  set(f, ds, T(0029, 1001), "MRN123456");
  uint16_t rows = 4;
  assert_int_equal(si_ds_set_bytes(f, ds, T(6000, 0010), SI_VR_US, &rows, 2, &err), SI_OK);
  uint8_t bits[8] = {0xFF};
  assert_int_equal(si_ds_set_bytes(f, ds, T(6000, 3000), SI_VR_OW, bits, 8, &err), SI_OK);
  assert_int_equal(si_ds_set_bytes(f, ds, T(5000, 3000), SI_VR_OW, bits, 8, &err), SI_OK);
  /* References three deep: ReferencedImageSequence (X/Z/U*) in a
   * ReferencedSeriesSequence item... and an SR content tree (D). */
  si_dataset **series, **images, **content, **inner;
  assert_int_equal(si_ds_set_sequence(f, ds, T(0008, 1115), 1, &series, &err), SI_OK);
  assert_int_equal(si_ds_set_sequence(f, series[0], T(0008, 1140), 1, &images, &err), SI_OK);
  set(f, images[0], T(0008, 1150), "1.2.840.10008.5.1.4.1.1.2");
  set(f, images[0], T(0008, 1155), REF_UID);
  set(f, series[0], T(0020, 000E), "1.2.840.99999.1.1.2");
  assert_int_equal(si_ds_set_sequence(f, ds, T(0040, A730), 2, &content, &err), SI_OK);
  set(f, content[0], T(0040, A160), "Patient John Doe seen");
  set(f, content[1], T(0040, A160), "No acute findings");
  assert_int_equal(si_ds_set_sequence(f, content[1], T(0040, A730), 1, &inner, &err), SI_OK);
  set(f, inner[0], T(0040, A123), "Watson^John");
  set(f, inner[0], T(0040, A124), REF_UID);
  return f;
}

typedef struct result {
  si_file *file; /* written and read back */
  si_deid_report report;
} result;

static void apply(unsigned bits, int keep_times, result *r) {
  si_file *f = build();
  si_deid_options o;
  si_deid_options_init(&o);
  o.profile = bits;
  o.key = key;
  o.keep_times = keep_times;
  si_error err;
  if (si_deid_apply(f, &o, &subject, &r->report, &err) != SI_OK)
    fail_msg("apply: %s", err.message);
  uint8_t *b;
  size_t n;
  if (si_write_part10_memory(f, NULL, &b, &n, &err) != SI_OK)
    fail_msg("write: %s", err.message);
  si_file_free(f);
  if (si_read_memory(b, n, "deid", NULL, &r->file, &err) != SI_OK)
    fail_msg("read back: %s", err.message);
  free(b);
}

static void done(result *r) {
  si_file_free(r->file);
  si_deid_report_free(&r->report);
}

static char *str(const si_dataset *ds, uint32_t tag) {
  char *s = NULL;
  si_error err;
  return si_get_string(ds, tag, SIZE_MAX, &s, &err) == SI_OK ? s : NULL;
}

static void is(const si_dataset *ds, uint32_t tag, const char *want) {
  char *s = str(ds, tag);
  if (!s)
    fail_msg("(%04X,%04X) absent, want '%s'", tag >> 16, tag & 0xFFFF, want);
  if (strcmp(s, want) != 0)
    fail_msg("(%04X,%04X) is '%s', want '%s'", tag >> 16, tag & 0xFFFF, s, want);
  free(s);
}

static void absent(const si_dataset *ds, uint32_t tag) {
  if (si_dataset_find(ds, tag))
    fail_msg("(%04X,%04X) should be gone", tag >> 16, tag & 0xFFFF);
}

static void empty(const si_dataset *ds, uint32_t tag) {
  const si_element *el = si_dataset_find(ds, tag);
  if (!el || el->value_len || el->item_count)
    fail_msg("(%04X,%04X) should be present and empty", tag >> 16, tag & 0xFFFF);
}

static const char *remapped(const char *uid) {
  static char out[4][65];
  static int next;
  char *o = out[next++ % 4];
  si_deid_uid_remap(key, uid, strlen(uid), o);
  return o;
}

static int recorded(const si_deid_report *r, const char *text) {
  for (size_t i = 0; i < r->value_count; i++)
    if (strcmp(r->values[i].text, text) == 0)
      return 1;
  return 0;
}

static int has_code(const si_dataset *ds, const char *code) {
  const si_element *seq = si_dataset_find(ds, T(0012, 0064));
  for (size_t i = 0; seq && i < seq->item_count; i++) {
    char *v = str(seq->items[i], T(0008, 0100));
    int hit = v && strcmp(v, code) == 0;
    if (hit) {
      char *scheme = str(seq->items[i], T(0008, 0102));
      assert_string_equal(scheme, "DCM");
      free(scheme);
    }
    free(v);
    if (hit)
      return 1;
  }
  return 0;
}

static void test_table(void **state) {
  (void)state;
  assert_int_equal(deid_profile_row_count + deid_profile_masked_row_count, 621);
  for (size_t i = 1; i < deid_profile_row_count; i++)
    assert_true(deid_profile_rows[i - 1].tag < deid_profile_rows[i].tag);
  assert_int_equal(deid_profile_lookup(T(0008, 0050))->basic, DEID_Z);
  assert_int_equal(deid_profile_lookup(T(0008, 0080))->basic, DEID_X | DEID_Z | DEID_D);
  assert_int_equal(deid_profile_lookup(T(0008, 1140))->basic, DEID_X | DEID_Z | DEID_USTAR);
  assert_string_equal(deid_profile_lookup(T(6002, 3000))->name, "Overlay Data");
  assert_string_equal(deid_profile_lookup(T(6002, 4000))->name, "Overlay Comments");
  assert_string_equal(deid_profile_lookup(T(5010, 1234))->name, "Curve Data");
  assert_string_equal(deid_profile_lookup(T(0019, 1000))->name, "Private Attributes");
  assert_null(deid_profile_lookup(T(0008, 0016))); /* SOPClassUID: not listed, kept */
  assert_int_equal(deid_profile_lookup(T(0020, 000D))->opt[1], 'K');
}

static void test_basic(void **state) {
  (void)state;
  result r = {0};
  apply(SI_DEID_PROFILE_BASIC, 0, &r);
  const si_dataset *ds = si_file_dataset(r.file);
  /* Pseudonyms (Z for names and ids, replaced with the subject's codes). */
  is(ds, T(0010, 0010), "PCODE12345");
  is(ds, T(0010, 0020), "PCODE12345");
  is(ds, T(0008, 0050), "SCODE67890");
  is(ds, T(0020, 0010), "SCODE67890");
  /* Z */
  empty(ds, T(0010, 0030));
  empty(ds, T(0008, 0020));
  empty(ds, T(0008, 0030));
  empty(ds, T(0008, 0090));
  empty(ds, T(0010, 0040));
  /* Z/D, Type 2 in the General Image module: Z */
  empty(ds, T(0008, 0023));
  /* X, X/D and X/Z/D of Type 3 elements */
  absent(ds, T(0010, 1040));
  absent(ds, T(0010, 1010));
  absent(ds, T(0010, 1030));
  absent(ds, T(0008, 0021));
  absent(ds, T(0008, 002A));
  absent(ds, T(0008, 0080));
  absent(ds, T(0008, 1010));
  absent(ds, T(0018, 1000));
  absent(ds, T(0008, 1030));
  absent(ds, T(0008, 103E));
  /* Not listed: kept */
  is(ds, T(0008, 0060), "CT");
  is(ds, T(0018, 0015), "CHEST");
  is(ds, T(0020, 0013), "7");
  is(ds, T(0008, 0016), "1.2.840.10008.5.1.4.1.1.2");
  /* U, at the top, in references two deep, in the SR tree, in the meta */
  is(ds, T(0020, 000D), remapped(STUDY_UID));
  is(ds, T(0008, 0018), remapped(SOP_UID));
  is(si_file_meta(r.file), T(0002, 0003), remapped(SOP_UID));
  absent(si_file_meta(r.file), T(0002, 0016));
  const si_element *series = si_dataset_find(ds, T(0008, 1115));
  assert_non_null(series);
  is(series->items[0], T(0020, 000E), remapped("1.2.840.99999.1.1.2"));
  const si_element *images = si_dataset_find(series->items[0], T(0008, 1140));
  assert_non_null(images);
  is(images->items[0], T(0008, 1155), remapped(REF_UID));
  is(images->items[0], T(0008, 1150), "1.2.840.10008.5.1.4.1.1.2");
  /* D sequence: kept, contents by their rows, unlisted text cleaned */
  const si_element *content = si_dataset_find(ds, T(0040, A730));
  assert_non_null(content);
  assert_int_equal(content->item_count, 2);
  absent(content->items[0], T(0040, A160)); /* named the patient */
  is(content->items[1], T(0040, A160), "No acute findings");
  const si_element *inner = si_dataset_find(content->items[1], T(0040, A730));
  is(inner->items[0], T(0040, A123), "ANONYMIZED");
  is(inner->items[0], T(0040, A124), remapped(REF_UID));
  /* Private elements, overlays and curves go */
  absent(ds, T(0019, 0010));
  absent(ds, T(0019, 1023));
  absent(ds, T(0019, 1030));
  absent(ds, T(0029, 1001));
  absent(ds, T(6000, 0010));
  absent(ds, T(6000, 3000));
  absent(ds, T(5000, 3000));
  /* What the standard asks to be written */
  is(ds, T(0012, 0062), "YES");
  is(ds, T(0012, 0063), "sendit: PS3.15 Basic Profile");
  assert_true(has_code(ds, "113100"));
  assert_false(has_code(ds, "113107"));
  is(ds, T(0028, 0303), "REMOVED");
  /* The report: new UIDs and what identified someone */
  assert_string_equal(r.report.study_uid, remapped(STUDY_UID));
  assert_string_equal(r.report.sop_uid, remapped(SOP_UID));
  assert_true(recorded(&r.report, "Doe^John"));
  assert_true(recorded(&r.report, "MRN123456"));
  assert_true(recorded(&r.report, "ACC998877"));
  assert_true(recorded(&r.report, "19280704"));
  assert_true(recorded(&r.report, "1 Main Street, Springfield"));
  assert_true(recorded(&r.report, "St Elsewhere Hospital"));
  assert_true(recorded(&r.report, "House^Gregory"));
  assert_true(recorded(&r.report, STUDY_UID));
  assert_true(recorded(&r.report, REF_UID));
  assert_true(recorded(&r.report, "Watson^John"));
  assert_false(recorded(&r.report, "CT"));
  assert_true(r.report.uids_remapped >= 5);
  assert_true(r.report.removed > 10);
  done(&r);
}

static void test_modified_dates(void **state) {
  (void)state;
  result r = {0};
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_LONG_MODIFIED_DATES, 1, &r);
  const si_dataset *ds = si_file_dataset(r.file);
  is(ds, T(0008, 0020), "20240305");
  is(ds, T(0008, 0021), "20240305");
  is(ds, T(0008, 002A), "20240220123456.5+0100");
  is(ds, T(0008, 0030), "101500"); /* keep_times */
  empty(ds, T(0010, 0030));        /* birth date: no option column */
  is(ds, T(0028, 0303), "MODIFIED");
  assert_true(has_code(ds, "113107"));
  assert_true(r.report.dates_shifted >= 4);
  assert_true(recorded(&r.report, "20240315"));
  done(&r);
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_LONG_MODIFIED_DATES, 0, &r);
  ds = si_file_dataset(r.file);
  is(ds, T(0008, 0020), "20240305");
  empty(ds, T(0008, 0030)); /* times removed: the basic Z */
  done(&r);
}

static void test_full_dates(void **state) {
  (void)state;
  result r = {0};
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_LONG_FULL_DATES, 0, &r);
  const si_dataset *ds = si_file_dataset(r.file);
  is(ds, T(0008, 0020), "20240315");
  is(ds, T(0008, 002A), "20240301123456.5+0100");
  is(ds, T(0008, 0030), "101500");
  is(ds, T(0028, 0303), "UNMODIFIED");
  assert_true(has_code(ds, "113106"));
  done(&r);
}

static void test_retain_uids(void **state) {
  (void)state;
  result r = {0};
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_UIDS, 0, &r);
  const si_dataset *ds = si_file_dataset(r.file);
  is(ds, T(0020, 000D), STUDY_UID);
  is(ds, T(0008, 0018), SOP_UID);
  is(si_file_meta(r.file), T(0002, 0003), SOP_UID);
  assert_true(has_code(ds, "113110"));
  is(ds, T(0012, 0063), "sendit: PS3.15 Basic Profile\\retain-uids");
  done(&r);
}

static void test_patient_characteristics(void **state) {
  (void)state;
  result r = {0};
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_PATIENT_CHARACTERISTICS, 0, &r);
  const si_dataset *ds = si_file_dataset(r.file);
  is(ds, T(0010, 1010), "090Y"); /* over 89: capped */
  is(ds, T(0010, 0040), "M");
  is(ds, T(0010, 1030), "80");
  assert_true(has_code(ds, "113108"));
  done(&r);
}

static void test_device_and_institution(void **state) {
  (void)state;
  result r = {0};
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_DEVICE_IDENTITY, 0, &r);
  const si_dataset *ds = si_file_dataset(r.file);
  is(ds, T(0018, 1000), "SN-4711");
  is(ds, T(0008, 1010), "CTSTATION7");
  absent(ds, T(0008, 0080));
  assert_true(has_code(ds, "113109"));
  done(&r);
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_INSTITUTION_IDENTITY, 0, &r);
  ds = si_file_dataset(r.file);
  is(ds, T(0008, 0080), "St Elsewhere Hospital");
  absent(ds, T(0018, 1000));
  assert_true(has_code(ds, "113112"));
  done(&r);
}

static void test_safe_private(void **state) {
  (void)state;
  result r = {0};
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_SAFE_PRIVATE, 0, &r);
  const si_dataset *ds = si_file_dataset(r.file);
  is(ds, T(0019, 0010), "GEMS_ACQU_01");
  is(ds, T(0019, 1023), "12.5"); /* Table E.3.10-1: table speed */
  absent(ds, T(0019, 1030));     /* not on the list */
  absent(ds, T(0029, 0010));
  absent(ds, T(0029, 1001));
  assert_true(has_code(ds, "113111"));
  done(&r);
}

static void test_clean_options(void **state) {
  (void)state;
  result r = {0};
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_CLEAN_DESCRIPTORS, 0, &r);
  const si_dataset *ds = si_file_dataset(r.file);
  is(ds, T(0008, 1030), "CT CHEST"); /* nothing identifying: kept */
  absent(ds, T(0008, 103E));         /* names the patient: the basic X */
  assert_true(has_code(ds, "113105"));
  done(&r);
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_CLEAN_GRAPHICS, 0, &r);
  ds = si_file_dataset(r.file);
  assert_non_null(si_dataset_find(ds, T(6000, 3000)));
  assert_non_null(si_dataset_find(ds, T(6000, 0010)));
  assert_non_null(si_dataset_find(ds, T(5000, 3000)));
  assert_true(has_code(ds, "113103"));
  done(&r);
  apply(SI_DEID_PROFILE_BASIC | SI_DEID_CLEAN_STRUCTURED_CONTENT, 0, &r);
  ds = si_file_dataset(r.file);
  const si_element *content = si_dataset_find(ds, T(0040, A730));
  absent(content->items[0], T(0040, A160));
  is(content->items[1], T(0040, A160), "No acute findings");
  assert_true(has_code(ds, "113104"));
  done(&r);
}

/* Combined codes by the IOD's Type: ContentDate is Type 1 in an SR
 * document (D: a dummy), Type 2 in an image (Z); OperatorsName Type 2 in
 * the RT Series module (Z), Type 3 elsewhere (X). */
static void apply_class(const char *sop_class, si_file **out) {
  si_file *f = build();
  set(f, si_file_dataset_mut(f), T(0008, 0016), sop_class);
  set(f, si_file_dataset_mut(f), T(0008, 1070), "Tech^Tamsin");
  si_deid_options o;
  si_deid_options_init(&o);
  o.key = key;
  si_deid_report rep;
  si_error err;
  if (si_deid_apply(f, &o, &subject, &rep, &err) != SI_OK)
    fail_msg("apply: %s", err.message);
  si_deid_report_free(&rep);
  *out = f;
}

static void test_types(void **state) {
  (void)state;
  si_file *f;
  apply_class("1.2.840.10008.5.1.4.1.1.88.11", &f); /* Basic Text SR */
  is(si_file_dataset(f), T(0008, 0023), "19000101");
  absent(si_file_dataset(f), T(0008, 1070));
  si_file_free(f);
  apply_class("1.2.840.10008.5.1.4.1.1.481.5", &f); /* RT Plan */
  empty(si_file_dataset(f), T(0008, 0023));
  empty(si_file_dataset(f), T(0008, 1070));
  si_file_free(f);
  apply_class("1.2.840.10008.5.1.4.1.1.2", &f); /* CT */
  empty(si_file_dataset(f), T(0008, 0023));
  absent(si_file_dataset(f), T(0008, 1070));
  si_file_free(f);
}

static void test_flags(void **state) {
  (void)state;
  si_file *f = build();
  set(f, si_file_dataset_mut(f), T(0028, 0301), "YES");
  si_deid_options o;
  si_deid_options_init(&o);
  o.key = key;
  si_deid_report rep;
  si_error err;
  assert_int_equal(si_deid_apply(f, &o, &subject, &rep, &err), SI_OK);
  assert_true(rep.flagged);
  assert_string_equal(rep.flag_reason, "BurnedInAnnotation is YES");
  is(si_file_dataset(f), T(0010, 0010), "Doe^John"); /* nothing changed */
  si_deid_report_free(&rep);
  si_file_free(f);
  /* No key while UIDs are remapped: an error naming the tag. */
  f = build();
  o.key = NULL;
  assert_int_equal(si_deid_apply(f, &o, &subject, &rep, &err), SI_ERR_ARG);
  assert_non_null(strstr(err.message, "key"));
  si_deid_report_free(&rep);
  si_file_free(f);
}

/* Rules before the profile: a filter that flags, one that decides. */
static si_status flag_filter(const void *self, const si_file *file, int *flagged, char *reason,
                             size_t size, si_error *err) {
  (void)file, (void)err;
  *flagged = *(const int *)self;
  snprintf(reason, size, "filter test: LABEL");
  return SI_OK;
}

static si_status keep_name(const void *self, si_deid_run *run, si_error *err) {
  (void)self;
  si_dataset *ds = si_file_dataset_mut(run->file);
  si_status st = si_ds_set_text(run->file, ds, T(0010, 0010), "Recipe^Name", err);
  return st == SI_OK ? deid_decided_mark(run, ds, T(0010, 0010), err) : st;
}

static void test_rules(void **state) {
  (void)state;
  int flag = 1;
  si_deid_rules rules = {"deid recipe test", &flag, flag_filter, keep_name};
  si_deid_options o;
  si_deid_options_init(&o);
  o.key = key;
  o.rules = &rules;
  si_file *f = build();
  si_deid_report rep;
  si_error err;
  assert_int_equal(si_deid_apply(f, &o, &subject, &rep, &err), SI_OK);
  assert_true(rep.flagged);
  assert_string_equal(rep.flag_reason, "filter test: LABEL");
  is(si_file_dataset(f), T(0010, 0020), "MRN123456");
  si_deid_report_free(&rep);
  flag = 0;
  assert_int_equal(si_deid_apply(f, &o, &subject, &rep, &err), SI_OK);
  assert_false(rep.flagged);
  is(si_file_dataset(f), T(0010, 0010), "Recipe^Name"); /* decided: the profile left it */
  is(si_file_dataset(f), T(0010, 0020), "PCODE12345");
  is(si_file_dataset(f), T(0012, 0063), "sendit: PS3.15 Basic Profile\\deid recipe test");
  si_deid_report_free(&rep);
  si_file_free(f);
  /* A recipe alone (no profile): nothing else changes, no method written. */
  f = build();
  o.profile = 0;
  assert_int_equal(si_deid_apply(f, &o, &subject, &rep, &err), SI_OK);
  is(si_file_dataset(f), T(0010, 0020), "MRN123456");
  absent(si_file_dataset(f), T(0012, 0062));
  si_deid_report_free(&rep);
  si_file_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_modified_dates),
      cmocka_unit_test(test_full_dates),
      cmocka_unit_test(test_retain_uids),
      cmocka_unit_test(test_patient_characteristics),
      cmocka_unit_test(test_device_and_institution),
      cmocka_unit_test(test_safe_private),
      cmocka_unit_test(test_clean_options),
      cmocka_unit_test(test_types),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
