/* MD5 (lib/deliver/s3_md5.c) against RFC 1321's test suite (appendix A.5),
 * fed whole and byte by byte, and a million 'a's (a well-known vector)
 * across block boundaries in uneven pieces. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "deliver/s3_md5.h"
#include "deliver/sigv4.h"

static void md5_hex(const char *s, size_t step, char out[33]) {
  si_md5 m;
  uint8_t d[16];
  si_md5_init(&m);
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i += step)
    si_md5_update(&m, s + i, n - i < step ? n - i : step);
  si_md5_final(&m, d);
  si_sigv4_hex(d, 16, out);
}

static void test_rfc1321(void **state) {
  (void)state;
  static const char *const v[][2] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"1234567890123456789012345678901234567890"
       "1234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char hex[33];
    md5_hex(v[i][0], 1 << 20, hex);
    assert_string_equal(hex, v[i][1]);
    md5_hex(v[i][0], 1, hex);
    assert_string_equal(hex, v[i][1]);
  }
}

static void test_million_a(void **state) {
  (void)state;
  char *s = malloc(1000001);
  assert_non_null(s);
  memset(s, 'a', 1000000);
  s[1000000] = '\0';
  char hex[33];
  md5_hex(s, 997, hex);
  assert_string_equal(hex, "7707d6ae4e027c70eea2a935c2296f21");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_rfc1321),
                                     cmocka_unit_test(test_million_a)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
