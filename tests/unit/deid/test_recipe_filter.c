/* %filter sections (lib/deid/recipe_filter.c): each criterion (contains,
 * notcontains, equals, notequals, missing, present, empty), + and ||, deid's
 * left-to-right evaluation, the first matching LABEL deciding, whitelists
 * passing, and the three recipes deid ships on images built to hit their
 * LABELs. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/recipe_internal.h"
#include "sendit/deid_recipe.h"
#include "sendit/edit.h"

/* A file from "KEY=VALUE" lines (paths of sendit/edit.h). */
static si_file *file_with(const char *const *kv) {
  si_file *f = NULL;
  si_error err;
  assert_int_equal(si_file_new(&f, &err), SI_OK);
  for (; *kv; kv++) {
    char path[128];
    const char *eq = strchr(*kv, '=');
    snprintf(path, sizeof path, "%.*s", (int)(eq - *kv), *kv);
    if (si_edit_set(f, path, eq + 1, SI_EDIT_CREATE, NULL, &err) != SI_OK)
      fail_msg("%s: %s", *kv, err.message);
  }
  return f;
}

static si_deid_recipe *parse(const char *text) {
  si_deid_recipe *r = NULL;
  si_error err;
  if (si_deid_recipe_parse(text, strlen(text), "f", &r, &err) != SI_OK)
    fail_msg("%s", err.message);
  return r;
}

/* Whether the one LABEL of body (criteria lines) matches f. */
static int label_hits(si_file *f, const char *body) {
  char text[2048];
  snprintf(text, sizeof text, "FORMAT dicom\n%%filter blacklist\nLABEL test\n%s\n", body);
  si_deid_recipe *r = parse(text);
  int flagged = -1;
  char reason[256];
  si_error err;
  assert_int_equal(si_deid_recipe_filter(r, f, &flagged, reason, sizeof reason, &err), SI_OK);
  if (flagged)
    assert_string_equal(reason, "filter blacklist: test");
  si_deid_recipe_free(r);
  return flagged;
}

static void test_criteria(void **state) {
  (void)state;
  static const char *const kv[] = {"Modality=CT",
                                   "Manufacturer=GE MEDICAL SYSTEMS",
                                   "ImageType=DERIVED\\SECONDARY\\SCREEN SAVE",
                                   "Rows=512",
                                   "SeriesDescription=",
                                   "BurnedInAnnotation=NO",
                                   NULL};
  si_file *f = file_with(kv);
  /* contains: a case-insensitive regular expression search */
  assert_true(label_hits(f, "contains Modality ct"));
  assert_true(label_hits(f, "contains Modality CT|MR"));
  assert_true(label_hits(f, "contains Manufacturer ^ge med"));
  assert_false(label_hits(f, "contains Modality MR"));
  assert_true(label_hits(f, "contains ImageType SECONDARY"));
  assert_false(label_hits(f, "contains PatientName DOE")); /* absent */
  /* notcontains */
  assert_true(label_hits(f, "notcontains Modality MR"));
  assert_false(label_hits(f, "notcontains Modality CT"));
  assert_true(label_hits(f, "notcontains PatientName DOE"));
  /* equals: the whole value, case-insensitive; numbers as text */
  assert_true(label_hits(f, "equals Modality ct"));
  assert_false(label_hits(f, "equals Manufacturer GE"));
  assert_true(label_hits(f, "equals Rows 512"));
  assert_false(label_hits(f, "equals Rows 51"));
  assert_true(label_hits(f, "notequals Rows 1024"));
  assert_false(label_hits(f, "notequals Modality CT"));
  /* missing / present / empty */
  assert_true(label_hits(f, "missing PatientName"));
  assert_false(label_hits(f, "missing Modality"));
  assert_true(label_hits(f, "present Modality"));
  assert_false(label_hits(f, "present PatientName"));
  assert_true(label_hits(f, "empty SeriesDescription"));
  assert_false(label_hits(f, "empty Modality"));
  assert_false(label_hits(f, "empty PatientName")); /* missing is not empty */
  /* fields by tag */
  assert_true(label_hits(f, "equals (0008,0060) CT"));
  assert_true(label_hits(f, "equals 00280010 512"));
  si_file_free(f);
}

static void test_operators(void **state) {
  (void)state;
  static const char *const kv[] = {"Modality=CT", "Manufacturer=GE", NULL};
  si_file *f = file_with(kv);
  /* + is and, || is or, on a line and between lines */
  assert_true(label_hits(f, "contains Modality CT\n+ contains Manufacturer GE"));
  assert_false(label_hits(f, "contains Modality CT\n+ contains Manufacturer SIEMENS"));
  assert_true(label_hits(f, "contains Modality MR\n|| contains Manufacturer GE"));
  assert_true(label_hits(f, "contains Modality MR || contains Manufacturer GE"));
  assert_false(label_hits(f, "contains Modality MR + contains Manufacturer GE"));
  /* lines without an operator join by and */
  assert_false(label_hits(f, "contains Modality CT\ncontains Manufacturer SIEMENS"));
  assert_true(label_hits(f, "contains Modality CT\ncontains Manufacturer GE"));
  /* deid's documented grouping: criterion 1 and (2 or 3), the inner on one line */
  assert_true(
      label_hits(f, "contains Modality CT\n+ contains Manufacturer X || contains Manufacturer GE"));
  /* left to right without precedence: (MR or GE) and SIEMENS is false;
   * MR or (GE and SIEMENS) would be false too, but (CT and X) or GE is true */
  assert_true(
      label_hits(f, "contains Modality CT + contains Manufacturer X || contains Manufacturer GE"));
  /* a LABEL whose first line starts with +: deid folds from False, so
   * it never matches (deid.dicom's "SIEMMENS" LABEL) */
  assert_false(label_hits(f, "+ contains Modality CT"));
  /* ...and with ||, False or X is X */
  assert_true(label_hits(f, "|| contains Modality CT"));
  /* a LABEL without criteria (only coordinates) never matches */
  assert_false(label_hits(f, "coordinates all"));
  si_file_free(f);
}

static void test_first_match_and_whitelist(void **state) {
  (void)state;
  static const char *const kv[] = {"Modality=CT", "BurnedInAnnotation=YES", NULL};
  si_file *f = file_with(kv);
  si_deid_recipe *r = parse("FORMAT dicom\n"
                            "%filter whitelist\n"
                            "LABEL clean\n"
                            "  contains BurnedInAnnotation NO\n"
                            "%filter graylist\n"
                            "LABEL known CT\n"
                            "  contains Modality CT\n"
                            "  coordinates 0,0,10,10\n"
                            "%filter blacklist\n"
                            "LABEL burned\n"
                            "  contains BurnedInAnnotation YES\n");
  int flagged;
  char reason[256];
  si_error err;
  assert_int_equal(si_deid_recipe_filter(r, f, &flagged, reason, sizeof reason, &err), SI_OK);
  assert_true(flagged);
  assert_string_equal(reason, "filter graylist: known CT");
  si_file_free(f);
  /* a whitelist match decides too: the image passes, the reason says why */
  static const char *const clean[] = {"Modality=CT", "BurnedInAnnotation=NO", NULL};
  f = file_with(clean);
  assert_int_equal(si_deid_recipe_filter(r, f, &flagged, reason, sizeof reason, &err), SI_OK);
  assert_false(flagged);
  assert_string_equal(reason, "filter whitelist: clean");
  si_file_free(f);
  /* nothing matches */
  static const char *const mr[] = {"Modality=MR", NULL};
  f = file_with(mr);
  assert_int_equal(si_deid_recipe_filter(r, f, &flagged, reason, sizeof reason, &err), SI_OK);
  assert_false(flagged);
  assert_string_equal(reason, "");
  si_file_free(f);
  si_deid_recipe_free(r);
}

static si_deid_recipe *shipped(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/../../share/deid-recipes/%s", tu_test_data_dir(), name);
  si_deid_recipe *r = NULL;
  si_error err;
  if (si_deid_recipe_load(path, &r, &err) != SI_OK)
    fail_msg("%s", err.message);
  return r;
}

static void expect_filter(si_deid_recipe *r, const char *const *kv, int flagged_want,
                          const char *reason_want) {
  si_file *f = file_with(kv);
  int flagged;
  char reason[256];
  si_error err;
  assert_int_equal(si_deid_recipe_filter(r, f, &flagged, reason, sizeof reason, &err), SI_OK);
  if (flagged != flagged_want || strcmp(reason, reason_want) != 0)
    fail_msg("flagged %d '%s', wanted %d '%s'", flagged, reason, flagged_want, reason_want);
  si_file_free(f);
}

static void test_shipped_recipes(void **state) {
  (void)state;
  si_deid_recipe *d = shipped("deid.dicom");
  /* deid.dicom's whitelist catches a Sensation 64 CT first */
  static const char *const sensation[] = {"Modality=CT", "ManufacturerModelName=Sensation 64",
                                          "ImageType=ORIGINAL\\PRIMARY\\AXIAL", NULL};
  expect_filter(d, sensation, 0, "filter whitelist: CT Siemens Sensation 64 Catch-all");
  /* a GE LightSpeed VCT dose screen: graylist, its coordinates known */
  static const char *const dose[] = {"Modality=CT", "ManufacturerModelName=LightSpeed VCT",
                                     "ImageType=DERIVED\\SECONDARY\\SCREEN SAVE",
                                     "Manufacturer=GE MEDICAL SYSTEMS", NULL};
  expect_filter(d, dose, 1, "filter graylist: LightSpeed Dose Report");
  /* an image without Manufacturer and a RECONSTRUCTION ImageType */
  static const char *const recon[] = {"Modality=MR", "ImageType=DERIVED\\RECONSTRUCTION", NULL};
  expect_filter(d, recon, 1, "filter graylist: Stanford Med Reconstruction");
  /* a scanned document: blacklist (two lines joined by and) */
  static const char *const scan[] = {"Modality=OT", "Manufacturer=Scanner Inc",
                                     "ImageType=ORIGINAL\\SECONDARY", NULL};
  expect_filter(d, scan, 1, "filter blacklist: Any Scanned Document or Secondary Save");
  /* no ImageType at all */
  static const char *const noimagetype[] = {"Modality=MR", "Manufacturer=Acme", NULL};
  expect_filter(d, noimagetype, 1, "filter blacklist: Stanford Blacklist Missing ImageType");
  /* a plain original MR passes every LABEL */
  static const char *const plain[] = {"Modality=MR", "Manufacturer=Acme",
                                      "ImageType=ORIGINAL\\PRIMARY\\M", NULL};
  expect_filter(d, plain, 0, "");
  si_deid_recipe_free(d);

  si_deid_recipe *x = shipped("deid.dicom.xray.chest");
  static const char *const chest[] = {"Modality=CR", "BodyPartExamined=CHEST", NULL};
  expect_filter(x, chest, 0, "filter whitelist: Matt Lungren CHEST");
  static const char *const xa[] = {"Modality=XA", NULL};
  expect_filter(x, xa, 1, "filter blacklist: Matt Lungren Only Accept X-ray");
  static const char *const knee[] = {"Modality=CR", "StudyDescription=KNEE 2 VIEWS", NULL};
  expect_filter(x, knee, 1, "filter blacklist: Matt Lungren Filter Known notChest");
  si_deid_recipe_free(x);

  si_deid_recipe *us = shipped("deid.dicom.ultrasound");
  static const char *const clean_us[] = {"Modality=US", "BurnedInAnnotation=NO", NULL};
  expect_filter(us, clean_us, 0, "filter whitelist: Marked as Clean Catch All");
  static const char *const regions[] = {
      "Modality=US", "SequenceOfUltrasoundRegions[0].RegionSpatialFormat=1", NULL};
  expect_filter(us, regions, 1, "filter graylist: Clean Ultrasound Regions");
  si_deid_recipe_free(us);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_criteria),
      cmocka_unit_test(test_operators),
      cmocka_unit_test(test_first_match_and_whitelist),
      cmocka_unit_test(test_shipped_recipes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
