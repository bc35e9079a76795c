/* The identifier service's JSON (lib/deid/ids_answer.c): the request sendit
 * sends, and the answers it takes or refuses, with the shapes of the
 * original's documentation (DASHER's examples: "results", the bare list the
 * som client returns, integer ids, jittered timestamps). */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "deid/ids_answer.h"

static const char *const items[] = {"1.2.840.1", "1.2.840.2", "1.2.840.3"};

static si_deid_ids_request request(void) {
  si_deid_ids_request req = {.entity_id = "12345678", .item_ids = items, .item_count = 3};
  return req;
}

typedef struct parsed {
  si_status st;
  si_error err;
  char entity[SI_DEID_CODE_MAX];
  int32_t shift;
  char codes[3][SI_DEID_CODE_MAX];
} parsed;

static parsed parse_n(const char *body, const si_deid_ids_request *req, size_t n) {
  static const size_t which[] = {0, 1, 2};
  parsed p;
  memset(&p, 0, sizeof p);
  p.st = si_ids_json_parse(body, strlen(body), req, which, n, p.entity, &p.shift, p.codes, &p.err);
  return p;
}

static parsed parse(const char *body) {
  si_deid_ids_request req = request();
  return parse_n(body, &req, 2);
}

static void refused(const char *body, const char *why) {
  parsed p = parse(body);
  if (p.st != SI_ERR_FORMAT || !strstr(p.err.message, why))
    print_error("%s\n-> %s\n", body, p.err.message);
  assert_int_equal(p.st, SI_ERR_FORMAT);
  assert_non_null(strstr(p.err.message, why));
}

static void test_request(void **state) {
  (void)state;
  static const char *const keys[] = {"PatientName"}, *const values[] = {"M\xFCller^Ann"};
  si_deid_ids_request req = request();
  req.entity_id = "ID-\xE9";
  req.entity_field_keys = keys;
  req.entity_field_values = values;
  req.entity_field_count = 1;
  static const size_t which[] = {2, 0};
  si_error err;
  char *text = si_ids_json_request(&req, which, 2, &err);
  assert_non_null(text);
  json_error_t jerr;
  json_t *root = json_loads(text, 0, &jerr);
  assert_non_null(root);
  json_t *e = json_array_get(json_object_get(root, "identifiers"), 0);
  assert_string_equal(json_string_value(json_object_get(e, "id")), "ID-\xC3\xA9");
  assert_string_equal(json_string_value(json_object_get(e, "id_source")), "PatientID");
  assert_string_equal(json_string_value(json_object_get(e, "id_timestamp")),
                      SI_IDS_REFERENCE_TIMESTAMP);
  json_t *f = json_array_get(json_object_get(e, "custom_fields"), 0);
  assert_string_equal(json_string_value(json_object_get(f, "key")), "PatientName");
  assert_string_equal(json_string_value(json_object_get(f, "value")), "M\xC3\xBCller^Ann");
  json_t *its = json_object_get(e, "items");
  assert_int_equal(json_array_size(its), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(its, 0), "id")),
                      "1.2.840.3");
  assert_string_equal(json_string_value(json_object_get(json_array_get(its, 1), "id_source")),
                      "StudyInstanceUID");
  json_decref(root);
  free(text);
}

static void test_answer_with_results(void **state) {
  (void)state;
  parsed p = parse("{\"results\":[{\"id\":\"other\",\"suid\":\"NO\",\"jitter\":-1,\"items\":[]},"
                   "{\"id\":\"12345678\",\"id_source\":\"PatientID\",\"suid\":\"103e\","
                   "\"jitter\":-21,\"custom_fields\":[{\"key\":\"studySiteID\",\"value\":78329}],"
                   "\"items\":[{\"id\":\"1.2.840.2\",\"suid\":\"b_2\"},{\"id\":\"unasked\","
                   "\"suid\":\"zz\"},{\"id\":\"1.2.840.1\",\"suid\":\"A.1\"}]}]}");
  assert_int_equal(p.st, SI_OK);
  assert_string_equal(p.entity, "103e");
  assert_int_equal(p.shift, -21);
  assert_string_equal(p.codes[0], "A.1");
  assert_string_equal(p.codes[1], "b_2");
}

/* The som client's bare list, an integer id, and the jitter worked out
 * from the timestamps (to the nearest day, time zones counted). */
static void test_answer_list_and_timestamps(void **state) {
  (void)state;
  parsed p =
      parse("[{\"id\":12345678,\"suid\":\"S1\",\"jittered_timestamp\":"
            "\"1999-12-12T09:00:00-02:00\",\"items\":[{\"id\":\"1.2.840.1\",\"suid\":\"i1\"},"
            "{\"id\":\"1.2.840.2\",\"suid\":\"i2\"}]}]");
  assert_int_equal(p.st, SI_OK);
  assert_int_equal(p.shift, -20);
  si_deid_ids_request req = request();
  req.entity_timestamp = "1961-07-27";
  p = parse_n("{\"results\":[{\"id\":\"12345678\",\"suid\":\"S1\",\"jittered_timestamp\":"
              "\"1961-08-06T00:00:00Z\",\"items\":[]}]}",
              &req, 0);
  assert_int_equal(p.st, SI_OK);
  assert_int_equal(p.shift, 10);
}

static void test_answers_refused(void **state) {
  (void)state;
  refused("{\"results\": [", "not JSON");
  refused("{\"error\":\"invalid token\"}", "neither a list nor");
  refused("[{\"id\":\"someone\",\"suid\":\"X\",\"jitter\":1,\"items\":[]}]", "no result whose");
  refused("[{\"id\":\"12345678\",\"id_source\":\"MRN\",\"suid\":\"X\",\"jitter\":1}]",
          "no result whose");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"jitter\":1,\"items\":[]},"
          "{\"id\":\"12345678\",\"suid\":\"Y\",\"jitter\":1,\"items\":[]}]",
          "two results");
  refused("[{\"id\":\"12345678\",\"jitter\":1,\"items\":[]}]", "no \"suid\"");
  refused("[{\"id\":\"12345678\",\"suid\":\"../x\",\"jitter\":1,\"items\":[]}]", "not 1 to 64");
  refused("[{\"id\":\"12345678\",\"suid\":\"a b\",\"jitter\":1,\"items\":[]}]", "not 1 to 64");
  refused("[{\"id\":\"12345678\",\"suid\":\"\",\"jitter\":1,\"items\":[]}]", "not 1 to 64");
  refused("[{\"id\":\"12345678\",\"suid\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
          "AAAAAAAAAAAA\",\"jitter\":1,\"items\":[]}]",
          "not 1 to 64");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"jitter\":36501,\"items\":[]}]", "beyond");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"jitter\":1.5,\"items\":[]}]", "whole number");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"items\":[]}]", "neither \"jitter\"");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"jittered_timestamp\":\"2000-02-30\"}]",
          "not an ISO 8601");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"jitter\":1}]", "no \"items\" list");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"jitter\":1,\"items\":[{\"id\":\"1.2.840.1\","
          "\"suid\":\"a\"}]}]",
          "no code for study 2");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"jitter\":1,\"items\":[{\"id\":\"1.2.840.1\","
          "\"suid\":\"a\"},{\"id\":\"1.2.840.1\",\"suid\":\"b\"},{\"id\":\"1.2.840.2\","
          "\"suid\":\"c\"}]}]",
          "two different codes");
  refused("[{\"id\":\"12345678\",\"suid\":\"X\",\"jitter\":1,\"items\":[7]}]", "not an object");
  refused("[{\"id\":\"12345678\",\"id\":\"12345678\",\"suid\":\"X\",\"jitter\":1,\"items\":[]}]",
          "not JSON");
}

static void test_timestamps(void **state) {
  (void)state;
  int64_t s = 0;
  assert_int_equal(si_ids_timestamp("1970-01-01", &s), 0);
  assert_int_equal(s, 0);
  assert_int_equal(si_ids_timestamp("2000-01-01T00:00:00Z", &s), 0);
  assert_int_equal(s, 946684800);
  assert_int_equal(si_ids_timestamp("2000-02-29T12:30:15.250+01:30", &s), 0);
  assert_int_equal(s, 951782400 + 45015 - 5400);
  assert_int_equal(si_ids_timestamp("1900-02-29", &s), -1);
  assert_int_equal(si_ids_timestamp("2001-13-01", &s), -1);
  assert_int_equal(si_ids_timestamp("2001-01-01T24:00:00Z", &s), -1);
  assert_int_equal(si_ids_timestamp("2001-01-01Tx", &s), -1);
  assert_int_equal(si_ids_timestamp("2001-01-01Z ", &s), -1);
  assert_int_equal(si_ids_timestamp("", &s), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request),
      cmocka_unit_test(test_answer_with_results),
      cmocka_unit_test(test_answer_list_and_timestamps),
      cmocka_unit_test(test_answers_refused),
      cmocka_unit_test(test_timestamps),
  };
  return cmocka_run_group_tests_name("ids_answer", tests, NULL, NULL);
}
