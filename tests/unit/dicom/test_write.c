/* The writer (sendit/write.h) and the transfer syntax table
 * (sendit/tsyntax.h): write -> read gives the same data set in each of the
 * four uncompressed syntaxes, writing what was written gives the same bytes,
 * the regenerated meta, values copied from the source file, encapsulated
 * pixel data kept whole, and the temporary-name/rename discipline. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/dicom.h"
#include "sendit/edit.h"
#include "sendit/tsyntax.h"
#include "sendit/write.h"

static const char *const four[] = {"implicit", "explicit", "big", "deflated"};

static si_file *read_fixture(const char *name, uint64_t leave) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", tu_test_data_dir(), name);
  si_read_options ro;
  si_read_options_init(&ro);
  ro.leave_in_file = leave;
  si_file *f = NULL;
  si_error err;
  si_status st = si_read_file(path, &ro, &f, &err);
  if (st != SI_OK) {
    char buf[1200];
    fail_msg("%s", si_error_format(&err, buf, sizeof buf));
  }
  return f;
}

static si_file *read_bytes(const uint8_t *b, size_t n, const char *bare_ts) {
  si_read_options ro;
  si_read_options_init(&ro);
  ro.transfer_syntax = bare_ts;
  si_file *f = NULL;
  si_error err;
  si_status st = si_read_memory(b, n, "written", &ro, &f, &err);
  if (st != SI_OK) {
    char buf[1200];
    fail_msg("%s", si_error_format(&err, buf, sizeof buf));
  }
  return f;
}

/* Deep equality of values (and VRs when `vrs`): tags, bytes, items. */
static void assert_same(const si_dataset *a, const si_dataset *b, int vrs) {
  size_t na = 0, nb = 0;
  for (size_t i = 0; i < si_dataset_count(a); i++)
    na += SI_TAG_ELEMENT(si_dataset_at(a, i)->tag) != 0;
  for (size_t i = 0; i < si_dataset_count(b); i++)
    nb += SI_TAG_ELEMENT(si_dataset_at(b, i)->tag) != 0;
  assert_int_equal(na, nb);
  for (size_t i = 0; i < si_dataset_count(a); i++) {
    const si_element *x = si_dataset_at(a, i);
    if (SI_TAG_ELEMENT(x->tag) == 0)
      continue;
    const si_element *y = si_dataset_find(b, x->tag);
    assert_non_null(y);
    if (vrs)
      assert_int_equal(x->vr, y->vr);
    assert_int_equal(x->item_count, y->item_count);
    for (size_t k = 0; k < x->item_count; k++)
      assert_same(x->items[k], y->items[k], vrs);
    assert_int_equal(x->fragment_count, y->fragment_count);
    for (size_t k = 0; k < x->fragment_count; k++) {
      assert_int_equal(x->fragments[k].length, y->fragments[k].length);
      if (x->fragments[k].length)
        assert_memory_equal(x->fragments[k].bytes, y->fragments[k].bytes, x->fragments[k].length);
    }
    /* Odd values come back padded to even length. */
    size_t len = x->value_len + (x->value_len & 1);
    assert_int_equal(len, y->value_len);
    if (x->value_len)
      assert_memory_equal(x->value, y->value, x->value_len);
  }
}

static uint8_t *write_ts(const si_file *f, const char *short_name, size_t *n) {
  si_write_options wo;
  si_write_options_init(&wo);
  wo.transfer_syntax = short_name ? si_ts_by_name(short_name)->uid : NULL;
  uint8_t *out = NULL;
  si_error err;
  si_status st = si_write_part10_memory(f, &wo, &out, n, &err);
  if (st != SI_OK) {
    char buf[1200];
    fail_msg("%s", si_error_format(&err, buf, sizeof buf));
  }
  return out;
}

static void test_ts_table(void **state) {
  (void)state;
  const si_transfer_syntax *ts = si_ts_by_name("implicit");
  assert_non_null(ts);
  assert_string_equal(ts->uid, "1.2.840.10008.1.2");
  assert_false(ts->explicit_vr);
  ts = si_ts_by_name("big");
  assert_string_equal(ts->uid, SI_TS_EXPLICIT_BE);
  assert_true(ts->big_endian && ts->explicit_vr && ts->retired);
  ts = si_ts_by_name("deflated");
  assert_true(ts->deflated && !ts->encapsulated);
  assert_string_equal(si_ts_by_name("explicit")->uid, SI_TS_EXPLICIT_LE);
  assert_null(si_ts_by_name("jpeg"));
  assert_null(si_ts_by_name(NULL));
  ts = si_ts_by_uid("1.2.840.10008.1.2.4.50");
  assert_non_null(ts);
  assert_true(ts->encapsulated && !ts->retired);
  assert_null(ts->short_name);
  assert_true(si_ts_by_uid("1.2.840.10008.1.2.4.52")->retired);
  assert_null(si_ts_by_uid("1.2.3"));
  assert_null(si_ts_by_uid(NULL));
  assert_true(si_ts_count() > 50);
  for (size_t i = 0; i < si_ts_count(); i++)
    assert_ptr_equal(si_ts_by_uid(si_ts_at(i)->uid), si_ts_at(i));
  assert_null(si_ts_at(si_ts_count()));
  assert_string_equal(si_transfer_syntax_name(SI_TS_DEFLATED_LE),
                      "Deflated Explicit VR Little Endian");
}

/* Every fixture in every syntax: same data set after write -> read, and a
 * second write of what was read gives identical bytes. */
static void test_roundtrip_four(void **state) {
  (void)state;
  static const char *const fixtures[] = {
      "explicit_le.dcm", "implicit_le.dcm",    "explicit_be.dcm", "sequences.dcm",
      "deflated.dcm",    "charset_latin1.dcm", "odd_length.dcm",  "sequences_implicit.dcm"};
  for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
    si_file *src = read_fixture(fixtures[i], 0);
    for (size_t t = 0; t < 4; t++) {
      size_t n1, n2;
      uint8_t *b1 = write_ts(src, four[t], &n1);
      si_file *back = read_bytes(b1, n1, NULL);
      const si_file_info *info = si_file_get_info(back);
      assert_string_equal(info->transfer_syntax, si_ts_by_name(four[t])->uid);
      assert_int_equal(info->warnings & (SI_WARN_META_GROUP_LENGTH | SI_WARN_BAD_VR), 0);
      /* Implicit VR loses what the dictionary cannot restore. */
      assert_same(si_file_dataset(src), si_file_dataset(back), t != 0);
      uint8_t *b2 = write_ts(back, four[t], &n2);
      assert_int_equal(n1, n2);
      assert_memory_equal(b1, b2, n1);
      free(b1);
      free(b2);
      si_file_free(back);
    }
    si_file_free(src);
  }
}

static void test_meta_regenerated(void **state) {
  (void)state;
  si_file *src = read_fixture("explicit_le.dcm", 0);
  size_t n;
  uint8_t *b = write_ts(src, "big", &n);
  assert_memory_equal(b + 128, "DICM", 4);
  for (int i = 0; i < 128; i++)
    assert_int_equal(b[i], 0);
  si_file *back = read_bytes(b, n, NULL);
  const si_dataset *meta = si_file_meta(back);
  char uid[65];
  assert_int_equal(si_get_uid(meta, SI_TAG(0x0002, 0x0010), uid, NULL), SI_OK);
  assert_string_equal(uid, SI_TS_EXPLICIT_BE);
  assert_int_equal(si_get_uid(meta, SI_TAG(0x0002, 0x0012), uid, NULL), SI_OK);
  assert_string_equal(uid, SI_IMPLEMENTATION_CLASS_UID);
  assert_true(si_uid_is_valid(uid, strlen(uid)));
  char *name;
  assert_int_equal(si_get_string(meta, SI_TAG(0x0002, 0x0013), 0, &name, NULL), SI_OK);
  assert_string_equal(name, si_implementation_version_name());
  assert_true(strncmp(name, "SENDIT_", 7) == 0 && strlen(name) <= 16);
  free(name);
  assert_int_equal(si_get_uid(meta, SI_TAG(0x0002, 0x0003), uid, NULL), SI_OK);
  assert_string_equal(uid, "2.25.1001");
  /* The group length counts exactly the meta elements after it. */
  int64_t glen;
  assert_int_equal(si_get_int(meta, SI_TAG(0x0002, 0x0000), 0, &glen, NULL), SI_OK);
  assert_int_equal(132 + 12 + glen, si_file_get_info(back)->data_offset);
  /* A changed SOPInstanceUID goes into the meta. */
  assert_int_equal(si_edit_set(src, "SOPInstanceUID", "1.2.3.4", 0, NULL, NULL), SI_OK);
  free(b);
  si_file_free(back);
  b = write_ts(src, NULL, &n);
  back = read_bytes(b, n, NULL);
  assert_int_equal(si_get_uid(si_file_meta(back), SI_TAG(0x0002, 0x0003), uid, NULL), SI_OK);
  assert_string_equal(uid, "1.2.3.4");
  free(b);
  si_file_free(back);
  si_file_free(src);
}

static void test_bare_dataset(void **state) {
  (void)state;
  si_file *src = read_fixture("sequences.dcm", 0);
  for (size_t t = 0; t < 4; t++) {
    si_write_options wo;
    si_write_options_init(&wo);
    wo.transfer_syntax = si_ts_by_name(four[t])->uid;
    uint8_t *b;
    size_t n;
    assert_int_equal(si_write_dataset_memory(src, &wo, &b, &n, NULL), SI_OK);
    assert_true(n > 8);
    si_file *back = read_bytes(b, n, wo.transfer_syntax);
    assert_same(si_file_dataset(src), si_file_dataset(back), t != 0);
    assert_int_equal(si_dataset_count(si_file_meta(back)), 0);
    free(b);
    si_file_free(back);
  }
  si_file_free(src);
}

static void test_sequence_forms(void **state) {
  (void)state;
  si_file *src = read_fixture("sequences.dcm", 0);
  si_write_options wo;
  si_write_options_init(&wo);
  for (int form = SI_SEQ_UNDEFINED; form <= SI_SEQ_DEFINED; form++) {
    wo.sequences = (si_seq_form)form;
    uint8_t *b;
    size_t n;
    assert_int_equal(si_write_part10_memory(src, &wo, &b, &n, NULL), SI_OK);
    si_file *back = read_bytes(b, n, NULL);
    assert_same(si_file_dataset(src), si_file_dataset(back), 1);
    const si_element *seq = si_dataset_find(si_file_dataset(back), SI_TAG(0x0040, 0x0275));
    assert_non_null(seq);
    assert_int_equal((seq->flags & SI_ELEM_UNDEFINED_LENGTH) != 0, form == SI_SEQ_UNDEFINED);
    free(b);
    si_file_free(back);
  }
  si_file_free(src);
}

static void test_encapsulated(void **state) {
  (void)state;
  si_file *src = read_fixture("encapsulated.dcm", 0);
  size_t n;
  uint8_t *b = write_ts(src, NULL, &n);
  si_file *back = read_bytes(b, n, NULL);
  assert_string_equal(si_file_get_info(back)->transfer_syntax,
                      si_file_get_info(src)->transfer_syntax);
  assert_same(si_file_dataset(src), si_file_dataset(back), 1);
  free(b);
  si_file_free(back);
  /* No decoder: converting to a native syntax is refused. */
  si_write_options wo;
  si_write_options_init(&wo);
  wo.transfer_syntax = SI_TS_EXPLICIT_LE;
  si_error err;
  assert_int_equal(si_write_part10_memory(src, &wo, &b, &n, &err), SI_ERR_UNSUPPORTED);
  assert_int_equal(err.tag, SI_TAG_PIXEL_DATA);
  assert_null(b);
  si_file_free(src);
}

/* Values left in the file are copied from it, swapped when needed. */
static void test_values_from_source(void **state) {
  (void)state;
  char path[4096];
  for (size_t t = 0; t < 4; t++) {
    si_file *full = read_fixture("explicit_be.dcm", 0);
    si_file *lazy = read_fixture("explicit_be.dcm", 8);
    const si_element *px = si_dataset_find(si_file_dataset(lazy), SI_TAG_PIXEL_DATA);
    assert_non_null(px);
    assert_true(px->flags & SI_ELEM_VALUE_SKIPPED);
    assert_null(px->value);
    snprintf(path, sizeof path, "%s/lazy_%s.dcm", tu_tmp_dir(), four[t]);
    si_write_options wo;
    si_write_options_init(&wo);
    wo.transfer_syntax = si_ts_by_name(four[t])->uid;
    si_error err;
    assert_int_equal(si_write_part10_file(lazy, path, &wo, &err), SI_OK);
    size_t n;
    uint8_t *b = tu_read_file(path, &n);
    si_file *back = read_bytes(b, n, NULL);
    assert_same(si_file_dataset(full), si_file_dataset(back), 1);
    free(b);
    si_file_free(back);
    si_file_free(full);
    si_file_free(lazy);
  }
  /* Encapsulated fragments too, and an in-place rewrite of the source. */
  snprintf(path, sizeof path, "%s/inplace.dcm", tu_tmp_dir());
  char fixture[4096];
  snprintf(fixture, sizeof fixture, "%s/encapsulated.dcm", tu_test_data_dir());
  size_t n;
  uint8_t *orig = tu_read_file(fixture, &n);
  assert_int_equal(tu_write_file(path, orig, n), 0);
  free(orig);
  si_read_options ro;
  si_read_options_init(&ro);
  ro.leave_in_file = 4;
  si_file *lazy;
  assert_int_equal(si_read_file(path, &ro, &lazy, NULL), SI_OK);
  si_error e2;
  si_status st2 = si_write_part10_file(lazy, path, NULL, &e2);
  if (st2 != SI_OK) {
    char buf[1200];
    fail_msg("%s", si_error_format(&e2, buf, sizeof buf));
  }
  si_file_free(lazy);
  si_file *full = read_fixture("encapsulated.dcm", 0);
  si_file *again;
  assert_int_equal(si_read_file(path, NULL, &again, NULL), SI_OK);
  assert_same(si_file_dataset(full), si_file_dataset(again), 1);
  si_file_free(full);
  si_file_free(again);
}

/* A value too long for a 16-bit length goes out as UN and reads back. */
static void test_long_value_as_un(void **state) {
  (void)state;
  si_file *f;
  assert_int_equal(si_file_new(&f, NULL), SI_OK);
  size_t len = 70000;
  uint16_t *v = malloc(len);
  for (size_t i = 0; i < len / 2; i++)
    v[i] = (uint16_t)i;
  assert_int_equal(si_edit_set_bytes(f, "(0028,0010)", SI_VR_US, v, len, NULL), SI_OK);
  assert_int_equal(si_edit_set(f, "SOPInstanceUID", "1.2.3", SI_EDIT_CREATE, NULL, NULL), SI_OK);
  for (size_t t = 1; t < 3; t++) {
    size_t n;
    uint8_t *b = write_ts(f, four[t], &n);
    si_file *back = read_bytes(b, n, NULL);
    const si_element *el = si_dataset_find(si_file_dataset(back), SI_TAG(0x0028, 0x0010));
    assert_non_null(el);
    assert_int_equal(el->vr, SI_VR_US);
    assert_true(el->flags & SI_ELEM_UN_DECODED);
    assert_int_equal(el->value_len, len);
    assert_memory_equal(el->value, v, len);
    free(b);
    si_file_free(back);
  }
  free(v);
  si_file_free(f);
}

static size_t count_entries(const char *dir) {
  DIR *d = opendir(dir);
  size_t n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    n += e->d_name[0] != '.' || strstr(e->d_name, "sendit-tmp") != NULL;
  if (d)
    closedir(d);
  return n;
}

/* Failures leave neither a partial final file nor a temporary one, and an
 * existing file under the final name stays as it was. */
static void test_temp_and_rename(void **state) {
  (void)state;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/rename", tu_tmp_dir());
  assert_int_equal(mkdir(dir, 0755), 0);
  snprintf(path, sizeof path, "%s/out.dcm", dir);
  assert_int_equal(tu_write_file(path, "old", 3), 0);
  si_file *enc = read_fixture("encapsulated.dcm", 0);
  si_write_options wo;
  si_write_options_init(&wo);
  wo.transfer_syntax = SI_TS_IMPLICIT_LE;
  si_error err;
  assert_int_equal(si_write_part10_file(enc, path, &wo, &err), SI_ERR_UNSUPPORTED);
  size_t n;
  uint8_t *b = tu_read_file(path, &n);
  assert_int_equal(n, 3);
  assert_memory_equal(b, "old", 3);
  free(b);
  assert_int_equal(count_entries(dir), 1);
  /* Success replaces it. */
  assert_int_equal(si_write_part10_file(enc, path, NULL, &err), SI_OK);
  b = tu_read_file(path, &n);
  assert_true(n > 132 && memcmp(b + 128, "DICM", 4) == 0);
  free(b);
  assert_int_equal(count_entries(dir), 1);
  /* An unwritable folder is an I/O error naming the target. */
  if (geteuid() != 0) {
    assert_int_equal(chmod(dir, 0555), 0);
    char other[4300];
    snprintf(other, sizeof other, "%s/new.dcm", dir);
    assert_int_equal(si_write_part10_file(enc, other, NULL, &err), SI_ERR_IO);
    assert_string_equal(err.file, other);
    assert_non_null(strstr(err.message, "temporary"));
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(count_entries(dir), 1);
  }
  snprintf(path, sizeof path, "%s/missing/x.dcm", dir);
  assert_int_equal(si_write_part10_file(enc, path, NULL, &err), SI_ERR_IO);
  /* A header-only read did not keep the pixel data: nothing to copy. */
  si_file_free(enc);
  si_read_options ro;
  si_read_options_init(&ro);
  ro.stop_before_pixels = 1;
  char fixture[4096];
  snprintf(fixture, sizeof fixture, "%s/length_4gb_text.dcm", tu_test_data_dir());
  snprintf(path, sizeof path, "%s/hdr.dcm", dir);
  si_file *hdr = NULL;
  snprintf(fixture, sizeof fixture, "%s/explicit_le.dcm", tu_test_data_dir());
  ro.max_kept_value = 4;
  assert_int_equal(si_read_file(fixture, &ro, &hdr, NULL), SI_OK);
  si_status st = si_write_part10_file(hdr, path, NULL, &err);
  /* Pixel data is not part of a header-only read, and values over 4 bytes
   * were skipped with no source to copy them from. */
  assert_int_equal(st, SI_ERR_STATE);
  assert_int_not_equal(err.tag, SI_NO_TAG);
  assert_int_equal(count_entries(dir), 1);
  si_file_free(hdr);
}

/* Big endian: a first data set group 0200 reads "02 00" like the meta's
 * 0002; the meta's group length ends the meta (fuzz_roundtrip found it). */
static void test_big_endian_group_0200(void **state) {
  (void)state;
  si_file *f;
  assert_int_equal(si_file_new(&f, NULL), SI_OK);
  assert_int_equal(si_edit_set(f, "(0200,0010)", "x", SI_EDIT_CREATE, NULL, NULL), SI_OK);
  assert_int_equal(si_edit_set(f, "(0402,0003)", "1.2.3", SI_EDIT_CREATE, NULL, NULL), SI_OK);
  size_t n;
  uint8_t *b = write_ts(f, "big", &n);
  si_file *back = read_bytes(b, n, NULL);
  assert_non_null(si_dataset_find(si_file_dataset(back), SI_TAG(0x0200, 0x0010)));
  assert_null(si_dataset_find(si_file_meta(back), SI_TAG(0x0002, 0x1000)));
  assert_int_equal(si_dataset_count(si_file_dataset(back)), 2);
  free(b);
  si_file_free(back);
  si_file_free(f);
}

/* "US or SS" read implicit comes back SS when PixelRepresentation is 1. */
static void test_us_or_ss(void **state) {
  (void)state;
  si_file *f;
  assert_int_equal(si_file_new(&f, NULL), SI_OK);
  assert_int_equal(si_edit_set(f, "PixelRepresentation", "1", SI_EDIT_CREATE, NULL, NULL), SI_OK);
  const uint16_t padding = (uint16_t)-2000;
  assert_int_equal(si_edit_set_bytes(f, "PixelPaddingValue", SI_VR_SS, &padding, 2, NULL), SI_OK);
  size_t n;
  uint8_t *b = write_ts(f, "implicit", &n);
  si_file *implicit = read_bytes(b, n, NULL);
  free(b);
  const si_element *el = si_dataset_find(si_file_dataset(implicit), SI_TAG(0x0028, 0x0120));
  assert_int_equal(el->vr, SI_VR_US); /* the dictionary's first choice */
  b = write_ts(implicit, "explicit", &n);
  si_file *back = read_bytes(b, n, NULL);
  int64_t v;
  assert_int_equal(si_dataset_find(si_file_dataset(back), SI_TAG(0x0028, 0x0120))->vr, SI_VR_SS);
  assert_int_equal(si_get_int(si_file_dataset(back), SI_TAG(0x0028, 0x0120), 0, &v, NULL), SI_OK);
  assert_int_equal(v, -2000);
  free(b);
  si_file_free(back);
  si_file_free(implicit);
  si_file_free(f);
}

static void test_write_fd_stream(void **state) {
  (void)state;
  si_file *src = read_fixture("sequences.dcm", 0);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  si_write_options wo;
  si_write_options_init(&wo);
  wo.transfer_syntax = SI_TS_IMPLICIT_LE;
  assert_int_equal(si_write_dataset_fd(src, fds[1], "pipe", &wo, NULL), SI_OK);
  close(fds[1]);
  uint8_t buf[65536];
  size_t n = 0;
  ssize_t got;
  while ((got = read(fds[0], buf + n, sizeof buf - n)) > 0)
    n += (size_t)got;
  close(fds[0]);
  si_file *back = read_bytes(buf, n, SI_TS_IMPLICIT_LE);
  assert_same(si_file_dataset(src), si_file_dataset(back), 0);
  si_file_free(back);
  si_file_free(src);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ts_table),
      cmocka_unit_test(test_roundtrip_four),
      cmocka_unit_test(test_meta_regenerated),
      cmocka_unit_test(test_bare_dataset),
      cmocka_unit_test(test_sequence_forms),
      cmocka_unit_test(test_encapsulated),
      cmocka_unit_test(test_values_from_source),
      cmocka_unit_test(test_long_value_as_un),
      cmocka_unit_test(test_temp_and_rename),
      cmocka_unit_test(test_write_fd_stream),
      cmocka_unit_test(test_big_endian_group_0200),
      cmocka_unit_test(test_us_or_ss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
