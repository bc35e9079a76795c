/* The request deadline: libmicrohttpd's own timeout restarts with every
 * byte received, so a client that dribbles a header line every few seconds
 * would hold its connection for ever; here every connection is tracked and
 * a request that takes longer than [web] request_timeout is cut. */
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "sendit/log.h"
#include "server_core.h"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connections come and go through libmicrohttpd's notification; the slot
 * is the connection's socket context. CLOSED is notified before the socket
 * is closed, so under conn_lock a slot's fd is still that connection's. */
void web_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code) {
  si_http_server *srv = cls;
  pthread_mutex_lock(&srv->conn_lock);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        web_mhd.MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
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

void web_conn_waiting(si_http_server *srv, struct MHD_Connection *conn, int receiving) {
  const union MHD_ConnectionInfo *ci =
      web_mhd.MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
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

void *web_reaper_main(void *arg) {
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
