/* PostgreSQL backend: SQLSTATEs mapped to si_error (connection loss, constraints). */
#include <stdio.h>
#include <string.h>

#include "pg_internal.h"

/* ---- errors ---- */

int si_pg_sqlstate_is(const char *state, const char *code) {
  return state && strcmp(state, code) == 0;
}

/* Class 08 (connection exception) and the server going away under us:
 * admin_shutdown, crash_shutdown, cannot_connect_now. */
static int is_connection_state(const char *state) {
  return state && (strncmp(state, "08", 2) == 0 || si_pg_sqlstate_is(state, "57P01") ||
                   si_pg_sqlstate_is(state, "57P02") || si_pg_sqlstate_is(state, "57P03"));
}

static const char *constraint_kind(const char *state) {
  if (!state || strncmp(state, "23", 2) != 0)
    return NULL;
  if (si_pg_sqlstate_is(state, "23505"))
    return "unique";
  if (si_pg_sqlstate_is(state, "23503"))
    return "foreign-key";
  if (si_pg_sqlstate_is(state, "23502"))
    return "not-null";
  if (si_pg_sqlstate_is(state, "23514"))
    return "check";
  return "other";
}

/* "image.uid" for a unique violation, from the table name and the key
 * columns of the detail ("Key (uid)=(...) already exists."), so messages
 * name the constraint as the SQLite backend's do; "" when unknown. The
 * values in the detail are left out: they may be patient data. */
static void unique_target(const PGresult *res, char *out, size_t size) {
  out[0] = '\0';
  const char *table = si_pq.PQresultErrorField(res, PG_DIAG_TABLE_NAME);
  const char *detail = si_pq.PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  if (!table)
    return;
  const char *cols = detail && strncmp(detail, "Key (", 5) == 0 ? detail + 5 : NULL;
  const char *close = cols ? strstr(cols, ")=") : NULL;
  if (!close) {
    snprintf(out, size, "%s: ", table);
    return;
  }
  size_t n = 0;
  for (const char *p = cols; p < close && n < size;) {
    const char *comma = memchr(p, ',', (size_t)(close - p));
    const char *end = comma ? comma : close;
    n += (size_t)snprintf(out + n, size - n, "%s%s.%.*s", n ? ", " : "", table, (int)(end - p), p);
    p = comma ? si_pg_skip_blanks(comma + 1) : close;
  }
  if (n + 2 < size)
    snprintf(out + n, size - n, ": ");
}

/* Fills err for a failed statement (res may be NULL when libpq could not
 * even build a result). */
si_status si_pg_result_error(pg_conn *c, const PGresult *res, const char *sql, si_error *err) {
  const char *state = res ? si_pq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary = res ? si_pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  char msg[400];
  si_pg_one_line(msg, sizeof msg, primary ? primary : si_pq.PQerrorMessage(c->pg));
  if (si_pq.PQstatus(c->pg) != CONNECTION_OK || is_connection_state(state))
    return si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                        "postgresql: connection lost (%s); the statement's outcome is unknown "
                        "(sql: %.*s)",
                        msg, SQL_QUOTE_CHARS, sql);
  const char *kind = constraint_kind(state);
  if (kind) {
    char target[160] = "";
    if (strcmp(kind, "unique") == 0)
      unique_target(res, target, sizeof target);
    return si_error_set(err, strcmp(kind, "unique") == 0 ? SI_ERR_STATE : SI_ERR_DB, c->where,
                        SI_NO_OFFSET, SI_NO_TAG, SI_DB_CONSTRAINT_PREFIX "%s: %s%s (sql: %.*s)",
                        kind, target, msg, SQL_QUOTE_CHARS, sql);
  }
  return si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                      "postgresql: %s [%s] (sql: %.*s)", msg, state ? state : "no SQLSTATE",
                      SQL_QUOTE_CHARS, sql);
}
