/* The keyed UID remapping (sendit/deid.h): "2.25." + the decimal form of
 * 128 bits of keyed BLAKE2b over the original UID. A UUID-derived UID
 * (PS3.5 B.2) needs no registered root, and the keyed hash makes the mapping
 * the same on every host holding the key while nobody without it can map an
 * original UID to its replacement (a plain hash could be tested against
 * guessed UIDs). */
#include <sodium.h>
#include <string.h>

#include "sendit/deid.h"

#define HASH_BYTES 16

/* Decimal digits of the big-endian number in n[HASH_BYTES] into out
 * (at most 39 digits and a NUL), by repeated division by ten. */
static void to_decimal(uint8_t n[HASH_BYTES], char *out) {
  char rev[48];
  size_t len = 0;
  for (;;) {
    unsigned rem = 0;
    int nonzero = 0;
    for (size_t i = 0; i < HASH_BYTES; i++) {
      unsigned cur = rem << 8 | n[i];
      n[i] = (uint8_t)(cur / 10);
      rem = cur % 10;
      nonzero |= n[i] != 0;
    }
    rev[len++] = (char)('0' + rem);
    if (!nonzero)
      break;
  }
  for (size_t i = 0; i < len; i++)
    out[i] = rev[len - 1 - i];
  out[len] = 0;
}

void si_deid_uid_remap(const uint8_t key[SI_DEID_KEY_BYTES], const char *uid, size_t len,
                       char out[65]) {
  while (len && (uid[len - 1] == 0 || uid[len - 1] == ' '))
    len--;
  uint8_t h[HASH_BYTES];
  crypto_generichash(h, sizeof h, (const unsigned char *)uid, len, key, SI_DEID_KEY_BYTES);
  memcpy(out, "2.25.", 5);
  to_decimal(h, out + 5);
}
