/* Issue 11, items 10-15, in the reader itself: cut files fail wherever they
 * are cut (but for the documented cases), zero padding is the one benign
 * trailer, header-only reads keep long values out of memory and stay within
 * their bound, explicit UN of known tags is read with the dictionary's VR,
 * NUL bytes stay in string values, a meta element that swallows the file is
 * an error, and the UID validator follows PS3.5 9.1. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"

static uint8_t *fixture(const char *name, size_t *size) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", tu_test_data_dir(), name);
  uint8_t *data = tu_read_file(path, size);
  if (!data)
    fail_msg("cannot read fixture %s", path);
  return data;
}

static si_status read_bytes(const uint8_t *data, size_t n, int header_only, si_file **out,
                            si_error *err) {
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = header_only;
  return si_read_memory(data, n, "cut", &opts, out, err);
}

/* ---- item 11: cut at every offset ---- */

static int is_allowed_cut(const si_dataset *ds, const uint8_t *data, size_t n) {
  /* A cut exactly between two top-level elements leaves a complete, shorter
   * data set: no reader can tell (README, "Reading DICOM"). The first
   * element's start is not one: an empty data set is an error. Nor can one
   * tell a cut that leaves only zero bytes of the next element's header
   * (big endian tags start with a zero byte) from zero padding, the benign
   * trailer. */
  for (size_t i = 1; i < si_dataset_count(ds); i++) {
    size_t at = (size_t)si_dataset_at(ds, i)->offset;
    while (at < n && data[at] == 0)
      at++;
    if (at == n)
      return 1;
  }
  return 0;
}

static void check_every_cut(const char *name) {
  size_t size;
  uint8_t *data = fixture(name, &size);
  si_file *whole;
  si_error err;
  assert_int_equal(read_bytes(data, size, 0, &whole, &err), SI_OK);
  const si_dataset *ds = si_file_dataset(whole);
  int deflated = si_file_get_info(whole)->deflated;
  size_t accepted = 0, cuts = 0;
  for (int header_only = 0; header_only <= 1; header_only++) {
    for (size_t n = 0; n < size; n++) {
      /* A copy of exactly n bytes, so that ASan sees any read past the cut. */
      uint8_t *cut = malloc(n ? n : 1);
      memcpy(cut, data, n);
      si_file *file = NULL;
      si_status st = read_bytes(cut, n, header_only, &file, &err);
      int allowed = !deflated && is_allowed_cut(ds, data, n);
      cuts++;
      if (st == SI_OK) {
        accepted++;
        if (!allowed)
          fail_msg("%s cut at %zu of %zu (%s) reads without error", name, n, size,
                   header_only ? "header-only" : "full");
        assert_true(si_dataset_count(si_file_dataset(file)) > 0);
      } else {
        /* Every refusal says where and why. */
        assert_true(err.message[0] != '\0');
        if (allowed)
          fail_msg("%s cut between two elements at %zu: %s", name, n, err.message);
      }
      si_file_free(file);
      free(cut);
    }
  }
  printf("%s: %zu cuts, %zu read (each between two top-level elements)\n", name, cuts, accepted);
  si_file_free(whole);
  free(data);
}

static void test_cut_at_every_offset(void **state) {
  (void)state;
  static const char *const names[] = {
      "explicit_le.dcm",         "implicit_le.dcm", "explicit_be.dcm",        "deflated.dcm",
      "encapsulated.dcm",        "sequences.dcm",   "sequences_implicit.dcm", "private_tags.dcm",
      "un_undefined_length.dcm", "all_un.dcm",      "charset_utf8.dcm"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    check_every_cut(names[i]);
}

/* ---- item 11: which trailers are benign ---- */

static si_status read_with_tail(const char *name, const void *tail, size_t tail_len,
                                int header_only, si_file **file, si_error *err) {
  size_t size;
  uint8_t *data = fixture(name, &size);
  uint8_t *grown = malloc(size + tail_len);
  memcpy(grown, data, size);
  memcpy(grown + size, tail, tail_len);
  si_status st = read_bytes(grown, size + tail_len, header_only, file, err);
  free(grown);
  free(data);
  return st;
}

static void test_trailers(void **state) {
  (void)state;
  static const size_t zero_runs[] = {1, 2, 7, 8, 11, 12, 100, 5000};
  uint8_t zeros[5001] = {0};
  si_file *file;
  si_error err;
  for (size_t i = 0; i < sizeof zero_runs / sizeof zero_runs[0]; i++) {
    assert_int_equal(read_with_tail("explicit_le.dcm", zeros, zero_runs[i], 0, &file, &err), SI_OK);
    assert_true(si_file_get_info(file)->warnings & SI_WARN_TRAILING_BYTES);
    assert_int_equal(si_dataset_count(si_file_dataset(file)), 20);
    si_file_free(file);
  }
  /* Zeros followed by anything else are not padding. */
  zeros[4000] = 1;
  assert_int_equal(read_with_tail("explicit_le.dcm", zeros, 5000, 0, &file, &err), SI_ERR_FORMAT);
  zeros[4000] = 0;
  /* Part of an element header: the file was cut after it. */
  size_t size;
  free(fixture("explicit_le.dcm", &size));
  static const uint8_t tag_only[] = {0x10, 0x00, 0x10, 0x00, 'P'};
  assert_int_equal(read_with_tail("explicit_le.dcm", tag_only, sizeof tag_only, 0, &file, &err),
                   SI_ERR_TRUNCATED);
  assert_int_equal(err.offset, size);
  assert_int_equal(err.tag, SI_TAG(0x0010, 0x0010));
  static const uint8_t two[] = {0x08, 0x00};
  assert_int_equal(read_with_tail("explicit_le.dcm", two, sizeof two, 0, &file, &err),
                   SI_ERR_TRUNCATED);
  assert_int_equal(err.offset, size);
  assert_int_equal(err.tag, SI_NO_TAG);
  /* A long-length header (OB) cut after 10 of its 12 bytes. */
  static const uint8_t ob10[] = {0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0x10, 0};
  assert_int_equal(read_with_tail("explicit_le.dcm", ob10, sizeof ob10, 0, &file, &err),
                   SI_ERR_TRUNCATED);
  assert_int_equal(err.tag, SI_TAG(0x7FE0, 0x0010));
}

/* Header-only reads check the unread Pixel Data against the file's size. */
static void test_header_only_sees_cut_pixels(void **state) {
  (void)state;
  static const char *const names[] = {"explicit_le.dcm", "encapsulated.dcm"};
  for (size_t i = 0; i < 2; i++) {
    size_t size;
    uint8_t *data = fixture(names[i], &size);
    si_file *file;
    si_error err;
    assert_int_equal(read_bytes(data, size, 1, &file, &err), SI_OK);
    uint64_t pixels = si_file_get_info(file)->end_offset;
    si_file_free(file);
    assert_int_equal(read_bytes(data, size - 1, 1, &file, &err), SI_ERR_TRUNCATED);
    assert_int_equal(err.tag, SI_TAG_PIXEL_DATA);
    if (i == 0)
      assert_int_equal(err.offset, pixels);
    free(data);
  }
}

/* ---- item 10: long values skipped, memory bounded ---- */

static void test_header_only_skips_long_values(void **state) {
  (void)state;
  size_t size;
  uint8_t *data = fixture("explicit_le.dcm", &size);
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = 1;
  opts.max_kept_value = 16;
  si_file *file;
  si_error err;
  assert_int_equal(si_read_memory(data, size, "x", &opts, &file, &err), SI_OK);
  const si_dataset *ds = si_file_dataset(file);
  const si_element *cls = si_dataset_find(ds, SI_TAG(0x0008, 0x0016));
  assert_non_null(cls);
  assert_true(cls->flags & SI_ELEM_VALUE_SKIPPED);
  assert_int_equal(cls->length, 26);
  assert_null(cls->value);
  assert_int_equal(cls->value_len, 0);
  char *s;
  assert_int_equal(si_get_string(ds, SI_TAG(0x0010, 0x0020), SIZE_MAX, &s, &err), SI_OK);
  assert_string_equal(s, "PID-0001");
  free(s);
  si_file_free(file);
  /* Full reads keep everything. */
  opts.stop_before_pixels = 0;
  assert_int_equal(si_read_memory(data, size, "x", &opts, &file, &err), SI_OK);
  cls = si_dataset_find(si_file_dataset(file), SI_TAG(0x0008, 0x0016));
  assert_false(cls->flags & SI_ELEM_VALUE_SKIPPED);
  assert_int_equal(cls->value_len, 26);
  si_file_free(file);
  free(data);
}

/* Appends an explicit VR LE element with a short length. */
static size_t put_short(uint8_t *b, uint16_t group, uint16_t element, const char *vr,
                        const void *value, uint16_t len) {
  b[0] = (uint8_t)group;
  b[1] = (uint8_t)(group >> 8);
  b[2] = (uint8_t)element;
  b[3] = (uint8_t)(element >> 8);
  b[4] = (uint8_t)vr[0];
  b[5] = (uint8_t)vr[1];
  b[6] = (uint8_t)len;
  b[7] = (uint8_t)(len >> 8);
  memcpy(b + 8, value, len);
  return 8 + (size_t)len;
}

static void test_header_memory_bound(void **state) {
  (void)state;
  /* A bare explicit LE data set of 100,000 small private elements: 1 MB of
   * input, ~10 MB as elements; a 1 MiB bound must stop it. */
  size_t count = 100000, n = 0;
  uint8_t *data = malloc(count * 10 + 64);
  n += put_short(data + n, 0x0008, 0x0060, "CS", "CT", 2);
  n += put_short(data + n, 0x0029, 0x0010, "LO", "BIGHEAD ", 8);
  for (size_t i = 0; i < count; i++)
    n += put_short(data + n, 0x0029, (uint16_t)(0x1000 + (i & 0xFF)), "US", "\1\0", 2);
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = 1;
  opts.max_header_memory = 1 << 20;
  si_file *file;
  si_error err;
  assert_int_equal(si_read_memory(data, n, "x", &opts, &file, &err), SI_ERR_LIMIT);
  assert_non_null(strstr(err.message, "1 MiB"));
  /* The default bound (32 MiB) lets it through; full reads have none. */
  opts.max_header_memory = 0;
  assert_int_equal(si_read_memory(data, n, "x", &opts, &file, &err), SI_OK);
  si_file_free(file);
  free(data);
}

/* ---- item 12: explicit UN of known tags ---- */

static void test_all_un(void **state) {
  (void)state;
  size_t size;
  uint8_t *data = fixture("all_un.dcm", &size);
  for (int header_only = 0; header_only <= 1; header_only++) {
    si_file *file;
    si_error err;
    assert_int_equal(read_bytes(data, size, header_only, &file, &err), SI_OK);
    const si_dataset *ds = si_file_dataset(file);
    static const struct {
      uint32_t tag;
      si_vr vr;
    } expected[] = {
        {SI_TAG(0x0008, 0x0005), SI_VR_CS}, {SI_TAG(0x0008, 0x0016), SI_VR_UI},
        {SI_TAG(0x0008, 0x0018), SI_VR_UI}, {SI_TAG(0x0008, 0x0060), SI_VR_CS},
        {SI_TAG(0x0008, 0x1140), SI_VR_SQ}, {SI_TAG(0x0010, 0x0010), SI_VR_PN},
        {SI_TAG(0x0010, 0x0020), SI_VR_LO}, {SI_TAG(0x0020, 0x000D), SI_VR_UI},
        {SI_TAG(0x0020, 0x000E), SI_VR_UI}, {SI_TAG(0x0028, 0x0010), SI_VR_US},
        {SI_TAG(0x0028, 0x0030), SI_VR_DS},
    };
    assert_int_equal(si_dataset_count(ds), sizeof expected / sizeof expected[0]);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
      const si_element *el = si_dataset_find(ds, expected[i].tag);
      assert_non_null(el);
      assert_int_equal(el->vr, expected[i].vr);
      assert_true(el->flags & SI_ELEM_UN_DECODED);
    }
    char uid[65];
    assert_int_equal(si_get_uid(ds, SI_TAG(0x0008, 0x0018), uid, &err), SI_OK);
    assert_string_equal(uid, "1.2.826.0.1.3680043.10.1234.2.1");
    int64_t rows;
    assert_int_equal(si_get_int(ds, SI_TAG(0x0028, 0x0010), 0, &rows, &err), SI_OK);
    assert_int_equal(rows, 2);
    char *s;
    assert_int_equal(si_get_string(ds, SI_TAG(0x0010, 0x0010), SIZE_MAX, &s, &err), SI_OK);
    assert_string_equal(s, "M\xC3\xBCller^J\xC3\xBCrgen"); /* ISO_IR 100, itself a UN */
    free(s);
    const si_element *seq = si_dataset_find(ds, SI_TAG(0x0008, 0x1140));
    assert_int_equal(seq->item_count, 1);
    assert_int_equal(si_get_uid(seq->items[0], SI_TAG(0x0008, 0x1155), uid, &err), SI_OK);
    assert_string_equal(uid, "1.2.826.0.1.3680043.10.1234.7.7");
    si_file_free(file);
  }
  free(data);
}

/* A UN whose tag the dictionary calls SQ but whose bytes are no items stays
 * UN (the file still reads); a UN with a private tag stays UN. */
static void test_un_left_alone(void **state) {
  (void)state;
  uint8_t data[128];
  size_t n = 0;
  static const uint8_t un_sq[] = {0x08, 0x00, 0x40, 0x11, 'U', 'N', 0,   0,   8,   0,
                                  0,    0,    'n',  'o',  't', ' ', 'i', 't', 'e', 'm'};
  n += put_short(data + n, 0x0008, 0x0060, "CS", "CT", 2);
  memcpy(data + n, un_sq, sizeof un_sq);
  n += sizeof un_sq;
  static const uint8_t un_private[] = {0x29, 0x00, 0x10, 0x00, 'U', 'N', 0,   0,
                                       4,    0,    0,    0,    'A', 'B', 'C', 'D'};
  memcpy(data + n, un_private, sizeof un_private);
  n += sizeof un_private;
  si_file *file;
  si_error err;
  assert_int_equal(read_bytes(data, n, 0, &file, &err), SI_OK);
  const si_dataset *ds = si_file_dataset(file);
  assert_int_equal(si_dataset_find(ds, SI_TAG(0x0008, 0x1140))->vr, SI_VR_UN);
  assert_int_equal(si_dataset_find(ds, SI_TAG(0x0029, 0x0010))->vr, SI_VR_UN);
  si_file_free(file);
}

/* ---- item 13: NUL bytes inside strings ---- */

static void test_nul_in_string(void **state) {
  (void)state;
  size_t size;
  uint8_t *data = fixture("nul_in_string.dcm", &size);
  si_file *file;
  si_error err;
  assert_int_equal(read_bytes(data, size, 0, &file, &err), SI_OK);
  const si_dataset *ds = si_file_dataset(file);
  char *s;
  size_t len;
  /* "AB\0CD\0\0": trailing NULs are padding, the inner one is value. */
  assert_int_equal(si_get_string_n(ds, SI_TAG(0x0010, 0x0020), SIZE_MAX, &s, &len, &err), SI_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(s, "AB\0CD", 5);
  free(s);
  assert_int_equal(si_get_string_n(ds, SI_TAG(0x0010, 0x0010), 0, &s, &len, &err), SI_OK);
  assert_int_equal(len, 8);
  assert_memory_equal(s, "Doe\0John", 8);
  free(s);
  si_file_free(file);
  free(data);
}

/* ---- item 14: meta elements that swallow the file ---- */

static void test_meta_swallows_file(void **state) {
  (void)state;
  size_t size;
  uint8_t *data = fixture("meta_swallows_file.dcm", &size);
  si_file *file;
  si_error err;
  for (int header_only = 0; header_only <= 1; header_only++) {
    assert_int_equal(read_bytes(data, size, header_only, &file, &err), SI_ERR_FORMAT);
    assert_int_equal(err.tag, SI_TAG(0x0002, 0x0013));
    assert_int_equal(err.offset, 298);
    assert_non_null(strstr(err.message, "invalid VR"));
  }
  /* The same garbage as the first meta element reads the meta as implicit
   * VR (as old writers wrote it); its length swallows the rest, and the
   * empty data set that leaves is an error. */
  uint8_t head[132 + 8 + 16] = {0};
  memcpy(head + 128, "DICM", 4);
  static const uint8_t bogus[] = {0x02, 0x00, 0x00, 0x00, 'U', ' ', 0, 0};
  memcpy(head + 132, bogus, 8);
  head[132 + 4] = 16; /* implicit length: exactly the 16 bytes that follow */
  head[132 + 5] = 0;
  assert_int_equal(read_bytes(head, sizeof head, 0, &file, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "no data set"));
  /* A meta and nothing after it. */
  assert_int_equal(read_bytes(data, 298, 0, &file, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "no data set"));
  free(data);
}

/* ---- item 15: the UID validator ---- */

static void test_uid_validator(void **state) {
  (void)state;
  static const struct {
    const char *uid;
    size_t len; /* 0: strlen */
    int valid;
  } cases[] = {
      {"1.2.840.10008.1.2", 0, 1},
      {"0", 0, 1},
      {"1.0.2", 0, 1},
      {"2.25.329800735698586629295641978511506172918", 0, 1},
      {"1.2.3\0", 6, 1}, /* NUL padding */
      {"1.2.3 ", 0, 1},  /* space padding, tolerated */
      {"", 0, 0},
      {"\0\0", 2, 0},
      {"1.2.03", 0, 0},
      {"01.2", 0, 0},
      {"1..2", 0, 0},
      {".1.2", 0, 0},
      {"1.2.", 0, 0},
      {"1.2.a", 0, 0},
      {" 1.2", 0, 0},
      {"1.2\0.3", 6, 0}, /* a NUL inside is no padding */
      {"../../../../tmp/pwn", 0, 0},
      {"\xff\xfe", 0, 0},
      {"1.12345678901234567890123456789012345678901234567890123456789012", 0, 1},  /* 64 */
      {"1.123456789012345678901234567890123456789012345678901234567890123", 0, 0}, /* 65 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len = cases[i].len ? cases[i].len : strlen(cases[i].uid);
    if (si_uid_is_valid(cases[i].uid, len) != cases[i].valid)
      fail_msg("case %zu (\"%s\"): expected %s", i, cases[i].uid,
               cases[i].valid ? "valid" : "invalid");
  }
  assert_false(si_uid_is_valid(NULL, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cut_at_every_offset),
      cmocka_unit_test(test_trailers),
      cmocka_unit_test(test_header_only_sees_cut_pixels),
      cmocka_unit_test(test_header_only_skips_long_values),
      cmocka_unit_test(test_header_memory_bound),
      cmocka_unit_test(test_all_un),
      cmocka_unit_test(test_un_left_alone),
      cmocka_unit_test(test_nul_in_string),
      cmocka_unit_test(test_meta_swallows_file),
      cmocka_unit_test(test_uid_validator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
