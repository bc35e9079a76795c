/* AWS Signature Version 4 (lib/deliver/sigv4.c) against AWS's published
 * vectors, inline below with their sources:
 *   - the aws-sig-v4-test-suite (2015-08-30 edition, "Signature Version 4
 *     test suite" of the AWS General Reference): credentials AKIDEXAMPLE /
 *     wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service
 *     "service", host example.amazonaws.com, X-Amz-Date 20150830T123600Z;
 *   - the S3 API reference's "Examples: Signature Calculations"
 *     (sig-v4-header-based-auth): AKIAIOSFODNN7EXAMPLE /
 *     wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, us-east-1, s3,
 *     examplebucket.s3.amazonaws.com, 20130524T000000Z: GET Object (with a
 *     Range), PUT Object (test$file.text), GET Bucket (List Objects);
 *   - the General Reference's signing-key derivation example (IAM,
 *     20120215). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/sigv4.h"

static const si_sigv4_credentials suite = {.access_key = "AKIDEXAMPLE",
                                           .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                           .region = "us-east-1",
                                           .service = "service"};
static const si_sigv4_credentials s3ex = {.access_key = "AKIAIOSFODNN7EXAMPLE",
                                          .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                          .region = "us-east-1",
                                          .service = "s3"};
#define SUITE_DATE "20150830T123600Z"
#define S3_DATE "20130524T000000Z"
#define SUITE_CRED                                                                                 \
  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

/* One suite case: method, path, query, extra headers (host and x-amz-date
 * added), body, the published signed headers and signature. */
typedef struct suite_case {
  const char *name, *method, *path;
  si_sigv4_pair query[4];
  size_t query_count;
  si_sigv4_pair headers[4];
  size_t header_count;
  const char *body, *signed_headers, *signature;
} suite_case;

static const suite_case cases[] = {
    {"get-vanilla",
     "GET",
     "/",
     {{0}},
     0,
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"post-vanilla",
     "POST",
     "/",
     {{0}},
     0,
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/",
     {{"Param2", "value2"}, {"Param1", "value1"}},
     2,
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-order-value",
     "GET",
     "/",
     {{"Param1", "value2"}, {"Param1", "value1"}},
     2,
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
    {"get-unreserved",
     "GET",
     "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {{0}},
     0,
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-header-value-trim",
     "GET",
     "/",
     {{0}},
     0,
     {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}},
     2,
     "",
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-header-value-order",
     "GET",
     "/",
     {{0}},
     0,
     {{"My-Header1", "value4"},
      {"My-Header1", "value1"},
      {"My-Header1", "value3"},
      {"My-Header1", "value2"}},
     4,
     "",
     "host;my-header1;x-amz-date",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"get-header-key-duplicate",
     "GET",
     "/",
     {{0}},
     0,
     {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
     3,
     "",
     "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"post-x-www-form-urlencoded",
     "POST",
     "/",
     {{0}},
     0,
     {{"Content-Type", "application/x-www-form-urlencoded"}},
     1,
     "Param1=value1",
     "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
};

static void run_case(const suite_case *c) {
  si_sigv4_pair headers[8];
  size_t n = 0;
  headers[n++] = (si_sigv4_pair){"Host", "example.amazonaws.com"};
  headers[n++] = (si_sigv4_pair){"X-Amz-Date", SUITE_DATE};
  for (size_t i = 0; i < c->header_count; i++)
    headers[n++] = c->headers[i];
  char hash[65];
  si_sigv4_sha256_hex(c->body, strlen(c->body), hash);
  si_sigv4_request req = {.method = c->method,
                          .path = c->path,
                          .query = c->query,
                          .query_count = c->query_count,
                          .headers = headers,
                          .header_count = n,
                          .payload_hash = hash};
  char *auth = NULL, sig[65];
  si_error err;
  assert_int_equal(si_sigv4_sign(&req, &suite, SUITE_DATE, &auth, sig, &err), SI_OK);
  char want[512];
  snprintf(want, sizeof want, SUITE_CRED "SignedHeaders=%s, Signature=%s", c->signed_headers,
           c->signature);
  if (strcmp(auth, want) != 0)
    fail_msg("%s:\n got %s\nwant %s", c->name, auth, want);
  assert_string_equal(sig, c->signature);
  free(auth);
}

static void test_suite_cases(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_case(&cases[i]);
}

/* get-vanilla's published canonical request and string to sign, step by
 * step, so a failure says which step went wrong. */
static void test_get_vanilla_steps(void **state) {
  (void)state;
  si_sigv4_pair headers[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE}};
  si_sigv4_request req = {.method = "GET",
                          .path = "/",
                          .headers = headers,
                          .header_count = 2,
                          .payload_hash = SI_SIGV4_EMPTY_SHA256};
  char *canonical, *signed_headers;
  assert_int_equal(si_sigv4_canonical(&req, &canonical, &signed_headers, NULL), SI_OK);
  assert_string_equal(canonical, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE
                                 "\n\nhost;x-amz-date\n" SI_SIGV4_EMPTY_SHA256);
  assert_string_equal(signed_headers, "host;x-amz-date");
  char *sts = si_sigv4_string_to_sign(SUITE_DATE, &suite, canonical);
  assert_string_equal(sts,
                      "AWS4-HMAC-SHA256\n" SUITE_DATE "\n20150830/us-east-1/service/aws4_request\n"
                      "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  free(sts);
  free(canonical);
  free(signed_headers);
}

/* get-header-value-trim's canonical headers: trimmed, inner runs folded. */
static void test_header_trim_canonical(void **state) {
  (void)state;
  si_sigv4_pair headers[] = {{"Host", "example.amazonaws.com"},
                             {"My-Header1", " value1"},
                             {"My-Header2", "\"a   b   c\""},
                             {"X-Amz-Date", SUITE_DATE}};
  si_sigv4_request req = {.method = "GET",
                          .path = "/",
                          .headers = headers,
                          .header_count = 4,
                          .payload_hash = SI_SIGV4_EMPTY_SHA256};
  char *canonical, *signed_headers;
  assert_int_equal(si_sigv4_canonical(&req, &canonical, &signed_headers, NULL), SI_OK);
  assert_string_equal(canonical, "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
                                 "my-header2:\"a b c\"\nx-amz-date:" SUITE_DATE "\n\n"
                                 "host;my-header1;my-header2;x-amz-date\n" SI_SIGV4_EMPTY_SHA256);
  free(canonical);
  free(signed_headers);
}

static void test_s3_get_object(void **state) {
  (void)state;
  si_sigv4_pair headers[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                             {"Range", "bytes=0-9"},
                             {"x-amz-content-sha256", SI_SIGV4_EMPTY_SHA256},
                             {"x-amz-date", S3_DATE}};
  si_sigv4_request req = {.method = "GET",
                          .path = "/test.txt",
                          .headers = headers,
                          .header_count = 4,
                          .payload_hash = SI_SIGV4_EMPTY_SHA256};
  char *canonical, *signed_headers;
  assert_int_equal(si_sigv4_canonical(&req, &canonical, &signed_headers, NULL), SI_OK);
  char *sts = si_sigv4_string_to_sign(S3_DATE, &s3ex, canonical);
  assert_string_equal(sts, "AWS4-HMAC-SHA256\n" S3_DATE "\n20130524/us-east-1/s3/aws4_request\n"
                           "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  free(sts);
  free(canonical);
  free(signed_headers);
  char *auth;
  assert_int_equal(si_sigv4_sign(&req, &s3ex, S3_DATE, &auth, NULL, NULL), SI_OK);
  assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                            "s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
                            "x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48"
                            "dd91039c6036bdb41");
  free(auth);
}

static void test_s3_put_object(void **state) {
  (void)state;
  const char *body = "Welcome to Amazon S3.";
  char hash[65];
  si_sigv4_sha256_hex(body, strlen(body), hash);
  assert_string_equal(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  si_sigv4_pair headers[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                             {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                             {"x-amz-date", S3_DATE},
                             {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                             {"x-amz-content-sha256", hash}};
  /* The key is given as the caller means it: the '$' is encoded once. */
  si_sigv4_request req = {.method = "PUT",
                          .path = "/test$file.text",
                          .headers = headers,
                          .header_count = 5,
                          .payload_hash = hash};
  char *canonical, *signed_headers;
  assert_int_equal(si_sigv4_canonical(&req, &canonical, &signed_headers, NULL), SI_OK);
  assert_string_equal(canonical,
                      "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
                      "host:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:"
                      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
                      "x-amz-date:" S3_DATE "\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
                      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
                      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  char *sts = si_sigv4_string_to_sign(S3_DATE, &s3ex, canonical);
  assert_string_equal(sts, "AWS4-HMAC-SHA256\n" S3_DATE "\n20130524/us-east-1/s3/aws4_request\n"
                           "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  free(sts);
  free(canonical);
  free(signed_headers);
  char sig[65], *auth;
  assert_int_equal(si_sigv4_sign(&req, &s3ex, S3_DATE, &auth, sig, NULL), SI_OK);
  assert_string_equal(sig, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  free(auth);
}

static void test_s3_list_objects(void **state) {
  (void)state;
  si_sigv4_pair query[] = {{"prefix", "J"}, {"max-keys", "2"}};
  si_sigv4_pair headers[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                             {"x-amz-content-sha256", SI_SIGV4_EMPTY_SHA256},
                             {"x-amz-date", S3_DATE}};
  si_sigv4_request req = {.method = "GET",
                          .path = "/",
                          .query = query,
                          .query_count = 2,
                          .headers = headers,
                          .header_count = 3,
                          .payload_hash = SI_SIGV4_EMPTY_SHA256};
  char sig[65], *auth;
  assert_int_equal(si_sigv4_sign(&req, &s3ex, S3_DATE, &auth, sig, NULL), SI_OK);
  assert_string_equal(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  free(auth);
}

static void test_signing_key(void **state) {
  (void)state;
  si_sigv4_credentials iam = {.access_key = "AKIDEXAMPLE",
                              .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                              .region = "us-east-1",
                              .service = "iam"};
  uint8_t key[32];
  char hex[65];
  si_sigv4_signing_key(&iam, "20120215", key);
  si_sigv4_hex(key, 32, hex);
  assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

/* SigV4's URI encoding: unreserved bytes as they are, everything else
 * (UTF-8 byte by byte) as upper-case %XX, '/' kept only in paths. */
static void test_uri_encode(void **state) {
  (void)state;
  static const struct {
    const char *in;
    int keep_slash;
    const char *out;
  } v[] = {
      {"a b", 1, "a%20b"},
      {"a+b=c&d", 0, "a%2Bb%3Dc%26d"},
      {"1.2.840/3.4/5.dcm", 1, "1.2.840/3.4/5.dcm"},
      {"1.2/3", 0, "1.2%2F3"},
      {"\xe1\x88\xb4", 1, "%E1%88%B4"},
      {"-._~AZaz09", 0, "-._~AZaz09"},
      {"100%", 0, "100%25"},
      {"", 0, ""},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *e = si_sigv4_uri_encode(v[i].in, v[i].keep_slash);
    assert_string_equal(e, v[i].out);
    free(e);
  }
  si_sigv4_pair q[] = {{"uploadId", "a/b+c"}, {"partNumber", "10"}, {"uploads", ""}};
  char *s = si_sigv4_query(q, 3);
  assert_string_equal(s, "partNumber=10&uploadId=a%2Fb%2Bc&uploads=");
  free(s);
}

static void test_bad_arguments(void **state) {
  (void)state;
  si_sigv4_pair headers[] = {{"", "x"}};
  si_sigv4_request req = {
      .method = "GET", .path = "/", .headers = headers, .header_count = 1, .payload_hash = "x"};
  char *auth = (char *)"unset";
  si_error err;
  assert_int_equal(si_sigv4_sign(&req, &suite, SUITE_DATE, &auth, NULL, &err), SI_ERR_ARG);
  assert_null(auth);
  assert_int_equal(si_sigv4_sign(&req, &suite, "2015", &auth, NULL, &err), SI_ERR_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_suite_cases),           cmocka_unit_test(test_get_vanilla_steps),
      cmocka_unit_test(test_header_trim_canonical), cmocka_unit_test(test_s3_get_object),
      cmocka_unit_test(test_s3_put_object),         cmocka_unit_test(test_s3_list_objects),
      cmocka_unit_test(test_signing_key),           cmocka_unit_test(test_uri_encode),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
