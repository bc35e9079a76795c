/* User identity negotiation (PS3.7 D.3.3.7): the RQ's sub-item 0x58 and
 * the AC's 0x59 encoded and decoded (lib/net/pdu.c), every length of them
 * lying, and the listener's users file (lib/net/users.c). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/pdu.h"
#include "net/users.h"
#include "sendit/net.h"

static net_assoc_pdu *sample(const char *user, const char *pass) {
  net_assoc_pdu *p = calloc(1, sizeof *p);
  assert_non_null(p);
  p->protocol_version = 1;
  strcpy(p->called_ae, "SENDIT");
  strcpy(p->calling_ae, "MODALITY");
  strcpy(p->app_context, NET_APP_CONTEXT);
  p->max_pdu = 16384;
  strcpy(p->impl_class_uid, "1.2.3.4");
  p->pc_count = 1;
  p->pc[0].id = 1;
  strcpy(p->pc[0].abstract_syntax, "1.2.840.10008.1.1");
  strcpy(p->pc[0].ts[0], "1.2.840.10008.1.2");
  p->pc[0].ts_count = 1;
  if (user) {
    p->user_type = pass ? NET_USER_PASSCODE : NET_USER_USERNAME;
    p->user_response_requested = 1;
    p->username_len = strlen(user);
    memcpy(p->username, user, p->username_len + 1);
    p->passcode_len = pass ? strlen(pass) : 0;
    if (pass)
      memcpy(p->passcode, pass, p->passcode_len + 1);
  }
  return p;
}

/* Encodes p as an RQ; *at is where sub-item 0x58 starts (it comes last). */
static uint8_t *encode_rq(const net_assoc_pdu *p, size_t *len, size_t *at) {
  uint8_t *buf;
  si_error err;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, p, &buf, len, &err), SI_OK);
  *at =
      *len - (4 + 6 + p->username_len + (p->user_type == NET_USER_PASSCODE ? p->passcode_len : 0));
  assert_int_equal(buf[*at], 0x58);
  return buf;
}

static void test_round_trip(void **state) {
  (void)state;
  net_assoc_pdu *in = sample("alice", "s3cret:pass"), *out = calloc(1, sizeof *out);
  size_t len, at;
  si_error err;
  uint8_t *buf = encode_rq(in, &len, &at);
  assert_int_equal(buf[at + 4], NET_USER_PASSCODE);
  assert_int_equal(buf[at + 5], 1);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->user_type, NET_USER_PASSCODE);
  assert_int_equal(out->user_response_requested, 1);
  assert_int_equal(out->username_len, 5);
  assert_string_equal(out->username, "alice");
  assert_int_equal(out->passcode_len, 11);
  assert_string_equal(out->passcode, "s3cret:pass");
  free(buf);
  /* Type 1: a username alone, no secondary field. */
  free(in);
  in = sample("bob", NULL);
  buf = encode_rq(in, &len, &at);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->user_type, NET_USER_USERNAME);
  assert_string_equal(out->username, "bob");
  assert_int_equal(out->passcode_len, 0);
  free(buf);
  /* None: no sub-item, user_type 0. */
  free(in);
  in = sample(NULL, NULL);
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->user_type, 0);
  assert_int_equal(out->user_identity, 0);
  free(buf);
  /* The AC's answer: 0x59 with an empty server response. */
  in->pc[0].result = NET_PC_ACCEPT;
  in->user_response = 1;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_AC, in, &buf, &len, &err), SI_OK);
  assert_int_equal(buf[len - 6], 0x59);
  assert_int_equal(buf[len - 3], 2); /* item length 2 */
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->user_response, 1);
  free(buf);
  in->user_response = 0;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_AC, in, &buf, &len, &err), SI_OK);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->user_response, 0);
  free(buf);
  free(in);
  free(out);
}

static void put16(uint8_t *p, size_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* decode must fail naming the PDU, with an offset inside the sub-item. */
static void expect_bad(uint8_t *buf, size_t len, size_t at, const char *words) {
  net_assoc_pdu *out = calloc(1, sizeof *out);
  si_error err;
  assert_int_not_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_non_null(strstr(err.message, "A-ASSOCIATE-RQ"));
  if (!strstr(err.message, words))
    fail_msg("'%s' does not say '%s'", err.message, words);
  assert_true(err.offset >= at && err.offset < len);
  free(out);
}

static void test_lengths_lie(void **state) {
  (void)state;
  net_assoc_pdu *in = sample("alice", "pass");
  size_t len, at;
  uint8_t *buf = encode_rq(in, &len, &at);
  uint8_t *copy = malloc(len);
  /* The primary field's length beyond the sub-item. */
  memcpy(copy, buf, len);
  put16(copy + at + 6, 200);
  expect_bad(copy, len, at, "primary field");
  /* The secondary field's length not ending the sub-item, both ways. */
  memcpy(copy, buf, len);
  put16(copy + at + 8 + 5, 5);
  expect_bad(copy, len, at, "secondary field");
  memcpy(copy, buf, len);
  put16(copy + at + 8 + 5, 3);
  expect_bad(copy, len, at, "secondary field");
  /* A primary length that leaves no room for the secondary's length. */
  memcpy(copy, buf, len);
  put16(copy + at + 6, 10);
  expect_bad(copy, len, at, "primary field");
  /* Unknown type, type 2 without passcode, type 1 with one, empty name. */
  memcpy(copy, buf, len);
  copy[at + 4] = 9;
  expect_bad(copy, len, at, "type 9 unknown");
  memcpy(copy, buf, len);
  copy[at + 4] = NET_USER_USERNAME;
  expect_bad(copy, len, at, "not of type 2");
  free(buf);
  free(copy);
  /* A sub-item shorter than its 6 fixed bytes (the user information and
   * PDU lengths made to agree). */
  free(in);
  in = sample("a", NULL);
  buf = encode_rq(in, &len, &at); /* 0x58 of 7 bytes: cut to 5 */
  size_t short_len = len - 2;
  put16(buf + at + 2, 5);
  uint32_t body = (uint32_t)(short_len - NET_PDU_HEADER);
  buf[2] = (uint8_t)(body >> 24);
  buf[3] = (uint8_t)(body >> 16);
  buf[4] = (uint8_t)(body >> 8);
  buf[5] = (uint8_t)body;
  /* the user information item (0x50) holds 0x51, 0x52 and 0x58 */
  size_t user_item = 0;
  for (size_t p = NET_PDU_HEADER + 68; p + 4 <= len;
       p += 4 + (size_t)((buf[p + 2] << 8) | buf[p + 3]))
    if (buf[p] == 0x50) {
      user_item = p;
      break;
    }
  assert_int_equal(buf[user_item], 0x50);
  put16(buf + user_item + 2, ((size_t)(buf[user_item + 2] << 8) | buf[user_item + 3]) - 2);
  expect_bad(buf, short_len, at, "shorter than 6");
  free(buf);
  /* A username beyond the limit. */
  net_assoc_pdu *huge = sample("x", "pass");
  /* The encoder refuses to write what the decoder would refuse. */
  huge->username_len = NET_MAX_USER_FIELD + 1;
  si_error err;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, huge, &buf, &len, &err), SI_OK);
  net_assoc_pdu *out = calloc(1, sizeof *out);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->user_type, 0); /* left out, not cut */
  free(buf);
  free(huge);
  free(out);
  free(in);
}

/* Appends a sub-item to the user information item (the PDU's last) of
 * the encoded PDU, fixing its length and the PDU's. */
static uint8_t *append_sub_item(uint8_t *buf, size_t *len, const uint8_t *item, size_t n) {
  size_t user_item = 0;
  for (size_t p = NET_PDU_HEADER + 68; p + 4 <= *len;
       p += 4 + (size_t)((buf[p + 2] << 8) | buf[p + 3]))
    user_item = p;
  assert_int_equal(buf[user_item], 0x50);
  buf = realloc(buf, *len + n);
  memcpy(buf + *len, item, n);
  *len += n;
  put16(buf + user_item + 2, *len - user_item - 4);
  uint32_t body = (uint32_t)(*len - NET_PDU_HEADER);
  buf[2] = (uint8_t)(body >> 24);
  buf[3] = (uint8_t)(body >> 16);
  buf[4] = (uint8_t)(body >> 8);
  buf[5] = (uint8_t)body;
  return buf;
}

static void test_crafted_sub_items(void **state) {
  (void)state;
  si_error err;
  net_assoc_pdu *in = sample("alice", "pass"), *out = calloc(1, sizeof *out);
  size_t len, at;
  uint8_t *buf = encode_rq(in, &len, &at);
  /* Two 0x58 sub-items. */
  uint8_t second[] = {0x58, 0, 0, 7, 1, 0, 0, 1, 'x', 0, 0};
  buf = append_sub_item(buf, &len, second, sizeof second);
  expect_bad(buf, len, at, "two user identity");
  free(buf);
  /* A username of NET_MAX_USER_FIELD + 1 bytes: refused whole, not cut. */
  free(in);
  in = sample(NULL, NULL);
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  size_t n = NET_MAX_USER_FIELD + 1, item_len = 6 + n;
  uint8_t *big = calloc(1, 4 + item_len);
  big[0] = 0x58;
  put16(big + 2, item_len);
  big[4] = NET_USER_USERNAME;
  put16(big + 6, n);
  memset(big + 8, 'u', n);
  at = len;
  buf = append_sub_item(buf, &len, big, 4 + item_len);
  expect_bad(buf, len, at, "longer than 1024");
  /* One byte less is kept whole. */
  free(buf);
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  put16(big + 2, item_len - 1);
  put16(big + 6, n - 1);
  put16(big + 8 + n - 1, 0); /* the secondary field's length, now one byte earlier */
  buf = append_sub_item(buf, &len, big, 4 + item_len - 1);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->username_len, NET_MAX_USER_FIELD);
  free(buf);
  free(big);
  /* Kerberos (type 3): recorded by type, its ticket not kept. */
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  uint8_t kerberos[] = {0x58, 0, 0, 9, 3, 0, 0, 3, 'T', 'K', 'T', 0, 0};
  buf = append_sub_item(buf, &len, kerberos, sizeof kerberos);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->user_type, NET_USER_KERBEROS);
  assert_int_equal(out->username_len, 0);
  free(buf);
  /* The AC's 0x59: its server response length must fill it. */
  in->pc[0].result = NET_PC_ACCEPT;
  /* Length 2 claiming 1 byte of response, 1 byte (no room for the
   * length), 4 bytes claiming 1. */
  uint8_t answers[][8] = {
      {0x59, 0, 0, 2, 0, 1}, {0x59, 0, 0, 1, 0}, {0x59, 0, 0, 4, 0, 1, 'x', 'y'}};
  size_t sizes[] = {6, 5, 8};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_AC, in, &buf, &len, &err), SI_OK);
    buf = append_sub_item(buf, &len, answers[i], sizes[i]);
    assert_int_not_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
    assert_non_null(strstr(err.message, "A-ASSOCIATE-AC"));
    free(buf);
  }
  uint8_t right[] = {0x59, 0, 0, 4, 0, 2, 'o', 'k'};
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_AC, in, &buf, &len, &err), SI_OK);
  buf = append_sub_item(buf, &len, right, sizeof right);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->user_response, 1);
  free(buf);
  free(in);
  free(out);
}

/* Every cut of an RQ carrying the sub-item fails cleanly (or is an RQ
 * with less in it); ASan sees any read beyond. */
static void test_every_cut(void **state) {
  (void)state;
  net_assoc_pdu *in = sample("alice", "pass"), *out = calloc(1, sizeof *out);
  size_t len, at;
  uint8_t *buf = encode_rq(in, &len, &at);
  si_error err;
  for (size_t cut = NET_PDU_HEADER; cut < len; cut++) {
    uint8_t *copy = malloc(cut);
    memcpy(copy, buf, cut);
    uint32_t body = (uint32_t)(cut - NET_PDU_HEADER);
    copy[2] = (uint8_t)(body >> 24);
    copy[3] = (uint8_t)(body >> 16);
    copy[4] = (uint8_t)(body >> 8);
    copy[5] = (uint8_t)body;
    if (net_decode_assoc(copy, cut, out, &err) != SI_OK)
      assert_true(err.message[0] != '\0');
    else
      assert_int_equal(out->user_type, 0);
    free(copy);
  }
  free(buf);
  free(in);
  free(out);
}

static const char *write_users(const char *name, const char *text) {
  static char path[600];
  snprintf(path, sizeof path, "%s/%s", tu_tmp_dir(), name);
  assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
  return path;
}

static void test_users_file(void **state) {
  (void)state;
  char alice[SI_NET_USER_LINE_SIZE], bob[SI_NET_USER_LINE_SIZE];
  si_error err;
  assert_int_equal(si_net_user_line("alice", "right passcode", alice, &err), SI_OK);
  assert_int_equal(strncmp(alice, "alice:$argon2id$", 16), 0);
  assert_int_equal(si_net_user_line("a:b", "other", bob, &err), SI_OK);
  assert_int_equal(si_net_user_line("bad:", "x", bob + 0, &err) != SI_OK, 1);
  assert_int_equal(si_net_user_line("", "x", bob, &err), SI_ERR_ARG);
  assert_int_equal(si_net_user_line("a:b", "other", bob, &err), SI_OK);
  char text[3 * SI_NET_USER_LINE_SIZE];
  snprintf(text, sizeof text, "# DICOM users\n\n%s\r\n%s", alice, bob);
  net_users *u;
  assert_int_equal(net_users_load(write_users("users_ok", text), &u, &err), SI_OK);
  assert_int_equal(net_users_check(u, "alice", 5, "right passcode", 14), 1);
  assert_int_equal(net_users_check(u, "alice", 5, "wrong passcode", 14), 0);
  assert_int_equal(net_users_check(u, "alice", 5, "right passcode", 13), 0);
  assert_int_equal(net_users_check(u, "alic", 4, "right passcode", 14), 0);
  assert_int_equal(net_users_check(u, "a:b", 3, "other", 5), 1); /* split at the last ':' */
  assert_int_equal(net_users_check(u, "mallory", 7, "right passcode", 14), 0);
  net_users_free(u);
  /* A line that is not username:hash names the file and the line. */
  snprintf(text, sizeof text, "%s\nbob:plaintext\n", alice);
  assert_int_equal(net_users_load(write_users("users_bad", text), &u, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "line 2"));
  assert_non_null(strstr(err.file, "users_bad"));
  assert_int_equal(net_users_load(write_users("users_empty", "# nobody\n"), &u, &err),
                   SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "no user"));
  assert_int_equal(net_users_load("/nonexistent/users", &u, &err), SI_ERR_IO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip), cmocka_unit_test(test_lengths_lie),
      cmocka_unit_test(test_every_cut),  cmocka_unit_test(test_crafted_sub_items),
      cmocka_unit_test(test_users_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
