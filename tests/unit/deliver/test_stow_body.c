/* The STOW-RS request body (lib/deliver/stow_body.c): the exact multipart
 * bytes for any read size, the declared length, the boundary found in a
 * file (even split across reads), files that change or vanish. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/stow_body.h"

static char *path_of(const char *name) {
  static char buf[4][1024];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, 1024, "%s/%s", tu_tmp_dir(), name);
  return p;
}

/* Reads the whole body n bytes at a time; NULL on an error (err set). */
static char *read_all(si_stow_body *b, size_t n, size_t *len, si_error *err) {
  size_t cap = 1 << 20, total = 0;
  char *out = malloc(cap);
  char *chunk = malloc(n);
  for (;;) {
    size_t k = si_stow_body_read(b, chunk, n, err);
    if (k == SIZE_MAX) {
      free(out);
      free(chunk);
      return NULL;
    }
    if (k == 0)
      break;
    assert_true(k <= n);
    assert_true(total + k <= cap);
    memcpy(out + total, chunk, k);
    total += k;
  }
  free(chunk);
  *len = total;
  return out;
}

static void test_bytes_and_length(void **state) {
  (void)state;
  char big[70000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (char)(i * 7 + 3);
  const char *a = path_of("a.dcm"), *z = path_of("empty.dcm"), *c = path_of("big.dcm");
  assert_int_equal(tu_write_file(a, "DICM-a", 6), 0);
  assert_int_equal(tu_write_file(z, "", 0), 0);
  assert_int_equal(tu_write_file(c, big, sizeof big), 0);
  const char *paths[] = {a, z, c};
  const int64_t sizes[] = {6, 0, sizeof big};
  /* The expected body, built by hand. */
  const char *head = "--B0und4ry\r\nContent-Type: application/dicom\r\n\r\n";
  size_t hl = strlen(head);
  size_t want_len = 3 * (hl + 2) + 6 + sizeof big + strlen("--B0und4ry--\r\n");
  char *want = malloc(want_len), *w = want;
  memcpy(w, head, hl), w += hl, memcpy(w, "DICM-a\r\n", 8), w += 8;
  memcpy(w, head, hl), w += hl, memcpy(w, "\r\n", 2), w += 2;
  memcpy(w, head, hl), w += hl, memcpy(w, big, sizeof big), w += sizeof big;
  memcpy(w, "\r\n--B0und4ry--\r\n", 16), w += 16;
  assert_int_equal((size_t)(w - want), want_len);
  static const size_t reads[] = {1, 3, 7, 64, 4096, 1 << 19};
  for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
    si_stow_body *b = NULL;
    si_error err;
    assert_int_equal(si_stow_body_new("B0und4ry", paths, sizes, 3, &b, &err), SI_OK);
    assert_int_equal(si_stow_body_length(b), want_len);
    assert_string_equal(si_stow_body_content_type(b),
                        "multipart/related; type=\"application/dicom\"; boundary=B0und4ry");
    size_t len = 0;
    char *got = read_all(b, reads[r], &len, &err);
    assert_non_null(got);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, want_len);
    assert_int_equal(si_stow_body_part(b), 3);
    assert_int_equal(si_stow_body_read(b, got, 10, &err), 0); /* stays at the end */
    free(got);
    si_stow_body_free(b);
  }
  free(want);
}

static void test_no_parts(void **state) {
  (void)state;
  si_stow_body *b = NULL;
  si_error err;
  assert_int_equal(si_stow_body_new("x", NULL, NULL, 0, &b, &err), SI_OK);
  size_t len = 0;
  char *got = read_all(b, 5, &len, &err);
  assert_int_equal(len, 7);
  assert_memory_equal(got, "--x--\r\n", 7);
  assert_int_equal(si_stow_body_length(b), 7);
  free(got);
  si_stow_body_free(b);
}

/* The boundary inside a file is found wherever the reads cut it. */
static void test_boundary_in_file(void **state) {
  (void)state;
  const char *p = path_of("holds.dcm");
  char data[300];
  memset(data, 'a', sizeof data);
  memcpy(data + 141, "Xq7Zboundary", 12);
  assert_int_equal(tu_write_file(p, data, sizeof data), 0);
  const char *paths[] = {p};
  const int64_t sizes[] = {sizeof data};
  for (size_t n = 1; n < 40; n++) {
    si_stow_body *b = NULL;
    si_error err;
    assert_int_equal(si_stow_body_new("Xq7Zboundary", paths, sizes, 1, &b, &err), SI_OK);
    size_t len;
    assert_null(read_all(b, n, &len, &err));
    assert_int_equal(err.code, SI_ERR_STATE);
    assert_non_null(strstr(err.message, "boundary occurs"));
    assert_true(si_stow_body_collided(b));
    si_stow_body_free(b);
  }
  /* A near miss is no collision. */
  memcpy(data + 141, "Xq7Zboundar_", 12);
  assert_int_equal(tu_write_file(p, data, sizeof data), 0);
  si_stow_body *b = NULL;
  si_error err;
  assert_int_equal(si_stow_body_new("Xq7Zboundary", paths, sizes, 1, &b, &err), SI_OK);
  size_t len;
  char *got = read_all(b, 11, &len, &err);
  assert_non_null(got);
  assert_false(si_stow_body_collided(b));
  free(got);
  si_stow_body_free(b);
}

static void test_file_changed_or_gone(void **state) {
  (void)state;
  const char *p = path_of("changes.dcm");
  assert_int_equal(tu_write_file(p, "0123456789", 10), 0);
  const char *paths[] = {p};
  const int64_t sizes[] = {12}; /* it had 12 bytes when the batch was made */
  si_stow_body *b = NULL;
  si_error err;
  size_t len;
  assert_int_equal(si_stow_body_new("b", paths, sizes, 1, &b, &err), SI_OK);
  assert_null(read_all(b, 4096, &len, &err));
  assert_int_equal(err.code, SI_ERR_STATE);
  assert_string_equal(err.file, p);
  assert_false(si_stow_body_collided(b));
  si_stow_body_free(b);
  const char *gone[] = {path_of("no-such.dcm")};
  assert_int_equal(si_stow_body_new("b", gone, sizes, 1, &b, &err), SI_OK);
  assert_null(read_all(b, 4096, &len, &err));
  assert_int_equal(err.code, SI_ERR_IO);
  si_stow_body_free(b);
}

static void test_boundaries(void **state) {
  (void)state;
  si_stow_body *b = NULL;
  si_error err;
  static const char *const bad[] = {
      "", "has space", "quote\"", "semi;colon",
      "12345678901234567890123456789012345678901234567890123456789012345678901"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(si_stow_body_new(bad[i], NULL, NULL, 0, &b, &err), SI_ERR_ARG);
    assert_null(b);
  }
  char one[SI_STOW_BOUNDARY_LEN + 1], two[SI_STOW_BOUNDARY_LEN + 1];
  assert_int_equal(si_stow_boundary(one, &err), SI_OK);
  assert_int_equal(si_stow_boundary(two, &err), SI_OK);
  assert_int_equal(strlen(one), SI_STOW_BOUNDARY_LEN);
  assert_int_equal(strspn(one, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
                   SI_STOW_BOUNDARY_LEN);
  assert_string_not_equal(one, two);
  assert_int_equal(si_stow_body_new(one, NULL, NULL, 0, &b, &err), SI_OK);
  si_stow_body_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bytes_and_length), cmocka_unit_test(test_no_parts),
      cmocka_unit_test(test_boundary_in_file), cmocka_unit_test(test_file_changed_or_gone),
      cmocka_unit_test(test_boundaries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
