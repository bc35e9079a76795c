/* libFuzzer harness for the network parsers: PDUs (A-ASSOCIATE-RQ/AC/RJ,
 * P-DATA-TF and its PDVs, A-RELEASE, A-ABORT) and DIMSE command sets.
 *
 * Each input is decoded as it is, and again as each PDU type with its
 * header's type and length made to agree with the bytes (so the fuzzer
 * reaches the items behind the header), and the bytes after a 6-byte
 * header are decoded as a command set. What decodes is encoded again and
 * must decode to the same values: the encoder and the decoder agree.
 * Aborts on an error without a message or a round trip that changes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/net/dimse.h" /* internal: the fuzzers see only include/ */
#include "../lib/net/pdu.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_pdu: broken invariant at %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static volatile uint8_t sink;

static void check_error(si_status st, const si_error *err) {
  if (st != SI_OK && st != SI_ERR_NOT_FOUND)
    CHECK(err->message[0] != '\0');
}

static void same_assoc(const net_assoc_pdu *a, const net_assoc_pdu *b, uint8_t type) {
  CHECK(strcmp(a->called_ae, b->called_ae) == 0);
  CHECK(strcmp(a->calling_ae, b->calling_ae) == 0);
  CHECK(strcmp(a->app_context, b->app_context) == 0);
  CHECK(a->pc_count == b->pc_count);
  CHECK(a->max_pdu == b->max_pdu);
  CHECK(strcmp(a->impl_class_uid, b->impl_class_uid) == 0);
  CHECK(strcmp(a->impl_version, b->impl_version) == 0);
  if (type == NET_PDU_ASSOCIATE_RQ && a->user_type >= NET_USER_USERNAME &&
      a->user_type <= NET_USER_PASSCODE) {
    CHECK(b->user_type == a->user_type);
    CHECK(b->user_response_requested == a->user_response_requested);
    CHECK(b->username_len == a->username_len && b->passcode_len == a->passcode_len);
    CHECK(memcmp(a->username, b->username, a->username_len) == 0);
    CHECK(memcmp(a->passcode, b->passcode, a->passcode_len) == 0);
  } else if (type == NET_PDU_ASSOCIATE_RQ) {
    CHECK(b->user_type == 0); /* types 3-5 are recorded, not sent on */
  } else {
    CHECK(a->user_response == b->user_response);
  }
  CHECK(a->username_len <= NET_MAX_USER_FIELD && a->passcode_len <= NET_MAX_USER_FIELD);
  for (size_t i = 0; i < a->pc_count; i++) {
    CHECK(a->pc[i].id == b->pc[i].id);
    if (type == NET_PDU_ASSOCIATE_RQ) {
      CHECK(strcmp(a->pc[i].abstract_syntax, b->pc[i].abstract_syntax) == 0);
      CHECK(a->pc[i].ts_count == b->pc[i].ts_count);
      for (size_t t = 0; t < a->pc[i].ts_count; t++)
        CHECK(strcmp(a->pc[i].ts[t], b->pc[i].ts[t]) == 0);
    } else {
      CHECK(a->pc[i].result == b->pc[i].result);
      if (a->pc[i].result == NET_PC_ACCEPT)
        CHECK(strcmp(a->pc[i].ts[0], b->pc[i].ts[0]) == 0);
    }
  }
}

static void fuzz_assoc(const uint8_t *buf, size_t len) {
  static net_assoc_pdu a, b;
  si_error err;
  si_status st = net_decode_assoc(buf, len, &a, &err);
  check_error(st, &err);
  if (st != SI_OK)
    return;
  /* The decoder accepted a version field of any value, and titles that may
   * be empty: the encoder writes version 1 and pads; the rest must agree. */
  uint8_t *out;
  size_t out_len;
  CHECK(net_encode_assoc(buf[0], &a, &out, &out_len, &err) == SI_OK);
  st = net_decode_assoc(out, out_len, &b, &err);
  if (st != SI_OK) /* only an empty application context cannot come back */
    CHECK(a.app_context[0] == '\0');
  else
    same_assoc(&a, &b, buf[0]);
  free(out);
}

static void fuzz_pdata(const uint8_t *buf, size_t len) {
  size_t pos = NET_PDU_HEADER;
  net_pdv pdv;
  si_error err;
  si_status st;
  uint8_t acc = 0;
  while ((st = net_pdata_next(buf, len, &pos, &pdv, &err)) == SI_OK) {
    CHECK(pdv.data >= buf && pdv.data + pdv.len <= buf + len);
    for (size_t i = 0; i < pdv.len; i++)
      acc ^= pdv.data[i];
  }
  sink ^= acc;
  check_error(st, &err);
}

static void fuzz_command(const uint8_t *buf, size_t len) {
  net_cmd a, b;
  si_error err;
  si_status st = net_cmd_decode(buf, len, &a, &err);
  check_error(st, &err);
  if (st != SI_OK)
    return;
  uint8_t *out;
  size_t out_len;
  CHECK(net_cmd_encode(&a, &out, &out_len, &err) == SI_OK);
  CHECK(net_cmd_decode(out, out_len, &b, &err) == SI_OK);
  CHECK(a.field == b.field && a.message_id == b.message_id && a.status == b.status);
  CHECK(strcmp(a.sop_class, b.sop_class) == 0 && strcmp(a.sop_instance, b.sop_instance) == 0);
  CHECK(strcmp(a.move_ae, b.move_ae) == 0 && strcmp(a.error_comment, b.error_comment) == 0);
  free(out);
}

static void fuzz_fixed(const uint8_t *buf, size_t len) {
  si_error err;
  net_reject rj;
  uint8_t s, r;
  check_error(net_decode_reject(buf, len, &rj, &err), &err);
  check_error(net_decode_abort(buf, len, &s, &r, &err), &err);
  check_error(net_decode_release(buf, len, &err), &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* As it is: whatever type and length the header says. */
  if (size > 0) {
    if (data[0] == NET_PDU_ASSOCIATE_RQ || data[0] == NET_PDU_ASSOCIATE_AC)
      fuzz_assoc(data, size);
    if (data[0] == NET_PDU_DATA_TF)
      fuzz_pdata(data, size);
    fuzz_fixed(data, size);
  }
  if (size < NET_PDU_HEADER || size > NET_MAX_ASSOC_PDU)
    return 0;
  fuzz_command(data + NET_PDU_HEADER, size - NET_PDU_HEADER);
  /* Each type with a header that agrees with the bytes. */
  uint8_t *copy = malloc(size);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  uint32_t body = (uint32_t)(size - NET_PDU_HEADER);
  copy[2] = (uint8_t)(body >> 24);
  copy[3] = (uint8_t)(body >> 16);
  copy[4] = (uint8_t)(body >> 8);
  copy[5] = (uint8_t)body;
  static const uint8_t types[] = {NET_PDU_ASSOCIATE_RQ, NET_PDU_ASSOCIATE_AC, NET_PDU_DATA_TF};
  for (size_t i = 0; i < sizeof types; i++) {
    copy[0] = types[i];
    if (types[i] == NET_PDU_DATA_TF)
      fuzz_pdata(copy, size);
    else
      fuzz_assoc(copy, size);
  }
  free(copy);
  return 0;
}
