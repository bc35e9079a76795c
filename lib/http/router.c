/* One static table of routes: method, pattern ("{x}" matches one path
 * segment), handler and whether it needs a signed-in client. The router
 * rejects odd paths, finds the route (404, or 405 with Allow), checks who
 * the client is (401, or 503 while no password is set) and, for requests
 * that change something, the origin and the CSRF token (403). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

enum { PUBLIC, SIGNED_IN };

typedef struct route {
  const char *method;
  const char *pattern;
  web_handler handler;
  int auth;
} route;

static const route routes[] = {
    {"GET", "/", page_dashboard, SIGNED_IN},
    {"GET", "/batches/{uid}", page_batch, SIGNED_IN},
    {"POST", "/batches/{uid}/retry", page_batch_retry, SIGNED_IN},
    {"GET", "/images/{id}", page_image, SIGNED_IN},
    {"GET", "/settings", page_settings, SIGNED_IN},
    {"GET", "/login", page_login, PUBLIC},
    {"POST", "/login", page_login_post, PUBLIC},
    {"POST", "/logout", page_logout, SIGNED_IN},
    {"GET", "/static/{name}", page_static, PUBLIC},
    {"GET", "/api/status", api_status, SIGNED_IN},
    {"GET", "/api/batches", api_batches, SIGNED_IN},
    {"GET", "/api/batches/{uid}", api_batch, SIGNED_IN},
    {"POST", "/api/batches/{uid}/retry", api_batch_retry, SIGNED_IN},
    {"GET", "/api/images", api_images, SIGNED_IN},
    {"GET", "/api/images/{id}", api_image, SIGNED_IN},
    {"GET", "/api/openapi.json", api_openapi, SIGNED_IN},
    {"GET", "/metrics", web_metrics, SIGNED_IN},
};

enum { ROUTE_COUNT = sizeof routes / sizeof routes[0] };

/* Matches path against pattern, capturing "{x}" segments into caps (each
 * at most `size` bytes). */
static int match(const char *pattern, const char *path, char caps[2][512], int *ncaps) {
  *ncaps = 0;
  while (*pattern && *path) {
    if (*pattern == '{') {
      size_t n = strcspn(path, "/");
      if (n == 0 || n >= 512 || *ncaps >= 2)
        return 0;
      memcpy(caps[*ncaps], path, n);
      caps[(*ncaps)++][n] = '\0';
      path += n;
      pattern = strchr(pattern, '}');
      if (!pattern)
        return 0;
      pattern++;
    } else if (*pattern++ != *path++) {
      return 0;
    }
  }
  return *pattern == '\0' && *path == '\0';
}

/* ".." or "." segments, empty segments, backslashes and control characters
 * have no business in our URLs; refusing them keeps any future file-serving
 * code safe from traversal. */
static int odd_path(const char *path) {
  if (path[0] != '/')
    return 1;
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
      return 1;
  for (const char *seg = path + 1;;) {
    size_t n = strcspn(seg, "/");
    int last = seg[n] == '\0';
    if ((n == 0 && !last) || (n == 1 && seg[0] == '.') ||
        (n == 2 && seg[0] == '.' && seg[1] == '.'))
      return 1;
    if (last)
      return 0;
    seg += n + 1;
  }
}

/* A request that changes state must come from our own pages: same origin
 * and, when made with a session cookie, that session's CSRF token. */
static int csrf_ok(web_req *r) {
  const char *origin = web_header(r, "Origin");
  if (origin && strcmp(origin, "null") != 0) {
    hbuf ours = {0};
    web_origin(r, &ours);
    int same = ours.data && strcmp(origin, ours.data) == 0;
    hb_free(&ours);
    if (!same) {
      web_fail(r, 403, "cross-origin request refused");
      return 0;
    }
  } else if (origin) {
    web_fail(r, 403, "cross-origin request refused");
    return 0;
  }
  if (!r->session[0])
    return 1; /* Basic, Bearer, or auth = none without a cookie: nothing ambient to ride on */
  const char *token = web_header(r, "X-CSRF-Token");
  if (!token)
    token = web_form(r, "csrf_token");
  if (!token || !web_secret_equal(token, r->csrf)) {
    web_fail(r, 403, "missing or wrong CSRF token");
    return 0;
  }
  return 1;
}

int web_check_answer(web_req *r, web_check *c) {
  switch (c->state) {
  case WEB_CHECK_QUEUED:
    r->held = 1; /* no answer yet: the verifier will release the request */
    return 1;
  case WEB_CHECK_LIMITED:
    r->retry_after = c->retry_after;
    web_fail(r, 429, "too many failed sign-ins from your address: try again in %d s",
             c->retry_after);
    return 1;
  case WEB_CHECK_BUSY:
    r->retry_after = c->retry_after;
    web_fail(r, 429, "too many sign-ins are being checked: try again in %d s", c->retry_after);
    return 1;
  default:
    return 0;
  }
}

static void need_sign_in(web_req *r) {
  if (r->api || strcmp(r->method, "GET") != 0) {
    r->challenge = 1;
    web_fail(r, 401, "authentication required: log in, or send HTTP Basic or a Bearer token");
    return;
  }
  hbuf next = {0}, to = {0};
  web_self_url(r, &next, "", NULL);
  hb_put(&to, "/login?next=");
  hb_url(&to, next.data ? next.data : "/");
  web_redirect(r, to.data ? to.data : "/login");
  hb_free(&next);
  hb_free(&to);
}

/* Who the client is: 1 when it may go on, else 0 after answering. */
static int authenticate(web_req *r) {
  web_auth *a = web_auth_of(r);
  const char *cookie = web_cookie(r, "sendit_session");
  if (cookie && web_session_get(a, cookie, r->csrf))
    snprintf(r->session, sizeof r->session, "%s", cookie);
  if (web_auth_is_open(a)) {
    /* Nobody logs in, yet pages still need a session to carry the CSRF
     * token of their forms. */
    if (!r->session[0] && !r->api && web_session_new(a, r->session, r->csrf))
      web_set_cookie(r, "sendit_session", r->session, WEB_SESSION_MAX_S);
    r->via = r->session[0] ? WEB_VIA_SESSION : WEB_VIA_OPEN;
    return 1;
  }
  if (!web_auth_ready(a)) {
    web_fail(r, 503, "no password is set: run `sendit set_password` on the server");
    return 0;
  }
  const char *authorization = web_header(r, "Authorization");
  if (authorization) {
    /* Explicit credentials win over a cookie, and must be right. */
    r->session[0] = r->csrf[0] = '\0';
    web_check *c = web_check_of(r);
    web_check_header(a, authorization, c);
    if (c->state == WEB_CHECK_RIGHT) {
      r->via = c->via;
      return 1;
    }
    if (!web_check_answer(r, c)) {
      r->challenge = 1;
      web_fail(r, 401, "wrong credentials");
    }
    return 0;
  }
  if (r->session[0]) {
    r->via = WEB_VIA_SESSION;
    return 1;
  }
  need_sign_in(r);
  return 0;
}

void web_route(web_req *r) {
  if (odd_path(r->path)) {
    web_fail(r, 400, "bad path");
    return;
  }
  /* "/api/batches/" is "/api/batches", as in the original's URLs. */
  snprintf(r->path_buf, sizeof r->path_buf, "%s", r->path);
  size_t n = strlen(r->path_buf);
  if (n > 1 && r->path_buf[n - 1] == '/')
    r->path_buf[n - 1] = '\0';
  r->path = r->path_buf;
  const route *found = NULL;
  int ncaps = 0, get = 0, post = 0;
  for (int i = 0; i < ROUTE_COUNT && !found; i++) {
    if (!match(routes[i].pattern, r->path, r->capture, &ncaps))
      continue;
    if (strcmp(routes[i].method, r->method) == 0)
      found = &routes[i];
    else if (strcmp(routes[i].method, "GET") == 0)
      get = 1;
    else
      post = 1;
  }
  if (!found && (get || post)) {
    r->allow = get && post ? "GET, HEAD, POST" : get ? "GET, HEAD" : "POST";
    web_fail(r, 405, "method %s is not allowed here (allowed: %s)", r->method, r->allow);
    return;
  }
  if (!found) {
    web_fail(r, 404, "not found");
    return;
  }
  r->arg[0] = ncaps > 0 ? r->capture[0] : NULL;
  r->arg[1] = ncaps > 1 ? r->capture[1] : NULL;
  if (found->auth == SIGNED_IN && !authenticate(r))
    return;
  if (strcmp(r->method, "GET") != 0 && found->auth == SIGNED_IN && !csrf_ok(r))
    return;
  found->handler(r);
}
