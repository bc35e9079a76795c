/* The libmicrohttpd daemon: a fixed pool of threads polling with epoll, a cap
 * on connections and on each connection's memory, a pool of database
 * connections (one per busy thread: an si_db is used by one thread at a
 * time), the daemon heartbeat, and the request life cycle: collect the
 * bounded body, route, answer with the security headers. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "page_index.h"
#include "sendit/log.h"
#include "util/dl.h"
#include "sendit/store_web.h"
#include "sendit/utf8.h"

/* libmicrohttpd is loaded when the dashboard starts, not with every sendit
 * command: with GnuTLS and its libraries it took 0.9 ms of CPU of each
 * start-up (measured on an empty program linked to it). */
/* clang-format off */
#define MHD_FUNCTIONS(X) \
  X(MHD_add_response_header) \
  X(MHD_create_response_from_buffer) \
  X(MHD_destroy_response) \
  X(MHD_get_connection_info) \
  X(MHD_get_connection_values) \
  X(MHD_lookup_connection_value) \
  X(MHD_queue_response) \
  X(MHD_resume_connection) \
  X(MHD_start_daemon) \
  X(MHD_stop_daemon) \
  X(MHD_suspend_connection)
/* clang-format on */

static struct {
#define MHD_DECLARE(name) __typeof__(name) *name;
  MHD_FUNCTIONS(MHD_DECLARE)
#undef MHD_DECLARE
} mhd;
static char mhd_problem[512]; /* why it could not be loaded, "" when it was */

/* POSIX's way to store dlsym's result in a function pointer: through a
 * (void **) to the pointer. */
#define MHD_NAME(name) #name,
#define MHD_SLOT(name) (void **)&mhd.name,
static void load_libmicrohttpd(void) {
  static const char *const names[] = {MHD_FUNCTIONS(MHD_NAME)};
  void **const slots[] = {MHD_FUNCTIONS(MHD_SLOT)};
  si_dl_resolve("libmicrohttpd.so.12", names, slots, sizeof names / sizeof names[0], mhd_problem,
                sizeof mhd_problem);
}
#undef MHD_NAME
#undef MHD_SLOT

enum {
  DB_POOL_MAX = 16,
  THREADS_DEFAULT = 4,
  CONNECTIONS_DEFAULT = 256,
  HOSTS_MAX = 64,
  /* Connections the kernel holds until a thread accepts them: a burst of
   * hundreds must not overflow it, or the SYNs of other clients are dropped
   * and they wait a whole second for the retransmission. */
  LISTEN_BACKLOG = 1024,
  REAP_PERIOD_MS = 250,   /* how often late requests are looked for */
  PRESSURE_HIGH_DIV = 16, /* over 15/16 of the connections open: drop slow waiters */
  PRESSURE_LOW_DIV = 8,   /* down to 7/8 */
  PRESSURE_MIN_MS = 1000  /* but only those sending a request for over a second */
};

/* One open connection, for the request deadline: libmicrohttpd's own
 * timeout restarts with every byte received, so a client that dribbles a
 * header line every few seconds would hold its connection for ever. */
typedef struct web_conn {
  int used;
  int fd;
  int receiving; /* waiting for a request's line, headers or body */
  int64_t since; /* monotonic ms: when it started waiting */
  int cut;       /* shut down for being late */
} web_conn;

struct si_http_server {
  const si_config *cfg;
  si_http_options opts;
  struct MHD_Daemon *mhd;
  web_auth *auth;
  web_page_index *pages;
  pthread_mutex_t pool_lock;
  si_db *idle[DB_POOL_MAX];
  int nidle;
  pthread_t ticker;
  int ticker_started;
  pthread_mutex_t tick_lock;
  pthread_cond_t tick_cond;
  int stopping;
  int64_t started_at;
  char host[128];
  char beat_id[160]; /* "host:pid", as `sendit worker` registers */
  /* The Host header values answered (lower case, "name:port" or "name"),
   * and whether an address literal of the connection's own local address
   * is also fine (only while [web] hosts is empty). */
  char *hosts[HOSTS_MAX];
  int nhosts;
  int own_address;
  char port[8];              /* of [web] listen */
  pthread_mutex_t conn_lock; /* conns */
  web_conn *conns;
  int nconns;
  int64_t deadline_ms; /* [web] request_timeout */
  pthread_t reaper;
  int reaper_started;
};

const si_config *web_cfg(const web_req *r) { return r->srv->cfg; }
web_auth *web_auth_of(const web_req *r) { return r->srv->auth; }
web_page_index *web_pages_of(const web_req *r) { return r->srv->pages; }

void web_wake(const web_req *r) {
  if (r->srv->opts.wake)
    r->srv->opts.wake(r->srv->opts.wake_user);
}

/* ---- credential checks off the serving threads ---- */

static void hold_conn(void *user) { mhd.MHD_suspend_connection(((web_req *)user)->conn); }
static void release_conn(void *user) { mhd.MHD_resume_connection(((web_req *)user)->conn); }

/* The client's address as the failed-attempt buckets key it: IPv4 as an
 * IPv4-mapped IPv6 address, IPv6 cut to its /64 (what one host or one
 * customer usually gets, so rotating through one's own /64 gains nothing). */
static void client_key(const struct sockaddr *sa, unsigned char key[16], char *text, size_t size) {
  memset(key, 0, 16);
  snprintf(text, size, "?");
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &in->sin_addr, 4);
    inet_ntop(AF_INET, &in->sin_addr, text, (socklen_t)size);
  } else if (sa && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    int mapped = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
    memcpy(key, &in6->sin6_addr, mapped ? 16 : 8);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, (socklen_t)size);
  }
}

web_check *web_check_of(web_req *r) {
  web_check *c = &r->check;
  if (c->state == WEB_CHECK_NEW && !c->hold) {
    const union MHD_ConnectionInfo *ci =
        mhd.MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    client_key(ci ? ci->client_addr : NULL, c->client, c->client_text, sizeof c->client_text);
    c->hold = hold_conn;
    c->release = release_conn;
    c->user = r;
  }
  return c;
}

/* ---- database pool ---- */

si_db *web_db(web_req *r) {
  if (r->db)
    return r->db;
  si_http_server *srv = r->srv;
  pthread_mutex_lock(&srv->pool_lock);
  si_db *db = srv->nidle ? srv->idle[--srv->nidle] : NULL;
  pthread_mutex_unlock(&srv->pool_lock);
  si_error err;
  if (!db && si_db_open(srv->cfg->database, &db, &err) != SI_OK) {
    char buf[1024];
    si_log(SI_LOG_ERROR, "web: database: %s", si_error_format(&err, buf, sizeof buf));
    web_fail(r, 503, "the database is not available");
    return NULL;
  }
  r->db = db;
  return db;
}

static void release_db(si_http_server *srv, si_db *db) {
  if (!db)
    return;
  si_db_rollback(db); /* a handler that failed mid-transaction must not pass it on */
  pthread_mutex_lock(&srv->pool_lock);
  if (srv->nidle < DB_POOL_MAX) {
    srv->idle[srv->nidle++] = db;
    db = NULL;
  }
  pthread_mutex_unlock(&srv->pool_lock);
  si_db_close(db);
}

/* ---- the request deadline ---- */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connections come and go through libmicrohttpd's notification; the slot
 * is the connection's socket context. CLOSED is notified before the socket
 * is closed, so under conn_lock a slot's fd is still that connection's. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  si_http_server *srv = cls;
  pthread_mutex_lock(&srv->conn_lock);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        mhd.MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    for (int i = 0; i < srv->nconns && ci; i++)
      if (!srv->conns[i].used) {
        srv->conns[i] = (web_conn){1, ci->connect_fd, 1, mono_ms(), 0};
        *socket_context = &srv->conns[i];
        break;
      }
  } else if (*socket_context) {
    ((web_conn *)*socket_context)->used = 0;
    *socket_context = NULL;
  }
  pthread_mutex_unlock(&srv->conn_lock);
}

/* The connection starts (1) or stops (0) waiting for a request. */
static void conn_waiting(si_http_server *srv, struct MHD_Connection *conn, int receiving) {
  const union MHD_ConnectionInfo *ci =
      mhd.MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  web_conn *c = ci ? ci->socket_context : NULL;
  if (!c)
    return;
  pthread_mutex_lock(&srv->conn_lock);
  if (c->used) {
    c->receiving = receiving;
    c->since = mono_ms();
  }
  pthread_mutex_unlock(&srv->conn_lock);
}

/* Shuts down connections whose request is late; libmicrohttpd then sees
 * the end of the stream and closes them on its own thread. When nearly
 * every connection is taken (many addresses dribbling at once), the oldest
 * waiters go early, down to PRESSURE_LOW open: a real request takes
 * milliseconds, so whoever has been sending one for over a second is the
 * one to drop. Called with conn_lock held; returns how many it cut. */
static int cut_late(si_http_server *srv, int64_t now) {
  int cut = 0, used = 0;
  for (int i = 0; i < srv->nconns; i++) {
    web_conn *c = &srv->conns[i];
    used += c->used && !c->cut;
    if (c->used && c->receiving && !c->cut && now - c->since > srv->deadline_ms) {
      shutdown(c->fd, SHUT_RDWR);
      c->cut = 1;
      cut++;
      used--;
    }
  }
  int high = srv->nconns - srv->nconns / PRESSURE_HIGH_DIV;
  int low = srv->nconns - srv->nconns / PRESSURE_LOW_DIV;
  if (used <= high)
    return cut;
  while (used > low) {
    web_conn *oldest = NULL;
    for (int i = 0; i < srv->nconns; i++) {
      web_conn *c = &srv->conns[i];
      if (c->used && c->receiving && !c->cut && now - c->since > PRESSURE_MIN_MS &&
          (!oldest || c->since < oldest->since))
        oldest = c;
    }
    if (!oldest)
      break;
    shutdown(oldest->fd, SHUT_RDWR);
    oldest->cut = 1;
    cut++;
    used--;
  }
  return cut;
}

static void reap_late(si_http_server *srv) {
  pthread_mutex_lock(&srv->conn_lock);
  int cut = cut_late(srv, mono_ms());
  pthread_mutex_unlock(&srv->conn_lock);
  if (cut)
    si_log(SI_LOG_DEBUG, "web: closed %d connection%s still sending a request", cut,
           cut == 1 ? "" : "s");
}

static void *reaper_main(void *arg) {
  si_http_server *srv = arg;
  pthread_mutex_lock(&srv->tick_lock);
  while (!srv->stopping) {
    pthread_mutex_unlock(&srv->tick_lock);
    reap_late(srv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += REAP_PERIOD_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&srv->tick_lock);
    if (!srv->stopping)
      pthread_cond_timedwait(&srv->tick_cond, &srv->tick_lock, &until);
  }
  pthread_mutex_unlock(&srv->tick_lock);
  return NULL;
}

/* ---- heartbeat ---- */

void web_host_name(char *out, size_t size) {
  out[size - 1] = '\0';
  if (gethostname(out, size - 1) != 0 || !out[0])
    snprintf(out, size, "localhost");
}

/* Proof of life for the dashboard: the daemon process answers, and its
 * threads are scheduled. Only the first failure in a row is logged. */
static void *ticker_main(void *arg) {
  si_http_server *srv = arg;
  si_db *db = NULL;
  int failing = 0;
  pthread_mutex_lock(&srv->tick_lock);
  while (!srv->stopping) {
    pthread_mutex_unlock(&srv->tick_lock);
    si_error err;
    si_status st = db ? SI_OK : si_db_open(srv->cfg->database, &db, &err);
    if (st == SI_OK)
      st =
          si_web_heartbeat_beat(db, srv->beat_id, srv->host, (long)getpid(), srv->started_at, &err);
    if (st != SI_OK && !failing) {
      char buf[1024];
      si_log(SI_LOG_WARN, "web: heartbeat: %s", si_error_format(&err, buf, sizeof buf));
    }
    failing = st != SI_OK;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WEB_HEARTBEAT_S;
    pthread_mutex_lock(&srv->tick_lock);
    while (!srv->stopping && pthread_cond_timedwait(&srv->tick_cond, &srv->tick_lock, &until) == 0)
      ;
  }
  pthread_mutex_unlock(&srv->tick_lock);
  si_error err;
  if (db)
    si_web_heartbeat_end(db, srv->beat_id, &err); /* a stopped daemon is no live worker */
  si_db_close(db);
  return NULL;
}

/* ---- request helpers ---- */

const char *web_query(const web_req *r, const char *key) {
  return mhd.MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *web_header(const web_req *r, const char *name) {
  return mhd.MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *web_cookie(const web_req *r, const char *name) {
  return mhd.MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const char *web_form(web_req *r, const char *key) {
  if (!r->form) {
    /* "k=v&k=v" becomes "k\0v\0k\0v\0\0", decoded, in one allocation; a
     * pair never grows by more than its two NULs. */
    size_t n = r->body.len;
    r->form = calloc(1, 2 * n + 3);
    if (!r->form)
      return NULL;
    char *out = r->form;
    const char *p = r->body.data ? r->body.data : "";
    while (*p) {
      size_t len = strcspn(p, "&");
      if (len > 0) {
        memcpy(out, p, len);
        out[len] = '\0';
        char *eq = strchr(out, '=');
        char *value = eq ? eq + 1 : out + len;
        if (eq)
          *eq = '\0';
        web_url_decode(out);
        web_url_decode(value);
        size_t klen = strlen(out), vlen = strlen(value);
        memmove(out + klen + 1, value, vlen + 1);
        if (klen) /* an empty name would read as the end of the list */
          out += klen + 1 + vlen + 1;
      }
      p += len;
      if (*p == '&')
        p++;
    }
    *out = '\0';
  }
  for (const char *k = r->form; *k;) {
    const char *v = k + strlen(k) + 1;
    if (strcmp(k, key) == 0)
      return v;
    k = v + strlen(v) + 1;
  }
  return NULL;
}

void web_json(web_req *r, unsigned status, json_t *j) {
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
  json_decref(j);
  r->out.len = 0;
  if (!text) {
    r->status = 500;
    r->type = "application/json";
    hb_put(&r->out, "{\"detail\":\"cannot build the answer\"}");
    return;
  }
  r->status = status;
  r->type = "application/json";
  hb_put(&r->out, text);
  free(text);
}

void web_fail(web_req *r, unsigned status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (r->api)
    web_json(r, status, json_pack("{s:o}", "detail", web_text_json(msg)));
  else
    page_error(r, status, msg);
}

void web_fail_db(web_req *r, const si_error *err) {
  char buf[1024];
  si_log(SI_LOG_ERROR, "web: %s %s: %s", r->method, r->path, si_error_format(err, buf, sizeof buf));
  web_fail(r, 500, "database error");
}

void web_redirect(web_req *r, const char *location) {
  r->status = 303;
  /* Bytes outside printable ASCII (a decoded ?next= may hold any) go out
   * percent-encoded: a header carries no raw or invalid UTF-8 either. */
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)location; *p && o + 4 <= sizeof r->location;
       p++) {
    if (*p > 0x20 && *p < 0x7f) {
      r->location[o++] = (char)*p;
    } else {
      r->location[o++] = '%';
      r->location[o++] = hex[*p >> 4];
      r->location[o++] = hex[*p & 15];
    }
  }
  r->location[o] = '\0';
  r->type = "text/plain; charset=utf-8";
  r->out.len = 0;
  hb_put(&r->out, "See Other\n");
}

void web_set_cookie(web_req *r, const char *name, const char *value, int max_age) {
  if (r->ncookies >= 2)
    return;
  /* No Secure flag: the server speaks plain HTTP (on loopback by default);
   * a TLS proxy in front may add it. */
  char age[40] = "";
  if (max_age >= 0)
    snprintf(age, sizeof age, "; Max-Age=%d", max_age);
  snprintf(r->cookie[r->ncookies++], sizeof r->cookie[0],
           "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", name, value, age);
}

typedef struct arg_check {
  const char *const *allowed;
  const char *bad;
} arg_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
  (void)kind;
  (void)value;
  arg_check *c = cls;
  for (const char *const *a = c->allowed; *a; a++)
    if (strcmp(*a, key) == 0)
      return MHD_YES;
  c->bad = key;
  return MHD_NO;
}

int web_only_params(web_req *r, const char *const *allowed) {
  arg_check c = {allowed, NULL};
  mhd.MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &c);
  if (!c.bad)
    return 0;
  hbuf known = {0};
  for (const char *const *a = allowed; *a; a++)
    hb_printf(&known, "%s%s", a == allowed ? "" : ", ", *a);
  web_fail(r, 400, "unknown parameter '%.100s' (known: %s)", c.bad,
           known.data ? known.data : "none");
  hb_free(&known);
  return -1;
}

int web_int_param(web_req *r, const char *key, int64_t def, int64_t min, int64_t max,
                  int64_t *out) {
  const char *v = web_query(r, key);
  *out = def;
  if (!v)
    return 0;
  int64_t n = 0;
  size_t len = strlen(v);
  int ok = len > 0 && len <= 18 && strspn(v, "0123456789") == len;
  if (ok) {
    n = strtoll(v, NULL, 10);
    ok = n >= min && n <= max;
  }
  if (!ok) {
    web_fail(r, 400, "%s must be a whole number from %lld to %lld, not '%.40s'", key,
             (long long)min, (long long)max, v);
    return -1;
  }
  *out = n;
  return 0;
}

/* "http://" and the host the request was checked against: a spelling from
 * the configuration or the listen address, never the client's bytes. */
void web_origin(const web_req *r, hbuf *b) { hb_printf(b, "http://%s", r->origin); }

typedef struct self_url {
  hbuf *b;
  const char *key, *value;
  int n;
} self_url;

static void add_pair(self_url *s, const char *key, const char *value) {
  hb_put(s->b, s->n++ ? "&" : "?");
  hb_url(s->b, key);
  if (value) {
    hb_put(s->b, "=");
    hb_url(s->b, value);
  }
}

static enum MHD_Result copy_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
  (void)kind;
  self_url *s = cls;
  if (strcmp(key, s->key) != 0)
    add_pair(s, key, value);
  return MHD_YES;
}

void web_self_url(const web_req *r, hbuf *b, const char *key, const char *value) {
  /* The path as received, each segment encoded again. */
  for (const char *p = r->path; *p;) {
    size_t n = strcspn(p, "/");
    if (n) {
      char seg[WEB_URL_MAX];
      snprintf(seg, sizeof seg, "%.*s", (int)n, p);
      hb_url(b, seg);
    }
    p += n;
    if (*p == '/') {
      hb_put(b, "/");
      p++;
    }
  }
  self_url s = {b, key, value, 0};
  mhd.MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, copy_arg, &s);
  if (value)
    add_pair(&s, key, value);
}

/* ---- the Host header ---- */

static void add_host(si_http_server *srv, const char *name, const char *port) {
  if (srv->nhosts >= HOSTS_MAX)
    return;
  char text[300];
  snprintf(text, sizeof text, "%s%s%s", name, port ? ":" : "", port ? port : "");
  for (char *p = text; *p; p++)
    *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
  for (int i = 0; i < srv->nhosts; i++)
    if (strcmp(srv->hosts[i], text) == 0)
      return;
  srv->hosts[srv->nhosts] = strdup(text);
  if (srv->hosts[srv->nhosts])
    srv->nhosts++;
}

/* A name as clients write it in Host: with the port, and without it when
 * the port is HTTP's default (browsers leave :80 out). */
static void add_name(si_http_server *srv, const char *name) {
  add_host(srv, name, srv->port);
  if (strcmp(srv->port, "80") == 0)
    add_host(srv, name, NULL);
}

/* "host:port" entries are taken as written; a bare name also answers on
 * the listen port, and without a port (a proxy in front on 80 or 443). */
static void add_configured(si_http_server *srv, const char *entry, size_t len) {
  char name[300];
  snprintf(name, sizeof name, "%.*s", (int)len, entry);
  const char *bracket = strrchr(name, ']');
  const char *colon = strrchr(name, ':');
  int has_port = colon && (name[0] == '[' ? bracket && colon > bracket : 1);
  if (has_port) {
    add_host(srv, name, NULL);
    return;
  }
  add_host(srv, name, srv->port);
  add_host(srv, name, NULL);
}

/* Which Host headers this server answers: [web] hosts when set; else the
 * listen address, the loopback names when it is a loopback address, and
 * this machine's name and own addresses when it listens on every address.
 * A DNS-rebinding page reaches us under its own name, which is none of
 * these, so it gets 421 before any route (and before the same-origin check
 * could be fooled by a Host that matches its Origin). */
static void build_hosts(si_http_server *srv, const char *listen, const char *hosts) {
  const char *colon = strrchr(listen, ':');
  snprintf(srv->port, sizeof srv->port, "%s", colon + 1);
  if (hosts[0]) {
    for (const char *p = hosts; *p;) {
      size_t n = strcspn(p, ",");
      add_configured(srv, p, n);
      p += n + (p[n] == ',');
    }
    return;
  }
  char host[256];
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  int wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0;
  int loopback =
      strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "localhost") == 0;
  if (!wildcard)
    add_name(srv, host);
  if (loopback || wildcard) {
    add_name(srv, "localhost");
    add_name(srv, "127.0.0.1");
    add_name(srv, "[::1]");
  }
  if (wildcard) {
    add_name(srv, srv->host);
    srv->own_address = 1;
  }
}

/* host (lower case) is the address literal of the connection's local end:
 * a client that typed our address itself, which no rebinding can forge. */
static int own_address(const web_req *r, const char *host, char *canon, size_t size) {
  const union MHD_ConnectionInfo *ci =
      mhd.MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  char addr[INET6_ADDRSTRLEN + 2] = "";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
  } else if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
      inet_ntop(AF_INET, a6->s6_addr + 12, addr, sizeof addr);
    } else {
      char v6[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, a6, v6, sizeof v6);
      snprintf(addr, sizeof addr, "[%s]", v6);
    }
  }
  char with_port[sizeof addr + 8];
  snprintf(with_port, sizeof with_port, "%s:%s", addr, r->srv->port);
  int same = addr[0] && (strcmp(host, with_port) == 0 ||
                         (strcmp(r->srv->port, "80") == 0 && strcmp(host, addr) == 0));
  if (same)
    snprintf(canon, size, "%s", with_port);
  return same;
}

/* 0 and r->origin set when the Host header is one we answer; else answers
 * 421 Misdirected Request and returns -1. HTTP/1.0 may leave Host out: then
 * links use the first name we answer. */
static int check_host(web_req *r) {
  si_http_server *srv = r->srv;
  const char *host = web_header(r, MHD_HTTP_HEADER_HOST);
  if (!host) {
    snprintf(r->origin, sizeof r->origin, "%s", srv->nhosts ? srv->hosts[0] : "localhost");
    return 0;
  }
  char lower[300];
  size_t n = strlen(host);
  if (n < sizeof lower) {
    for (size_t i = 0; i <= n; i++)
      lower[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] - 'A' + 'a' : host[i]);
    for (int i = 0; i < srv->nhosts; i++)
      if (strcmp(lower, srv->hosts[i]) == 0) {
        snprintf(r->origin, sizeof r->origin, "%s", srv->hosts[i]);
        return 0;
      }
    if (srv->own_address && own_address(r, lower, r->origin, sizeof r->origin))
      return 0;
  }
  web_fail(r, 421, "this server does not answer for host '%.100s' (see [web] hosts)", host);
  return -1;
}

/* ---- the request life cycle ---- */

static void add_security_headers(struct MHD_Response *resp, int asset) {
  mhd.MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  mhd.MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  mhd.MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
  mhd.MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
  mhd.MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
  mhd.MHD_add_response_header(resp, "Permissions-Policy",
                              "camera=(), microphone=(), geolocation=()");
  /* Scripts and styles come only from /static: no inline code can run. */
  mhd.MHD_add_response_header(resp, "Content-Security-Policy",
                              "default-src 'none'; script-src 'self'; style-src 'self'; "
                              "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                              "frame-ancestors 'none'; base-uri 'none'");
  mhd.MHD_add_response_header(resp, "Cache-Control", asset ? "no-cache" : "no-store");
}

/* The last guard of "never emit invalid UTF-8": text that a handler built
 * from raw bytes without hb_html or web_text_json is repaired here. */
static void repair_text(web_req *r) {
  if (!r->out.data || si_utf8_valid(r->out.data, r->out.len))
    return;
  size_t n = 0;
  char *fixed = si_utf8_repair(r->out.data, r->out.len, &n);
  if (!fixed) {
    r->out.oom = 1;
    return;
  }
  si_log(SI_LOG_WARN, "web: %s %s: invalid UTF-8 in the answer, repaired", r->method, r->path);
  hb_free(&r->out);
  r->out = (hbuf){fixed, n, n + 1, 0};
}

static enum MHD_Result send_response(web_req *r) {
  struct MHD_Response *resp;
  if (!r->static_body)
    repair_text(r);
  if (r->out.oom) {
    r->out.oom = 0;
    r->out.len = 0;
    r->status = 500;
    r->type = "text/plain; charset=utf-8";
    r->static_body = NULL;
  }
  if (r->static_body) {
    resp = mhd.MHD_create_response_from_buffer(r->static_len, (void *)r->static_body,
                                               MHD_RESPMEM_PERSISTENT);
  } else if (r->out.data && r->out.len) {
    resp = mhd.MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_MUST_FREE);
    r->out = (hbuf){0};
  } else {
    resp = mhd.MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!resp)
    return MHD_NO;
  add_security_headers(resp, r->static_body != NULL);
  if (r->type)
    mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
  if (r->etag)
    mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
  if (r->location[0])
    mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
  if (r->allow)
    mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  /* Bearer only: a Basic challenge would make browsers prompt and then
   * send the password on their own, which CSRF could ride on. */
  if (r->challenge)
    mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"sendit\"");
  for (int i = 0; i < r->ncookies; i++)
    mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->cookie[i]);
  if (r->retry_after > 0) {
    char seconds[16];
    snprintf(seconds, sizeof seconds, "%d", r->retry_after);
    mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
  }
  if (r->status == 413 || r->status == 414)
    mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result ret = mhd.MHD_queue_response(r->conn, r->status, resp);
  mhd.MHD_destroy_response(resp);
  return ret;
}

static void finish_request(web_req *r) {
  release_db(r->srv, r->db);
  r->db = NULL;
}

/* Sees the URI as sent, before libmicrohttpd decodes it: the only place
 * where a %00 (which decoding would turn into an early end of the string)
 * or the full length with the query can be seen. Its result becomes the
 * request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)conn;
  web_req *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->srv = cls;
  r->raw_too_long = strlen(uri) > WEB_URL_MAX;
  r->raw_has_nul = strstr(uri, "%00") != NULL;
  return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  (void)cls;
  web_req *r = *con_cls;
  if (!r)
    return MHD_NO;
  if (!r->started) {
    r->started = 1;
    r->conn = conn;
    r->path = url;
    r->method = strcmp(method, "HEAD") == 0 ? "GET" : method;
    r->api = strncmp(url, "/api", 4) == 0 || strncmp(url, "/metrics", 8) == 0;
    r->status = 200;
    if (check_host(r) != 0)
      return send_response(r);
    const char *length = web_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > WEB_BODY_MAX) {
      /* Answered before the body is read; the connection then closes. */
      web_fail(r, 413, "the request body is larger than %d bytes", WEB_BODY_MAX);
      return send_response(r);
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (r->body.len + *upload_data_size > WEB_BODY_MAX)
      r->body_too_large = 1;
    else
      hb_putn(&r->body, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  conn_waiting(r->srv, conn, 0);
  if (r->body_too_large)
    web_fail(r, 413, "the request body is larger than %d bytes", WEB_BODY_MAX);
  else if (r->raw_too_long || strlen(url) > WEB_URL_MAX)
    web_fail(r, 414, "the URL is longer than %d bytes", WEB_URL_MAX);
  else if (r->raw_has_nul)
    web_fail(r, 400, "a NUL byte in the URL");
  else {
    /* Again from the start after a hold: the route finds the verdict. */
    r->held = 0;
    r->path = url;
    web_route(r);
  }
  finish_request(r);
  if (r->held) /* suspended until the verifier has the verdict */
    return MHD_YES;
  if (r->status == 500)
    si_log(SI_LOG_WARN, "web: %s %s: %u", method, url, r->status);
  else
    si_log(SI_LOG_DEBUG, "web: %s %s: %u", method, url, r->status);
  return send_response(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)toe;
  /* A kept-alive connection has request_timeout for its next request. */
  conn_waiting(cls, conn, 1);
  web_req *r = *con_cls;
  if (!r)
    return;
  release_db(cls, r->db);
  hb_free(&r->body);
  hb_free(&r->out);
  free(r->form);
  free(r);
  *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
    msg[--n] = '\0';
  si_log(SI_LOG_WARN, "web: %s", msg);
}

/* ---- start and stop ---- */

/* host:port or [v6]:port (checked by the configuration) to an address. */
static si_status resolve(const char *listen, struct addrinfo **out, si_error *err) {
  char host[256];
  const char *colon = strrchr(listen, ':');
  size_t n = (size_t)(colon - listen);
  if (listen[0] == '[')
    snprintf(host, sizeof host, "%.*s", (int)(n - 2), listen + 1);
  else
    snprintf(host, sizeof host, "%.*s", (int)n, listen);
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  int rc = getaddrinfo(host, colon + 1, &hints, out);
  if (rc != 0)
    return si_error_set(err, SI_ERR_CONFIG, NULL, SI_NO_OFFSET, SI_NO_TAG, "[web] listen = %s: %s",
                        listen, gai_strerror(rc));
  return SI_OK;
}

static void stop_threads(si_http_server *srv) {
  pthread_mutex_lock(&srv->tick_lock);
  srv->stopping = 1;
  pthread_cond_broadcast(&srv->tick_cond);
  pthread_mutex_unlock(&srv->tick_lock);
  if (srv->ticker_started)
    pthread_join(srv->ticker, NULL);
  if (srv->reaper_started)
    pthread_join(srv->reaper, NULL);
  srv->ticker_started = srv->reaper_started = 0;
}

static void free_server(si_http_server *srv) {
  stop_threads(srv);
  for (int i = 0; i < srv->nidle; i++)
    si_db_close(srv->idle[i]);
  for (int i = 0; i < srv->nhosts; i++)
    free(srv->hosts[i]);
  web_auth_free(srv->auth);
  web_page_index_free(srv->pages);
  free(srv->conns);
  pthread_mutex_destroy(&srv->pool_lock);
  pthread_mutex_destroy(&srv->conn_lock);
  pthread_mutex_destroy(&srv->tick_lock);
  pthread_cond_destroy(&srv->tick_cond);
  free(srv);
}

si_status si_http_start(const si_config *cfg, const si_http_options *opts, si_http_server **out,
                        si_error *err) {
  *out = NULL;
  static pthread_once_t loaded = PTHREAD_ONCE_INIT;
  pthread_once(&loaded, load_libmicrohttpd);
  if (mhd_problem[0])
    return si_error_set(err, SI_ERR_UNSUPPORTED, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "the web dashboard needs libmicrohttpd (Debian package libmicrohttpd12), "
                        "which could not be loaded: %s",
                        mhd_problem);
  si_http_server *srv = calloc(1, sizeof *srv);
  if (!srv)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  srv->cfg = cfg;
  if (opts)
    srv->opts = *opts;
  int threads = srv->opts.threads > 0 ? srv->opts.threads : THREADS_DEFAULT;
  int conns = srv->opts.max_connections > 0 ? srv->opts.max_connections : CONNECTIONS_DEFAULT;
  pthread_mutex_init(&srv->pool_lock, NULL);
  pthread_mutex_init(&srv->conn_lock, NULL);
  pthread_mutex_init(&srv->tick_lock, NULL);
  pthread_cond_init(&srv->tick_cond, NULL);
  srv->started_at = si_now_ms();
  web_host_name(srv->host, sizeof srv->host);
  snprintf(srv->beat_id, sizeof srv->beat_id, "%s:%ld", srv->host, (long)getpid());
  int per_address = cfg->web_connections_per_address > 0 ? cfg->web_connections_per_address : 64;
  srv->deadline_ms = (int64_t)(cfg->web_request_timeout > 0 ? cfg->web_request_timeout : 10) * 1000;
  srv->nconns = conns;
  srv->conns = calloc((size_t)conns, sizeof *srv->conns);
  si_status st =
      srv->conns ? web_auth_new(cfg, &srv->auth, err)
                 : si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK && !(srv->pages = web_page_index_new()))
    st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  struct addrinfo *ai = NULL;
  if (st == SI_OK)
    st = resolve(cfg->web_listen, &ai, err);
  if (st == SI_OK)
    build_hosts(srv, cfg->web_listen, cfg->web_hosts ? cfg->web_hosts : "");
  if (st != SI_OK) {
    free_server(srv);
    return st;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME;
  if (ai->ai_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  srv->mhd = mhd.MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
      MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned int)per_address, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned int)WEB_CONN_TIMEOUT_S, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)LISTEN_BACKLOG, MHD_OPTION_URI_LOG_CALLBACK,
      on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!srv->mhd) {
    free_server(srv);
    return si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "cannot serve the web dashboard on %s (address in use?)", cfg->web_listen);
  }
  if (pthread_create(&srv->ticker, NULL, ticker_main, srv) == 0)
    srv->ticker_started = 1;
  if (pthread_create(&srv->reaper, NULL, reaper_main, srv) == 0)
    srv->reaper_started = 1;
  if (web_auth_is_open(srv->auth))
    si_log(SI_LOG_WARN,
           "web: [web] auth = none: the dashboard and API on %s are open to anyone who can "
           "reach that address",
           cfg->web_listen);
  else if (!web_auth_ready(srv->auth))
    si_log(SI_LOG_WARN,
           "web: no password or API token is set in %s: every page answers 503 until "
           "`sendit set_password` sets one",
           cfg->web_password_file);
  si_log(SI_LOG_INFO,
         "web: dashboard and API on http://%s/ (%d threads, at most %d connections, %d per "
         "address, %lld s for a request)",
         cfg->web_listen, threads, conns, per_address, (long long)(srv->deadline_ms / 1000));
  *out = srv;
  return SI_OK;
}

void si_http_stop(si_http_server *srv) {
  if (!srv)
    return;
  /* No connection may stay suspended when the daemon stops: the verifier
   * releases the checks still queued first. */
  web_auth_stop(srv->auth);
  mhd.MHD_stop_daemon(srv->mhd);
  free_server(srv);
}
