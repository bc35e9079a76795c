/* UTF-8 validation and repair: the well-formed edges of each range of the
 * Unicode table of byte sequences, and one case per kind of bad input
 * (stray continuation, C0/C1 overlongs, longer overlongs, surrogates, above
 * U+10FFFF, a sequence cut short, F5..FF). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "sendit/utf8.h"

#define LIT(s) (s), (sizeof(s) - 1)
#define R SI_UTF8_REPLACEMENT

static void test_valid_edges(void **state) {
  (void)state;
  static const char *const good[] = {
      "",
      "plain ASCII",
      "\x7F",
      "\xC2\x80",
      "\xDF\xBF",
      "\xE0\xA0\x80",
      "\xEC\xBF\xBF",
      "\xED\x9F\xBF",
      "\xEE\x80\x80",
      "\xEF\xBF\xBF",
      "\xF0\x90\x80\x80",
      "\xF3\xBF\xBF\xBF",
      "\xF4\x8F\xBF\xBF",
      "caf\xC3\xA9 \xE6\x97\xA5",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    if (!si_utf8_valid(good[i], strlen(good[i])))
      print_error("case %zu should be valid\n", i);
    assert_true(si_utf8_valid(good[i], strlen(good[i])));
  }
}

typedef struct bad_case {
  const char *in;
  const char *want;
} bad_case;

static void test_repair(void **state) {
  (void)state;
  static const bad_case bad[] = {
      {"\x80", R},                     /* stray continuation byte */
      {"a\xBFz", "a" R "z"},           /* inside text */
      {"\xC0\xAF", R R},               /* overlong '/' */
      {"\xC1\xBF", R R},               /* overlong */
      {"\xE0\x80\xAF", R R R},         /* three-byte overlong */
      {"\xF0\x80\x80\xAF", R R R R},   /* four-byte overlong */
      {"\xED\xA0\x80", R R R},         /* surrogate U+D800 */
      {"\xED\xBF\xBF", R R R},         /* surrogate U+DFFF */
      {"\xF4\x90\x80\x80", R R R R},   /* U+110000 */
      {"\xF5\x80\x80\x80", R R R R},   /* F5 never begins one */
      {"\xFF\xFE", R R},               /* never in UTF-8 */
      {"\xE6\x97", R R},               /* cut short at the end */
      {"\xE6\x97x", R R "x"},          /* cut short before ASCII */
      {"\xC3\xA9\xC3", "\xC3\xA9" R},  /* good, then cut short */
      {"../\xFF../x", "../" R "../x"}, /* as in a hostile uid */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t n = strlen(bad[i].in);
    assert_false(si_utf8_valid(bad[i].in, n));
    size_t len = 0;
    char *out = si_utf8_repair(bad[i].in, n, &len);
    assert_non_null(out);
    if (strcmp(out, bad[i].want) != 0)
      print_error("case %zu: got \"%s\", want \"%s\"\n", i, out, bad[i].want);
    assert_string_equal(out, bad[i].want);
    assert_int_equal(len, strlen(bad[i].want));
    assert_true(si_utf8_valid(out, len));
    free(out);
  }
}

static void test_repair_keeps_valid_text(void **state) {
  (void)state;
  const char text[] = "Stra\xC3\x9F"
                      "e \xF0\x9F\x98\x80";
  char *out = si_utf8_repair(LIT(text), NULL);
  assert_non_null(out);
  assert_string_equal(out, text);
  free(out);
  /* Embedded NULs are text too: they are kept, and valid. */
  assert_true(si_utf8_valid(LIT("a\0b")));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_edges),
      cmocka_unit_test(test_repair),
      cmocka_unit_test(test_repair_keeps_valid_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
