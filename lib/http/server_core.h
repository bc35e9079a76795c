/* The server's own state, shared by the files of the server core only
 * (server.c, request.c, hosts.c, conns.c); handlers see a web_req. */
#ifndef SENDIT_HTTP_SERVER_CORE_H
#define SENDIT_HTTP_SERVER_CORE_H

#include <pthread.h>
#include <stdint.h>

#include "core.h"
#include "mhd.h"

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
  const web_site *site; /* routes and error page, from the options */
  void *site_state;     /* the site's, from its open hook */
  pthread_mutex_t pool_lock;
  si_db *idle[DB_POOL_MAX];
  int nidle;
  pthread_mutex_t tick_lock;
  pthread_cond_t tick_cond;
  int stopping;
  char host[128];
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

/* ---- the Host header (hosts.c) ---- */

/* Which Host headers this server answers, from [web] listen and hosts. */
void web_build_hosts(si_http_server *srv, const char *listen, const char *hosts);
/* 0 and r->origin set when the Host header is one we answer; else answers
 * 421 Misdirected Request and returns -1. */
int web_check_host(web_req *r);

/* ---- the request deadline (conns.c) ---- */

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback; cls is the server. */
void web_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* The connection starts (1) or stops (0) waiting for a request. */
void web_conn_waiting(si_http_server *srv, struct MHD_Connection *conn, int receiving);
/* The reaper thread's body; arg is the server. Runs until srv->stopping. */
void *web_reaper_main(void *arg);

#endif