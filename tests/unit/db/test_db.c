/* The database layer: migrations (also two processes racing to create the
 * schema), parameters and rows, constraint errors, transactions, the
 * statement cache, and lock contention between threads. Every case runs on
 * SQLite and, when SENDIT_TEST_PG_URL names a PostgreSQL server (a
 * database the tests may create databases next to), again on PostgreSQL,
 * each test on a database of its own. A few cases are one backend's only
 * (pragmas, SKIP LOCKED, connection loss) and are skipped on the other. */
#include "testutil.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/schema.h"
#include "sendit/db.h"
#include "sendit/fs.h"
#include "sendit/quarantine.h"
#include "sendit/store.h"

/* The backend of the group being run: NULL for SQLite, else the URL of
 * the PostgreSQL database next to which each test creates its own. */
static const char *pg_url;
/* Databases created on the server, dropped after the group. */
static char pg_created[64][64];
static int pg_ncreated;

static int on_pg(void) { return pg_url != NULL; }

/* `url` with its database name replaced by `name` (query kept). */
static void url_with_db(char *out, size_t size, const char *url, const char *name) {
  const char *auth = strstr(url, "://");
  auth = auth ? auth + 3 : url;
  const char *slash = strchr(auth, '/'), *query = strchr(auth, '?');
  if (query && slash && slash > query)
    slash = NULL;
  size_t keep = slash ? (size_t)(slash - url) : query ? (size_t)(query - url) : strlen(url);
  snprintf(out, size, "%.*s/%s%s", (int)keep, url, name, query ? query : "");
}

/* Runs SQL on the server's database with plain libpq (CREATE/DROP DATABASE
 * cannot run in si_db's transactions, and the base database should not
 * get sendit's schema). */
static int pg_admin(const char *sql) {
  PGconn *c = PQconnectdb(pg_url);
  PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
  int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
  if (!ok)
    print_error("%s: %s\n", sql, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  return ok;
}

/* A fresh database per call, so tests do not see each other's rows: a
 * SQLite file, or a new PostgreSQL database. */
static const char *fresh_path(void) {
  static char path[4200];
  static int counter;
  if (!on_pg()) {
    snprintf(path, sizeof path, "%s/db-%d.sqlite", tu_tmp_dir(), ++counter);
    return path;
  }
  assert_true(pg_ncreated < (int)(sizeof pg_created / sizeof pg_created[0]));
  char *name = pg_created[pg_ncreated];
  snprintf(name, sizeof pg_created[0], "sendit_unit_%ld_%d", (long)getpid(), ++counter);
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  assert_true(pg_admin(sql));
  pg_ncreated++;
  url_with_db(path, sizeof path, pg_url, name);
  return path;
}

static si_db *must_open(const char *path) {
  si_db *db = NULL;
  si_error err;
  si_error_clear(&err);
  si_status s = si_db_open(path, &db, &err);
  if (s != SI_OK) {
    char buf[1200];
    print_error("si_db_open(%s): %s\n", path, si_error_format(&err, buf, sizeof buf));
  }
  assert_int_equal(s, SI_OK);
  assert_non_null(db);
  return db;
}

static void must_exec(si_db *db, const char *sql, int n, const char *const *params) {
  si_error err;
  si_error_clear(&err);
  si_status s = si_db_exec(db, sql, n, params, NULL, NULL, NULL, &err);
  if (s != SI_OK)
    print_error("%s: %s\n", sql, err.message);
  assert_int_equal(s, SI_OK);
}

static int read_first_int(void *user, int ncols, const char *const *values) {
  *(long long *)user = ncols > 0 && values[0] ? atoll(values[0]) : -1;
  return 1;
}

static int read_first_text(void *user, int ncols, const char *const *values) {
  snprintf((char *)user, 16, "%s", ncols > 0 && values[0] ? values[0] : "");
  return 1;
}

static long long query_int(si_db *db, const char *sql, int n, const char *const *params) {
  long long v = -2;
  si_error err;
  si_status s = si_db_exec(db, sql, n, params, read_first_int, &v, NULL, &err);
  if (s != SI_OK)
    print_error("%s: %s\n", sql, err.message);
  assert_int_equal(s, SI_OK);
  return v;
}

static void insert_batch(si_db *db, const char *uid) {
  const char *p[] = {uid, "QUEUE", "1000"};
  must_exec(db, "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, $3, $3)",
            3, p);
}

static int table_exists(si_db *db, const char *name) {
  const char *p[] = {name};
  if (on_pg())
    return (int)query_int(db,
                          "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                          "current_schema() AND table_name = $1",
                          1, p);
  return (int)query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
                        1, p);
}

/* ---- schema ---- */

static void test_open_creates_schema(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  assert_int_equal(si_db_schema_version(db), si_schema_latest_version());
  assert_true(si_db_schema_version(db) >= 2);
  static const char *const tables[] = {"batch",  "image",     "job",           "quarantine",
                                       "worker", "batch_log", "schema_version"};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    assert_int_equal(table_exists(db, tables[i]), 1);
  assert_int_equal(query_int(db, "SELECT count(*) FROM schema_version", 0, NULL),
                   si_schema_latest_version());
  if (on_pg()) {
    /* {serial} became BIGSERIAL: a bigint key drawing from a sequence. */
    assert_int_equal(query_int(db,
                               "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                               "'batch' AND column_name = 'id' AND data_type = 'bigint' AND "
                               "column_default LIKE 'nextval%'",
                               0, NULL),
                     1);
    assert_string_equal(si_db_get_backend(db)->serial_key, "BIGSERIAL PRIMARY KEY");
    assert_string_equal(si_db_get_backend(db)->name, "postgresql");
    assert_string_equal(si_db_get_backend(db)->begin_write, "BEGIN");
    assert_string_equal(si_db_get_backend(db)->skip_locked, " FOR UPDATE SKIP LOCKED");
    /* {update_heavy}: image rows leave room for their NEW -> DONE update. */
    assert_int_equal(query_int(db,
                               "SELECT count(*) FROM pg_class WHERE relname = 'image' AND "
                               "'fillfactor=50' = ANY(reloptions)",
                               0, NULL),
                     1);
    si_db_close(db);
    return;
  }
  /* {serial} was expanded to the backend's key type. */
  assert_int_equal(
      query_int(db, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%{serial}%'", 0, NULL), 0);
  assert_int_equal(
      query_int(db, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%{update%'", 0, NULL), 0);
  assert_int_equal(query_int(db,
                             "SELECT count(*) FROM sqlite_master WHERE name = 'batch'"
                             " AND sql LIKE '%id INTEGER PRIMARY KEY AUTOINCREMENT%'",
                             0, NULL),
                   1);
  assert_string_equal(si_db_get_backend(db)->serial_key, "INTEGER PRIMARY KEY AUTOINCREMENT");
  assert_string_equal(si_db_get_backend(db)->name, "sqlite");
  assert_string_equal(si_db_get_backend(db)->begin_write, "BEGIN IMMEDIATE");
  si_db_close(db);
}

static int copy_text(void *user, int ncols, const char *const *values) {
  snprintf(user, 32, "%s", ncols > 0 && values[0] ? values[0] : "(null)");
  return 1;
}

static void test_connection_settings(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  char mode[32];
  si_error err;
  if (on_pg()) {
    /* The server sees who is connected; the default isolation is kept. */
    assert_int_equal(si_db_exec(db, "SHOW application_name", 0, NULL, copy_text, mode, NULL, &err),
                     SI_OK);
    assert_string_equal(mode, "sendit");
    assert_int_equal(
        si_db_exec(db, "SHOW transaction_isolation", 0, NULL, copy_text, mode, NULL, &err), SI_OK);
    assert_string_equal(mode, "read committed");
    /* A frozen worker cannot hold its job's row lock for ever. */
    assert_int_equal(si_db_exec(db, "SHOW idle_in_transaction_session_timeout", 0, NULL, copy_text,
                                mode, NULL, &err),
                     SI_OK);
    assert_string_equal(mode, "1min");
    assert_int_equal(query_int(db, "SHOW tcp_keepalives_idle", 0, NULL), 30);
    si_db_close(db);
    return;
  }
  assert_int_equal(si_db_exec(db, "PRAGMA journal_mode", 0, NULL, copy_text, mode, NULL, &err),
                   SI_OK);
  assert_string_equal(mode, "wal");
  assert_int_equal(query_int(db, "PRAGMA synchronous", 0, NULL), 2); /* FULL */
  assert_int_equal(query_int(db, "PRAGMA foreign_keys", 0, NULL), 1);
  /* A new database has 8 KiB pages... */
  assert_int_equal(query_int(db, "PRAGMA page_size", 0, NULL), 8192);
  si_db_close(db);
  /* ...and one made by an older sendit keeps its 4 KiB pages. */
  char old_path[4300];
  snprintf(old_path, sizeof old_path, "%s/old-pages.sqlite", tu_tmp_dir());
  sqlite3 *raw = NULL;
  assert_int_equal(sqlite3_open(old_path, &raw), SQLITE_OK);
  assert_int_equal(sqlite3_exec(raw, "PRAGMA page_size=4096; CREATE TABLE t (x)", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(raw);
  db = must_open(old_path);
  assert_int_equal(query_int(db, "PRAGMA page_size", 0, NULL), 4096);
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), 0);
  si_db_close(db);
}

static double now_seconds(void);

typedef struct lock_holder {
  const char *path;
  int hold_ms;
  int holding; /* set (atomically): 1 once the lock is taken, -1 on failure */
  si_status status;
} lock_holder;

static void *hold_write_lock(void *arg) {
  lock_holder *h = arg;
  si_error err;
  si_db *db = NULL;
  h->status = si_db_open(h->path, &db, &err);
  if (h->status == SI_OK)
    h->status = si_db_begin(db, &err);
  if (h->status == SI_OK) {
    __atomic_store_n(&h->holding, 1, __ATOMIC_SEQ_CST);
    struct timespec ts = {0, (long)h->hold_ms * 1000000L};
    nanosleep(&ts, NULL);
    h->status = si_db_commit(db, &err);
  }
  if (h->status != SI_OK)
    __atomic_store_n(&h->holding, -1, __ATOMIC_SEQ_CST);
  si_db_close(db);
  return NULL;
}

/* A writer that meets another connection's write lock waits for it (up to
 * the busy timeout) and gets in soon after it is released. */
static void test_writer_waits_for_lock(void **state) {
  (void)state;
  if (on_pg())
    skip(); /* PostgreSQL queues writers on row locks by itself */
  const char *path = fresh_path();
  si_db *db = must_open(path);
  lock_holder h = {.path = path, .hold_ms = 300};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, hold_write_lock, &h), 0);
  struct timespec ts = {0, 1000000L};
  while (__atomic_load_n(&h.holding, __ATOMIC_SEQ_CST) == 0)
    nanosleep(&ts, NULL);
  assert_int_equal(__atomic_load_n(&h.holding, __ATOMIC_SEQ_CST), 1);
  double start = now_seconds();
  insert_batch(db, "after-the-lock");
  double waited = now_seconds() - start;
  pthread_join(th, NULL);
  assert_int_equal(h.status, SI_OK);
  assert_true(waited >= 0.2);
  assert_true(waited < 2.0);
  assert_int_equal(
      query_int(db, "SELECT count(*) FROM batch WHERE uid = 'after-the-lock'", 0, NULL), 1);
  si_db_close(db);
}

static void test_reopen_does_not_remigrate(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path);
  insert_batch(db, "kept");
  si_db_close(db);
  db = must_open(path);
  assert_int_equal(si_db_schema_version(db), si_schema_latest_version());
  assert_int_equal(query_int(db, "SELECT count(*) FROM schema_version", 0, NULL),
                   si_schema_latest_version());
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch WHERE uid = 'kept'", 0, NULL), 1);
  si_db_close(db);
}

static void test_newer_schema_is_refused(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path);
  must_exec(db, "INSERT INTO schema_version (version) VALUES (99)", 0, NULL);
  si_db_close(db);
  si_error err;
  si_error_clear(&err);
  assert_int_equal(si_db_open(path, &db, &err), SI_ERR_UNSUPPORTED);
  assert_null(db);
  assert_non_null(strstr(err.message, "99"));
}

/* ---- exec ---- */

typedef struct rows {
  int count;
  int stop_after; /* 0 = never */
  char uid[8][32];
  int qa_null[8];
} rows;

static int collect(void *user, int ncols, const char *const *values) {
  rows *r = user;
  assert_int_equal(ncols, 2);
  if (r->count < 8) {
    snprintf(r->uid[r->count], sizeof r->uid[0], "%s", values[0]);
    r->qa_null[r->count] = values[1] == NULL;
  }
  r->count++;
  return r->stop_after && r->count >= r->stop_after;
}

static void test_params_and_nulls(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  const char *p[] = {"b1", "QUEUE", "1700000000000", NULL};
  must_exec(
      db, "INSERT INTO batch (uid, status, created_at, updated_at, qa) VALUES ($1, $2, $3, $3, $4)",
      4, p);
  const char *q[] = {"b2", "DONE", "5", "{\"x\":1}"};
  must_exec(
      db, "INSERT INTO batch (uid, status, created_at, updated_at, qa) VALUES ($1, $2, $3, $3, $4)",
      4, q);
  rows r = {0};
  si_error err;
  assert_int_equal(
      si_db_exec(db, "SELECT uid, qa FROM batch ORDER BY uid", 0, NULL, collect, &r, NULL, &err),
      SI_OK);
  assert_int_equal(r.count, 2);
  assert_string_equal(r.uid[0], "b1");
  assert_true(r.qa_null[0]);
  assert_string_equal(r.uid[1], "b2");
  assert_false(r.qa_null[1]);
  /* Text parameters take the column's type: numbers stay numbers. */
  assert_int_equal(query_int(db,
                             on_pg() ? "SELECT count(*) FROM batch WHERE uid = 'b1' AND "
                                       "pg_typeof(created_at) = 'bigint'::regtype"
                                     : "SELECT typeof(created_at) = 'integer' FROM batch "
                                       "WHERE uid = 'b1'",
                             0, NULL),
                   1);
  assert_int_equal(query_int(db, "SELECT created_at + 1 FROM batch WHERE uid = $1", 1, p),
                   1700000000001LL);
  /* Parameters mentioned out of order still bind by their number, on the
   * first run and on the cached statement's later runs. */
  const char *swapped[] = {"5", "b2"};
  for (int run = 0; run < 3; run++)
    assert_int_equal(query_int(db,
                               "SELECT count(*) FROM batch WHERE uid = $2 AND created_at = "
                               "CAST($1 AS BIGINT)",
                               2, swapped),
                     1);
  /* LIMIT/OFFSET accept text parameters too (the store pages with them). */
  const char *lim[] = {"1", "1"};
  r = (rows){0};
  assert_int_equal(si_db_exec(db, "SELECT uid, qa FROM batch ORDER BY uid LIMIT $1 OFFSET $2", 2,
                              lim, collect, &r, NULL, &err),
                   SI_OK);
  assert_int_equal(r.count, 1);
  assert_string_equal(r.uid[0], "b2");
  /* The same parameter may appear twice; a NULL parameter matches nothing. */
  const char *nul[] = {NULL};
  assert_int_equal(
      query_int(db, "SELECT count(*) FROM batch WHERE qa = $1 OR $1 IS NOT NULL", 1, nul), 0);
  assert_int_equal(
      query_int(db, "SELECT count(*) FROM batch WHERE qa IS NOT DISTINCT FROM $1", 1, nul), 1);
  si_db_close(db);
}

static void test_parameter_mismatch(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  const char *p[] = {"a", "b"};
  assert_int_equal(si_db_exec(db, "SELECT $1", 2, p, NULL, NULL, NULL, &err), SI_ERR_ARG);
  assert_non_null(strstr(err.message, "SELECT $1"));
  assert_int_equal(si_db_exec(db, "SELECT $1, $2", 1, p, NULL, NULL, NULL, &err), SI_ERR_ARG);
  assert_int_equal(si_db_exec(db, "SELECT ?", 1, p, NULL, NULL, NULL, &err), SI_ERR_ARG);
  const char *three[] = {"a", "b", "c"};
  assert_int_equal(si_db_exec(db, "SELECT $1, $3", 3, three, NULL, NULL, NULL, &err), SI_ERR_ARG);
  assert_int_equal(si_db_exec(db, "SELECT $1, $2, ?", 2, three, NULL, NULL, NULL, &err),
                   SI_ERR_ARG);
  assert_int_equal(si_db_exec(db, "SELECT 1; SELECT 2", 0, NULL, NULL, NULL, NULL, &err),
                   SI_ERR_ARG);
  assert_non_null(strstr(err.message, "more than one statement"));
  assert_int_equal(si_db_exec(db, "SELECT 1; -- trailing comment", 0, NULL, NULL, NULL, NULL, &err),
                   SI_OK);
  assert_int_equal(si_db_exec(db, "  ", 0, NULL, NULL, NULL, NULL, &err), SI_ERR_ARG);
  assert_int_equal(si_db_exec(db, NULL, 0, NULL, NULL, NULL, NULL, &err), SI_ERR_ARG);
  assert_int_equal(si_db_exec(db, "SELEC 1", 0, NULL, NULL, NULL, NULL, &err), SI_ERR_DB);
  assert_non_null(strstr(err.message, "syntax error"));
  assert_false(si_db_error_is_constraint(&err));
  si_db_close(db);
}

static void test_callback_and_early_stop(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  for (int i = 0; i < 10; i++) {
    char uid[16];
    snprintf(uid, sizeof uid, "u%02d", i);
    insert_batch(db, uid);
  }
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  const char *sql = "SELECT uid, qa FROM batch ORDER BY uid";
  rows r = {.stop_after = 3};
  assert_int_equal(si_db_exec(db, sql, 0, NULL, collect, &r, NULL, &err), SI_OK);
  assert_int_equal(r.count, 3);
  assert_string_equal(r.uid[2], "u02");
  /* The stopped statement was reset: running it again starts over. */
  r = (rows){.stop_after = 1};
  assert_int_equal(si_db_exec(db, sql, 0, NULL, collect, &r, NULL, &err), SI_OK);
  assert_string_equal(r.uid[0], "u00");
  r = (rows){0};
  assert_int_equal(si_db_exec(db, sql, 0, NULL, collect, &r, NULL, &err), SI_OK);
  assert_int_equal(r.count, 10);
  if (on_pg()) {
    si_db_close(db);
    return;
  }
  /* ...and holds no read snapshot: a checkpoint can complete fully. */
  char busy[32];
  assert_int_equal(
      si_db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", 0, NULL, copy_text, busy, NULL, &err),
      SI_OK);
  assert_string_equal(busy, "0");
  si_db_close(db);
}

static int count_wide(void *user, int ncols, const char *const *values) {
  assert_int_equal(ncols, 40);
  assert_string_equal(values[39], "39");
  assert_null(values[20]);
  (*(int *)user)++;
  return 0;
}

static int copy_bytes(void *user, int ncols, const char *const *values) {
  snprintf(user, 64, "%s", ncols > 0 && values[0] ? values[0] : "(null)");
  return 1;
}

/* File and folder names are bytes: whatever is stored comes back the same,
 * compares equal only to itself, and keeps its prefixes, on every backend
 * (PostgreSQL itself only takes UTF-8; db.h). */
static void test_any_bytes(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  static const char *const names[] = {
      "plain",
      "caf\xc3\xa9",            /* UTF-8 */
      "caf\xe9",                /* Latin-1 */
      "\xff\xfe/x",             /* never UTF-8 */
      "\xee\xbf\xa9",           /* U+EFE9, what Latin-1 \xe9 maps to inside */
      "a\xc3",                  /* a character cut short */
      "\xed\xa0\x80",           /* a surrogate, invalid in UTF-8 */
      "\xf0\x9f\x98\x80 emoji", /* 4 bytes, valid */
  };
  size_t n = sizeof names / sizeof names[0];
  for (size_t i = 0; i < n; i++)
    insert_batch(db, names[i]);
  for (size_t i = 0; i < n; i++) {
    const char *p[] = {names[i]};
    char back[64];
    si_error err;
    assert_int_equal(
        si_db_exec(db, "SELECT uid FROM batch WHERE uid = $1", 1, p, copy_bytes, back, NULL, &err),
        SI_OK);
    assert_string_equal(back, names[i]);
  }
  assert_int_equal(query_int(db, "SELECT count(DISTINCT uid) FROM batch", 0, NULL), (long long)n);
  /* A prefix that ends in '/' stays a prefix (the import relies on it). */
  const char *prefix[] = {"\xff\xfe/"};
  assert_int_equal(
      query_int(db, "SELECT count(*) FROM batch WHERE substr(uid, 1, length($1)) = $1", 1, prefix),
      1);
  /* Unique still tells the names apart, and names the duplicate. */
  const char *dup[] = {"caf\xe9", "QUEUE", "1"};
  si_error err;
  assert_int_equal(
      si_db_exec(db,
                 "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                 3, dup, NULL, NULL, NULL, &err),
      SI_ERR_STATE);
  si_db_close(db);
}

static void test_wide_rows(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  char sql[512] = "SELECT 0";
  for (int i = 1; i < 40; i++)
    snprintf(sql + strlen(sql), sizeof sql - strlen(sql), i == 20 ? ", NULL" : ", %d", i);
  int n = 0;
  si_error err;
  assert_int_equal(si_db_exec(db, sql, 0, NULL, count_wide, &n, NULL, &err), SI_OK);
  assert_int_equal(n, 1);
  si_db_close(db);
}

static void test_changes(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int64_t changes = -1;
  const char *p[] = {"c1", "QUEUE", "1"};
  assert_int_equal(si_db_exec(db,
                              "INSERT INTO batch (uid, status, created_at, updated_at) "
                              "VALUES ($1, $2, $3, $3)",
                              3, p, NULL, NULL, &changes, &err),
                   SI_OK);
  assert_int_equal(changes, 1);
  insert_batch(db, "c2");
  insert_batch(db, "c3");
  const char *upd[] = {"DONE"};
  assert_int_equal(
      si_db_exec(db, "UPDATE batch SET status = $1", 1, upd, NULL, NULL, &changes, &err), SI_OK);
  assert_int_equal(changes, 3);
  /* Neither a query nor DDL reports the previous statement's count. */
  assert_int_equal(si_db_exec(db, "SELECT * FROM batch", 0, NULL, NULL, NULL, &changes, &err),
                   SI_OK);
  assert_int_equal(changes, 0);
  assert_int_equal(
      si_db_exec(db, "CREATE TABLE t (x INTEGER)", 0, NULL, NULL, NULL, &changes, &err), SI_OK);
  assert_int_equal(changes, 0);
  assert_int_equal(si_db_exec(db, "UPDATE batch SET status = 'x' WHERE uid = 'none'", 0, NULL, NULL,
                              NULL, &changes, &err),
                   SI_OK);
  assert_int_equal(changes, 0);
  assert_int_equal(
      si_db_exec(db, "DELETE FROM batch WHERE uid <> 'c1'", 0, NULL, NULL, NULL, &changes, &err),
      SI_OK);
  assert_int_equal(changes, 2);
  si_db_close(db);
}

/* ---- errors ---- */

static void test_constraint_errors(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  insert_batch(db, "dup");
  si_error err;
  si_error_clear(&err);
  const char *p[] = {"dup", "QUEUE", "1"};
  const char *sql =
      "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, $3, $3)";
  assert_int_equal(si_db_exec(db, sql, 3, p, NULL, NULL, NULL, &err), SI_ERR_STATE);
  assert_true(si_db_error_is_constraint(&err));
  assert_true(si_db_error_is_unique(&err));
  assert_non_null(strstr(err.message, "batch.uid"));
  assert_non_null(strstr(err.message, "INSERT INTO batch"));
  assert_int_equal(strncmp(err.message, "constraint:unique: ", 19), 0);

  /* Foreign keys are enforced: they are not unique violations. */
  const char *img[] = {"1.2.3", "999", "NEW", "/store/x", "1"};
  assert_int_equal(si_db_exec(db,
                              "INSERT INTO image (uid, batch_id, status, storage_path, created_at)"
                              " VALUES ($1, $2, $3, $4, $5)",
                              5, img, NULL, NULL, NULL, &err),
                   SI_ERR_DB);
  assert_true(si_db_error_is_constraint(&err));
  assert_false(si_db_error_is_unique(&err));
  assert_int_equal(strncmp(err.message, "constraint:foreign-key: ", 24), 0);

  /* The case the pipeline cares about: the same SOP instance twice. */
  const char *img_sql = "INSERT INTO image (uid, batch_id, status, storage_path, created_at)"
                        " VALUES ($1, (SELECT id FROM batch WHERE uid = 'dup'), 'NEW', $2, 1)";
  const char *first[] = {"1.2.840.1", "/store/a.dcm"}, *again[] = {"1.2.840.1", "/store/b.dcm"};
  must_exec(db, img_sql, 2, first);
  assert_int_equal(si_db_exec(db, img_sql, 2, again, NULL, NULL, NULL, &err), SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_non_null(strstr(err.message, "image.uid"));

  const char *nn[] = {"nn", NULL, "1"};
  assert_int_equal(si_db_exec(db, sql, 3, nn, NULL, NULL, NULL, &err), SI_ERR_DB);
  assert_true(si_db_error_is_constraint(&err));
  assert_false(si_db_error_is_unique(&err));

  /* The messages are long: the SQL quote is cut at 120 characters. */
  char longsql[400];
  snprintf(longsql, sizeof longsql, "SELECT * FROM no_such_table WHERE %0200d = 1", 0);
  assert_int_equal(si_db_exec(db, longsql, 0, NULL, NULL, NULL, NULL, &err), SI_ERR_DB);
  assert_false(si_db_error_is_constraint(&err));
  assert_non_null(strstr(err.message, on_pg() ? "does not exist" : "no such table"));
  assert_null(strstr(err.message, longsql));
  assert_non_null(strstr(err.message, "SELECT * FROM no_such_table"));

  si_error other = {.code = SI_ERR_IO};
  snprintf(other.message, sizeof other.message, "constraint:unique: not from the db");
  assert_false(si_db_error_is_unique(&other));
  assert_false(si_db_error_is_constraint(NULL));
  /* SI_ERR_STATE for other reasons is not a constraint violation. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_db_begin(db, &err), SI_ERR_STATE);
  assert_false(si_db_error_is_unique(&err));
  assert_false(si_db_error_is_constraint(&err));
  assert_int_equal(si_db_rollback(db), SI_OK);
  si_db_close(db);
}

/* Late data (issue 11): a running job whose folder has moved into the work
 * area (work_path set, not its input path) no longer holds the input name,
 * so a folder renamed in under it is queued; a job not yet claimed, or
 * importing in place, still holds it. */
static void check_late_data_rule(si_db *db, const char *path) {
  si_error err;
  int created = 0;
  const char *p[] = {path};
  assert_int_equal(si_store_enqueue(db, "late", path, &created, &err), SI_OK);
  assert_true(created);
  must_exec(db, "UPDATE job SET state = 'running', worker = 'w' WHERE path = $1", 1, p);
  assert_int_equal(si_store_enqueue(db, "late", path, &created, &err), SI_OK);
  assert_false(created); /* claimed, its folder not yet moved */
  must_exec(db, "UPDATE job SET work_path = path WHERE path = $1", 1, p);
  assert_int_equal(si_store_enqueue(db, "late", path, &created, &err), SI_OK);
  assert_false(created); /* importing in place: the folder is still there */
  must_exec(db, "UPDATE job SET work_path = '/nonexistent-work-area/job-late' WHERE path = $1", 1,
            p);
  assert_int_equal(si_store_enqueue(db, "late", path, &created, &err), SI_OK);
  assert_true(created); /* its folder left the input: the late one is queued */
  assert_int_equal(si_store_enqueue(db, "late", path, &created, &err), SI_OK);
  assert_false(created); /* ...once */
  assert_int_equal(query_int(db, "SELECT count(*) FROM job WHERE path = $1", 1, p), 2);
  /* The index itself, not only the enqueue, allows one queued job. */
  const char *raw[] = {path};
  assert_int_equal(si_db_exec(db,
                              "INSERT INTO job (folder, path, state, created_at, updated_at) "
                              "VALUES ('late', $1, 'queued', 1, 1)",
                              1, raw, NULL, NULL, NULL, &err),
                   SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  /* The first job, its folder in the work area, goes back to the queue
   * (released, or yielding to a twin) while the late one is queued: its
   * folder is still not in the input, so both stay queued (migration 3). */
  int64_t first = query_int(db, "SELECT min(id) FROM job WHERE path = $1", 1, p);
  assert_int_equal(si_store_job_release(db, first, "w", "given back", &err), SI_OK);
  assert_int_equal(
      query_int(db, "SELECT count(*) FROM job WHERE path = $1 AND state = 'queued'", 1, p), 2);
  assert_int_equal(si_store_enqueue(db, "late", path, &created, &err), SI_OK);
  assert_false(created); /* the late one still holds the name */
}

static void test_job_pending_index(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path);
  const char *sql = "INSERT INTO job (folder, path, state, created_at, updated_at)"
                    " VALUES ('f', '/in/f', $1, 1, 1)";
  const char *done[] = {"done"}, *queued[] = {"queued"}, *running[] = {"running"};
  must_exec(db, sql, 1, done);
  must_exec(db, sql, 1, done);
  must_exec(db, sql, 1, queued);
  si_error err;
  assert_int_equal(si_db_exec(db, sql, 1, queued, NULL, NULL, NULL, &err), SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_int_equal(si_db_exec(db, sql, 1, running, NULL, NULL, NULL, &err), SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  /* Once the pending one is finished, the folder may be queued again. */
  must_exec(db, "UPDATE job SET state = 'done' WHERE state = 'queued'", 0, NULL);
  must_exec(db, sql, 1, running);
  assert_int_equal(query_int(db, "SELECT count(*) FROM job", 0, NULL), 4);
  check_late_data_rule(db, "/in/late");

  /* A database of schema 1 (one pending job per path, running or not) gets
   * the rule by migration 2 when it is opened. */
  must_exec(db, "DELETE FROM job", 0, NULL);
  must_exec(db, "DROP INDEX job_pending", 0, NULL);
  must_exec(db, "CREATE UNIQUE INDEX job_pending ON job(path) WHERE state IN ('queued', 'running')",
            0, NULL);
  /* What the later migrations (4: stages, 5: pseudonyms, 6: the deid stage) added goes too, so that
   * they run again over a schema-1 database. */
  static const char *const undo_4[] = {
      "DROP INDEX job_stage_queued", "DROP TABLE batch_stage", "DROP TABLE image_destination",
      "ALTER TABLE job DROP COLUMN kind", "ALTER TABLE job DROP COLUMN payload",
      "ALTER TABLE job DROP COLUMN excl_key", "ALTER TABLE job DROP COLUMN run_after",
      "ALTER TABLE batch DROP COLUMN error_stage",
      /* 5: pseudonyms */
      "DROP TABLE deid_item", "DROP TABLE deid_entity",
      /* 6: the deid stage's outcomes */
      "DROP TABLE image_deid",
      /* 7: delivery's breakers (its index went with image_destination) */
      "DROP TABLE destination_state",
      /* 8: the cleanup's record */
      "DROP TABLE batch_cleanup"};
  for (size_t i = 0; i < sizeof undo_4 / sizeof undo_4[0]; i++)
    must_exec(db, undo_4[i], 0, NULL);
  must_exec(db, "DELETE FROM schema_version WHERE version >= 2", 0, NULL);
  si_db_close(db);
  db = must_open(path);
  assert_int_equal(si_db_schema_version(db), si_schema_latest_version());
  check_late_data_rule(db, "/in/migrated");
  si_db_close(db);
}

/* ---- transactions ---- */

static void test_transactions(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path);
  si_db *other = must_open(path);
  si_error err;
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  insert_batch(db, "rolled-back");
  assert_int_equal(si_db_begin(db, &err), SI_ERR_STATE);
  assert_int_equal(si_db_rollback(db), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch", 0, NULL), 0);

  assert_int_equal(si_db_begin(db, &err), SI_OK);
  insert_batch(db, "committed");
  /* Not visible elsewhere before the commit... */
  assert_int_equal(query_int(other, "SELECT count(*) FROM batch", 0, NULL), 0);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  /* ...and visible after it. */
  assert_int_equal(query_int(other, "SELECT count(*) FROM batch", 0, NULL), 1);

  assert_int_equal(si_db_commit(db, &err), SI_ERR_STATE);
  assert_int_equal(si_db_rollback(db), SI_OK);
  assert_int_equal(si_db_rollback(NULL), SI_OK);

  /* A failed statement inside a transaction leaves it to be rolled back.
   * Its failure may be reported later, by the commit (db.h: deferred
   * failures; PostgreSQL does this). */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  insert_batch(db, "in-tx");
  const char *p[] = {"committed", "QUEUE", "1"};
  si_status s = si_db_exec(
      db, "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, $3, $3)", 3, p,
      NULL, NULL, NULL, &err);
  if (s == SI_OK && on_pg())
    s = si_db_commit(db, &err);
  assert_int_equal(s, SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_int_equal(si_db_rollback(db), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch", 0, NULL), 1);

  /* Asking for the change count gets a statement's own outcome at once. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  int64_t changes = -1;
  assert_int_equal(
      si_db_exec(db,
                 "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                 3, p, NULL, NULL, &changes, &err),
      SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_int_equal(si_db_rollback(db), SI_OK);

  si_db_close(other);
  si_db_close(db);
}

static void test_close_with_open_transaction(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path);
  si_error err;
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  insert_batch(db, "lost");
  si_db_close(db);
  db = must_open(path);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch", 0, NULL), 0);
  si_db_close(db);
}

/* ---- concurrency ---- */

typedef struct writer {
  const char *path;
  int id;
  int use_tx;
  si_status status;
  char message[512];
} writer;

#define ROWS_PER_THREAD 500

/* No cmocka asserts in here: cmocka is not thread-safe. */
static void *write_rows(void *arg) {
  writer *w = arg;
  si_error err;
  si_error_clear(&err);
  si_db *db = NULL;
  w->status = si_db_open(w->path, &db, &err);
  for (int i = 0; i < ROWS_PER_THREAD && w->status == SI_OK; i++) {
    char uid[32];
    snprintf(uid, sizeof uid, "t%d-%d", w->id, i);
    const char *p[] = {uid, "QUEUE", "1"};
    if (w->use_tx)
      w->status = si_db_begin(db, &err);
    if (w->status == SI_OK)
      w->status = si_db_exec(
          db, "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, $3, $3)", 3,
          p, NULL, NULL, NULL, &err);
    if (w->status == SI_OK && w->use_tx)
      w->status = si_db_commit(db, &err);
    if (w->status != SI_OK)
      si_db_rollback(db);
  }
  snprintf(w->message, sizeof w->message, "%s", err.message);
  si_db_close(db);
  return NULL;
}

static void run_writers(int use_tx) {
  const char *path = fresh_path();
  si_db *db = must_open(path);
  writer w[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    w[i] = (writer){.path = path, .id = i, .use_tx = use_tx};
    assert_int_equal(pthread_create(&th[i], NULL, write_rows, &w[i]), 0);
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(th[i], NULL);
    if (w[i].status != SI_OK)
      print_error("writer %d: %s\n", i, w[i].message);
    assert_int_equal(w[i].status, SI_OK);
  }
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch", 0, NULL), 2 * ROWS_PER_THREAD);
  si_db_close(db);
}

static void test_threads_with_transactions(void **state) {
  (void)state;
  run_writers(1);
}

static void test_threads_autocommit(void **state) {
  (void)state;
  run_writers(0);
}

/* Several processes open the same new file at the same moment (a pipe is
 * the starting gun): the schema must be created exactly once, and nobody
 * may see an error. */
static void race_processes(const char *path, int nproc) {
  int gun[2];
  assert_int_equal(pipe(gun), 0);
  pid_t pids[8];
  for (int i = 0; i < nproc; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      alarm(120); /* never outlive a parent that failed an assertion */
      close(gun[1]);
      char c;
      ssize_t ignored = read(gun[0], &c, 1); /* returns 0 when the parent closes */
      (void)ignored;
      si_db *db = NULL;
      si_error err;
      si_error_clear(&err);
      si_status s = si_db_open(path, &db, &err);
      if (s != SI_OK)
        fprintf(stderr, "child %d: %s\n", i, err.message);
      int ok = s == SI_OK && si_db_schema_version(db) == si_schema_latest_version();
      si_db_close(db);
      _exit(ok ? 0 : 1);
    }
  }
  close(gun[0]);
  close(gun[1]);
  for (int i = 0; i < nproc; i++) {
    int status = 0;
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
}

static void test_processes_create_schema_once(void **state) {
  (void)state;
  for (int round = 0; round < 5; round++) {
    const char *path = fresh_path();
    race_processes(path, 4);
    si_db *db = must_open(path);
    assert_int_equal(query_int(db, "SELECT count(*) FROM schema_version", 0, NULL),
                     si_schema_latest_version());
    assert_int_equal(table_exists(db, "batch"), 1);
    assert_int_equal(table_exists(db, "worker"), 1);
    si_db_close(db);
  }
}

/* ---- statement cache ---- */

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int has_stmt_vtab(si_db *db) {
  si_error err;
  return si_db_exec(db, "SELECT count(*) FROM sqlite_stmt", 0, NULL, NULL, NULL, NULL, &err) ==
         SI_OK;
}

static void test_statement_cache_reuse(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  insert_batch(db, "hot");
  const char *sql = "SELECT count(*) FROM batch WHERE uid = $1";
  const char *p[] = {"hot"};
  double start = now_seconds();
  for (int i = 0; i < 1000; i++)
    assert_int_equal(query_int(db, sql, 1, p), 1);
  double elapsed = now_seconds() - start;
  /* Generous: prepared once this is about a millisecond, even under ASan. */
  assert_true(elapsed < 2.0);
  /* Where SQLite exposes its prepared statements, check that it really was
   * one statement run 1000 times (compiled with "?1" for "$1"). */
  if (!on_pg() && has_stmt_vtab(db)) {
    const char *q[] = {"SELECT count(*) FROM batch WHERE uid = ?1"};
    assert_int_equal(query_int(db, "SELECT run FROM sqlite_stmt WHERE sql = $1", 1, q), 1000);
  }
  /* PostgreSQL: prepared once on this connection, under one name. */
  if (on_pg()) {
    const char *q[] = {sql};
    assert_int_equal(
        query_int(db, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", 1, q), 1);
  }
  /* One buffer holding one statement, then another, then the first again:
   * the cache knows statements by their text, not by where it is. */
  char buffer[64];
  for (int round = 0; round < 3; round++) {
    for (int k = 1; k <= 3; k++) {
      snprintf(buffer, sizeof buffer, "SELECT %d + 0 * count(*) FROM batch", k);
      assert_int_equal(query_int(db, buffer, 0, NULL), k);
    }
  }
  si_db_close(db);
}

static void test_statement_cache_eviction(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  /* Far more distinct statements than slots, each run twice. */
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 200; i++) {
      char sql[64];
      snprintf(sql, sizeof sql, "SELECT %d + $1", i);
      const char *p[] = {"1"};
      assert_int_equal(query_int(db, sql, 1, p), i + 1);
    }
  if (on_pg())
    assert_true(query_int(db, "SELECT count(*) FROM pg_prepared_statements", 0, NULL) <= 64);
  else if (has_stmt_vtab(db))
    assert_true(query_int(db, "SELECT count(*) FROM sqlite_stmt", 0, NULL) <= 65);
  si_db_close(db);
}

typedef struct nest {
  si_db *db;
  int depth;
  int rows;
} nest;

/* Runs the very statement that is delivering this row: the cache must hand
 * out a second copy, not reset the one being stepped. */
static int nested(void *user, int ncols, const char *const *values) {
  nest *n = user;
  (void)ncols;
  (void)values;
  n->rows++;
  if (n->depth < 3) {
    nest inner = {n->db, n->depth + 1, 0};
    si_error err;
    if (si_db_exec(n->db, "SELECT uid, qa FROM batch", 0, NULL, nested, &inner, NULL, &err) !=
        SI_OK)
      return 1;
    n->rows += inner.rows;
  }
  return 0;
}

static void test_reentrant_callback(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  insert_batch(db, "a");
  insert_batch(db, "b");
  nest n = {db, 0, 0};
  si_error err;
  assert_int_equal(si_db_exec(db, "SELECT uid, qa FROM batch", 0, NULL, nested, &n, NULL, &err),
                   SI_OK);
  /* 2 rows at each of 4 levels, each row opening the level below. */
  assert_int_equal(n.rows, 2 + 4 + 8 + 16);
  si_db_close(db);
}

static int count_columns(void *user, int ncols, const char *const *values) {
  (void)values;
  *(int *)user = ncols;
  return 1;
}

static void test_schema_change_under_cache(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int ncols = 0;
  must_exec(db, "CREATE TABLE t (a TEXT)", 0, NULL);
  must_exec(db, "INSERT INTO t VALUES ('x')", 0, NULL);
  assert_int_equal(query_int(db, "SELECT count(*) FROM t", 0, NULL), 1);
  assert_int_equal(si_db_exec(db, "SELECT * FROM t", 0, NULL, count_columns, &ncols, NULL, &err),
                   SI_OK);
  assert_int_equal(ncols, 1);
  must_exec(db, "ALTER TABLE t ADD COLUMN b TEXT", 0, NULL);
  must_exec(db, "INSERT INTO t VALUES ('y', 'z')", 0, NULL);
  assert_int_equal(query_int(db, "SELECT count(*) FROM t", 0, NULL), 2);
  /* The cached statement's row changed shape (PostgreSQL refuses to run
   * it: "cached plan must not change result type"); it is prepared again. */
  if (si_db_exec(db, "SELECT * FROM t", 0, NULL, count_columns, &ncols, NULL, &err) != SI_OK)
    print_error("%s\n", err.message);
  assert_int_equal(ncols, 2);
  si_db_close(db);
}

/* ---- URLs ---- */

static void expect_open_error(const char *url, si_status code, const char *needle) {
  si_db *db = (si_db *)1;
  si_error err;
  si_error_clear(&err);
  assert_int_equal(si_db_open(url, &db, &err), code);
  assert_null(db);
  if (!strstr(err.message, needle) && !strstr(err.file, needle))
    print_error("%s: expected \"%s\" in: %s | %s\n", url, needle, err.file, err.message);
  assert_true(strstr(err.message, needle) || strstr(err.file, needle));
}

static void test_bad_urls(void **state) {
  (void)state;
  if (on_pg()) /* about URLs, not about a backend: once is enough */
    skip();
  expect_open_error("", SI_ERR_ARG, "empty");
  expect_open_error("mysql://host/db", SI_ERR_CONFIG, "mysql");
  /* Port 1 refuses at once; the message names the server, never the password. */
  expect_open_error("postgresql://127.0.0.1:1/sendit", SI_ERR_DB, "cannot connect to PostgreSQL");
  expect_open_error("postgres://u:hush@127.0.0.1:1/sendit", SI_ERR_DB,
                    "postgres://u:***@127.0.0.1");
  si_db *db = NULL;
  si_error err;
  assert_int_equal(si_db_open("postgresql://u:hush@127.0.0.1:1/x?password=hush2", &db, &err),
                   SI_ERR_DB);
  assert_null(strstr(err.message, "hush"));
  assert_null(strstr(err.file, "hush"));
  expect_open_error("sqlite://", SI_ERR_CONFIG, "empty");
  expect_open_error("/nonexistent-dir/sub/x.db", SI_ERR_DB, "/nonexistent-dir/sub/x.db");
  expect_open_error("/nonexistent-dir/sub/x.db", SI_ERR_DB, "unable to open");
  expect_open_error(tu_tmp_dir(), SI_ERR_DB, tu_tmp_dir());

  char path[4200];
  snprintf(path, sizeof path, "%s/not-a-db.txt", tu_tmp_dir());
  static const char text[] = "this is certainly not an SQLite database, just some text......";
  assert_int_equal(tu_write_file(path, text, sizeof text), 0);
  expect_open_error(path, SI_ERR_DB, "not a database");

  /* Root writes anywhere, so only check read-only files as another user. */
  if (geteuid() != 0) {
    const char *ro = fresh_path();
    si_db_close(must_open(ro));
    chmod(ro, 0444);
    expect_open_error(ro, SI_ERR_DB, "read-only");
    chmod(ro, 0644);
  }
}

static void test_sqlite_url(void **state) {
  (void)state;
  if (on_pg())
    skip();
  char url[4300];
  snprintf(url, sizeof url, "sqlite://%s", fresh_path());
  si_db *db = must_open(url);
  insert_batch(db, "via-url");
  si_db_close(db);
  /* sqlite:///abs/path names the same file as /abs/path. */
  db = must_open(url + strlen("sqlite://"));
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch", 0, NULL), 1);
  si_db_close(db);
  si_db_close(NULL);
}

/* ---- PostgreSQL only ---- */

static long long backend_pid(si_db *db) {
  return query_int(db, "SELECT pg_backend_pid()", 0, NULL);
}

/* Ends the server process behind db's connection, as a server restart or
 * an administrator would, and waits until it is gone. */
static void kill_session(si_db *db) {
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld, 10000)", backend_pid(db));
  assert_true(pg_admin(sql));
}

static void test_pg_reconnects_when_idle(void **state) {
  (void)state;
  if (!on_pg())
    skip();
  si_db *db = must_open(fresh_path());
  long long before = backend_pid(db);
  kill_session(db);
  /* Nothing was in flight: the next statement runs on a new session. */
  insert_batch(db, "after-loss");
  assert_true(backend_pid(db) != before);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch", 0, NULL), 1);
  /* The prepared statements went with the old session and are redone. */
  kill_session(db);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch", 0, NULL), 1);
  si_db_close(db);
}

static void test_pg_loss_inside_transaction(void **state) {
  (void)state;
  if (!on_pg())
    skip();
  si_db *db = must_open(fresh_path());
  si_error err;
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  insert_batch(db, "lost-1");
  kill_session(db);
  const char *p[] = {"lost-2", "QUEUE", "1"};
  const char *sql =
      "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, $3, $3)";
  int64_t changes;
  assert_int_equal(si_db_exec(db, sql, 3, p, NULL, NULL, &changes, &err), SI_ERR_DB);
  assert_non_null(strstr(err.message, "connection lost"));
  assert_false(si_db_error_is_constraint(&err));
  /* No silent reconnect: the rest of the transaction would commit alone. */
  assert_int_equal(si_db_exec(db, sql, 3, p, NULL, NULL, NULL, &err), SI_ERR_DB);
  assert_non_null(strstr(err.message, "roll back"));
  assert_int_equal(si_db_commit(db, &err), SI_ERR_DB);
  /* After the rollback the connection is usable again, and nothing of the
   * transaction was kept. */
  assert_int_equal(si_db_rollback(db), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch", 0, NULL), 0);
  si_db_close(db);
}

static void test_pg_commit_of_failed_transaction(void **state) {
  (void)state;
  if (!on_pg())
    skip();
  si_db *db = must_open(fresh_path());
  si_error err;
  insert_batch(db, "dup");
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  insert_batch(db, "fresh");
  const char *p[] = {"dup", "QUEUE", "1"};
  int64_t changes;
  assert_int_equal(
      si_db_exec(db,
                 "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                 3, p, NULL, NULL, &changes, &err),
      SI_ERR_STATE);
  /* PostgreSQL answers COMMIT with "ROLLBACK" here, not with an error:
   * the backend must not report success for writes that were dropped. */
  assert_int_equal(si_db_commit(db, &err), SI_ERR_DB);
  assert_non_null(strstr(err.message, "rolled back"));
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch WHERE uid = 'fresh'", 0, NULL), 0);
  si_db_close(db);
}

static void test_pg_claim_skips_locked_jobs(void **state) {
  (void)state;
  if (!on_pg())
    skip();
  const char *url = fresh_path();
  si_db *a = must_open(url), *b = must_open(url);
  si_error err;
  int created = 0, found = 0;
  assert_int_equal(si_store_enqueue(a, "f1", "/in/f1", &created, &err), SI_OK);
  assert_int_equal(si_store_enqueue(a, "f2", "/in/f2", &created, &err), SI_OK);
  si_job ja, jb;
  /* a holds job f1's row lock until it commits... */
  assert_int_equal(si_db_begin(a, &err), SI_OK);
  assert_int_equal(si_store_claim(a, "wa", 60, &ja, &found, &err), SI_OK);
  assert_true(found);
  assert_string_equal(ja.folder, "f1");
  /* ...and b takes the next job at once instead of waiting for it. */
  double start = now_seconds();
  assert_int_equal(si_store_claim(b, "wb", 60, &jb, &found, &err), SI_OK);
  assert_true(now_seconds() - start < 5.0);
  assert_true(found);
  assert_string_equal(jb.folder, "f2");
  assert_int_equal(si_db_commit(a, &err), SI_OK);
  assert_int_equal(si_store_claim(b, "wb", 60, &jb, &found, &err), SI_OK);
  assert_false(found);
  /* An expired lease is taken over (a worker died holding it). */
  must_exec(a, "UPDATE job SET lease_until = 1 WHERE folder = 'f1'", 0, NULL);
  assert_int_equal(si_store_claim(b, "wb", 60, &jb, &found, &err), SI_OK);
  assert_true(found);
  assert_string_equal(jb.folder, "f1");
  assert_int_equal(jb.attempts, 2);
  si_db_close(b);
  si_db_close(a);
}

/* Several jobs in one claim, never two of one folder: the second job of a
 * folder waits until the first ends. */
/* Many image rows at once (PostgreSQL: 32 to a statement, the rest one by
 * one): every value lands in its row, and a duplicate uid is the usual
 * unique violation. */
static void test_image_insert_many(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int64_t batch_id = -1;
  int reopened = 0;
  assert_int_equal(si_store_batch_begin(db, "ACC-MANY", &batch_id, &reopened, &err), SI_OK);
  enum { ROWS = 70 };
  char uids[ROWS][64], paths[ROWS][64], names[ROWS][16];
  si_image_values values[ROWS];
  for (int i = 0; i < ROWS; i++) {
    snprintf(uids[i], sizeof uids[i], "1.2.3.%d", i);
    snprintf(paths[i], sizeof paths[i], "/storage/ACC-MANY/IM%04d", i);
    snprintf(names[i], sizeof names[i], "IM%04d", i);
    values[i] = (si_image_values){.uid = uids[i],
                                  .batch_id = batch_id,
                                  .status = "NEW",
                                  .storage_path = paths[i],
                                  .original_name = names[i],
                                  .size_bytes = 1000 + i,
                                  .patient_id = "P1",
                                  .accession_number = i % 2 ? "" : "ACC-MANY",
                                  .study_uid = "1.2.3",
                                  .series_uid = "1.2.3.4",
                                  .sop_class_uid = "1.2.840.10008.5.1.4.1.1.2",
                                  .modality = "CT",
                                  .study_date = "20240102"};
  }
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_image_insert_many(db, values, ROWS, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), ROWS);
  assert_int_equal(query_int(db, "SELECT sum(size_bytes) FROM image", 0, NULL),
                   ROWS * 1000 + ROWS * (ROWS - 1) / 2);
  assert_int_equal(
      query_int(db, "SELECT count(*) FROM image WHERE accession_number IS NULL", 0, NULL),
      ROWS / 2);
  for (int i = 0; i < ROWS; i += 23) {
    si_image img;
    int found = 0;
    assert_int_equal(si_store_image_get(db, uids[i], &img, &found, &err), SI_OK);
    assert_true(found);
    assert_string_equal(img.storage_path, paths[i]);
    assert_string_equal(img.original_name, names[i]);
    assert_string_equal(img.status, "NEW");
    assert_string_equal(img.modality, "CT");
    assert_string_equal(img.study_date, "20240102");
    assert_int_equal(img.batch_id, batch_id);
    assert_int_equal(img.size_bytes, 1000 + i);
  }
  /* A uid already stored, in the middle of a full statement's rows. */
  for (int i = 0; i < ROWS; i++) {
    snprintf(uids[i], sizeof uids[i], "1.2.4.%d", i);
    snprintf(paths[i], sizeof paths[i], "/storage/ACC-MANY/again/IM%04d", i);
  }
  snprintf(uids[10], sizeof uids[10], "1.2.3.5");
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  si_status st = si_store_image_insert_many(db, values, ROWS, &err);
  if (st == SI_OK)
    st = si_db_commit(db, &err);
  else
    si_db_rollback(db);
  assert_int_equal(st, SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), ROWS);
  si_db_close(db);
}

/* The durability level the connection commits at: SQLite's synchronous
 * (2 FULL, 1 NORMAL), PostgreSQL's synchronous_commit (1 on, 0 off). */
static int durability(si_db *db) {
  char text[16] = "";
  si_error err;
  if (!on_pg())
    return (int)query_int(db, "PRAGMA synchronous", 0, NULL);
  assert_int_equal(
      si_db_exec(db, "SHOW synchronous_commit", 0, NULL, read_first_text, text, NULL, &err), SI_OK);
  return strcmp(text, "on") == 0 ? 1 : strcmp(text, "off") == 0 ? 0 : -1;
}

static void test_relaxed_transactions(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path), *other = must_open(path);
  si_error err;
  const int durable = on_pg() ? 1 : 2, relaxed = on_pg() ? 0 : 1;
  assert_int_equal(durability(db), durable);
  /* Relaxed inside, durable again once it is committed. */
  assert_int_equal(si_db_begin_relaxed(db, &err), SI_OK);
  assert_int_equal(durability(db), relaxed);
  insert_batch(db, "RELAXED-1");
  assert_int_equal(si_db_begin(db, &err), SI_ERR_STATE);
  assert_int_equal(si_db_begin_relaxed(db, &err), SI_ERR_STATE);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_int_equal(durability(db), durable);
  const char *p1[] = {"RELAXED-1"};
  assert_int_equal(query_int(other, "SELECT count(*) FROM batch WHERE uid = $1", 1, p1), 1);
  /* A durable transaction stays durable, before and after a relaxed one. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(durability(db), durable);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  /* Rolled back: nothing written, and durable again. */
  assert_int_equal(si_db_begin_relaxed(db, &err), SI_OK);
  insert_batch(db, "RELAXED-2");
  assert_int_equal(si_db_rollback(db), SI_OK);
  assert_int_equal(durability(db), durable);
  const char *p2[] = {"RELAXED-2"};
  assert_int_equal(query_int(other, "SELECT count(*) FROM batch WHERE uid = $1", 1, p2), 0);
  /* A failed commit (a unique violation PostgreSQL reports at COMMIT, as
   * the statement was pipelined) leaves the level durable too. */
  assert_int_equal(si_db_begin_relaxed(db, &err), SI_OK);
  const char *dup[] = {"RELAXED-1", "QUEUE", "1000"};
  si_status st = si_db_exec(db,
                            "INSERT INTO batch (uid, status, created_at, updated_at) "
                            "VALUES ($1, $2, $3, $3)",
                            3, dup, NULL, NULL, NULL, &err);
  if (st == SI_OK)
    st = si_db_commit(db, &err);
  else
    si_db_rollback(db);
  assert_int_equal(st, SI_ERR_STATE);
  assert_int_equal(durability(db), durable);
  si_db_close(other);
  si_db_close(db);
}

static void test_image_insert_new(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int64_t batch_id = -1;
  int reopened = 0, inserted = -1;
  assert_int_equal(si_store_batch_begin(db, "ACC-NEW", &batch_id, &reopened, &err), SI_OK);
  si_image_values row = {.uid = "1.2.5.1",
                         .batch_id = batch_id,
                         .status = "NEW",
                         .storage_path = "/storage/ACC-NEW/IM1",
                         .original_name = "IM1",
                         .size_bytes = 10,
                         .modality = "MR"};
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_image_insert_new(db, &row, &inserted, &err), SI_OK);
  assert_int_equal(inserted, 1);
  /* The same uid again, from another place: not inserted, no error, and the
   * transaction goes on (PostgreSQL would abort it on a violation). */
  row.storage_path = "/storage/ACC-NEW/IM1-again";
  row.size_bytes = 99;
  assert_int_equal(si_store_image_insert_new(db, &row, &inserted, &err), SI_OK);
  assert_int_equal(inserted, 0);
  row.uid = "1.2.5.2";
  assert_int_equal(si_store_image_insert_new(db, &row, &inserted, &err), SI_OK);
  assert_int_equal(inserted, 1);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), 2);
  const char *p[] = {"1.2.5.1"};
  assert_int_equal(query_int(db, "SELECT size_bytes FROM image WHERE uid = $1", 1, p), 10);
  /* Another constraint is still an error: a new uid at a stored path. */
  row.uid = "1.2.5.3";
  row.storage_path = "/storage/ACC-NEW/IM1";
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  si_status st = si_store_image_insert_new(db, &row, &inserted, &err);
  si_db_rollback(db);
  assert_int_equal(st, SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_int_equal(inserted, 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), 2);
  si_db_close(db);
}

/* "$N" in quotes or comments is text, not a parameter; statements with
 * hundreds of parameters (multi-row INSERTs) bind every one. */
static void test_numbered_parameters(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  char got[16] = "";
  const char *one[] = {"x"};
  assert_int_equal(
      si_db_exec(db, "SELECT '$2' || $1 -- $3\n", 1, one, read_first_text, got, NULL, &err), SI_OK);
  assert_string_equal(got, "$2x");
  assert_int_equal(si_db_exec(db, "SELECT /* $2 */ $1", 1, one, read_first_text, got, NULL, &err),
                   SI_OK);
  assert_string_equal(got, "x");
  enum { MANY = 500 };
  static char sql[MANY * 8 + 64];
  const char *params[MANY];
  static char values[MANY][8];
  int len = snprintf(sql, sizeof sql, "SELECT $%d WHERE $1 IN (", MANY);
  for (int k = 1; k < MANY; k++) {
    len += snprintf(sql + len, sizeof sql - (size_t)len, "%s$%d", k > 1 ? ", " : "", k);
    snprintf(values[k - 1], sizeof values[0], "%d", k == MANY - 1 ? 7 : k + 1000);
    params[k - 1] = values[k - 1];
  }
  snprintf(sql + len, sizeof sql - (size_t)len, ")");
  params[MANY - 1] = "last";
  /* $1 is 1001, in the list as $1 itself: the row comes, with $500. */
  assert_int_equal(si_db_exec(db, sql, MANY, params, read_first_text, got, NULL, &err), SI_OK);
  assert_string_equal(got, "last");
  si_db_close(db);
}

/* All or none: a known uid anywhere undoes the rows written before it. */
static void test_image_insert_all_new(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int64_t batch_id = -1;
  int reopened = 0, inserted = -1;
  assert_int_equal(si_store_batch_begin(db, "ACC-ALL", &batch_id, &reopened, &err), SI_OK);
  enum { ROWS = 45 }; /* more than one statement's worth, and a rest */
  static char uids[ROWS][32], paths[ROWS][48];
  si_image_values many[ROWS];
  for (int i = 0; i < ROWS; i++) {
    snprintf(uids[i], sizeof uids[0], "1.2.6.%d", i);
    snprintf(paths[i], sizeof paths[0], "/storage/ACC-ALL/IM%d", i);
    many[i] = (si_image_values){.uid = uids[i],
                                .batch_id = batch_id,
                                .status = "DONE",
                                .storage_path = paths[i],
                                .size_bytes = i,
                                .modality = "CT"};
  }
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_image_insert_all_new(db, many, 10, &inserted, &err), SI_OK);
  assert_int_equal(inserted, 1);
  /* Rows 0..9 are known now: 5..44 holds five of them, in its first statement. */
  assert_int_equal(si_store_image_insert_all_new(db, many + 5, ROWS - 5, &inserted, &err), SI_OK);
  assert_int_equal(inserted, 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), 10);
  /* Known only in the rest, after a whole statement was written. */
  si_image_values late[ROWS - 10 + 1];
  memcpy(late, many + 10, (ROWS - 10) * sizeof many[0]);
  late[ROWS - 10] = many[3];
  assert_int_equal(si_store_image_insert_all_new(db, late, ROWS - 10 + 1, &inserted, &err), SI_OK);
  assert_int_equal(inserted, 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), 10);
  /* The transaction goes on, and the new ones go in. */
  assert_int_equal(si_store_image_insert_all_new(db, many + 10, ROWS - 10, &inserted, &err), SI_OK);
  assert_int_equal(inserted, 1);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), ROWS);
  assert_int_equal(query_int(db, "SELECT sum(size_bytes) FROM image", 0, NULL),
                   ROWS * (ROWS - 1) / 2);
  /* Another constraint is an error: a new uid at a stored path. */
  si_image_values clash = many[0];
  clash.uid = "1.2.6.999";
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  si_status st = si_store_image_insert_all_new(db, &clash, 1, &inserted, &err);
  si_db_rollback(db);
  assert_int_equal(st, SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_int_equal(inserted, 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM image", 0, NULL), ROWS);
  si_db_close(db);
}

/* A sync outside any transaction stands for a durable commit where the
 * backend has one (SQLite; strace shows the WAL's fsync in
 * test_pipeline.sh); whether a writer would wait is known on SQLite only. */
typedef struct held_writer {
  si_db *db;
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int inside, release;
} held_writer;

/* Opens a write transaction on its own thread and holds it until told. */
static void *hold_writer(void *arg) {
  held_writer *h = arg;
  si_error err;
  assert_int_equal(si_db_begin_relaxed(h->db, &err), SI_OK);
  insert_batch(h->db, "SYNC-1");
  assert_int_equal(si_db_sync(h->db, &err), SI_ERR_STATE); /* not inside one */
  pthread_mutex_lock(&h->lock);
  h->inside = 1;
  pthread_cond_broadcast(&h->changed);
  while (!h->release)
    pthread_cond_wait(&h->changed, &h->lock);
  pthread_mutex_unlock(&h->lock);
  assert_int_equal(si_db_commit(h->db, &err), SI_OK);
  return NULL;
}

static void test_sync_and_writer_busy(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *a = must_open(path);
  si_error err;
  if (on_pg()) {
    assert_false(si_db_can_sync(a));
    assert_int_equal(si_db_sync(a, &err), SI_ERR_UNSUPPORTED);
    assert_int_equal(si_db_writer_busy(a), -1);
    si_db_close(a);
    return;
  }
  assert_true(si_db_can_sync(a));
  assert_int_equal(si_db_writer_busy(a), 0);
  held_writer h = {.db = must_open(path)};
  pthread_mutex_init(&h.lock, NULL);
  pthread_cond_init(&h.changed, NULL);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, hold_writer, &h), 0);
  pthread_mutex_lock(&h.lock);
  while (!h.inside)
    pthread_cond_wait(&h.changed, &h.lock);
  /* Another thread holds the write lock: a begin here would wait. */
  assert_int_equal(si_db_writer_busy(a), 1);
  h.release = 1;
  pthread_cond_broadcast(&h.changed);
  pthread_mutex_unlock(&h.lock);
  pthread_join(thread, NULL);
  assert_int_equal(si_db_writer_busy(a), 0);
  assert_int_equal(si_db_sync(h.db, &err), SI_OK);
  assert_int_equal(si_db_sync(a, &err), SI_OK);
  assert_int_equal(query_int(a, "SELECT count(*) FROM batch", 0, NULL), 1);
  pthread_cond_destroy(&h.changed);
  pthread_mutex_destroy(&h.lock);
  si_db_close(h.db);
  si_db_close(a);
}

static void test_claim_many(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int created = 0;
  assert_int_equal(si_store_enqueue(db, "f1", "/in/f1", &created, &err), SI_OK);
  assert_int_equal(si_store_enqueue(db, "f2", "/in/f2", &created, &err), SI_OK);
  assert_int_equal(si_store_enqueue(db, "f1", "/again/f1", &created, &err), SI_OK);
  assert_int_equal(si_store_enqueue(db, "f3", "/in/f3", &created, &err), SI_OK);
  si_job *jobs = calloc(8, sizeof *jobs);
  assert_non_null(jobs);
  size_t count = 99;
  assert_int_equal(si_store_claim_many(db, "w", 60, jobs, 2, &count, &err), SI_OK);
  assert_int_equal(count, 2);
  assert_string_equal(jobs[0].path, "/in/f1");
  assert_string_equal(jobs[1].path, "/in/f2");
  assert_int_equal(si_store_claim_many(db, "w", 60, jobs + 2, 6, &count, &err), SI_OK);
  assert_int_equal(count, 1);
  assert_string_equal(jobs[2].path, "/in/f3");
  assert_int_equal(jobs[2].attempts, 1);
  assert_int_equal(query_int(db, "SELECT count(*) FROM job WHERE state = 'running'", 0, NULL), 3);
  int64_t first_f1 = jobs[0].id;
  /* f1's second job is not taken while its first runs... */
  assert_int_equal(si_store_claim_many(db, "w", 60, jobs, 8, &count, &err), SI_OK);
  assert_int_equal(count, 0);
  /* ...and is once it ended. */
  assert_int_equal(si_store_job_finish(db, first_f1, "w", "done", NULL, &err), SI_OK);
  assert_int_equal(si_store_claim_many(db, "w", 60, jobs, 8, &count, &err), SI_OK);
  assert_int_equal(count, 1);
  assert_string_equal(jobs[0].path, "/again/f1");
  free(jobs);
  si_db_close(db);
}

/* A new job is announced to listeners of other connections at commit, once
 * per transaction, not on rollback nor for a duplicate; SQLite has no
 * signals and says so (its enqueue still works). */
static void test_job_announcements(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *announcer = must_open(path), *listener = must_open(path);
  si_error err;
  int signalled = -1, created = 0;
  if (!on_pg()) {
    assert_int_equal(si_db_listen(listener, SI_STORE_JOBS_CHANNEL, &err), SI_ERR_UNSUPPORTED);
    assert_int_equal(si_db_wait_signal(listener, 10, &signalled, &err), SI_ERR_UNSUPPORTED);
    assert_int_equal(signalled, 0);
    assert_int_equal(si_store_enqueue(announcer, "f1", "/in/f1", &created, &err), SI_OK);
    assert_true(created);
    si_db_close(listener);
    si_db_close(announcer);
    return;
  }
  assert_int_equal(si_db_listen(listener, "Not-An-Identifier", &err), SI_ERR_ARG);
  assert_int_equal(si_db_listen(listener, SI_STORE_JOBS_CHANNEL, &err), SI_OK);
  assert_int_equal(si_db_wait_signal(listener, 50, &signalled, &err), SI_OK);
  assert_int_equal(signalled, 0);
  /* Rolled back: nothing is heard. */
  assert_int_equal(si_db_begin(announcer, &err), SI_OK);
  assert_int_equal(si_store_enqueue(announcer, "f0", "/in/f0", &created, &err), SI_OK);
  assert_int_equal(si_db_rollback(announcer), SI_OK);
  assert_int_equal(si_db_wait_signal(listener, 200, &signalled, &err), SI_OK);
  assert_int_equal(signalled, 0);
  /* Three jobs in one transaction: heard at commit, not before. */
  assert_int_equal(si_db_begin(announcer, &err), SI_OK);
  assert_int_equal(si_store_enqueue(announcer, "f1", "/in/f1", &created, &err), SI_OK);
  assert_int_equal(si_store_enqueue(announcer, "f2", "/in/f2", &created, &err), SI_OK);
  assert_int_equal(si_store_enqueue(announcer, "f3", "/in/f3", &created, &err), SI_OK);
  assert_int_equal(si_db_wait_signal(listener, 200, &signalled, &err), SI_OK);
  assert_int_equal(signalled, 0);
  assert_int_equal(si_db_commit(announcer, &err), SI_OK);
  assert_int_equal(si_db_wait_signal(listener, 5000, &signalled, &err), SI_OK);
  assert_int_equal(signalled, 1);
  assert_int_equal(si_db_wait_signal(listener, 200, &signalled, &err), SI_OK);
  assert_int_equal(signalled, 0);
  /* A duplicate creates no job and announces nothing. */
  assert_int_equal(si_store_enqueue(announcer, "f1", "/in/f1", &created, &err), SI_OK);
  assert_false(created);
  assert_int_equal(si_db_wait_signal(listener, 200, &signalled, &err), SI_OK);
  assert_int_equal(signalled, 0);
  /* A signal that arrives while the listener runs statements is kept. */
  assert_int_equal(si_store_enqueue(announcer, "f4", "/in/f4", &created, &err), SI_OK);
  assert_true(created);
  for (int i = 0; i < 50 && query_int(listener, "SELECT count(*) FROM job", 0, NULL) < 4; i++)
    usleep(10000);
  assert_int_equal(si_db_wait_signal(listener, 5000, &signalled, &err), SI_OK);
  assert_int_equal(signalled, 1);
  si_db_close(listener);
  si_db_close(announcer);
}

/* A worker whose lease ran out and was taken over can neither renew it nor
 * end or redirect the new holder's job; the lease clock is the database's. */
static void test_lease_ownership(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int created = 0, found = 0;
  assert_int_equal(si_store_enqueue(db, "acc", "/in/acc", &created, &err), SI_OK);
  si_job slow, fast;
  assert_int_equal(si_store_claim(db, "slow", 60, &slow, &found, &err), SI_OK);
  assert_true(found);
  /* The lease runs from the database's clock: about 60 s from its now. */
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%lld", (long long)slow.id);
  const char *id[] = {id_s};
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT lease_until - %s FROM job WHERE id = $1",
           si_db_get_backend(db)->now_ms);
  long long left = query_int(db, sql, 1, id);
  assert_true(left > 55000 && left <= 60000);
  assert_int_equal(si_store_heartbeat(db, slow.id, "slow", 60, &err), SI_OK);
  assert_int_equal(si_store_heartbeat(db, slow.id, "someone", 60, &err), SI_ERR_STATE);

  /* The lease runs out: it is not renewed any more, even before a takeover. */
  must_exec(db, "UPDATE job SET lease_until = 1 WHERE id = $1", 1, id);
  assert_int_equal(si_store_heartbeat(db, slow.id, "slow", 60, &err), SI_ERR_STATE);
  assert_non_null(strstr(err.message, "no longer held by slow"));
  assert_int_equal(si_store_claim(db, "fast", 60, &fast, &found, &err), SI_OK);
  assert_true(found);
  assert_int_equal(fast.id, slow.id);

  /* The old holder wakes up: it cannot end or redirect the job. */
  assert_int_equal(si_store_job_set_work_path(db, slow.id, "slow", "/elsewhere", &err),
                   SI_ERR_STATE);
  assert_int_equal(si_store_job_finish(db, slow.id, "slow", "done", NULL, &err), SI_ERR_STATE);
  assert_int_equal(si_store_job_finish(db, slow.id, "slow", "queued", NULL, &err), SI_ERR_STATE);
  assert_int_equal(query_int(db,
                             "SELECT count(*) FROM job WHERE id = $1 AND state = 'running' AND "
                             "worker = 'fast' AND work_path IS NULL",
                             1, id),
                   1);
  /* The new holder can. */
  assert_int_equal(
      si_store_job_set_work_path(db, fast.id, "fast", "/srv/sendit/storage/.work/job-1-acc", &err),
      SI_OK);
  assert_int_equal(si_store_job_finish(db, fast.id, "fast", "done", NULL, &err), SI_OK);
  assert_int_equal(si_store_job_finish(db, fast.id, "fast", "done", NULL, &err), SI_ERR_STATE);
  si_db_close(db);
}

/* Enqueueing a folder that already has a pending job, inside a transaction,
 * neither fails nor spoils the transaction. (The NOT EXISTS handles this
 * sequential case; ON CONFLICT covers an enqueuer racing in from another
 * connection, whose violation would abort a PostgreSQL transaction.) */
static void test_enqueue_duplicate_in_transaction(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int created = -1;
  assert_int_equal(si_store_enqueue(db, "acc", "/in/acc", &created, &err), SI_OK);
  assert_int_equal(created, 1);
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_enqueue(db, "acc", "/in/acc", &created, &err), SI_OK);
  assert_int_equal(created, 0);
  assert_int_equal(si_store_enqueue(db, "other", "/in/other", &created, &err), SI_OK);
  assert_int_equal(created, 1);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM job", 0, NULL), 2);
  si_db_close(db);
}

static int count_rows(void *user, int ncols, const char *const *values) {
  (void)ncols;
  (void)values;
  (*(int *)user)++;
  return 0;
}

/* Statements whose outcome nobody waits for travel in one round trip with
 * the next one that is waited for (db.h: deferred failures). */
static void test_pg_deferred_statements(void **state) {
  (void)state;
  if (!on_pg())
    skip();
  const char *url = fresh_path();
  si_db *db = must_open(url), *other = must_open(url);
  si_error err;
  const char *sql =
      "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, 'QUEUE', $2, $2)";
  /* Many, more than one pipeline holds, with rows read in between. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  int seen = 0;
  for (int i = 0; i < 3000; i++) {
    char uid[32], at[16];
    snprintf(uid, sizeof uid, "d%04d", i);
    snprintf(at, sizeof at, "%d", i);
    const char *p[] = {uid, at};
    assert_int_equal(si_db_exec(db, sql, 2, p, NULL, NULL, NULL, &err), SI_OK);
    if (i % 500 == 499) {
      /* Waiting for rows also waits for every write before them. */
      int n = 0;
      assert_int_equal(si_db_exec(db, "SELECT uid FROM batch", 0, NULL, count_rows, &n, NULL, &err),
                       SI_OK);
      assert_int_equal(n, i + 1);
      seen++;
    }
  }
  assert_int_equal(seen, 6);
  assert_int_equal(query_int(other, "SELECT count(*) FROM batch", 0, NULL), 0);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_int_equal(query_int(other, "SELECT count(*) FROM batch", 0, NULL), 3000);

  /* A failure is reported by the next statement that waits, with the
   * failed statement's error and text; everything after it was skipped. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  const char *dup[] = {"d0001", "1"}, *later[] = {"later", "1"};
  assert_int_equal(si_db_exec(db, sql, 2, dup, NULL, NULL, NULL, &err), SI_OK);
  assert_int_equal(si_db_exec(db, sql, 2, later, NULL, NULL, NULL, &err), SI_OK);
  long long v = 0;
  assert_int_equal(si_db_exec(db, "SELECT 1", 0, NULL, read_first_int, &v, NULL, &err),
                   SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_non_null(strstr(err.message, "INSERT INTO batch"));
  assert_int_equal(si_db_rollback(db), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch WHERE uid = 'later'", 0, NULL), 0);

  /* ...or by the commit, which then keeps nothing. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_db_exec(db, sql, 2, later, NULL, NULL, NULL, &err), SI_OK);
  assert_int_equal(si_db_exec(db, sql, 2, dup, NULL, NULL, NULL, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_ERR_STATE);
  assert_true(si_db_error_is_unique(&err));
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch WHERE uid = 'later'", 0, NULL), 0);

  /* A statement that does not compile fails the same way, and is not kept
   * in the statement cache as if it had been prepared. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_db_exec(db, "UPDATE batch SET nope = 1", 0, NULL, NULL, NULL, NULL, &err),
                   SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_ERR_DB);
  assert_non_null(strstr(err.message, "nope"));
  must_exec(db, "ALTER TABLE batch ADD COLUMN nope INTEGER", 0, NULL);
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_db_exec(db, "UPDATE batch SET nope = 1", 0, NULL, NULL, NULL, NULL, &err),
                   SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch WHERE nope = 1", 0, NULL), 3000);

  /* Outside a transaction every statement is waited for. */
  assert_int_equal(si_db_exec(db, sql, 2, dup, NULL, NULL, NULL, &err), SI_ERR_STATE);
  si_db_close(other);
  si_db_close(db);
}

/* Two claimers race over folders that each have two queued jobs (late data
 * under the same batch uid): however the claims interleave, a folder never
 * has two running jobs, and every folder ends up with one. */
#define TWIN_FOLDERS 150

typedef struct claimer {
  const char *path;
  const char *name;
  si_status status;
  char message[512];
} claimer;

static void *claim_all(void *arg) {
  claimer *c = arg;
  si_error err;
  si_error_clear(&err);
  si_db *db = NULL;
  c->status = si_db_open(c->path, &db, &err);
  /* A claim can give its job back to a twin, so "nothing found" ends the
   * loop only when no folder is left without a running job. */
  for (int idle = 0; c->status == SI_OK && idle < 3;) {
    si_job job;
    int found = 0;
    c->status = si_store_claim(db, c->name, 60, &job, &found, &err);
    if (c->status != SI_OK || found) {
      idle = 0;
      continue;
    }
    long long open = 0;
    c->status =
        si_db_exec(db,
                   "SELECT count(*) FROM job q WHERE q.state = 'queued' AND NOT EXISTS "
                   "(SELECT 1 FROM job r WHERE r.folder = q.folder AND r.state = 'running')",
                   0, NULL, read_first_int, &open, NULL, &err);
    idle = open ? 0 : idle + 1;
  }
  snprintf(c->message, sizeof c->message, "%s", err.message);
  si_db_close(db);
  return NULL;
}

static void test_claim_one_running_job_per_folder(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path);
  si_error err;
  for (int i = 0; i < TWIN_FOLDERS; i++) {
    char folder[32], in_a[64], in_b[64];
    snprintf(folder, sizeof folder, "acc%d", i);
    snprintf(in_a, sizeof in_a, "/in/a/acc%d", i);
    snprintf(in_b, sizeof in_b, "/in/b/acc%d", i);
    assert_int_equal(si_store_enqueue(db, folder, in_a, NULL, &err), SI_OK);
    assert_int_equal(si_store_enqueue(db, folder, in_b, NULL, &err), SI_OK);
  }
  claimer c[2] = {{.path = path, .name = "w1"}, {.path = path, .name = "w2"}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, claim_all, &c[i]), 0);
  for (int i = 0; i < 2; i++) {
    pthread_join(th[i], NULL);
    if (c[i].status != SI_OK)
      print_error("claimer %d: %s\n", i, c[i].message);
    assert_int_equal(c[i].status, SI_OK);
  }
  assert_int_equal(query_int(db,
                             "SELECT count(*) FROM (SELECT folder FROM job WHERE state = 'running' "
                             "GROUP BY folder HAVING count(*) > 1) twins",
                             0, NULL),
                   0);
  assert_int_equal(
      query_int(db, "SELECT count(DISTINCT folder) FROM job WHERE state = 'running'", 0, NULL),
      TWIN_FOLDERS);
  si_db_close(db);
}

static int drop_created_databases(void **state) {
  (void)state;
  for (int i = 0; i < pg_ncreated; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_created[i]);
    pg_admin(sql);
  }
  pg_ncreated = 0;
  return 0;
}

/* ---- issue 11: bookkeeping (job release, recounts, quarantine) ---- */

/* A job given back (no room on disk, a full disk) is queued again with its
 * attempt not counted; only its holder can give it back. */
static void test_job_release(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int created = 0;
  assert_int_equal(si_store_enqueue(db, "R1", "/in/R1", &created, &err), SI_OK);
  si_job job;
  int found = 0;
  assert_int_equal(si_store_claim(db, "w", 60, &job, &found, &err), SI_OK);
  assert_true(found);
  assert_int_equal(job.attempts, 1);
  assert_int_equal(si_store_job_release(db, job.id, "other", NULL, &err), SI_ERR_STATE);
  assert_int_equal(si_store_job_release(db, job.id, "w", "waiting for disk space", &err), SI_OK);
  assert_int_equal(query_int(db, "SELECT attempts FROM job WHERE state = 'queued'", 0, NULL), 0);
  assert_int_equal(si_store_job_release(db, job.id, "w", NULL, &err), SI_ERR_STATE);
  si_job oldest;
  assert_int_equal(si_store_oldest_queued(db, &oldest, &found, &err), SI_OK);
  assert_true(found);
  assert_string_equal(oldest.folder, "R1");
  int pending = 0;
  assert_int_equal(si_store_job_pending(db, "R1", &pending, &err), SI_OK);
  assert_true(pending);
  assert_int_equal(si_store_job_pending(db, "R2", &pending, &err), SI_OK);
  assert_false(pending);
  assert_int_equal(si_store_claim(db, "w", 60, &job, &found, &err), SI_OK);
  assert_int_equal(job.attempts, 1);
  si_db_close(db);
}

static void add_image(si_db *db, const char *uid, int64_t batch_id, const char *status,
                      int64_t size) {
  si_image img;
  memset(&img, 0, sizeof img);
  snprintf(img.uid, sizeof img.uid, "%s", uid);
  img.batch_id = batch_id;
  snprintf(img.status, sizeof img.status, "%s", status);
  snprintf(img.storage_path, sizeof img.storage_path, "/storage/%s", uid);
  snprintf(img.original_name, sizeof img.original_name, "%s.dcm", uid);
  img.size_bytes = size;
  si_error err;
  assert_int_equal(si_store_image_insert(db, &img, &err), SI_OK);
}

static int count_path(void *user, const char *path) {
  (void)path;
  (*(int *)user)++;
  return 0;
}

/* A batch's counts follow its rows: stored images (not NEW), their bytes,
 * and its quarantine entries, requeued ones too; a DONE batch left with no
 * image is EMPTY. */
static void test_batch_recount(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  int64_t a = -1, b = -1;
  int reopened = 0, found = 0;
  assert_int_equal(si_store_batch_begin(db, "A", &a, &reopened, &err), SI_OK);
  assert_int_equal(si_store_batch_begin(db, "B", &b, &reopened, &err), SI_OK);
  add_image(db, "1.1", a, "DONE", 100);
  add_image(db, "1.2", a, "DONE", 50);
  add_image(db, "1.3", a, "NEW", 7);
  assert_int_equal(si_store_quarantine_add(db, "A", "/q/A/x", "x", "why", &err), SI_OK);
  assert_int_equal(si_store_quarantine_add(db, "A", "/q/A/y", "y", "why", &err), SI_OK);
  assert_int_equal(si_store_quarantine_add(db, "B", "/q/B/z", "z", "why", &err), SI_OK);
  assert_int_equal(si_store_quarantine_mark_requeued(db, 1, &err), SI_OK);
  int paths = 0;
  assert_int_equal(si_store_quarantine_paths(db, "A", count_path, &paths, &err), SI_OK);
  assert_int_equal(paths, 1);
  assert_int_equal(si_store_batch_set_status(db, "A", "DONE", &err), SI_OK);
  assert_int_equal(si_store_batch_set_status(db, "B", "DONE", &err), SI_OK);
  assert_int_equal(si_store_batch_recount(db, a, &err), SI_OK);
  assert_int_equal(si_store_batch_recount(db, b, &err), SI_OK);
  si_batch got;
  assert_int_equal(si_store_batch_get(db, "A", &got, &found, &err), SI_OK);
  assert_int_equal(got.image_count, 2);
  assert_int_equal(got.size_bytes, 150);
  assert_int_equal(got.quarantined_count, 2);
  assert_string_equal(got.status, "DONE");
  assert_int_equal(si_store_batch_get(db, "B", &got, &found, &err), SI_OK);
  assert_int_equal(got.image_count, 0);
  assert_int_equal(got.quarantined_count, 1);
  assert_string_equal(got.status, "EMPTY");
  char uid[SI_NAME_MAX];
  int64_t id = -1;
  assert_int_equal(si_store_batch_lock_id(db, a, uid, &found, &err), SI_OK);
  assert_true(found);
  assert_string_equal(uid, "A");
  assert_int_equal(si_store_batch_lock_uid(db, "B", &id, &found, &err), SI_OK);
  assert_true(found);
  assert_int_equal(id, b);
  assert_int_equal(si_store_batch_lock_uid(db, "C", &id, &found, &err), SI_OK);
  assert_false(found);
  si_db_close(db);
}

static void touch(const char *dir, const char *name) {
  char path[4300];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("x", f);
  fclose(f);
}

/* Files in quarantine/<batch>/ that no entry names (a kill between the move
 * and the commit) get one, with a log line, once; a folder whose batch has
 * no row gets a batch in ERROR unless a job for it is pending. */
static void test_quarantine_reconcile(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  static int round;
  char qdir[4200], dir[4300];
  snprintf(qdir, sizeof qdir, "%s/quarantine-%d-%d", tu_tmp_dir(), (int)getpid(), ++round);
  si_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.quarantine_dir = qdir;
  int64_t found = -1;
  /* No quarantine folder at all: nothing to do. */
  assert_int_equal(si_quarantine_reconcile_all(db, &cfg, &found, &err), SI_OK);
  assert_int_equal(found, 0);
  const char *names[] = {"A", "C", "D"};
  for (int i = 0; i < 3; i++) {
    snprintf(dir, sizeof dir, "%s/%s", qdir, names[i]);
    assert_int_equal(si_mkdir_p(dir, &err), SI_OK);
  }
  snprintf(dir, sizeof dir, "%s/A", qdir);
  touch(dir, "known.dcm");
  touch(dir, "lost.dcm");
  snprintf(dir, sizeof dir, "%s/C", qdir);
  touch(dir, "c.dcm");
  snprintf(dir, sizeof dir, "%s/D", qdir);
  touch(dir, "d.dcm");
  int64_t a = -1;
  int reopened = 0, created = 0;
  assert_int_equal(si_store_batch_begin(db, "A", &a, &reopened, &err), SI_OK);
  char known[4400];
  snprintf(known, sizeof known, "%s/A/known.dcm", qdir);
  assert_int_equal(si_store_quarantine_add(db, "A", known, "known.dcm", "why", &err), SI_OK);
  assert_int_equal(si_store_enqueue(db, "D", "/in/D", &created, &err), SI_OK);
  /* Inside an import of A (its row held). */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_quarantine_reconcile(db, &cfg, "A", a, &found, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_int_equal(found, 1);
  const char *pa[] = {"A"};
  assert_int_equal(query_int(db, "SELECT count(*) FROM quarantine WHERE batch_uid = $1", 1, pa), 2);
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%lld", (long long)a);
  const char *pid[] = {id_s};
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch_log WHERE batch_id = $1", 1, pid), 1);
  /* At start-up: A is settled, C gets a batch in ERROR, D waits for its job. */
  assert_int_equal(si_quarantine_reconcile_all(db, &cfg, &found, &err), SI_OK);
  assert_int_equal(found, 1);
  si_batch c;
  int exists = 0;
  assert_int_equal(si_store_batch_get(db, "C", &c, &exists, &err), SI_OK);
  assert_true(exists);
  assert_string_equal(c.status, "ERROR");
  assert_int_equal(c.quarantined_count, 1);
  const char *pd[] = {"D"};
  assert_int_equal(query_int(db, "SELECT count(*) FROM quarantine WHERE batch_uid = $1", 1, pd), 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM batch WHERE uid = $1", 1, pd), 0);
  /* Nothing is recorded twice. */
  assert_int_equal(si_quarantine_reconcile_all(db, &cfg, &found, &err), SI_OK);
  assert_int_equal(found, 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM quarantine", 0, NULL), 3);
  si_db_close(db);
}

/* Entries that are folders (set aside whole) cover what is below them;
 * files found below a folder are matched by their path, so none is
 * recorded twice; symlinks and FIFOs are reconciled like files. */
static void test_quarantine_reconcile_nested(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_error err;
  static int round;
  char qdir[4200], dir[4400], path[4500];
  snprintf(qdir, sizeof qdir, "%s/quarantine-nested-%d-%d", tu_tmp_dir(), (int)getpid(), ++round);
  si_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.quarantine_dir = qdir;
  snprintf(dir, sizeof dir, "%s/B/d18/d19", qdir);
  assert_int_equal(si_mkdir_p(dir, &err), SI_OK);
  touch(dir, "deep0.txt");
  snprintf(dir, sizeof dir, "%s/B/lost/sub", qdir);
  assert_int_equal(si_mkdir_p(dir, &err), SI_OK);
  touch(dir, "inner.txt");
  snprintf(path, sizeof path, "%s/B/link", qdir);
  assert_int_equal(symlink("/nowhere", path), 0);
  snprintf(path, sizeof path, "%s/B/fifo", qdir);
  assert_int_equal(mkfifo(path, 0600), 0);
  int64_t b = -1;
  int reopened = 0;
  assert_int_equal(si_store_batch_begin(db, "B", &b, &reopened, &err), SI_OK);
  snprintf(path, sizeof path, "%s/B/d18", qdir);
  assert_int_equal(si_store_quarantine_add(db, "B", path, "x/d18", "folder", &err), SI_OK);
  int64_t found = -1;
  assert_int_equal(si_quarantine_reconcile_all(db, &cfg, &found, &err), SI_OK);
  assert_int_equal(found, 3); /* lost/sub/inner.txt, link, fifo: not what is below d18 */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(si_quarantine_reconcile_all(db, &cfg, &found, &err), SI_OK);
    assert_int_equal(found, 0);
  }
  assert_int_equal(query_int(db, "SELECT count(*) FROM quarantine", 0, NULL), 4);
  si_db_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_creates_schema),
      cmocka_unit_test(test_connection_settings),
      cmocka_unit_test(test_writer_waits_for_lock),
      cmocka_unit_test(test_reopen_does_not_remigrate),
      cmocka_unit_test(test_newer_schema_is_refused),
      cmocka_unit_test(test_params_and_nulls),
      cmocka_unit_test(test_parameter_mismatch),
      cmocka_unit_test(test_callback_and_early_stop),
      cmocka_unit_test(test_wide_rows),
      cmocka_unit_test(test_any_bytes),
      cmocka_unit_test(test_changes),
      cmocka_unit_test(test_constraint_errors),
      cmocka_unit_test(test_job_pending_index),
      cmocka_unit_test(test_transactions),
      cmocka_unit_test(test_close_with_open_transaction),
      cmocka_unit_test(test_threads_with_transactions),
      cmocka_unit_test(test_threads_autocommit),
      cmocka_unit_test(test_processes_create_schema_once),
      cmocka_unit_test(test_statement_cache_reuse),
      cmocka_unit_test(test_statement_cache_eviction),
      cmocka_unit_test(test_reentrant_callback),
      cmocka_unit_test(test_schema_change_under_cache),
      cmocka_unit_test(test_bad_urls),
      cmocka_unit_test(test_sqlite_url),
      cmocka_unit_test(test_pg_reconnects_when_idle),
      cmocka_unit_test(test_pg_loss_inside_transaction),
      cmocka_unit_test(test_pg_commit_of_failed_transaction),
      cmocka_unit_test(test_pg_claim_skips_locked_jobs),
      cmocka_unit_test(test_claim_one_running_job_per_folder),
      cmocka_unit_test(test_claim_many),
      cmocka_unit_test(test_image_insert_many),
      cmocka_unit_test(test_image_insert_new),
      cmocka_unit_test(test_image_insert_all_new),
      cmocka_unit_test(test_numbered_parameters),
      cmocka_unit_test(test_sync_and_writer_busy),
      cmocka_unit_test(test_relaxed_transactions),
      cmocka_unit_test(test_job_announcements),
      cmocka_unit_test(test_lease_ownership),
      cmocka_unit_test(test_enqueue_duplicate_in_transaction),
      cmocka_unit_test(test_pg_deferred_statements),
      cmocka_unit_test(test_job_release),
      cmocka_unit_test(test_batch_recount),
      cmocka_unit_test(test_quarantine_reconcile),
      cmocka_unit_test(test_quarantine_reconcile_nested),
  };
  int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
  const char *url = getenv("SENDIT_TEST_PG_URL");
  if (url && *url) {
    pg_url = url;
    failed += cmocka_run_group_tests_name("postgresql", tests, NULL, drop_created_databases);
  } else {
    printf("SENDIT_TEST_PG_URL is not set: the PostgreSQL round is skipped\n");
  }
  return failed;
}
