/* Pieces of lib/http above the server core (core.h): credentials and
 * sessions, the dashboard's state, the route handlers, the shared facts
 * and the embedded assets. */
#ifndef SENDIT_HTTP_INTERNAL_H
#define SENDIT_HTTP_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/ops_status.h"
#include "sendit/ops_summary.h"
#include "sendit/store.h"
#include "sendit/store_web.h"

/* ---- credentials and sessions (auth.c) ---- */

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
/* ---- the dashboard's state (dashboard.c) ---- */

/* The credentials and the page index of the dashboard serving r. */
web_auth *web_auth_of(const web_req *r);
struct web_page_index *web_pages_of(const web_req *r);
/* For a check that is neither right nor wrong: holds the request (queued)
 * or answers 429 with Retry-After (limited, busy), and returns 1; returns
 * 0 for RIGHT and WRONG, which the caller answers. */
int web_check_answer(web_req *r, web_check *c);
/* The state's life cycle, as the site's hooks (core.h). */
si_status web_dashboard_open(const si_config *cfg, void **state, si_error *err);
void web_dashboard_serving(void *state, const si_config *cfg);
void web_dashboard_quiesce(void *state);
void web_dashboard_close(void *state);

/* ---- handlers ---- */

/* api.c, api_status.c */
void api_batches(web_req *r);
void api_batch(web_req *r);
void api_batch_retry(web_req *r);
void api_destinations(web_req *r);
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
void page_destinations(web_req *r); /* page_destinations.c */
void page_login(web_req *r);
void page_login_post(web_req *r);
void page_logout(web_req *r);
void page_static(web_req *r);
/* An HTML error page (pages.c). */
void page_error(web_req *r, unsigned status, const char *message);

/* ---- shared facts (status.c) ---- */

/* Statuses are the CLI's table (sendit/ops_status.h). */

/* The status summary the CLI shows too (sendit/ops_summary.h), and what
 * only the web shows: the daemon's heartbeat and the throughput. */
typedef struct web_facts {
  ops_summary sum;
  int64_t beat_at;                            /* last heartbeat, 0 when none */
  int active;                                 /* pidfile locked and heartbeat fresh */
  int64_t per_minute[WEB_THROUGHPUT_MINUTES]; /* [last] = this minute */
  int64_t now;
} web_facts;
/* Fills f; on failure answers 500 and returns -1. */
int web_gather(web_req *r, web_facts *f);

/* The JSON of a batch (ops_batch_json, as the CLI prints it, with the
 * links "url" and "images_url") and of an image, as the API lists them. */
json_t *web_batch_json(const web_req *r, const si_batch *b);
json_t *web_image_json(const web_req *r, const si_image *img, const char *batch_uid);

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
