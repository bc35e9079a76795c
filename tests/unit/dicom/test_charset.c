/* Specific Character Set decoding. Byte strings come from the examples of
 * PS3.5 Annexes H (Japanese), I (Korean) and K (Chinese) and from the classic
 * charset test files, so the tests need no external files; the optional sample
 * test compares real files with what pydicom 2.3.1 decodes from them. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/charset.h"

/* Sizes of string literals, so that raw bytes may contain NULs. */
#define LIT(s) (s), (sizeof(s) - 1)

/* Decodes `raw` under Specific Character Set `scs` and returns the UTF-8. */
static char *decode(const char *scs, si_vr vr, const char *raw, size_t raw_len) {
  si_charset *cs = NULL;
  si_error err;
  si_error_clear(&err);
  assert_int_equal(si_charset_open(scs, scs ? strlen(scs) : 0, &cs, &err), SI_OK);
  char *out = NULL;
  size_t out_len = 12345;
  assert_int_equal(si_charset_decode(cs, vr, (const uint8_t *)raw, raw_len, &out, &out_len, &err),
                   SI_OK);
  assert_non_null(out);
  assert_int_equal(out[out_len], '\0');
  si_charset_close(cs);
  return out;
}

static void check(const char *scs, si_vr vr, const char *raw, size_t raw_len, const char *want) {
  char *out = decode(scs, vr, raw, raw_len);
  if (strcmp(out, want) != 0)
    print_error("charset \"%s\": got \"%s\", want \"%s\"\n", scs ? scs : "(null)", out, want);
  assert_string_equal(out, want);
  free(out);
}

#define CHECK(scs, vr, raw, want) check((scs), (vr), LIT(raw), (want))

static void test_ascii(void **state) {
  (void)state;
  CHECK("", SI_VR_PN, "Smith^John", "Smith^John");
  CHECK(NULL, SI_VR_LO, "CT HEAD\\W CONTRAST", "CT HEAD\\W CONTRAST");
  CHECK("ISO_IR 6", SI_VR_LT, "line 1\r\nline 2\t", "line 1\r\nline 2\t");
}

/* The default repertoire is 7-bit, but Latin-1 is what such bytes usually are. */
static void test_default_is_lenient(void **state) {
  (void)state;
  CHECK("", SI_VR_PN, "Buc^J\xe9r\xf4me", "Buc^Jérôme");
  CHECK("ISO 2022 IR 6", SI_VR_LO, "\xa9 \xff", "© ÿ");
}

static void test_null_charset_object(void **state) {
  (void)state;
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(si_charset_decode(NULL, SI_VR_PN, (const uint8_t *)"J\xe9r", 3, &out, &n, NULL),
                   SI_OK);
  assert_string_equal(out, "Jér");
  assert_int_equal(n, 4);
  free(out);
  /* Escape sequences still work without an object to cache converters in. */
  assert_int_equal(
      si_charset_decode(NULL, SI_VR_PN, (const uint8_t *)"\x1b$B;3ED\x1b(B", 10, &out, &n, NULL),
      SI_OK);
  assert_string_equal(out, "山田");
  free(out);
}

static void test_latin(void **state) {
  (void)state;
  CHECK("ISO_IR 100", SI_VR_PN, "Buc^J\xe9r\xf4me", "Buc^Jérôme");
  CHECK("ISO_IR 100", SI_VR_PN,
        "\xc4neas^R\xfc"
        "diger ",
        "Äneas^Rüdiger ");
  CHECK("ISO_IR 101", SI_VR_PN, "Dvo\xf8\xe1k", "Dvořák");
  CHECK("ISO_IR 109", SI_VR_LO, "\xa1\xd8", "ĦĜ");
  CHECK("ISO_IR 110", SI_VR_LO, "\xc0\xaa", "ĀĒ");
  CHECK("ISO_IR 148", SI_VR_LO, "\xe7\xf0\xfd\xfe", "çğış");
  CHECK("ISO_IR 203", SI_VR_LO, "\xa4 5", "€ 5");
  CHECK("ISO 2022 IR 100", SI_VR_PN, "Buc^J\xe9r\xf4me", "Buc^Jérôme");
}

static void test_cyrillic(void **state) {
  (void)state;
  CHECK("ISO_IR 144", SI_VR_PN,
        "\xbb\xee\xda"
        "ce\xdc\xd1yp\xd3",
        "Люкceмбypг");
}

static void test_greek(void **state) {
  (void)state;
  CHECK("ISO_IR 126", SI_VR_PN, "\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2", "Διονυσιος");
}

static void test_hebrew(void **state) {
  (void)state;
  CHECK("ISO_IR 138", SI_VR_PN, "\xf9\xf8\xe5\xef^\xe3\xe1\xe5\xf8\xe4", "שרון^דבורה");
}

static void test_arabic(void **state) {
  (void)state;
  CHECK("ISO_IR 127", SI_VR_PN, "\xe2\xc8\xc7\xe6\xea^\xe4\xe6\xd2\xc7\xd1", "قباني^لنزار");
}

static void test_thai(void **state) {
  (void)state;
  CHECK("ISO_IR 166", SI_VR_LO, "\xe4\xb7\xc2", "ไทย");
}

/* PS3.5 Annex I, KS X 1001 designated to G1. */
static const char korean_raw[] = "Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7="
                                 "\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf";

static void test_korean(void **state) {
  (void)state;
  check("\\ISO 2022 IR 149", SI_VR_PN, LIT(korean_raw), "Hong^Gildong=洪^吉洞=홍^길동");
  check("ISO 2022 IR 6\\ISO 2022 IR 149", SI_VR_PN, LIT(korean_raw),
        "Hong^Gildong=洪^吉洞=홍^길동");
  CHECK("\\ISO 2022 IR 149", SI_VR_LT, "\x1b$)C\xb1\xe8\xc8\xf1\xc1\xdf\x1b(B ", "김희중 ");
}

/* EUC-KR written without the escape sequence still reads as Korean. */
static void test_korean_without_escape(void **state) {
  (void)state;
  CHECK("\\ISO 2022 IR 149", SI_VR_PN, "\xb1\xe8\xc8\xf1\xc1\xdf", "김희중");
  CHECK("ISO 2022 IR 149", SI_VR_PN, "\xb1\xe8\xc8\xf1\xc1\xdf", "김희중");
}

/* PS3.5 H.3.1: JIS X 0208 in G0, ASCII romanisation. */
static const char japanese_h31[] = "Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B="
                                   "\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B";

/* PS3.5 H.3.2: JIS X 0201 katakana in G1, romaji in G0. */
static const char japanese_h32[] =
    "\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J="
    "\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J";

static void test_japanese(void **state) {
  (void)state;
  const char *want = "Yamada^Tarou=山田^太郎=やまだ^たろう";
  check("\\ISO 2022 IR 87", SI_VR_PN, LIT(japanese_h31), want);
  check("ISO 2022 IR 6\\ISO 2022 IR 87", SI_VR_PN, LIT(japanese_h31), want);
  check("ISO 2022 IR 87", SI_VR_PN, LIT(japanese_h31), want);
  check("ISO 2022 IR 13\\ISO 2022 IR 87", SI_VR_PN, LIT(japanese_h32),
        "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう");
}

static void test_japanese_single_byte(void **state) {
  (void)state;
  CHECK("ISO_IR 13", SI_VR_PN, "\xd4\xcf\xc0\xde^\xc0\xdb\xb3", "ﾔﾏﾀﾞ^ﾀﾛｳ");
  CHECK("ISO_IR 13", SI_VR_LO, "\xa1\xdf", "｡ﾟ");
  /* Shift_JIS mislabelled as ISO_IR 13, as some modalities write it. */
  CHECK("ISO_IR 13", SI_VR_LO, "\xb1\x93\xfa\x96{", "ｱ日本");
}

static void test_jis_x_0212(void **state) {
  (void)state;
  CHECK("\\ISO 2022 IR 159", SI_VR_LO, "a\x1b$(D0!\x1b(Bb", "a丂b");
  CHECK("\\ISO 2022 IR 87\\ISO 2022 IR 159", SI_VR_LO, "\x1b$B;3\x1b$(D+&\x1b(B", "山ǎ");
}

static void test_chinese_gb18030(void **state) {
  (void)state;
  CHECK("GB18030", SI_VR_PN, "Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab=", "Wang^XiaoDong=王^小东=");
  /* Four-byte sequences reach beyond the BMP. */
  CHECK("GB18030", SI_VR_LO, "\x90\x30\x81\x30", "\xf0\x90\x80\x80");
  /* A trail byte of 0x5C is not a delimiter in a stream encoding. */
  CHECK("GBK", SI_VR_LO, "\xe9\x46 \x81\x5c", "镕 乗");
}

/* PS3.5 Annex K: GB 2312 designated to G1. */
static void test_chinese_iso2022_ir58(void **state) {
  (void)state;
  CHECK("ISO 2022 IR 6\\ISO 2022 IR 58", SI_VR_PN,
        "Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab= ", "Zhang^XiaoDong=张^小东= ");
}

static void test_utf8(void **state) {
  (void)state;
  CHECK("ISO_IR 192", SI_VR_PN,
        "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=", "Wang^XiaoDong=王^小東=");
  CHECK("ISO_IR 192", SI_VR_LO, "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
  /* One U+FFFD per maximal ill-formed subsequence, like Python and browsers. */
  CHECK("ISO_IR 192", SI_VR_LO,
        "a\xff"
        "b\xe2\x82",
        "a\xef\xbf\xbd"
        "b\xef\xbf\xbd");
  CHECK("ISO_IR 192", SI_VR_LO, "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");
  CHECK("ISO_IR 192", SI_VR_LO, "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  CHECK("ISO_IR 192", SI_VR_LO, "\xf4\x90\x80\x80",
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
        "\xef\xbf\xbd");
}

#define FFFD "\xef\xbf\xbd"

static void test_invalid_bytes(void **state) {
  (void)state;
  CHECK("ISO_IR 138", SI_VR_LO, "\xa1", FFFD);          /* unassigned in ISO-8859-8 */
  CHECK("ISO_IR 13", SI_VR_LO, "\xe0", FFFD);           /* lone Shift_JIS lead */
  CHECK("\\ISO 2022 IR 87", SI_VR_LO, "\x1b$B;", FFFD); /* half a kanji */
  CHECK("\\ISO 2022 IR 87", SI_VR_LO, "\x1b$B;3;\r", "山" FFFD "\r");
  CHECK("\\ISO 2022 IR 87", SI_VR_LO, "\x1b$B\x2d\x21", FFFD); /* unassigned row 13 */
  CHECK("\\ISO 2022 IR 149", SI_VR_LO,
        "\x1b$)C\xb1"
        "A",
        FFFD "A");
  CHECK("\\ISO 2022 IR 149", SI_VR_LO, "\x1b$)C\x80\xff", FFFD FFFD);
  CHECK("", SI_VR_LO, "a\x1b", "a" FFFD); /* truncated escape */
  CHECK("", SI_VR_LO, "a\x1b$", "a" FFFD "$");
  CHECK("", SI_VR_LO, "a\x1b(Zb", "a" FFFD "b"); /* unknown escape */
  CHECK("GB18030", SI_VR_LO, "a\x81", "a" FFFD);
  CHECK("GB18030", SI_VR_LO, "\x81\x30z", FFFD "0z");
  CHECK("GBK", SI_VR_LO,
        "\xff"
        "a",
        FFFD "a");
}

/* PS3.5 6.1.2.5.3: the initial sets return at controls, at backslash in
 * multi-valued VRs and at ^ = in PN, but a backslash is text in LT. */
static void test_delimiters_reset(void **state) {
  (void)state;
  const char *scs = "ISO 2022 IR 100\\ISO 2022 IR 144";
  CHECK(scs, SI_VR_LO, "\x1b-L\xbb\\\xbb", "Л\\»");
  CHECK(scs, SI_VR_LT, "\x1b-L\xbb\\\xbb", "Л\\Л");
  CHECK(scs, SI_VR_PN, "\x1b-L\xbb^\xbb=\xbb", "Л^»=»");
  CHECK(scs, SI_VR_LO, "\x1b-L\xbb^\xbb=\xbb", "Л^Л=Л");
  CHECK(scs, SI_VR_ST, "\x1b-L\xbb\r\n\xbb\t", "Л\r\n»\t");
  CHECK("\\ISO 2022 IR 87", SI_VR_LT, "\x1b$B;3\r\n;3", "山\r\n;3");
  /* Inside a two-byte set, ^ and \ are halves of characters. */
  CHECK("\\ISO 2022 IR 87", SI_VR_PN, "\x1b$B$^\x1b(B^", "ま^");
}

static void test_unknown_term(void **state) {
  (void)state;
  const char *terms[] = {"ISO_IR 999",      "ISO 2022 IR 100\\KOI8-R",
                         "ISO_IR 87",       "UTF-8",
                         "ISO 2022 IR 192", "ISO_IR 1000000000000000000000000000000000000"};
  for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
    si_charset *cs = (si_charset *)&cs;
    si_error err;
    si_error_clear(&err);
    assert_int_equal(si_charset_open(terms[i], strlen(terms[i]), &cs, &err), SI_ERR_UNSUPPORTED);
    assert_null(cs);
    assert_int_equal(err.code, SI_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "Specific Character Set"));
  }
  si_charset *cs = NULL;
  si_error err;
  assert_int_equal(si_charset_open(LIT("ISO_IR 100\\KOI8-R  "), &cs, &err), SI_ERR_UNSUPPORTED);
  assert_non_null(strstr(err.message, "\"KOI8-R\""));
}

/* Writers disagree on spacing, case and padding; the meaning is still clear. */
static void test_term_spelling(void **state) {
  (void)state;
  const char *latin1[] = {"ISO_IR 100 ", "ISO-IR 100", "ISO_IR100", "iso_ir 100", " ISO_IR 100\0"};
  for (size_t i = 0; i < sizeof latin1 / sizeof latin1[0]; i++)
    CHECK(latin1[i], SI_VR_PN, "J\xe9r", "Jér");
  CHECK("ISO 2022 IR 13 \\ISO 2022 IR 87 ", SI_VR_PN, "\xd4\x1b$B;3\x1b(J", "ﾔ山");
  CHECK("ISO_IR 192\0", SI_VR_LO, "\xc3\xa9", "é");
}

static int utf8_compatible(const char *scs) {
  si_charset *cs = NULL;
  assert_int_equal(si_charset_open(scs, scs ? strlen(scs) : 0, &cs, NULL), SI_OK);
  int r = si_charset_is_utf8_compatible(cs);
  si_charset_close(cs);
  return r;
}

static void test_utf8_compatible(void **state) {
  (void)state;
  assert_true(si_charset_is_utf8_compatible(NULL));
  assert_true(utf8_compatible(NULL));
  assert_true(utf8_compatible(""));
  assert_true(utf8_compatible("ISO_IR 192"));
  assert_true(utf8_compatible("ISO 2022 IR 6"));
  assert_false(utf8_compatible("ISO_IR 100"));
  assert_false(utf8_compatible("\\ISO 2022 IR 87"));
  assert_false(utf8_compatible("GB18030"));
}

static void test_null_and_empty(void **state) {
  (void)state;
  si_charset *cs = NULL;
  si_error err;
  assert_int_equal(si_charset_open(NULL, 5, &cs, &err), SI_OK);
  si_charset_close(cs);
  assert_int_equal(si_charset_open("    ", 4, &cs, &err), SI_OK);
  assert_true(si_charset_is_utf8_compatible(cs));
  si_charset_close(cs);
  si_charset_close(NULL);
  assert_int_equal(si_charset_open("", 0, NULL, &err), SI_ERR_ARG);

  assert_int_equal(si_charset_open("ISO_IR 100", 10, &cs, &err), SI_OK);
  char *out = (char *)&out;
  size_t n = 99;
  assert_int_equal(si_charset_decode(cs, SI_VR_PN, NULL, 0, &out, &n, &err), SI_OK);
  assert_string_equal(out, "");
  assert_int_equal(n, 0);
  free(out);
  assert_int_equal(si_charset_decode(cs, SI_VR_PN, (const uint8_t *)"x", 0, &out, NULL, &err),
                   SI_OK);
  assert_string_equal(out, "");
  free(out);
  assert_int_equal(si_charset_decode(cs, SI_VR_PN, NULL, 3, &out, &n, &err), SI_ERR_ARG);
  assert_null(out);
  assert_int_equal(si_charset_decode(cs, SI_VR_PN, (const uint8_t *)"x", 1, NULL, &n, &err),
                   SI_ERR_ARG);
  si_charset_close(cs);
}

/* Embedded NULs and the lengths they imply must survive decoding. */
static void test_embedded_nul(void **state) {
  (void)state;
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(si_charset_decode(NULL, SI_VR_LO, (const uint8_t *)"a\0\xe9", 3, &out, &n, NULL),
                   SI_OK);
  assert_int_equal(n, 4);
  assert_memory_equal(out, "a\0\xc3\xa9", 5);
  free(out);
}

/* Independent of the decoder's own validator on purpose. */
static int is_valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k = c < 0x80             ? 0
               : (c & 0xE0) == 0xC0 ? 1
               : (c & 0xF0) == 0xE0 ? 2
               : (c & 0xF8) == 0xF0 ? 3
                                    : 9;
    if (k == 9 || k >= n - i)
      return 0;
    uint32_t cp = k == 0 ? c : c & (0x3Fu >> k);
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += k + 1;
  }
  return 1;
}

/* Deterministic noise biased towards escape and delimiter bytes: must never
 * crash or over-read (ASan), and always yields valid UTF-8. */
static void test_random_bytes(void **state) {
  (void)state;
  static const char *const charsets[] = {
      "",
      "ISO_IR 100",
      "ISO_IR 127",
      "ISO_IR 13",
      "ISO_IR 166",
      "ISO_IR 192",
      "GB18030",
      "GBK",
      "\\ISO 2022 IR 87\\ISO 2022 IR 159",
      "ISO 2022 IR 13\\ISO 2022 IR 87",
      "\\ISO 2022 IR 149",
      "ISO 2022 IR 6\\ISO 2022 IR 58",
  };
  static const unsigned char alphabet[] = {0x1b, '$', '(', ')', '-',  'B',  'C', 'A', 'D', 'J',
                                           'I',  '@', '^', '=', '\\', '\r', ';', '3', ' ', 0};
  uint32_t x = 2463534242u;
  unsigned char buf[96];
  for (size_t c = 0; c < sizeof charsets / sizeof charsets[0]; c++) {
    si_charset *cs = NULL;
    assert_int_equal(si_charset_open(charsets[c], strlen(charsets[c]), &cs, NULL), SI_OK);
    for (int iter = 0; iter < 3000; iter++) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      size_t len = x % sizeof buf;
      for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        buf[i] = (x & 0x300) ? (unsigned char)x : alphabet[(x >> 16) % sizeof alphabet];
      }
      /* A heap copy of exactly len bytes, so ASan catches any over-read. */
      unsigned char *in = malloc(len ? len : 1);
      assert_non_null(in);
      memcpy(in, buf, len);
      char *out = NULL;
      size_t n = 0;
      si_vr vr = (iter & 1) ? SI_VR_PN : SI_VR_LT;
      assert_int_equal(si_charset_decode(cs, vr, in, len, &out, &n, NULL), SI_OK);
      assert_true(is_valid_utf8((const unsigned char *)out, n));
      assert_int_equal(out[n], '\0');
      free(out);
      free(in);
    }
    si_charset_close(cs);
  }
}

/* ---- optional: real files, compared with pydicom 2.3.1 ------------------ */

/* The first explicit VR little endian element (g,e) with a 2-byte length
 * after the preamble; good enough for these small flat files. */
static const uint8_t *find_element(const uint8_t *buf, size_t n, uint16_t g, uint16_t e,
                                   const char *vr, size_t *len) {
  const uint8_t key[6] = {(uint8_t)g,        (uint8_t)(g >> 8), (uint8_t)e,
                          (uint8_t)(e >> 8), (uint8_t)vr[0],    (uint8_t)vr[1]};
  for (size_t i = 132; i + 8 <= n; i++) {
    if (memcmp(buf + i, key, sizeof key) != 0)
      continue;
    size_t l = (size_t)buf[i + 6] | ((size_t)buf[i + 7] << 8);
    if (i + 8 + l > n)
      return NULL;
    *len = l;
    return buf + i + 8;
  }
  return NULL;
}

static void rtrim_spaces(char *s) {
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == ' ')
    s[--n] = '\0';
}

static void check_sample(const char *dir, const char *file, const char *want) {
  char path[4096];
  snprintf(path, sizeof path, "%s/pydicom/src/pydicom/data/charset_files/%s", dir, file);
  size_t size = 0;
  uint8_t *buf = tu_read_file(path, &size);
  if (!buf) {
    print_message("skipping missing sample %s\n", path);
    return;
  }
  size_t scs_len = 0, pn_len = 0;
  const uint8_t *scs = find_element(buf, size, 0x0008, 0x0005, "CS", &scs_len);
  const uint8_t *pn = find_element(buf, size, 0x0010, 0x0010, "PN", &pn_len);
  assert_non_null(scs);
  assert_non_null(pn);
  si_charset *cs = NULL;
  assert_int_equal(si_charset_open((const char *)scs, scs_len, &cs, NULL), SI_OK);
  char *out = NULL;
  assert_int_equal(si_charset_decode(cs, SI_VR_PN, pn, pn_len, &out, NULL, NULL), SI_OK);
  rtrim_spaces(out);
  if (strcmp(out, want) != 0)
    print_error("%s: got \"%s\", pydicom \"%s\"\n", file, out, want);
  assert_string_equal(out, want);
  free(out);
  si_charset_close(cs);
  free(buf);
}

static void test_samples_match_pydicom(void **state) {
  (void)state;
  const char *dir = tu_samples_dir();
  if (!dir) {
    skip();
    return;
  }
  static const char *const cases[][2] = {
      {"chrArab.dcm", "قباني^لنزار"},
      {"chrFren.dcm", "Buc^Jérôme"},
      {"chrFrenMulti.dcm", "Buc^Jérôme"},
      {"chrGerm.dcm", "Äneas^Rüdiger"},
      {"chrGreek.dcm", "Διονυσιος"},
      {"chrH31.dcm", "Yamada^Tarou=山田^太郎=やまだ^たろう"},
      {"chrH32.dcm", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"},
      {"chrHbrw.dcm", "שרון^דבורה"},
      {"chrI2.dcm", "Hong^Gildong=洪^吉洞=홍^길동"},
      {"chrJapMulti.dcm", "やまだ^たろう"},
      {"chrJapMultiExplicitIR6.dcm", "やまだ^たろう"},
      {"chrKoreanMulti.dcm", "김희중"},
      {"chrRuss.dcm", "Люкceмбypг"},
      {"chrX1.dcm", "Wang^XiaoDong=王^小東="},
      {"chrX2.dcm", "Wang^XiaoDong=王^小东="},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_sample(dir, cases[i][0], cases[i][1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ascii),
      cmocka_unit_test(test_default_is_lenient),
      cmocka_unit_test(test_null_charset_object),
      cmocka_unit_test(test_latin),
      cmocka_unit_test(test_cyrillic),
      cmocka_unit_test(test_greek),
      cmocka_unit_test(test_hebrew),
      cmocka_unit_test(test_arabic),
      cmocka_unit_test(test_thai),
      cmocka_unit_test(test_korean),
      cmocka_unit_test(test_korean_without_escape),
      cmocka_unit_test(test_japanese),
      cmocka_unit_test(test_japanese_single_byte),
      cmocka_unit_test(test_jis_x_0212),
      cmocka_unit_test(test_chinese_gb18030),
      cmocka_unit_test(test_chinese_iso2022_ir58),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_invalid_bytes),
      cmocka_unit_test(test_delimiters_reset),
      cmocka_unit_test(test_unknown_term),
      cmocka_unit_test(test_term_spelling),
      cmocka_unit_test(test_utf8_compatible),
      cmocka_unit_test(test_null_and_empty),
      cmocka_unit_test(test_embedded_nul),
      cmocka_unit_test(test_random_bytes),
      cmocka_unit_test(test_samples_match_pydicom),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
