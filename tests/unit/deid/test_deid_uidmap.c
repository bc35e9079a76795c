/* The keyed UID remapping and the key file (sendit/deid.h): the result is a
 * valid UID under 2.25., deterministic for one key, different for another
 * key or UID, padding-insensitive; the key file is created 0600 and refused
 * when readable by others or of the wrong size. */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/deid.h"

static const uint8_t key_a[SI_DEID_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const uint8_t key_b[SI_DEID_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12};

static void test_remap(void **state) {
  (void)state;
  char a[65], b[65], c[65], d[65];
  const char *uid = "1.2.840.113619.2.55.3.604688119.971.1234567890.123";
  si_deid_uid_remap(key_a, uid, strlen(uid), a);
  assert_int_equal(strncmp(a, "2.25.", 5), 0);
  assert_true(si_uid_is_valid(a, strlen(a)));
  assert_true(strlen(a) <= 44);
  si_deid_uid_remap(key_a, uid, strlen(uid), b);
  assert_string_equal(a, b);
  char padded[80];
  snprintf(padded, sizeof padded, "%s%c", uid, 0);
  si_deid_uid_remap(key_a, padded, strlen(uid) + 1, c);
  assert_string_equal(a, c);
  si_deid_uid_remap(key_b, uid, strlen(uid), d);
  assert_string_not_equal(a, d);
  si_deid_uid_remap(key_a, "1.2.3", 5, d);
  assert_string_not_equal(a, d);
  /* No component after 2.25. starts with 0 unless it is 0. */
  for (int i = 0; i < 2000; i++) {
    char u[32];
    snprintf(u, sizeof u, "1.2.%d", i);
    si_deid_uid_remap(key_a, u, strlen(u), d);
    assert_true(si_uid_is_valid(d, strlen(d)));
  }
}

/* A known answer, so the mapping never changes silently between versions
 * (that would split every study de-identified before and after). */
static void test_known_answer(void **state) {
  (void)state;
  uint8_t key[SI_DEID_KEY_BYTES];
  for (int i = 0; i < SI_DEID_KEY_BYTES; i++)
    key[i] = (uint8_t)i;
  char out[65];
  si_deid_uid_remap(key, "1.2.3.4", 7, out);
  /* python3: hashlib.blake2b(b"1.2.3.4", digest_size=16, key=bytes(range(32))) */
  assert_string_equal(out, "2.25.244039920095733426386303712193999267799");
}

static void test_key_file(void **state) {
  (void)state;
  char path[4096];
  snprintf(path, sizeof path, "%s/deid.key", tu_tmp_dir());
  unlink(path);
  uint8_t k1[SI_DEID_KEY_BYTES], k2[SI_DEID_KEY_BYTES];
  si_error err;
  assert_int_equal(si_deid_key_load(path, k1, &err), SI_OK);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_size, SI_DEID_KEY_BYTES);
  assert_int_equal(si_deid_key_load(path, k2, &err), SI_OK);
  assert_memory_equal(k1, k2, SI_DEID_KEY_BYTES);
  chmod(path, 0640);
  assert_int_equal(si_deid_key_load(path, k2, &err), SI_ERR_STATE);
  assert_non_null(strstr(err.message, "group or others"));
  chmod(path, 0600);
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "x", 1), 1);
  close(fd);
  assert_int_equal(si_deid_key_load(path, k2, &err), SI_ERR_STATE);
  assert_non_null(strstr(err.message, "33 bytes"));
  unlink(path);
  assert_int_equal(si_deid_key_load("", k2, &err), SI_ERR_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_remap),
      cmocka_unit_test(test_known_answer),
      cmocka_unit_test(test_key_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
