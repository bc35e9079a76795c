/* AWS Signature Version 4 (header-based): the canonical request, the
 * string to sign, the signing key and the Authorization header, for the s3
 * destination (lib/deliver/dest_s3.c). Internal to the library.
 *
 * The payload is always hashed (x-amz-content-sha256 carries the SHA-256
 * of the body; UNSIGNED-PAYLOAD is never used), so the store can reject a
 * body changed in flight.
 *
 * Ownership: every function writes into a buffer the caller owns or returns
 * a malloc'd string the caller frees; inputs are borrowed. No state. */
#ifndef SENDIT_DELIVER_SIGV4_H
#define SENDIT_DELIVER_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sendit/error.h"

/* A header or a query parameter, as the caller means it (not encoded). */
typedef struct si_sigv4_pair {
  const char *name, *value;
} si_sigv4_pair;

typedef struct si_sigv4_request {
  const char *method; /* "GET", "PUT", ... */
  const char *path;   /* the absolute path, not encoded ("/bucket/a b.dcm"); encoded here once */
  const si_sigv4_pair *query; /* not encoded; sorted and encoded here */
  size_t query_count;
  const si_sigv4_pair *headers; /* every header to sign, host and x-amz-date included */
  size_t header_count;
  const char *payload_hash; /* lowercase hex SHA-256 of the body */
} si_sigv4_request;

typedef struct si_sigv4_credentials {
  const char *access_key, *secret_key, *region, *service;
} si_sigv4_credentials;

/* The hex SHA-256 of the empty body. */
#define SI_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void si_sigv4_hex(const uint8_t *bytes, size_t n, char *out);
/* hex SHA-256 of data into out[65]. */
void si_sigv4_sha256_hex(const void *data, size_t size, char out[65]);
/* t as x-amz-date wants it, "20150830T123600Z", into out[17]. */
void si_sigv4_amz_date(time_t t, char out[17]);

/* URI-encodes s per SigV4 (every byte but A-Z a-z 0-9 - . _ ~ as %XX in
 * upper case; '/' kept when keep_slash). A malloc'd string, or NULL when
 * out of memory. */
char *si_sigv4_uri_encode(const char *s, int keep_slash);

/* The encoded, sorted query string (also what goes on the wire, so the two
 * never differ): malloc'd, "" for none; NULL when out of memory. */
char *si_sigv4_query(const si_sigv4_pair *query, size_t count);

/* The canonical request and the signed-header list (both malloc'd). Header
 * names are lowercased, values trimmed with inner runs of spaces folded to
 * one, repeated names joined with ','. SI_ERR_ARG for a header without a
 * name or a missing field; SI_ERR_NOMEM. */
si_status si_sigv4_canonical(const si_sigv4_request *req, char **canonical, char **signed_headers,
                             si_error *err);

/* "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical>",
 * malloc'd (NULL when out of memory); scope is
 * "<yyyymmdd>/<region>/<service>/aws4_request". */
char *si_sigv4_string_to_sign(const char *amz_date, const si_sigv4_credentials *cred,
                              const char *canonical);

/* HMAC chain "AWS4"+secret, date (yyyymmdd), region, service,
 * "aws4_request" into key[32]. */
void si_sigv4_signing_key(const si_sigv4_credentials *cred, const char *date8, uint8_t key[32]);

/* The whole signature: req signed at amz_date (the same value as its
 * x-amz-date header) with cred. *authorization gets the Authorization
 * header's value (malloc'd); signature[65] (may be NULL) the hex signature. */
si_status si_sigv4_sign(const si_sigv4_request *req, const si_sigv4_credentials *cred,
                        const char *amz_date, char **authorization, char signature[65],
                        si_error *err);

#endif
