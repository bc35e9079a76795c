/* The dashboard as a site of the server core: its route table (method,
 * pattern, handler, and whether the client must be signed in), its error
 * page, and its state (dashboard.c). The guard of
 * the signed-in routes checks who the client is (401, or 503 while no
 * password is set) and, for requests that change something, the origin
 * and the CSRF token (403). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { PUBLIC, SIGNED_IN };

static const web_endpoint routes[] = {
    {"GET", "/", page_dashboard, SIGNED_IN},
    {"GET", "/batches/{uid}", page_batch, SIGNED_IN},
    {"POST", "/batches/{uid}/retry", page_batch_retry, SIGNED_IN},
    {"GET", "/images/{id}", page_image, SIGNED_IN},
    {"GET", "/settings", page_settings, SIGNED_IN},
    {"GET", "/destinations", page_destinations, SIGNED_IN},
    {"GET", "/login", page_login, PUBLIC},
    {"POST", "/login", page_login_post, PUBLIC},
    {"POST", "/logout", page_logout, SIGNED_IN},
    {"GET", "/static/{name}", page_static, PUBLIC},
    {"GET", "/api/status", api_status, SIGNED_IN},
    {"GET", "/api/batches", api_batches, SIGNED_IN},
    {"GET", "/api/batches/{uid}", api_batch, SIGNED_IN},
    {"POST", "/api/batches/{uid}/retry", api_batch_retry, SIGNED_IN},
    {"GET", "/api/destinations", api_destinations, SIGNED_IN},
    {"GET", "/api/images", api_images, SIGNED_IN},
    {"GET", "/api/images/{id}", api_image, SIGNED_IN},
    {"GET", "/api/openapi.json", api_openapi, SIGNED_IN},
    {"GET", "/metrics", web_metrics, SIGNED_IN},
};

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

static int guard(web_req *r, const web_endpoint *route) {
  (void)route;
  if (!authenticate(r))
    return 0;
  return strcmp(r->method, "GET") == 0 || csrf_ok(r);
}

static const si_http_site dashboard_site = {
    .routes = routes,
    .nroutes = sizeof routes / sizeof routes[0],
    .guard = guard,
    .error_page = page_error,
    .open = web_dashboard_open,
    .serving = web_dashboard_serving,
    .quiesce = web_dashboard_quiesce,
    .close = web_dashboard_close,
};

const si_http_site *si_http_dashboard(void) { return &dashboard_site; }
