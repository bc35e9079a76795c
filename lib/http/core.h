/* The bottom of lib/http, the server core: the request being answered
 * (web_req), what a handler may ask of it and answer with, the text buffer
 * pages and JSON are written into, and the site a server serves (its route
 * table, error page and state, given at start-up). Nothing here knows a
 * route, a page or a credential; the files above (the dashboard's routes
 * in router.c, dashboard.c, auth.c, pages*.c, api*.c) call down into it,
 * never the reverse.
 *
 * One request is handled by one server thread from start to end; a web_req
 * and everything it points to belong to that request only. */
#ifndef SENDIT_HTTP_CORE_H
#define SENDIT_HTTP_CORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/http.h"
#include "sendit/ops_format.h"

struct MHD_Connection;

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

/* Display formats (times, sizes, elapsed) and JSON text are the CLI's:
 * sendit/ops_format.h. */
/* "YYYY-MM-DD" (UTC midnight) to milliseconds; -1 when malformed. */
int64_t web_parse_date(const char *s);

/* ---- a credential check, as a request carries it ---- */

/* 32 random bytes as base64url, with the NUL. */
#define WEB_ID_SIZE 44

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
  _Atomic int state; /* WEB_CHECK_*; written by the verifier thread, read by the request */
  int via;           /* RIGHT: WEB_VIA_BASIC or WEB_VIA_BEARER (0 for the login form) */
  int retry_after;   /* LIMITED and BUSY: seconds */
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

/* ---- the request (server.c, request.c) ---- */

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

/* The server's configuration, and the state its site's open hook made. */
const si_config *web_cfg(const web_req *r);
void *web_site_state(const web_req *r);
/* This host's name as the worker registry spells it ("localhost" when
 * unknown). */
void web_host_name(char *out, size_t size);
/* Tells the worker pool that a job was queued. */
void web_wake(const web_req *r);
/* The request's credential check, its client and hold/release filled in. */
web_check *web_check_of(web_req *r);
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
/* ---- dispatch (dispatch.c) and the site (si_http_site) ---- */

typedef void (*web_handler)(web_req *r);

typedef struct web_endpoint {
  const char *method;
  const char *pattern; /* "{x}" matches one path segment, into r->arg */
  web_handler handler;
  int guarded; /* the site's guard runs first (who the client is, CSRF) */
} web_endpoint;

/* What a server serves, given to si_http_start in its options and borrowed
 * until si_http_stop returns. Every hook may be NULL. */
struct si_http_site {
  const web_endpoint *routes;
  size_t nroutes;
  /* 1 when the request may go on to a guarded route, else 0 after
   * answering it. */
  int (*guard)(web_req *r, const web_endpoint *route);
  /* The answer to a failed page request (API routes answer JSON). */
  void (*error_page)(web_req *r, unsigned status, const char *message);
  /* Makes the site's state (web_site_state) when the server starts. */
  si_status (*open)(const si_config *cfg, void **state, si_error *err);
  /* Called once the server listens (start-up warnings). */
  void (*serving)(void *state, const si_config *cfg);
  /* Releases the requests the site holds, before the server stops. */
  void (*quiesce)(void *state);
  void (*close)(void *state);
};
typedef struct si_http_site web_site;

/* Rejects odd paths (400), finds the route in the site's table (404, or
 * 405 with Allow), runs the site's guard on guarded routes, then the
 * handler. */
void web_route(web_req *r, const web_site *site);

#endif
