/* Pseudonyms derived from the site's key (sendit/deid_ids.h): what
 * `sendit deid` uses when no identifier file is given. Deterministic and
 * stateless, so two runs, or two hosts with the key, agree; without the
 * key a code cannot be linked to its patient (a keyed hash, not a plain
 * one that could be tested against guessed ids). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/deid.h"
#include "sendit/deid_ids.h"

typedef struct keyed_ids {
  si_deid_ids base;
  uint8_t key[SI_DEID_KEY_BYTES];
} keyed_ids;

/* 8 bytes of the keyed hash of domain + NUL + id. */
static void hash(const keyed_ids *k, const char *domain, const char *id, uint8_t out[8]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, k->key, sizeof k->key, 8);
  crypto_generichash_update(&st, (const unsigned char *)domain, strlen(domain) + 1);
  crypto_generichash_update(&st, (const unsigned char *)id, strlen(id));
  crypto_generichash_final(&st, out, 8);
}

/* prefix + 10 base32 characters (RFC 4648 alphabet) of 50 hash bits. */
static char *code(const keyed_ids *k, char prefix, const char *domain, const char *id) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  uint8_t h[8];
  hash(k, domain, id, h);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | h[i];
  char *out = malloc(12);
  if (!out)
    return NULL;
  out[0] = prefix;
  for (int i = 0; i < 10; i++)
    out[1 + i] = alphabet[(v >> (59 - 5 * i)) & 31];
  out[11] = 0;
  return out;
}

static si_status lookup(si_deid_ids *ids, const si_deid_ids_request *req, si_deid_ids_answer *out,
                        si_error *err) {
  const keyed_ids *k = (const keyed_ids *)ids;
  const char *entity = req->entity_id ? req->entity_id : "";
  out->entity_code = code(k, 'P', "patient", entity);
  uint8_t h[8];
  hash(k, "day-shift", entity, h);
  uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  out->day_shift = -(int32_t)(1 + v % 365);
  out->item_codes = calloc(req->item_count ? req->item_count : 1, sizeof *out->item_codes);
  if (!out->entity_code || !out->item_codes)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  for (size_t i = 0; i < req->item_count; i++) {
    out->item_codes[i] = code(k, 'S', "study", req->item_ids[i] ? req->item_ids[i] : "");
    out->item_count = i + 1;
    if (!out->item_codes[i])
      return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  return SI_OK;
}

static void keyed_free(si_deid_ids *ids) {
  keyed_ids *k = (keyed_ids *)ids;
  sodium_memzero(k->key, sizeof k->key);
  free(k);
}

static const si_deid_ids_ops ops = {"keyed", lookup, keyed_free};

si_status si_deid_ids_keyed_new(const uint8_t key[32], si_deid_ids **out, si_error *err) {
  *out = NULL;
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "libsodium cannot initialise");
  keyed_ids *k = calloc(1, sizeof *k);
  if (!k)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  k->base.ops = &ops;
  memcpy(k->key, key, sizeof k->key);
  *out = &k->base;
  return SI_OK;
}
