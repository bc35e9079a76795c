/* The dicomweb destination type: STOW-RS (PS3.18 10.5) over libcurl. Each
 * batch goes as requests of up to instances_per_request files and
 * max_request_mb megabytes (one file larger than that goes alone), each a
 * multipart/related body streamed from disk (stow_body.c); the answer is
 * read per instance (stow_response.c), since an HTTP 200 alone proves
 * nothing: Orthanc has answered 200 to a partial store.
 *
 * What an answer means (the contract of sendit/destination.h):
 *   - 2xx and 4xx with a DICOM JSON body (Orthanc sends its 400 with one
 *     when it drops an unreadable part): per instance, as the sequences say;
 *   - 2xx whose body cannot be read: every instance failed, retryable (it
 *     may or may not be stored; sending again is idempotent);
 *   - any other 4xx: every instance of that request failed for good, with
 *     the status and the start of the body;
 *   - 401, 403, 407 (credentials), 3xx (sendit follows no redirect), 5xx,
 *     no connection, timeouts: an error, the destination is unusable; the
 *     requests before were reported already. */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/types.h"
#include "stow_body.h"
#include "stow_response.h"
#include "stow_secret.h"
#include "util/curl_body.h"
#include "util/curl_dl.h"

static const si_dest_key stow_keys[] = {
    {"url", 1, NULL, "STOW-RS base URL (http or https); requests go to URL/studies"},
    {"username", 0, NULL, "HTTP Basic user (with password_file)"},
    {"password_file", 0, NULL,
     "file holding the HTTP Basic password (one line, not world-readable)"},
    {"token_file", 0, NULL, "file holding a bearer token (one line, not world-readable)"},
    {"instances_per_request", 0, "50", "instances per STOW-RS request (1..10000)"},
    {"max_request_mb", 0, "64",
     "megabytes per request at most (1..4096; a larger file goes alone)"},
    {"timeout", 0, "300", "seconds a request may take at most (1..86400)"},
    {"ca_file", 0, NULL, "PEM file of the certificate authorities to trust for https"},
    {"verify_peer", 0, "true", "check the server's certificate and name (true|false)"},
};

typedef struct stow_conf {
  const char *url, *username, *password_file, *token_file, *ca_file;
  long per_request, max_mb, timeout;
  int verify;
} stow_conf;

static si_status bad_key(const si_dest_config *d, const char *key, si_error *err, const char *why) {
  return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG, "destination %s: %s: %s",
                      d->name, key, why);
}

static si_status number(const si_dest_config *d, const char *key, long lo, long hi, long *out,
                        si_error *err) {
  const char *s = si_dest_get(d, key);
  char *end = NULL;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || !*s || *end || errno || v < lo || v > hi) {
    char why[96];
    snprintf(why, sizeof why, "not a whole number from %ld to %ld", lo, hi);
    return bad_key(d, key, err, why);
  }
  *out = v;
  return SI_OK;
}

static int readable_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, R_OK) == 0;
}

static si_status load_conf(const si_dest_config *d, stow_conf *c, si_error *err) {
  memset(c, 0, sizeof *c);
  c->url = si_dest_get(d, "url");
  c->username = si_dest_get(d, "username");
  c->password_file = si_dest_get(d, "password_file");
  c->token_file = si_dest_get(d, "token_file");
  c->ca_file = si_dest_get(d, "ca_file");
  if (!c->url || !(strncmp(c->url, "http://", 7) == 0 || strncmp(c->url, "https://", 8) == 0) ||
      strcspn(c->url, "?# \t\r\n") != strlen(c->url) || strlen(c->url) > 2000)
    return bad_key(d, "url", err, "an http:// or https:// URL without query, fragment or spaces");
  if (!c->username != !c->password_file)
    return bad_key(d, c->username ? "password_file" : "username", err,
                   "username and password_file go together");
  if (c->username && (!*c->username || strchr(c->username, ':') ||
                      strcspn(c->username, "\r\n") != strlen(c->username)))
    return bad_key(d, "username", err, "empty, or holds ':' or a line end");
  if (c->username && c->token_file)
    return bad_key(d, "token_file", err,
                   "either HTTP Basic (username) or a bearer token, not both");
  static const char *const files[] = {"password_file", "token_file", "ca_file"};
  const char *paths[] = {c->password_file, c->token_file, c->ca_file};
  for (size_t i = 0; i < 3; i++)
    if (paths[i] && !readable_file(paths[i]))
      return bad_key(d, files[i], err, "not a readable file");
  const char *verify = si_dest_get(d, "verify_peer");
  if (!verify || (strcmp(verify, "true") != 0 && strcmp(verify, "false") != 0))
    return bad_key(d, "verify_peer", err, "true or false");
  c->verify = strcmp(verify, "true") == 0;
  si_status rc = number(d, "instances_per_request", 1, 10000, &c->per_request, err);
  if (rc == SI_OK)
    rc = number(d, "max_request_mb", 1, 4096, &c->max_mb, err);
  if (rc == SI_OK)
    rc = number(d, "timeout", 1, 86400, &c->timeout, err);
  return rc;
}

static si_status stow_check(const si_dest_config *d, si_error *err) {
  stow_conf c;
  return load_conf(d, &c, err);
}

/* ---- one request ---- */

#define cu (*api)

typedef struct upload {
  si_stow_body *body;
  si_error read_err;
  int read_failed;
  const atomic_int *cancel;
} upload;

static size_t on_read(char *buf, size_t size, size_t nitems, void *user) {
  upload *u = user;
  size_t n = si_stow_body_read(u->body, buf, size * nitems, &u->read_err);
  if (n == SIZE_MAX) {
    u->read_failed = 1;
    return CURL_READFUNC_ABORT;
  }
  return n;
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  (void)dt, (void)dn, (void)ut, (void)un;
  const upload *u = user;
  return u->cancel && atomic_load(u->cancel);
}

/* The state of one deliver call. */
typedef struct stow_run {
  const si_dest_config *d;
  const si_dest_batch *b;
  const atomic_int *cancel;
  si_dest_report_fn report;
  void *user;
  const si_curl_api *api;
  CURL *curl;
  stow_conf conf;
  char *secret; /* the password or the token; sodium_malloc'd */
  char *endpoint, shown[512];
  struct curl_slist *auth; /* the bearer header, or NULL */
} stow_run;

static void report(stow_run *r, size_t index, int sent, int retryable, const char *answer) {
  si_dest_result res = {.index = index, .sent = sent, .retryable = retryable, .answer = answer};
  r->report(r->user, &res);
}

static void report_all(stow_run *r, const size_t *idx, size_t n, int retryable, const char *why) {
  for (size_t k = 0; k < n; k++)
    report(r, idx[k], 0, retryable, why);
}

/* The start of the body, printable, for messages. */
static void excerpt(const si_curl_body *a, char *out, size_t size) {
  size_t n = a->len < size - 1 ? a->len : size - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)a->data[i];
    out[i] = ch >= ' ' && ch < 0x7F ? (char)ch : ' ';
  }
  out[n] = '\0';
}

/* Sends the items idx[n] (paths[n] of sizes[n] bytes) in one request
 * (twice when the boundary occurred in a file). */
static si_status send_request(stow_run *r, const size_t *idx, const char *const *paths,
                              const int64_t *sizes, size_t n, si_error *err) {
  const si_curl_api *api = r->api;
  si_curl_body a = {.max = SI_STOW_RESPONSE_MAX};
  upload u = {.cancel = r->cancel};
  CURLcode rc = CURLE_OK;
  long status = 0;
  char errbuf[CURL_ERROR_SIZE] = "", ctype_line[160], why[1024];
  for (int attempt = 0; attempt < 2; attempt++) {
    char boundary[SI_STOW_BOUNDARY_LEN + 1];
    u.read_failed = 0;
    if (si_stow_boundary(boundary, err) != SI_OK ||
        si_stow_body_new(boundary, paths, sizes, n, &u.body, err) != SI_OK)
      return err ? err->code : SI_ERR_ARG;
    snprintf(ctype_line, sizeof ctype_line, "Content-Type: %s", si_stow_body_content_type(u.body));
    struct curl_slist *h = cu.curl_slist_append(NULL, ctype_line), *t;
    h = h && (t = cu.curl_slist_append(h, "Accept: application/dicom+json")) ? t : NULL;
    h = h && (t = cu.curl_slist_append(h, "Expect:")) ? t : NULL;
    for (struct curl_slist *x = r->auth; h && x; x = x->next)
      h = (t = cu.curl_slist_append(h, x->data)) ? t : NULL;
    if (!h) {
      si_stow_body_free(u.body);
      return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    }
    a.len = 0;
    a.too_big = 0;
    CURL *c = r->curl;
    cu.curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cu.curl_easy_setopt(c, CURLOPT_READDATA, &u);
    cu.curl_easy_setopt(c, CURLOPT_XFERINFODATA, &u);
    cu.curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    cu.curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)si_stow_body_length(u.body));
    cu.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = '\0';
    rc = cu.curl_easy_perform(c);
    status = 0;
    cu.curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    cu.curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    cu.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    cu.curl_slist_free_all(h);
    int again = u.read_failed && si_stow_body_collided(u.body);
    si_stow_body_free(u.body);
    if (!again)
      break;
  }
  si_status out = SI_OK;
  if (u.read_failed) {
    /* A file changed under us (or the boundary occurred twice): the request
     * was cut short; the destination is fine. */
    char buf[700];
    snprintf(why, sizeof why, "not sent: %.900s", si_error_format(&u.read_err, buf, sizeof buf));
    report_all(r, idx, n, 1, why);
  } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
    out = si_error_set(err, SI_ERR_STATE, r->shown, SI_NO_OFFSET, SI_NO_TAG, "cancelled");
  } else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status)) {
    out =
        si_error_set(err, SI_ERR_IO, r->shown, SI_NO_OFFSET, SI_NO_TAG,
                     "destination unreachable: %s", errbuf[0] ? errbuf : cu.curl_easy_strerror(rc));
  } else if (a.too_big) {
    snprintf(why, sizeof why, "HTTP %ld: the answer has more than %d bytes, not read", status,
             SI_STOW_RESPONSE_MAX);
    report_all(r, idx, n, 1, why);
  } else if (status == 401 || status == 403 || status == 407) {
    out = si_error_set(err, SI_ERR_CONFIG, r->shown, SI_NO_OFFSET, SI_NO_TAG,
                       "HTTP %ld: the destination refuses sendit's credentials", status);
  } else if (status < 200 || (status >= 300 && status < 400) || status >= 500) {
    char text[120];
    excerpt(&a, text, sizeof text);
    out = si_error_set(err, SI_ERR_IO, r->shown, SI_NO_OFFSET, SI_NO_TAG,
                       "HTTP %ld%s%s (destination unusable)", status, *text ? ": " : "", text);
  } else {
    const char **uids = calloc(n, sizeof *uids);
    si_stow_outcome *o = calloc(n, sizeof *o);
    si_error perr;
    if (!uids || !o) {
      out = si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    } else {
      for (size_t k = 0; k < n; k++)
        uids[k] = r->b->items[idx[k]].sop_instance_uid;
      if (si_stow_response_parse(a.data ? a.data : "", a.len, status, uids, n, o, &perr) == SI_OK) {
        for (size_t k = 0; k < n; k++)
          report(r, idx[k], o[k].sent, o[k].retryable, o[k].answer);
      } else {
        char text[100];
        excerpt(&a, text, sizeof text);
        snprintf(why, sizeof why, "HTTP %ld: %.512s%s%.100s%s", status, perr.message,
                 *text ? " (\"" : "", text, *text ? "\")" : "");
        /* A 2xx may have stored them; a 4xx refused the request. */
        report_all(r, idx, n, status < 300, why);
      }
    }
    free(uids);
    free(o);
  }
  free(a.data);
  return out;
}

/* ---- the batch ---- */

static si_status setup(stow_run *r, si_error *err) {
  char problem[256] = "";
  r->api = si_curl(problem, sizeof problem);
  if (!r->api)
    return si_error_set(err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
                        "destination %s: libcurl: %s", r->d->name, problem);
  const si_curl_api *api = r->api;
  const stow_conf *c = &r->conf;
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, "", SI_NO_OFFSET, SI_NO_TAG, "libsodium: cannot start");
  if (c->password_file && si_stow_secret_read(r->d->name, "password_file", c->password_file, 0,
                                              &r->secret, err) != SI_OK)
    return err ? err->code : SI_ERR_CONFIG;
  if (c->token_file &&
      si_stow_secret_read(r->d->name, "token_file", c->token_file, 1, &r->secret, err) != SI_OK)
    return err ? err->code : SI_ERR_CONFIG;
  size_t ulen = strlen(c->url);
  while (ulen > 0 && c->url[ulen - 1] == '/')
    ulen--;
  r->endpoint = malloc(ulen + 16);
  r->curl = cu.curl_easy_init();
  if (!r->endpoint || !r->curl)
    return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  snprintf(r->endpoint, ulen + 16, "%.*s/studies", (int)ulen, c->url);
  /* The URL for messages, without any user:password@. */
  const char *host = strstr(r->endpoint, "://") + 3, *at = strchr(host, '@');
  const char *slash = strchr(host, '/');
  if (at && (!slash || at < slash))
    snprintf(r->shown, sizeof r->shown, "%.*s%s", (int)(host - r->endpoint), r->endpoint, at + 1);
  else
    snprintf(r->shown, sizeof r->shown, "%s", r->endpoint);
  if (c->token_file) {
    size_t n = strlen(r->secret) + 32;
    char *line = sodium_malloc(n);
    if (!line)
      return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    snprintf(line, n, "Authorization: Bearer %s", r->secret);
    r->auth = cu.curl_slist_append(NULL, line);
    sodium_free(line);
    if (!r->auth)
      return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  CURL *h = r->curl;
  cu.curl_easy_setopt(h, CURLOPT_URL, r->endpoint);
  cu.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  cu.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  cu.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  cu.curl_easy_setopt(h, CURLOPT_POST, 1L);
  cu.curl_easy_setopt(h, CURLOPT_USERAGENT, "sendit");
  cu.curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
  cu.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, si_curl_body_write);
  cu.curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  cu.curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  cu.curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  /* Bigger reads from disk per callback: fewer system calls per file. */
  cu.curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
  cu.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout < 10 ? c->timeout : 10L);
  cu.curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout);
  cu.curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->verify ? 1L : 0L);
  cu.curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->verify ? 2L : 0L);
  if (c->ca_file)
    cu.curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
  if (c->username) {
    cu.curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    cu.curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
    cu.curl_easy_setopt(h, CURLOPT_PASSWORD, r->secret);
  }
  return SI_OK;
}

static void teardown(stow_run *r) {
  const si_curl_api *api = r->api;
  if (api && r->curl)
    cu.curl_easy_cleanup(r->curl);
  if (api && r->auth)
    cu.curl_slist_free_all(r->auth);
  if (r->secret)
    sodium_free(r->secret);
  free(r->endpoint);
}

/* The next request's items from *next on: up to per_request of them, and
 * files adding up to max_mb at most (at least one). Files that cannot be
 * read are reported failed here and left out. */
static size_t next_group(stow_run *r, size_t *next, size_t *idx, const char **paths,
                         int64_t *sizes) {
  const si_dest_batch *b = r->b;
  int64_t budget = (int64_t)r->conf.max_mb * 1024 * 1024, used = 0;
  size_t n = 0;
  while (*next < b->count && n < (size_t)r->conf.per_request) {
    const si_dest_item *it = &b->items[*next];
    struct stat sb;
    errno = 0;
    if (stat(it->path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
      char why[SI_STOW_ANSWER_MAX];
      snprintf(why, sizeof why, "cannot read %s: %s", it->path,
               errno ? strerror(errno) : "not a regular file");
      report(r, (*next)++, 0, 0, why);
      continue;
    }
    if (n > 0 && used + (int64_t)sb.st_size > budget)
      break;
    idx[n] = *next;
    paths[n] = it->path;
    sizes[n] = (int64_t)sb.st_size;
    used += sizes[n++];
    (*next)++;
  }
  return n;
}

static si_status stow_deliver(const si_dest_config *d, const si_dest_batch *b,
                              const atomic_int *cancel, si_dest_report_fn report_fn, void *user,
                              si_error *err) {
  stow_run r = {.d = d, .b = b, .cancel = cancel, .report = report_fn, .user = user};
  si_status rc = load_conf(d, &r.conf, err);
  if (rc == SI_OK)
    rc = setup(&r, err);
  size_t cap = (size_t)r.conf.per_request;
  size_t *idx = rc == SI_OK ? calloc(cap, sizeof *idx) : NULL;
  const char **paths = rc == SI_OK ? calloc(cap, sizeof *paths) : NULL;
  int64_t *sizes = rc == SI_OK ? calloc(cap, sizeof *sizes) : NULL;
  if (rc == SI_OK && (!idx || !paths || !sizes))
    rc = si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  size_t next = 0;
  while (rc == SI_OK && next < b->count) {
    if (cancel && atomic_load(cancel)) {
      rc = si_error_set(err, SI_ERR_STATE, r.shown, SI_NO_OFFSET, SI_NO_TAG, "cancelled");
      break;
    }
    size_t n = next_group(&r, &next, idx, paths, sizes);
    if (n)
      rc = send_request(&r, idx, paths, sizes, n, err);
  }
  free(idx);
  free(paths);
  free(sizes);
  teardown(&r);
  return rc;
}

const si_dest_type si_dest_type_dicomweb = {
    .name = "dicomweb",
    .keys = stow_keys,
    .key_count = sizeof stow_keys / sizeof stow_keys[0],
    .check = stow_check,
    .deliver = stow_deliver,
};
