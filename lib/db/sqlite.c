/* The SQLite backend. One connection per thread (opened NOMUTEX: the caller
 * guarantees single-threaded use, so SQLite's own mutex is pure cost).
 *
 * Durability is the product's promise, so every connection runs WAL with
 * synchronous=FULL: a COMMIT that returned has reached the disk. Several
 * threads and processes share the file, so lock contention is normal and is
 * waited out (a busy handler of our own that retries promptly, plus our own
 * retry for the cases where SQLite does not call it) rather than reported. */
#include <sqlite3.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "sendit/db.h"
#include "turnstile.h"

#if SQLITE_VERSION_NUMBER >= 3037000
#define changes_of(h) sqlite3_changes64(h)
#define total_changes_of(h) sqlite3_total_changes64(h)
#else
#define changes_of(h) ((int64_t)sqlite3_changes(h))
#define total_changes_of(h) ((int64_t)sqlite3_total_changes(h))
#endif

#define BUSY_TIMEOUT_MS 30000
/* The import hot path runs a few dozen distinct statements thousands of
 * times; 64 holds them all with room to spare. */
#define CACHE_SIZE 64
/* Rows wider than this take a heap array for their values. */
#define STACK_COLUMNS 32
/* How much of the SQL an error message quotes. */
#define SQL_QUOTE_CHARS 120

typedef struct cached_stmt {
  uint64_t hash;
  char *sql;
  sqlite3_stmt *stmt;
  uint64_t last_used;
  /* Being stepped by a caller further up the stack: a row callback may run
   * the same SQL again, and must neither share nor evict this one. */
  int in_use;
  /* The statement's parameters are exactly $1..$N, each used. */
  int params_dense;
  /* Where the caller's text was last time. Hot statements come from the
   * same static strings each run: a match there (confirmed by comparing
   * the text) skips hashing a long INSERT's few hundred bytes. */
  const char *seen_at;
} cached_stmt;

typedef struct sq_conn {
  sqlite3 *db;
  char *path; /* for error messages */
  uint64_t tick;
  int ncached;
  cached_stmt cache[CACHE_SIZE];
  struct timespec busy_since; /* start of the current wait for a lock */
  si_turnstile *turnstile;    /* this file's in-process writer queue, or NULL */
  int in_turnstile;           /* this connection's transaction holds it */
  int wal;                    /* journal_mode is WAL */
  int readonly;               /* opened by sq_connect_readonly */
  /* The file as opened, for sq_check_file: its full name (NULL for an
   * in-memory or temporary database) and identity. Set once by connect. */
  char *file;
  dev_t file_dev;
  ino_t file_ino;
} sq_conn;

/* ---- errors ---- */

static const char *constraint_kind(int rc) {
  switch (rc) {
  case SQLITE_CONSTRAINT_UNIQUE:
  case SQLITE_CONSTRAINT_PRIMARYKEY:
    return "unique";
  case SQLITE_CONSTRAINT_FOREIGNKEY:
    return "foreign-key";
  case SQLITE_CONSTRAINT_NOTNULL:
    return "not-null";
  case SQLITE_CONSTRAINT_CHECK:
    return "check";
  default:
    return (rc & 0xff) == SQLITE_CONSTRAINT ? "other" : NULL;
  }
}

/* Must run before anything else touches the handle: sqlite3_errmsg only
 * describes the most recent call. A UNIQUE violation is SI_ERR_STATE, the
 * expected "already there" of a race, not a failing database (db.h). */
static si_status db_error(const sq_conn *c, int rc, const char *sql, si_error *err) {
  const char *msg = sqlite3_errmsg(c->db);
  const char *kind = constraint_kind(rc);
  if (kind)
    return si_error_set(err, strcmp(kind, "unique") == 0 ? SI_ERR_STATE : SI_ERR_DB, c->path,
                        SI_NO_OFFSET, SI_NO_TAG, SI_DB_CONSTRAINT_PREFIX "%s: %s (sql: %.*s)", kind,
                        msg, SQL_QUOTE_CHARS, sql);
  return si_error_set(err, SI_ERR_DB, c->path, SI_NO_OFFSET, SI_NO_TAG, "sqlite: %s (sql: %.*s)",
                      msg, SQL_QUOTE_CHARS, sql);
}

static si_status arg_error(const sq_conn *c, const char *sql, si_error *err, const char *what) {
  return si_error_set(err, SI_ERR_ARG, c->path, SI_NO_OFFSET, SI_NO_TAG, "%s (sql: %.*s)", what,
                      SQL_QUOTE_CHARS, sql);
}

/* ---- SQL text helpers ---- */

static const char *skip_blanks(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

static int is_word_char(char ch) {
  return ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
         (ch >= 'A' && ch <= 'Z');
}

/* After the keyword `word` that sql begins with (case-insensitive), or NULL. */
static const char *after_word(const char *sql, const char *word) {
  const char *p = skip_blanks(sql);
  size_t n = strlen(word);
  if (strncasecmp(p, word, n) != 0 || is_word_char(p[n]))
    return NULL;
  return p + n;
}

/* Only statements that recur are worth a cache slot; DDL and pragmas run
 * once at startup and would just push out the hot statements. */
static int worth_caching(const char *sql) {
  static const char *const words[] = {"SELECT",   "INSERT",    "UPDATE", "DELETE", "REPLACE",
                                      "WITH",     "VALUES",    "BEGIN",  "COMMIT", "END",
                                      "ROLLBACK", "SAVEPOINT", "RELEASE"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (after_word(sql, words[i]))
      return 1;
  return 0;
}

/* Plain "ROLLBACK" with nothing after it but blanks and semicolons. */
static int is_plain_rollback(const char *sql) {
  const char *p = after_word(sql, "ROLLBACK");
  if (!p)
    return 0;
  while (*(p = skip_blanks(p)) == ';')
    p++;
  return *p == '\0';
}

static uint64_t hash_sql(const char *sql) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  return h;
}

/* ---- busy backoff ---- */

typedef struct backoff {
  struct timespec start;
  long delay_us;
} backoff;

static void backoff_init(backoff *b) {
  clock_gettime(CLOCK_MONOTONIC, &b->start);
  b->delay_us = 100;
}

static long long ms_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)(now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* SQLite's own busy_timeout handler sleeps 1, 2, 5, 10, 15, 20, 25 ms...
 * between tries, while the workers' write transactions last about a
 * millisecond: a waiter slept through the gaps between another worker's
 * transactions and could starve for 50 ms and more (seen with two workers
 * on one SQLite file). Try again every 50 us at first, backing off to 2 ms,
 * up to BUSY_TIMEOUT_MS in all. */
static int busy_wait(void *arg, int count) {
  sq_conn *c = arg;
  if (count == 0)
    clock_gettime(CLOCK_MONOTONIC, &c->busy_since);
  else if (ms_since(&c->busy_since) >= BUSY_TIMEOUT_MS)
    return 0;
  long sleep_us = count < 20 ? 50 : count < 60 ? 250 : 2000;
  struct timespec ts = {0, sleep_us * 1000};
  nanosleep(&ts, NULL);
  return 1;
}

/* Sleeps before the next attempt; 0 once the overall budget is spent, so a
 * lock held for longer than busy_timeout still surfaces as an error. Jitter
 * keeps two waiters that collided from colliding again in lockstep. */
static int backoff_wait(backoff *b) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long elapsed_ms =
      (long long)(now.tv_sec - b->start.tv_sec) * 1000 + (now.tv_nsec - b->start.tv_nsec) / 1000000;
  if (elapsed_ms >= BUSY_TIMEOUT_MS)
    return 0;
  long sleep_us =
      b->delay_us / 2 + (long)((unsigned long)now.tv_nsec % (unsigned long)(b->delay_us / 2 + 1));
  struct timespec ts = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
  nanosleep(&ts, NULL);
  if (b->delay_us < 100000)
    b->delay_us *= 2;
  return 1;
}

/* ---- statement cache ---- */

static cached_stmt *cache_find_seen(sq_conn *c, const char *sql) {
  for (int i = 0; i < c->ncached; i++) {
    cached_stmt *e = &c->cache[i];
    if (e->seen_at == sql && !e->in_use && strcmp(e->sql, sql) == 0)
      return e;
  }
  return NULL;
}

static cached_stmt *cache_find(sq_conn *c, const char *sql, uint64_t h) {
  for (int i = 0; i < c->ncached; i++) {
    cached_stmt *e = &c->cache[i];
    if (e->hash == h && !e->in_use && strcmp(e->sql, sql) == 0)
      return e;
  }
  return NULL;
}

/* A free slot, evicting the least recently used idle statement when full;
 * NULL when every slot is busy (deep callback recursion). */
static cached_stmt *cache_slot(sq_conn *c) {
  if (c->ncached < CACHE_SIZE)
    return &c->cache[c->ncached++];
  cached_stmt *victim = NULL;
  for (int i = 0; i < CACHE_SIZE; i++) {
    cached_stmt *e = &c->cache[i];
    if (!e->in_use && (!victim || e->last_used < victim->last_used))
      victim = e;
  }
  if (victim) {
    sqlite3_finalize(victim->stmt);
    free(victim->sql);
    memset(victim, 0, sizeof *victim);
  }
  return victim;
}

/* Calls fn for each "$N" of sql outside quotes and comments, with the
 * offset of its '$' and N; stops when fn returns non-zero. */
static void each_param(const char *sql, int (*fn)(void *user, size_t at, long n), void *user) {
  for (const char *p = sql; *p; p++) {
    if (*p == '\'' || *p == '"') {
      const char *close = strchr(p + 1, *p);
      if (!close)
        return;
      p = close;
    } else if (p[0] == '-' && p[1] == '-') {
      const char *eol = strchr(p, '\n');
      if (!eol)
        return;
      p = eol;
    } else if (p[0] == '/' && p[1] == '*') {
      const char *end = strstr(p + 2, "*/");
      if (!end)
        return;
      p = end + 1;
    } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
      char *end;
      long n = strtol(p + 1, &end, 10);
      if (fn(user, (size_t)(p - sql), n))
        return;
      p = end - 1;
    }
  }
}

typedef struct param_scan {
  char *text;          /* the rewritten copy, or NULL while counting */
  unsigned char *seen; /* seen[n] for n in 1..max */
  long max;
} param_scan;

static int scan_param(void *user, size_t at, long n) {
  param_scan *s = user;
  if (!s->text) {
    if (n > s->max)
      s->max = n;
    return 0;
  }
  s->text[at] = '?';
  if (n >= 1 && n <= s->max)
    s->seen[n] = 1;
  return 0;
}

/* SQLite takes "$7" for a name, and finds a name by comparing it with every
 * earlier one: compiling a statement of n parameters costs n^2 / 2 string
 * comparisons (a 480-parameter INSERT took about a millisecond). "?7" is
 * the number 7 and costs nothing, so the text SQLite compiles says "?N"
 * where the caller's says "$N". Sets *max to the highest N and *all_used
 * when each of $1..$max appears. NULL when memory is short; the caller
 * frees the copy. */
static char *numbered_params(const char *sql, long *max, int *all_used) {
  param_scan s = {0};
  each_param(sql, scan_param, &s);
  s.text = strdup(sql);
  s.seen = calloc((size_t)s.max + 1, 1);
  if (!s.text || !s.seen) {
    free(s.text);
    free(s.seen);
    return NULL;
  }
  each_param(sql, scan_param, &s);
  *max = s.max;
  *all_used = 1;
  for (long n = 1; n <= s.max; n++)
    *all_used &= s.seen[n];
  free(s.seen);
  return s.text;
}

/* Compiles exactly one statement: a second one would silently never run. */
static si_status prepare(sq_conn *c, const char *sql, unsigned flags, sqlite3_stmt **out,
                         int *dense, si_error *err) {
  long max = 0;
  int all_used = 0;
  char *text = numbered_params(sql, &max, &all_used);
  if (!text)
    return si_error_set(err, SI_ERR_NOMEM, c->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  const char *tail = NULL;
  backoff bo;
  backoff_init(&bo);
  /* Compiling reads the schema, which another process creating the file
   * may have locked; compiling has no side effects, so always retry. */
  int rc;
  while ((rc = sqlite3_prepare_v3(c->db, text, -1, flags, out, &tail)) != SQLITE_OK &&
         (rc & 0xff) == SQLITE_BUSY && backoff_wait(&bo))
    ;
  si_status s = SI_OK;
  if (rc != SQLITE_OK) {
    s = db_error(c, rc, sql, err);
  } else if (!*out) {
    s = arg_error(c, sql, err, "empty statement");
  } else if (tail && *tail) {
    /* Blanks or comments may follow; anything that compiles may not. */
    sqlite3_stmt *extra = NULL;
    int more = sqlite3_prepare_v2(c->db, tail, -1, &extra, NULL) != SQLITE_OK || extra;
    sqlite3_finalize(extra);
    if (more) {
      sqlite3_finalize(*out);
      *out = NULL;
      s = arg_error(c, sql, err, "more than one statement");
    }
  }
  free(text);
  /* No "?" or ":name" besides: SQLite counts every parameter. */
  *dense = s == SI_OK && all_used && max == sqlite3_bind_parameter_count(*out);
  return s;
}

/* Hands out a ready statement; *slot is NULL when it is not cached and must
 * be finalized by release(). *dense: see cached_stmt.params_dense. */
static si_status acquire(sq_conn *c, const char *sql, sqlite3_stmt **stmt, cached_stmt **slot,
                         int *dense, si_error *err) {
  *slot = NULL;
  cached_stmt *e = cache_find_seen(c, sql);
  int cacheable = e != NULL;
  uint64_t h = 0;
  if (!e) {
    cacheable = worth_caching(sql);
    h = cacheable ? hash_sql(sql) : 0;
    e = cacheable ? cache_find(c, sql, h) : NULL;
  }
  if (!e) {
    si_status s = prepare(c, sql, cacheable ? SQLITE_PREPARE_PERSISTENT : 0, stmt, dense, err);
    if (s != SI_OK)
      return s;
    char *copy = cacheable ? strdup(sql) : NULL;
    e = copy ? cache_slot(c) : NULL;
    if (!e) {
      free(copy);
      return SI_OK;
    }
    e->hash = h;
    e->sql = copy;
    e->stmt = *stmt;
    e->params_dense = *dense;
  }
  *dense = e->params_dense;
  e->in_use = 1;
  e->seen_at = sql;
  e->last_used = ++c->tick;
  *stmt = e->stmt;
  *slot = e;
  return SI_OK;
}

/* Resetting at once matters beyond reuse: a statement left mid-result keeps
 * its read transaction open, which pins the WAL and blocks checkpoints. */
static void release(sqlite3_stmt *stmt, cached_stmt *slot) {
  if (!slot) {
    sqlite3_finalize(stmt);
    return;
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  slot->in_use = 0;
}

/* ---- execution ---- */

/* Parameters are $1..$N; both directions must match, as PostgreSQL refuses
 * a parameter the statement does not use. Values are bound without copying:
 * they outlive the statement's run, and release() clears the bindings. */
static si_status bind_params(sq_conn *c, sqlite3_stmt *stmt, int dense, const char *sql,
                             int nparams, const char *const *params, si_error *err) {
  if (!dense) {
    return arg_error(c, sql, err,
                     "parameters must be $1..$N, each used (no '?' or ':name', none skipped)");
  }
  if (sqlite3_bind_parameter_count(stmt) != nparams) {
    char what[96];
    snprintf(what, sizeof what, "statement takes %d parameters, %d given",
             sqlite3_bind_parameter_count(stmt), nparams);
    return arg_error(c, sql, err, what);
  }
  /* "$k" was compiled as "?k" (numbered_params): its index is k. */
  for (int i = 0; i < nparams; i++) {
    int rc = params[i] ? sqlite3_bind_text(stmt, i + 1, params[i], -1, SQLITE_STATIC)
                       : sqlite3_bind_null(stmt, i + 1);
    if (rc != SQLITE_OK)
      return db_error(c, rc, sql, err);
  }
  return SI_OK;
}

static si_status deliver_row(sq_conn *c, sqlite3_stmt *stmt, si_db_row_fn fn, void *user, int *stop,
                             si_error *err) {
  int n = sqlite3_column_count(stmt);
  const char *on_stack[STACK_COLUMNS];
  const char **values = on_stack;
  if (n > STACK_COLUMNS && !(values = malloc((size_t)n * sizeof *values)))
    return si_error_set(err, SI_ERR_NOMEM, c->path, SI_NO_OFFSET, SI_NO_TAG, "row of %d columns",
                        n);
  si_status s = SI_OK;
  for (int i = 0; i < n && s == SI_OK; i++) {
    /* The type must be read before the text: conversion makes it undefined. */
    int null = sqlite3_column_type(stmt, i) == SQLITE_NULL;
    values[i] = null ? NULL : (const char *)sqlite3_column_text(stmt, i);
    if (!null && !values[i])
      s = si_error_set(err, SI_ERR_NOMEM, c->path, SI_NO_OFFSET, SI_NO_TAG, "column %d text", i);
  }
  if (s == SI_OK)
    *stop = fn(user, n, (const char *const *)values) != 0;
  if (values != on_stack)
    free(values);
  return s;
}

/* Steps to the end (or until fn says stop). SQLITE_BUSY is retried only
 * where repeating is harmless: in autocommit mode (the failed statement
 * rolled itself back; this covers BEGIN IMMEDIATE and single writes whose
 * WAL snapshot went stale, which the busy handler cannot fix) and on COMMIT
 * (SQLite keeps the transaction open after a busy COMMIT). Never once rows
 * have been handed out. */
static si_status step_all(sq_conn *c, sqlite3_stmt *stmt, const char *sql, si_db_row_fn fn,
                          void *user, si_error *err) {
  int retryable =
      sqlite3_get_autocommit(c->db) || after_word(sql, "COMMIT") || after_word(sql, "END");
  int rows = 0;
  backoff bo;
  backoff_init(&bo);
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
      return SI_OK;
    if (rc == SQLITE_ROW) {
      rows++;
      int stop = 0;
      si_status s = fn ? deliver_row(c, stmt, fn, user, &stop, err) : SI_OK;
      if (s != SI_OK || stop)
        return s;
      continue;
    }
    if ((rc & 0xff) == SQLITE_BUSY && retryable && rows == 0 && backoff_wait(&bo)) {
      sqlite3_reset(stmt);
      continue;
    }
    return db_error(c, rc, sql, err);
  }
}

/* SQLite's changes() keeps the count of the last INSERT/UPDATE/DELETE, so a
 * SELECT or DDL would report a stale number: use it only when this
 * statement moved the running total. */
static si_status run_statement(sq_conn *c, const char *sql, int nparams, const char *const *params,
                               si_db_row_fn fn, void *user, int64_t *changes, si_error *err) {
  if (changes)
    *changes = 0;
  /* PostgreSQL only warns here; matching it lets cleanup paths roll back
   * unconditionally, e.g. after SQLite rolled back by itself on SQLITE_FULL. */
  if (sqlite3_get_autocommit(c->db) && is_plain_rollback(sql))
    return SI_OK;
  sqlite3_stmt *stmt = NULL;
  cached_stmt *slot = NULL;
  int dense = 0;
  si_status s = acquire(c, sql, &stmt, &slot, &dense, err);
  if (s != SI_OK)
    return s;
  int64_t before = total_changes_of(c->db);
  s = bind_params(c, stmt, dense, sql, nparams, params, err);
  if (s == SI_OK)
    s = step_all(c, stmt, sql, fn, user, err);
  if (s == SI_OK && changes && total_changes_of(c->db) != before)
    *changes = changes_of(c->db);
  release(stmt, slot);
  return s;
}

/* A transaction waits for the other writers of this process in the
 * turnstile (turnstile.h) before it asks SQLite for the lock, and leaves it
 * when it ends, however it ends (COMMIT, ROLLBACK, or SQLite rolling back
 * by itself after an error). */
static si_status run(sq_conn *c, const char *sql, int nparams, const char *const *params,
                     si_db_row_fn fn, void *user, int64_t *changes, si_error *err) {
  if (c->turnstile && !c->in_turnstile && after_word(sql, "BEGIN") && sqlite3_get_autocommit(c->db))
    c->in_turnstile = si_turnstile_enter(c->turnstile, BUSY_TIMEOUT_MS);
  si_status s = run_statement(c, sql, nparams, params, fn, user, changes, err);
  if (c->in_turnstile && sqlite3_get_autocommit(c->db)) {
    si_turnstile_leave(c->turnstile);
    c->in_turnstile = 0;
  }
  return s;
}

static si_status sq_exec(void *conn, const char *sql, int nparams, const char *const *params,
                         si_db_row_fn fn, void *user, int64_t *changes, si_error *err) {
  return run(conn, sql, nparams, params, fn, user, changes, err);
}

/* ---- connection ---- */

static int copy_first_value(void *user, int ncols, const char *const *values) {
  char *out = user;
  snprintf(out, 32, "%s", ncols > 0 && values[0] ? values[0] : "");
  return 1;
}

/* Runs a pragma and returns its first value (truncated to 31 chars). */
static si_status pragma(sq_conn *c, const char *sql, char out[32], si_error *err) {
  out[0] = '\0';
  return run(c, sql, 0, NULL, copy_first_value, out, NULL, err);
}

static si_status configure(sq_conn *c, si_error *err) {
  char value[32];
  /* A new database gets 8 KiB pages (an existing one keeps its own: the
   * pragma does nothing there). An image row is a few hundred bytes and is
   * rewritten when it becomes DONE; with twice the rows per page that
   * update costs 1.7 us a row instead of 2.9 (measured). */
  si_status s = pragma(c, "PRAGMA page_size=8192", value, err);
  /* WAL lets readers run beside the one writer. If the filesystem cannot do
   * WAL, SQLite keeps the rollback journal: slower under contention but
   * just as durable with synchronous=FULL, so that is not an error. */
  if (s == SI_OK)
    s = pragma(c, "PRAGMA journal_mode=WAL", value, err);
  c->wal = s == SI_OK && strcmp(value, "wal") == 0;
  if (s == SI_OK)
    s = pragma(c, "PRAGMA synchronous=FULL", value, err);
  if (s == SI_OK)
    s = pragma(c, "PRAGMA foreign_keys=ON", value, err);
  if (s == SI_OK)
    s = pragma(c, "PRAGMA foreign_keys", value, err);
  if (s == SI_OK && strcmp(value, "1") != 0)
    s = si_error_set(err, SI_ERR_UNSUPPORTED, c->path, SI_NO_OFFSET, SI_NO_TAG,
                     "this SQLite cannot enforce foreign keys");
  return s;
}

/* "sqlite:///abs/path" -> "/abs/path", "sqlite://rel" -> "rel"; plain paths
 * and "file:" URIs pass through. */
static const char *path_of(const char *url) {
  return strncmp(url, "sqlite://", 9) == 0 ? url + 9 : url;
}

static si_status open_handle(sq_conn *c, si_error *err) {
  /* URI names are allowed so "file:...?mode=..." works whatever the build's
   * default is. A reader neither creates the file nor writes to it. */
  int flags = c->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  flags |= SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(c->path, &c->db, flags, NULL);
  if (rc != SQLITE_OK)
    return si_error_set(err, SI_ERR_DB, c->path, SI_NO_OFFSET, SI_NO_TAG,
                        "cannot open SQLite database: %s",
                        c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
  sqlite3_extended_result_codes(c->db, 1);
  /* Before any statement: even setting the journal mode can meet a lock
   * when another process is creating the same file. */
  sqlite3_busy_handler(c->db, busy_wait, c);
  /* SQLite silently falls back to read-only when it may not write. */
  if (!c->readonly && sqlite3_db_readonly(c->db, "main") == 1)
    return si_error_set(err, SI_ERR_DB, c->path, SI_NO_OFFSET, SI_NO_TAG,
                        "SQLite database is read-only (check file permissions)");
  return SI_OK;
}

static void sq_disconnect(void *conn) {
  sq_conn *c = conn;
  if (!c)
    return;
  for (int i = 0; i < c->ncached; i++) {
    sqlite3_finalize(c->cache[i].stmt);
    free(c->cache[i].sql);
  }
  sqlite3_close_v2(c->db); /* rolls back an open transaction */
  if (c->in_turnstile)
    si_turnstile_leave(c->turnstile);
  si_turnstile_put(c->turnstile);
  free(c->path);
  free(c->file);
  free(c);
}

/* Records which file was opened (SQLite's own absolute name for it), for
 * sq_check_file. A database without a file has nothing to record. */
static si_status remember_file(sq_conn *c, si_error *err) {
  const char *name = sqlite3_db_filename(c->db, "main");
  struct stat st;
  if (!name || !name[0] || stat(name, &st) != 0)
    return SI_OK;
  if (!(c->file = strdup(name)))
    return si_error_set(err, SI_ERR_NOMEM, c->path, SI_NO_OFFSET, SI_NO_TAG, "SQLite connection");
  c->file_dev = st.st_dev;
  c->file_ino = st.st_ino;
  return SI_OK;
}

/* The daemon writes its records to the file it opened; once that file is
 * unlinked (or the path names another one), they would be written to a
 * file no one can open again: say so, so that the daemon stops. */
static si_status sq_check_file(void *conn, si_error *err) {
  const sq_conn *c = conn;
  struct stat st;
  if (!c->file)
    return SI_OK;
  if (stat(c->file, &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR)
      return SI_OK; /* cannot tell (e.g. a permission changed): not proof of a loss */
    return si_error_set(err, SI_ERR_STATE, c->file, SI_NO_OFFSET, SI_NO_TAG,
                        "the SQLite database file was deleted or renamed while in use: what is "
                        "written from now on would be lost");
  }
  if (st.st_dev != c->file_dev || st.st_ino != c->file_ino)
    return si_error_set(err, SI_ERR_STATE, c->file, SI_NO_OFFSET, SI_NO_TAG,
                        "the SQLite database file was replaced by another file while in use: "
                        "what is written from now on would go to the old one");
  return SI_OK;
}

/* SQLite counts every allocation under a global mutex for
 * sqlite3_memory_used(), which sendit never asks; without the count an
 * image row's insert is about a tenth cheaper (measured: 5.2 us instead of
 * 5.8). The setting must precede SQLite's initialization; in a process
 * where SQLite is already in use it is refused (SQLITE_MISUSE), harmlessly. */
static void configure_sqlite_once(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

static si_status connect_as(const char *url, int readonly, void **conn, si_error *err) {
  static pthread_once_t configured = PTHREAD_ONCE_INIT;
  pthread_once(&configured, configure_sqlite_once);
  *conn = NULL;
  const char *path = path_of(url);
  if (!*path)
    return si_error_set(err, SI_ERR_CONFIG, url, SI_NO_OFFSET, SI_NO_TAG,
                        "empty SQLite database path");
  if (!sqlite3_threadsafe())
    return si_error_set(err, SI_ERR_UNSUPPORTED, path, SI_NO_OFFSET, SI_NO_TAG,
                        "SQLite was built without thread support");
  /* Only a plain path can be looked at before SQLite opens it; a "file:"
   * URI that names no file fails to open instead. */
  struct stat st;
  if (readonly && strncmp(path, "file:", 5) != 0 && strcmp(path, ":memory:") != 0 &&
      stat(path, &st) != 0 && errno == ENOENT)
    return si_error_set(err, SI_ERR_NOT_FOUND, path, SI_NO_OFFSET, SI_NO_TAG,
                        "no SQLite database at this path yet: nothing imported");
  sq_conn *c = calloc(1, sizeof *c);
  if (!c || !(c->path = strdup(path))) {
    free(c);
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "SQLite connection");
  }
  c->readonly = readonly;
  si_status s = open_handle(c, err);
  /* A reader changes no setting of the file; query_only refuses writes. */
  if (s == SI_OK)
    s = readonly ? (sqlite3_exec(c->db, "PRAGMA query_only=1", NULL, NULL, NULL) == SQLITE_OK
                        ? SI_OK
                        : db_error(c, SQLITE_ERROR, "PRAGMA query_only=1", err))
                 : configure(c, err);
  if (s == SI_OK)
    s = remember_file(c, err);
  if (s != SI_OK) {
    sq_disconnect(c);
    return s;
  }
  if (!readonly)
    c->turnstile = si_turnstile_for(sqlite3_db_filename(c->db, "main"));
  *conn = c;
  return SI_OK;
}

static si_status sq_connect(const char *url, void **conn, si_error *err) {
  return connect_as(url, 0, conn, err);
}

static si_status sq_connect_readonly(const char *url, void **conn, si_error *err) {
  return connect_as(url, 1, conn, err);
}

/* In WAL mode, NORMAL writes a commit to the WAL without fsync: the OS
 * keeps it through a crash of the program, a power cut may undo it. */
static si_status sq_set_durable(void *conn, int durable, si_error *err) {
  sq_conn *c = conn;
  const char *sql = durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? SI_OK : db_error(c, rc, sql, err);
}

/* Every commit so far is in the WAL, which one fsync makes durable (a
 * frame that a checkpoint moved into the database file was synced there
 * first, at either level, before the WAL could start over). Asked through
 * SQLite's own handle on the WAL. In rollback-journal mode every commit
 * syncs the database file, at NORMAL too: nothing is left to do. */
static si_status sq_sync(void *conn, si_error *err) {
  sq_conn *c = conn;
  if (!c->wal)
    return SI_OK;
  sqlite3_file *wal = NULL;
  int rc = sqlite3_file_control(c->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
  if (rc == SQLITE_OK && wal && wal->pMethods)
    rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
  else if (rc == SQLITE_OK)
    return si_error_set(err, SI_ERR_DB, c->path, SI_NO_OFFSET, SI_NO_TAG,
                        "cannot sync the WAL: this connection has not opened it");
  return rc == SQLITE_OK ? SI_OK : db_error(c, rc, "sync of the WAL", err);
}

static int sq_writer_busy(void *conn) {
  sq_conn *c = conn;
  return c->turnstile && si_turnstile_taken(c->turnstile);
}

const si_db_backend si_sqlite_backend = {
    .name = "sqlite",
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .exec = sq_exec,
    .begin_write = "BEGIN IMMEDIATE",
    /* One writer at a time already serializes the queue's claim. */
    .skip_locked = "",
    .now_ms = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    .serial_key = "INTEGER PRIMARY KEY AUTOINCREMENT",
    .set_durable = sq_set_durable,
    .writer_busy = sq_writer_busy,
    .sync = sq_sync,
    .connect_readonly = sq_connect_readonly,
    .table_exists = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
    .check_file = sq_check_file,
};
