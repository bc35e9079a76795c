/* The leak scan (sendit/deid_verify.h): what is collected and what is not
 * (the rules against false positives), where values are found (decoded text
 * case-insensitively inside longer strings, tokens whole, nested paths,
 * private and binary values, raw bytes of files that do not parse) and what
 * is left alone (pixel data, code strings, values allowed by design). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/deid_verify.h"
#include "sendit/dicom.h"
#include "sendit/edit.h"
#include "sendit/write.h"

static void set(si_file *f, const char *path, const char *value) {
  si_error err;
  if (si_edit_set(f, path, value, SI_EDIT_CREATE, NULL, &err) != SI_OK)
    fail_msg("%s: %s", path, err.message);
}

static void set_bytes(si_file *f, const char *path, si_vr vr, const void *bytes, size_t len) {
  si_error err;
  if (si_edit_set_bytes(f, path, vr, bytes, len, &err) != SI_OK)
    fail_msg("%s: %s", path, err.message);
}

static si_file *new_file(void) {
  si_file *f = NULL;
  assert_int_equal(si_file_new(&f, NULL), SI_OK);
  set(f, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.2");
  return f;
}

/* The original every test collects from. */
static si_file *original(void) {
  si_file *f = new_file();
  set(f, "SOPInstanceUID", "1.2.826.0.1.3680043.10.543.7.1");
  set(f, "StudyInstanceUID", "1.2.826.0.1.3680043.10.543.7");
  set(f, "PatientName", "Müller^Jürgen^Andreas^Dr^Jr");
  set(f, "PatientID", "AB");                /* too short */
  set(f, "OtherPatientNames", "ANONYMOUS"); /* a placeholder */
  set(f, "AccessionNumber", "123");         /* too few digits */
  set(f, "StudyID", "4711");                /* a number: whole tokens only */
  set(f, "PatientBirthDate", "19620314");
  set(f, "InstitutionName", "Lee"); /* short: whole words only */
  set(f, "PatientAddress", "Hauptstraße 12");
  set(f, "ReferencedStudySequence[0].ReferencedSOPInstanceUID", "1.2.826.0.1.3680043.10.543.9");
  set(f, "StudyDate", "20240131"); /* an event date: only with event_dates */
  return f;
}

static si_verify *collected(const si_verify_options *opts) {
  si_verify *v = NULL;
  assert_int_equal(si_verify_new(opts, &v, NULL), SI_OK);
  si_file *f = original();
  si_error err;
  if (si_verify_collect(v, f, "orig.dcm", NULL, &err) != SI_OK)
    fail_msg("collect: %s", err.message);
  si_file_free(f);
  return v;
}

static int has_value(const si_verify *v, const char *text, const char *kind) {
  for (size_t i = 0; i < si_verify_value_count(v); i++) {
    const char *k = NULL;
    const char *t = si_verify_value_at(v, i, &k);
    if (strcmp(t, text) == 0 && (!kind || strcmp(k, kind) == 0))
      return 1;
  }
  return 0;
}

static void scan_file(si_verify *v, si_file *f, si_verify_hits *hits) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  si_error err;
  if (si_write_part10_memory(f, NULL, &bytes, &len, &err) != SI_OK)
    fail_msg("write: %s", err.message);
  if (si_verify_scan_memory(v, bytes, len, "out.dcm", hits, &err) != SI_OK)
    fail_msg("scan: %s", err.message);
  free(bytes);
}

static const si_verify_hit *find_hit(const si_verify_hits *hits, const char *value,
                                     const char *path) {
  for (size_t i = 0; i < hits->count; i++)
    if (strcmp(hits->items[i].value, value) == 0 &&
        (!path || strcmp(hits->items[i].path, path) == 0))
      return &hits->items[i];
  return NULL;
}

static void test_collect_rules(void **state) {
  (void)state;
  si_verify *v = collected(NULL);
  assert_true(has_value(v, "Müller^Jürgen^Andreas^Dr^Jr", "patient-name"));
  assert_true(has_value(v, "Müller", "patient-name"));
  assert_true(has_value(v, "Jürgen", "patient-name"));
  assert_true(has_value(v, "Andreas", "patient-name"));
  assert_false(has_value(v, "Dr", NULL)); /* prefix and suffix are not collected */
  assert_false(has_value(v, "Jr", NULL));
  assert_false(has_value(v, "AB", NULL));
  assert_false(has_value(v, "ANONYMOUS", NULL));
  assert_false(has_value(v, "123", NULL));
  assert_true(has_value(v, "4711", "study-id"));
  assert_true(has_value(v, "19620314", "birth-date"));
  assert_true(has_value(v, "Lee", "institution"));
  assert_true(has_value(v, "1.2.826.0.1.3680043.10.543.7.1", "uid"));
  assert_true(has_value(v, "1.2.826.0.1.3680043.10.543.9", "uid"));
  assert_false(has_value(v, "1.2.840.10008.5.1.4.1.1.2", NULL)); /* SOPClassUID: not identifying */
  assert_false(has_value(v, "20240131", NULL));
  si_verify_free(v);

  si_verify_options opts;
  si_verify_options_init(&opts);
  opts.event_dates = 1;
  v = collected(&opts);
  assert_true(has_value(v, "20240131", "date"));
  si_verify_free(v);
}

/* Ideographs carry more than letters: a two-character family name is
 * collected, a one-character one is not. */
static void test_ideographic_names(void **state) {
  (void)state;
  si_verify *v = NULL;
  assert_int_equal(si_verify_new(NULL, &v, NULL), SI_OK);
  si_file *f = new_file();
  set(f, "PatientName", "Yamada^Tarou=山田^太郎=やまだ^たろう");
  set(f, "OtherPatientNames", "Wang^XiaoDong=王^小東");
  assert_int_equal(si_verify_collect(v, f, "jp", NULL, NULL), SI_OK);
  si_file_free(f);
  assert_true(has_value(v, "山田", "patient-name"));
  assert_true(has_value(v, "たろう", "patient-name"));
  assert_true(has_value(v, "小東", "patient-name"));
  assert_false(has_value(v, "王", NULL));
  si_file *out = new_file();
  set(out, "ImageComments", "患者 山田 様");
  si_verify_hits hits = {0};
  scan_file(v, out, &hits);
  assert_non_null(find_hit(&hits, "山田", "(0020,4000)"));
  si_verify_hits_free(&hits);
  si_file_free(out);
  si_verify_free(v);
}

static void test_text_inside_longer_strings(void **state) {
  (void)state;
  si_verify *v = collected(NULL);
  si_file *out = new_file();
  set(out, "ImageComments", "seen by Dr MÜLLER yesterday at HAUPTSTRASSE? no: hauptstraße 12");
  set(out, "StudyDescription", "Sleep study");    /* "Lee" inside a word: not a hit */
  set(out, "SeriesDescription", "Dr Lee, chest"); /* a whole word: a hit */
  si_verify_hits hits = {0};
  scan_file(v, out, &hits);
  const si_verify_hit *h = find_hit(&hits, "Müller", "(0020,4000)");
  assert_non_null(h);
  assert_string_equal(h->kind, "patient-name");
  assert_string_equal(h->original, "orig.dcm");
  assert_string_equal(h->original_path, "(0010,0010)");
  assert_false(h->raw);
  assert_non_null(find_hit(&hits, "Hauptstraße 12", "(0020,4000)"));
  assert_null(find_hit(&hits, "Lee", "(0008,1030)"));
  assert_non_null(find_hit(&hits, "Lee", "(0008,103E)"));
  /* One hit per value and element. */
  size_t n = 0;
  for (size_t i = 0; i < hits.count; i++)
    n += strcmp(hits.items[i].value, "Müller") == 0;
  assert_int_equal(n, 1);
  si_verify_hits_free(&hits);
  si_file_free(out);
  si_verify_free(v);
}

static void test_tokens_whole(void **state) {
  (void)state;
  si_verify *v = collected(NULL);
  si_file *out = new_file();
  /* The UID nested, as a UID's prefix (a different UID), a date in a DT,
   * numbers inside and outside longer digit runs. */
  set(out, "ReferencedImageSequence[1].ReferencedSOPInstanceUID", "1.2.826.0.1.3680043.10.543.7.1");
  set(out, "SourceImageSequence[0].ReferencedSOPInstanceUID", "1.2.826.0.1.3680043.10.543.7.1.5");
  set(out, "AcquisitionDateTime", "19620314101010");
  set(out, "ImageComments", "ids 47110 and 219620314 and x4711y");
  si_verify_hits hits = {0};
  scan_file(v, out, &hits);
  assert_non_null(find_hit(&hits, "1.2.826.0.1.3680043.10.543.7.1", "(0008,1140)[1].(0008,1155)"));
  assert_null(find_hit(&hits, "1.2.826.0.1.3680043.10.543.7.1", "(0008,2112)[0].(0008,1155)"));
  assert_null(find_hit(&hits, "1.2.826.0.1.3680043.10.543.7", NULL));
  assert_non_null(find_hit(&hits, "19620314", "(0008,002A)"));
  assert_null(find_hit(&hits, "19620314", "(0020,4000)"));
  assert_non_null(find_hit(&hits, "4711", "(0020,4000)"));
  si_verify_hits_free(&hits);
  si_file_free(out);
  si_verify_free(v);
}

static const uint8_t latin1_name[] = "M\xFCller^J\xFCrgen";

static void test_charsets_private_and_pixels(void **state) {
  (void)state;
  si_verify *v = NULL;
  assert_int_equal(si_verify_new(NULL, &v, NULL), SI_OK);
  si_file *orig = new_file();
  set(orig, "SpecificCharacterSet", "ISO_IR 100");
  set_bytes(orig, "PatientName", SI_VR_PN, latin1_name, sizeof latin1_name - 1);
  assert_int_equal(si_verify_collect(v, orig, "latin1.dcm", NULL, NULL), SI_OK);
  si_file_free(orig);
  assert_true(has_value(v, "Müller^Jürgen", NULL)); /* decoded from Latin-1 */

  si_file *out = new_file();
  set(out, "PatientName", "Müller^Jürgen"); /* the output is UTF-8 */
  uint8_t blob[64] = {0x01, 0x02};
  memcpy(blob + 5, latin1_name, sizeof latin1_name - 1);
  set_bytes(out, "(0029,\"SIEMENS CSA HEADER\",10)", SI_VR_OB, blob, sizeof blob);
  static const uint8_t utf16[] = "J\0\xFC\0r\0g\0e\0n\0";
  uint8_t blob2[32] = {0};
  memcpy(blob2 + 3, utf16, sizeof utf16 - 1);
  set_bytes(out, "(0019,\"ACME 1\",10)", SI_VR_UN, blob2, sizeof blob2);
  uint8_t pixels[64] = {0};
  memcpy(pixels + 9, latin1_name, sizeof latin1_name - 1);
  set(out, "Rows", "4");
  set(out, "Columns", "8");
  set_bytes(out, "PixelData", SI_VR_OB, pixels, sizeof pixels);
  si_verify_hits hits = {0};
  scan_file(v, out, &hits);
  assert_non_null(find_hit(&hits, "Müller^Jürgen", "(0010,0010)"));
  const si_verify_hit *csa = find_hit(&hits, "Müller^Jürgen", "(0029,1010)");
  assert_non_null(csa);
  assert_string_equal(csa->creator, "SIEMENS CSA HEADER");
  assert_non_null(find_hit(&hits, "Jürgen", "(0019,1010)"));    /* UTF-16LE in a UN */
  assert_null(find_hit(&hits, "Müller^Jürgen", "(7FE0,0010)")); /* pixel data is not scanned */
  for (size_t i = 0; i < hits.count; i++)
    assert_false(hits.items[i].raw); /* every value was found in its element */
  si_verify_hits_free(&hits);
  si_file_free(out);
  si_verify_free(v);
}

static void test_raw_bytes_of_unparsed_file(void **state) {
  (void)state;
  si_verify *v = collected(NULL);
  uint8_t junk[200];
  memset(junk, 0xEE, sizeof junk);
  memcpy(junk + 50, "MULLER", 6); /* not the name: "Müller" has a ü */
  memcpy(junk + 120, "M\xC3\x9CLLER^J\xC3\x9CRGEN", 16);
  memcpy(junk + 150, "1.2.826.0.1.3680043.10.543.9", 28);
  si_verify_hits hits = {0};
  si_error err;
  assert_int_not_equal(si_verify_scan_memory(v, junk, sizeof junk, "junk", &hits, &err), SI_OK);
  const si_verify_hit *h = find_hit(&hits, "Müller", "(raw)");
  assert_non_null(h); /* upper-case UTF-8 form */
  assert_true(h->raw);
  assert_int_equal(h->offset, 120);
  const si_verify_hit *u = find_hit(&hits, "1.2.826.0.1.3680043.10.543.9", "(raw)");
  assert_non_null(u);
  assert_int_equal(u->offset, 150);
  si_verify_hits_free(&hits);
  si_verify_free(v);
}

static void test_code_strings_and_allowed(void **state) {
  (void)state;
  si_verify *v = NULL;
  assert_int_equal(si_verify_new(NULL, &v, NULL), SI_OK);
  si_error err;
  assert_int_equal(si_verify_allow_kind(v, "no-such-kind", &err), SI_ERR_ARG);
  assert_int_equal(si_verify_allow_kind(v, "uid", &err), SI_OK);
  assert_int_equal(si_verify_allow_tag(v, SI_TAG(0x0010, 0x0030), &err), SI_OK);
  si_file *orig = original();
  set(orig, "PatientName", "Perfusion");
  assert_int_equal(si_verify_collect(v, orig, "o", NULL, NULL), SI_OK);
  si_file_free(orig);
  assert_false(has_value(v, "19620314", NULL));
  assert_false(has_value(v, "1.2.826.0.1.3680043.10.543.7.1", NULL));
  assert_true(has_value(v, "Perfusion", NULL));
  assert_int_equal(si_verify_keep_tag(v, SI_TAG(0x0008, 0x0070), &err), SI_OK);
  si_file *out = new_file();
  set(out, "ImageType", "ORIGINAL\\PRIMARY\\PERFUSION"); /* a defined term, not a leak */
  set(out, "Manufacturer", "Perfusion Systems");         /* kept by design */
  set(out, "ReferencedStudySequence[0].Manufacturer", "Perfusion Systems");
  si_verify_hits hits = {0};
  scan_file(v, out, &hits);
  assert_int_equal(hits.count, 0);
  set(out, "SeriesDescription", "Perfusion Systems"); /* not kept: a hit */
  scan_file(v, out, &hits);
  assert_int_equal(hits.count, 1);
  assert_non_null(find_hit(&hits, "Perfusion", "(0008,103E)"));
  si_verify_hits_free(&hits);
  si_file_free(out);
  si_verify_free(v);
}

static void test_report_values(void **state) {
  (void)state;
  si_verify *v = NULL;
  assert_int_equal(si_verify_new(NULL, &v, NULL), SI_OK);
  si_deid_value values[] = {{SI_TAG(0x0010, 0x0010), (char *)"Schmidt^Eva"},
                            {SI_TAG(0x0008, 0x002A), (char *)"20240131093000"},
                            {SI_TAG(0x0008, 0x1030), (char *)"NO"}};
  si_deid_report report = {0};
  report.values = values;
  report.value_count = 3;
  assert_int_equal(si_verify_add_report(v, SIZE_MAX, &report, NULL), SI_OK);
  assert_true(has_value(v, "Schmidt^Eva", "replaced"));
  assert_true(has_value(v, "Schmidt", "replaced"));
  assert_true(has_value(v, "Eva", "replaced"));
  assert_true(has_value(v, "20240131", "replaced"));
  assert_false(has_value(v, "NO", NULL));
  si_file *out = new_file();
  set(out, "ContentDate", "20240131");
  si_verify_hits hits = {0};
  scan_file(v, out, &hits);
  const si_verify_hit *h = find_hit(&hits, "20240131", "(0008,0023)");
  assert_non_null(h);
  assert_string_equal(h->original, "");
  assert_string_equal(h->original_path, "(0008,002A)");
  si_verify_hits_free(&hits);
  si_file_free(out);
  si_verify_free(v);
}

static void test_mask(void **state) {
  (void)state;
  char buf[32];
  assert_string_equal(si_verify_mask("Müller", buf, sizeof buf), "M\xE2\x80\xA6(6)");
  assert_string_equal(si_verify_mask("Ødegård", buf, sizeof buf), "Ø\xE2\x80\xA6(7)");
  assert_string_equal(si_verify_mask("", buf, sizeof buf), "\xE2\x80\xA6(0)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_collect_rules),
      cmocka_unit_test(test_ideographic_names),
      cmocka_unit_test(test_text_inside_longer_strings),
      cmocka_unit_test(test_tokens_whole),
      cmocka_unit_test(test_charsets_private_and_pixels),
      cmocka_unit_test(test_raw_bytes_of_unparsed_file),
      cmocka_unit_test(test_code_strings_and_allowed),
      cmocka_unit_test(test_report_values),
      cmocka_unit_test(test_mask),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
