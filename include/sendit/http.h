/* The web dashboard and REST API, served by the daemon itself with
 * libmicrohttpd on [web] listen (127.0.0.1:8000 by default).
 *
 * Security model (see docs/web.md):
 *  - [web] auth = password (the default): every page and API route needs
 *    the password of user "admin" or the API token, whose argon2id hashes
 *    `sendit set_password` writes to [web] password_file. People log in with
 *    a form and get a session cookie (HttpOnly, SameSite=Strict); API
 *    clients send HTTP Basic (admin:password) or "Authorization: Bearer
 *    TOKEN". While no password is set every protected route answers 503.
 *    The file is re-read when it changes; a change ends every session.
 *  - [web] auth = none: open to anyone who can reach the address; the
 *    server logs a warning when it starts.
 *  - State-changing requests made with a session need its CSRF token
 *    (X-CSRF-Token header or csrf_token form field); a cross-origin Origin
 *    header is refused.
 *  - Only the Host names of [web] hosts (default: the listen address, and
 *    the localhost names on loopback) are answered, others get 421; links
 *    are built from the name that matched.
 *  - argon2id runs on a verifier thread of its own (the connection waits
 *    suspended), at most 4 queued (else 429); each client address may fail
 *    10 sign-ins, then one every 6 s (else 429 with Retry-After).
 *  - Connections are capped in all and per address ([web]
 *    connections_per_address), a whole request must arrive within [web]
 *    request_timeout, request headers and bodies are bounded, and only
 *    embedded assets are served, never files named by a URL.
 *  - Every text answer is valid UTF-8 (bad bytes become U+FFFD).
 *
 * Ownership: si_http_start borrows cfg and the site until si_http_stop
 * returns. */
#ifndef SENDIT_HTTP_H
#define SENDIT_HTTP_H

#include <stddef.h>

#include "sendit/config.h"
#include "sendit/error.h"

typedef struct si_http_server si_http_server;

/* What a server serves: its route table, its error page and the state they
 * need (lib/http/core.h). Static; never freed. */
typedef struct si_http_site si_http_site;

/* The web dashboard and REST API described above. */
const si_http_site *si_http_dashboard(void);

typedef struct si_http_options {
  /* The routes and error page to serve (si_http_dashboard()); required:
   * the server core knows none of its own. */
  const si_http_site *site;
  /* Called (from a server thread) after a retry queued a job, so idle
   * workers start at once; may be NULL. */
  void (*wake)(void *user);
  void *wake_user;
  int threads;         /* request threads; 0 = 4 */
  int max_connections; /* open connections at once; 0 = 256 */
} si_http_options;

/* Binds [web] listen and serves opts->site from its own threads (the
 * daemon's heartbeat, which the dashboard reads, is a service of its own).
 * Fails with SI_ERR_ARG without a site, SI_ERR_IO when the address cannot
 * be bound and SI_ERR_CONFIG when it cannot be resolved. */
si_status si_http_start(const si_config *cfg, const si_http_options *opts, si_http_server **out,
                        si_error *err);
/* Stops accepting, finishes or drops open requests, joins the threads and
 * frees the server. NULL is a no-op. */
void si_http_stop(si_http_server *srv);

/* ---- credentials, for `sendit set_password` ---- */

#define SI_WEB_USER "admin"
/* Shortest password accepted. */
#define SI_WEB_PASSWORD_MIN 8
/* Room for an API token made by si_web_new_token, with its NUL. */
#define SI_WEB_TOKEN_SIZE 64

/* Which secret a line of the password file holds. */
typedef enum si_web_secret { SI_WEB_PASSWORD, SI_WEB_TOKEN } si_web_secret;

/* Stores the argon2id hash of `secret` in the password file at `path`
 * (created with mode 0600, replaced atomically), keeping the other secret's
 * line. SI_ERR_ARG for a password shorter than SI_WEB_PASSWORD_MIN. */
si_status si_web_set_secret(const char *path, si_web_secret which, const char *secret,
                            si_error *err);

/* A new random API token ("sit_" and 43 base64url characters) into out. */
si_status si_web_new_token(char out[SI_WEB_TOKEN_SIZE], si_error *err);

#endif
