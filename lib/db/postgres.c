/* PostgreSQL backend: connections, LISTEN/NOTIFY, the backend table (pg_internal.h: the rest).
 *
 * The PostgreSQL backend (libpq). One connection per thread, as for SQLite.
 *
 * Statements run through the extended protocol with text parameters whose
 * types the server infers, so the SQL shared with SQLite works unchanged.
 * Recurring statements are prepared once per connection under generated
 * names: the import hot path runs a few dozen texts thousands of times, and
 * parsing and planning each time would cost as much as the round trip.
 *
 * Connection loss is the failure this backend is built around (a restarted
 * server, a failover). A statement that was sent on a connection that then
 * broke has an unknown outcome, so it is reported, never repeated: the
 * caller's idempotent steps decide what to redo. A connection found broken
 * before anything was sent on it is re-established with backoff and the
 * statement runs, which is safe because the server never saw it. A
 * connection lost inside a transaction is not re-established until the
 * caller has rolled back, or the rest of its "transaction" would commit
 * statement by statement on a fresh session. */
#include <pthread.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sendit/db.h"
#include "sendit/log.h"
#include "util/dl.h"

#include "pg_internal.h"

/* How long a lost connection is retried before a statement gives up: the
 * same patience as SQLite's busy timeout, and longer than a restart takes. */
#define RECONNECT_BUDGET_MS 30000

/* libpq is loaded with the first PostgreSQL connection, not when sendit
 * starts: with its TLS, Kerberos and LDAP libraries it took 2.4 ms of CPU of
 * every sendit command (measured on an empty program linked to it), SQLite
 * sites included. */
struct si_pq_functions si_pq;
static char pq_problem[512]; /* why libpq could not be loaded, "" when it was */

/* POSIX's way to store dlsym's result in a function pointer: through a
 * (void **) to the pointer. */
#define PQ_NAME(name) #name,
#define PQ_SLOT(name) (void **)&si_pq.name,
static void load_libpq(void) {
  static const char *const names[] = {PQ_FUNCTIONS(PQ_NAME)};
  void **const slots[] = {PQ_FUNCTIONS(PQ_SLOT)};
  si_dl_resolve("libpq.so.5", names, slots, sizeof names / sizeof names[0], pq_problem,
                sizeof pq_problem);
}
#undef PQ_NAME
#undef PQ_SLOT

/* ---- connection ---- */

/* The server's notices ("relation already exists, skipping", "there is no
 * transaction in progress") would go to stderr by default. */
static void ignore_notice(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static void forget_prepared(pg_conn *c) {
  for (int i = 0; i < c->ncached; i++)
    free(c->cache[i].sql);
  memset(c->cache, 0, sizeof c->cache);
  c->ncached = 0;
}

static long elapsed_ms(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* PQreset until it works or the budget is spent. Backoff with jitter, so a
 * crowd of workers does not hammer a server that is still starting. */
static si_status reconnect(pg_conn *c, const char *sql, si_error *err) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  char why[400];
  si_pg_one_line(why, sizeof why, si_pq.PQerrorMessage(c->pg));
  si_log(SI_LOG_WARN, "postgresql: connection lost (%s); reconnecting to %s", why, c->where);
  long delay_ms = 50;
  for (;;) {
    si_pq.PQreset(c->pg);
    if (si_pq.PQstatus(c->pg) == CONNECTION_OK) {
      /* Prepared statements lived in the old session. */
      forget_prepared(c);
      si_log(SI_LOG_WARN, "postgresql: connection to %s re-established after %ld ms", c->where,
             elapsed_ms(&start));
      return SI_OK;
    }
    long spent = elapsed_ms(&start);
    if (spent >= RECONNECT_BUDGET_MS) {
      char msg[400];
      si_pg_one_line(msg, sizeof msg, si_pq.PQerrorMessage(c->pg));
      return si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                          "postgresql: connection lost and not re-established in %d s (%s) "
                          "(sql: %.*s)",
                          RECONNECT_BUDGET_MS / 1000, msg, SQL_QUOTE_CHARS, sql);
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long sleep_ms = delay_ms / 2 + (long)((unsigned long)now.tv_nsec % (unsigned long)delay_ms);
    if (sleep_ms > RECONNECT_BUDGET_MS - spent)
      sleep_ms = RECONNECT_BUDGET_MS - spent;
    struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    if (delay_ms < 2000)
      delay_ms *= 2;
  }
}

/* Whether the server sent something (or closed) since we last read. */
static int readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return fd >= 0 && poll(&p, 1, 0) > 0;
}

/* Before sending on an idle connection, read whatever the server sent
 * while we were away: a server that shut down has said so (57P01) and
 * closed the socket, which makes libpq mark the connection bad. Nothing has
 * been sent yet, so reconnecting and running the statement is safe. On a
 * healthy connection this costs one poll(). */
si_status si_pg_ensure_connected(pg_conn *c, const char *sql, si_error *err) {
  if (c->lost_in_tx)
    return si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                        "postgresql: connection lost inside a transaction; roll back first "
                        "(sql: %.*s)",
                        SQL_QUOTE_CHARS, sql);
  /* The goodbye message and the end of the stream may take two reads. */
  for (int i = 0;
       i < 4 && si_pq.PQstatus(c->pg) == CONNECTION_OK &&
       si_pq.PQtransactionStatus(c->pg) == PQTRANS_IDLE && readable(si_pq.PQsocket(c->pg));
       i++)
    si_pq.PQconsumeInput(c->pg);
  if (si_pq.PQstatus(c->pg) == CONNECTION_OK)
    return SI_OK;
  return reconnect(c, sql, err);
}

/* ---- signals (LISTEN/NOTIFY) ---- */

static si_status pg_listen(void *conn, const char *channel, si_error *err) {
  char sql[128];
  snprintf(sql, sizeof sql, "LISTEN %s", channel);
  return si_pg_exec(conn, sql, 0, NULL, NULL, NULL, NULL, err);
}

/* Takes the notifications libpq has read; the payloads do not matter. */
static int take_notifications(PGconn *pg) {
  int any = 0;
  for (PGnotify *n; (n = si_pq.PQnotifies(pg)) != NULL; si_pq.PQfreemem(n))
    any = 1;
  return any;
}

static si_status wait_lost(pg_conn *c, si_error *err) {
  char msg[400];
  si_pg_one_line(msg, sizeof msg, si_pq.PQerrorMessage(c->pg));
  return si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                      "postgresql: connection lost while waiting for signals (%s)", msg);
}

static si_status pg_wait_signal(void *conn, int timeout_ms, int *signalled, si_error *err) {
  pg_conn *c = conn;
  *signalled = 0;
  if (si_pq.PQstatus(c->pg) != CONNECTION_OK || !si_pq.PQconsumeInput(c->pg))
    return wait_lost(c, err);
  if ((*signalled = take_notifications(c->pg)))
    return SI_OK;
  struct pollfd p = {.fd = si_pq.PQsocket(c->pg), .events = POLLIN};
  if (poll(&p, 1, timeout_ms) <= 0)
    return SI_OK; /* the time is up, or a signal to the process: callers loop */
  if (!si_pq.PQconsumeInput(c->pg) || si_pq.PQstatus(c->pg) != CONNECTION_OK)
    return wait_lost(c, err);
  *signalled = take_notifications(c->pg);
  return SI_OK;
}

static void pg_disconnect(void *conn) {
  pg_conn *c = conn;
  if (!c)
    return;
  forget_prepared(c);
  si_pq.PQfinish(c->pg);
  free(c);
}

static si_status pg_connect(const char *url, void **conn, si_error *err) {
  static pthread_once_t loaded = PTHREAD_ONCE_INIT;
  pthread_once(&loaded, load_libpq);
  *conn = NULL;
  if (pq_problem[0])
    return si_error_set(err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
                        "PostgreSQL needs libpq (Debian package libpq5), which could not be "
                        "loaded: %s",
                        pq_problem);
  pg_conn *c = calloc(1, sizeof *c);
  if (!c)
    return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "PostgreSQL connection");
  si_pg_redact_url(c->where, sizeof c->where, url);
  /* The URL comes last, so whatever it sets wins over these defaults.
   * Keepalives notice a server host that vanished without closing the
   * socket (the OS default waits two hours). A worker frozen inside a
   * transaction (a stopped process, a hung NFS mount) holds its job's row
   * lock, so no one can take the job over; the server ends such a session
   * after a minute. sendit's transactions never wait on anything slow. The
   * server's own keepalives notice a worker host that vanished (its locks
   * would otherwise stay for the OS default of two hours). */
  static const char *const keys[] = {
      "fallback_application_name", "connect_timeout", "keepalives_idle", "keepalives_interval",
      "keepalives_count",          "options",         "dbname",          NULL};
  const char *values[] = {"sendit",
                          "10",
                          "30",
                          "10",
                          "3",
                          "-c idle_in_transaction_session_timeout=60000 -c tcp_keepalives_idle=30 "
                          "-c tcp_keepalives_interval=10 -c tcp_keepalives_count=3",
                          url,
                          NULL};
  c->pg = si_pq.PQconnectdbParams(keys, values, 1);
  if (!c->pg || si_pq.PQstatus(c->pg) != CONNECTION_OK) {
    char msg[400];
    si_pg_one_line(msg, sizeof msg, c->pg ? si_pq.PQerrorMessage(c->pg) : "out of memory");
    si_status s = si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                               "cannot connect to PostgreSQL: %s", msg);
    pg_disconnect(c);
    return s;
  }
  si_pq.PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
  *conn = c;
  return SI_OK;
}

const si_db_backend si_postgres_backend = {
    .name = "postgresql",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = si_pg_exec,
    .begin_write = "BEGIN",
    /* Workers skip the jobs other workers are claiming instead of queueing
     * behind their row locks. */
    .skip_locked = " FOR UPDATE SKIP LOCKED",
    /* clock_timestamp(), not now(): the latter stands still for a whole
     * transaction. */
    .now_ms = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    .serial_key = "BIGSERIAL PRIMARY KEY",
    /* Two processes creating the schema at once would collide on the
     * catalogs (CREATE TABLE IF NOT EXISTS is not safe concurrently): the
     * lock serializes migrations for the transaction's duration. The key
     * is arbitrary but fixed: "sendit" in ASCII. */
    .lock_schema = "SELECT pg_advisory_xact_lock(115101110100105116)",
    /* Every image row is written NEW and updated to DONE in one statement
     * per batch soon after: with half of each page free the new versions
     * stay in the page and no index is touched, which made that update
     * five times cheaper (measured: 6,000 rows in 14 ms instead of 72).
     * The table takes twice the space, fair for rows of a few hundred
     * bytes. */
    .update_heavy = " WITH (fillfactor = 50)",
    .multi_row_insert = 1,
    .listen = pg_listen,
    .wait_signal = pg_wait_signal,
    .signal_sql = "NOTIFY %s",
    .relaxed_sql = "SET LOCAL synchronous_commit TO OFF",
    /* Connecting creates nothing: read-only opens use pg_connect too. */
    .table_exists = "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = $1 AND "
                    "schemaname = ANY (current_schemas(false))",
};
