/* The dashboard's state, below its handlers and its site (router.c): the
 * credentials and the page index, made when the server starts. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "page_index.h"
#include "sendit/log.h"

typedef struct dashboard {
  web_auth *auth;
  web_page_index *pages;
} dashboard;

web_auth *web_auth_of(const web_req *r) { return ((dashboard *)web_site_state(r))->auth; }
struct web_page_index *web_pages_of(const web_req *r) {
  return ((dashboard *)web_site_state(r))->pages;
}

int web_check_answer(web_req *r, web_check *c) {
  switch ((int)c->state) {
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

/* ---- life cycle ---- */

void web_dashboard_close(void *state) {
  dashboard *d = state;
  web_auth_free(d->auth);
  web_page_index_free(d->pages);
  free(d);
}

si_status web_dashboard_open(const si_config *cfg, void **state, si_error *err) {
  dashboard *d = calloc(1, sizeof *d);
  if (!d)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  si_status st = web_auth_new(cfg, &d->auth, err);
  if (st == SI_OK && !(d->pages = web_page_index_new()))
    st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st != SI_OK) {
    web_dashboard_close(d);
    return st;
  }
  *state = d;
  return SI_OK;
}

void web_dashboard_serving(void *state, const si_config *cfg) {
  dashboard *d = state;
  if (web_auth_is_open(d->auth))
    si_log(SI_LOG_WARN,
           "web: [web] auth = none: the dashboard and API on %s are open to anyone who can "
           "reach that address",
           cfg->web_listen);
  else if (!web_auth_ready(d->auth))
    si_log(SI_LOG_WARN,
           "web: no password or API token is set in %s: every page answers 503 until "
           "`sendit set_password` sets one",
           cfg->web_password_file);
}

/* The verifier releases the checks still queued. */
void web_dashboard_quiesce(void *state) { web_auth_stop(((dashboard *)state)->auth); }
