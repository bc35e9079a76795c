/* See sigv4.h. The steps follow AWS's "Signature Version 4 signing
 * process" (canonical request, string to sign, signing key, signature);
 * the hashes are libsodium's. */
#include "deliver/sigv4.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/sigv4_buf.h"

void si_sigv4_hex(const uint8_t *bytes, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

void si_sigv4_sha256_hex(const void *data, size_t size, char out[65]) {
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, data, size);
  si_sigv4_hex(h, sizeof h, out);
}

void si_sigv4_amz_date(time_t t, char out[17]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int unreserved(unsigned char c) {
  /* Spelled out: isalnum would follow the locale. */
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static void encode_into(si_sbuf *b, const char *s, int keep_slash) {
  static const char digits[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (unreserved(*p) || (keep_slash && *p == '/')) {
      si_sbuf_addc(b, (char)*p);
    } else {
      char esc[3] = {'%', digits[*p >> 4], digits[*p & 15]};
      si_sbuf_add(b, esc, 3);
    }
  }
}

char *si_sigv4_uri_encode(const char *s, int keep_slash) {
  si_sbuf b = {0};
  encode_into(&b, s ? s : "", keep_slash);
  return si_sbuf_take(&b);
}

typedef struct enc_pair {
  char *name, *value;
  size_t order; /* input position: keeps repeated headers in the caller's order */
} enc_pair;

static int by_name_value(const void *a, const void *b) {
  const enc_pair *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->value, y->value);
}

static int by_name_order(const void *a, const void *b) {
  const enc_pair *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

static void free_pairs(enc_pair *p, size_t n) {
  for (size_t i = 0; p && i < n; i++) {
    free(p[i].name);
    free(p[i].value);
  }
  free(p);
}

char *si_sigv4_query(const si_sigv4_pair *query, size_t count) {
  enc_pair *p = calloc(count ? count : 1, sizeof *p);
  if (!p)
    return NULL;
  for (size_t i = 0; i < count; i++) {
    p[i].name = si_sigv4_uri_encode(query[i].name, 0);
    p[i].value = si_sigv4_uri_encode(query[i].value ? query[i].value : "", 0);
    if (!p[i].name || !p[i].value) {
      free_pairs(p, count);
      return NULL;
    }
  }
  /* Sorted on the encoded names (then values), byte by byte, as the
   * canonical query string requires. */
  qsort(p, count, sizeof *p, by_name_value);
  si_sbuf b = {0};
  si_sbuf_adds(&b, "");
  for (size_t i = 0; i < count; i++) {
    if (i)
      si_sbuf_addc(&b, '&');
    si_sbuf_adds(&b, p[i].name);
    si_sbuf_addc(&b, '=');
    si_sbuf_adds(&b, p[i].value);
  }
  free_pairs(p, count);
  return si_sbuf_take(&b);
}

/* The value trimmed, with each inner run of spaces (and tabs) as one space. */
static char *fold_value(const char *v) {
  si_sbuf b = {0};
  si_sbuf_adds(&b, "");
  while (*v == ' ' || *v == '\t')
    v++;
  int space = 0;
  for (; *v; v++) {
    if (*v == ' ' || *v == '\t') {
      space = 1;
      continue;
    }
    if (space)
      si_sbuf_addc(&b, ' ');
    space = 0;
    si_sbuf_addc(&b, *v);
  }
  return si_sbuf_take(&b);
}

static char *lower(const char *s) {
  char *l = strdup(s);
  for (char *p = l; p && *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return l;
}

si_status si_sigv4_canonical(const si_sigv4_request *req, char **canonical, char **signed_headers,
                             si_error *err) {
  *canonical = *signed_headers = NULL;
  if (!req || !req->method || !req->path || !req->payload_hash)
    return si_error_set(err, SI_ERR_ARG, "sigv4", SI_NO_OFFSET, SI_NO_TAG,
                        "a request needs a method, a path and a payload hash");
  size_t n = req->header_count;
  enc_pair *h = calloc(n ? n : 1, sizeof *h);
  if (!h)
    return si_error_set(err, SI_ERR_NOMEM, "sigv4", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  for (size_t i = 0; i < n; i++) {
    const si_sigv4_pair *in = &req->headers[i];
    if (!in->name || !in->name[0] || !in->value) {
      free_pairs(h, n);
      return si_error_set(err, SI_ERR_ARG, "sigv4", SI_NO_OFFSET, SI_NO_TAG,
                          "header %zu has no name or no value", i);
    }
    h[i].name = lower(in->name);
    h[i].value = fold_value(in->value);
    h[i].order = i;
    if (!h[i].name || !h[i].value) {
      free_pairs(h, n);
      return si_error_set(err, SI_ERR_NOMEM, "sigv4", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    }
  }
  qsort(h, n, sizeof *h, by_name_order);

  si_sbuf c = {0}, s = {0};
  si_sbuf_adds(&c, req->method);
  si_sbuf_addc(&c, '\n');
  encode_into(&c, req->path[0] ? req->path : "/", 1);
  si_sbuf_addc(&c, '\n');
  char *q = si_sigv4_query(req->query, req->query_count);
  if (!q)
    c.oom = 1;
  else
    si_sbuf_adds(&c, q);
  free(q);
  si_sbuf_addc(&c, '\n');
  si_sbuf_adds(&s, "");
  for (size_t i = 0; i < n; i++) {
    int repeat = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
    if (repeat) {
      si_sbuf_addc(&c, ',');
    } else {
      if (i) {
        si_sbuf_addc(&c, '\n');
        si_sbuf_addc(&s, ';');
      }
      si_sbuf_adds(&c, h[i].name);
      si_sbuf_addc(&c, ':');
      si_sbuf_adds(&s, h[i].name);
    }
    si_sbuf_adds(&c, h[i].value);
  }
  si_sbuf_adds(&c, n ? "\n\n" : "\n");
  si_sbuf_adds(&c, s.p ? s.p : "");
  si_sbuf_addc(&c, '\n');
  si_sbuf_adds(&c, req->payload_hash);
  free_pairs(h, n);
  *canonical = si_sbuf_take(&c);
  *signed_headers = si_sbuf_take(&s);
  if (!*canonical || !*signed_headers) {
    free(*canonical);
    free(*signed_headers);
    *canonical = *signed_headers = NULL;
    return si_error_set(err, SI_ERR_NOMEM, "sigv4", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  return SI_OK;
}

char *si_sigv4_string_to_sign(const char *amz_date, const si_sigv4_credentials *cred,
                              const char *canonical) {
  char hash[65];
  si_sigv4_sha256_hex(canonical, strlen(canonical), hash);
  si_sbuf b = {0};
  si_sbuf_adds(&b, "AWS4-HMAC-SHA256\n");
  si_sbuf_adds(&b, amz_date);
  si_sbuf_addc(&b, '\n');
  si_sbuf_add(&b, amz_date, strnlen(amz_date, 8));
  si_sbuf_addc(&b, '/');
  si_sbuf_adds(&b, cred->region);
  si_sbuf_addc(&b, '/');
  si_sbuf_adds(&b, cred->service);
  si_sbuf_adds(&b, "/aws4_request\n");
  si_sbuf_adds(&b, hash);
  return si_sbuf_take(&b);
}

static void hmac(const uint8_t *key, size_t key_len, const char *msg, uint8_t out[32]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, key_len);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

void si_sigv4_signing_key(const si_sigv4_credentials *cred, const char *date8, uint8_t key[32]) {
  size_t secret_len = strlen(cred->secret_key);
  uint8_t *k0 = malloc(secret_len + 4);
  uint8_t k[32];
  char date[9];
  snprintf(date, sizeof date, "%.8s", date8);
  if (!k0) {
    /* Out of memory: a key that signs nothing valid; the store refuses. */
    memset(key, 0, 32);
    return;
  }
  memcpy(k0, "AWS4", 4);
  memcpy(k0 + 4, cred->secret_key, secret_len);
  hmac(k0, secret_len + 4, date, k);
  sodium_memzero(k0, secret_len + 4);
  free(k0);
  hmac(k, 32, cred->region, k);
  hmac(k, 32, cred->service, k);
  hmac(k, 32, "aws4_request", key);
  sodium_memzero(k, sizeof k);
}

si_status si_sigv4_sign(const si_sigv4_request *req, const si_sigv4_credentials *cred,
                        const char *amz_date, char **authorization, char signature[65],
                        si_error *err) {
  *authorization = NULL;
  if (!cred || !cred->access_key || !cred->secret_key || !cred->region || !cred->service ||
      !amz_date || strlen(amz_date) != 16)
    return si_error_set(err, SI_ERR_ARG, "sigv4", SI_NO_OFFSET, SI_NO_TAG,
                        "signing needs an access key, a secret, a region, a service and a date");
  char *canonical, *signed_headers;
  si_status rc = si_sigv4_canonical(req, &canonical, &signed_headers, err);
  if (rc != SI_OK)
    return rc;
  char *sts = si_sigv4_string_to_sign(amz_date, cred, canonical);
  free(canonical);
  if (!sts) {
    free(signed_headers);
    return si_error_set(err, SI_ERR_NOMEM, "sigv4", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  uint8_t key[32], mac[32];
  si_sigv4_signing_key(cred, amz_date, key);
  hmac(key, sizeof key, sts, mac);
  sodium_memzero(key, sizeof key);
  free(sts);
  char hex[65];
  si_sigv4_hex(mac, sizeof mac, hex);
  if (signature)
    memcpy(signature, hex, 65);
  si_sbuf b = {0};
  si_sbuf_adds(&b, "AWS4-HMAC-SHA256 Credential=");
  si_sbuf_adds(&b, cred->access_key);
  si_sbuf_addc(&b, '/');
  si_sbuf_add(&b, amz_date, 8);
  si_sbuf_addc(&b, '/');
  si_sbuf_adds(&b, cred->region);
  si_sbuf_addc(&b, '/');
  si_sbuf_adds(&b, cred->service);
  si_sbuf_adds(&b, "/aws4_request, SignedHeaders=");
  si_sbuf_adds(&b, signed_headers);
  si_sbuf_adds(&b, ", Signature=");
  si_sbuf_adds(&b, hex);
  free(signed_headers);
  *authorization = si_sbuf_take(&b);
  if (!*authorization)
    return si_error_set(err, SI_ERR_NOMEM, "sigv4", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  return SI_OK;
}
