/* The dicomweb destination's configuration check (lib/deliver/dest_stow.c)
 * and its secret files (lib/deliver/stow_secret.c). */
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "deliver/stow_secret.h"
#include "sendit/destination.h"

static si_status check(si_dest_setting *settings, size_t n, si_error *err) {
  si_dest_config d = {.name = "web", .type = "dicomweb", .settings = settings, .setting_count = n};
  const si_dest_type *t = si_dest_type_find("dicomweb");
  assert_non_null(t);
  return t->check(&d, err);
}

static const char *secret_file(const char *name, const char *text, mode_t mode) {
  static char paths[8][1024];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 1024, "%s/%s", tu_tmp_dir(), name);
  assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
  assert_int_equal(chmod(p, mode), 0);
  return p;
}

static void test_check(void **state) {
  (void)state;
  const char *pw = secret_file("pw", "secret\n", 0600);
  si_error err;
  si_dest_setting good[] = {
      {"url", "https://pacs/dicom-web"}, {"username", "u"}, {"password_file", (char *)pw}};
  assert_int_equal(check(good, 3, &err), SI_OK);
  si_dest_setting minimal[] = {{"url", "http://127.0.0.1:8042/dicom-web/"}};
  assert_int_equal(check(minimal, 1, &err), SI_OK);
  static const struct {
    const char *key, *value, *says;
  } bad[] = {
      {"url", "ftp://pacs/x", "url: an http"},
      {"url", "http://pacs/x?user=a", "url: an http"},
      {"url", "pacs/dicom-web", "url: an http"},
      {"instances_per_request", "0", "instances_per_request: not a whole number from 1 to 10000"},
      {"instances_per_request", "10001", "instances_per_request"},
      {"instances_per_request", "5x", "instances_per_request"},
      {"max_request_mb", "", "max_request_mb"},
      {"timeout", "-1", "timeout"},
      {"verify_peer", "yes", "verify_peer: true or false"},
      {"ca_file", "/no/such/ca.pem", "ca_file: not a readable file"},
      {"token_file", "/no/such/token", "token_file: not a readable file"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    si_dest_setting s[] = {{"url", "http://pacs/dicom-web"},
                           {(char *)bad[i].key, (char *)bad[i].value}};
    size_t n = strcmp(bad[i].key, "url") == 0 ? 1 : 2;
    if (n == 1)
      s[0].value = (char *)bad[i].value;
    assert_int_equal(check(s, n, &err), SI_ERR_CONFIG);
    if (!strstr(err.message, bad[i].says) || !strstr(err.message, "destination web"))
      fail_msg("case %zu: %s", i, err.message);
  }
  si_dest_setting no_pw[] = {{"url", "http://pacs/x"}, {"username", "u"}};
  assert_int_equal(check(no_pw, 2, &err), SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "go together"));
  si_dest_setting colon[] = {
      {"url", "http://pacs/x"}, {"username", "a:b"}, {"password_file", (char *)pw}};
  assert_int_equal(check(colon, 3, &err), SI_ERR_CONFIG);
  si_dest_setting both[] = {{"url", "http://pacs/x"},
                            {"username", "u"},
                            {"password_file", (char *)pw},
                            {"token_file", (char *)pw}};
  assert_int_equal(check(both, 4, &err), SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "not both"));
  si_dest_setting none[] = {{"username", "u"}};
  assert_int_equal(check(none, 0, &err), SI_ERR_CONFIG);
}

static void test_secrets(void **state) {
  (void)state;
  assert_true(sodium_init() >= 0);
  si_error err;
  char *s = NULL;
  assert_int_equal(si_stow_secret_read("web", "password_file",
                                       secret_file("a", "pass word\r\n", 0600), 0, &s, &err),
                   SI_OK);
  assert_string_equal(s, "pass word");
  sodium_free(s);
  assert_int_equal(
      si_stow_secret_read("web", "token_file", secret_file("b", "tok-1", 0640), 1, &s, &err),
      SI_OK);
  assert_string_equal(s, "tok-1");
  sodium_free(s);
  static const struct {
    const char *text;
    int token;
    mode_t mode;
    const char *says;
  } bad[] = {
      {"secret\n", 0, 0644, "anyone may read it"},
      {"", 0, 0600, "not one line"},
      {"\n", 0, 0600, "not one line"},
      {"two\nlines\n", 0, 0600, "not one line"},
      {"tab\there", 0, 0600, "not one line"},
      {"has space", 1, 0600, "not one line of visible"},
      {"caf\xc3\xa9", 0, 0600, "not one line"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *p = secret_file("bad", bad[i].text, bad[i].mode);
    assert_int_equal(si_stow_secret_read("web", "password_file", p, bad[i].token, &s, &err),
                     SI_ERR_CONFIG);
    assert_null(s);
    if (!strstr(err.message, bad[i].says) || strcmp(err.file, p) != 0)
      fail_msg("case %zu: %s", i, err.message);
  }
  assert_int_equal(si_stow_secret_read("web", "token_file", "/no/such", 1, &s, &err),
                   SI_ERR_CONFIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_secrets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
