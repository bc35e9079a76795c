/* PDU and DIMSE command encoding and decoding (lib/net/pdu.c, dimse.c):
 * round trips, and every way a length or a field can lie: each is an error
 * with the PDU named and an offset, never a read past the buffer (ASan
 * sees every cut). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "net/dimse.h"
#include "net/pdu.h"

static net_assoc_pdu *sample_rq(size_t contexts) {
  net_assoc_pdu *p = calloc(1, sizeof *p);
  assert_non_null(p);
  p->protocol_version = 1;
  strcpy(p->called_ae, "SENDIT");
  strcpy(p->calling_ae, "MODALITY 1");
  strcpy(p->app_context, NET_APP_CONTEXT);
  p->max_pdu = 16384;
  strcpy(p->impl_class_uid, "1.2.3.4");
  strcpy(p->impl_version, "TEST_1");
  p->pc_count = contexts;
  for (size_t i = 0; i < contexts; i++) {
    p->pc[i].id = (uint8_t)(2 * i + 1);
    strcpy(p->pc[i].abstract_syntax, "1.2.840.10008.5.1.4.1.1.2");
    strcpy(p->pc[i].ts[0], "1.2.840.10008.1.2.1");
    strcpy(p->pc[i].ts[1], "1.2.840.10008.1.2");
    strcpy(p->pc[i].ts[2], "1.2.840.10008.1.2.4.50");
    p->pc[i].ts_count = 3;
  }
  return p;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void test_assoc_round_trip(void **state) {
  (void)state;
  net_assoc_pdu *in = sample_rq(3), *out = calloc(1, sizeof *out);
  uint8_t *buf;
  size_t len;
  si_error err;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  assert_int_equal(buf[0], NET_PDU_ASSOCIATE_RQ);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_string_equal(out->called_ae, "SENDIT");
  assert_string_equal(out->calling_ae, "MODALITY 1"); /* inner blank kept */
  assert_string_equal(out->app_context, NET_APP_CONTEXT);
  assert_int_equal(out->pc_count, 3);
  assert_int_equal(out->pc[2].id, 5);
  assert_int_equal(out->pc[2].ts_count, 3);
  assert_string_equal(out->pc[2].ts[2], "1.2.840.10008.1.2.4.50");
  assert_int_equal(out->max_pdu, 16384);
  assert_string_equal(out->impl_class_uid, "1.2.3.4");
  assert_string_equal(out->impl_version, "TEST_1");
  free(buf);
  /* An AC: one accepted, one refused context. */
  in->pc_count = 2;
  in->pc[0].result = NET_PC_ACCEPT;
  in->pc[1].result = NET_PC_ABSTRACT_NOT_SUPPORTED;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_AC, in, &buf, &len, &err), SI_OK);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->pc_count, 2);
  assert_int_equal(out->pc[0].result, NET_PC_ACCEPT);
  assert_string_equal(out->pc[0].ts[0], "1.2.840.10008.1.2.1");
  assert_int_equal(out->pc[1].result, NET_PC_ABSTRACT_NOT_SUPPORTED);
  free(buf);
  free(in);
  free(out);
}

/* Every cut of a valid PDU, with the header's length made to agree (so the
 * items' own lengths are what is checked), fails cleanly. */
static void test_assoc_every_cut(void **state) {
  (void)state;
  net_assoc_pdu *in = sample_rq(2), *out = calloc(1, sizeof *out);
  uint8_t *buf;
  size_t len;
  si_error err;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, buf, cut);
    if (cut >= NET_PDU_HEADER)
      put32(copy + 2, (uint32_t)(cut - NET_PDU_HEADER));
    si_status st = net_decode_assoc(copy, cut, out, &err);
    /* A cut exactly between items can be a valid PDU with less in it. */
    if (st == SI_OK) {
      assert_true(out->pc_count <= 2);
    } else {
      assert_true(err.message[0] != '\0');
      assert_non_null(strstr(err.message, "A-ASSOCIATE-RQ"));
    }
    free(copy);
  }
  /* The header's length not matching the bytes present. */
  assert_int_equal(net_decode_assoc(buf, len - 1, out, &err), SI_ERR_TRUNCATED);
  assert_int_equal(err.offset, 2);
  free(buf);
  free(in);
  free(out);
}

static void test_assoc_lies(void **state) {
  (void)state;
  net_assoc_pdu *in = sample_rq(1), *out = calloc(1, sizeof *out);
  uint8_t *buf;
  size_t len;
  si_error err;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  /* The application context item (at 74) claims more than there is. */
  buf[76] = 0xFF;
  buf[77] = 0xFF;
  assert_int_not_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(err.offset, 76);
  free(buf);
  /* A UID of 65 characters. */
  memset(in->pc[0].abstract_syntax, '1', 64);
  in->pc[0].abstract_syntax[64] = '\0';
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK); /* 64 is fine */
  free(buf);
  /* An even context id, and two with one id. */
  free(in);
  in = sample_rq(2);
  in->pc[1].id = 4;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "even"));
  free(buf);
  in->pc[1].id = 1;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "same id"));
  free(buf);
  free(in);
  free(out);
}

static void test_assoc_too_many_contexts(void **state) {
  (void)state;
  /* 129 contexts by hand: the encoder stops at 128. */
  net_assoc_pdu *in = sample_rq(128), *out = calloc(1, sizeof *out);
  uint8_t *buf;
  size_t len;
  si_error err;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, in, &buf, &len, &err), SI_OK);
  assert_int_equal(net_decode_assoc(buf, len, out, &err), SI_OK);
  assert_int_equal(out->pc_count, 128);
  /* Splice one more copy of the first context item after the last (the
   * limit is met before its id, necessarily a repeat, is looked at). */
  size_t first = 74 + 4 + strlen(NET_APP_CONTEXT);
  size_t item = 4 + ((size_t)buf[first + 2] << 8 | buf[first + 3]);
  size_t user = first;
  while (buf[user] != 0x50)
    user += 4 + ((size_t)buf[user + 2] << 8 | buf[user + 3]);
  uint8_t *big = malloc(len + item);
  memcpy(big, buf, user);
  memcpy(big + user, buf + first, item);
  memcpy(big + user + item, buf + user, len - user);
  put32(big + 2, (uint32_t)(len + item - NET_PDU_HEADER));
  assert_int_equal(net_decode_assoc(big, len + item, out, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "more than 128"));
  free(big);
  free(buf);
  free(in);
  free(out);
}

static void test_fixed_pdus(void **state) {
  (void)state;
  uint8_t pdu[10];
  si_error err;
  net_reject rj = {NET_RJ_PERMANENT, NET_RJ_USER, NET_RJ_USER_CALLED_AE}, got;
  net_encode_reject(&rj, pdu);
  assert_int_equal(net_decode_reject(pdu, 10, &got, &err), SI_OK);
  assert_int_equal(got.result, 1);
  assert_int_equal(got.source, 1);
  assert_int_equal(got.reason, 7);
  assert_int_equal(net_decode_reject(pdu, 9, &got, &err), SI_ERR_TRUNCATED);
  uint8_t src, reason;
  net_encode_abort(NET_ABORT_PROVIDER, NET_ABORT_INVALID_PARAM, pdu);
  assert_int_equal(net_decode_abort(pdu, 10, &src, &reason, &err), SI_OK);
  assert_int_equal(src, 2);
  assert_int_equal(reason, 6);
  net_encode_release(NET_PDU_RELEASE_RP, pdu);
  assert_int_equal(net_decode_release(pdu, 10, &err), SI_OK);
  uint8_t longer[12] = {NET_PDU_RELEASE_RQ, 0, 0, 0, 0, 6};
  assert_int_equal(net_decode_release(longer, 12, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "A-RELEASE-RQ"));
}

static void test_pdata(void **state) {
  (void)state;
  /* Two PDVs: a last command fragment and a first data fragment. */
  uint8_t pdu[6 + 4 + 2 + 3 + 4 + 2 + 1] = {NET_PDU_DATA_TF, 0, 0, 0, 0, 16};
  uint8_t pdv1[] = {0, 0, 0, 5, 1, 3, 'a', 'b', 'c'};
  uint8_t pdv2[] = {0, 0, 0, 3, 3, 0, 'd'};
  memcpy(pdu + 6, pdv1, sizeof pdv1);
  memcpy(pdu + 6 + sizeof pdv1, pdv2, sizeof pdv2);
  size_t pos = NET_PDU_HEADER;
  net_pdv pdv;
  si_error err;
  assert_int_equal(net_pdata_next(pdu, sizeof pdu, &pos, &pdv, &err), SI_OK);
  assert_int_equal(pdv.pc_id, 1);
  assert_true(pdv.command && pdv.last);
  assert_int_equal(pdv.len, 3);
  assert_memory_equal(pdv.data, "abc", 3);
  assert_int_equal(net_pdata_next(pdu, sizeof pdu, &pos, &pdv, &err), SI_OK);
  assert_int_equal(pdv.pc_id, 3);
  assert_false(pdv.command || pdv.last);
  assert_int_equal(net_pdata_next(pdu, sizeof pdu, &pos, &pdv, &err), SI_ERR_NOT_FOUND);
  /* A PDV that runs past its PDU, one shorter than its header, reserved
   * bits, and a PDU without any PDV. */
  pdu[9] = 50;
  pos = NET_PDU_HEADER;
  assert_int_equal(net_pdata_next(pdu, sizeof pdu, &pos, &pdv, &err), SI_ERR_FORMAT);
  assert_int_equal(err.offset, 6);
  pdu[9] = 1;
  pos = NET_PDU_HEADER;
  assert_int_equal(net_pdata_next(pdu, sizeof pdu, &pos, &pdv, &err), SI_ERR_FORMAT);
  pdu[9] = 5;
  pdu[11] = 0x07;
  pos = NET_PDU_HEADER;
  assert_int_equal(net_pdata_next(pdu, sizeof pdu, &pos, &pdv, &err), SI_ERR_FORMAT);
  uint8_t empty[6] = {NET_PDU_DATA_TF, 0, 0, 0, 0, 0};
  pos = NET_PDU_HEADER;
  assert_int_equal(net_pdata_next(empty, 6, &pos, &pdv, &err), SI_ERR_FORMAT);
  /* The encoder's header agrees with the decoder. */
  uint8_t hdr[12 + 4];
  net_encode_pdata_header(7, 0, 1, 4, hdr);
  memcpy(hdr + 12, "wxyz", 4);
  pos = NET_PDU_HEADER;
  assert_int_equal(net_pdata_next(hdr, sizeof hdr, &pos, &pdv, &err), SI_OK);
  assert_int_equal(pdv.pc_id, 7);
  assert_true(!pdv.command && pdv.last && pdv.len == 4);
}

static void test_command_sets(void **state) {
  (void)state;
  net_cmd in = {.has = NET_CMD_SOP_CLASS | NET_CMD_MESSAGE_ID | NET_CMD_PRIORITY |
                       NET_CMD_SOP_INSTANCE | NET_CMD_MOVE_AE,
                .field = NET_C_STORE_RQ,
                .message_id = 513,
                .data_set_type = 0};
  strcpy(in.sop_class, "1.2.840.10008.5.1.4.1.1.2");
  strcpy(in.sop_instance, "1.2.3.45"); /* odd: padded with NUL */
  strcpy(in.move_ae, "MOVER");         /* odd: padded with a space */
  uint8_t *buf;
  size_t len;
  si_error err;
  assert_int_equal(net_cmd_encode(&in, &buf, &len, &err), SI_OK);
  assert_int_equal(len % 2, 0);
  net_cmd out;
  assert_int_equal(net_cmd_decode(buf, len, &out, &err), SI_OK);
  assert_int_equal(out.field, NET_C_STORE_RQ);
  assert_int_equal(out.message_id, 513);
  assert_int_equal(out.data_set_type, 0);
  assert_string_equal(out.sop_instance, "1.2.3.45");
  assert_string_equal(out.move_ae, "MOVER");
  assert_true(out.has & NET_CMD_DATA_SET_TYPE);
  /* Every cut fails or is a shorter valid command set, never reads past. */
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, buf, cut);
    si_status st = net_cmd_decode(copy, cut, &out, &err);
    if (st != SI_OK)
      assert_true(err.message[0] != '\0');
    free(copy);
  }
  /* A US of 4 bytes, another group, a missing CommandField. */
  uint8_t us4[] = {0, 0, 0, 1, 4, 0, 0, 0, 1, 0, 0, 0};
  assert_int_equal(net_cmd_decode(us4, sizeof us4, &out, &err), SI_ERR_FORMAT);
  uint8_t other[] = {8, 0, 0x16, 0, 2, 0, 0, 0, '1', 0};
  assert_int_equal(net_cmd_decode(other, sizeof other, &out, &err), SI_ERR_FORMAT);
  uint8_t none[] = {0, 0, 0x10, 1, 2, 0, 0, 0, 1, 0};
  assert_int_equal(net_cmd_decode(none, sizeof none, &out, &err), SI_ERR_FORMAT);
  assert_non_null(strstr(err.message, "CommandField"));
  /* Text ends at a NUL, then loses its padding (found by fuzz_pdu: a NUL
   * after spaces left the spaces, which a second round trip dropped). */
  uint8_t nul[] = {0, 0, 0, 1, 2, 0,   0,   0,   1,   0,   0, 0,   2,
                   0, 8, 0, 0, 0, '1', '.', '2', ' ', ' ', 0, '.', '3'};
  assert_int_equal(net_cmd_decode(nul, sizeof nul, &out, &err), SI_OK);
  assert_string_equal(out.sop_class, "1.2");
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_assoc_round_trip), cmocka_unit_test(test_assoc_every_cut),
      cmocka_unit_test(test_assoc_lies),       cmocka_unit_test(test_assoc_too_many_contexts),
      cmocka_unit_test(test_fixed_pdus),       cmocka_unit_test(test_pdata),
      cmocka_unit_test(test_command_sets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
