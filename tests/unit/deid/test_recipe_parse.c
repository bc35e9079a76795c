/* deid recipe parser (sendit/deid_recipe.h, lib/deid/recipe_parse.c): the
 * three recipes deid ships parse into the model deid builds from them; each
 * action, expander, value form, group and filter line form; and every error
 * names the file, the line and what was expected there. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/recipe_internal.h"
#include "sendit/deid_recipe.h"

static si_deid_recipe *load_shipped(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/../../share/deid-recipes/%s", tu_test_data_dir(), name);
  si_deid_recipe *r = NULL;
  si_error err;
  if (si_deid_recipe_load(path, &r, &err) != SI_OK)
    fail_msg("%s: %s", name, err.message);
  return r;
}

static si_deid_recipe *parse_ok(const char *text) {
  si_deid_recipe *r = NULL;
  si_error err;
  if (si_deid_recipe_parse(text, strlen(text), "t.recipe", &r, &err) != SI_OK)
    fail_msg("'%s': %s", text, err.message);
  return r;
}

static const recipe_label *label_named(const si_deid_recipe *r, const char *name) {
  for (size_t f = 0; f < r->filter_count; f++)
    for (size_t l = 0; l < r->filters[f].count; l++)
      if (strcmp(r->filters[f].labels[l].name, name) == 0)
        return &r->filters[f].labels[l];
  fail_msg("no LABEL %s", name);
  return NULL;
}

static void test_deid_dicom(void **state) {
  (void)state;
  si_deid_recipe *r = load_shipped("deid.dicom");
  assert_true(si_deid_recipe_has_header(r));
  assert_true(si_deid_recipe_has_filters(r));
  assert_string_equal(r->rules_name, "deid recipe deid.dicom");
  /* 67 REMOVE then 6 ADD then "REMOVE jitter", in file order */
  assert_int_equal(r->action_count, 73);
  assert_int_equal(r->actions[0].kind, RECIPE_REMOVE);
  assert_int_equal(r->actions[0].field.kind, FIELD_ENDSWITH);
  assert_string_equal(r->actions[0].field.expr, "time");
  assert_int_equal(r->actions[0].line, 824);
  assert_int_equal(r->actions[6].field.kind, FIELD_STARTSWITH);
  assert_string_equal(r->actions[6].field.expr, "issuedate");
  size_t adds = 0;
  for (size_t i = 0; i < r->action_count; i++)
    if (r->actions[i].kind == RECIPE_ADD)
      adds++;
  assert_int_equal(adds, 6);
  const recipe_action *issuer = &r->actions[66];
  assert_int_equal(issuer->kind, RECIPE_ADD);
  assert_string_equal(issuer->field.text, "IssuerOfPatientID");
  assert_int_equal(issuer->value.kind, VALUE_LITERAL);
  assert_string_equal(issuer->value.text, "STARR");
  assert_int_equal(r->actions[67].value.kind, VALUE_VAR);
  assert_string_equal(r->actions[67].value.text, "entity_timestamp");
  /* the last line removes a field named "jitter": a name, not an error */
  assert_int_equal(r->actions[72].kind, RECIPE_REMOVE);
  assert_int_equal(r->actions[72].field.kind, FIELD_EXACT);
  assert_string_equal(r->actions[72].field.text, "jitter");
  /* filters: whitelist, graylist, blacklist in recipe order */
  assert_int_equal(r->filter_count, 3);
  assert_string_equal(r->filters[0].name, "whitelist");
  assert_int_equal(r->filters[0].count, 2);
  assert_string_equal(r->filters[1].name, "graylist");
  assert_int_equal(r->filters[1].count, 109);
  assert_string_equal(r->filters[2].name, "blacklist");
  assert_int_equal(r->filters[2].count, 7);
  /* a LABEL's name stops at its comment */
  assert_string_equal(r->filters[0].labels[0].name, "CT Siemens Sensation 64 Catch-all");
  /* coordinates are kept for a pixel cleaner (sendit does not clean pixels) */
  const recipe_label *dose = label_named(r, "LightSpeed Dose Report");
  assert_int_equal(dose->coordinate_count, 1);
  assert_string_equal(dose->coordinates[0].kind, "coordinates");
  assert_string_equal(dose->coordinates[0].text, "0,0,512,121");
  const recipe_label *mrcp = label_named(r, "Volume Rendering - MRCP");
  assert_int_equal(mrcp->coordinate_count, 2);
  assert_string_equal(mrcp->coordinates[1].kind, "ctpcoordinates");
  assert_string_equal(mrcp->coordinates[1].text, "390,80,122,15");
  /* "+ contains ImageType SCREEN SAVE || contains SeriesDescription Dose" */
  const recipe_line *l3 = &dose->lines[2];
  assert_int_equal(l3->op, 1);
  assert_int_equal(l3->count, 2);
  assert_int_equal(l3->criteria[0].kind, CRIT_CONTAINS);
  assert_string_equal(l3->criteria[0].field.text, "ImageType");
  assert_string_equal(l3->criteria[0].value, "screen save");
  assert_int_equal(l3->criteria[1].op, 2);
  assert_string_equal(l3->criteria[1].value, "dose");
  /* a '+' inside a value stays in it: "SOMATOM Definition AS+" */
  const recipe_label *somatom = label_named(r, "CT Siemens SOMATOM Catch-all");
  assert_int_equal(somatom->lines[0].count, 1);
  assert_string_equal(somatom->lines[0].criteria[0].value, "somatom definition as+");
  /* "DERIVED+SECONDARY+SCREEN SAVE": no criterion word after '+': one value */
  const recipe_label *gold = label_named(r, "Stanford Medical Center GE");
  assert_string_equal(gold->lines[2].criteria[0].value, "derived+secondary+screen save");
  /* a line without operator (blacklist "Any REPORTDATA"...) and missing || empty */
  const recipe_label *missing = label_named(r, "Stanford Blacklist Missing ImageType");
  assert_int_equal(missing->lines[0].count, 2);
  assert_int_equal(missing->lines[0].criteria[0].kind, CRIT_MISSING);
  assert_int_equal(missing->lines[0].criteria[1].kind, CRIT_EMPTY);
  assert_int_equal(missing->lines[0].criteria[1].op, 2);
  /* "coordinates 450,0,672, 85" at the line's start still belongs to its LABEL */
  const recipe_label *lab3d = label_named(r, "3D Lab reconstructions");
  assert_int_equal(lab3d->coordinate_count, 1);
  assert_string_equal(lab3d->coordinates[0].text, "450,0,672, 85");
  si_deid_recipe_free(r);
}

static void test_other_shipped(void **state) {
  (void)state;
  si_deid_recipe *us = load_shipped("deid.dicom.ultrasound");
  assert_int_equal(us->action_count, 73);
  assert_int_equal(us->filter_count, 2);
  const recipe_label *regions = label_named(us, "Clean Ultrasound Regions");
  assert_int_equal(regions->lines[0].criteria[0].kind, CRIT_PRESENT);
  assert_string_equal(regions->coordinates[0].kind, "keepcoordinates");
  assert_string_equal(regions->coordinates[0].text, "from:SequenceOfUltrasoundRegions");
  const recipe_label *blank = label_named(us, "Blank Image");
  assert_int_equal(blank->count, 0);
  assert_string_equal(blank->coordinates[0].text, "all");
  si_deid_recipe_free(us);

  si_deid_recipe *x = load_shipped("deid.dicom.xray.chest");
  assert_false(si_deid_recipe_has_header(x));
  assert_true(si_deid_recipe_has_filters(x));
  assert_int_equal(x->filter_count, 2);
  const recipe_label *chest = label_named(x, "Matt Lungren CHEST");
  assert_int_equal(chest->count, 3);
  assert_int_equal(chest->lines[1].op, 2);
  assert_int_equal(chest->lines[2].op, 1);
  assert_int_equal(chest->lines[2].count, 2);
  assert_string_equal(chest->lines[0].criteria[0].value, "cr|dx|pr");
  si_deid_recipe_free(x);
}

static void test_actions_and_values(void **state) {
  (void)state;
  si_deid_recipe *r = parse_ok("format DICOM\n"
                               "%header\n"
                               "ADD PatientIdentityRemoved YES   # a comment\n"
                               "BLANK OperatorsName\n"
                               "JITTER StudyDate 31\n"
                               "JITTER endswith:Date var:jitter\n"
                               "KEEP Modality\n"
                               "REPLACE PatientID var:entity_id\n"
                               "REPLACE SOPInstanceUID func:generate_uid\n"
                               "REPLACE StudyInstanceUID deid_func:pydicom_uuid prefix=1.2.840.\n"
                               "REPLACE AcquisitionDate deid_func:jitter days=3 years=1\n"
                               "REMOVE ReferringPhysicianName\n"
                               "REMOVE ALL func:is_name\n"
                               "REMOVE contains:Comment contains:\\d{7}\n"
                               "remove (0029,\"SIEMENS CSA HEADER\",21)\n"
                               "REMOVE (0010,0010)\n"
                               "REMOVE (0010, 0020)\n"
                               "REMOVE 00100030\n"
                               "REMOVE select:group:0010\n"
                               "REMOVE select:VR:pn\n"
                               "BLANK except:StudyDate|StudyTime\n");
  assert_int_equal(r->action_count, 19);
  const recipe_action *a = r->actions;
  assert_int_equal(a[0].kind, RECIPE_ADD);
  assert_string_equal(a[0].value.text, "YES");
  assert_int_equal(a[1].kind, RECIPE_BLANK);
  assert_int_equal(a[1].value.kind, VALUE_NONE);
  assert_int_equal(a[2].value.kind, VALUE_LITERAL);
  assert_string_equal(a[3].value.text, "jitter");
  assert_int_equal(a[4].kind, RECIPE_KEEP);
  assert_int_equal(a[6].value.kind, VALUE_FUNC);
  assert_int_equal(a[6].value.func, FUNC_GENERATE_UID);
  assert_int_equal(a[7].value.kind, VALUE_DEID_FUNC);
  assert_int_equal(a[7].value.func, DEID_FUNC_PYDICOM_UUID);
  assert_string_equal(a[7].value.prefix, "1.2.840.");
  assert_int_equal(a[8].value.func, DEID_FUNC_JITTER);
  assert_int_equal(a[8].value.days, 368);
  assert_int_equal(a[10].field.kind, FIELD_ALL);
  assert_int_equal(a[10].value.func, FUNC_IS_NAME);
  assert_int_equal(a[11].field.kind, FIELD_CONTAINS);
  assert_int_equal(a[11].value.kind, VALUE_EXPANDER);
  assert_int_equal(a[11].value.func, CRIT_CONTAINS);
  assert_int_equal(a[12].kind, RECIPE_REMOVE); /* actions are case-insensitive */
  assert_int_equal(a[12].field.kind, FIELD_PRIVATE);
  assert_string_equal(a[12].field.creator, "SIEMENS CSA HEADER");
  assert_int_equal(a[12].field.group, 0x0029);
  assert_int_equal(a[12].field.private_element, 0x21);
  assert_true(a[13].field.has_tag);
  assert_int_equal(a[13].field.tag, SI_TAG(0x0010, 0x0010));
  assert_int_equal(a[14].field.tag, SI_TAG(0x0010, 0x0020));
  assert_int_equal(a[15].field.tag, SI_TAG(0x0010, 0x0030));
  assert_int_equal(a[16].field.kind, FIELD_SELECT_GROUP);
  assert_int_equal(a[16].field.group, 0x0010);
  assert_int_equal(a[17].field.kind, FIELD_SELECT_VR);
  assert_int_equal(a[17].field.vr, SI_VR_PN);
  assert_int_equal(a[18].field.kind, FIELD_EXCEPT);
  assert_string_equal(a[18].field.expr, "studydate|studytime");
  assert_false(si_deid_recipe_has_filters(r));
  si_deid_recipe_free(r);
}

static void test_groups(void **state) {
  (void)state;
  si_deid_recipe *r = parse_ok("FORMAT dicom\n"
                               "%values cookie_names\n"
                               "SPLIT PatientName by=\"^\";minlength=4\n"
                               "FIELD startswith:Operator\n"
                               "%fields instance_fields\n"
                               "FIELD contains:Instance\n"
                               "%header\n"
                               "REPLACE values:cookie_names var:entity_id\n"
                               "REMOVE fields:instance_fields\n");
  assert_int_equal(r->group_count, 2);
  assert_true(r->groups[0].is_values);
  assert_int_equal(r->groups[0].count, 2);
  assert_true(r->groups[0].actions[0].split);
  assert_string_equal(r->groups[0].actions[0].split_by, "^");
  assert_int_equal(r->groups[0].actions[0].minlength, 4);
  assert_false(r->groups[0].actions[1].split);
  assert_false(r->groups[1].is_values);
  assert_int_equal(r->actions[0].field.kind, FIELD_VALUES);
  assert_int_equal(r->actions[0].field.group_ref, 0);
  assert_int_equal(r->actions[1].field.kind, FIELD_FIELDS);
  assert_int_equal(r->actions[1].field.group_ref, 1);
  si_deid_recipe_free(r);
}

/* Every error: the file, the line, and what was expected there. */
static void test_errors(void **state) {
  (void)state;
  static const struct {
    const char *text;
    si_status code;
    unsigned line;
    const char *says;
  } cases[] = {
      {"%header\nREMOVE PatientID\n", SI_ERR_PARSE, 1, "expected FORMAT dicom (no FORMAT"},
      {"FORMAT nifti\n", SI_ERR_PARSE, 1, "expected FORMAT dicom"},
      {"FORMAT dicom\nREMOVE PatientID\n", SI_ERR_PARSE, 2, "expected FORMAT dicom or a section"},
      {"FORMAT dicom\n%pixels\n", SI_ERR_PARSE, 2, "unknown section '%pixels'"},
      {"FORMAT dicom\n%header\nDELETE PatientID\n", SI_ERR_PARSE, 3, "expected an action (ADD"},
      {"FORMAT dicom\n%header\nREMOVEX PatientID\n", SI_ERR_PARSE, 3, "expected an action"},
      {"FORMAT dicom\n%header\nREMOVE\n", SI_ERR_PARSE, 3, "expected a field after REMOVE"},
      {"FORMAT dicom\n%header\nREMOVE beginswith:Patient\n", SI_ERR_PARSE, 3,
       "unknown expander 'beginswith:'"},
      {"FORMAT dicom\n%header\nREMOVE select:tag:0010\n", SI_ERR_PARSE, 3, "unknown selector"},
      {"FORMAT dicom\n%header\nREMOVE select:VR:\n", SI_ERR_PARSE, 3, "expected select:group:"},
      {"FORMAT dicom\n%header\nREMOVE contains:\n", SI_ERR_PARSE, 3, "expected an expression"},
      {"FORMAT dicom\n%header\n\nADD PatientID\n", SI_ERR_PARSE, 4,
       "expected a value after ADD PatientID"},
      {"FORMAT dicom\n%header\nADD contains:ID x\n", SI_ERR_PARSE, 3, "not the expander"},
      {"FORMAT dicom\n%header\nADD NoSuchKeyword x\n", SI_ERR_PARSE, 3,
       "expected a dictionary keyword or a tag after ADD"},
      {"FORMAT dicom\n%header\nBLANK PatientID x\n", SI_ERR_PARSE, 3,
       "expected nothing after BLANK"},
      {"FORMAT dicom\n%header\nREPLACE PatientID func:my_function\n", SI_ERR_PARSE, 3,
       "unknown func:my_function"},
      {"FORMAT dicom\n%header\nREPLACE PatientID deid_func:nope\n", SI_ERR_PARSE, 3,
       "unknown deid_func:nope"},
      {"FORMAT dicom\n%header\nREPLACE PatientID deid_func:jitter weeks=2\n", SI_ERR_PARSE, 3,
       "unknown option 'weeks'"},
      {"FORMAT dicom\n%header\nREPLACE PatientID other:x\n", SI_ERR_PARSE, 3,
       "unknown value type 'other:'"},
      {"FORMAT dicom\n%header\nJITTER StudyDate soon\n", SI_ERR_PARSE, 3,
       "expected a whole number of days for JITTER"},
      {"FORMAT dicom\n%header\nREMOVE PatientID yes\n", SI_ERR_PARSE, 3,
       "expected nothing after REMOVE FIELD"},
      {"FORMAT dicom\n%header\nREMOVE PatientID func:generate_uid\n", SI_ERR_PARSE, 3,
       "REMOVE needs a func that decides"},
      {"FORMAT dicom\n%header\nREMOVE fields:nothing\n", SI_ERR_PARSE, 3,
       "expected a %fields nothing group"},
      {"FORMAT dicom\n%header\nREMOVE contains:(\n", SI_ERR_PARSE, 3,
       "expected a regular expression"},
      {"FORMAT dicom\n%header\nREMOVE contains:(a)\\1\n", SI_ERR_PARSE, 3, "back-references"},
      {"FORMAT dicom\n%header\nREMOVE contains:a{1000}\n", SI_ERR_PARSE, 3, "repetition counts"},
      {"FORMAT dicom\n%header\nREMOVE contains:(?=x)\n", SI_ERR_PARSE, 3, "(?...) extensions"},
      {"FORMAT dicom\n%header\nREMOVE (0029,\"OPEN\n", SI_ERR_PARSE, 3, "expected a field"},
      {"FORMAT dicom\n%header\nREMOVE (0029,\"X\",1)\n", SI_ERR_PARSE, 3, "expected a tag"},
      {"FORMAT dicom\n%filter\n", SI_ERR_PARSE, 2, "expected a name after %filter"},
      {"FORMAT dicom\n%filter f\ncontains Modality CT\n", SI_ERR_PARSE, 3, "expected LABEL NAME"},
      {"FORMAT dicom\n%filter f\nLABEL x\nmatches Modality CT\n", SI_ERR_PARSE, 4,
       "unknown criterion 'matches'"},
      {"FORMAT dicom\n%filter f\nLABEL x\ncontains Modality\n", SI_ERR_PARSE, 4,
       "expected a value after contains Modality"},
      {"FORMAT dicom\n%filter f\nLABEL x\nmissing Modality CT\n", SI_ERR_PARSE, 4,
       "expected only a field after missing"},
      {"FORMAT dicom\n%filter f\nLABEL x\ncontains Modality CT || + contains X y\n", SI_ERR_PARSE,
       4, "expected a criterion"},
      {"FORMAT dicom\n%filter f\nLABEL x\ncontains endswith:Date 2020\n", SI_ERR_PARSE, 4,
       "expected one keyword or tag here"},
      {"FORMAT dicom\n%filter f\nLABEL x\ncoordinates\n", SI_ERR_PARSE, 4,
       "expected x,y,w,h, all or from:FIELD after coordinates"},
      {"FORMAT dicom\n%values v\nFIELD PatientName\n%fields f\nSPLIT PatientName\n", SI_ERR_PARSE,
       5, "expected FIELD in %fields f"},
      {"FORMAT dicom\n%values v\nSPLIT PatientName by=^;max=3\n", SI_ERR_PARSE, 3,
       "unknown SPLIT option 'max'"},
      {"FORMAT dicom\n%fields f\nFIELD fields:f\n", SI_ERR_PARSE, 3, "cannot use another group"},
      {"FORMAT dicom\n%header\nREMOVE Pat\001ent\n", SI_ERR_PARSE, 3, "expected a keyword"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    si_deid_recipe *r = (si_deid_recipe *)1;
    si_error err;
    si_status st =
        si_deid_recipe_parse(cases[i].text, strlen(cases[i].text), "bad.recipe", &r, &err);
    char want[64];
    snprintf(want, sizeof want, "line %u: ", cases[i].line);
    if (st != cases[i].code || r != NULL || strcmp(err.file, "bad.recipe") != 0 ||
        strncmp(err.message, want, strlen(want)) != 0 || !strstr(err.message, cases[i].says))
      fail_msg("case %zu: status %d, file '%s', message '%s'; wanted '%s%s'", i, (int)st, err.file,
               err.message, want, cases[i].says);
  }
}

static void test_bounds(void **state) {
  (void)state;
  si_error err;
  si_deid_recipe *r = NULL;
  /* a line longer than the bound */
  size_t n = RECIPE_MAX_LINE + 64;
  char *text = malloc(n + 32);
  strcpy(text, "FORMAT dicom\n%header\nREMOVE ");
  size_t o = strlen(text);
  memset(text + o, 'A', n);
  text[o + n] = 0;
  assert_int_equal(si_deid_recipe_parse(text, strlen(text), "long", &r, &err), SI_ERR_LIMIT);
  assert_non_null(strstr(err.message, "line 3: line longer than"));
  free(text);
  /* a NUL byte inside a line */
  static const char nul[] = "FORMAT dicom\n%header\nREMOVE Pati\0entID\n";
  assert_int_equal(si_deid_recipe_parse(nul, sizeof nul - 1, "nul", &r, &err), SI_ERR_PARSE);
  assert_non_null(strstr(err.message, "line 3: expected text, got a NUL byte"));
  /* more actions than the bound */
  size_t count = RECIPE_MAX_ACTIONS + 1;
  text = malloc(count * 20 + 64);
  o = (size_t)sprintf(text, "FORMAT dicom\r\n%%header\r\n");
  for (size_t i = 0; i < count; i++)
    o += (size_t)sprintf(text + o, "REMOVE PatientID\r\n");
  assert_int_equal(si_deid_recipe_parse(text, o, "many", &r, &err), SI_ERR_LIMIT);
  assert_non_null(strstr(err.message, "more than"));
  free(text);
  /* CRLF line ends and blank lines are fine */
  r = parse_ok("FORMAT dicom\r\n\r\n%header\r\n   \r\nREMOVE PatientID\r\n");
  assert_int_equal(r->action_count, 1);
  assert_string_equal(r->actions[0].field.text, "PatientID");
  si_deid_recipe_free(r);
  /* a missing file */
  assert_int_equal(si_deid_recipe_load("/nonexistent/deid.dicom", &r, &err), SI_ERR_IO);
  assert_string_equal(err.file, "/nonexistent/deid.dicom");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deid_dicom),
      cmocka_unit_test(test_other_shipped),
      cmocka_unit_test(test_actions_and_values),
      cmocka_unit_test(test_groups),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
