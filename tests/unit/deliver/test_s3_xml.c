/* The s3 destination's readers of untrusted answers: the XML tag
 * extractor (lib/deliver/s3_xml.c) on S3's documented answer shapes and on
 * broken ones, and the manifest merge (lib/deliver/s3_manifest.c). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "deliver/s3_manifest.h"
#include "deliver/s3_xml.h"

static const char error_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>"
    "<Message>The specified bucket does not exist</Message><BucketName>nope</BucketName>"
    "<RequestId>4442587FB7D0A2F9</RequestId></Error>";

static void test_error_answer(void **state) {
  (void)state;
  char out[128];
  assert_int_equal(si_s3_xml_text(error_doc, strlen(error_doc), "Code", out, sizeof out), SI_OK);
  assert_string_equal(out, "NoSuchBucket");
  assert_int_equal(si_s3_xml_text(error_doc, strlen(error_doc), "Message", out, sizeof out), SI_OK);
  assert_string_equal(out, "The specified bucket does not exist");
  /* <Code> must not match <CodeX>, nor a tag only named inside text. */
  assert_int_equal(si_s3_xml_text(error_doc, strlen(error_doc), "Cod", out, sizeof out),
                   SI_ERR_NOT_FOUND);
  /* <Error> holds markup: refused, never guessed at. */
  assert_int_equal(si_s3_xml_text(error_doc, strlen(error_doc), "Error", out, sizeof out),
                   SI_ERR_FORMAT);
}

static void test_entities_and_attributes(void **state) {
  (void)state;
  const char *x =
      "<R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><ETag>&quot;3858f62230ac3c915f"
      "300c664312c11f-9&quot;</ETag><K a='1'>a&amp;b&lt;&#x41;&#66;&#x1234;</K>"
      "<E/><N>x\ny\x01</N></R>";
  char out[64];
  assert_int_equal(si_s3_xml_text(x, strlen(x), "ETag", out, sizeof out), SI_OK);
  assert_string_equal(out, "\"3858f62230ac3c915f300c664312c11f-9\"");
  assert_int_equal(si_s3_xml_text(x, strlen(x), "K", out, sizeof out), SI_OK);
  assert_string_equal(out, "a&b<AB\xe1\x88\xb4");
  assert_int_equal(si_s3_xml_text(x, strlen(x), "E", out, sizeof out), SI_OK);
  assert_string_equal(out, "");
  /* Control characters never reach a log line or an answer. */
  assert_int_equal(si_s3_xml_text(x, strlen(x), "N", out, sizeof out), SI_OK);
  assert_string_equal(out, "x y ");
}

static void test_broken_answers(void **state) {
  (void)state;
  char out[8];
  static const char *const bad[] = {
      "<Code>NoSuch",                /* not closed */
      "<Code>a</Cod>",               /* wrong closing tag */
      "<Code>a</Code",               /* closing tag cut */
      "<Code>&bogus;</Code>",        /* unknown entity */
      "<Code>&#0;</Code>",           /* NUL reference */
      "<Code>&#xD800;</Code>",       /* a surrogate */
      "<Code>&#x110000;</Code>",     /* beyond Unicode */
      "<Code>&#99999999999;</Code>", /* overflow */
      "<Code>&amp</Code>",           /* no ';' */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    si_status rc = si_s3_xml_text(bad[i], strlen(bad[i]), "Code", out, sizeof out);
    if (rc != SI_ERR_FORMAT)
      fail_msg("%s: %s", bad[i], si_status_name(rc));
    assert_int_equal(strlen(out) < sizeof out, 1);
  }
  /* Too long for out: a limit, still terminated. */
  const char *lng = "<Code>0123456789</Code>";
  assert_int_equal(si_s3_xml_text(lng, strlen(lng), "Code", out, sizeof out), SI_ERR_LIMIT);
  assert_int_equal(strlen(out), sizeof out - 1);
  /* Not NUL-terminated input: only size bytes are read. */
  char raw[] = {'<', 'C', 'o', 'd', 'e', '>', 'x', '<', '/', 'C', 'o', 'd', 'e', '>'};
  assert_int_equal(si_s3_xml_text(raw, sizeof raw, "Code", out, sizeof out), SI_OK);
  assert_string_equal(out, "x");
  assert_int_equal(si_s3_xml_text(raw, sizeof raw - 1, "Code", out, sizeof out), SI_ERR_FORMAT);
  assert_int_equal(si_s3_xml_text("", 0, "Code", out, sizeof out), SI_ERR_NOT_FOUND);
  /* An opening cut before its end is no element at all. */
  assert_int_equal(si_s3_xml_text("<Code", 5, "Code", out, sizeof out), SI_ERR_NOT_FOUND);
}

static void test_manifest_merge(void **state) {
  (void)state;
  const char *old =
      "{\"key\":\"p/1/2/b.dcm\",\"size\":5,\"md5\":\"m\",\"sha256\":\"s\",\"etag\":\"e\"}\n"
      "not json\n"
      "{\"key\":\"p/1/2/a.dcm\",\"size\":1,\"md5\":\"old\",\"sha256\":\"old\",\"etag\":\"old\"}\n";
  si_s3_entry e[] = {{"p/1/2/c.dcm", 7, "m7", "s7", "e7"}, {"p/1/2/a.dcm", 2, "m2", "s2", "e2"}};
  size_t dropped = 9;
  char *text = si_s3_manifest_merge(old, strlen(old), e, 2, &dropped);
  assert_non_null(text);
  assert_int_equal(dropped, 1);
  assert_string_equal(
      text,
      "{\"key\":\"p/1/2/a.dcm\",\"size\":2,\"md5\":\"m2\",\"sha256\":\"s2\",\"etag\":\"e2\"}\n"
      "{\"key\":\"p/1/2/b.dcm\",\"size\":5,\"md5\":\"m\",\"sha256\":\"s\",\"etag\":\"e\"}\n"
      "{\"key\":\"p/1/2/c.dcm\",\"size\":7,\"md5\":\"m7\",\"sha256\":\"s7\",\"etag\":\"e7\"}\n");
  /* A resend writes the same bytes. */
  char *again = si_s3_manifest_merge(text, strlen(text), e, 2, &dropped);
  assert_string_equal(again, text);
  assert_int_equal(dropped, 0);
  free(again);
  free(text);
  text = si_s3_manifest_merge(NULL, 0, e, 0, &dropped);
  assert_string_equal(text, "");
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_answer),
      cmocka_unit_test(test_entities_and_attributes),
      cmocka_unit_test(test_broken_answers),
      cmocka_unit_test(test_manifest_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
