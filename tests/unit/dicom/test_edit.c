/* Editing (sendit/edit.h): every edit kind, nested paths and [*], private
 * blocks by creator (reuse and reservation), group patterns, the checks of
 * values against their VR, the UTF-8 fallback, and that edits survive a
 * write -> read. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"
#include "sendit/edit.h"
#include "sendit/write.h"

static si_file *fixture(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", tu_test_data_dir(), name);
  si_file *f = NULL;
  si_error err;
  if (si_read_file(path, NULL, &f, &err) != SI_OK)
    fail_msg("%s: %s", name, err.message);
  return f;
}

/* Write -> read, so every check below also holds for the written file. */
static si_file *rewritten(const si_file *f) {
  uint8_t *b;
  size_t n;
  si_error err;
  if (si_write_part10_memory(f, NULL, &b, &n, &err) != SI_OK)
    fail_msg("write: %s", err.message);
  si_file *back = NULL;
  if (si_read_memory(b, n, "rewritten", NULL, &back, &err) != SI_OK)
    fail_msg("read back: %s", err.message);
  free(b);
  return back;
}

static void assert_string_at(const si_dataset *ds, uint32_t tag, const char *want) {
  char *s = NULL;
  si_error err;
  if (si_get_string(ds, tag, SIZE_MAX, &s, &err) != SI_OK)
    fail_msg("(%04X,%04X): %s", tag >> 16, tag & 0xFFFF, err.message);
  assert_string_equal(s, want);
  free(s);
}

static void assert_ascending(const si_dataset *ds) {
  for (size_t i = 1; i < si_dataset_count(ds); i++)
    assert_true(si_dataset_at(ds, i - 1)->tag < si_dataset_at(ds, i)->tag);
}

static void test_set_insert_erase(void **state) {
  (void)state;
  si_file *f = fixture("explicit_le.dcm");
  const si_dataset *ds = si_file_dataset(f);
  const uint8_t *pid = si_dataset_find(ds, SI_TAG(0x0010, 0x0020))->value;
  size_t n = 0;
  si_error err;
  assert_int_equal(si_edit_set(f, "PatientName", "Doe^Jane", 0, &n, &err), SI_OK);
  assert_int_equal(n, 1);
  assert_string_at(ds, SI_TAG(0x0010, 0x0010), "Doe^Jane");
  assert_int_equal(si_edit_set(f, "(0008,0050)", "ACC-9", 0, NULL, NULL), SI_OK);
  assert_int_equal(si_edit_set(f, "0020,0013", "42", 0, NULL, NULL), SI_OK);
  /* Set of an absent element is an error (dcmodify -m); insert creates. */
  assert_int_equal(si_edit_set(f, "OperatorsName", "Op", 0, &n, &err), SI_ERR_NOT_FOUND);
  assert_int_equal(err.tag, SI_TAG(0x0008, 0x1070));
  assert_int_equal(n, 0);
  assert_null(si_dataset_find(ds, SI_TAG(0x0008, 0x1070)));
  assert_int_equal(si_edit_set(f, "OperatorsName", "Op", SI_EDIT_CREATE, &n, NULL), SI_OK);
  assert_int_equal(si_edit_set(f, "(0008,0005)", "ISO_IR 100", SI_EDIT_CREATE, NULL, NULL), SI_OK);
  assert_int_equal(si_edit_set(f, "Rows", "512", 0, NULL, NULL), SI_OK);
  assert_int_equal(
      si_edit_set(f, "ImagePositionPatient", "1.5\\-2\\3e1", SI_EDIT_CREATE, NULL, NULL), SI_OK);
  /* ONLY_NEW leaves what is there. */
  assert_int_equal(si_edit_set(f, "Modality", "MR", SI_EDIT_CREATE | SI_EDIT_ONLY_NEW, &n, NULL),
                   SI_OK);
  assert_int_equal(n, 0);
  assert_ascending(ds);
  /* Unchanged values are still the ones read (borrowed, not copied). */
  assert_ptr_equal(si_dataset_find(ds, SI_TAG(0x0010, 0x0020))->value, pid);
  assert_int_equal(si_edit_erase(f, "StudyDate", &n, NULL), SI_OK);
  assert_int_equal(n, 1);
  assert_int_equal(si_edit_erase(f, "StudyDate", &n, &err), SI_ERR_NOT_FOUND);

  si_file *back = rewritten(f);
  const si_dataset *b = si_file_dataset(back);
  assert_string_at(b, SI_TAG(0x0010, 0x0010), "Doe^Jane");
  assert_string_at(b, SI_TAG(0x0008, 0x0050), "ACC-9");
  assert_string_at(b, SI_TAG(0x0008, 0x1070), "Op");
  assert_string_at(b, SI_TAG(0x0020, 0x0013), "42");
  assert_string_at(b, SI_TAG(0x0008, 0x0060), "CT");
  int64_t rows;
  assert_int_equal(si_get_int(b, SI_TAG(0x0028, 0x0010), 0, &rows, NULL), SI_OK);
  assert_int_equal(rows, 512);
  double x;
  assert_int_equal(si_get_float(b, SI_TAG(0x0020, 0x0032), 2, &x, NULL), SI_OK);
  assert_true(x == 30.0);
  assert_null(si_dataset_find(b, SI_TAG(0x0008, 0x0020)));
  assert_ascending(b);
  si_file_free(back);
  si_file_free(f);
}

static void test_nested_paths(void **state) {
  (void)state;
  si_file *f = fixture("sequences.dcm");
  const si_dataset *ds = si_file_dataset(f);
  size_t n;
  assert_int_equal(
      si_edit_set(f, "RequestAttributesSequence[0].RequestedProcedureID", "RP-9", 0, &n, NULL),
      SI_OK);
  assert_int_equal(n, 1);
  /* [*]: every item. */
  assert_int_equal(
      si_edit_set(f, "ReferencedImageSequence[*].ReferencedSOPInstanceUID", "1.2.3", 0, &n, NULL),
      SI_OK);
  assert_int_equal(n, 2);
  /* Deeper: a sequence in an item, by tag. */
  assert_int_equal(
      si_edit_set(f, "(0040,0275)[0].(0008,1110)[1].(0008,1155)", "4.5.6", 0, &n, NULL), SI_OK);
  /* Insert creates the sequence and the items up to the index. */
  assert_int_equal(
      si_edit_set(f, "OtherPatientIDsSequence[1].PatientID", "OTHER", SI_EDIT_CREATE, &n, NULL),
      SI_OK);
  si_error err;
  assert_int_equal(si_edit_set(f, "OtherPatientIDsSequence[5].PatientID", "X", 0, &n, &err),
                   SI_ERR_NOT_FOUND);
  /* Items: insert one, remove one, remove all. */
  si_dataset *item;
  assert_int_equal(si_edit_insert_item(f, "ReferencedImageSequence", 0, &item, NULL), SI_OK);
  assert_int_equal(
      si_edit_set_in(f, item, "ReferencedSOPInstanceUID", "7.7", SI_EDIT_CREATE, NULL, NULL),
      SI_OK);
  assert_int_equal(si_edit_erase(f, "ReferencedImageSequence[2]", &n, NULL), SI_OK);
  assert_int_equal(n, 1);
  assert_int_equal(
      si_edit_erase(f, "RequestAttributesSequence[*].RequestedProcedureCodeSequence", &n, NULL),
      SI_OK);
  assert_int_equal(n, 1);
  assert_int_equal(si_edit_insert_item(f, "ReferencedSeriesSequence", SIZE_MAX, NULL, NULL), SI_OK);
  /* A set that names an item, and a sequence set from text, are refused. */
  assert_int_equal(si_edit_set(f, "ReferencedImageSequence[0]", "x", 0, NULL, &err), SI_ERR_ARG);
  assert_int_equal(si_edit_set(f, "ReferencedImageSequence", "x", 0, NULL, &err), SI_ERR_VALUE);
  assert_int_equal(si_edit_set(f, "PatientID[0].PatientName", "x", 0, NULL, &err), SI_ERR_VALUE);
  (void)ds;

  si_file *back = rewritten(f);
  const si_dataset *b = si_file_dataset(back);
  const si_element *rq = si_dataset_find(b, SI_TAG(0x0040, 0x0275));
  assert_string_at(rq->items[0], SI_TAG(0x0040, 0x1001), "RP-9");
  assert_null(si_dataset_find(rq->items[0], SI_TAG(0x0032, 0x1064)));
  const si_element *st = si_dataset_find(rq->items[0], SI_TAG(0x0008, 0x1110));
  assert_string_at(st->items[1], SI_TAG(0x0008, 0x1155), "4.5.6");
  const si_element *ri = si_dataset_find(b, SI_TAG(0x0008, 0x1140));
  assert_int_equal(ri->item_count, 2);
  assert_string_at(ri->items[0], SI_TAG(0x0008, 0x1155), "7.7");
  assert_string_at(ri->items[1], SI_TAG(0x0008, 0x1155), "1.2.3");
  const si_element *op = si_dataset_find(b, SI_TAG(0x0010, 0x1002));
  assert_non_null(op);
  assert_int_equal(op->item_count, 2);
  assert_int_equal(si_dataset_count(op->items[0]), 0);
  assert_string_at(op->items[1], SI_TAG(0x0010, 0x0020), "OTHER");
  const si_element *rs = si_dataset_find(b, SI_TAG(0x0008, 0x1115));
  assert_int_equal(rs->item_count, 1);
  si_file_free(back);
  si_file_free(f);
}

static void test_private_blocks(void **state) {
  (void)state;
  si_file *f = fixture("private_tags.dcm");
  const si_dataset *ds = si_file_dataset(f);
  size_t n;
  /* The creator's block is found: (0009,0010) ACME 1.0 -> (0009,10xx). */
  assert_int_equal(si_edit_set(f, "(0009,\"ACME 1.0\",01)", "changed", 0, &n, NULL), SI_OK);
  assert_string_at(ds, SI_TAG(0x0009, 0x1001), "changed");
  /* A new creator reserves the lowest free block; a second one the next. */
  assert_int_equal(si_edit_set(f, "(0009,\"GEMS_IDEN_01\",01)", "ge", SI_EDIT_CREATE, &n, NULL),
                   SI_OK);
  assert_string_at(ds, SI_TAG(0x0009, 0x0011), "GEMS_IDEN_01");
  assert_string_at(ds, SI_TAG(0x0009, 0x1101), "ge");
  assert_int_equal(si_edit_set(f, "(0009,\"GEMS_IDEN_01\",02)", "ge2", SI_EDIT_CREATE, &n, NULL),
                   SI_OK);
  assert_string_at(ds, SI_TAG(0x0009, 0x1102), "ge2");
  assert_null(si_dataset_find(ds, SI_TAG(0x0009, 0x0012)));
  assert_int_equal(si_edit_set(f, "(0011,\"X\",10)", "x", SI_EDIT_CREATE, &n, NULL), SI_OK);
  assert_string_at(ds, SI_TAG(0x0011, 0x0010), "X");
  assert_string_at(ds, SI_TAG(0x0011, 0x1010), "x");
  /* Without create, an absent creator is not found (nothing reserved). */
  si_error err;
  assert_int_equal(si_edit_set(f, "(0009,\"NOBODY\",01)", "x", 0, &n, &err), SI_ERR_NOT_FOUND);
  assert_null(si_dataset_find(ds, SI_TAG(0x0009, 0x0012)));
  assert_int_equal(si_edit_erase(f, "(0009,\"ACME 1.0\",02)", &n, NULL), SI_OK);
  assert_null(si_dataset_find(ds, SI_TAG(0x0009, 0x1002)));
  assert_ascending(ds);
  si_file *back = rewritten(f);
  assert_string_at(si_file_dataset(back), SI_TAG(0x0009, 0x1101), "ge");
  si_file_free(back);
  /* Erase-private removes every odd group. */
  assert_int_equal(si_edit_erase_private(f, &n, NULL), SI_OK);
  assert_int_equal(n, 9);
  for (size_t i = 0; i < si_dataset_count(ds); i++)
    assert_false(SI_TAG_GROUP(si_dataset_at(ds, i)->tag) & 1);
  si_file_free(f);
}

static void test_groups_and_private_in_items(void **state) {
  (void)state;
  si_file *f;
  assert_int_equal(si_file_new(&f, NULL), SI_OK);
  const uint16_t overlay[2] = {1, 2};
  assert_int_equal(si_edit_set_bytes(f, "(6000,0010)", SI_VR_US, overlay, 4, NULL), SI_OK);
  assert_int_equal(si_edit_set_bytes(f, "(6002,0010)", SI_VR_US, overlay, 2, NULL), SI_OK);
  assert_int_equal(si_edit_set_bytes(f, "(5000,0005)", SI_VR_US, overlay, 2, NULL), SI_OK);
  assert_int_equal(si_edit_set(f, "PatientID", "P", SI_EDIT_CREATE, NULL, NULL), SI_OK);
  assert_int_equal(
      si_edit_set(f, "ReferencedImageSequence[0].(6000,0010)", "3", SI_EDIT_CREATE, NULL, NULL),
      SI_OK);
  assert_int_equal(
      si_edit_set(f, "ReferencedImageSequence[0].(0029,\"C\",01)", "p", SI_EDIT_CREATE, NULL, NULL),
      SI_OK);
  size_t n;
  assert_int_equal(si_edit_erase_groups(f, "60xx", &n, NULL), SI_OK);
  assert_int_equal(n, 3);
  assert_int_equal(si_edit_erase_groups(f, "50XX", &n, NULL), SI_OK);
  assert_int_equal(n, 1);
  assert_int_equal(si_edit_erase_groups(f, "60x", &n, NULL), SI_ERR_ARG);
  assert_int_equal(si_edit_erase_groups(f, "xxxx", &n, NULL), SI_ERR_ARG);
  assert_int_equal(si_edit_erase_groups(f, "6g00", &n, NULL), SI_ERR_ARG);
  assert_int_equal(si_edit_erase_private(f, &n, NULL), SI_OK);
  assert_int_equal(n, 2); /* the creator and its element, inside the item */
  const si_dataset *ds = si_file_dataset(f);
  assert_int_equal(si_dataset_count(ds), 2);
  const si_element *seq = si_dataset_find(ds, SI_TAG(0x0008, 0x1140));
  assert_int_equal(si_dataset_count(seq->items[0]), 0);
  si_file_free(f);
}

static void test_vr_checks(void **state) {
  (void)state;
  si_file *f = fixture("explicit_le.dcm");
  static const struct {
    const char *path, *value;
    si_status want;
  } cases[] = {
      {"Modality", "ct", SI_ERR_VALUE},
      {"Modality", "MR", SI_OK},
      {"Modality", "ABCDEFGHIJKLMNOPQ", SI_ERR_VALUE},
      {"StudyDate", "2024-01-31", SI_ERR_VALUE},
      {"StudyDate", "2024013", SI_ERR_VALUE},
      {"StudyDate", "20240229", SI_OK},
      {"SOPInstanceUID", "1.02.3", SI_ERR_VALUE},
      {"SOPInstanceUID", "1.2.a", SI_ERR_VALUE},
      {"SOPInstanceUID", "1.2.840.10008.1", SI_OK},
      {"PatientID", "0123456789012345678901234567890123456789012345678901234567890123X",
       SI_ERR_VALUE},
      {"PatientID", "tab\there", SI_ERR_VALUE},
      {"PatientID", "a\\b", SI_OK},
      {"PatientName", "a=b=c=d", SI_ERR_VALUE},
      {"PatientName", "Yamada^Tarou=x=y", SI_OK},
      {"Rows", "70000", SI_ERR_VALUE},
      {"Rows", "-1", SI_ERR_VALUE},
      {"Rows", "1\\2", SI_OK},
      {"InstanceNumber", "12a", SI_ERR_VALUE},
      {"InstanceNumber", "-12", SI_OK},
      {"PixelSpacing", "0.5\\x", SI_ERR_VALUE},
      {"PixelData", "00", SI_ERR_VALUE},
      {"PatientAge", "45Y", SI_ERR_VALUE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    si_error err;
    unsigned flags = strcmp(cases[i].path, "PatientAge") == 0 ? SI_EDIT_CREATE : 0;
    si_status st = si_edit_set(f, cases[i].path, cases[i].value, flags, NULL, &err);
    if (st != cases[i].want)
      fail_msg("%s=%s: got %d (%s), want %d", cases[i].path, cases[i].value, st, err.message,
               cases[i].want);
    if (st != SI_OK)
      assert_int_not_equal(err.tag, SI_NO_TAG);
  }
  si_error err;
  /* The refused "45Y" created nothing. */
  assert_null(si_dataset_find(si_file_dataset(f), SI_TAG(0x0010, 0x1010)));
  assert_int_equal(si_edit_set(f, "PatientAge", "045Y", SI_EDIT_CREATE, NULL, &err), SI_OK);
  /* Text that is not UTF-8 is refused; non-ASCII in a non-text VR too. */
  assert_int_equal(si_edit_set(f, "PatientID", "\xFF\xFE", 0, NULL, &err), SI_ERR_VALUE);
  assert_int_equal(si_edit_set(f, "Modality", "\xC3\x89", 0, NULL, &err), SI_ERR_VALUE);
  /* AT and floats. */
  assert_int_equal(
      si_edit_set(f, "DimensionIndexPointer", "(0010,0010)\\00100020", SI_EDIT_CREATE, NULL, &err),
      SI_OK);
  assert_int_equal(si_edit_set(f, "DimensionIndexPointer", "(0010,001)", 0, NULL, &err),
                   SI_ERR_VALUE);
  int64_t at;
  assert_int_equal(si_get_int(si_file_dataset(f), SI_TAG(0x0020, 0x9165), 1, &at, NULL), SI_OK);
  assert_int_equal(at, 0x00100020);
  /* Bad paths. */
  static const char *const bad[] = {
      "Foo",         "(0010,0010", "(0010,00ZZ)",     "ReferencedImageSequence.X",
      "(0002,0010)", "",           "(0010,\"C\",01)", "A[x].B",
      "PatientName."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(si_edit_set(f, bad[i], "x", SI_EDIT_CREATE, NULL, &err), SI_ERR_ARG);
  si_file_free(f);
}

static void test_utf8_fallback(void **state) {
  (void)state;
  /* Default repertoire: the data set becomes ISO_IR 192. */
  si_file *f = fixture("explicit_le.dcm");
  assert_int_equal(si_edit_set(f, "PatientName", "M\xC3\xBCller", 0, NULL, NULL), SI_OK);
  si_file *back = rewritten(f);
  assert_string_at(si_file_dataset(back), SI_TAG_SPECIFIC_CHARSET, "ISO_IR 192");
  assert_string_at(si_file_dataset(back), SI_TAG(0x0010, 0x0010), "M\xC3\xBCller");
  si_file_free(back);
  si_file_free(f);
  /* Latin-1: every text value is re-encoded to UTF-8 first. */
  f = fixture("charset_latin1.dcm");
  char *before = NULL;
  const si_dataset *ds = si_file_dataset(f);
  uint32_t latin_tag = 0;
  for (size_t i = 0; i < si_dataset_count(ds) && !latin_tag; i++) {
    const si_element *el = si_dataset_at(ds, i);
    for (size_t k = 0; k < el->value_len && si_vr_is_text(el->vr); k++)
      if (el->value[k] >= 0x80)
        latin_tag = el->tag;
  }
  assert_int_not_equal(latin_tag, 0);
  assert_int_equal(si_get_string(ds, latin_tag, SIZE_MAX, &before, NULL), SI_OK);
  assert_int_equal(
      si_edit_set(f, "InstitutionName", "\xE6\x97\xA5\xE6\x9C\xAC", SI_EDIT_CREATE, NULL, NULL),
      SI_OK);
  back = rewritten(f);
  assert_string_at(si_file_dataset(back), SI_TAG_SPECIFIC_CHARSET, "ISO_IR 192");
  assert_string_at(si_file_dataset(back), latin_tag, before);
  assert_string_at(si_file_dataset(back), SI_TAG(0x0008, 0x0080), "\xE6\x97\xA5\xE6\x9C\xAC");
  free(before);
  si_file_free(back);
  si_file_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_insert_erase), cmocka_unit_test(test_nested_paths),
      cmocka_unit_test(test_private_blocks),   cmocka_unit_test(test_groups_and_private_in_items),
      cmocka_unit_test(test_vr_checks),        cmocka_unit_test(test_utf8_fallback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
