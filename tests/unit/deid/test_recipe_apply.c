/* A recipe's %header actions through the engine (si_deid_apply with
 * si_deid_recipe_rules): each action, the interactions deid's own tests
 * pin down (test_action_interaction.py: KEEP wins, later actions win, REMOVE
 * leaves what REPLACE / JITTER touch, JITTERs combine), var: from the
 * subject and the image, func: and deid_func:, groups, nested elements, the
 * profile leaving what the recipe decided, and deid.dicom applied to a
 * built image with the results deid gives. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/recipe_internal.h"
#include "sendit/deid.h"
#include "sendit/deid_recipe.h"
#include "sendit/dict.h"
#include "sendit/edit.h"
#include "sendit/write.h"

static const uint8_t key[SI_DEID_KEY_BYTES] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                               12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                               23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static const si_deid_subject subject = {"PSEUDO-P1", "PSEUDO-S1", 10};

static si_file *image(void) {
  si_file *f = NULL;
  si_error err;
  assert_int_equal(si_file_new(&f, &err), SI_OK);
  static const char *const edits[][2] = {
      {"SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"},
      {"SOPInstanceUID", "1.2.3.4.5.6"},
      {"StudyDate", "20230101"},
      {"SeriesDate", "20230101"},
      {"AcquisitionDateTime", "20230101101010"},
      {"StudyTime", "101010"},
      {"AccessionNumber", "ACC-4711"},
      {"Modality", "CT"},
      {"Manufacturer", "ACME"},
      {"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"},
      {"InstitutionName", "General Hospital"},
      {"ReferringPhysicianName", "WHO^DOCTOR"},
      {"StudyDescription", "CT HEAD for DOE"},
      {"OperatorsName", "OPER^ATOR"},
      {"PatientName", "DOE^JOHN"},
      {"PatientID", "PID-12345"},
      {"IssuerOfPatientID", "HOSP"},
      {"PatientBirthDate", "19700115"},
      {"PatientSex", "M"},
      {"OtherPatientIDsSequence[0].PatientID", "PID-99999"},
      {"OtherPatientIDsSequence[0].IssuerOfPatientID", "OTHER"},
      {"StudyInstanceUID", "1.2.3.4"},
      {"SeriesInstanceUID", "1.2.3.4.5"},
      {"StudyID", "S77"},
      {"SeriesNumber", "3"},
      {"ReferencedImageSequence[0].ReferencedSOPInstanceUID", "1.2.3.9"},
      {"ReferencedImageSequence[0].ReferencedSOPClassUID", "1.2.840.10008.5.1.4.1.1.2"},
      {"(0029,0010)", "SIEMENS CSA HEADER"},
      {"(0029,1021)", "csa secret"},
      {"Rows", "2"},
      {"Columns", "2"},
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
    if (si_edit_set(f, edits[i][0], edits[i][1], SI_EDIT_CREATE, NULL, &err) != SI_OK)
      fail_msg("%s: %s", edits[i][0], err.message);
  uint16_t px[4] = {1, 2, 3, 4};
  assert_int_equal(si_edit_set_bytes(f, "PixelData", SI_VR_OW, px, sizeof px, &err), SI_OK);
  uint8_t *b;
  size_t n;
  assert_int_equal(si_write_part10_memory(f, NULL, &b, &n, &err), SI_OK);
  si_file_free(f);
  assert_int_equal(si_read_memory(b, n, "image", NULL, &f, &err), SI_OK);
  free(b);
  return f;
}

/* Applies recipe text (no profile unless profile given) to f. */
static si_status apply_text(si_file *f, const char *text, unsigned profile, si_deid_report *rep,
                            si_error *err) {
  si_deid_recipe *r = NULL;
  if (si_deid_recipe_parse(text, strlen(text), "t.recipe", &r, err) != SI_OK)
    fail_msg("%s", err->message);
  si_deid_rules rules;
  si_deid_recipe_rules(r, &rules);
  si_deid_options opts;
  si_deid_options_init(&opts);
  opts.profile = profile;
  opts.rules = &rules;
  opts.key = key;
  si_status st = si_deid_apply(f, &opts, &subject, rep, err);
  si_deid_recipe_free(r);
  return st;
}

static void apply_ok(si_file *f, const char *header_lines, si_deid_report *rep) {
  char text[4096];
  snprintf(text, sizeof text, "FORMAT dicom\n%%header\n%s\n", header_lines);
  si_error err;
  if (apply_text(f, text, 0, rep, &err) != SI_OK)
    fail_msg("%s: %s", header_lines, err.message);
}

/* The value at path, "<absent>" when absent ("" for an empty value). */
static char *at(si_file *f, const char *path) {
  const si_dataset *ds = si_file_dataset(f);
  const char *dot = strrchr(path, '.');
  char seq[128] = "";
  uint32_t tag = 0;
  if (dot) {
    snprintf(seq, sizeof seq, "%.*s", (int)(dot - path), path);
    path = dot + 1;
    const si_dict_entry *d = si_dict_lookup_keyword(seq);
    const si_element *sq = d ? si_dataset_find(ds, d->tag) : NULL;
    if (!sq || !sq->item_count)
      return strdup("<absent>");
    ds = sq->items[0];
  }
  if (path[0] == '(') {
    unsigned g, e;
    sscanf(path, "(%x,%x)", &g, &e);
    tag = SI_TAG(g, e);
  } else if (strncmp(path, "meta:", 5) == 0) {
    ds = si_file_meta(f);
    tag = si_dict_lookup_keyword(path + 5)->tag;
  } else
    tag = si_dict_lookup_keyword(path)->tag;
  const si_element *el = si_dataset_find(ds, tag);
  if (!el)
    return strdup("<absent>");
  char *t = NULL;
  int none;
  assert_int_equal(recipe_elem_text(ds, el, &t, &none), SI_OK);
  return t ? t : strdup(el->vr == SI_VR_SQ ? "<sequence>" : "");
}

static void expect_at(si_file *f, const char *path, const char *want) {
  char *got = at(f, path);
  if (strcmp(got, want) != 0)
    fail_msg("%s is '%s', wanted '%s'", path, got, want);
  free(got);
}

static int recorded(const si_deid_report *rep, const char *text) {
  for (size_t i = 0; i < rep->value_count; i++)
    if (strcmp(rep->values[i].text, text) == 0)
      return 1;
  return 0;
}

static void test_each_action(void **state) {
  (void)state;
  si_deid_report rep;
  si_file *f = image();
  apply_ok(f,
           "ADD PatientIdentityRemoved YES\n"
           "ADD InstitutionName Research Site\n"
           "BLANK OperatorsName\n"
           "BLANK Rows\n"
           "BLANK ReferencedImageSequence\n"
           "JITTER StudyDate 31\n"
           "JITTER AcquisitionDateTime var:jitter\n"
           "JITTER SeriesDate func:day_shift\n"
           "REPLACE PatientID var:entity_id\n"
           "REPLACE AccessionNumber var:item_id\n"
           "REPLACE StudyDescription var:Modality\n"
           "REMOVE ReferringPhysicianName\n"
           "REMOVE (0029,\"SIEMENS CSA HEADER\",21)\n"
           "REMOVE OtherPatientIDsSequence__IssuerOfPatientID\n",
           &rep);
  expect_at(f, "PatientIdentityRemoved", "YES");
  expect_at(f, "InstitutionName", "Research Site");
  expect_at(f, "OperatorsName", "");
  expect_at(f, "Rows", "");
  expect_at(f, "ReferencedImageSequence.ReferencedSOPInstanceUID", "<absent>");
  expect_at(f, "ReferencedImageSequence", "<sequence>");
  expect_at(f, "StudyDate", "20230201");
  expect_at(f, "AcquisitionDateTime", "20230111101010");
  expect_at(f, "SeriesDate", "20230111");
  /* a keyword selects at every depth */
  expect_at(f, "PatientID", "PSEUDO-P1");
  expect_at(f, "OtherPatientIDsSequence.PatientID", "PSEUDO-P1");
  expect_at(f, "AccessionNumber", "PSEUDO-S1");
  /* var: an image field, as it was before the actions */
  expect_at(f, "StudyDescription", "CT");
  expect_at(f, "ReferringPhysicianName", "<absent>");
  expect_at(f, "(0029,1021)", "<absent>");
  expect_at(f, "(0029,0010)", "SIEMENS CSA HEADER");
  expect_at(f, "OtherPatientIDsSequence.IssuerOfPatientID", "<absent>");
  expect_at(f, "IssuerOfPatientID", "HOSP");
  /* untouched */
  expect_at(f, "PatientName", "DOE^JOHN");
  assert_int_equal(rep.removed, 3);
  assert_int_equal(rep.dates_shifted, 3);
  assert_int_equal(rep.emptied, 3);
  /* what identified someone is recorded for the leak scan */
  assert_true(recorded(&rep, "PID-12345"));
  assert_true(recorded(&rep, "PID-99999"));
  assert_true(recorded(&rep, "WHO^DOCTOR"));
  assert_true(recorded(&rep, "ACC-4711"));
  assert_true(recorded(&rep, "20230101"));
  assert_true(recorded(&rep, "General Hospital"));
  si_deid_report_free(&rep);
  si_file_free(f);
}

/* deid's test_action_interaction.py, one pair of actions on one field each. */
static void test_interactions(void **state) {
  (void)state;
  static const struct {
    const char *lines, *path, *want;
  } cases[] = {
      {"ADD PatientIdentityRemoved NO\nADD PatientIdentityRemoved YES", "PatientIdentityRemoved",
       "YES"},
      {"ADD Manufacturer X\nBLANK Manufacturer", "Manufacturer", ""},
      {"ADD StudyDate 20221128\nJITTER StudyDate 5", "StudyDate", "20221203"},
      {"ADD StudyDate 20221128\nKEEP StudyDate", "StudyDate", "20221128"},
      {"ADD StudyDate 20221128\nREPLACE StudyDate 20221129", "StudyDate", "20221129"},
      {"ADD StudyDate 20221128\nREMOVE StudyDate", "StudyDate", "<absent>"},
      {"BLANK Manufacturer\nADD Manufacturer Testing", "Manufacturer", "Testing"},
      {"BLANK Manufacturer\nBLANK Manufacturer", "Manufacturer", ""},
      {"BLANK StudyDate\nJITTER StudyDate 1", "StudyDate", ""},
      {"BLANK Manufacturer\nKEEP Manufacturer", "Manufacturer", "ACME"},
      {"BLANK Manufacturer\nREPLACE Manufacturer Testing", "Manufacturer", "Testing"},
      {"BLANK Manufacturer\nREMOVE Manufacturer", "Manufacturer", "<absent>"},
      {"JITTER StudyDate 1\nADD StudyDate 20221129", "StudyDate", "20221129"},
      {"JITTER StudyDate 1\nBLANK StudyDate", "StudyDate", ""},
      {"JITTER StudyDate 1\nJITTER StudyDate 2", "StudyDate", "20230104"},
      {"JITTER StudyDate 1\nKEEP StudyDate", "StudyDate", "20230101"},
      {"JITTER StudyDate 1\nREPLACE StudyDate 20221129", "StudyDate", "20221129"},
      {"JITTER StudyDate 1\nREMOVE StudyDate", "StudyDate", "20230102"},
      {"KEEP Manufacturer\nADD Manufacturer Testing", "Manufacturer", "Testing"},
      {"KEEP Manufacturer\nBLANK Manufacturer", "Manufacturer", "ACME"},
      {"KEEP StudyDate\nJITTER StudyDate 1", "StudyDate", "20230101"},
      {"KEEP Manufacturer\nREPLACE Manufacturer Testing", "Manufacturer", "ACME"},
      {"KEEP Manufacturer\nREMOVE Manufacturer", "Manufacturer", "ACME"},
      {"REPLACE Manufacturer TestingReplace\nADD Manufacturer TestingAdd", "Manufacturer",
       "TestingAdd"},
      {"REPLACE Manufacturer TestingReplace\nBLANK Manufacturer", "Manufacturer", ""},
      {"REPLACE StudyDate 20221128\nJITTER StudyDate 5", "StudyDate", "20221203"},
      {"REPLACE StudyDate 20221128\nKEEP StudyDate", "StudyDate", "20230101"},
      {"REPLACE Manufacturer Testing\nREMOVE Manufacturer", "Manufacturer", "Testing"},
      {"REMOVE Manufacturer\nREPLACE Manufacturer Testing", "Manufacturer", "Testing"},
      {"REMOVE Manufacturer\nADD Manufacturer Testing", "Manufacturer", "Testing"},
      /* KEEP wins over an expander too, and over REMOVE ALL */
      {"REMOVE ALL\nKEEP Modality", "Modality", "CT"},
      {"REMOVE ALL\nKEEP Modality", "Manufacturer", "<absent>"},
      /* a kept sequence keeps its items */
      {"KEEP OtherPatientIDsSequence\nREMOVE PatientID", "OtherPatientIDsSequence.PatientID",
       "PID-99999"},
      {"KEEP OtherPatientIDsSequence\nREMOVE PatientID", "PatientID", "<absent>"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    si_file *f = image();
    si_deid_report rep;
    apply_ok(f, cases[i].lines, &rep);
    char *got = at(f, cases[i].path);
    if (strcmp(got, cases[i].want) != 0)
      fail_msg("case %zu '%s': %s is '%s', wanted '%s'", i, cases[i].lines, cases[i].path, got,
               cases[i].want);
    free(got);
    si_deid_report_free(&rep);
    si_file_free(f);
  }
}

static void test_funcs_and_groups(void **state) {
  (void)state;
  si_file *f = image(), *g = image();
  si_deid_report rep;
  static const char *const lines =
      "REPLACE SOPInstanceUID func:generate_uid\n"
      "REPLACE StudyInstanceUID deid_func:pydicom_uuid\n"
      "REPLACE SeriesInstanceUID deid_func:pydicom_uuid prefix=1.2.826.\n"
      "REPLACE Manufacturer deid_func:basic_uuid\n"
      "REPLACE InstitutionName deid_func:suffix_uuid\n"
      "REPLACE PatientBirthDate deid_func:jitter days=2 years=1\n"
      "ADD FrameOfReferenceUID func:generate_uid\n"
      "REMOVE ALL func:is_name\n";
  apply_ok(f, lines, &rep);
  si_deid_report_free(&rep);
  apply_ok(g, lines, &rep);
  /* keyed: the same on every file, and the reference inside the sequence is untouched here */
  char *a1 = at(f, "SOPInstanceUID"), *a2 = at(g, "SOPInstanceUID");
  assert_string_equal(a1, a2);
  assert_int_equal(strncmp(a1, "2.25.", 5), 0);
  char want[65];
  si_deid_uid_remap(key, "1.2.3.4.5.6", 11, want);
  assert_string_equal(a1, want);
  free(a1);
  free(a2);
  si_deid_uid_remap(key, "1.2.3.4", 7, want);
  expect_at(f, "StudyInstanceUID", want);
  char *series = at(f, "SeriesInstanceUID");
  assert_int_equal(strncmp(series, "1.2.826.", 8), 0);
  assert_true(si_uid_is_valid(series, strlen(series)));
  free(series);
  char *acc = at(f, "Manufacturer");
  assert_int_equal(strlen(acc), 36);
  assert_int_equal(acc[14], '4');
  free(acc);
  /* suffix_uuid: the lower-cased field name and a UUID */
  char *inst = at(f, "InstitutionName");
  assert_int_equal(strncmp(inst, "institutionname-", 16), 0);
  assert_int_equal(strlen(inst), 16 + 36);
  free(inst);
  /* jitter with days= and years=: 365 + 2 days */
  expect_at(f, "PatientBirthDate", "19710117");
  char *fr1 = at(f, "FrameOfReferenceUID"), *fr2 = at(g, "FrameOfReferenceUID");
  assert_string_equal(fr1, fr2);
  free(fr1);
  free(fr2);
  /* is_name: PatientName itself and the description naming DOE go, the rest stays */
  expect_at(f, "PatientName", "<absent>");
  expect_at(f, "StudyDescription", "<absent>");
  expect_at(f, "Modality", "CT");
  si_deid_report_free(&rep);
  si_file_free(f);
  si_file_free(g);

  /* %values: the pieces of PatientName, then every element holding one;
   * %fields: the elements selected, by tag */
  f = image();
  si_error err;
  static const char groups[] = "FORMAT dicom\n"
                               "%values names\n"
                               "SPLIT PatientName by=\"^\";minlength=3\n"
                               "%fields dates\n"
                               "FIELD endswith:Date\n"
                               "%header\n"
                               "REPLACE values:names REDACTED\n"
                               "REMOVE fields:dates\n";
  assert_int_equal(apply_text(f, groups, 0, &rep, &err), SI_OK);
  expect_at(f, "PatientName", "REDACTED");
  expect_at(f, "StudyDescription", "REDACTED");
  expect_at(f, "OperatorsName", "OPER^ATOR");
  expect_at(f, "StudyDate", "<absent>");
  expect_at(f, "PatientBirthDate", "<absent>");
  expect_at(f, "AcquisitionDateTime", "20230101101010");
  si_deid_report_free(&rep);
  si_file_free(f);
}

static void test_value_expander_and_errors(void **state) {
  (void)state;
  si_file *f = image();
  si_deid_report rep;
  apply_ok(f, "REMOVE ALL contains:^pid-\\d+$", &rep);
  expect_at(f, "PatientID", "<absent>");
  expect_at(f, "OtherPatientIDsSequence.PatientID", "<absent>");
  expect_at(f, "AccessionNumber", "ACC-4711");
  si_deid_report_free(&rep);
  si_file_free(f);
  /* a REPLACE whose var: has no value fails the image instead of leaving the original */
  f = image();
  si_error err;
  assert_int_equal(
      apply_text(f, "FORMAT dicom\n%header\n\nREPLACE PatientID var:nothing\n", 0, &rep, &err),
      SI_ERR_VALUE);
  assert_string_equal(err.file, "t.recipe");
  assert_non_null(strstr(err.message, "line 4: REPLACE PatientID (0010,0020)"));
  si_deid_report_free(&rep);
  si_file_free(f);
  /* a value that does not fit the VR names the line and the tag */
  f = image();
  assert_int_equal(apply_text(f, "FORMAT dicom\n%header\nREPLACE Rows many\n", 0, &rep, &err),
                   SI_ERR_VALUE);
  assert_non_null(strstr(err.message, "line 3: REPLACE Rows (0028,0010)"));
  si_deid_report_free(&rep);
  si_file_free(f);
  /* an ADD whose var: has no value adds nothing (deid) */
  f = image();
  apply_ok(f, "ADD PatientComments var:nothing", &rep);
  expect_at(f, "PatientComments", "<absent>");
  si_deid_report_free(&rep);
  si_file_free(f);
  /* UID functions need the key */
  f = image();
  si_deid_recipe *r = NULL;
  static const char uidr[] = "FORMAT dicom\n%header\nREPLACE SOPInstanceUID func:generate_uid\n";
  assert_int_equal(si_deid_recipe_parse(uidr, strlen(uidr), "k", &r, &err), SI_OK);
  si_deid_rules rules;
  si_deid_recipe_rules(r, &rules);
  si_deid_options opts;
  si_deid_options_init(&opts);
  opts.profile = 0;
  opts.rules = &rules;
  assert_int_equal(si_deid_apply(f, &opts, &subject, &rep, &err), SI_ERR_STATE);
  assert_non_null(strstr(err.message, "key"));
  si_deid_report_free(&rep);
  si_deid_recipe_free(r);
  si_file_free(f);
}

/* With the profile: what the recipe decided stays; the rest is the profile's. */
static void test_profile_leaves_decided(void **state) {
  (void)state;
  si_file *f = image();
  si_deid_report rep;
  si_error err;
  static const char text[] = "FORMAT dicom\n%header\n"
                             "KEEP InstitutionName\n"
                             "REPLACE StudyDescription Head study\n";
  assert_int_equal(apply_text(f, text, SI_DEID_PROFILE_BASIC, &rep, &err), SI_OK);
  expect_at(f, "InstitutionName", "General Hospital");
  expect_at(f, "StudyDescription", "Head study");
  char *pn = at(f, "PatientName");
  assert_string_not_equal(pn, "DOE^JOHN");
  free(pn);
  char *uid = at(f, "SOPInstanceUID");
  assert_string_not_equal(uid, "1.2.3.4.5.6");
  free(uid);
  si_deid_report_free(&rep);
  si_file_free(f);
}

/* deid.dicom (deid's default, the original sendit's recipe) on the built
 * image, recipe alone. What deid does with it: every ...Date / ...Time /
 * ...time removed, then PatientBirthDate and StudyDate added back from the
 * identifier service's jittered timestamps; PatientID and AccessionNumber
 * replaced by the coded ids; IssuerOfPatientID STARR; names and IDs removed
 * (endswith:ID also takes StudyID and every ...UID, at every depth and in the
 * file meta: the original's outputs had no SOPInstanceUID); what the recipe
 * does not name (Modality, InstitutionName, PatientSex, the private block,
 * pixel data) stays. */
static void test_deid_dicom(void **state) {
  (void)state;
  char path[4096];
  snprintf(path, sizeof path, "%s/../../share/deid-recipes/deid.dicom", tu_test_data_dir());
  si_deid_recipe *r = NULL;
  si_error err;
  assert_int_equal(si_deid_recipe_load(path, &r, &err), SI_OK);
  si_deid_rules rules;
  si_deid_recipe_rules(r, &rules);
  assert_string_equal(rules.name, "deid recipe deid.dicom");
  si_deid_options opts;
  si_deid_options_init(&opts);
  opts.profile = 0;
  opts.rules = &rules;
  opts.key = key;
  si_file *f = image();
  si_deid_report rep;
  assert_int_equal(si_deid_apply(f, &opts, &subject, &rep, &err), SI_OK);
  if (rep.flagged)
    fail_msg("flagged: %s", rep.flag_reason); /* a plain CT: no LABEL matches */
  static const char *const expected[][2] = {
      {"StudyDate", "20230111"},        /* ADD StudyDate var:item_timestamp */
      {"PatientBirthDate", "19700125"}, /* ADD PatientBirthDate var:entity_timestamp */
      {"SeriesDate", "<absent>"},       /* REMOVE endswith:Date */
      {"StudyTime", "<absent>"},        /* REMOVE endswith:Time */
      {"AcquisitionDateTime", "<absent>"},
      {"PatientID", "PSEUDO-P1"},       /* REMOVE PatientID, ADD PatientID var:entity_id */
      {"AccessionNumber", "PSEUDO-S1"}, /* ADD AccessionNumber var:item_id */
      {"IssuerOfPatientID", "STARR"},
      {"PatientIdentityRemoved", "YES"},
      {"PatientName", "<absent>"},
      {"ReferringPhysicianName", "<absent>"},
      {"OperatorsName", "<absent>"},
      {"OtherPatientIDsSequence", "<absent>"},
      {"StudyID", "<absent>"},        /* endswith:ID */
      {"SOPInstanceUID", "<absent>"}, /* contains:UID (and endswith:ID) */
      {"StudyInstanceUID", "<absent>"},
      {"SeriesInstanceUID", "<absent>"},
      {"SOPClassUID", "<absent>"},
      {"ReferencedImageSequence.ReferencedSOPInstanceUID", "<absent>"},
      {"meta:MediaStorageSOPInstanceUID", "<absent>"},
      {"meta:TransferSyntaxUID", "1.2.840.10008.1.2.1"}, /* protected */
      {"Modality", "CT"},
      {"Manufacturer", "ACME"},
      {"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"},
      {"InstitutionName", "General Hospital"},
      {"StudyDescription", "CT HEAD for DOE"},
      {"PatientSex", "M"},
      {"SeriesNumber", "3"},
      {"(0029,1021)", "csa secret"},
  };
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
    expect_at(f, expected[i][0], expected[i][1]);
  const si_element *px = si_dataset_find(si_file_dataset(f), SI_TAG_PIXEL_DATA);
  assert_non_null(px);
  assert_int_equal(px->value_len, 8);
  assert_true(recorded(&rep, "DOE^JOHN"));
  assert_true(recorded(&rep, "1.2.3.4.5.6"));
  assert_true(recorded(&rep, "PID-12345"));
  si_deid_report_free(&rep);
  si_file_free(f);

  /* a dose screen capture is held for review, unchanged */
  f = image();
  assert_int_equal(
      si_edit_set(f, "ImageType", "DERIVED\\SECONDARY\\SCREEN SAVE", SI_EDIT_CREATE, NULL, &err),
      SI_OK);
  assert_int_equal(
      si_edit_set(f, "ManufacturerModelName", "LightSpeed VCT", SI_EDIT_CREATE, NULL, &err), SI_OK);
  assert_int_equal(si_deid_apply(f, &opts, &subject, &rep, &err), SI_OK);
  assert_true(rep.flagged);
  assert_string_equal(rep.flag_reason, "filter graylist: LightSpeed Dose Report");
  expect_at(f, "PatientName", "DOE^JOHN");
  si_deid_report_free(&rep);
  si_file_free(f);
  si_deid_recipe_free(r);
}

/* Whether any element of ds (at any depth) has a keyword ending in suffix,
 * the protected TransferSyntaxUID / ImplementationClassUID apart. */
static const char *find_suffix(const si_dataset *ds, const char *suffix,
                               const char *const *allowed) {
  size_t sl = strlen(suffix);
  for (size_t i = 0; i < si_dataset_count(ds); i++) {
    const si_element *el = si_dataset_at(ds, i);
    const si_dict_entry *d = (SI_TAG_GROUP(el->tag) & 1) ? NULL : si_dict_lookup(el->tag);
    const char *kw = d ? d->keyword : "";
    size_t kl = strlen(kw);
    int ok = 0;
    for (const char *const *a = allowed; *a; a++)
      ok |= strcmp(kw, *a) == 0;
    if (!ok && kl >= sl && strcasecmp(kw + kl - sl, suffix) == 0)
      return kw;
    for (size_t k = 0; k < el->item_count; k++) {
      const char *hit = find_suffix(el->items[k], suffix, allowed);
      if (hit)
        return hit;
    }
  }
  return NULL;
}

/* The three shipped recipes on real files (pydicom's test files, when the
 * shared samples are there): deid.dicom leaves no UID, date, time, ID or
 * patient / physician / operator name anywhere but what it adds back, and every output is written
 * and read back. */
static void test_shipped_on_samples(void **state) {
  (void)state;
  const char *dir = tu_samples_dir();
  if (!dir) {
    skip();
    return;
  }
  static const char *const files[] = {"CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm"};
  static const char *const recipes[] = {"deid.dicom", "deid.dicom.ultrasound",
                                        "deid.dicom.xray.chest"};
  size_t checked = 0;
  for (size_t ri = 0; ri < 3; ri++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/../../share/deid-recipes/%s", tu_test_data_dir(), recipes[ri]);
    si_deid_recipe *r = NULL;
    si_error err;
    assert_int_equal(si_deid_recipe_load(path, &r, &err), SI_OK);
    si_deid_rules rules;
    si_deid_recipe_rules(r, &rules);
    /* deid.dicom's filters hold MR_small (DERIVED) and the RT files (no
     * ImageType) for review: its header actions are checked on all four */
    if (ri == 0)
      rules.filter = NULL;
    si_deid_options opts;
    si_deid_options_init(&opts);
    opts.profile = 0;
    opts.rules = &rules;
    opts.key = key;
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
      snprintf(path, sizeof path, "%s/pydicom/src/pydicom/data/test_files/%s", dir, files[fi]);
      si_file *f = NULL;
      if (si_read_file(path, NULL, &f, &err) != SI_OK)
        fail_msg("%s: %s", path, err.message);
      si_deid_report rep;
      if (si_deid_apply(f, &opts, &subject, &rep, &err) != SI_OK)
        fail_msg("%s on %s: %s", recipes[ri], files[fi], err.message);
      if (ri == 0 && !rep.flagged) {
        static const char *const uids[] = {"TransferSyntaxUID", "ImplementationClassUID", NULL};
        static const char *const dates[] = {"PatientBirthDate", "StudyDate", NULL};
        static const char *const none[] = {NULL};
        static const char *const ids[] = {"PatientID", "IssuerOfPatientID", NULL};
        const char *hit;
        if ((hit = find_suffix(si_file_dataset(f), "UID", uids)) ||
            (hit = find_suffix(si_file_meta(f), "UID", uids)) ||
            (hit = find_suffix(si_file_dataset(f), "Date", dates)) ||
            (hit = find_suffix(si_file_dataset(f), "Time", none)) ||
            (hit = find_suffix(si_file_dataset(f), "PatientName", none)) ||
            (hit = find_suffix(si_file_dataset(f), "PhysicianName", none)) ||
            (hit = find_suffix(si_file_dataset(f), "OperatorsName", none)) ||
            (hit = find_suffix(si_file_dataset(f), "ID", ids)))
          fail_msg("deid.dicom left %s in %s", hit, files[fi]);
        expect_at(f, "PatientID", "PSEUDO-P1");
        expect_at(f, "PatientIdentityRemoved", "YES");
        checked++;
      }
      uint8_t *b;
      size_t n;
      if (si_write_part10_memory(f, NULL, &b, &n, &err) != SI_OK)
        fail_msg("write %s: %s", files[fi], err.message);
      si_file *back = NULL;
      assert_int_equal(si_read_memory(b, n, "back", NULL, &back, &err), SI_OK);
      free(b);
      si_file_free(back);
      si_deid_report_free(&rep);
      si_file_free(f);
    }
    si_deid_recipe_free(r);
  }
  assert_int_equal(checked, sizeof files / sizeof files[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_action),
      cmocka_unit_test(test_interactions),
      cmocka_unit_test(test_funcs_and_groups),
      cmocka_unit_test(test_value_expander_and_errors),
      cmocka_unit_test(test_profile_leaves_decided),
      cmocka_unit_test(test_deid_dicom),
      cmocka_unit_test(test_shipped_on_samples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
