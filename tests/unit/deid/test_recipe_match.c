/* Field specs of deid recipes (lib/deid/recipe_match.c) against a data set
 * with nested sequences, a private block and the file meta: which elements
 * each exact name, tag form, private creator form and expander selects,
 * following deid's documentation (its header expander examples) and its
 * fields.py (nested names "Seq__Child", the keyword at any depth). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/recipe_internal.h"
#include "sendit/edit.h"
#include "sendit/write.h"

static si_file *sample(void) {
  si_file *f = NULL;
  si_error err;
  assert_int_equal(si_file_new(&f, &err), SI_OK);
  static const char *const edits[][2] = {
      {"SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"},
      {"SOPInstanceUID", "1.2.3.4.5.6"},
      {"StudyDate", "20200102"},
      {"ContentDate", "20200102"},
      {"AcquisitionDate", "20200102"},
      {"StudyTime", "101010"},
      {"AccessionNumber", "ACC123"},
      {"Modality", "CT"},
      {"Manufacturer", "GE"},
      {"InstitutionName", "General Hospital"},
      {"ReferringPhysicianName", "WHO^DOCTOR"},
      {"ManufacturerModelName", "LightSpeed"},
      {"OperatorsName", "OPER^ATOR"},
      {"PatientName", "DOE^JOHN"},
      {"PatientID", "PID-1"},
      {"PatientBirthDate", "19700101"},
      {"PatientSex", "M"},
      {"OtherPatientIDsSequence[0].PatientID", "PID-2"},
      {"OtherPatientIDsSequence[0].IssuerOfPatientID", "OTHER"},
      {"StudyInstanceUID", "1.2.3.4"},
      {"ReferencedImageSequence[0].ReferencedSOPInstanceUID", "1.2.3.9"},
      {"(0019,0010)", "Agfa ADC NX"},
      {"(0019,1007)", "YES"},
      {"(0029,0010)", "SIEMENS CSA HEADER"},
      {"(0029,1021)", "csa"},
      {"Rows", "2"},
      {"Columns", "2"},
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
    if (si_edit_set(f, edits[i][0], edits[i][1], SI_EDIT_CREATE, NULL, &err) != SI_OK)
      fail_msg("%s: %s", edits[i][0], err.message);
  uint16_t px[4] = {1, 2, 3, 4};
  assert_int_equal(si_edit_set_bytes(f, "PixelData", SI_VR_OW, px, sizeof px, &err), SI_OK);
  /* write and read back: the writer adds the file meta */
  uint8_t *b;
  size_t n;
  assert_int_equal(si_write_part10_memory(f, NULL, &b, &n, &err), SI_OK);
  si_file_free(f);
  assert_int_equal(si_read_memory(b, n, "sample", NULL, &f, &err), SI_OK);
  free(b);
  return f;
}

/* The names (nested name, else the tag) of the elements spec selects, in
 * walk order, joined by spaces. */
static char *selected(si_file *f, const char *spec) {
  char text[512];
  snprintf(text, sizeof text, "FORMAT dicom\n%%header\nREMOVE %s\n", spec);
  si_deid_recipe *r = NULL;
  si_error err;
  if (si_deid_recipe_parse(text, strlen(text), "m", &r, &err) != SI_OK)
    fail_msg("%s: %s", spec, err.message);
  recipe_elems e;
  assert_int_equal(recipe_elems_collect(f, &e, &err), SI_OK);
  char *out = calloc(1, 8192);
  for (size_t i = 0; i < e.count; i++)
    if (recipe_field_matches(&r->actions[0].field, &e.v[i])) {
      if (out[0])
        strcat(out, " ");
      if (e.v[i].name[0] && e.v[i].name[strlen(e.v[i].name) - 1] != '_')
        strcat(out, e.v[i].name);
      else
        sprintf(out + strlen(out), "%04X%04X", SI_TAG_GROUP(e.v[i].tag),
                SI_TAG_ELEMENT(e.v[i].tag));
    }
  recipe_elems_free(&e);
  si_deid_recipe_free(r);
  return out;
}

static void expect(si_file *f, const char *spec, const char *want) {
  char *got = selected(f, spec);
  if (strcmp(got, want) != 0)
    fail_msg("%s selects\n  '%s'\nwanted\n  '%s'", spec, got, want);
  free(got);
}

static void test_exact(void **state) {
  (void)state;
  si_file *f = sample();
  /* a keyword selects the element at every depth (deid's element_keyword lookup) */
  expect(f, "PatientID", "PatientID OtherPatientIDsSequence__PatientID");
  /* the nested name selects that one only */
  expect(f, "OtherPatientIDsSequence__PatientID", "OtherPatientIDsSequence__PatientID");
  /* the dictionary name and every tag spelling */
  expect(f, "PatientName", "PatientName");
  expect(f, "(0010,0010)", "PatientName");
  expect(f, "(0010, 0010)", "PatientName");
  expect(f, "00100010", "PatientName");
  /* an unknown name (deid.dicom's "PatientsName", "jitter") selects nothing */
  expect(f, "PatientsName", "");
  expect(f, "jitter", "");
  /* a private element by its creator, and not another block's */
  expect(f, "(0029,\"SIEMENS CSA HEADER\",21)", "00291021");
  expect(f, "(0029,\"siemens csa header\",21)", "00291021");
  expect(f, "(0029,\"OTHER\",21)", "");
  /* protected fields are never selected (deid's skip list) */
  expect(f, "PixelData", "");
  expect(f, "TransferSyntaxUID", "");
  si_file_free(f);
}

static void test_expanders(void **state) {
  (void)state;
  si_file *f = sample();
  /* deid's examples: endswith:Date, startswith:Patient, contains:Name */
  expect(f, "endswith:Date", "StudyDate AcquisitionDate ContentDate PatientBirthDate");
  /* case does not matter in the expression */
  expect(f, "endswith:DATE", "StudyDate AcquisitionDate ContentDate PatientBirthDate");
  /* startswith looks at the nested name, so the nested PatientID is not selected */
  expect(f, "startswith:Patient", "PatientName PatientID PatientBirthDate PatientSex");
  expect(f, "contains:Name",
         "InstitutionName ReferringPhysicianName OperatorsName ManufacturerModelName PatientName "
         "ImplementationVersionName"); /* the file meta too */
  /* endswith:ID selects nested elements by their last keyword, and every
   * ...UID too: deid compares lower-cased (deid's issue 259: deid.dicom's
   * endswith:ID and contains:UID remove all UIDs) */
  expect(f, "endswith:ID",
         "SOPClassUID SOPInstanceUID ReferencedImageSequence__ReferencedSOPInstanceUID PatientID "
         "OtherPatientIDsSequence__PatientID OtherPatientIDsSequence__IssuerOfPatientID "
         "StudyInstanceUID MediaStorageSOPClassUID MediaStorageSOPInstanceUID");
  /* contains:UID: in the data set, in items and in the file meta (not the
   * protected TransferSyntaxUID / ImplementationClassUID) */
  expect(f, "contains:UID",
         "SOPClassUID SOPInstanceUID ReferencedImageSequence__ReferencedSOPInstanceUID "
         "StudyInstanceUID MediaStorageSOPClassUID MediaStorageSOPInstanceUID");
  /* alternatives, as deid's "contains:Patient|Physician" */
  expect(f, "contains:Physician|Operator", "ReferringPhysicianName OperatorsName");
  /* the tag as ggggeeee: deid's private tag example "contains:0019" */
  expect(f, "contains:0019", "00190010 00191007");
  /* a private element by its creator's name */
  expect(f, "contains:siemens", "00291021");
  /* the tag in parentheses */
  expect(f, "contains:(0008,0050)", "AccessionNumber");
  /* select: by group and by VR */
  expect(f, "select:group:0010",
         "PatientName PatientID PatientBirthDate PatientSex OtherPatientIDsSequence "
         "OtherPatientIDsSequence__PatientID OtherPatientIDsSequence__IssuerOfPatientID");
  expect(f, "select:VR:PN", "ReferringPhysicianName OperatorsName PatientName");
  expect(f, "select:vr:da", "StudyDate AcquisitionDate ContentDate PatientBirthDate");
  si_file_free(f);
}

static void test_all_and_except(void **state) {
  (void)state;
  si_file *f = sample();
  char *all = selected(f, "ALL");
  /* every element at every depth and the meta, but not PixelData */
  assert_non_null(strstr(all, "OtherPatientIDsSequence__IssuerOfPatientID"));
  assert_non_null(strstr(all, "MediaStorageSOPInstanceUID"));
  assert_null(strstr(all, "PixelData"));
  free(all);
  /* deid's example: except:Manufacturer keeps Manufacturer and ManufacturerModelName */
  char *ex = selected(f, "except:Manufacturer");
  assert_null(strstr(ex, "Manufacturer"));
  assert_non_null(strstr(ex, "Modality"));
  assert_non_null(strstr(ex, "PatientName"));
  free(ex);
  ex = selected(f, "except:StudyDate|StudyTime");
  assert_null(strstr(ex, "StudyDate"));
  assert_null(strstr(ex, "StudyTime"));
  assert_non_null(strstr(ex, "ContentDate"));
  free(ex);
  si_file_free(f);
}

static void test_regex_translation(void **state) {
  (void)state;
  regex_t re;
  char why[128];
  assert_true(recipe_regex_compile(&re, "^\\d{3}-\\d+$", 0, why, sizeof why));
  assert_int_equal(regexec(&re, "123-45", 0, NULL, 0), 0);
  assert_int_not_equal(regexec(&re, "12a-45", 0, NULL, 0), 0);
  regfree(&re);
  assert_true(recipe_regex_compile(&re, "(?:ab)+?c[\\d.]", 0, why, sizeof why));
  assert_int_equal(regexec(&re, "xababc.", 0, NULL, 0), 0);
  assert_int_equal(regexec(&re, "abc7", 0, NULL, 0), 0);
  regfree(&re);
  assert_false(recipe_regex_compile(&re, "((((a{200}){200}){200}){200})", 0, why, sizeof why));
  assert_non_null(strstr(why, "too many repetitions"));
  /* glibc would expand these exponentially (found by fuzz_recipe: out of memory) */
  assert_false(
      recipe_regex_compile(&re, "x++++++++++++++++++++++++++++++++++++++++", 0, why, sizeof why));
  assert_non_null(strstr(why, "multiple repeat"));
  assert_false(recipe_regex_compile(&re, "((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)", 0,
                                    why, sizeof why));
  assert_false(recipe_regex_compile(&re, "a{3}{3}", 0, why, sizeof why));
  assert_true(recipe_regex_compile(&re, "a+?b{2}?", 0, why, sizeof why));
  regfree(&re);
  assert_false(recipe_regex_compile(&re, "a)", 0, why, sizeof why));
  assert_false(recipe_regex_compile(&re, "[abc", 0, why, sizeof why));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact),
      cmocka_unit_test(test_expanders),
      cmocka_unit_test(test_all_and_except),
      cmocka_unit_test(test_regex_translation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
