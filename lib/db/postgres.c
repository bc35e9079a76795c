/* The PostgreSQL backend (libpq). One connection per thread, as for SQLite.
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
#include <libpq-fe.h>

#include <pthread.h>

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sendit/db.h"
#include "sendit/log.h"
#include "util/dl.h"

/* The hot path has about twenty distinct statements; 64 leaves room. */
#define CACHE_SIZE 64
/* Rows wider than this take a heap array for their values. */
#define STACK_COLUMNS 32
/* How much of the SQL an error message quotes (as the SQLite backend). */
#define SQL_QUOTE_CHARS 120
/* How long a lost connection is retried before a statement gives up: the
 * same patience as SQLite's busy timeout, and longer than a restart takes. */
#define RECONNECT_BUDGET_MS 30000
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

/* libpq is loaded with the first PostgreSQL connection, not when sendit
 * starts: with its TLS, Kerberos and LDAP libraries it took 2.4 ms of CPU of
 * every sendit command (measured on an empty program linked to it), SQLite
 * sites included. */
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

static struct {
#define PQ_DECLARE(name) __typeof__(name) *name;
  PQ_FUNCTIONS(PQ_DECLARE)
#undef PQ_DECLARE
} pq;
static char pq_problem[512]; /* why libpq could not be loaded, "" when it was */

/* POSIX's way to store dlsym's result in a function pointer: through a
 * (void **) to the pointer. */
#define PQ_NAME(name) #name,
#define PQ_SLOT(name) (void **)&pq.name,
static void load_libpq(void) {
  static const char *const names[] = {PQ_FUNCTIONS(PQ_NAME)};
  void **const slots[] = {PQ_FUNCTIONS(PQ_SLOT)};
  si_dl_resolve("libpq.so.5", names, slots, sizeof names / sizeof names[0], pq_problem,
                sizeof pq_problem);
}
#undef PQ_NAME
#undef PQ_SLOT

/* ---- text helpers ---- */

static int is_word_char(char ch) {
  return ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
         (ch >= 'A' && ch <= 'Z') || (unsigned char)ch >= 0x80;
}

static const char *skip_blanks(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

/* After the keyword `word` that sql begins with (case-insensitive), or NULL. */
static const char *after_word(const char *sql, const char *word) {
  const char *p = skip_blanks(sql);
  size_t n = strlen(word);
  if (strncasecmp(p, word, n) != 0 || is_word_char(p[n]))
    return NULL;
  return p + n;
}

static int is_commit(const char *sql) {
  return after_word(sql, "COMMIT") || after_word(sql, "END");
}

static int is_rollback(const char *sql) {
  const char *p = after_word(sql, "ROLLBACK");
  if (!p)
    p = after_word(sql, "ABORT");
  if (!p)
    return 0;
  /* "ROLLBACK TO SAVEPOINT x" needs the transaction; plain ROLLBACK ends it. */
  while (*(p = skip_blanks(p)) == ';')
    p++;
  return *p == '\0' || after_word(p, "WORK") || after_word(p, "TRANSACTION");
}

/* Statements that recur; DDL runs once at start-up and would only push the
 * hot statements out of the cache. */
static int worth_caching(const char *sql) {
  static const char *const words[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (after_word(sql, words[i]))
      return 1;
  return 0;
}

static uint64_t hash_sql(const char *sql) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  return h;
}

/* libpq's messages span lines ("...failed: Connection refused\n\tIs the
 * server running..."); log lines and si_error must not. */
static void one_line(char *dst, size_t size, const char *src) {
  size_t n = 0;
  int blank = 1;
  for (const char *p = src ? src : ""; *p && n + 1 < size; p++) {
    int space = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
    if (space && blank)
      continue;
    dst[n++] = space ? ' ' : *p;
    blank = space;
  }
  while (n > 0 && dst[n - 1] == ' ')
    n--;
  if (size)
    dst[n] = '\0';
}

/* The URL with any password replaced by "***" (user:pw@host, password=...),
 * so messages and logs can name the database safely. */
static void redact_url(char *dst, size_t size, const char *url) {
  snprintf(dst, size, "%s", url);
  char *scheme = strstr(dst, "://");
  if (scheme) {
    char *auth = scheme + 3, *end = auth + strcspn(auth, "/?#");
    char *at = memchr(auth, '@', (size_t)(end - auth));
    char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon && at - colon > 1 && strlen(dst) + 4 < size) {
      memmove(colon + 4, at, strlen(at) + 1);
      memcpy(colon + 1, "***", 3);
    }
  }
  for (char *p = strstr(dst, "password="); p; p = strstr(p + 1, "password=")) {
    char *value = p + strlen("password="), *end = value + strcspn(value, "& ");
    if (end > value && strlen(dst) + 4 < size) {
      memmove(value + 3, end, strlen(end) + 1);
      memcpy(value, "***", 3);
    }
  }
}

/* ---- bytes that are not UTF-8 ----
 *
 * PostgreSQL refuses text that is not valid UTF-8 (in a UTF8 database, the
 * usual kind), while SQLite stores any bytes, and file and folder names on
 * Linux are bytes. So strings cross this backend through a lossless map:
 * every byte that does not belong to a valid UTF-8 character, and every
 * byte of a character in U+EF80..U+EFFF (private use), becomes the single
 * character U+EF00 + byte; results are mapped back. Valid text without
 * those characters, which is all of it in practice, passes unchanged and
 * uncopied. Equal strings stay equal and a prefix ending at an ASCII byte
 * ('/') stays a prefix, which is all the queries rely on. */

#define ESCAPE_FIRST 0xEF80u
#define ESCAPE_LAST 0xEFFFu

/* Length of the valid UTF-8 character at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) and its code point; 0 if invalid. */
static int utf8_char(const unsigned char *p, uint32_t *cp) {
  unsigned char b = p[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  int n = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
  if (!n)
    return 0;
  uint32_t v = b & (0x3F >> (n - 1));
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    v = (v << 6) | (p[i] & 0x3F);
  }
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return n;
}

static int needs_escape(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    uint32_t cp = 0;
    int n = *p < 0x80 ? 1 : utf8_char(p, &cp);
    if (!n || (n == 3 && cp >= ESCAPE_FIRST && cp <= ESCAPE_LAST))
      return 1;
    p += n;
  }
  return 0;
}

/* The mapped copy of s (malloc'd), or NULL when out of memory. */
static char *escape_text(const char *s) {
  char *out = malloc(strlen(s) * 3 + 1), *w = out;
  if (!out)
    return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    uint32_t cp = 0;
    int n = *p < 0x80 ? 1 : utf8_char(p, &cp);
    if (n && !(n == 3 && cp >= ESCAPE_FIRST && cp <= ESCAPE_LAST)) {
      memcpy(w, p, (size_t)n);
      w += n;
      p += n;
      continue;
    }
    uint32_t e = 0xEF00u + *p++;
    *w++ = (char)0xEE;
    *w++ = (char)(0x80 | ((e >> 6) & 0x3F));
    *w++ = (char)(0x80 | (e & 0x3F));
  }
  *w = '\0';
  return out;
}

/* The escape characters are EE BE xx and EE BF xx in UTF-8. */
static int has_escapes(const char *s) {
  for (const char *p = strchr(s, (char)0xEE); p; p = strchr(p + 1, (char)0xEE))
    if (((unsigned char)p[1] == 0xBE || (unsigned char)p[1] == 0xBF) &&
        ((unsigned char)p[2] & 0xC0) == 0x80)
      return 1;
  return 0;
}

/* The original bytes of a mapped value, in place (it only shrinks). */
static void unescape_text(char *s) {
  char *w = s;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    if (p[0] == 0xEE && (p[1] == 0xBE || p[1] == 0xBF) && (p[2] & 0xC0) == 0x80) {
      *w++ = (char)(((p[1] & 0x3F) << 6 | (p[2] & 0x3F)) - 0xF00);
      p += 3;
    } else {
      *w++ = (char)*p++;
    }
  }
  *w = '\0';
}

/* ---- parameters ---- */

/* Scans the SQL the way PostgreSQL's lexer splits it (strings, quoted
 * names, dollar quotes, nested comments) to find the $n parameters and a
 * second statement. Checking here gives the same SI_ERR_ARG as the SQLite
 * backend; the server would otherwise report a protocol violation (class
 * 08, indistinguishable from a lost connection) for a count mismatch. */
static si_status check_sql(const pg_conn *c, const char *sql, int nparams, int *count,
                           si_error *err) {
  /* The protocol counts parameters in 16 bits. */
  unsigned char used[65536 / 8] = {0};
  int max = 0, statements = 0, content = 0;
  char what[128] = "";
  for (const char *p = sql; *p && !what[0];) {
    char ch = *p;
    int prev_word = p > sql && is_word_char(p[-1]);
    if (ch == '-' && p[1] == '-') {
      p += strcspn(p, "\n");
      continue;
    }
    if (ch == '/' && p[1] == '*') {
      int depth = 1;
      for (p += 2; *p && depth; p++) {
        if (p[0] == '/' && p[1] == '*')
          depth++, p++;
        else if (p[0] == '*' && p[1] == '/')
          depth--, p++;
      }
      continue;
    }
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      p++;
      continue;
    }
    if (ch == ';') {
      content = 0;
      p++;
      continue;
    }
    if (!content) {
      statements += 1;
      content = 1;
    }
    if (ch == '\'' || ch == '"') {
      int backslash = ch == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
                      !(p - 1 > sql && is_word_char(p[-2]));
      for (p++; *p; p++) {
        if (backslash && *p == '\\' && p[1]) {
          p++;
        } else if (*p == ch) {
          if (p[1] != ch)
            break;
          p++;
        }
      }
      if (*p)
        p++;
      continue;
    }
    if (ch == '$' && !prev_word && p[1] >= '0' && p[1] <= '9') {
      char *end;
      long n = strtol(p + 1, &end, 10);
      p = end;
      if (n < 1 || n > 65535)
        snprintf(what, sizeof what, "parameter $%ld is out of range", n);
      else {
        used[(n - 1) / 8] |= (unsigned char)(1u << ((n - 1) % 8));
        max = n > max ? (int)n : max;
      }
      continue;
    }
    if (ch == '$' && !prev_word) { /* $tag$ ... $tag$ */
      const char *tag_end = p + 1; /* a digit here was a parameter, above */
      while (is_word_char(*tag_end))
        tag_end++;
      if (*tag_end == '$') {
        size_t tag_len = (size_t)(tag_end - p) + 1;
        const char *close = tag_end + 1;
        while ((close = strchr(close, '$')) && strncmp(close, p, tag_len) != 0)
          close++;
        p = close ? close + tag_len : p + strlen(p);
        continue;
      }
    }
    if (ch == '?') {
      snprintf(what, sizeof what, "parameter '?' (write parameters as $1..$N)");
      continue;
    }
    p++;
  }
  if (!what[0] && statements == 0)
    snprintf(what, sizeof what, "empty statement");
  else if (!what[0] && statements > 1)
    snprintf(what, sizeof what, "more than one statement");
  else if (!what[0] && max != nparams)
    snprintf(what, sizeof what, "statement takes %d parameters, %d given", max, nparams);
  for (int i = 0; i < max && !what[0]; i++)
    if (!(used[i / 8] & (1u << (i % 8))))
      snprintf(what, sizeof what, "parameter $%d is not used (write parameters as $1..$N)", i + 1);
  if (what[0])
    return si_error_set(err, SI_ERR_ARG, c->where, SI_NO_OFFSET, SI_NO_TAG, "%s (sql: %.*s)", what,
                        SQL_QUOTE_CHARS, sql);
  *count = max;
  return SI_OK;
}

/* ---- errors ---- */

static int sqlstate_is(const char *state, const char *code) {
  return state && strcmp(state, code) == 0;
}

/* Class 08 (connection exception) and the server going away under us:
 * admin_shutdown, crash_shutdown, cannot_connect_now. */
static int is_connection_state(const char *state) {
  return state && (strncmp(state, "08", 2) == 0 || sqlstate_is(state, "57P01") ||
                   sqlstate_is(state, "57P02") || sqlstate_is(state, "57P03"));
}

static const char *constraint_kind(const char *state) {
  if (!state || strncmp(state, "23", 2) != 0)
    return NULL;
  if (sqlstate_is(state, "23505"))
    return "unique";
  if (sqlstate_is(state, "23503"))
    return "foreign-key";
  if (sqlstate_is(state, "23502"))
    return "not-null";
  if (sqlstate_is(state, "23514"))
    return "check";
  return "other";
}

/* "image.uid" for a unique violation, from the table name and the key
 * columns of the detail ("Key (uid)=(...) already exists."), so messages
 * name the constraint as the SQLite backend's do; "" when unknown. The
 * values in the detail are left out: they may be patient data. */
static void unique_target(const PGresult *res, char *out, size_t size) {
  out[0] = '\0';
  const char *table = pq.PQresultErrorField(res, PG_DIAG_TABLE_NAME);
  const char *detail = pq.PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
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
    p = comma ? skip_blanks(comma + 1) : close;
  }
  if (n + 2 < size)
    snprintf(out + n, size - n, ": ");
}

/* Fills err for a failed statement (res may be NULL when libpq could not
 * even build a result). */
static si_status result_error(pg_conn *c, const PGresult *res, const char *sql, si_error *err) {
  const char *state = res ? pq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary = res ? pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  char msg[400];
  one_line(msg, sizeof msg, primary ? primary : pq.PQerrorMessage(c->pg));
  if (pq.PQstatus(c->pg) != CONNECTION_OK || is_connection_state(state))
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
  one_line(why, sizeof why, pq.PQerrorMessage(c->pg));
  si_log(SI_LOG_WARN, "postgresql: connection lost (%s); reconnecting to %s", why, c->where);
  long delay_ms = 50;
  for (;;) {
    pq.PQreset(c->pg);
    if (pq.PQstatus(c->pg) == CONNECTION_OK) {
      /* Prepared statements lived in the old session. */
      forget_prepared(c);
      si_log(SI_LOG_WARN, "postgresql: connection to %s re-established after %ld ms", c->where,
             elapsed_ms(&start));
      return SI_OK;
    }
    long spent = elapsed_ms(&start);
    if (spent >= RECONNECT_BUDGET_MS) {
      char msg[400];
      one_line(msg, sizeof msg, pq.PQerrorMessage(c->pg));
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
static si_status ensure_connected(pg_conn *c, const char *sql, si_error *err) {
  if (c->lost_in_tx)
    return si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                        "postgresql: connection lost inside a transaction; roll back first "
                        "(sql: %.*s)",
                        SQL_QUOTE_CHARS, sql);
  /* The goodbye message and the end of the stream may take two reads. */
  for (int i = 0; i < 4 && pq.PQstatus(c->pg) == CONNECTION_OK &&
                  pq.PQtransactionStatus(c->pg) == PQTRANS_IDLE && readable(pq.PQsocket(c->pg));
       i++)
    pq.PQconsumeInput(c->pg);
  if (pq.PQstatus(c->pg) == CONNECTION_OK)
    return SI_OK;
  return reconnect(c, sql, err);
}

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
  if (pq.PQtransactionStatus(c->pg) == PQTRANS_INERROR)
    return NULL;
  prepared *victim = &c->cache[0];
  for (int i = 1; i < CACHE_SIZE; i++)
    if (c->cache[i].last_used < victim->last_used)
      victim = &c->cache[i];
  char sql[64];
  snprintf(sql, sizeof sql, "DEALLOCATE %s", victim->name);
  PGresult *res = pq.PQexec(c->pg, sql);
  int ok = pq.PQresultStatus(res) == PGRES_COMMAND_OK;
  pq.PQclear(res);
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
  if (!worth_caching(sql))
    return check_sql(c, sql, nparams, &count, err);
  uint64_t h = hash_sql(sql);
  prepared *e = cache_find(c, sql, h);
  if (e && e->nparams != nparams)
    return si_error_set(err, SI_ERR_ARG, c->where, SI_NO_OFFSET, SI_NO_TAG,
                        "statement takes %d parameters, %d given (sql: %.*s)", e->nparams, nparams,
                        SQL_QUOTE_CHARS, sql);
  if (!e) {
    si_status st = check_sql(c, sql, nparams, &count, err);
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
    return pq.PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
  if (fresh) {
    PGresult *res = pq.PQprepare(c->pg, e->name, sql, 0, NULL);
    if (pq.PQresultStatus(res) != PGRES_COMMAND_OK) {
      cache_drop(c, e);
      return res;
    }
    pq.PQclear(res);
  }
  PGresult *res = pq.PQexecPrepared(c->pg, e->name, nparams, params, NULL, NULL, 0);
  const char *state = pq.PQresultErrorField(res, PG_DIAG_SQLSTATE);
  /* 26000: the session lost it (DISCARD ALL, a pooler); 0A000: "cached
   * plan must not change result type" after ALTER TABLE. */
  if (sqlstate_is(state, "26000") || sqlstate_is(state, "0A000")) {
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
  one_line(msg, sizeof msg, pq.PQerrorMessage(c->pg));
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
  if (pq.PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && pq.PQenterPipelineMode(c->pg) != 1)
    return connection_broke(c, sql, err);
  pending *q = &c->queue[c->npending];
  if (!e) {
    if (pq.PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0) != 1)
      return connection_broke(c, sql, err);
    /* Unnamed: quote the caller's text now, it does not outlive the call. */
    *q = (pending){.is_prepare = 0};
    snprintf(q->quote, sizeof q->quote, "%.*s", SQL_QUOTE_CHARS, sql);
    c->npending++;
    return SI_OK;
  }
  if (fresh) {
    if (pq.PQsendPrepare(c->pg, e->name, sql, 0, NULL) != 1)
      return connection_broke(c, sql, err);
    *q = (pending){.is_prepare = 1};
    snprintf(q->name, sizeof q->name, "%s", e->name);
    snprintf(q->quote, sizeof q->quote, "%.*s", SQL_QUOTE_CHARS, sql);
    q = &c->queue[++c->npending];
  }
  if (pq.PQsendQueryPrepared(c->pg, e->name, nparams, params, NULL, NULL, 0) != 1)
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
  if (pq.PQpipelineSync(c->pg) != 1)
    return connection_broke(c, c->npending ? c->queue[0].quote : "", err);
  int n = c->npending;
  for (int i = 0; i < n; i++) {
    pending *q = &c->queue[i];
    PGresult *res = pq.PQgetResult(c->pg);
    if (!res)
      return st != SI_OK ? (c->npending = 0, c->lost_in_tx = 1, st)
                         : connection_broke(c, q->quote, err);
    /* Each statement's results end with a NULL. */
    for (PGresult *extra; (extra = pq.PQgetResult(c->pg));)
      pq.PQclear(extra);
    ExecStatusType rs = pq.PQresultStatus(res);
    int ok = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK || rs == PGRES_EMPTY_QUERY;
    const char *state = pq.PQresultErrorField(res, PG_DIAG_SQLSTATE);
    /* Never created; or gone or stale, as in run_statement. */
    if ((!ok && q->is_prepare) || sqlstate_is(state, "26000") || sqlstate_is(state, "0A000"))
      drop_prepared(c, q->name);
    if (rs == PGRES_FATAL_ERROR && st == SI_OK)
      st = result_error(c, res, q->quote, err);
    if (last && i == n - 1 && st == SI_OK)
      *last = res;
    else
      pq.PQclear(res);
    if (pq.PQstatus(c->pg) != CONNECTION_OK)
      return st != SI_OK ? (c->npending = 0, c->lost_in_tx = 1, st)
                         : connection_broke(c, q->quote, err);
  }
  PGresult *sync = pq.PQgetResult(c->pg);
  int synced = pq.PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  pq.PQclear(sync);
  c->npending = 0;
  if (!synced || pq.PQexitPipelineMode(c->pg) != 1) {
    if (last && *last) {
      pq.PQclear(*last);
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
  if (is_rollback(sql)) {
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
  return pq.PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
}

static int can_defer(const pg_conn *c, const char *sql, si_db_row_fn fn, const int64_t *changes) {
  if (fn || changes || !worth_caching(sql))
    return 0;
  return c->npending > 0 || pq.PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
}

/* ---- execution ---- */

static si_status deliver_rows(pg_conn *c, const PGresult *res, si_db_row_fn fn, void *user,
                              si_error *err) {
  int nrows = pq.PQntuples(res), ncols = pq.PQnfields(res);
  const char *on_stack[STACK_COLUMNS];
  const char **values = on_stack;
  if (ncols > STACK_COLUMNS && !(values = malloc((size_t)ncols * sizeof *values)))
    return si_error_set(err, SI_ERR_NOMEM, c->where, SI_NO_OFFSET, SI_NO_TAG, "row of %d columns",
                        ncols);
  si_status st = SI_OK;
  for (int r = 0; r < nrows && st == SI_OK; r++) {
    /* Mapped bytes (see escape_text) go back to what the caller stored,
     * in copies: libpq's result memory is not ours to change. */
    char **copies = NULL;
    int stop = 0;
    for (int i = 0; i < ncols && st == SI_OK; i++) {
      values[i] = pq.PQgetisnull(res, r, i) ? NULL : pq.PQgetvalue(res, r, i);
      if (!values[i] || !has_escapes(values[i]))
        continue;
      if (!copies)
        copies = calloc((size_t)ncols, sizeof *copies);
      char *copy = copies ? strdup(values[i]) : NULL;
      if (!copy) {
        st = si_error_set(err, SI_ERR_NOMEM, c->where, SI_NO_OFFSET, SI_NO_TAG, "row %d, column %d",
                          r, i);
        break;
      }
      unescape_text(copy);
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
  const char *tag = pq.PQcmdStatus((PGresult *)res);
  static const char *const verbs[] = {"INSERT", "UPDATE", "DELETE", "MERGE"};
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (after_word(tag, verbs[i]))
      return strtoll(pq.PQcmdTuples((PGresult *)res), NULL, 10);
  return 0;
}

static si_status exec_mapped(pg_conn *c, const char *sql, int nparams, const char *const *params,
                             si_db_row_fn fn, void *user, int64_t *changes, si_error *err) {
  if (changes)
    *changes = 0;
  if (is_rollback(sql)) {
    c->lost_in_tx = 0;
    /* Nothing to roll back (matching SQLite, and saving a round trip and a
     * warning), or the server already did when the connection broke. */
    if (pq.PQstatus(c->pg) != CONNECTION_OK ||
        (c->npending == 0 && pq.PQtransactionStatus(c->pg) == PQTRANS_IDLE))
      return SI_OK;
  }
  si_status st = ensure_connected(c, sql, err);
  if (st != SI_OK)
    return st;
  if (can_defer(c, sql, fn, changes)) {
    st = queue_statement(c, sql, nparams, params, err);
    /* A full pipeline is emptied here, its outcomes due anyway. */
    if (st == SI_OK && c->npending + 2 > MAX_PENDING)
      st = drain(c, NULL, err);
    return st;
  }
  int in_tx = c->npending > 0 || pq.PQtransactionStatus(c->pg) != PQTRANS_IDLE;
  PGresult *res = NULL;
  if (c->npending > 0) {
    res = run_in_pipeline(c, sql, nparams, params, &st, err);
    if (st != SI_OK || !res) {
      pq.PQclear(res);
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
      pq.PQclear(res);
    }
  }
  ExecStatusType rs = pq.PQresultStatus(res);
  if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
    /* COMMIT of a transaction that had failed answers "ROLLBACK", not an
     * error: the caller must not believe its writes were kept. */
    if (is_commit(sql) && strcmp(pq.PQcmdStatus(res), "ROLLBACK") == 0)
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
    st = result_error(c, res, sql, err);
    /* A failed COMMIT ends the transaction in db.c's eyes already. */
    if (pq.PQstatus(c->pg) != CONNECTION_OK && in_tx && !is_commit(sql))
      c->lost_in_tx = 1;
  }
  pq.PQclear(res);
  return st;
}

static si_status pg_exec(void *conn, const char *sql, int nparams, const char *const *params,
                         si_db_row_fn fn, void *user, int64_t *changes, si_error *err) {
  pg_conn *c = conn;
  int mapped = 0;
  for (int i = 0; i < nparams && !mapped; i++)
    mapped = params[i] && needs_escape(params[i]);
  if (!mapped)
    return exec_mapped(c, sql, nparams, params, fn, user, changes, err);
  /* libpq copies parameters into its send buffer, even when pipelining, so
   * the mapped copies can go when the call returns. */
  const char **wire = calloc((size_t)nparams, sizeof *wire);
  char **copies = calloc((size_t)nparams, sizeof *copies);
  si_status st = wire && copies ? SI_OK : SI_ERR_NOMEM;
  for (int i = 0; i < nparams && st == SI_OK; i++) {
    if (params[i] && needs_escape(params[i]) && !(copies[i] = escape_text(params[i])))
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

/* ---- signals (LISTEN/NOTIFY) ---- */

static si_status pg_listen(void *conn, const char *channel, si_error *err) {
  char sql[128];
  snprintf(sql, sizeof sql, "LISTEN %s", channel);
  return pg_exec(conn, sql, 0, NULL, NULL, NULL, NULL, err);
}

/* Takes the notifications libpq has read; the payloads do not matter. */
static int take_notifications(PGconn *pg) {
  int any = 0;
  for (PGnotify *n; (n = pq.PQnotifies(pg)) != NULL; pq.PQfreemem(n))
    any = 1;
  return any;
}

static si_status wait_lost(pg_conn *c, si_error *err) {
  char msg[400];
  one_line(msg, sizeof msg, pq.PQerrorMessage(c->pg));
  return si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                      "postgresql: connection lost while waiting for signals (%s)", msg);
}

static si_status pg_wait_signal(void *conn, int timeout_ms, int *signalled, si_error *err) {
  pg_conn *c = conn;
  *signalled = 0;
  if (pq.PQstatus(c->pg) != CONNECTION_OK || !pq.PQconsumeInput(c->pg))
    return wait_lost(c, err);
  if ((*signalled = take_notifications(c->pg)))
    return SI_OK;
  struct pollfd p = {.fd = pq.PQsocket(c->pg), .events = POLLIN};
  if (poll(&p, 1, timeout_ms) <= 0)
    return SI_OK; /* the time is up, or a signal to the process: callers loop */
  if (!pq.PQconsumeInput(c->pg) || pq.PQstatus(c->pg) != CONNECTION_OK)
    return wait_lost(c, err);
  *signalled = take_notifications(c->pg);
  return SI_OK;
}

static void pg_disconnect(void *conn) {
  pg_conn *c = conn;
  if (!c)
    return;
  forget_prepared(c);
  pq.PQfinish(c->pg);
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
  redact_url(c->where, sizeof c->where, url);
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
  c->pg = pq.PQconnectdbParams(keys, values, 1);
  if (!c->pg || pq.PQstatus(c->pg) != CONNECTION_OK) {
    char msg[400];
    one_line(msg, sizeof msg, c->pg ? pq.PQerrorMessage(c->pg) : "out of memory");
    si_status s = si_error_set(err, SI_ERR_DB, c->where, SI_NO_OFFSET, SI_NO_TAG,
                               "cannot connect to PostgreSQL: %s", msg);
    pg_disconnect(c);
    return s;
  }
  pq.PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
  *conn = c;
  return SI_OK;
}

const si_db_backend si_postgres_backend = {
    .name = "postgresql",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
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
