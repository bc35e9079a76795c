/* Output names (si_deid_output_name / si_deid_output_path) and the
 * command line's pseudonym providers (key-derived and JSON file). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/deid.h"
#include "sendit/deid_ids.h"
#include "sendit/edit.h"
#include "sendit/write.h"

static si_file *instance(const char *sop, const char *series, const char *number) {
  si_file *f;
  si_error err;
  assert_int_equal(si_file_new(&f, &err), SI_OK);
  si_dataset *ds = si_file_dataset_mut(f);
  assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.2", &err),
                   SI_OK);
  assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0008, 0x0018), sop, &err), SI_OK);
  assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0008, 0x0060), "CT", &err), SI_OK);
  if (series)
    assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0020, 0x0011), series, &err), SI_OK);
  if (number)
    assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0020, 0x0013), number, &err), SI_OK);
  return f;
}

static void test_names(void **state) {
  (void)state;
  si_file *f = instance("2.25.1", "3", "12");
  char name[256];
  si_error err;
  assert_int_equal(si_deid_output_name(f, NULL, "SABC", "PXYZ", name, sizeof name, &err), SI_OK);
  assert_string_equal(name, "SABC_3_12.dcm");
  assert_int_equal(si_deid_output_name(f, "{patient}-{modality}-{sop}.dcm", "S", "P/../x", name,
                                       sizeof name, &err),
                   SI_OK);
  assert_string_equal(name, "P_.._x-CT-2.25.1.dcm"); /* no value makes a path */
  assert_int_equal(si_deid_output_name(f, "{study}/{series}", "S", "P", name, sizeof name, &err),
                   SI_ERR_ARG);
  assert_int_equal(si_deid_output_name(f, "{nope}.dcm", "S", "P", name, sizeof name, &err),
                   SI_ERR_ARG);
  assert_int_equal(si_deid_output_name(f, NULL, "S", "P", name, 8, &err), SI_ERR_ARG);
  assert_int_equal(si_deid_output_name(f, "{study}", "..", "P", name, sizeof name, &err), SI_OK);
  assert_string_equal(name, "_.."); /* never "." or ".." */
  si_file_free(f);
  f = instance("2.25.2", NULL, NULL);
  assert_int_equal(si_deid_output_name(f, NULL, "S", "P", name, sizeof name, &err), SI_OK);
  assert_string_equal(name, "S_x_x.dcm");
  si_file_free(f);
}

static void test_unique_paths(void **state) {
  (void)state;
  char dir[4096], path[4096];
  snprintf(dir, sizeof dir, "%s/names", tu_tmp_dir());
  mkdir(dir, 0755);
  si_file *a = instance("2.25.10", "1", "1"), *b = instance("2.25.11", "1", "1");
  si_error err;
  assert_int_equal(si_deid_output_path(dir, "S_1_1.dcm", a, path, sizeof path, &err), SI_OK);
  assert_non_null(strstr(path, "/S_1_1.dcm"));
  assert_int_equal(si_write_part10_file(a, path, NULL, &err), SI_OK);
  /* The same instance again: its own name (a rerun replaces it). */
  assert_int_equal(si_deid_output_path(dir, "S_1_1.dcm", a, path, sizeof path, &err), SI_OK);
  assert_non_null(strstr(path, "/S_1_1.dcm"));
  /* Another instance with the same name: made unique. */
  assert_int_equal(si_deid_output_path(dir, "S_1_1.dcm", b, path, sizeof path, &err), SI_OK);
  assert_non_null(strstr(path, "/S_1_1_2.dcm"));
  assert_int_equal(si_write_part10_file(b, path, NULL, &err), SI_OK);
  assert_int_equal(si_deid_output_path(dir, "S_1_1.dcm", b, path, sizeof path, &err), SI_OK);
  assert_non_null(strstr(path, "/S_1_1_2.dcm"));
  si_file_free(a);
  si_file_free(b);
}

static void test_keyed_ids(void **state) {
  (void)state;
  uint8_t key[32] = {1, 2, 3};
  si_deid_ids *ids;
  si_error err;
  assert_int_equal(si_deid_ids_keyed_new(key, &ids, &err), SI_OK);
  const char *items[2] = {"1.2.3", "1.2.4"};
  si_deid_ids_request req = {
      .entity_id = "MRN1", .entity_source = "PatientID", .item_ids = items, .item_count = 2};
  si_deid_ids_answer a, b;
  assert_int_equal(si_deid_ids_lookup(ids, &req, &a, &err), SI_OK);
  assert_int_equal(si_deid_ids_lookup(ids, &req, &b, &err), SI_OK);
  assert_string_equal(a.entity_code, b.entity_code);
  assert_int_equal(strlen(a.entity_code), 11);
  assert_int_equal(a.entity_code[0], 'P');
  assert_int_equal(a.item_count, 2);
  assert_int_equal(a.item_codes[0][0], 'S');
  assert_string_not_equal(a.item_codes[0], a.item_codes[1]);
  assert_true(a.day_shift >= -365 && a.day_shift <= -1);
  assert_int_equal(a.day_shift, b.day_shift);
  si_deid_ids_answer_free(&b);
  req.entity_id = "MRN2";
  assert_int_equal(si_deid_ids_lookup(ids, &req, &b, &err), SI_OK);
  assert_string_not_equal(a.entity_code, b.entity_code);
  assert_string_equal(a.item_codes[0], b.item_codes[0]); /* a study's code is the study's */
  char first[16];
  snprintf(first, sizeof first, "%s", a.entity_code);
  si_deid_ids_answer_free(&a);
  si_deid_ids_answer_free(&b);
  si_deid_ids_free(ids);
  /* Another key, other codes. */
  key[0] = 9;
  assert_int_equal(si_deid_ids_keyed_new(key, &ids, &err), SI_OK);
  req.entity_id = "MRN1";
  assert_int_equal(si_deid_ids_lookup(ids, &req, &b, &err), SI_OK);
  assert_string_not_equal(b.entity_code, first);
  si_deid_ids_free(ids);
  si_deid_ids_answer_free(&b);
}

static void test_file_ids(void **state) {
  (void)state;
  char path[4096];
  snprintf(path, sizeof path, "%s/ids.json", tu_tmp_dir());
  const char *json = "{\"MRN1\": {\"code\": \"ALPHA\", \"day_shift\": -12,\n"
                     "          \"studies\": {\"1.2.3\": \"ALPHA-1\"}},\n"
                     " \"MRN2\": {\"code\": \"BRAVO\", \"studies\": {}},\n"
                     " \"MRN3\": {\"code\": \"\"}}";
  assert_int_equal(tu_write_file(path, json, strlen(json)), 0);
  si_deid_ids *ids;
  si_error err;
  assert_int_equal(si_deid_ids_file_open(path, &ids, &err), SI_OK);
  const char *items[1] = {"1.2.3"};
  si_deid_ids_request req = {
      .entity_id = "MRN1", .entity_source = "PatientID", .item_ids = items, .item_count = 1};
  si_deid_ids_answer a;
  assert_int_equal(si_deid_ids_lookup(ids, &req, &a, &err), SI_OK);
  assert_string_equal(a.entity_code, "ALPHA");
  assert_string_equal(a.item_codes[0], "ALPHA-1");
  assert_int_equal(a.day_shift, -12);
  si_deid_ids_answer_free(&a);
  req.entity_id = "MRN2";
  assert_int_equal(si_deid_ids_lookup(ids, &req, &a, &err), SI_ERR_NOT_FOUND);
  assert_non_null(strstr(err.message, "no study '1.2.3'"));
  assert_null(a.entity_code); /* a failed answer is freed */
  req.entity_id = "MRN9";
  assert_int_equal(si_deid_ids_lookup(ids, &req, &a, &err), SI_ERR_NOT_FOUND);
  req.entity_id = "MRN3";
  assert_int_equal(si_deid_ids_lookup(ids, &req, &a, &err), SI_ERR_FORMAT);
  si_deid_ids_free(ids);
  assert_int_equal(tu_write_file(path, "{\"MRN1\": ", 9), 0);
  assert_int_equal(si_deid_ids_file_open(path, &ids, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "line 1"));
  assert_int_equal(tu_write_file(path, "[1]", 3), 0);
  assert_int_equal(si_deid_ids_file_open(path, &ids, &err), SI_ERR_FORMAT);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_unique_paths),
      cmocka_unit_test(test_keyed_ids),
      cmocka_unit_test(test_file_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
