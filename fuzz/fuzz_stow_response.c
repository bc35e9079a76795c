/* libFuzzer harness for the STOW-RS answer parser
 * (lib/deliver/stow_response.c): any bytes, read as the answer to a
 * request for five instances (two with the same UID), the HTTP status
 * taken from the first byte. The parser must never crash, leak or read out
 * of bounds, and when it accepts an answer every instance has one outcome
 * that obeys the contract: an answer text, sent only when not retryable,
 * and sent only when the instance's UID is in the bytes at all (nothing
 * is confirmed that the answer does not name). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/stow_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const uids[] = {"1.2.3.1", "1.2.3.2", "1.2.840.10008.99", "1.2.3.1", "9"};
  static const long statuses[] = {200, 202, 409, 400, 415, 299, 404, 201};
  enum { N = sizeof uids / sizeof uids[0] };
  long status = size ? statuses[data[0] % 8] : 200;
  const char *body = size ? (const char *)data + 1 : "";
  size_t len = size ? size - 1 : 0;
  si_stow_outcome out[N];
  memset(out, 0x5A, sizeof out);
  si_error err;
  if (si_stow_response_parse(body, len, status, uids, N, out, &err) != SI_OK)
    return 0;
  for (size_t i = 0; i < N; i++) {
    size_t n = strnlen(out[i].answer, sizeof out[i].answer);
    if (n == 0 || n == sizeof out[i].answer || (out[i].sent != 0 && out[i].sent != 1) ||
        (out[i].retryable != 0 && out[i].retryable != 1) || (out[i].sent && out[i].retryable))
      abort();
    if (out[i].sent && !memmem(body, len, uids[i], strlen(uids[i])))
      abort();
  }
  if (out[0].sent != out[3].sent || strcmp(out[0].answer, out[3].answer) != 0)
    abort();
  return 0;
}
