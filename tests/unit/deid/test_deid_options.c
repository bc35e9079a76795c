/* The engine's small parts: profile option parsing (names, order,
 * conflicts), options defaults, the decided set and recorded values. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "deid/deid_internal.h"

static void test_profile_parse(void **state) {
  (void)state;
  unsigned bits;
  si_error err;
  assert_int_equal(si_deid_profile_parse("basic", &bits, &err), SI_OK);
  assert_int_equal(bits, SI_DEID_PROFILE_BASIC);
  assert_int_equal(si_deid_profile_parse("basic,retain-uids, clean-graphics", &bits, &err), SI_OK);
  assert_int_equal(bits, SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_UIDS | SI_DEID_CLEAN_GRAPHICS);
  assert_int_equal(si_deid_profile_parse("none", &bits, &err), SI_OK);
  assert_int_equal(bits, 0);
  assert_int_equal(si_deid_profile_parse("basic,retain-everything", &bits, &err), SI_ERR_ARG);
  assert_non_null(strstr(err.message, "retain-everything"));
  assert_int_equal(si_deid_profile_parse("retain-uids", &bits, &err), SI_ERR_ARG);
  assert_int_equal(si_deid_profile_parse("basic,basic", &bits, &err), SI_ERR_ARG);
  assert_int_equal(
      si_deid_profile_parse("basic,retain-long-full-dates,retain-long-modified-dates", &bits, &err),
      SI_ERR_ARG);
  si_deid_options o;
  si_deid_options_init(&o);
  assert_int_equal(o.profile, SI_DEID_PROFILE_BASIC);
  assert_null(o.rules);
}

static void test_decided_and_values(void **state) {
  (void)state;
  si_deid_report report = {0};
  si_deid_run run = {.report = &report};
  si_error err;
  si_dataset *a = (si_dataset *)&run, *b = (si_dataset *)&report; /* identities only */
  for (uint32_t t = 0; t < 1000; t++)
    assert_int_equal(deid_decided_mark(&run, t % 2 ? a : b, t, &err), SI_OK);
  assert_int_equal(deid_decided_mark(&run, a, 1, &err), SI_OK);
  for (uint32_t t = 0; t < 1000; t++) {
    assert_true(deid_decided_has(&run, t % 2 ? a : b, t));
    assert_false(deid_decided_has(&run, t % 2 ? b : a, t));
  }
  deid_decided_free(&run);
  assert_false(deid_decided_has(&run, a, 1));
  assert_int_equal(deid_record_value(&run, 0x00100010, "  Doe^John  ", 12, &err), SI_OK);
  assert_int_equal(deid_record_value(&run, 0x00100020, "   ", 3, &err), SI_OK);
  for (int i = 0; i < 40; i++) {
    char v[16];
    snprintf(v, sizeof v, "v%d", i);
    assert_int_equal(deid_record_value(&run, 0x00100020, v, strlen(v), &err), SI_OK);
  }
  assert_int_equal(report.value_count, 41);
  assert_string_equal(report.values[0].text, "Doe^John");
  assert_string_equal(report.values[40].text, "v39");
  si_deid_report_free(&report);
  assert_int_equal(report.value_count, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_profile_parse),
      cmocka_unit_test(test_decided_and_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
