/* Element-level editing (sendit/edit.h, lib/dicom/edit_ds.c): set from text
 * and bytes at (data set, tag), VR checks, removal, sequences with items,
 * and the walker: every element at every depth, keep / skip / remove /
 * replace (also when a replacement moves the data set's elements), errors;
 * the result survives a write -> read. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"
#include "sendit/edit.h"
#include "sendit/write.h"

#define PATIENT_NAME SI_TAG(0x0010, 0x0010)
#define PATIENT_ID SI_TAG(0x0010, 0x0020)
#define STUDY_DATE SI_TAG(0x0008, 0x0020)
#define REF_SERIES SI_TAG(0x0008, 0x1115)
#define REF_IMAGE SI_TAG(0x0008, 0x1140)
#define REF_SOP SI_TAG(0x0008, 0x1155)
#define ROWS SI_TAG(0x0028, 0x0010)

static char *text(const si_dataset *ds, uint32_t tag) {
  char *s = NULL;
  si_error err;
  if (si_get_string(ds, tag, SIZE_MAX, &s, &err) != SI_OK)
    return NULL;
  return s;
}

static void assert_text(const si_dataset *ds, uint32_t tag, const char *want) {
  char *s = text(ds, tag);
  if (!s)
    fail_msg("(%04X,%04X) absent", tag >> 16, tag & 0xFFFF);
  assert_string_equal(s, want);
  free(s);
}

/* Top: name, id, date, a sequence of 2 items each holding a nested sequence. */
static si_file *build(void) {
  si_file *f;
  si_error err;
  assert_int_equal(si_file_new(&f, &err), SI_OK);
  si_dataset *ds = si_file_dataset_mut(f);
  assert_int_equal(si_ds_set_text(f, ds, PATIENT_NAME, "Doe^John", &err), SI_OK);
  assert_int_equal(si_ds_set_text(f, ds, PATIENT_ID, "12345", &err), SI_OK);
  assert_int_equal(si_ds_set_text(f, ds, STUDY_DATE, "20240102", &err), SI_OK);
  uint16_t rows = 512;
  assert_int_equal(si_ds_set_bytes(f, ds, ROWS, SI_VR_US, &rows, 2, &err), SI_OK);
  si_dataset **items;
  assert_int_equal(si_ds_set_sequence(f, ds, REF_SERIES, 2, &items, &err), SI_OK);
  for (int i = 0; i < 2; i++) {
    si_dataset **inner;
    assert_int_equal(si_ds_set_sequence(f, items[i], REF_IMAGE, 1, &inner, &err), SI_OK);
    assert_int_equal(si_ds_set_text(f, inner[0], REF_SOP, i ? "1.2.3.2" : "1.2.3.1", &err), SI_OK);
    assert_int_equal(si_ds_set_text(f, inner[0], PATIENT_NAME, "Nested^Name", &err), SI_OK);
  }
  return f;
}

static void test_set_remove(void **state) {
  (void)state;
  si_file *f = build();
  si_dataset *ds = si_file_dataset_mut(f);
  si_error err;
  assert_text(ds, PATIENT_NAME, "Doe^John");
  /* VR checks as si_edit_set makes them. */
  assert_int_equal(si_ds_set_text(f, ds, STUDY_DATE, "2024-01-02", &err), SI_ERR_VALUE);
  assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0020, 0x000D), "1.02.3", &err), SI_ERR_VALUE);
  assert_null(si_dataset_find(ds, SI_TAG(0x0020, 0x000D))); /* refused: not created */
  assert_int_equal(si_ds_set_text(f, ds, REF_SERIES, "x", &err), SI_ERR_VALUE);
  assert_int_equal(si_ds_set_text(f, ds, ROWS, "256", &err), SI_OK);
  assert_int_equal(*(const uint16_t *)si_dataset_find(ds, ROWS)->value, 256);
  assert_int_equal(si_ds_set_text(f, ds, PATIENT_ID, "", &err), SI_OK);
  assert_int_equal(si_dataset_find(ds, PATIENT_ID)->value_len, 0);
  assert_int_equal(si_ds_remove(f, ds, PATIENT_ID), 1);
  assert_int_equal(si_ds_remove(f, ds, PATIENT_ID), 0);
  si_element *seq = si_dataset_find_mut(ds, REF_SERIES);
  assert_non_null(si_element_item_mut(seq, 1));
  assert_null(si_element_item_mut(seq, 2));
  assert_null(si_element_item_mut(si_dataset_find_mut(ds, ROWS), 0));
  /* Non-ASCII text makes the data set UTF-8. */
  assert_int_equal(si_ds_set_text(f, ds, PATIENT_NAME, "Müller^Jörg", &err), SI_OK);
  assert_text(ds, SI_TAG_SPECIFIC_CHARSET, "ISO_IR 192");
  assert_text(ds, PATIENT_NAME, "Müller^Jörg");
  /* An empty sequence replaces the items. */
  assert_int_equal(si_ds_set_sequence(f, ds, REF_SERIES, 0, NULL, &err), SI_OK);
  assert_int_equal(si_dataset_find(ds, REF_SERIES)->item_count, 0);
  assert_non_null(si_file_meta_mut(f));
  si_file_free(f);
}

typedef struct visits {
  size_t seen, depth_max;
  int fail_at_rows;
} visits;

/* Removes every PatientName, replaces every ReferencedSOPInstanceUID, skips
 * nothing; the first replacement also writes non-ASCII text at the top,
 * which inserts (0008,0005) before the element being visited. */
static si_walk_action edit_cb(void *ctx, si_file *f, si_dataset *ds, si_element *el, unsigned depth,
                              si_error *err) {
  visits *v = ctx;
  v->seen++;
  if (depth > v->depth_max)
    v->depth_max = depth;
  if (el->tag == PATIENT_NAME)
    return SI_WALK_REMOVE;
  if (el->tag == ROWS && v->fail_at_rows) {
    si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, el->tag, "refused");
    return SI_WALK_ERROR;
  }
  if (el->tag == STUDY_DATE) {
    if (si_ds_set_text(f, ds, SI_TAG(0x0008, 0x1030), "Étude", err) != SI_OK)
      return SI_WALK_ERROR;
    return si_ds_set_text(f, ds, STUDY_DATE, "19990101", err) == SI_OK ? SI_WALK_KEEP
                                                                       : SI_WALK_ERROR;
  }
  if (el->tag == REF_SOP)
    return si_ds_set_text(f, ds, REF_SOP, "2.25.1", err) == SI_OK ? SI_WALK_KEEP : SI_WALK_ERROR;
  return SI_WALK_KEEP;
}

static void test_walk(void **state) {
  (void)state;
  si_file *f = build();
  si_dataset *ds = si_file_dataset_mut(f);
  visits v = {0};
  si_error err;
  assert_int_equal(si_ds_walk(f, ds, edit_cb, &v, &err), SI_OK);
  /* top: name id date rows seq (+ charset and description added after the
   * date are visited too: 0008,1030 sorts after 0008,0020) = 6; per item:
   * seq + (uid, name) = 3, twice. */
  assert_int_equal(v.depth_max, 2);
  assert_int_equal(v.seen, 6 + 2 * 3);
  assert_null(si_dataset_find(ds, PATIENT_NAME));
  assert_text(ds, STUDY_DATE, "19990101");
  assert_text(ds, SI_TAG(0x0008, 0x1030), "Étude");
  uint8_t *bytes;
  size_t n;
  assert_int_equal(si_write_part10_memory(f, NULL, &bytes, &n, &err), SI_OK);
  si_file *back;
  assert_int_equal(si_read_memory(bytes, n, "back", NULL, &back, &err), SI_OK);
  free(bytes);
  const si_element *seq = si_dataset_find(si_file_dataset(back), REF_SERIES);
  assert_int_equal(seq->item_count, 2);
  for (size_t i = 0; i < 2; i++) {
    const si_element *inner = si_dataset_find(seq->items[i], REF_IMAGE);
    assert_text(inner->items[0], REF_SOP, "2.25.1");
    assert_null(si_dataset_find(inner->items[0], PATIENT_NAME));
  }
  si_file_free(back);
  si_file_free(f);
}

static si_walk_action skip_cb(void *ctx, si_file *f, si_dataset *ds, si_element *el, unsigned depth,
                              si_error *err) {
  (void)f, (void)ds, (void)err, (void)depth;
  ((visits *)ctx)->seen++;
  return el->vr == SI_VR_SQ ? SI_WALK_SKIP : SI_WALK_KEEP;
}

static void test_walk_skip_and_error(void **state) {
  (void)state;
  si_file *f = build();
  visits v = {0};
  si_error err;
  assert_int_equal(si_ds_walk(f, si_file_dataset_mut(f), skip_cb, &v, &err), SI_OK);
  assert_int_equal(v.seen, 5);
  visits w = {.fail_at_rows = 1};
  assert_int_equal(si_ds_walk(f, si_file_dataset_mut(f), edit_cb, &w, &err), SI_ERR_VALUE);
  assert_string_equal(err.message, "refused");
  si_file_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_remove),
      cmocka_unit_test(test_walk),
      cmocka_unit_test(test_walk_skip_and_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
