/* DICOM JSON Model conversion (lib/dicom/json.c): each test writes a small
 * Part 10 stream byte by byte, reads it with si_read_memory and compares the
 * compact JSON text exactly. Binary values are written from C arrays, so the
 * streams assume a little endian host (like every machine we build on). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"
#include "sendit/json.h"

typedef struct buf {
  uint8_t data[8192];
  size_t len;
} buf;

static void put(buf *b, const void *p, size_t n) {
  assert_true(b->len + n <= sizeof b->data);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void put16(buf *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  put(b, x, 2);
}

static void put32(buf *b, uint32_t v) {
  put16(b, (uint16_t)v);
  put16(b, (uint16_t)(v >> 16));
}

static void put_tag(buf *b, uint32_t tag) {
  put16(b, SI_TAG_GROUP(tag));
  put16(b, SI_TAG_ELEMENT(tag));
}

static int long_length(const char *vr) {
  static const char *const vrs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                    "SV", "UC", "UN", "UR", "UT", "UV"};
  for (size_t i = 0; i < sizeof vrs / sizeof vrs[0]; i++)
    if (memcmp(vr, vrs[i], 2) == 0)
      return 1;
  return 0;
}

/* Explicit VR little endian element header. */
static void header(buf *b, uint32_t tag, const char *vr, uint32_t len) {
  put_tag(b, tag);
  put(b, vr, 2);
  if (long_length(vr)) {
    put16(b, 0);
    put32(b, len);
  } else {
    put16(b, (uint16_t)len);
  }
}

static void elem(buf *b, uint32_t tag, const char *vr, const void *value, uint32_t len) {
  header(b, tag, vr, len);
  put(b, value, len);
}

/* String element padded to even length (NUL for UI, space otherwise). */
static void str(buf *b, uint32_t tag, const char *vr, const char *s) {
  uint32_t n = (uint32_t)strlen(s);
  header(b, tag, vr, n + (n & 1));
  put(b, s, n);
  if (n & 1)
    put(b, memcmp(vr, "UI", 2) == 0 ? "\0" : " ", 1);
}

static void delimiter(buf *b, uint32_t tag) {
  put_tag(b, tag);
  put32(b, 0);
}

static void seq_begin(buf *b, uint32_t tag) { header(b, tag, "SQ", SI_UNDEFINED_LENGTH); }
static void seq_end(buf *b) { delimiter(b, SI_TAG_SEQ_DELIM); }
static void item_begin(buf *b) {
  put_tag(b, SI_TAG_ITEM);
  put32(b, SI_UNDEFINED_LENGTH);
}
static void item_end(buf *b) { delimiter(b, SI_TAG_ITEM_DELIM); }

/* Preamble, DICM and a meta group naming the transfer syntax. */
static void begin_file(buf *b, const char *ts) {
  memset(b, 0, sizeof *b);
  b->len = 128;
  put(b, "DICM", 4);
  buf meta = {.len = 0};
  elem(&meta, SI_TAG(0x0002, 0x0001), "OB", "\0\1", 2);
  str(&meta, SI_TAG_TRANSFER_SYNTAX, "UI", ts);
  elem(b, SI_TAG(0x0002, 0x0000), "UL", (uint32_t[]){(uint32_t)meta.len}, 4);
  put(b, meta.data, meta.len);
}

typedef struct fixture {
  si_file *file;
  json_t *json;
  char *text;
} fixture;

static fixture fixture_for(const buf *b, const si_json_options *opts) {
  fixture f = {0};
  si_error err;
  si_status st = si_read_memory(b->data, b->len, "test", NULL, &f.file, &err);
  if (st != SI_OK) {
    char msg[1200];
    fail_msg("read failed: %s", si_error_format(&err, msg, sizeof msg));
  }
  assert_int_equal(si_file_to_json(f.file, opts, &f.json, &err), SI_OK);
  f.text = json_dumps(f.json, JSON_COMPACT);
  assert_non_null(f.text);
  return f;
}

static void fixture_free(fixture *f) {
  free(f->text);
  json_decref(f->json);
  si_file_free(f->file);
}

static void expect_json(const buf *b, const si_json_options *opts, const char *expected) {
  fixture f = fixture_for(b, opts);
  assert_string_equal(f.text, expected);
  fixture_free(&f);
}

static void test_strings(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  str(&b, SI_TAG(0x0008, 0x0008), "CS", "ORIGINAL\\PRIMARY\\\\AXIAL");
  str(&b, SI_TAG(0x0008, 0x0018), "UI", "1.2.3");
  str(&b, SI_TAG(0x0008, 0x1030), "LO", "  Head  ");
  str(&b, SI_TAG(0x0020, 0x4000), "LT", "  keeps leading spaces ");
  expect_json(&b, NULL,
              "{\"00080008\":{\"vr\":\"CS\",\"Value\":[\"ORIGINAL\",\"PRIMARY\",null,\"AXIAL\"]},"
              "\"00080018\":{\"vr\":\"UI\",\"Value\":[\"1.2.3\"]},"
              "\"00081030\":{\"vr\":\"LO\",\"Value\":[\"Head\"]},"
              "\"00204000\":{\"vr\":\"LT\",\"Value\":[\"  keeps leading spaces\"]}}");
}

static void test_charset_decoding(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  str(&b, SI_TAG(0x0008, 0x0005), "CS", "ISO_IR 100");
  str(&b, SI_TAG(0x0010, 0x0010), "PN", "M\xfcller^J\xfcrgen"); /* Latin-1 u-umlaut */
  expect_json(
      &b, NULL,
      "{\"00080005\":{\"vr\":\"CS\",\"Value\":[\"ISO_IR 100\"]},"
      "\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"M\xc3\xbcller^J\xc3\xbcrgen\"}]}}");
}

static void test_numbers(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  str(&b, SI_TAG(0x0018, 0x0050), "DS", "1.5\\2\\-0.25e1");
  elem(&b, SI_TAG(0x0018, 0x1310), "US", (uint16_t[]){512, 65535}, 4);
  str(&b, SI_TAG(0x0020, 0x0013), "IS", " 12\\-3");
  str(&b, SI_TAG(0x0020, 0x0020), "IS", "1A"); /* not a number: kept as text */
  elem(&b, SI_TAG(0x0028, 0x0106), "SS", (int16_t[]){-32768}, 2);
  elem(&b, SI_TAG(0x0028, 0x9001), "UL", (uint32_t[]){4000000000u}, 4);
  elem(&b, SI_TAG(0x0028, 0x9002), "SL", (int32_t[]){-7}, 4);
  elem(&b, SI_TAG(0x0028, 0x9003), "FL", (float[]){0.5f, NAN}, 8);
  elem(&b, SI_TAG(0x0028, 0x9004), "FD", (double[]){-2.25, INFINITY}, 16);
  elem(&b, SI_TAG(0x0028, 0x9005), "UV", (uint64_t[]){UINT64_MAX, 1}, 16);
  elem(&b, SI_TAG(0x0028, 0x9006), "SV", (int64_t[]){INT64_MIN}, 8);
  elem(&b, SI_TAG(0x0028, 0x9007), "AT", (uint16_t[]){0x0010, 0x0020, 0x7FE0, 0x0010}, 8);
  expect_json(&b, NULL,
              "{\"00180050\":{\"vr\":\"DS\",\"Value\":[1.5,2,-2.5]},"
              "\"00181310\":{\"vr\":\"US\",\"Value\":[512,65535]},"
              "\"00200013\":{\"vr\":\"IS\",\"Value\":[12,-3]},"
              "\"00200020\":{\"vr\":\"IS\",\"Value\":[\"1A\"]},"
              "\"00280106\":{\"vr\":\"SS\",\"Value\":[-32768]},"
              "\"00289001\":{\"vr\":\"UL\",\"Value\":[4000000000]},"
              "\"00289002\":{\"vr\":\"SL\",\"Value\":[-7]},"
              "\"00289003\":{\"vr\":\"FL\",\"Value\":[0.5,\"NaN\"]},"
              "\"00289004\":{\"vr\":\"FD\",\"Value\":[-2.25,\"Infinity\"]},"
              "\"00289005\":{\"vr\":\"UV\",\"Value\":[\"18446744073709551615\",1]},"
              "\"00289006\":{\"vr\":\"SV\",\"Value\":[-9223372036854775808]},"
              "\"00289007\":{\"vr\":\"AT\",\"Value\":[\"00100020\",\"7FE00010\"]}}");
}

static void test_person_names(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  str(&b, SI_TAG(0x0008, 0x0005), "CS", "ISO_IR 192");
  str(&b, SI_TAG(0x0008, 0x0090), "PN", "Doe^John\\\\=Ideo^Only");
  str(&b, SI_TAG(0x0010, 0x0010), "PN",
      "Yamada^Tarou=\xe5\xb1\xb1\xe7\x94\xb0^\xe5\xa4\xaa\xe9\x83\x8e="
      "\xe3\x82\x84\xe3\x81\xbe\xe3\x81\xa0^\xe3\x81\x9f\xe3\x82\x8d\xe3\x81\x86");
  expect_json(&b, NULL,
              "{\"00080005\":{\"vr\":\"CS\",\"Value\":[\"ISO_IR 192\"]},"
              "\"00080090\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"Doe^John\"},null,"
              "{\"Ideographic\":\"Ideo^Only\"}]},"
              "\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"Yamada^Tarou\","
              "\"Ideographic\":\"\xe5\xb1\xb1\xe7\x94\xb0^\xe5\xa4\xaa\xe9\x83\x8e\","
              "\"Phonetic\":\"\xe3\x82\x84\xe3\x81\xbe\xe3\x81\xa0^\xe3\x81\x9f\xe3\x82\x8d\xe3"
              "\x81\x86\"}]}}");
}

static void test_sequences(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  seq_begin(&b, SI_TAG(0x0008, 0x1140));
  item_begin(&b);
  str(&b, SI_TAG(0x0008, 0x1150), "UI", "1.2.840.10008.5.1.4.1.1.2");
  seq_begin(&b, SI_TAG(0x0040, 0xA730));
  item_begin(&b);
  str(&b, SI_TAG(0x0040, 0xA040), "CS", "TEXT");
  item_end(&b);
  seq_end(&b);
  item_end(&b);
  item_begin(&b); /* an empty item */
  item_end(&b);
  seq_end(&b);
  header(&b, SI_TAG(0x0008, 0x1199), "SQ", 0); /* a sequence without items */
  expect_json(&b, NULL,
              "{\"00081140\":{\"vr\":\"SQ\",\"Value\":["
              "{\"00081150\":{\"vr\":\"UI\",\"Value\":[\"1.2.840.10008.5.1.4.1.1.2\"]},"
              "\"0040A730\":{\"vr\":\"SQ\",\"Value\":[{\"0040A040\":{\"vr\":\"CS\","
              "\"Value\":[\"TEXT\"]}}]}},{}]},"
              "\"00081199\":{\"vr\":\"SQ\"}}");
}

static void test_binary(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  elem(&b, SI_TAG(0x0009, 0x0010), "LO", "ACME", 4);
  elem(&b, SI_TAG(0x0009, 0x1001), "UN", "\x01\x02\x03\x04", 4);
  elem(&b, SI_TAG(0x0028, 0x1201), "OW", "\x01\x02\x03\x04", 4);
  elem(&b, SI_TAG(0x0042, 0x0011), "OB", "\xff\x00", 2);
  elem(&b, SI_TAG(0x7FE0, 0x0008), "OF", (float[]){1.0f}, 4);
  expect_json(&b, NULL,
              "{\"00090010\":{\"vr\":\"LO\",\"Value\":[\"ACME\"]},"
              "\"00091001\":{\"vr\":\"UN\",\"InlineBinary\":\"AQIDBA==\"},"
              "\"00281201\":{\"vr\":\"OW\",\"InlineBinary\":\"AQIDBA==\"},"
              "\"00420011\":{\"vr\":\"OB\",\"InlineBinary\":\"/wA=\"},"
              "\"7FE00008\":{\"vr\":\"OF\",\"InlineBinary\":\"AACAPw==\"}}");
}

static void test_big_endian_binary_is_little_endian(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_BE);
  /* (0028,1201) OW, length 4, words 0x0102 and 0x0304 in big endian. */
  put(&b, "\x00\x28\x12\x01OW\x00\x00\x00\x00\x00\x04\x01\x02\x03\x04", 16);
  expect_json(&b, NULL, "{\"00281201\":{\"vr\":\"OW\",\"InlineBinary\":\"AgEEAw==\"}}");
}

static void test_empty_values(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  elem(&b, SI_TAG(0x0008, 0x0000), "UL", (uint32_t[]){1234}, 4); /* group length: left out */
  header(&b, SI_TAG(0x0008, 0x0050), "SH", 0);
  header(&b, SI_TAG(0x0008, 0x0090), "PN", 0);
  str(&b, SI_TAG(0x0010, 0x0020), "LO", "  "); /* only padding */
  header(&b, SI_TAG(0x0018, 0x0050), "DS", 0);
  header(&b, SI_TAG(0x0028, 0x0010), "US", 0);
  header(&b, SI_TAG(0x0042, 0x0011), "OB", 0);
  expect_json(&b, NULL,
              "{\"00080050\":{\"vr\":\"SH\"},\"00080090\":{\"vr\":\"PN\"},"
              "\"00100020\":{\"vr\":\"LO\"},\"00180050\":{\"vr\":\"DS\"},"
              "\"00280010\":{\"vr\":\"US\"},\"00420011\":{\"vr\":\"OB\"}}");
}

static void test_order_and_repeats(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  str(&b, SI_TAG(0x0010, 0x0020), "LO", "ID1");
  str(&b, SI_TAG(0x0010, 0x0010), "PN", "First");
  str(&b, SI_TAG(0x0010, 0x0010), "PN", "Second");
  expect_json(&b, NULL,
              "{\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"First\"}]},"
              "\"00100020\":{\"vr\":\"LO\",\"Value\":[\"ID1\"]}}");
}

static void encapsulated_file(buf *b) {
  begin_file(b, "1.2.840.10008.1.2.4.50");
  elem(b, SI_TAG(0x0028, 0x0010), "US", (uint16_t[]){8}, 2);
  header(b, SI_TAG_PIXEL_DATA, "OB", SI_UNDEFINED_LENGTH);
  delimiter(b, SI_TAG_ITEM); /* empty basic offset table */
  put_tag(b, SI_TAG_ITEM);
  put32(b, 4);
  put(b, "\xff\xd8\xff\xd9", 4);
  seq_end(b);
}

static void test_encapsulated_inline(void **state) {
  (void)state;
  buf b;
  encapsulated_file(&b);
  /* base64 of fe ff 00 e0 00 00 00 00 fe ff 00 e0 04 00 00 00 ff d8 ff d9 */
  expect_json(&b, NULL,
              "{\"00280010\":{\"vr\":\"US\",\"Value\":[8]},"
              "\"7FE00010\":{\"vr\":\"OB\",\"InlineBinary\":\"/v8A4AAAAAD+/wDgBAAAAP/Y/9k=\"}}");
}

static void test_encapsulated_omitted(void **state) {
  (void)state;
  buf b;
  encapsulated_file(&b);
  si_json_options opts;
  si_json_options_init(&opts);
  opts.omit_encapsulated = 1;
  expect_json(&b, &opts,
              "{\"00280010\":{\"vr\":\"US\",\"Value\":[8]},\"7FE00010\":{\"vr\":\"OB\"}}");
}

static void test_meta_included_on_request(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  str(&b, SI_TAG(0x0008, 0x0060), "CS", "CT");
  si_json_options opts;
  si_json_options_init(&opts);
  opts.include_meta = 1;
  expect_json(&b, &opts,
              "{\"00020001\":{\"vr\":\"OB\",\"InlineBinary\":\"AAE=\"},"
              "\"00020010\":{\"vr\":\"UI\",\"Value\":[\"1.2.840.10008.1.2.1\"]},"
              "\"00080060\":{\"vr\":\"CS\",\"Value\":[\"CT\"]}}");
}

static void test_invalid_utf8_is_replaced(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  str(&b, SI_TAG(0x0010, 0x0040), "CS", "\xc4X"); /* CS must be ASCII; this is not */
  expect_json(&b, NULL, "{\"00100040\":{\"vr\":\"CS\",\"Value\":[\"\xef\xbf\xbdX\"]}}");
}

static void test_dataset_of_item(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  seq_begin(&b, SI_TAG(0x0008, 0x1140));
  item_begin(&b);
  str(&b, SI_TAG(0x0008, 0x1155), "UI", "1.2");
  item_end(&b);
  seq_end(&b);
  fixture f = fixture_for(&b, NULL);
  const si_element *sq = si_dataset_find(si_file_dataset(f.file), SI_TAG(0x0008, 0x1140));
  assert_non_null(sq);
  assert_int_equal(sq->item_count, 1);
  json_t *item;
  assert_int_equal(si_dataset_to_json(sq->items[0], NULL, &item, NULL), SI_OK);
  char *text = json_dumps(item, JSON_COMPACT);
  assert_string_equal(text, "{\"00081155\":{\"vr\":\"UI\",\"Value\":[\"1.2\"]}}");
  free(text);
  json_decref(item);
  fixture_free(&f);
}

static char *written(const json_t *json) {
  char *text = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  assert_non_null(out);
  assert_int_equal(si_json_write(out, json, JSON_COMPACT, NULL), SI_OK);
  fclose(out);
  return text;
}

static void test_write_shortest_reals(void **state) {
  (void)state;
  buf b;
  begin_file(&b, SI_TS_EXPLICIT_LE);
  str(&b, SI_TAG(0x0028, 0x0030), "DS", "0.661468\\-158.135803");
  elem(&b, SI_TAG(0x0043, 0x104E), "FL", (float[]){10.60061f}, 4);
  fixture f = fixture_for(&b, NULL);
  assert_int_equal(si_json_real_precision(f.json), 15);
  char *text = written(f.json);
  assert_string_equal(text, "{\"00280030\":{\"vr\":\"DS\",\"Value\":[0.661468,-158.135803]},"
                            "\"0043104E\":{\"vr\":\"FL\",\"Value\":[10.60061]}}");
  free(text);
  fixture_free(&f);
}

static void test_write_exact_when_needed(void **state) {
  (void)state;
  json_t *values = json_pack("[f,f]", 0.5, 0.1 + 0.2); /* 0.30000000000000004 */
  assert_int_equal(si_json_real_precision(values), 17);
  char *text = written(values);
  assert_string_equal(text, "[0.5,0.30000000000000004]");
  free(text);
  json_decref(values);
}

static void test_null_arguments(void **state) {
  (void)state;
  json_t *out = (json_t *)1;
  si_error err;
  assert_int_equal(si_dataset_to_json(NULL, NULL, &out, &err), SI_ERR_ARG);
  assert_null(out);
  assert_int_equal(si_file_to_json(NULL, NULL, &out, NULL), SI_ERR_ARG);
  assert_null(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_charset_decoding),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_person_names),
      cmocka_unit_test(test_sequences),
      cmocka_unit_test(test_binary),
      cmocka_unit_test(test_big_endian_binary_is_little_endian),
      cmocka_unit_test(test_empty_values),
      cmocka_unit_test(test_order_and_repeats),
      cmocka_unit_test(test_encapsulated_inline),
      cmocka_unit_test(test_encapsulated_omitted),
      cmocka_unit_test(test_meta_included_on_request),
      cmocka_unit_test(test_invalid_utf8_is_replaced),
      cmocka_unit_test(test_dataset_of_item),
      cmocka_unit_test(test_write_shortest_reals),
      cmocka_unit_test(test_write_exact_when_needed),
      cmocka_unit_test(test_null_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
