/* Date shifting (deid_shift_date): calendar arithmetic across month ends,
 * leap days and years, DT keeping its time, fraction, offset and precision,
 * multiple values, and refusals. */
#include "testutil.h"

#include <string.h>

#include "deid/deid_internal.h"

static void shift(si_vr vr, const char *in, int32_t days, const char *want) {
  char out[128];
  si_error err;
  if (deid_shift_date(vr, in, strlen(in), days, out, sizeof out, &err) != SI_OK)
    fail_msg("%s: %s", in, err.message);
  assert_string_equal(out, want);
}

static void refused(si_vr vr, const char *in) {
  char out[128];
  si_error err;
  assert_int_equal(deid_shift_date(vr, in, strlen(in), -1, out, sizeof out, &err), SI_ERR_VALUE);
}

static void test_da(void **state) {
  (void)state;
  shift(SI_VR_DA, "20240301", -1, "20240229"); /* leap year */
  shift(SI_VR_DA, "20230301", -1, "20230228");
  shift(SI_VR_DA, "19000301", -1, "19000228"); /* 1900 is not leap */
  shift(SI_VR_DA, "20000301", -1, "20000229"); /* 2000 is */
  shift(SI_VR_DA, "20250105", -10, "20241226");
  shift(SI_VR_DA, "20241231", 1, "20250101");
  shift(SI_VR_DA, "20240115", -365, "20230115");
  shift(SI_VR_DA, "20240115", 0, "20240115");
  shift(SI_VR_DA, "1999.12.31", 1, "20000101");
  shift(SI_VR_DA, "20240101\\20240201 ", -1, "20231231\\20240131");
  shift(SI_VR_DA, "", -1, "");
  refused(SI_VR_DA, "2024013");
  refused(SI_VR_DA, "20240230");
  refused(SI_VR_DA, "20241301");
  refused(SI_VR_DA, "2024O101");
}

static void test_dt(void **state) {
  (void)state;
  shift(SI_VR_DT, "20240301123456.789+0100", -1, "20240229123456.789+0100");
  shift(SI_VR_DT, "20240301", -1, "20240229");
  shift(SI_VR_DT, "2024030112", -1, "2024022912");
  shift(SI_VR_DT, "20240301-0500", -1, "20240229-0500");
  shift(SI_VR_DT, "202403", -20, "202402"); /* from the 15th */
  shift(SI_VR_DT, "2024", -100, "2024");    /* from 1 July */
  shift(SI_VR_DT, "2024", -200, "2023");
  refused(SI_VR_DT, "20241");
  refused(SI_VR_DT, "noon");
  char out[8];
  si_error err;
  assert_int_equal(deid_shift_date(SI_VR_DT, "20240301120000", 14, 1, out, sizeof out, &err),
                   SI_ERR_LIMIT);
  assert_int_equal(deid_shift_date(SI_VR_TM, "120000", 6, 1, out, sizeof out, &err), SI_ERR_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_da),
      cmocka_unit_test(test_dt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
