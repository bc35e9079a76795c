/* The "http" pseudonym provider; see sendit/deid_ids_http.h. The table is
 * asked first; only what it does not hold goes to the service, in one POST
 * per lookup, and the answer is recorded before it is used, so a crash
 * after the answer costs at most one repeated question. */
#include "sendit/deid_ids_http.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ids_answer.h"
#include "sendit/log.h"
#include "sendit/store_deid.h"
#include "util/curl_body.h"
#include "util/curl_dl.h"

/* libcurl, loaded with the first provider (util/curl_dl.h); every later
 * call finds it loaded. */
#define cu (*si_curl(NULL, 0))

/* ---- the provider ---- */

typedef struct http_ids {
  si_deid_ids base;
  si_db *db;
  char *url;
  char shown[512]; /* the URL for messages: no user, password or query */
  char *token;     /* NULL: none */
  long connect_timeout_ms, timeout_ms;
  int attempts;
  CURL *curl; /* kept, so that its connection is reused */
} http_ids;

/* scheme://host/path with any "user:password@" and "?query" cut out. */
static void redact_url(char *dst, size_t size, const char *url) {
  const char *auth = strstr(url, "://");
  const char *host = auth ? auth + 3 : url;
  const char *end = host + strcspn(host, "/?#");
  const char *at = NULL;
  for (const char *p = host; p < end; p++)
    if (*p == '@')
      at = p;
  const char *rest = at ? at + 1 : host;
  size_t path = strcspn(rest, "?#");
  snprintf(dst, size, "%.*s%.*s%s", (int)(host - url), url, (int)path, rest,
           rest[path] ? "?***" : "");
  si_log_sanitize(dst, strlen(dst));
}

static si_status token_bad(const char *path, si_error *err, const char *why) {
  return si_error_set(err, SI_ERR_CONFIG, path, SI_NO_OFFSET, SI_NO_TAG,
                      "identifier service token file: %s", why);
}

/* The token: one line of visible ASCII (it goes into a header line, so CR
 * and LF inside would be a header injection). */
static si_status read_token(const char *path, char **out, si_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG,
                        "identifier service token file: %s", strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > SI_DEID_HTTP_MAX_TOKEN) {
    close(fd);
    return token_bad(path, err, "not a regular file of at most 4096 bytes");
  }
  if (sb.st_mode & S_IROTH) {
    close(fd);
    return token_bad(path, err, "anyone may read it; chmod o-r it (the token is a secret)");
  }
  char *buf = sodium_malloc(SI_DEID_HTTP_MAX_TOKEN + 1);
  ssize_t n = buf ? read(fd, buf, SI_DEID_HTTP_MAX_TOKEN) : -1;
  close(fd);
  if (n < 0) {
    sodium_free(buf);
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG,
                        "identifier service token file: cannot read it");
  }
  size_t start = 0, end = (size_t)n;
  while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
    start++;
  while (end > start && strchr(" \t\r\n", buf[end - 1]))
    end--;
  int visible = end > start;
  for (size_t i = start; i < end; i++)
    visible &= buf[i] > ' ' && buf[i] < 0x7F;
  buf[end] = '\0';
  if (!visible) {
    sodium_free(buf);
    return token_bad(path, err, "empty, or not one line of visible ASCII characters");
  }
  memmove(buf, buf + start, end - start + 1);
  *out = buf;
  return SI_OK;
}

/* One POST. *curl_rc and *status (0 when no answer came) say how it went. */
static void post_once(http_ids *h, const char *request, si_curl_body *body, CURLcode *curl_rc,
                      long *status, char *errbuf) {
  body->len = 0;
  body->too_big = 0;
  *status = 0;
  errbuf[0] = '\0';
  struct curl_slist *headers = cu.curl_slist_append(NULL, "Content-Type: application/json");
  headers = headers ? cu.curl_slist_append(headers, "Accept: application/json") : NULL;
  if (headers && h->token) {
    size_t n = strlen(h->token) + 32;
    char *line = sodium_malloc(n);
    if (line) {
      snprintf(line, n, "Authorization: Bearer %s", h->token);
      struct curl_slist *more = cu.curl_slist_append(headers, line);
      sodium_free(line);
      headers = more;
    } else {
      cu.curl_slist_free_all(headers);
      headers = NULL;
    }
  }
  if (!headers) {
    *curl_rc = CURLE_OUT_OF_MEMORY;
    return;
  }
  CURL *c = h->curl;
  cu.curl_easy_setopt(c, CURLOPT_URL, h->url);
  cu.curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  cu.curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  cu.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  cu.curl_easy_setopt(c, CURLOPT_POST, 1L);
  cu.curl_easy_setopt(c, CURLOPT_POSTFIELDS, request);
  cu.curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(request));
  cu.curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  cu.curl_easy_setopt(c, CURLOPT_USERAGENT, "sendit");
  cu.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
  cu.curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
  cu.curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)SI_DEID_HTTP_MAX_BODY);
  cu.curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, si_curl_body_write);
  cu.curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
  cu.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  *curl_rc = cu.curl_easy_perform(c);
  if (*curl_rc == CURLE_OK || *curl_rc == CURLE_WRITE_ERROR)
    cu.curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  cu.curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  cu.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
  cu.curl_slist_free_all(headers);
}

/* Whether trying again may help: the connection failed or timed out, or
 * the service said it is in trouble (5xx). Not a 4xx, an answer too big,
 * or a URL that libcurl refuses. */
static int retryable(CURLcode rc, long status, const si_curl_body *body) {
  if (body->too_big)
    return 0;
  if (rc == CURLE_OK)
    return status >= 500;
  static const CURLcode transient[] = {CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
                                       CURLE_OPERATION_TIMEDOUT,   CURLE_SEND_ERROR,
                                       CURLE_RECV_ERROR,           CURLE_GOT_NOTHING,
                                       CURLE_PARTIAL_FILE,         CURLE_SSL_CONNECT_ERROR};
  for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
    if (rc == transient[i])
      return 1;
  return 0;
}

/* What went wrong, in one line: libcurl's reason, or the status and the
 * start of the body (sanitised: it is the service's text). */
static void describe(const http_ids *h, CURLcode rc, long status, const si_curl_body *body,
                     const char *errbuf, char *out, size_t size) {
  if (body->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
    snprintf(out, size, "the answer is larger than %d bytes", SI_DEID_HTTP_MAX_BODY);
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    snprintf(out, size, "no answer within %ld ms (%s)", h->timeout_ms,
             errbuf[0] ? errbuf : cu.curl_easy_strerror(rc));
  } else if (rc != CURLE_OK) {
    snprintf(out, size, "%s", errbuf[0] ? errbuf : cu.curl_easy_strerror(rc));
  } else {
    char excerpt[201];
    size_t n = body->len < sizeof excerpt - 1 ? body->len : sizeof excerpt - 1;
    memcpy(excerpt, body->data ? body->data : "", n);
    excerpt[n] = '\0';
    si_log_sanitize(excerpt, n);
    snprintf(out, size, "HTTP %ld%s%s%s", status, n ? ": \"" : " with an empty body", excerpt,
             n ? (body->len > n ? "...\"" : "\"") : "");
  }
}

static void backoff(int attempt) {
  long delay = SI_DEID_HTTP_BACKOFF_MS;
  for (int i = 1; i < attempt && delay < SI_DEID_HTTP_BACKOFF_MAX_MS; i++)
    delay *= 2;
  if (delay > SI_DEID_HTTP_BACKOFF_MAX_MS)
    delay = SI_DEID_HTTP_BACKOFF_MAX_MS;
  /* Half fixed, half random: workers that failed together spread out. */
  long ms = delay / 2 + (long)randombytes_uniform((uint32_t)(delay / 2 + 1));
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* POSTs request until a 2xx answer comes, attempts run out or an error is
 * not worth repeating. The answer's body is in *body. */
static si_status post(http_ids *h, const char *request, si_curl_body *body, si_error *err) {
  char errbuf[CURL_ERROR_SIZE], why[512];
  for (int attempt = 1;; attempt++) {
    CURLcode rc;
    long status;
    post_once(h, request, body, &rc, &status, errbuf);
    if (rc == CURLE_OK && status >= 200 && status < 300)
      return SI_OK;
    describe(h, rc, status, body, errbuf, why, sizeof why);
    int again = retryable(rc, status, body);
    char tries[48];
    snprintf(tries, sizeof tries, " (gave up after %d attempt%s)", attempt,
             attempt == 1 ? "" : "s");
    if (!again || attempt >= h->attempts)
      return si_error_set(err, again ? SI_ERR_IO : SI_ERR_STATE, h->shown, SI_NO_OFFSET, SI_NO_TAG,
                          "identifier service: %s%s", why, again ? tries : "");
    si_log(SI_LOG_WARN, "identifier service %s: %s; trying again (attempt %d of %d)", h->shown, why,
           attempt + 1, h->attempts);
    backoff(attempt);
  }
}

/* Asks the service for the entity and the n items req->item_ids[which[i]]
 * and records the answer in the table. */
static si_status ask(http_ids *h, const si_deid_ids_request *req, const size_t *which, size_t n,
                     si_error *err) {
  char *request = si_ids_json_request(req, which, n, err);
  if (!request)
    return SI_ERR_NOMEM;
  si_curl_body body = {.max = SI_DEID_HTTP_MAX_BODY};
  si_status st = post(h, request, &body, err);
  free(request);
  char entity_code[SI_DEID_CODE_MAX];
  int32_t shift = 0;
  char(*codes)[SI_DEID_CODE_MAX] = calloc(n ? n : 1, sizeof *codes);
  const char **item_codes = calloc(n ? n : 1, sizeof *item_codes);
  const char **items = calloc(n ? n : 1, sizeof *items);
  char(*stored)[SI_DEID_CODE_MAX] = calloc(n ? n : 1, sizeof *stored);
  if (st == SI_OK && (!codes || !item_codes || !items || !stored))
    st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK) {
    st = si_ids_json_parse(body.data ? body.data : "", body.len, req, which, n, entity_code, &shift,
                           codes, err);
    if (st != SI_OK && err)
      snprintf(err->file, sizeof err->file, "%s", h->shown);
  }
  if (st == SI_OK) {
    for (size_t i = 0; i < n; i++) {
      items[i] = req->item_ids[which[i]];
      item_codes[i] = codes[i];
    }
    si_deid_key key = si_ids_key(req);
    key.items = items;
    key.item_count = n;
    si_deid_codes kept = {.item_codes = stored};
    st = si_store_deid_record(h->db, &key, entity_code, shift, item_codes, &kept, err);
    if (st == SI_OK && (strcmp(kept.entity_code, entity_code) != 0 || kept.day_shift != shift))
      si_log(SI_LOG_WARN,
             "identifier service %s: the patient's code or day shift differs from the one the "
             "table already holds; keeping the table's (every earlier output used it)",
             h->shown);
  }
  free(body.data);
  free(codes);
  free(item_codes);
  free(items);
  free(stored);
  return st;
}

static si_status http_lookup(si_deid_ids *ids, const si_deid_ids_request *req,
                             si_deid_ids_answer *out, si_error *err) {
  http_ids *h = (http_ids *)ids;
  memset(out, 0, sizeof *out);
  size_t n = req->item_count;
  si_deid_codes codes = {0};
  codes.item_codes = calloc(n ? n : 1, sizeof *codes.item_codes);
  size_t *which = calloc(n ? n : 1, sizeof *which);
  si_status st = codes.item_codes && which ? SI_OK
                                           : si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET,
                                                          SI_NO_TAG, "out of memory");
  si_deid_key key = si_ids_key(req);
  if (st == SI_OK)
    st = si_store_deid_find(h->db, &key, &codes, err);
  size_t missing = 0;
  for (size_t i = 0; st == SI_OK && i < n; i++)
    if (!codes.item_codes[i][0])
      which[missing++] = i;
  if (st == SI_OK && (!codes.entity_found || missing))
    st = ask(h, req, which, missing, err);
  if (st == SI_OK && (!codes.entity_found || missing))
    st = si_store_deid_find(h->db, &key, &codes, err);
  if (st == SI_OK && (!codes.entity_found || codes.item_found != n))
    st = si_error_set(err, SI_ERR_STATE, h->shown, SI_NO_OFFSET, SI_NO_TAG,
                      "identifier service: the answer was recorded but the table does not "
                      "hold it");
  if (st == SI_OK)
    st = si_ids_answer_from_codes(req, &codes, out, err);
  free(codes.item_codes);
  free(which);
  return st;
}

static void http_free(si_deid_ids *ids) {
  http_ids *h = (http_ids *)ids;
  if (!h)
    return;
  if (h->curl)
    cu.curl_easy_cleanup(h->curl);
  if (h->token)
    sodium_free(h->token);
  free(h->url);
  free(h);
}

static const si_deid_ids_ops http_ops = {"http", http_lookup, http_free};

static int http_url(const char *url) {
  return url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) &&
         !strpbrk(url, " \t\r\n");
}

si_status si_deid_ids_http_new(si_db *db, const char *url, const char *token_file,
                               long connect_timeout_ms, long timeout_ms, int attempts,
                               si_deid_ids **out, si_error *err) {
  *out = NULL;
  char shown[512];
  redact_url(shown, sizeof shown, url ? url : "");
  if (!db)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "identifier service: its answers are kept in the database; none given");
  if (!http_url(url))
    return si_error_set(err, SI_ERR_CONFIG, shown, SI_NO_OFFSET, SI_NO_TAG,
                        "identifier service: the URL must start with http:// or https:// "
                        "and hold no blanks");
  if (connect_timeout_ms < 0 || timeout_ms < 0 || attempts < 0)
    return si_error_set(err, SI_ERR_ARG, shown, SI_NO_OFFSET, SI_NO_TAG,
                        "identifier service: negative timeout or attempts");
  char curl_problem[512];
  if (!si_curl(curl_problem, sizeof curl_problem))
    return si_error_set(err, SI_ERR_UNSUPPORTED, shown, SI_NO_OFFSET, SI_NO_TAG,
                        "identifier service: libcurl cannot be loaded (%s); install libcurl4",
                        curl_problem);
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "libsodium could not be initialised");
  http_ids *h = calloc(1, sizeof *h);
  if (!h || !(h->url = strdup(url)) || !(h->curl = cu.curl_easy_init())) {
    http_free(h ? &h->base : NULL);
    return si_error_set(err, SI_ERR_NOMEM, shown, SI_NO_OFFSET, SI_NO_TAG,
                        "identifier service: out of memory");
  }
  h->base.ops = &http_ops;
  h->db = db;
  memcpy(h->shown, shown, sizeof shown);
  h->connect_timeout_ms =
      connect_timeout_ms ? connect_timeout_ms : SI_DEID_HTTP_CONNECT_TIMEOUT_MS_DEFAULT;
  h->timeout_ms = timeout_ms ? timeout_ms : SI_DEID_HTTP_TIMEOUT_MS_DEFAULT;
  h->attempts = attempts ? attempts : SI_DEID_HTTP_ATTEMPTS_DEFAULT;
  if (token_file && token_file[0]) {
    si_status st = read_token(token_file, &h->token, err);
    if (st != SI_OK) {
      http_free(&h->base);
      return st;
    }
  }
  *out = &h->base;
  return SI_OK;
}
