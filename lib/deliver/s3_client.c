/* See s3_client.h. Every request is signed with the SHA-256 of its body
 * and sends the Host header it signed (not curl's), so what the store
 * checks is exactly what was signed. One curl handle per client keeps the
 * connection open across a batch's requests. */
#include "deliver/s3_client.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "deliver/s3_xml.h"
#include "deliver/sigv4_buf.h"
#include "util/curl_dl.h"

struct si_s3 {
  const si_curl_api *api;
  CURL *curl;
  char *scheme;    /* "http" or "https" */
  char *authority; /* host[:port] */
  char *bucket, *region, *access_key, *secret_key, *ca_file;
  int path_style;
  long timeout_seconds;
};

int si_s3_endpoint_ok(const char *endpoint, char *problem, size_t size) {
  const char *rest = NULL;
  if (endpoint && strncmp(endpoint, "http://", 7) == 0)
    rest = endpoint + 7;
  else if (endpoint && strncmp(endpoint, "https://", 8) == 0)
    rest = endpoint + 8;
  if (!rest) {
    snprintf(problem, size, "endpoint must start with http:// or https://");
    return 0;
  }
  size_t host_len = strcspn(rest, "/?#");
  if (host_len == 0 || strcspn(rest, "@ \t") < host_len) {
    snprintf(problem, size, "endpoint needs a host (and no user part)");
    return 0;
  }
  if (rest[host_len] && strcmp(rest + host_len, "/") != 0) {
    snprintf(problem, size, "endpoint takes no path (the bucket is its own key)");
    return 0;
  }
  return 1;
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

si_status si_s3_open(const si_s3_options *opt, si_s3 **out, si_error *err) {
  *out = NULL;
  char problem[512];
  if (!si_s3_endpoint_ok(opt->endpoint, problem, sizeof problem))
    return si_error_set(err, SI_ERR_CONFIG, opt->endpoint ? opt->endpoint : "", SI_NO_OFFSET,
                        SI_NO_TAG, "%s", problem);
  /* libsodium's hashes (SigV4, the payload's SHA-256) want it initialised;
   * sodium_init is idempotent and thread-safe. */
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_UNSUPPORTED, "libsodium", SI_NO_OFFSET, SI_NO_TAG,
                        "sodium_init failed");
  const si_curl_api *api = si_curl(problem, sizeof problem);
  if (!api)
    return si_error_set(err, SI_ERR_UNSUPPORTED, "libcurl", SI_NO_OFFSET, SI_NO_TAG,
                        "cannot load libcurl: %s", problem);
  si_s3 *s3 = calloc(1, sizeof *s3);
  if (!s3)
    return si_error_set(err, SI_ERR_NOMEM, "s3", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  const char *rest = strstr(opt->endpoint, "://") + 3;
  s3->api = api;
  s3->scheme = strndup(opt->endpoint, (size_t)(rest - 3 - opt->endpoint));
  s3->authority = strndup(rest, strcspn(rest, "/"));
  s3->bucket = dup_or_empty(opt->bucket);
  s3->region = dup_or_empty(opt->region);
  s3->access_key = dup_or_empty(opt->access_key);
  s3->secret_key = dup_or_empty(opt->secret_key);
  s3->ca_file = dup_or_empty(opt->ca_file);
  s3->path_style = opt->path_style;
  s3->timeout_seconds = opt->timeout_seconds;
  s3->curl = api->curl_easy_init();
  if (!s3->scheme || !s3->authority || !s3->bucket || !s3->region || !s3->access_key ||
      !s3->secret_key || !s3->ca_file || !s3->curl) {
    si_s3_close(s3);
    return si_error_set(err, SI_ERR_NOMEM, "s3", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  *out = s3;
  return SI_OK;
}

void si_s3_close(si_s3 *s3) {
  if (!s3)
    return;
  if (s3->curl)
    s3->api->curl_easy_cleanup(s3->curl);
  free(s3->scheme);
  free(s3->authority);
  free(s3->bucket);
  free(s3->region);
  free(s3->access_key);
  if (s3->secret_key) {
    memset(s3->secret_key, 0, strlen(s3->secret_key));
    free(s3->secret_key);
  }
  free(s3->ca_file);
  free(s3);
}

const char *si_s3_bucket(const si_s3 *s3) { return s3->bucket; }

void si_s3_reply_free(si_s3_reply *reply) {
  if (!reply)
    return;
  free(reply->body);
  reply->body = NULL;
  reply->body_size = 0;
}

char *si_s3_reply_describe(const si_s3_reply *r, char *buf, size_t size) {
  if (r->status == 0)
    snprintf(buf, size, "no answer: %s", r->transport);
  else if (r->code[0])
    snprintf(buf, size, "HTTP %ld %s: %s", r->status, r->code, r->message);
  else
    snprintf(buf, size, "HTTP %ld", r->status);
  return buf;
}

/* The answer as it comes in. */
typedef struct sink {
  si_s3_reply *reply;
  si_sbuf body;
  size_t max;
  int too_long;
} sink;

static size_t on_body(char *data, size_t one, size_t n, void *user) {
  sink *s = user;
  size_t len = one * n;
  if (s->body.len + len > s->max) {
    s->too_long = 1;
    return 0; /* stops the transfer: an answer this long is not one we asked for */
  }
  si_sbuf_add(&s->body, data, len);
  return s->body.oom ? 0 : len;
}

/* The value of header line data[len] named name (case-insensitive), trimmed,
 * into out[size]; 0 when it is another header. */
static int header_value(const char *data, size_t len, const char *name, char *out, size_t size) {
  size_t name_len = strlen(name);
  if (len <= name_len || strncasecmp(data, name, name_len) != 0 || data[name_len] != ':')
    return 0;
  const char *v = data + name_len + 1, *end = data + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
    end--;
  size_t n = (size_t)(end - v);
  if (n >= size)
    n = size - 1;
  memcpy(out, v, n);
  out[n] = '\0';
  return 1;
}

static size_t on_header(char *data, size_t one, size_t n, void *user) {
  sink *s = user;
  size_t len = one * n;
  char value[128];
  if (header_value(data, len, "ETag", value, sizeof value)) {
    /* Quotes dropped (and an odd W/ prefix): the ETag is compared as hex. */
    const char *v = value;
    if (strncmp(v, "W/", 2) == 0)
      v += 2;
    size_t vl = strlen(v);
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
      v++;
      vl -= 2;
    }
    snprintf(s->reply->etag, sizeof s->reply->etag, "%.*s", (int)vl, v);
  } else if (header_value(data, len, "Content-Length", value, sizeof value)) {
    char *end;
    long long l = strtoll(value, &end, 10);
    s->reply->length = (end != value && *end == '\0' && l >= 0) ? (int64_t)l : -1;
  }
  return len;
}

/* A file body read with pread, so several ranges of one file never share
 * a position. */
typedef struct source {
  int fd;
  int64_t offset, left;
  const char *data;
  size_t size, sent;
  int failed;
} source;

static size_t on_read(char *buf, size_t one, size_t n, void *user) {
  source *src = user;
  size_t want = one * n;
  if (src->fd < 0) {
    size_t left = src->size - src->sent;
    if (want > left)
      want = left;
    memcpy(buf, src->data + src->sent, want);
    src->sent += want;
    return want;
  }
  if ((int64_t)want > src->left)
    want = (size_t)src->left;
  if (want == 0)
    return 0;
  ssize_t got;
  do
    got = pread(src->fd, buf, want, (off_t)src->offset);
  while (got < 0 && errno == EINTR);
  if (got <= 0) {
    src->failed = 1;
    return CURL_READFUNC_ABORT;
  }
  src->offset += got;
  src->left -= got;
  return (size_t)got;
}

static int add_header(struct curl_slist **list, const si_curl_api *api, const char *name,
                      const char *value) {
  char *line = malloc(strlen(name) + strlen(value) + 3);
  if (!line)
    return 0;
  /* "Name:" with nothing after it makes curl drop a header it would add. */
  sprintf(line, value[0] ? "%s: %s" : "%s:", name, value);
  struct curl_slist *l = api->curl_slist_append(*list, line);
  free(line);
  if (!l)
    return 0;
  *list = l;
  return 1;
}

si_status si_s3_request(si_s3 *s3, const char *method, const char *key, const si_sigv4_pair *query,
                        size_t query_count, const si_s3_body *body, size_t max_body,
                        si_s3_reply *reply, si_error *err) {
  memset(reply, 0, sizeof *reply);
  reply->length = -1;
  const si_curl_api *api = s3->api;
  static const si_s3_body none = {.fd = -1};
  if (!body)
    body = &none;
  int64_t body_len = body->fd >= 0 ? body->length : (int64_t)body->size;
  sink sk = {.reply = reply, .max = max_body ? max_body : (size_t)1 << 20};
  source src = {.fd = body->fd,
                .offset = body->offset,
                .left = body->length,
                .data = body->data,
                .size = body->size};

  /* Where: path-style puts the bucket in the path, virtual-host style in
   * the host name. The path is signed as meant and sent encoded once. */
  si_sbuf host = {0}, path = {0};
  if (!s3->path_style) {
    si_sbuf_adds(&host, s3->bucket);
    si_sbuf_addc(&host, '.');
  }
  si_sbuf_adds(&host, s3->authority);
  si_sbuf_addc(&path, '/');
  if (s3->path_style) {
    si_sbuf_adds(&path, s3->bucket);
    if (key[0])
      si_sbuf_addc(&path, '/');
  }
  si_sbuf_adds(&path, key);
  char *host_s = si_sbuf_take(&host), *path_s = si_sbuf_take(&path);
  char *query_s = si_sigv4_query(query, query_count);
  char *enc_path = path_s ? si_sigv4_uri_encode(path_s, 1) : NULL;
  char amz_date[17], md5_b64[32] = "";
  si_sigv4_amz_date(time(NULL), amz_date);
  const char *sha = body->sha256_hex ? body->sha256_hex : SI_SIGV4_EMPTY_SHA256;
  si_sigv4_pair headers[6];
  size_t hn = 0;
  headers[hn++] = (si_sigv4_pair){"host", host_s ? host_s : ""};
  headers[hn++] = (si_sigv4_pair){"x-amz-content-sha256", sha};
  headers[hn++] = (si_sigv4_pair){"x-amz-date", amz_date};
  if (body->md5) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (int i = 0; i < 16; i += 3) {
      uint32_t v = (uint32_t)body->md5[i] << 16;
      if (i + 1 < 16)
        v |= (uint32_t)body->md5[i + 1] << 8;
      if (i + 2 < 16)
        v |= body->md5[i + 2];
      md5_b64[o++] = b64[v >> 18 & 63];
      md5_b64[o++] = b64[v >> 12 & 63];
      md5_b64[o++] = i + 1 < 16 ? b64[v >> 6 & 63] : '=';
      md5_b64[o++] = i + 2 < 16 ? b64[v & 63] : '=';
    }
    md5_b64[o] = '\0';
    headers[hn++] = (si_sigv4_pair){"content-md5", md5_b64};
  }
  if (body->content_type)
    headers[hn++] = (si_sigv4_pair){"content-type", body->content_type};
  si_sigv4_request req = {.method = method,
                          .path = path_s ? path_s : "/",
                          .query = query,
                          .query_count = query_count,
                          .headers = headers,
                          .header_count = hn,
                          .payload_hash = sha};
  si_sigv4_credentials cred = {.access_key = s3->access_key,
                               .secret_key = s3->secret_key,
                               .region = s3->region,
                               .service = "s3"};
  char *auth = NULL;
  si_status rc = SI_OK;
  struct curl_slist *list = NULL;
  si_sbuf url = {0};
  if (!host_s || !path_s || !query_s || !enc_path) {
    rc = si_error_set(err, SI_ERR_NOMEM, "s3", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    goto done;
  }
  rc = si_sigv4_sign(&req, &cred, amz_date, &auth, NULL, err);
  if (rc != SI_OK)
    goto done;
  si_sbuf_adds(&url, s3->scheme);
  si_sbuf_adds(&url, "://");
  si_sbuf_adds(&url, host_s);
  si_sbuf_adds(&url, enc_path);
  if (query_s[0]) {
    si_sbuf_addc(&url, '?');
    si_sbuf_adds(&url, query_s);
  }
  int ok = 1;
  for (size_t i = 0; i < hn; i++)
    ok &= add_header(&list, api, headers[i].name, headers[i].value);
  ok &= add_header(&list, api, "Authorization", auth);
  /* No "Expect: 100-continue" round trip, and no curl default content type. */
  ok &= add_header(&list, api, "Expect", "");
  if (!body->content_type)
    ok &= add_header(&list, api, "Content-Type", "");
  if (!ok || url.oom) {
    rc = si_error_set(err, SI_ERR_NOMEM, "s3", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    goto done;
  }

  CURL *h = s3->curl;
  char errbuf[CURL_ERROR_SIZE] = "";
  api->curl_easy_reset(h);
  api->curl_easy_setopt(h, CURLOPT_URL, url.p);
  api->curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  api->curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  api->curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  api->curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  api->curl_easy_setopt(h, CURLOPT_WRITEDATA, &sk);
  api->curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  api->curl_easy_setopt(h, CURLOPT_HEADERDATA, &sk);
  api->curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  if (s3->timeout_seconds > 0)
    api->curl_easy_setopt(h, CURLOPT_TIMEOUT, s3->timeout_seconds);
  if (s3->ca_file[0])
    api->curl_easy_setopt(h, CURLOPT_CAINFO, s3->ca_file);
  if (strcmp(method, "HEAD") == 0) {
    api->curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "PUT") == 0) {
    api->curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    api->curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    api->curl_easy_setopt(h, CURLOPT_READDATA, &src);
    api->curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
  } else if (strcmp(method, "POST") == 0) {
    api->curl_easy_setopt(h, CURLOPT_POST, 1L);
    api->curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    api->curl_easy_setopt(h, CURLOPT_READDATA, &src);
    api->curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  } else if (strcmp(method, "GET") != 0) {
    api->curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  }
  CURLcode cc = api->curl_easy_perform(h);
  if (sk.too_long) {
    rc = si_error_set(err, SI_ERR_LIMIT, url.p, SI_NO_OFFSET, SI_NO_TAG,
                      "the store's answer to %s is longer than %zu bytes", method, sk.max);
    goto done;
  }
  if (cc != CURLE_OK) {
    snprintf(reply->transport, sizeof reply->transport, "%s%s%s", api->curl_easy_strerror(cc),
             errbuf[0] ? ": " : "", errbuf);
    if (src.failed)
      snprintf(reply->transport, sizeof reply->transport, "reading the file to send failed");
    reply->status = 0;
    rc = si_error_set(err, SI_ERR_IO, url.p, SI_NO_OFFSET, SI_NO_TAG, "%s %s: %s", method, url.p,
                      reply->transport);
    goto done;
  }
  api->curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->status);
  if (sk.body.len) {
    size_t len = sk.body.len; /* the whole length, even with a NUL inside */
    reply->body = si_sbuf_take(&sk.body);
    reply->body_size = reply->body ? len : 0;
  }
  if (reply->status >= 300 && reply->body) {
    /* The store's reason, when it gave one; a malformed answer leaves "". */
    if (si_s3_xml_text(reply->body, reply->body_size, "Code", reply->code, sizeof reply->code) !=
        SI_OK)
      reply->code[0] = '\0';
    if (si_s3_xml_text(reply->body, reply->body_size, "Message", reply->message,
                       sizeof reply->message) != SI_OK)
      reply->message[0] = '\0';
  }
done:
  si_sbuf_free(&sk.body);
  si_sbuf_free(&url);
  if (list)
    api->curl_slist_free_all(list);
  free(auth);
  free(host_s);
  free(path_s);
  free(query_s);
  free(enc_path);
  return rc;
}
