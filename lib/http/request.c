/* What a handler asks of its request: the server's configuration and
 * site state, the credential check's hold and release, query, headers,
 * cookies and form fields, and the answers (JSON, errors, redirects,
 * cookies), all over libmicrohttpd. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sendit/log.h"
#include "sendit/worker_registry.h"
#include "server_core.h"

const si_config *web_cfg(const web_req *r) { return r->srv->cfg; }
void *web_site_state(const web_req *r) { return r->srv->site_state; }

void web_wake(const web_req *r) {
  if (r->srv->opts.wake)
    r->srv->opts.wake(r->srv->opts.wake_user);
}

void web_host_name(char *out, size_t size) { si_worker_host_name(out, size); }

/* ---- credential checks off the serving threads ---- */

static void hold_conn(void *user) { web_mhd.MHD_suspend_connection(((web_req *)user)->conn); }
static void release_conn(void *user) { web_mhd.MHD_resume_connection(((web_req *)user)->conn); }

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
        web_mhd.MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    client_key(ci ? ci->client_addr : NULL, c->client, c->client_text, sizeof c->client_text);
    c->hold = hold_conn;
    c->release = release_conn;
    c->user = r;
  }
  return c;
}

/* ---- request helpers ---- */

const char *web_query(const web_req *r, const char *key) {
  return web_mhd.MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *web_header(const web_req *r, const char *name) {
  return web_mhd.MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *web_cookie(const web_req *r, const char *name) {
  return web_mhd.MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
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
    web_json(r, status, json_pack("{s:o}", "detail", ops_json_text(msg)));
  else if (r->srv->site->error_page)
    r->srv->site->error_page(r, status, msg);
  else {
    r->status = status;
    r->type = "text/plain; charset=utf-8";
    r->out.len = 0;
    hb_printf(&r->out, "%s\n", msg);
  }
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
  web_mhd.MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &c);
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
  web_mhd.MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, copy_arg, &s);
  if (value)
    add_pair(&s, key, value);
}
