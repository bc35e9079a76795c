/* The PostgreSQL backend's shared state (internal to lib/db/postgres.c and pg_*.c).
 *
 * libpq's functions are called through si_pq, the one table postgres.c
 * fills with dlopen on the first connection (see load_libpq there). */
#ifndef SENDIT_DB_PG_INTERNAL_H
#define SENDIT_DB_PG_INTERNAL_H

#include <libpq-fe.h>

#include <stddef.h>
#include <stdint.h>

#include "sendit/db.h"

/* The hot path has about twenty distinct statements; 64 leaves room. */
#define CACHE_SIZE 64
/* How much of the SQL an error message quotes (as the SQLite backend). */
#define SQL_QUOTE_CHARS 120
/* Statements in flight at most before the pipeline is emptied; a chunk of
 * the import (256 files) fits with room to spare. */
#define MAX_PENDING 1024

typedef struct prepared {
  uint64_t hash;
  char *sql;
  char name[24];
  int nparams;
  uint64_t last_used;
} prepared;

/* A statement sent in pipeline mode whose outcome is not read yet. */
typedef struct pending {
  int is_prepare;                  /* the preparation of statement `name`, else its run */
  char name[24];                   /* "" for an unnamed statement */
  char quote[SQL_QUOTE_CHARS + 1]; /* for the error message */
} pending;

typedef struct pg_conn {
  PGconn *pg;
  char where[512]; /* the URL without its password, for error messages */
  /* The connection broke inside a transaction: everything but ROLLBACK
   * fails until the caller has given the transaction up. */
  int lost_in_tx;
  unsigned next_name;
  uint64_t tick;
  int ncached;
  prepared cache[CACHE_SIZE];
  int npending;
  pending queue[MAX_PENDING];
} pg_conn;

/* The libpq functions the backend calls, resolved by name (postgres.c). */
/* clang-format off */
#define PQ_FUNCTIONS(X) \
  X(PQclear) \
  X(PQcmdStatus) \
  X(PQcmdTuples) \
  X(PQconnectdbParams) \
  X(PQconsumeInput) \
  X(PQenterPipelineMode) \
  X(PQerrorMessage) \
  X(PQexec) \
  X(PQexecParams) \
  X(PQexecPrepared) \
  X(PQexitPipelineMode) \
  X(PQfinish) \
  X(PQfreemem) \
  X(PQgetResult) \
  X(PQgetisnull) \
  X(PQgetvalue) \
  X(PQnfields) \
  X(PQnotifies) \
  X(PQntuples) \
  X(PQpipelineStatus) \
  X(PQpipelineSync) \
  X(PQprepare) \
  X(PQreset) \
  X(PQresultErrorField) \
  X(PQresultStatus) \
  X(PQsendPrepare) \
  X(PQsendQueryParams) \
  X(PQsendQueryPrepared) \
  X(PQsetNoticeProcessor) \
  X(PQsocket) \
  X(PQstatus) \
  X(PQtransactionStatus)
/* clang-format on */

/* libpq's functions, filled by postgres.c on the first connection. */
struct si_pq_functions {
#define PQ_DECLARE(name) __typeof__(name) *name;
  PQ_FUNCTIONS(PQ_DECLARE)
#undef PQ_DECLARE
};
extern struct si_pq_functions si_pq;

/* ---- pg_text.c: SQL text helpers, the UTF-8 escaping, parameters ---- */

/* After leading blanks (space, tab, CR, LF). */
const char *si_pg_skip_blanks(const char *p);
/* After the keyword `word` that sql begins with (case-insensitive), or NULL. */
const char *si_pg_after_word(const char *sql, const char *word);
int si_pg_is_commit(const char *sql);
/* A plain ROLLBACK (or ABORT), not ROLLBACK TO SAVEPOINT. */
int si_pg_is_rollback(const char *sql);
/* Whether sql recurs (DML), so it is worth a prepared statement. */
int si_pg_worth_caching(const char *sql);
uint64_t si_pg_hash_sql(const char *sql);
/* src on one line, blanks collapsed, into dst (always terminated). */
void si_pg_one_line(char *dst, size_t size, const char *src);
/* The URL with any password replaced by "***". */
void si_pg_redact_url(char *dst, size_t size, const char *url);
/* Whether s must be mapped before PostgreSQL sees it (see pg_text.c). */
int si_pg_needs_escape(const char *s);
/* The mapped copy of s (malloc'd, the caller frees), or NULL when out of memory. */
char *si_pg_escape_text(const char *s);
/* Whether a result value holds mapped bytes. */
int si_pg_has_escapes(const char *s);
/* The original bytes of a mapped value, in place (it only shrinks). */
void si_pg_unescape_text(char *s);
/* SI_ERR_ARG unless sql is one statement using exactly $1..$nparams;
 * *count is the number of parameters. */
si_status si_pg_check_sql(const pg_conn *c, const char *sql, int nparams, int *count,
                          si_error *err);

/* ---- pg_errors.c: SQLSTATE to si_error ---- */

int si_pg_sqlstate_is(const char *state, const char *code);
/* Fills err for a failed statement (res may be NULL). */
si_status si_pg_result_error(pg_conn *c, const PGresult *res, const char *sql, si_error *err);

/* ---- postgres.c: the connection ---- */

/* Re-establishes a connection found broken before anything was sent on it. */
si_status si_pg_ensure_connected(pg_conn *c, const char *sql, si_error *err);

/* ---- pg_exec.c: prepared statements, pipelining, execution ---- */

/* The backend's exec (si_db_backend.exec). */
si_status si_pg_exec(void *conn, const char *sql, int nparams, const char *const *params,
                     si_db_row_fn fn, void *user, int64_t *changes, si_error *err);

#endif
