/* The libmicrohttpd daemon: a fixed pool of threads polling with epoll, a cap
 * on connections and on each connection's memory, a pool of database
 * connections (one per busy thread: an si_db is used by one thread at a
 * time), and the request life cycle: collect the bounded body, route
 * through the site's table, answer with the security headers. The server
 * knows no route, page or credential: the site (si_http_options) brings
 * them. */
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sendit/log.h"
#include "sendit/utf8.h"
#include "server_core.h"

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

/* ---- the request life cycle ---- */

static void add_security_headers(struct MHD_Response *resp, int asset) {
  web_mhd.MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  web_mhd.MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  web_mhd.MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
  web_mhd.MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
  web_mhd.MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
  web_mhd.MHD_add_response_header(resp, "Permissions-Policy",
                                  "camera=(), microphone=(), geolocation=()");
  /* Scripts and styles come only from /static: no inline code can run. */
  web_mhd.MHD_add_response_header(resp, "Content-Security-Policy",
                                  "default-src 'none'; script-src 'self'; style-src 'self'; "
                                  "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                                  "frame-ancestors 'none'; base-uri 'none'");
  web_mhd.MHD_add_response_header(resp, "Cache-Control", asset ? "no-cache" : "no-store");
}

/* The last guard of "never emit invalid UTF-8": text that a handler built
 * from raw bytes without hb_html or ops_json_text is repaired here. */
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
    resp = web_mhd.MHD_create_response_from_buffer(r->static_len, (void *)r->static_body,
                                                   MHD_RESPMEM_PERSISTENT);
  } else if (r->out.data && r->out.len) {
    resp = web_mhd.MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_MUST_FREE);
    r->out = (hbuf){0};
  } else {
    resp = web_mhd.MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!resp)
    return MHD_NO;
  add_security_headers(resp, r->static_body != NULL);
  if (r->type)
    web_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
  if (r->etag)
    web_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
  if (r->location[0])
    web_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
  if (r->allow)
    web_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  /* Bearer only: a Basic challenge would make browsers prompt and then
   * send the password on their own, which CSRF could ride on. */
  if (r->challenge)
    web_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                    "Bearer realm=\"sendit\"");
  for (int i = 0; i < r->ncookies; i++)
    web_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->cookie[i]);
  if (r->retry_after > 0) {
    char seconds[16];
    snprintf(seconds, sizeof seconds, "%d", r->retry_after);
    web_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
  }
  if (r->status == 413 || r->status == 414)
    web_mhd.MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result ret = web_mhd.MHD_queue_response(r->conn, r->status, resp);
  web_mhd.MHD_destroy_response(resp);
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
    if (web_check_host(r) != 0)
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
  web_conn_waiting(r->srv, conn, 0);
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
    web_route(r, r->srv->site);
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
  web_conn_waiting(cls, conn, 1);
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
  if (srv->reaper_started)
    pthread_join(srv->reaper, NULL);
  srv->reaper_started = 0;
}

static void free_server(si_http_server *srv) {
  stop_threads(srv);
  for (int i = 0; i < srv->nidle; i++)
    si_db_close(srv->idle[i]);
  for (int i = 0; i < srv->nhosts; i++)
    free(srv->hosts[i]);
  if (srv->site_state && srv->site->close)
    srv->site->close(srv->site_state);
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
  if (!opts || !opts->site)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "the web server needs a site (its routes and error page)");
  const char *problem = web_mhd_load();
  if (problem[0])
    return si_error_set(err, SI_ERR_UNSUPPORTED, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "the web dashboard needs libmicrohttpd (Debian package libmicrohttpd12), "
                        "which could not be loaded: %s",
                        problem);
  si_http_server *srv = calloc(1, sizeof *srv);
  if (!srv)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  srv->cfg = cfg;
  srv->opts = *opts;
  srv->site = opts->site;
  int threads = srv->opts.threads > 0 ? srv->opts.threads : THREADS_DEFAULT;
  int conns = srv->opts.max_connections > 0 ? srv->opts.max_connections : CONNECTIONS_DEFAULT;
  pthread_mutex_init(&srv->pool_lock, NULL);
  pthread_mutex_init(&srv->conn_lock, NULL);
  pthread_mutex_init(&srv->tick_lock, NULL);
  pthread_cond_init(&srv->tick_cond, NULL);
  web_host_name(srv->host, sizeof srv->host);
  int per_address = cfg->web_connections_per_address > 0 ? cfg->web_connections_per_address : 64;
  srv->deadline_ms = (int64_t)(cfg->web_request_timeout > 0 ? cfg->web_request_timeout : 10) * 1000;
  srv->nconns = conns;
  srv->conns = calloc((size_t)conns, sizeof *srv->conns);
  si_status st =
      srv->conns ? SI_OK
                 : si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK && srv->site->open)
    st = srv->site->open(cfg, &srv->site_state, err);
  struct addrinfo *ai = NULL;
  if (st == SI_OK)
    st = resolve(cfg->web_listen, &ai, err);
  if (st == SI_OK)
    web_build_hosts(srv, cfg->web_listen, cfg->web_hosts ? cfg->web_hosts : "");
  if (st != SI_OK) {
    free_server(srv);
    return st;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME;
  if (ai->ai_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  srv->mhd = web_mhd.MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
      MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned int)per_address, MHD_OPTION_NOTIFY_CONNECTION, web_conn_notify, srv,
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
  if (pthread_create(&srv->reaper, NULL, web_reaper_main, srv) == 0)
    srv->reaper_started = 1;
  if (srv->site->serving)
    srv->site->serving(srv->site_state, cfg);
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
  /* No connection may stay suspended when the daemon stops: the site
   * releases the requests it holds first. */
  if (srv->site_state && srv->site->quiesce)
    srv->site->quiesce(srv->site_state);
  web_mhd.MHD_stop_daemon(srv->mhd);
  free_server(srv);
}
