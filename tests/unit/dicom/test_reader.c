/* The Part 10 reader over the fixtures in tests/data (see tests/data/README.md
 * and make_fixtures.py): the encodings it must read, what it must report about
 * them, and the broken files it must refuse with the right status, offset and
 * tag. Offsets below follow from the byte layout make_fixtures.py writes. */
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sendit/dicom.h"

#define TS_JPEG_BASELINE "1.2.840.10008.1.2.4.50"

static void fixture_path(const char *name, char *out, size_t size) {
  snprintf(out, size, "%s/%s", tu_test_data_dir(), name);
}

static long fixture_size(const char *name) {
  char path[4096];
  fixture_path(name, path, sizeof path);
  size_t size;
  uint8_t *data = tu_read_file(path, &size);
  assert_non_null(data);
  free(data);
  return (long)size;
}

/* Reads a fixture that must parse; fails the test with the reader's own
 * message otherwise. */
static si_file *must_read(const char *name, const si_read_options *opts) {
  char path[4096];
  fixture_path(name, path, sizeof path);
  si_file *file = NULL;
  si_error err;
  si_status st = si_read_file(path, opts, &file, &err);
  if (st != SI_OK) {
    char buf[1200];
    fail_msg("%s: %s", name, si_error_format(&err, buf, sizeof buf));
  }
  assert_non_null(file);
  return file;
}

static si_file *must_read_header(const char *name) {
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = 1;
  return must_read(name, &opts);
}

/* Reads a fixture that must fail with `expected`; returns the error. */
static si_error must_fail(const char *name, const si_read_options *opts, si_status expected) {
  char path[4096];
  fixture_path(name, path, sizeof path);
  si_file *file = (si_file *)1;
  si_error err;
  si_status st = si_read_file(path, opts, &file, &err);
  if (st != expected) {
    char buf[1200];
    si_error_format(&err, buf, sizeof buf);
    si_file_free(st == SI_OK ? file : NULL);
    fail_msg("%s: expected status %s, got %s (%s)", name, si_status_name(expected),
             si_status_name(st), st == SI_OK ? "read" : buf);
  }
  assert_null(file);
  assert_int_equal(err.code, expected);
  assert_string_equal(err.file, path);
  assert_true(err.message[0] != '\0');
  return err;
}

static void assert_string_value(const si_dataset *ds, uint32_t tag, size_t index,
                                const char *expected) {
  char *s = NULL;
  si_error err;
  si_status st = si_get_string(ds, tag, index, &s, &err);
  if (st != SI_OK)
    fail_msg("(%04X,%04X): %s", SI_TAG_GROUP(tag), SI_TAG_ELEMENT(tag), err.message);
  assert_string_equal(s, expected);
  free(s);
}

static void assert_uid_value(const si_dataset *ds, uint32_t tag, const char *expected) {
  char uid[65];
  assert_int_equal(si_get_uid(ds, tag, uid, NULL), SI_OK);
  assert_string_equal(uid, expected);
}

static int64_t int_value(const si_dataset *ds, uint32_t tag, size_t index) {
  int64_t v = -1;
  assert_int_equal(si_get_int(ds, tag, index, &v, NULL), SI_OK);
  return v;
}

/* ---- the five encodings of the same image ---- */

/* What make_fixtures.py's basic_image() holds, whatever the encoding. */
static void check_basic_image(const si_file *file) {
  const si_dataset *ds = si_file_dataset(file);
  assert_int_equal(si_dataset_count(ds), 20);
  assert_uid_value(ds, SI_TAG(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.2");
  assert_uid_value(ds, SI_TAG(0x0008, 0x0018), "2.25.1001");
  assert_uid_value(ds, SI_TAG(0x0020, 0x000D), "2.25.1002");
  assert_uid_value(ds, SI_TAG(0x0020, 0x000E), "2.25.1003");
  assert_string_value(ds, SI_TAG(0x0008, 0x0060), 0, "CT");
  assert_string_value(ds, SI_TAG(0x0008, 0x0050), 0, "ACC-0001");
  assert_string_value(ds, SI_TAG(0x0010, 0x0020), 0, "PID-0001");
  assert_string_value(ds, SI_TAG(0x0028, 0x0004), 0, "MONOCHROME2");
  assert_int_equal(int_value(ds, SI_TAG(0x0028, 0x0010), 0), 4);
  assert_int_equal(int_value(ds, SI_TAG(0x0028, 0x0011), 0), 4);
  assert_int_equal(int_value(ds, SI_TAG(0x0028, 0x0101), 0), 12);
  assert_int_equal(int_value(ds, SI_TAG(0x0020, 0x0013), 0), 7); /* IS */

  double spacing = 0;
  assert_int_equal(si_get_float(ds, SI_TAG(0x0028, 0x0030), 1, &spacing, NULL), SI_OK);
  assert_true(spacing == 0.25);
  assert_int_equal(si_get_float(ds, SI_TAG(0x0028, 0x0030), 2, &spacing, NULL), SI_ERR_NOT_FOUND);

  si_date date;
  assert_int_equal(si_get_date(ds, SI_TAG(0x0008, 0x0020), 0, &date, NULL), SI_OK);
  assert_int_equal(date.year, 2024);
  assert_int_equal(date.month, 1);
  assert_int_equal(date.day, 31);

  si_person_name pn;
  assert_int_equal(si_get_person_name(ds, SI_TAG(0x0010, 0x0010), 0, &pn, NULL), SI_OK);
  assert_string_equal(pn.component[0][0], "Doe");
  assert_string_equal(pn.component[0][1], "John");
  assert_string_equal(pn.component[0][2], "");
  assert_string_equal(pn.component[0][3], "Dr");
  assert_string_equal(pn.group[1], "");
  si_person_name_free(&pn);

  /* Pixel data: 16 words 0..15, in host order whatever the file's order. */
  const si_element *px = si_dataset_find(ds, SI_TAG_PIXEL_DATA);
  assert_non_null(px);
  assert_int_equal(px->vr, SI_VR_OW);
  assert_int_equal(px->value_len, 32);
  assert_int_equal(si_element_vm(px), 16);
  assert_int_equal(int_value(ds, SI_TAG_PIXEL_DATA, 15), 15);
  uint16_t word;
  memcpy(&word, px->value + 2 * 9, 2);
  assert_int_equal(word, 9);

  /* Absent elements are SI_ERR_NOT_FOUND, not a crash or a default. */
  char *s = (char *)1;
  assert_int_equal(si_get_string(ds, SI_TAG(0x0010, 0x0030), 0, &s, NULL), SI_ERR_NOT_FOUND);
  assert_null(s);
}

static void check_info(const si_file *file, const char *ts, int preamble, int explicit_vr,
                       int big_endian, int deflated) {
  const si_file_info *info = si_file_get_info(file);
  assert_string_equal(info->transfer_syntax, ts);
  assert_int_equal(info->has_preamble, preamble);
  assert_int_equal(info->has_meta, preamble);
  assert_int_equal(info->explicit_vr, explicit_vr);
  assert_int_equal(info->big_endian, big_endian);
  assert_int_equal(info->deflated, deflated);
  assert_int_equal(info->encapsulated, 0);
  assert_int_equal(info->stopped_early, 0);
  assert_int_equal(info->max_depth_seen, 0);
  assert_int_equal(info->warnings & SI_WARN_ODD_LENGTH, 0);
  if (preamble) {
    /* Meta: group length, version, SOP class and instance, TS, implementation
     * class and version. */
    assert_int_equal(si_dataset_count(si_file_meta(file)), 7);
    assert_uid_value(si_file_meta(file), SI_TAG_TRANSFER_SYNTAX, ts);
    assert_int_equal(info->warnings, 0);
  } else {
    assert_int_equal(si_dataset_count(si_file_meta(file)), 0);
    assert_true(info->warnings & SI_WARN_NO_PREAMBLE);
    assert_true(info->warnings & SI_WARN_NO_META);
    assert_int_equal(info->data_offset, 0);
  }
  if (!deflated) {
    assert_int_equal(si_dataset_at(si_file_dataset(file), 0)->offset, info->data_offset);
    assert_true(info->data_offset == 0 || info->data_offset > 132);
  }
}

static void test_implicit_le(void **state) {
  (void)state;
  si_file *file = must_read("implicit_le.dcm", NULL);
  check_info(file, SI_TS_IMPLICIT_LE, 1, 0, 0, 0);
  check_basic_image(file);
  const si_element *el = si_dataset_find(si_file_dataset(file), SI_TAG(0x0010, 0x0010));
  assert_true(el->flags & SI_ELEM_IMPLICIT_VR);
  assert_int_equal(el->vr, SI_VR_PN);
  si_file_free(file);
}

static void test_explicit_le(void **state) {
  (void)state;
  si_file *file = must_read("explicit_le.dcm", NULL);
  check_info(file, SI_TS_EXPLICIT_LE, 1, 1, 0, 0);
  check_basic_image(file);
  assert_int_equal(si_file_get_info(file)->data_offset, 278);
  assert_int_equal(si_file_get_info(file)->end_offset, fixture_size("explicit_le.dcm"));
  const si_element *el = si_dataset_find(si_file_dataset(file), SI_TAG(0x0010, 0x0010));
  assert_int_equal(el->flags, 0);
  si_file_free(file);
}

static void test_explicit_be(void **state) {
  (void)state;
  si_file *file = must_read("explicit_be.dcm", NULL);
  check_info(file, SI_TS_EXPLICIT_BE, 1, 1, 1, 0);
  check_basic_image(file);
  si_file_free(file);
}

static void test_deflated(void **state) {
  (void)state;
  si_file *file = must_read("deflated.dcm", NULL);
  check_info(file, SI_TS_DEFLATED_LE, 1, 1, 0, 1);
  check_basic_image(file);
  si_file_free(file);
}

static void test_raw_data_set(void **state) {
  (void)state;
  si_file *file = must_read("raw_implicit_le.dcm", NULL);
  check_info(file, SI_TS_IMPLICIT_LE, 0, 0, 0, 0);
  check_basic_image(file);
  si_file_free(file);
}

/* Files and memory go through different si_io back ends and must agree. */
static void test_memory_matches_file(void **state) {
  (void)state;
  static const char *const names[] = {
      "implicit_le.dcm", "explicit_be.dcm",        "deflated.dcm", "encapsulated.dcm",
      "sequences.dcm",   "truncated_in_value.dcm", "zeros.bin",    "length_4gb.dcm"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[4096];
    fixture_path(names[i], path, sizeof path);
    size_t size;
    uint8_t *data = tu_read_file(path, &size);
    assert_non_null(data);
    si_file *a = NULL, *b = NULL;
    si_error ea, eb;
    si_status sa = si_read_file(path, NULL, &a, &ea);
    si_status sb = si_read_memory(data, size, names[i], NULL, &b, &eb);
    free(data);
    assert_int_equal(sa, sb);
    if (sa == SI_OK) {
      assert_int_equal(si_dataset_count(si_file_dataset(a)), si_dataset_count(si_file_dataset(b)));
      assert_memory_equal(si_file_get_info(a), si_file_get_info(b), sizeof(si_file_info));
    } else {
      assert_int_equal(ea.offset, eb.offset);
      assert_int_equal(ea.tag, eb.tag);
      assert_string_equal(eb.file, names[i]);
    }
    si_file_free(a);
    si_file_free(b);
  }
}

/* ---- header-only reads ---- */

static void test_header_only_stops_before_pixels(void **state) {
  (void)state;
  static const char *const names[] = {"implicit_le.dcm", "explicit_le.dcm", "explicit_be.dcm",
                                      "deflated.dcm", "raw_implicit_le.dcm"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    si_file *full = must_read(names[i], NULL);
    si_file *head = must_read_header(names[i]);
    const si_element *px = si_dataset_find(si_file_dataset(full), SI_TAG_PIXEL_DATA);
    assert_non_null(px);
    const si_file_info *info = si_file_get_info(head);
    assert_int_equal(info->stopped_early, 1);
    /* Stopped at the Pixel Data header, which is not consumed. For deflated
     * files both offsets count inflated bytes. */
    assert_int_equal(info->end_offset, px->offset);
    assert_int_equal(si_dataset_count(si_file_dataset(head)), 19);
    assert_null(si_dataset_find(si_file_dataset(head), SI_TAG_PIXEL_DATA));
    assert_int_equal(int_value(si_file_dataset(head), SI_TAG(0x0028, 0x0010), 0), 4);
    assert_string_equal(info->transfer_syntax, si_file_get_info(full)->transfer_syntax);
    assert_int_equal(si_file_get_info(full)->stopped_early, 0);
    si_file_free(full);
    si_file_free(head);
  }
}

static void test_stop_before_tag(void **state) {
  (void)state;
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_tag = SI_TAG(0x0020, 0x0000);
  si_file *file = must_read("explicit_le.dcm", &opts);
  const si_dataset *ds = si_file_dataset(file);
  /* (0008,0016) (0008,0018) (0008,0020) (0008,0050) (0008,0060) (0010,0010)
   * (0010,0020) */
  assert_int_equal(si_dataset_count(ds), 7);
  assert_int_equal(si_file_get_info(file)->stopped_early, 1);
  assert_int_equal(si_file_get_info(file)->end_offset,
                   si_dataset_at(ds, 6)->offset + 8 + si_dataset_at(ds, 6)->length);
  si_file_free(file);
}

/* ---- structure ---- */

static void test_encapsulated(void **state) {
  (void)state;
  si_file *file = must_read("encapsulated.dcm", NULL);
  const si_file_info *info = si_file_get_info(file);
  assert_string_equal(info->transfer_syntax, TS_JPEG_BASELINE);
  assert_int_equal(info->encapsulated, 1);
  assert_int_equal(info->explicit_vr, 1);
  assert_string_equal(si_transfer_syntax_name(info->transfer_syntax), "JPEG Baseline (Process 1)");
  const si_dataset *ds = si_file_dataset(file);
  assert_int_equal(si_dataset_count(ds), 20);
  const si_element *px = si_dataset_find(ds, SI_TAG_PIXEL_DATA);
  assert_non_null(px);
  assert_int_equal(px->vr, SI_VR_OB);
  assert_int_equal(px->length, SI_UNDEFINED_LENGTH);
  assert_true(px->flags & SI_ELEM_ENCAPSULATED);
  assert_true(px->flags & SI_ELEM_UNDEFINED_LENGTH);
  assert_null(px->value);
  assert_int_equal(px->value_len, 0);
  assert_int_equal(si_element_vm(px), 1);
  /* Empty basic offset table, then the two fragments. */
  assert_int_equal(px->fragment_count, 3);
  assert_int_equal(px->fragments[0].length, 0);
  assert_int_equal(px->fragments[0].offset, px->offset + 12);
  assert_int_equal(px->fragments[1].length, 20);
  assert_int_equal(px->fragments[1].offset, px->offset + 12 + 8);
  assert_memory_equal(px->fragments[1].bytes, "\xff\xd8\xff\xe0", 4);
  assert_int_equal(px->fragments[2].length, 6);
  assert_memory_equal(px->fragments[2].bytes + 4, "\xff\xd9", 2);
  /* Sequence delimiter ends the element and the file. */
  assert_int_equal(info->end_offset, fixture_size("encapsulated.dcm"));
  si_file_free(file);

  si_file *head = must_read_header("encapsulated.dcm");
  assert_int_equal(si_file_get_info(head)->stopped_early, 1);
  assert_int_equal(si_dataset_count(si_file_dataset(head)), 19);
  si_file_free(head);
}

static void check_sequences(const char *name, int implicit) {
  si_file *file = must_read(name, NULL);
  const si_dataset *ds = si_file_dataset(file);
  assert_int_equal(si_dataset_count(ds), 6);
  assert_int_equal(si_file_get_info(file)->max_depth_seen, 2);

  const si_element *empty = si_dataset_find(ds, SI_TAG(0x0008, 0x1110));
  assert_non_null(empty);
  assert_int_equal(empty->vr, SI_VR_SQ);
  assert_int_equal(empty->length, 0);
  assert_int_equal(empty->item_count, 0);
  assert_int_equal(si_element_vm(empty), 0);

  const si_element *defined = si_dataset_find(ds, SI_TAG(0x0008, 0x1140));
  assert_non_null(defined);
  assert_int_equal(defined->vr, SI_VR_SQ);
  assert_int_equal(defined->flags & SI_ELEM_UNDEFINED_LENGTH, 0);
  assert_int_equal(defined->length, 120);
  assert_int_equal(defined->item_count, 2);
  assert_int_equal(!!(defined->flags & SI_ELEM_IMPLICIT_VR), implicit);
  assert_uid_value(defined->items[0], SI_TAG(0x0008, 0x1155), "2.25.2001");
  assert_uid_value(defined->items[1], SI_TAG(0x0008, 0x1155), "2.25.2002");
  assert_int_equal(si_dataset_count(defined->items[1]), 2);

  /* Elements after a sequence belong to the enclosing data set again. */
  assert_string_value(ds, SI_TAG(0x0010, 0x0020), 0, "PID-SEQ");

  const si_element *undefined = si_dataset_find(ds, SI_TAG(0x0040, 0x0275));
  assert_non_null(undefined);
  assert_true(undefined->flags & SI_ELEM_UNDEFINED_LENGTH);
  assert_int_equal(undefined->length, SI_UNDEFINED_LENGTH);
  assert_int_equal(undefined->item_count, 2);
  const si_dataset *first = undefined->items[0];
  assert_int_equal(si_dataset_count(first), 3);
  assert_int_equal(si_dataset_count(undefined->items[1]), 0);
  const si_element *nested_defined = si_dataset_find(first, SI_TAG(0x0008, 0x1110));
  assert_non_null(nested_defined);
  assert_int_equal(nested_defined->item_count, 2);
  assert_uid_value(nested_defined->items[1], SI_TAG(0x0008, 0x1155), "2.25.2011");
  const si_element *nested_undefined = si_dataset_find(first, SI_TAG(0x0032, 0x1064));
  assert_non_null(nested_undefined);
  assert_true(nested_undefined->flags & SI_ELEM_UNDEFINED_LENGTH);
  assert_int_equal(nested_undefined->item_count, 1);
  assert_string_value(nested_undefined->items[0], SI_TAG(0x0008, 0x0100), 0, "CODE1");
  assert_string_value(nested_undefined->items[0], SI_TAG(0x0008, 0x0104), 0, "Meaning");
  assert_string_value(first, SI_TAG(0x0040, 0x1001), 0, "RP-1");
  /* Lookups do not search nested items. */
  assert_null(si_dataset_find(ds, SI_TAG(0x0008, 0x0100)));
  assert_int_equal(si_file_get_info(file)->end_offset, fixture_size(name));
  si_file_free(file);
}

static void test_sequences(void **state) {
  (void)state;
  check_sequences("sequences.dcm", 0);
  check_sequences("sequences_implicit.dcm", 1);
}

static void test_un_undefined_length(void **state) {
  (void)state;
  si_file *file = must_read("un_undefined_length.dcm", NULL);
  const si_dataset *ds = si_file_dataset(file);
  assert_int_equal(si_dataset_count(ds), 3);
  const si_element *un = si_dataset_find(ds, SI_TAG(0x0008, 0x1111));
  assert_non_null(un);
  /* PS3.5 6.2.2: read as a sequence in implicit VR LE. */
  assert_int_equal(un->vr, SI_VR_SQ);
  assert_true(un->flags & SI_ELEM_UN_AS_IMPLICIT);
  assert_true(un->flags & SI_ELEM_UNDEFINED_LENGTH);
  assert_int_equal(un->item_count, 1);
  const si_element *inner = si_dataset_find(un->items[0], SI_TAG(0x0008, 0x1150));
  assert_non_null(inner);
  assert_true(inner->flags & SI_ELEM_IMPLICIT_VR);
  assert_int_equal(inner->vr, SI_VR_UI);
  assert_uid_value(un->items[0], SI_TAG(0x0008, 0x1150), "1.2.840.10008.3.1.2.3.3");
  assert_uid_value(un->items[0], SI_TAG(0x0008, 0x1155), "2.25.3001");
  /* The explicit data set resumes after the sequence delimiter. */
  const si_element *after = si_dataset_find(ds, SI_TAG(0x0010, 0x0020));
  assert_non_null(after);
  assert_int_equal(after->flags & SI_ELEM_IMPLICIT_VR, 0);
  assert_string_value(ds, SI_TAG(0x0010, 0x0020), 0, "PID-UN");
  assert_int_equal(si_file_get_info(file)->max_depth_seen, 1);
  si_file_free(file);
}

static void check_private(const char *name, int implicit) {
  si_file *file = must_read(name, NULL);
  const si_dataset *ds = si_file_dataset(file);
  assert_int_equal(si_dataset_count(ds), 25);
  size_t len = 0;
  const char *creator = si_dataset_private_creator(ds, SI_TAG(0x0009, 0x1001), &len);
  assert_non_null(creator);
  assert_int_equal(len, 8);
  assert_memory_equal(creator, "ACME 1.0", 8);
  creator = si_dataset_private_creator(ds, SI_TAG(0x0029, 0x1010), &len);
  assert_non_null(creator);
  assert_int_equal(len, 13);
  assert_memory_equal(creator, "OTHER CREATOR", 13);
  assert_null(si_dataset_private_creator(ds, SI_TAG(0x0009, 0x1101), &len)); /* block 11 */
  assert_null(si_dataset_private_creator(ds, SI_TAG(0x0010, 0x0010), &len)); /* public */
  assert_string_value(ds, SI_TAG(0x0009, 0x0010), 0, "ACME 1.0");
  const si_element *us = si_dataset_find(ds, SI_TAG(0x0009, 0x1002));
  assert_non_null(us);
  if (implicit) {
    /* No dictionary knows private VRs: raw bytes, little endian. */
    assert_int_equal(us->vr, SI_VR_UN);
    assert_memory_equal(us->value, "\x01\x02", 2);
  } else {
    assert_int_equal(us->vr, SI_VR_US);
    assert_int_equal(int_value(ds, SI_TAG(0x0009, 0x1002), 0), 513);
    assert_string_value(ds, SI_TAG(0x0009, 0x1001), 0, "private text");
  }
  const si_element *ob = si_dataset_find(ds, SI_TAG(0x0029, 0x1010));
  assert_non_null(ob);
  assert_int_equal(ob->value_len, 4);
  assert_memory_equal(ob->value, "\x01\x02\x03\x04", 4);
  si_file_free(file);
}

static void test_private_tags(void **state) {
  (void)state;
  check_private("private_tags.dcm", 0);
  check_private("private_tags_implicit.dcm", 1);
}

static void test_odd_length(void **state) {
  (void)state;
  si_file *file = must_read("odd_length.dcm", NULL);
  const si_dataset *ds = si_file_dataset(file);
  assert_int_equal(si_dataset_count(ds), 4);
  assert_true(si_file_get_info(file)->warnings & SI_WARN_ODD_LENGTH);
  const si_element *uid = si_dataset_find(ds, SI_TAG(0x0008, 0x0018));
  assert_non_null(uid);
  assert_true(uid->flags & SI_ELEM_ODD_LENGTH);
  assert_int_equal(uid->value_len, 9);
  assert_uid_value(ds, SI_TAG(0x0008, 0x0018), "2.25.1001");
  const si_element *id = si_dataset_find(ds, SI_TAG(0x0010, 0x0020));
  assert_true(id->flags & SI_ELEM_ODD_LENGTH);
  assert_string_value(ds, SI_TAG(0x0010, 0x0020), 0, "ODD");
  /* The odd values did not shift the elements after them. */
  const si_element *is = si_dataset_find(ds, SI_TAG(0x0020, 0x0013));
  assert_int_equal(is->flags & SI_ELEM_ODD_LENGTH, 0);
  assert_int_equal(int_value(ds, SI_TAG(0x0020, 0x0013), 0), 12);
  si_file_free(file);
}

static void test_charsets(void **state) {
  (void)state;
  si_file *file = must_read("charset_latin1.dcm", NULL);
  const si_dataset *ds = si_file_dataset(file);
  size_t len;
  const char *raw = si_dataset_charset_raw(ds, &len);
  assert_int_equal(len, 10);
  assert_memory_equal(raw, "ISO_IR 100", 10);
  assert_string_value(ds, SI_TAG(0x0010, 0x0010), 0, "M\xc3\xbcller^J\xc3\xbcrgen");
  si_person_name pn;
  assert_int_equal(si_get_person_name(ds, SI_TAG(0x0010, 0x0010), 0, &pn, NULL), SI_OK);
  assert_string_equal(pn.component[0][0], "M\xc3\xbcller");
  assert_string_equal(pn.component[0][1], "J\xc3\xbcrgen");
  si_person_name_free(&pn);
  si_file_free(file);

  file = must_read("charset_utf8.dcm", NULL);
  ds = si_file_dataset(file);
  assert_int_equal(si_get_person_name(ds, SI_TAG(0x0010, 0x0010), 0, &pn, NULL), SI_OK);
  assert_string_equal(pn.group[0], "Wang^XiaoDong");
  assert_string_equal(pn.group[1], "\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1");
  assert_string_equal(pn.component[1][0], "\xe7\x8e\x8b");
  assert_string_equal(pn.group[2], "");
  si_person_name_free(&pn);
  si_file_free(file);
}

/* Out-of-range indexes are SI_ERR_NOT_FOUND however large: the offset
 * index * unit must not wrap around and read before the value. */
static void test_getter_index_bounds(void **state) {
  (void)state;
  si_file *file = must_read("explicit_le.dcm", NULL);
  const si_dataset *ds = si_file_dataset(file);
  static const size_t huge[] = {1, 16, SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 4, (size_t)1 << 63};
  static const uint32_t tags[] = {SI_TAG(0x0028, 0x0010), SI_TAG_PIXEL_DATA};
  for (size_t t = 0; t < 2; t++)
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
      if (tags[t] == SI_TAG_PIXEL_DATA && huge[i] == 1)
        continue; /* 16 pixels: index 1 exists */
      int64_t v;
      double d;
      si_error err;
      assert_int_equal(si_get_int(ds, tags[t], huge[i], &v, &err), SI_ERR_NOT_FOUND);
      assert_int_equal(si_get_float(ds, tags[t], huge[i], &d, &err), SI_ERR_NOT_FOUND);
    }
  double d;
  assert_int_equal(si_get_float(ds, SI_TAG(0x0028, 0x0030), 2, &d, NULL), SI_ERR_NOT_FOUND);
  char *s = (char *)1;
  assert_int_equal(si_get_string(ds, SI_TAG(0x0028, 0x0030), 2, &s, NULL), SI_ERR_NOT_FOUND);
  assert_null(s);
  si_file_free(file);
}

/* ---- broken on purpose ---- */

static void test_truncated_in_meta_header(void **state) {
  (void)state;
  long size = fixture_size("truncated_in_meta_header.dcm");
  si_error err = must_fail("truncated_in_meta_header.dcm", NULL, SI_ERR_TRUNCATED);
  /* The stream ends 5 bytes into the header of (0002,0003). */
  assert_int_equal(err.offset, size - 5);
  assert_int_equal(err.tag, SI_TAG(0x0002, 0x0003));
}

static void test_truncated_in_value(void **state) {
  (void)state;
  long size = fixture_size("truncated_in_value.dcm");
  for (int header_only = 0; header_only < 2; header_only++) {
    si_read_options opts;
    si_read_options_init(&opts);
    opts.stop_before_pixels = header_only;
    si_error err = must_fail("truncated_in_value.dcm", &opts, SI_ERR_TRUNCATED);
    /* Patient's Name announces 12 bytes; 4 are left. The offset is where the
     * value starts. */
    assert_int_equal(err.tag, SI_TAG(0x0010, 0x0010));
    assert_int_equal(err.offset, size - 4);
  }
}

static void test_truncated_in_sequence(void **state) {
  (void)state;
  long size = fixture_size("truncated_in_sequence.dcm");
  si_error err = must_fail("truncated_in_sequence.dcm", NULL, SI_ERR_TRUNCATED);
  /* The stream ends where the next element of an item of the nested
   * (0008,1110) should start, though that item's declared length says more
   * follows. DCMTK and pydicom keep such items; since issue 11 it is a cut
   * file, and the error names the sequence whose item is cut. */
  assert_int_equal(err.offset, size);
  assert_int_equal(err.tag, SI_TAG(0x0008, 0x1110));
}

static void test_bad_item_tag(void **state) {
  (void)state;
  long size = fixture_size("bad_item_tag.dcm");
  si_error err = must_fail("bad_item_tag.dcm", NULL, SI_ERR_FORMAT);
  /* The stray (0008,1150) header (8 + 26 bytes) closes the file. */
  assert_int_equal(err.tag, SI_TAG(0x0008, 0x1140));
  assert_int_equal(err.offset, size - 34);
}

/* A read error is not an end of stream, even where an element ends and even
 * when the caller passes no si_error (error.h allows NULL everywhere; the
 * status alone must still tell). */
static void test_deflate_corrupt_at_boundary(void **state) {
  (void)state;
  si_error err = must_fail("deflate_corrupt_at_boundary.dcm", NULL, SI_ERR_FORMAT);
  assert_int_equal(err.tag, SI_NO_TAG);
  char path[4096];
  fixture_path("deflate_corrupt_at_boundary.dcm", path, sizeof path);
  si_file *file = (si_file *)1;
  si_status st = si_read_file(path, NULL, &file, NULL);
  if (st == SI_OK)
    si_file_free(file);
  assert_int_equal(st, SI_ERR_FORMAT);
  assert_null(file);
}

static void test_deep_nesting(void **state) {
  (void)state;
  si_file *file = must_read("deep_nesting_64.dcm", NULL);
  assert_int_equal(si_file_get_info(file)->max_depth_seen, 64);
  /* Walk down to the leaf: 64 sequences, one item each. */
  const si_dataset *ds = si_file_dataset(file);
  for (int level = 0; level < 64; level++) {
    const si_element *sq = si_dataset_find(ds, SI_TAG(0x0040, 0xA730));
    assert_non_null(sq);
    assert_int_equal(sq->item_count, 1);
    ds = sq->items[0];
  }
  assert_string_value(ds, SI_TAG(0x0040, 0xA160), 0, "leaf");
  si_file_free(file);

  si_error err = must_fail("deep_nesting_100.dcm", NULL, SI_ERR_LIMIT);
  assert_int_equal(err.tag, SI_TAG(0x0040, 0xA730));
  /* The 65th sequence header: the first is at the data set start + 34, and
   * each level adds a 12-byte header and an 8-byte item header. */
  assert_int_equal(err.offset, 278 + 34 + 64 * 20);

  si_read_options opts;
  si_read_options_init(&opts);
  opts.max_depth = 10;
  err = must_fail("deep_nesting_64.dcm", &opts, SI_ERR_LIMIT);
  assert_int_equal(err.offset, 278 + 34 + 10 * 20);
}

static void test_not_dicom(void **state) {
  (void)state;
  static const char *const names[] = {"not_dicom_jpeg.jpg", "not_dicom_text.txt", "empty.dcm",
                                      "zeros.bin"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    for (int header_only = 0; header_only < 2; header_only++) {
      si_read_options opts;
      si_read_options_init(&opts);
      opts.stop_before_pixels = header_only;
      si_error err = must_fail(names[i], &opts, SI_ERR_NOT_DICOM);
      assert_int_equal(err.offset, 0);
      assert_int_equal(err.tag, SI_NO_TAG);
    }
  }
}

static void test_missing_file(void **state) {
  (void)state;
  si_file *file = (si_file *)1;
  si_error err;
  assert_int_equal(si_read_file("/nonexistent/sendit/x.dcm", NULL, &file, &err), SI_ERR_IO);
  assert_null(file);
  assert_string_equal(err.file, "/nonexistent/sendit/x.dcm");
  assert_true(err.message[0] != '\0');
}

/* ---- the 4 GB claim: fail fast, allocate nothing near the claim ---- */

/* Address space the process uses now, from /proc (0 when unknown). */
static unsigned long long vm_size_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return 0;
  char line[256];
  unsigned long long kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
      break;
  fclose(f);
  return kb * 1024;
}

/* A stream that cannot tell its size, like a socket: read_value must grow its
 * buffer with the bytes that really arrive. */
typedef struct chunked {
  const uint8_t *data;
  size_t size, pos;
} chunked;

static int64_t chunked_read(void *ctx, void *buf, size_t n, si_error *err) {
  (void)err;
  chunked *c = ctx;
  size_t step = c->size - c->pos;
  if (step > n)
    step = n;
  if (step > 1000)
    step = 1000;
  memcpy(buf, c->data + c->pos, step);
  c->pos += step;
  return (int64_t)step;
}

static void chunked_close(void *ctx) { (void)ctx; }

/* Reads `name` in a child whose address space may grow by 256 MiB at most,
 * so an allocation of the claimed length fails there instead of passing
 * unnoticed on a large machine. Returns the child's read status (or -1 when
 * it died) and the seconds it took. */
static int bounded_read(const char *name, int via_stream, int header_only, double *seconds) {
  char path[4096];
  fixture_path(name, path, sizeof path);
  size_t size;
  uint8_t *data = tu_read_file(path, &size);
  assert_non_null(data);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    unsigned long long now = vm_size_bytes();
    if (now) {
      struct rlimit lim = {now + (256ull << 20), now + (256ull << 20)};
      setrlimit(RLIMIT_AS, &lim);
    }
    si_read_options opts;
    si_read_options_init(&opts);
    opts.stop_before_pixels = header_only;
    si_file *file = NULL;
    si_status st;
    if (via_stream) {
      /* Above the claim, so only the bytes present can stop the read. */
      opts.max_value_length = (uint64_t)1 << 33;
      static const si_io_methods methods = {chunked_read, NULL, NULL, chunked_close};
      chunked c = {data, size, 0};
      si_io *io;
      st = si_io_create(&methods, &c, name, &io, NULL);
      if (st == SI_OK) {
        st = si_read_io(io, &opts, &file, NULL);
        si_io_close(io);
      }
    } else {
      st = si_read_memory(data, size, name, &opts, &file, NULL);
    }
    si_file_free(file);
    _exit((int)st);
  }
  free(data);
  int wstatus;
  assert_int_equal(waitpid(pid, &wstatus, 0), pid);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
}

static void test_length_4gb(void **state) {
  (void)state;
  double seconds;
  assert_int_equal(bounded_read("length_4gb.dcm", 0, 0, &seconds), SI_ERR_TRUNCATED);
  assert_true(seconds < 2.0);
  assert_int_equal(bounded_read("length_4gb.dcm", 1, 0, &seconds), SI_ERR_TRUNCATED);
  assert_true(seconds < 2.0);
  /* The claim sits on Pixel Data, which a header-only read never reads, but
   * it compares the declared length with the file's size: a cut file. */
  assert_int_equal(bounded_read("length_4gb.dcm", 0, 1, &seconds), SI_ERR_TRUNCATED);
  assert_int_equal(bounded_read("length_4gb_text.dcm", 0, 1, &seconds), SI_ERR_TRUNCATED);
  assert_int_equal(bounded_read("length_4gb_text.dcm", 1, 0, &seconds), SI_ERR_TRUNCATED);

  long size = fixture_size("length_4gb.dcm");
  si_error err = must_fail("length_4gb.dcm", NULL, SI_ERR_TRUNCATED);
  assert_int_equal(err.tag, SI_TAG_PIXEL_DATA);
  assert_int_equal(err.offset, size - 16);
  si_read_options head;
  si_read_options_init(&head);
  head.stop_before_pixels = 1;
  err = must_fail("length_4gb.dcm", &head, SI_ERR_TRUNCATED);
  assert_int_equal(err.tag, SI_TAG_PIXEL_DATA);
  assert_int_equal(err.offset, size - 16 - 12);
  err = must_fail("length_4gb_text.dcm", NULL, SI_ERR_TRUNCATED);
  assert_int_equal(err.tag, SI_TAG(0x0020, 0x4000));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_implicit_le),
      cmocka_unit_test(test_explicit_le),
      cmocka_unit_test(test_explicit_be),
      cmocka_unit_test(test_deflated),
      cmocka_unit_test(test_raw_data_set),
      cmocka_unit_test(test_memory_matches_file),
      cmocka_unit_test(test_header_only_stops_before_pixels),
      cmocka_unit_test(test_stop_before_tag),
      cmocka_unit_test(test_encapsulated),
      cmocka_unit_test(test_sequences),
      cmocka_unit_test(test_un_undefined_length),
      cmocka_unit_test(test_private_tags),
      cmocka_unit_test(test_odd_length),
      cmocka_unit_test(test_charsets),
      cmocka_unit_test(test_getter_index_bounds),
      cmocka_unit_test(test_truncated_in_meta_header),
      cmocka_unit_test(test_truncated_in_value),
      cmocka_unit_test(test_truncated_in_sequence),
      cmocka_unit_test(test_bad_item_tag),
      cmocka_unit_test(test_deflate_corrupt_at_boundary),
      cmocka_unit_test(test_deep_nesting),
      cmocka_unit_test(test_not_dicom),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_length_4gb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
