/* libFuzzer harness for the identifier service's answer parser
 * (lib/deid/ids_answer.c): any bytes, read as the answer to a fixed request
 * for one patient and two studies. The parser must never crash, leak or
 * read out of bounds, and when it accepts an answer its results must obey
 * the contract: codes of 1 to 64 characters of A-Z a-z 0-9 . _ -, and a
 * day shift within the limit. Also drives the timestamp reader on the
 * input as text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deid/ids_answer.h"
#include "sendit/deid_ids_local.h"

static int well_formed(const char *code) {
  size_t n = strlen(code);
  if (n == 0 || n > SI_IDS_CODE_LEN)
    return 0;
  return strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const items[] = {"1.2.840.10008.1", "1.2.840.10008.2", "1.2.840.10008.1"};
  static const size_t which[] = {0, 1, 2};
  si_deid_ids_request req = {
      .entity_id = "12345678", .entity_source = "PatientID", .item_ids = items, .item_count = 3};
  char entity[SI_DEID_CODE_MAX];
  char codes[3][SI_DEID_CODE_MAX];
  int32_t shift = 0;
  si_error err;
  if (si_ids_json_parse((const char *)data, size, &req, which, 3, entity, &shift, codes, &err) ==
      SI_OK) {
    if (!well_formed(entity) || !well_formed(codes[0]) || !well_formed(codes[1]) ||
        strcmp(codes[0], codes[2]) != 0 || shift < -SI_DEID_SHIFT_LIMIT ||
        shift > SI_DEID_SHIFT_LIMIT)
      abort();
  }
  char *text = malloc(size + 1);
  if (text) {
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t seconds;
    si_ids_timestamp(text, &seconds);
    free(text);
  }
  return 0;
}
