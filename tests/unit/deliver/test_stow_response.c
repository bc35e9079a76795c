/* The STOW-RS answer read per instance (lib/deliver/stow_response.c):
 * Orthanc's own answer, every FailureReason class, instances the answer
 * leaves out, and hostile answers (wrong types, huge numbers, missing
 * fields, deep nesting, truncated JSON, XML). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/stow_response.h"

static const char *const uids[] = {"1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4", "1.2.3.5"};

static si_status parse(const char *body, long status, si_stow_outcome *o, si_error *err) {
  return si_stow_response_parse(body, strlen(body), status, uids, 5, o, err);
}

/* An item naming uid, with extra elements ("" for none). */
static char *item(char *buf, size_t size, const char *uid, const char *extra) {
  snprintf(buf, size,
           "{\"00081150\":{\"vr\":\"UI\",\"Value\":[\"1.2.840.10008.5.1.4.1.1.2\"]},"
           "\"00081155\":{\"vr\":\"UI\",\"Value\":[\"%s\"]}%s}",
           uid, extra);
  return buf;
}

/* Orthanc 1.10 with DICOMweb 1.7, as captured on loopback. */
static void test_orthanc_answer(void **state) {
  (void)state;
  const char *body =
      "{\n\t\"00080005\" : {\"Value\" : [\"ISO_IR 100\"], \"vr\" : \"CS\"},\n"
      "\t\"00081190\" : {\"Value\" : "
      "[\"http://127.0.0.1:8042/dicom-web/studies/1.2.3\"],\"vr\":\"UR\"},\n"
      "\t\"00081198\" : {\"vr\" : \"SQ\"},\n"
      "\t\"00081199\" : {\"Value\" : [ {\"00081150\" : {\"Value\" : "
      "[\"1.2.840.10008.5.1.4.1.1.2\"],"
      "\"vr\" : \"UI\"}, \"00081155\" : {\"Value\" : [\"1.2.3.2\"], \"vr\" : \"UI\"},"
      "\"00081190\" : {\"Value\" : [\"http://x/instances/1.2.3.2\"], \"vr\" : \"UR\"}},"
      "{\"00081155\" : {\"Value\" : [\"1.2.3.1\"], \"vr\" : \"UI\"}} ], \"vr\" : \"SQ\"}\n}\n";
  si_stow_outcome o[5];
  si_error err;
  assert_int_equal(parse(body, 200, o, &err), SI_OK);
  assert_true(o[0].sent);
  assert_true(o[1].sent);
  assert_string_equal(o[0].answer, "HTTP 200: ReferencedSOP");
  for (int i = 2; i < 5; i++) {
    assert_false(o[i].sent);
    assert_true(o[i].retryable);
    assert_string_equal(o[i].answer, "not confirmed by the response (HTTP 200)");
  }
}

static void test_reasons(void **state) {
  (void)state;
  char a[400], b[400], c[400], d[400], e[400], body[3000];
  snprintf(body, sizeof body,
           "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[%s]},\"00081198\":{\"vr\":\"SQ\",\"Value\":[%s,"
           "%s,%s,%s]}}",
           item(a, sizeof a, "1.2.3.1", ",\"00081196\":{\"vr\":\"US\",\"Value\":[45056]}"),
           item(b, sizeof b, "1.2.3.2", ",\"00081197\":{\"vr\":\"US\",\"Value\":[42752]}"),
           item(c, sizeof c, "1.2.3.3", ",\"00081197\":{\"vr\":\"US\",\"Value\":[49152]}"),
           item(d, sizeof d, "1.2.3.4", ",\"00081197\":{\"vr\":\"US\",\"Value\":[272]}"),
           item(e, sizeof e, "1.2.3.5", ",\"00081197\":{\"vr\":\"US\",\"Value\":[43264]}"));
  si_stow_outcome o[5];
  si_error err;
  assert_int_equal(parse(body, 202, o, &err), SI_OK);
  assert_true(o[0].sent);
  assert_string_equal(o[0].answer,
                      "HTTP 202: ReferencedSOP, WarningReason 0xB000: coercion of data elements");
  assert_false(o[1].sent);
  assert_true(o[1].retryable);
  assert_string_equal(o[1].answer, "0xA700: out of resources (HTTP 202: FailedSOP)");
  assert_false(o[2].sent);
  assert_false(o[2].retryable);
  assert_string_equal(o[2].answer, "0xC000: cannot understand (HTTP 202: FailedSOP)");
  assert_true(o[3].retryable);
  assert_string_equal(o[3].answer, "0x0110: processing failure (HTTP 202: FailedSOP)");
  assert_false(o[4].retryable);
  assert_string_equal(o[4].answer,
                      "0xA900: data set does not match SOP class (HTTP 202: FailedSOP)");
  assert_true(si_stow_reason_retryable(0xA7FF));
  assert_false(si_stow_reason_retryable(0xA900));
  assert_false(si_stow_reason_retryable(0x0122));
  assert_string_equal(si_stow_reason_name(0x1234), "");
}

/* 409: all failed, parsed the same way; a reason missing or unreadable is
 * failed, retryable; an instance both confirmed and refused is not sent. */
static void test_conflict_and_contradiction(void **state) {
  (void)state;
  char a[400], b[400], c[400], d[400], body[3000];
  snprintf(body, sizeof body,
           "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[%s]},\"00081198\":{\"vr\":\"SQ\",\"Value\":[%s,"
           "%s,%s]}}",
           item(a, sizeof a, "1.2.3.3", ""),
           item(b, sizeof b, "1.2.3.1", ",\"00081197\":{\"vr\":\"US\",\"Value\":[\"A700\"]}"),
           item(c, sizeof c, "1.2.3.2", ""),
           item(d, sizeof d, "1.2.3.3", ",\"00081197\":{\"vr\":\"US\",\"Value\":[49152]}"));
  si_stow_outcome o[5];
  si_error err;
  assert_int_equal(parse(body, 409, o, &err), SI_OK);
  assert_false(o[0].sent);
  assert_true(o[0].retryable);
  assert_string_equal(o[0].answer,
                      "refused without a readable FailureReason (HTTP 409: FailedSOP)");
  assert_true(o[1].retryable);
  assert_false(o[2].sent);
  assert_true(o[2].retryable);
  assert_non_null(strstr(o[2].answer, "both confirms and refuses"));
  assert_string_equal(o[3].answer, "not confirmed by the response (HTTP 409)");
}

/* Entries that cannot name an instance confirm nothing. */
static void test_bad_entries_confirm_nothing(void **state) {
  (void)state;
  static const char *const bodies[] = {
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[\"1.2.3.1\", 12, null, [], {}]}}",
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\",\"Value\":[1.2]}}]}}",
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\",\"Value\":[\"1.2.3.1\","
      "\"1.2.3.2\"]}}]}}",
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"LO\",\"Value\":[\"1.2.3.1\"]"
      "}}]}}",
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\",\"Value\":\"1.2.3.1\"}}"
      "]}}",
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":\"1.2.3.1\"}]}}",
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\",\"Value\":[\"1.2.3.1 "
      "\"]}}]}}",
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\",\"Value\":[\"\"]}}]}}",
      "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\"}}]}}",
      "{\"00081199\":{\"vr\":\"SQ\"}, \"00081155\":{\"vr\":\"UI\",\"Value\":[\"1.2.3.1\"]}}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    si_stow_outcome o[5];
    si_error err;
    assert_int_equal(parse(bodies[i], 200, o, &err), SI_OK);
    for (int k = 0; k < 5; k++) {
      if (o[k].sent)
        fail_msg("body %zu confirms %d", i, k);
      assert_true(o[k].retryable);
    }
  }
  /* A UID longer than 64 characters matches nothing, even the same text. */
  char longuid[80], body[400];
  memset(longuid, '1', 65);
  longuid[65] = '\0';
  const char *const one[] = {longuid};
  snprintf(body, sizeof body,
           "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\",\"Value\":[\"%s\"]"
           "}}]}}",
           longuid);
  si_stow_outcome o;
  si_error err;
  assert_int_equal(si_stow_response_parse(body, strlen(body), 200, one, 1, &o, &err), SI_OK);
  assert_false(o.sent);
}

/* Bad numbers of a reason: the instance is failed without a readable one. */
static void test_bad_numbers(void **state) {
  (void)state;
  static const char *const values[] = {"[-1]", "[65536]", "[1e30]", "[42752.5]", "[true]",
                                       "[]",   "[1, 2]",  "{}",     "[null]"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char body[400];
    snprintf(body, sizeof body,
             "{\"00081198\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\",\"Value\":[\"1."
             "2.3.1\"]},"
             "\"00081197\":{\"vr\":\"US\",\"Value\":%s}}]}}",
             values[i]);
    si_stow_outcome o[5];
    si_error err;
    assert_int_equal(parse(body, 409, o, &err), SI_OK);
    assert_false(o[0].sent);
    assert_string_equal(o[0].answer,
                        "refused without a readable FailureReason (HTTP 409: FailedSOP)");
  }
  /* Numbers past what jansson holds refuse the whole answer. */
  si_stow_outcome o[5];
  si_error err;
  assert_int_equal(parse("{\"00081198\":{\"vr\":\"SQ\",\"Value\":[{\"00081197\":{\"vr\":\"US\","
                         "\"Value\":[123456789012345678901234567890]}}]}}",
                         409, o, &err),
                   SI_ERR_PARSE);
}

static void test_hostile_documents(void **state) {
  (void)state;
  static const struct {
    const char *body;
    si_status code;
  } cases[] = {
      {"", SI_ERR_FORMAT},
      {"  \r\n", SI_ERR_FORMAT},
      {"<?xml version=\"1.0\"?><NativeDicomModel/>", SI_ERR_UNSUPPORTED},
      {"{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\"", SI_ERR_PARSE},
      {"{\"00081199\": 1}", SI_ERR_FORMAT},
      {"[]", SI_ERR_FORMAT},
      {"\"text\"", SI_ERR_PARSE}, /* jansson takes objects and arrays only */
      {"{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\",\"Value\":[\"1.2.3."
       "1\\u0000\"]}}]}}",
       SI_ERR_PARSE}, /* a NUL inside a string */
      {"{\"00081199\":{\"vr\":\"OB\",\"Value\":[]}}", SI_ERR_FORMAT},
      {"{\"00081199\":{\"vr\":5,\"Value\":[]}}", SI_ERR_FORMAT},
      {"{\"00081198\":{\"vr\":\"SQ\",\"Value\":{}}}", SI_ERR_FORMAT},
      {"{\"00081198\":{\"vr\":\"SQ\"},\"00081198\":{\"vr\":\"SQ\"}}", SI_ERR_PARSE},
      {"{} trailing", SI_ERR_PARSE},
      {"{}", SI_ERR_FORMAT},
      {"{\"error\": \"Bad file format\", \"HttpStatus\": 400}", SI_ERR_FORMAT},
      {"<html>502 Bad Gateway</html>", SI_ERR_UNSUPPORTED},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    si_stow_outcome o[5];
    memset(o, 0x5A, sizeof o);
    si_error err;
    si_status st = parse(cases[i].body, 200, o, &err);
    if (st != cases[i].code)
      fail_msg("case %zu: status %d, wanted %d (%s)", i, st, cases[i].code, err.message);
    assert_int_equal(err.code, cases[i].code);
  }
  /* Deep nesting: refused by jansson's depth limit, never a crash. */
  size_t depth = 100000;
  char *deep = malloc(2 * depth + 16);
  size_t n = 0;
  n += (size_t)sprintf(deep, "{\"00081199\":");
  for (size_t i = 0; i < depth; i++)
    deep[n++] = '[';
  for (size_t i = 0; i < depth; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  si_stow_outcome o[5];
  si_error err;
  assert_int_equal(si_stow_response_parse(deep, n, 200, uids, 5, o, &err), SI_ERR_PARSE);
  free(deep);
  /* Too long an answer is not read at all. */
  assert_int_equal(
      si_stow_response_parse("{}", (size_t)SI_STOW_RESPONSE_MAX + 1, 200, uids, 5, o, &err),
      SI_ERR_LIMIT);
}

/* The same UID twice in a request (the same instance): both settled alike;
 * many entries are matched by a search, not a scan per entry. */
static void test_duplicates_and_many(void **state) {
  (void)state;
  const char *const twice[] = {"1.2.3.9", "1.2.3.8", "1.2.3.9"};
  const char *body = "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[{\"00081155\":{\"vr\":\"UI\","
                     "\"Value\":[\"1.2.3.9\"]}}]}}";
  si_stow_outcome o[3];
  si_error err;
  assert_int_equal(si_stow_response_parse(body, strlen(body), 200, twice, 3, o, &err), SI_OK);
  assert_true(o[0].sent);
  assert_false(o[1].sent);
  assert_true(o[2].sent);
  enum { N = 5000 };
  char **many = calloc(N, sizeof *many);
  size_t cap = (size_t)N * 80 + 64, len = 0;
  char *big = malloc(cap);
  len += (size_t)snprintf(big, cap, "{\"00081199\":{\"vr\":\"SQ\",\"Value\":[");
  for (int i = 0; i < N; i++) {
    many[i] = malloc(32);
    snprintf(many[i], 32, "1.2.%d", N - i);
    if (i % 2 == 0)
      len += (size_t)snprintf(big + len, cap - len,
                              "%s{\"00081155\":{\"vr\":\"UI\",\"Value\":[\"%s\"]}}", i ? "," : "",
                              many[i]);
  }
  len += (size_t)snprintf(big + len, cap - len, "]}}");
  si_stow_outcome *out = calloc(N, sizeof *out);
  assert_int_equal(si_stow_response_parse(big, len, 200, (const char *const *)many, N, out, &err),
                   SI_OK);
  for (int i = 0; i < N; i++) {
    assert_int_equal(out[i].sent, i % 2 == 0);
    free(many[i]);
  }
  free(many);
  free(big);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_orthanc_answer),
      cmocka_unit_test(test_reasons),
      cmocka_unit_test(test_conflict_and_contradiction),
      cmocka_unit_test(test_bad_entries_confirm_nothing),
      cmocka_unit_test(test_bad_numbers),
      cmocka_unit_test(test_hostile_documents),
      cmocka_unit_test(test_duplicates_and_many),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
