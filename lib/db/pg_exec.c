/* PostgreSQL backend: the prepared statements cache, pipelining and running statements. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* Rows wider than this take a heap array for their values. */
#define STACK_COLUMNS 32

/* ---- prepared statements ---- */

static prepared *cache_find(pg_conn *c, const char *sql, uint64_t h) {
  for (int i = 0; i < c->ncached; i++)
    if (c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0)
      return &c->cache[i];
  return NULL;
}

static void cache_drop(pg_conn *c, prepared *e) {
  free(e->sql);
  *e = c->cache[--c->ncached];
  memset(&c->cache[c->ncached], 0, sizeof c->cache[0]);
}

/* A free slot, deallocating the least recently used statement when full;
 * NULL when that cannot be done now (an aborted transaction refuses
 * DEALLOCATE), in which case the statement runs unprepared. */
static prepared *cache_slot(pg_conn *c) {
  if (c->ncached < CACHE_SIZE)
    return &c->cache[c->ncached++];
  if (si_pq.PQtransactionStatus(c->pg) == PQTRANS_INERROR)
    return NULL;
  prepared *victim = &c->cache[0];
  for (int i = 1; i < CACHE_SIZE; i++)
    if (c->cache[i].last_used < victim->last_used)
      victim = &c->cache[i];
  char sql[64];
  snprintf(sql, sizeof sql, "DEALLOCATE %s", victim->name);
  PGresult *res = si_pq.PQexec(c->pg, sql);
  int ok = si_pq.PQresultStatus(res) == PGRES_COMMAND_OK;
  si_pq.PQclear(res);
  if (!ok)
    return NULL;
  free(victim->sql);
  memset(victim, 0, sizeof *victim);
  return victim;
}

/* The cached statement for sql, or NULL when it runs unnamed (not worth
 * caching, or no slot can be freed now). *fresh is set for an entry that
 * still has to be prepared on the server. `can_evict` is 0 in pipeline
 * mode, where DEALLOCATE cannot be sent on the side. */
static si_status lookup_prepared(pg_conn *c, const char *sql, int nparams, int can_evict,
                                 prepared **out, int *fresh, si_error *err) {
  *out = NULL;
  *fresh = 0;
  int count;
  if (!si_pg_worth_caching(sql))
    return si_pg_check_sql(c, sql, nparams, &count, err);
  uint64_t h = si_pg_hash_sql(sql);
  prepared *e = cache_find(c, sql, h);
  if (e && e->nparams != nparams)
    return si_error_set(err, SI_ERR_ARG, c->where, SI_NO_OFFSET, SI_NO_TAG,
                        "statement takes %d parameters, %d given (sql: %.*s)", e->nparams, nparams,
                        SQL_QUOTE_CHARS, sql);
  if (!e) {
    si_status st = si_pg_check_sql(c, sql, nparams, &count, err);
    if (st != SI_OK)
      return st;
    char *copy = strdup(sql);
    e = copy && (can_evict || c->ncached < CACHE_SIZE) ? cache_slot(c) : NULL;
    if (!e) {
      free(copy);
      return SI_OK;
    }
    e->hash = h;
    e->sql = copy;
    e->nparams = nparams;
    snprintf(e->name, sizeof e->name, "si_%u", ++c->next_name);
    *fresh = 1;
  }
  e->last_used = ++c->tick;
  *out = e;
  return SI_OK;
}

static void drop_prepared(pg_conn *c, const char *name) {
  for (int i = 0; name[0] && i < c->ncached; i++)
    if (strcmp(c->cache[i].name, name) == 0) {
      cache_drop(c, &c->cache[i]);
      return;
    }
}

/* Runs sql and waits for its result (no statement is pending). *stale is
 * set when a cached statement no longer fits the schema (it was dropped
 * from the cache; running again prepares it afresh). */
static PGresult *run_statement(pg_conn *c, const char *sql, int nparams, const char *const *params,
                               int *stale, si_status *st, si_error *err) {
  *stale = 0;
  prepared *e;
  int fresh;
  if ((*st = lookup_prepared(c, sql, nparams, 1, &e, &fresh, err)) != SI_OK)
    return NULL;
  if (!e)
    return si_pq.PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
  if (fresh) {
    PGresult *res = si_pq.PQprepare(c->pg, e->name, sql, 0, NULL);
    if (si_pq.PQresultStatus(res) != PGRES_COMMAND_OK) {
      cache_drop(c, e);
      return res;
    }
    si_pq.PQclear(res);
  }
  PGresult *res = si_pq.PQexecPrepared(c->pg, e->name, nparams, params, NULL, NULL, 0);
  const char *state = si_pq.PQresultErrorField(res, PG_DIAG_SQLSTATE);
  /* 26000: the session lost it (DISCARD ALL, a pooler); 0A000: "cached
   * plan must not change result type" after ALTER TABLE. */
  if (si_pg_sqlstate_is(state, "26000") || si_pg_sqlstate_is(state, "0A000")) {
    cache_drop(c, e);
    *stale = 1;
  }
  return res;
}

/* ---- pipelining ----
 *
 * Inside a transaction, a statement that returns nothing the caller looks
 * at (no row callback, no change count) is sent without waiting for its
 * outcome; the next statement that does wait travels in the same round
 * trip and reads every outcome (db.h: "deferred failures"). The import
 * writes one row per file this way: the round trips per file go from two
 * to one, and a chunk's status updates cost one round trip in all. The
 * pipeline is open exactly while statements are pending. */

static si_status connection_broke(pg_conn *c, const char *sql, si_error *err) {
  char msg[400];
  si_pg_one_line(msg, sizeof msg, si_pq.PQerrorMessage(c->pg));
  c->npending = 0;
  c->lost_in_tx = 1;
  return si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                      "postgresql: connection lost (%s); the transaction's outcome is unknown "
                      "(sql: %.*s)",
                      msg, SQL_QUOTE_CHARS, sql);
}

/* Queues sql (and its preparation when new) in the pipeline. `*queued` is
 * 0 when it could not be given a name while the pipeline is open (cache
 * full): then it runs unnamed. */
static si_status queue_statement(pg_conn *c, const char *sql, int nparams,
                                 const char *const *params, si_error *err) {
  if (c->npending + 2 > MAX_PENDING)
    return si_error_set(err, SI_ERR_STATE, c->where, SI_NO_OFFSET, SI_NO_TAG,
                        "pipeline full (sql: %.*s)", SQL_QUOTE_CHARS, sql);
  prepared *e;
  int fresh;
  si_status st = lookup_prepared(c, sql, nparams, 0, &e, &fresh, err);
  if (st != SI_OK)
    return st;
  if (si_pq.PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && si_pq.PQenterPipelineMode(c->pg) != 1)
    return connection_broke(c, sql, err);
  pending *q = &c->queue[c->npending];
  if (!e) {
    if (si_pq.PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0) != 1)
      return connection_broke(c, sql, err);
    /* Unnamed: quote the caller's text now, it does not outlive the call. */
    *q = (pending){.is_prepare = 0};
    snprintf(q->quote, sizeof q->quote, "%.*s", SQL_QUOTE_CHARS, sql);
    c->npending++;
    return SI_OK;
  }
  if (fresh) {
    if (si_pq.PQsendPrepare(c->pg, e->name, sql, 0, NULL) != 1)
      return connection_broke(c, sql, err);
    *q = (pending){.is_prepare = 1};
    snprintf(q->name, sizeof q->name, "%s", e->name);
    snprintf(q->quote, sizeof q->quote, "%.*s", SQL_QUOTE_CHARS, sql);
    q = &c->queue[++c->npending];
  }
  if (si_pq.PQsendQueryPrepared(c->pg, e->name, nparams, params, NULL, NULL, 0) != 1)
    return connection_broke(c, sql, err);
  *q = (pending){.is_prepare = 0};
  snprintf(q->name, sizeof q->name, "%s", e->name);
  snprintf(q->quote, sizeof q->quote, "%.*s", SQL_QUOTE_CHARS, sql);
  c->npending++;
  return SI_OK;
}

/* Ends the pipeline: a Sync, then every outcome in order. The first
 * failure is returned (later statements were skipped by the server). With
 * `last`, the final statement's result is handed over when all succeeded. */
static si_status drain(pg_conn *c, PGresult **last, si_error *err) {
  si_status st = SI_OK;
  if (last)
    *last = NULL;
  if (si_pq.PQpipelineSync(c->pg) != 1)
    return connection_broke(c, c->npending ? c->queue[0].quote : "", err);
  int n = c->npending;
  for (int i = 0; i < n; i++) {
    pending *q = &c->queue[i];
    PGresult *res = si_pq.PQgetResult(c->pg);
    if (!res)
      return st != SI_OK ? (c->npending = 0, c->lost_in_tx = 1, st)
                         : connection_broke(c, q->quote, err);
    /* Each statement's results end with a NULL. */
    for (PGresult *extra; (extra = si_pq.PQgetResult(c->pg));)
      si_pq.PQclear(extra);
    ExecStatusType rs = si_pq.PQresultStatus(res);
    int ok = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK || rs == PGRES_EMPTY_QUERY;
    const char *state = si_pq.PQresultErrorField(res, PG_DIAG_SQLSTATE);
    /* Never created; or gone or stale, as in run_statement. */
    if ((!ok && q->is_prepare) || si_pg_sqlstate_is(state, "26000") ||
        si_pg_sqlstate_is(state, "0A000"))
      drop_prepared(c, q->name);
    if (rs == PGRES_FATAL_ERROR && st == SI_OK)
      st = si_pg_result_error(c, res, q->quote, err);
    if (last && i == n - 1 && st == SI_OK)
      *last = res;
    else
      si_pq.PQclear(res);
    if (si_pq.PQstatus(c->pg) != CONNECTION_OK)
      return st != SI_OK ? (c->npending = 0, c->lost_in_tx = 1, st)
                         : connection_broke(c, q->quote, err);
  }
  PGresult *sync = si_pq.PQgetResult(c->pg);
  int synced = si_pq.PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  si_pq.PQclear(sync);
  c->npending = 0;
  if (!synced || si_pq.PQexitPipelineMode(c->pg) != 1) {
    if (last && *last) {
      si_pq.PQclear(*last);
      *last = NULL;
    }
    si_error lost;
    connection_broke(c, "", st == SI_OK ? err : &lost);
    return st == SI_OK ? SI_ERR_DB : st;
  }
  return st;
}

/* Runs a statement that must be waited for while others are pending: it
 * joins the pipeline and all outcomes come back in one round trip. */
static PGresult *run_in_pipeline(pg_conn *c, const char *sql, int nparams,
                                 const char *const *params, si_status *st, si_error *err) {
  PGresult *res = NULL;
  if (si_pg_is_rollback(sql)) {
    /* The server skips everything after a failure up to the Sync, and a
     * rollback must really happen: drain first, whatever it reports. */
    drain(c, NULL, NULL);
    *st = SI_OK;
    if (c->lost_in_tx) { /* the server rolled back when it lost us */
      c->lost_in_tx = 0;
      return NULL;
    }
  } else {
    if ((*st = queue_statement(c, sql, nparams, params, err)) == SI_OK)
      *st = drain(c, &res, err);
    else if (c->npending)
      drain(c, NULL, NULL);
    return res;
  }
  *st = SI_OK;
  return si_pq.PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
}

static int can_defer(const pg_conn *c, const char *sql, si_db_row_fn fn, const int64_t *changes) {
  if (fn || changes || !si_pg_worth_caching(sql))
    return 0;
  return c->npending > 0 || si_pq.PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
}

/* ---- execution ---- */

static si_status deliver_rows(pg_conn *c, const PGresult *res, si_db_row_fn fn, void *user,
                              si_error *err) {
  int nrows = si_pq.PQntuples(res), ncols = si_pq.PQnfields(res);
  const char *on_stack[STACK_COLUMNS];
  const char **values = on_stack;
  if (ncols > STACK_COLUMNS && !(values = malloc((size_t)ncols * sizeof *values)))
    return si_error_set(err, SI_ERR_NOMEM, c->where, SI_NO_OFFSET, SI_NO_TAG, "row of %d columns",
                        ncols);
  si_status st = SI_OK;
  for (int r = 0; r < nrows && st == SI_OK; r++) {
    /* Mapped bytes (see si_pg_escape_text) go back to what the caller stored,
     * in copies: libpq's result memory is not ours to change. */
    char **copies = NULL;
    int stop = 0;
    for (int i = 0; i < ncols && st == SI_OK; i++) {
      values[i] = si_pq.PQgetisnull(res, r, i) ? NULL : si_pq.PQgetvalue(res, r, i);
      if (!values[i] || !si_pg_has_escapes(values[i]))
        continue;
      if (!copies)
        copies = calloc((size_t)ncols, sizeof *copies);
      char *copy = copies ? strdup(values[i]) : NULL;
      if (!copy) {
        st = si_error_set(err, SI_ERR_NOMEM, c->where, SI_NO_OFFSET, SI_NO_TAG, "row %d, column %d",
                          r, i);
        break;
      }
      si_pg_unescape_text(copy);
      values[i] = copies[i] = copy;
    }
    if (st == SI_OK)
      stop = fn(user, ncols, (const char *const *)values) != 0;
    for (int i = 0; copies && i < ncols; i++)
      free(copies[i]);
    free(copies);
    if (stop)
      break;
  }
  if (values != on_stack)
    free(values);
  return st;
}

/* Rows changed, for the statements that change rows: PQcmdTuples also
 * counts what a SELECT returned, which db.h's `changes` must not. */
static int64_t changed_rows(const PGresult *res) {
  const char *tag = si_pq.PQcmdStatus((PGresult *)res);
  static const char *const verbs[] = {"INSERT", "UPDATE", "DELETE", "MERGE"};
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (si_pg_after_word(tag, verbs[i]))
      return strtoll(si_pq.PQcmdTuples((PGresult *)res), NULL, 10);
  return 0;
}

static si_status exec_mapped(pg_conn *c, const char *sql, int nparams, const char *const *params,
                             si_db_row_fn fn, void *user, int64_t *changes, si_error *err) {
  if (changes)
    *changes = 0;
  if (si_pg_is_rollback(sql)) {
    c->lost_in_tx = 0;
    /* Nothing to roll back (matching SQLite, and saving a round trip and a
     * warning), or the server already did when the connection broke. */
    if (si_pq.PQstatus(c->pg) != CONNECTION_OK ||
        (c->npending == 0 && si_pq.PQtransactionStatus(c->pg) == PQTRANS_IDLE))
      return SI_OK;
  }
  si_status st = si_pg_ensure_connected(c, sql, err);
  if (st != SI_OK)
    return st;
  if (can_defer(c, sql, fn, changes)) {
    st = queue_statement(c, sql, nparams, params, err);
    /* A full pipeline is emptied here, its outcomes due anyway. */
    if (st == SI_OK && c->npending + 2 > MAX_PENDING)
      st = drain(c, NULL, err);
    return st;
  }
  int in_tx = c->npending > 0 || si_pq.PQtransactionStatus(c->pg) != PQTRANS_IDLE;
  PGresult *res = NULL;
  if (c->npending > 0) {
    res = run_in_pipeline(c, sql, nparams, params, &st, err);
    if (st != SI_OK || !res) {
      si_pq.PQclear(res);
      return st;
    }
  } else {
    for (int attempt = 0;; attempt++) {
      int stale = 0;
      res = run_statement(c, sql, nparams, params, &stale, &st, err);
      if (st != SI_OK)
        return st;
      /* Outside a transaction a stale statement failed harmlessly: once more. */
      if (!(stale && !in_tx && attempt == 0))
        break;
      si_pq.PQclear(res);
    }
  }
  ExecStatusType rs = si_pq.PQresultStatus(res);
  if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
    /* COMMIT of a transaction that had failed answers "ROLLBACK", not an
     * error: the caller must not believe its writes were kept. */
    if (si_pg_is_commit(sql) && strcmp(si_pq.PQcmdStatus(res), "ROLLBACK") == 0)
      st = si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                        "postgresql: the transaction was rolled back, not committed (a statement "
                        "in it had failed) (sql: %.*s)",
                        SQL_QUOTE_CHARS, sql);
    else if (fn && rs == PGRES_TUPLES_OK)
      st = deliver_rows(c, res, fn, user, err);
    if (st == SI_OK && changes)
      *changes = changed_rows(res);
  } else if (rs == PGRES_EMPTY_QUERY) {
    st = si_error_set(err, SI_ERR_ARG, c->where, SI_NO_OFFSET, SI_NO_TAG,
                      "empty statement (sql: %.*s)", SQL_QUOTE_CHARS, sql);
  } else {
    st = si_pg_result_error(c, res, sql, err);
    /* A failed COMMIT ends the transaction in db.c's eyes already. */
    if (si_pq.PQstatus(c->pg) != CONNECTION_OK && in_tx && !si_pg_is_commit(sql))
      c->lost_in_tx = 1;
  }
  si_pq.PQclear(res);
  return st;
}

si_status si_pg_exec(void *conn, const char *sql, int nparams, const char *const *params,
                     si_db_row_fn fn, void *user, int64_t *changes, si_error *err) {
  pg_conn *c = conn;
  int mapped = 0;
  for (int i = 0; i < nparams && !mapped; i++)
    mapped = params[i] && si_pg_needs_escape(params[i]);
  if (!mapped)
    return exec_mapped(c, sql, nparams, params, fn, user, changes, err);
  /* libpq copies parameters into its send buffer, even when pipelining, so
   * the mapped copies can go when the call returns. */
  const char **wire = calloc((size_t)nparams, sizeof *wire);
  char **copies = calloc((size_t)nparams, sizeof *copies);
  si_status st = wire && copies ? SI_OK : SI_ERR_NOMEM;
  for (int i = 0; i < nparams && st == SI_OK; i++) {
    if (params[i] && si_pg_needs_escape(params[i]) && !(copies[i] = si_pg_escape_text(params[i])))
      st = SI_ERR_NOMEM;
    wire[i] = copies[i] ? copies[i] : params[i];
  }
  if (st == SI_OK) {
    st = exec_mapped(c, sql, nparams, wire, fn, user, changes, err);
  } else {
    if (changes)
      *changes = 0;
    si_error_set(err, SI_ERR_NOMEM, c->where, SI_NO_OFFSET, SI_NO_TAG, "parameters of %.*s",
                 SQL_QUOTE_CHARS, sql);
  }
  for (int i = 0; copies && i < nparams; i++)
    free(copies[i]);
  free(copies);
  free(wire);
  return st;
}
