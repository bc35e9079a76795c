/* Pieces of the web server shared by the files of lib/http: the request
 * being answered (web_req), the text buffer pages and JSON are written into,
 * credentials and sessions, the route handlers and the embedded assets.
 *
 * One request is handled by one server thread from start to end; a web_req
 * and everything it points to belong to that request only. */
#ifndef SENDIT_HTTP_INTERNAL_H
#define SENDIT_HTTP_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/http.h"
#include "sendit/store.h"
#include "sendit/store_web.h"

/* Limits on what a client may send. */
enum {
  WEB_BODY_MAX = 16 * 1024,      /* request body (login form, retry) */
  WEB_URL_MAX = 2048,            /* path and query */
  WEB_CONN_MEMORY = 64 * 1024,   /* per connection: request line, headers, buffers */
  WEB_CONN_TIMEOUT_S = 30,       /* idle or slow connections are closed */
  WEB_PAGE_SIZE_MAX = 1000,      /* ?page_size= bound */
  WEB_PAGE_SIZE_DEFAULT = 50,    /* API pages */
  WEB_SESSION_IDLE_S = 2 * 3600, /* a session unused this long ends */
  WEB_SESSION_MAX_S = 12 * 3600, /* and every session ends after this */
  WEB_HEARTBEAT_S = 5,           /* the daemon's heartbeat period */
  WEB_HEARTBEAT_STALE_S = 30,    /* older than this: the watcher is not active */
  WEB_THROUGHPUT_MINUTES = 15    /* dashboard and /api/status throughput window */
};

/* ---- growable text (buf.c) ---- */

/* Appends never fail loudly: on a failed allocation `oom` is set and later
 * appends do nothing, so callers check once at the end. */
typedef struct hbuf {
  char *data; /* NUL-terminated when len > 0 */
  size_t len, cap;
  int oom;
} hbuf;

void hb_putn(hbuf *b, const char *s, size_t n);
void hb_put(hbuf *b, const char *s);
void hb_printf(hbuf *b, const char *fmt, ...) SI_PRINTF(2, 3);
/* Text for HTML element content and quoted attribute values; bytes that
 * are not UTF-8 become U+FFFD. */
void hb_html(hbuf *b, const char *s);
/* A query-string or path component, percent-encoded. */
void hb_url(hbuf *b, const char *s);
void hb_free(hbuf *b);

/* Decodes application/x-www-form-urlencoded text in place ('+' is a space). */
void web_url_decode(char *s);

/* Display formats: ISO-8601 UTC ("-" for 0), binary sizes, elapsed time. */
enum { WEB_TIME_MAX = 32, WEB_SIZE_MAX = 24 };
const char *web_time(char buf[WEB_TIME_MAX], int64_t ms, int millis);
const char *web_size(char buf[WEB_SIZE_MAX], int64_t bytes);
const char *web_elapsed(char buf[WEB_TIME_MAX], int64_t ms);
/* "YYYY-MM-DD" (UTC midnight) to milliseconds; -1 when malformed. */
int64_t web_parse_date(const char *s);

/* ---- credentials and sessions (auth.c) ---- */

/* 32 random bytes as base64url, with the NUL. */
#define WEB_ID_SIZE 44

typedef struct web_auth web_auth;

si_status web_auth_new(const si_config *cfg, web_auth **out, si_error *err);
/* Stops the verifier: queued checks are released BUSY, later ones are BUSY
 * at once. Call before stopping the server (no connection may stay
 * suspended); web_auth_free does it too. */
void web_auth_stop(web_auth *a);
void web_auth_free(web_auth *a);
/* [web] auth = none. */
int web_auth_is_open(const web_auth *a);
/* A password or an API token is set, so someone can get in (re-reads the
 * password file when it changed). */
int web_auth_ready(web_auth *a);
int web_auth_has_password(web_auth *a);
int web_auth_has_token(web_auth *a);
/* How a request proved who it is. */
enum { WEB_VIA_NONE, WEB_VIA_OPEN, WEB_VIA_SESSION, WEB_VIA_BASIC, WEB_VIA_BEARER };

/* A credential check. Right credentials are remembered (as a keyed hash)
 * for a few minutes, so API clients do not pay argon2id on every request;
 * any other check needs argon2id (~90 ms and 64 MiB), which runs on the
 * verifier thread, never on a thread that serves requests: the check is
 * queued, hold(user) is called (the server suspends the connection), and
 * release(user) is called from the verifier thread once the verdict is in
 * (the server resumes the connection and routes the request again, which
 * then finds the verdict). Limits (auth.c): one verification at a time and
 * WEB_VERIFY_QUEUE_MAX waiting, more are BUSY; each client address may
 * fail WEB_FAIL_BURST times, then once every WEB_FAIL_REFILL_S seconds,
 * else LIMITED, without any argon2id. The check belongs to the request. */
enum {
  WEB_CHECK_NEW,
  WEB_CHECK_RIGHT,
  WEB_CHECK_WRONG,
  WEB_CHECK_QUEUED,
  WEB_CHECK_LIMITED,
  WEB_CHECK_BUSY
};
enum {
  WEB_VERIFY_QUEUE_MAX = 4,
  WEB_FAIL_BURST = 10,
  WEB_FAIL_REFILL_S = 6,
  WEB_CLIENTS_MAX = 256
};

typedef struct web_check {
  int state;       /* WEB_CHECK_* */
  int via;         /* RIGHT: WEB_VIA_BASIC or WEB_VIA_BEARER (0 for the login form) */
  int retry_after; /* LIMITED and BUSY: seconds */
  /* Set by the caller before the first check: */
  unsigned char client[16]; /* the client address (IPv4 mapped to IPv6, IPv6 cut to its /64) */
  char client_text[64];     /* for the log */
  void (*hold)(void *user);
  void (*release)(void *user);
  void *user;
  /* Private to auth.c: */
  int which, user_ok;
  unsigned char mac[32];
  char *secret;
  size_t len;
  struct web_check *next;
} web_check;

/* Checks an Authorization header (Basic or Bearer) into c; does nothing
 * when c already has a verdict or is queued. */
void web_check_header(web_auth *a, const char *authorization, web_check *c);
/* Checks the login form's user and password into c, likewise. */
void web_check_password(web_auth *a, const char *user, const char *password, web_check *c);

/* Sessions live in memory: a restart logs everybody out. */
int web_session_new(web_auth *a, char id[WEB_ID_SIZE], char csrf[WEB_ID_SIZE]);
/* 1 and the session's CSRF token when `id` is a live session. */
int web_session_get(web_auth *a, const char *id, char csrf[WEB_ID_SIZE]);
void web_session_end(web_auth *a, const char *id);

void web_random_id(char out[WEB_ID_SIZE]);
/* Constant-time comparison of two NUL-terminated secrets. */
int web_secret_equal(const char *a, const char *b);

/* ---- the server and the request (server.c) ---- */

typedef struct web_req {
  si_http_server *srv;
  struct MHD_Connection *conn;
  const char *method; /* HEAD is answered as GET (the server drops the body) */
  const char *path;
  const char *arg[2]; /* the {captures} of the matched route */
  char capture[2][512];
  char path_buf[WEB_URL_MAX + 1];
  int api;          /* /api and /metrics: errors as JSON */
  int via;          /* WEB_VIA_* */
  char origin[300]; /* the checked Host: "name:port" as configured or listened on */
  web_check check;  /* of its credentials, when they need argon2id */
  int held;         /* suspended until the check's verdict is in */
  int retry_after;  /* Retry-After: seconds, 0 = none */
  char session[WEB_ID_SIZE];
  char csrf[WEB_ID_SIZE]; /* the session's CSRF token, "" without a session */
  int started;            /* the request line and headers have been seen */
  int raw_too_long;       /* the URI as sent, query included, is too long */
  int raw_has_nul;        /* it holds %00 */
  hbuf body;              /* request body as received */
  int body_too_large;
  char *form;       /* decoded copy of body for web_form, "k\0v\0k\0v\0\0" */
  si_db *db;        /* from the pool, on first use */
  unsigned status;  /* the response */
  const char *type; /* Content-Type */
  hbuf out;
  const char *static_body; /* an embedded asset instead of out */
  size_t static_len;
  const char *etag;
  char location[WEB_URL_MAX + 256];
  char cookie[2][200];
  int ncookies;
  const char *allow;
  int challenge; /* send WWW-Authenticate */
} web_req;

/* The server's configuration and credentials. */
const si_config *web_cfg(const web_req *r);
web_auth *web_auth_of(const web_req *r);
struct web_page_index *web_pages_of(const web_req *r);
/* This host's name as the worker registry spells it ("localhost" when
 * unknown). */
void web_host_name(char *out, size_t size);
/* Tells the worker pool that a job was queued. */
void web_wake(const web_req *r);
/* The request's credential check, its client and hold/release filled in. */
web_check *web_check_of(web_req *r);
/* For a check that is neither right nor wrong: holds the request (queued)
 * or answers 429 with Retry-After (limited, busy), and returns 1; returns
 * 0 for RIGHT and WRONG, which the caller answers (router.c). */
int web_check_answer(web_req *r, web_check *c);
/* A database connection for this request, or NULL after answering 503. */
si_db *web_db(web_req *r);

const char *web_query(const web_req *r, const char *key);
const char *web_header(const web_req *r, const char *name);
const char *web_cookie(const web_req *r, const char *name);
/* A field of an application/x-www-form-urlencoded body, or NULL. */
const char *web_form(web_req *r, const char *key);

/* Responses. web_fail answers {"detail": ...} on API routes and an HTML
 * page elsewhere. web_json takes the reference to j (NULL: 500). */
void web_fail(web_req *r, unsigned status, const char *fmt, ...) SI_PRINTF(3, 4);
void web_fail_db(web_req *r, const si_error *err);
void web_json(web_req *r, unsigned status, json_t *j);
void web_redirect(web_req *r, const char *location);
void web_set_cookie(web_req *r, const char *name, const char *value, int max_age);

/* Query checks: each answers 400 itself and returns -1 on a bad value. */
int web_only_params(web_req *r, const char *const *allowed);
int web_int_param(web_req *r, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out);
/* "http://host" for absolute links and the same-origin check: the Host
 * header as checked against [web] hosts or the listen address (the
 * configuration's spelling, never the client's bytes). */
void web_origin(const web_req *r, hbuf *b);
/* The request's path and query with `key` set to `value` (NULL: removed),
 * keys in the order received. */
void web_self_url(const web_req *r, hbuf *b, const char *key, const char *value);

/* ---- routing (router.c) ---- */

void web_route(web_req *r);
/* The routes, for /api/openapi.json's consistency test. */
typedef void (*web_handler)(web_req *r);

/* ---- handlers ---- */

/* api.c, api_status.c */
void api_batches(web_req *r);
void api_batch(web_req *r);
void api_batch_retry(web_req *r);
void api_images(web_req *r);
void api_image(web_req *r);
void api_status(web_req *r);
void api_openapi(web_req *r);
void web_metrics(web_req *r);
/* pages.c, pages_detail.c, pages_login.c */
void page_dashboard(web_req *r);
void page_batch(web_req *r);
void page_batch_retry(web_req *r);
void page_image(web_req *r);
void page_settings(web_req *r);
void page_login(web_req *r);
void page_login_post(web_req *r);
void page_logout(web_req *r);
void page_static(web_req *r);
/* An HTML error page (pages.c). */
void page_error(web_req *r, unsigned status, const char *message);

/* ---- shared facts (status.c) ---- */

enum { WEB_STATUS_COUNT = 6 };
/* Batch statuses in life order. */
const char *web_status_name(int i);
int web_status_index(const char *s);
/* Canonical spelling of a batch status typed in any case, or NULL. */
const char *web_status_lookup(const char *s);
const char *web_image_status_lookup(const char *s);

typedef struct web_facts {
  long pid;        /* the daemon's, 0 when its pidfile is not locked */
  int64_t beat_at; /* last heartbeat, 0 when none */
  int active;      /* pidfile locked and heartbeat fresh */
  int64_t queued, running;
  int64_t by_status[WEB_STATUS_COUNT];
  int64_t batches;
  int64_t images, bytes;
  int64_t per_minute[WEB_THROUGHPUT_MINUTES]; /* [last] = this minute */
  int64_t now;
} web_facts;
/* Fills f; on failure answers 500 and returns -1. */
int web_gather(web_req *r, web_facts *f);

/* The JSON of a batch and of an image, as the API lists them. */
json_t *web_batch_json(const web_req *r, const si_batch *b);
json_t *web_image_json(const web_req *r, const si_image *img, const char *batch_uid);
json_t *web_time_json(int64_t ms);
/* A JSON string of s with bytes that are not UTF-8 replaced by U+FFFD
 * (jansson refuses bad UTF-8); null only for NULL or out of memory. */
json_t *web_text_json(const char *s);

/* The batch search parameters (status, uid, PatientID, date_from,
 * date_to) of the API and the dashboard; answers 400 and returns -1 on a
 * bad value (api.c). */
int web_batch_filter(web_req *r, si_web_batch_filter *f);

/* ---- retry (retry.c) ---- */

/* Queues a failed batch again, as `sendit batch retry` does. Returns the
 * HTTP status: 202 queued, 404 no such batch, 409 not retryable (why says
 * why), 500 database failure (err filled). */
unsigned web_retry_batch(si_db *db, const char *uid, char *why, size_t size, si_error *err);
/* Why b cannot be retried, or NULL when it can. */
const char *web_not_retryable(const si_batch *b);

/* ---- embedded assets (assets.c, generated by web/gen_assets.py) ---- */

typedef struct web_asset {
  const char *name; /* "app.css" */
  const char *type; /* Content-Type */
  const char *etag;
  const char *data;
  size_t len;
} web_asset;

const web_asset *web_asset_find(const char *name);

#endif
