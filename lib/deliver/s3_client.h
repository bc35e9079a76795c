/* A minimal S3 client over libcurl (lib/util/curl_dl.h) for the s3
 * destination: signed (SigV4, payload hashed) requests to one bucket,
 * path-style (http://host:port/bucket/key) or virtual-host style
 * (http://bucket.host:port/key). Internal to lib/deliver.
 *
 * Ownership: si_s3 owns its curl handle and copies of the options; one
 * si_s3 is used by one thread at a time (each delivery opens its own). A
 * reply owns its body (si_s3_reply_free). */
#ifndef SENDIT_DELIVER_S3_CLIENT_H
#define SENDIT_DELIVER_S3_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "deliver/sigv4.h"
#include "sendit/error.h"

typedef struct si_s3_options {
  const char *endpoint; /* http://host[:port] or https://...; no path */
  const char *bucket, *region, *access_key, *secret_key;
  const char *ca_file;  /* NULL or "": the system's */
  int path_style;       /* 1: /bucket/key; 0: bucket.host/key */
  long timeout_seconds; /* per request, 0: none */
} si_s3_options;

typedef struct si_s3 si_s3;

/* What a request sends: nothing, bytes in memory, or a range of a file. */
typedef struct si_s3_body {
  const void *data; /* memory body (fd < 0) */
  size_t size;
  int fd; /* >= 0: a file body of `length` bytes from `offset` */
  int64_t offset, length;
  const char *sha256_hex;   /* the body's SHA-256 (NULL: the empty body's) */
  const uint8_t *md5;       /* the body's MD5 for Content-MD5; NULL: no header */
  const char *content_type; /* NULL: none */
} si_s3_body;

typedef struct si_s3_reply {
  long status;    /* HTTP status; 0 when no answer came */
  char etag[128]; /* the ETag header, without its quotes */
  int64_t length; /* Content-Length, -1 when absent */
  char *body;     /* the answer's body (NUL-terminated), NULL when none */
  size_t body_size;
  char code[64], message[256]; /* an error answer's <Code> and <Message>, "" when none */
  char transport[256];         /* why no answer came (status 0) */
} si_s3_reply;

/* Checks the options (the endpoint's scheme and form) and makes a client.
 * SI_ERR_CONFIG for a bad endpoint, SI_ERR_UNSUPPORTED when libcurl
 * cannot be loaded, SI_ERR_NOMEM. */
si_status si_s3_open(const si_s3_options *opt, si_s3 **out, si_error *err);
void si_s3_close(si_s3 *s3);

/* Checks that endpoint is "http(s)://authority" with at most a trailing
 * '/': 1 when it is, with problem[size] saying why not otherwise. */
int si_s3_endpoint_ok(const char *endpoint, char *problem, size_t size);

/* One request: method on key ("" for the bucket itself) with query
 * parameters (not encoded) and body. SI_OK whenever the store answered,
 * whatever the status (see reply); SI_ERR_IO when it could not be reached
 * (reply->transport says why). At most max_body bytes of the answer are
 * kept (0: 1 MiB); a longer answer is SI_ERR_LIMIT. */
si_status si_s3_request(si_s3 *s3, const char *method, const char *key, const si_sigv4_pair *query,
                        size_t query_count, const si_s3_body *body, size_t max_body,
                        si_s3_reply *reply, si_error *err);

/* The bucket's name, as configured. */
const char *si_s3_bucket(const si_s3 *s3);

/* "HTTP 403 AccessDenied: Access Denied" (or the transport's reason) into
 * buf[size]; returns buf. */
char *si_s3_reply_describe(const si_s3_reply *reply, char *buf, size_t size);
void si_s3_reply_free(si_s3_reply *reply);

#endif
