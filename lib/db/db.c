/* Backend selection, transactions and schema migration over si_db_backend.
 * Nothing here knows a dialect: everything backend-specific comes through
 * the backend struct, so PostgreSQL slots in with one table entry. */
#include "sendit/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

struct si_db {
  const si_db_backend *backend;
  void *conn;
  int version;
  int in_tx;
  int relaxed;    /* the open transaction is relaxed (si_db_begin_relaxed) */
  int level_down; /* the backend's durability is still lowered (set_durable) */
};

/* Defined by the backend sources in this folder. */
extern const si_db_backend si_sqlite_backend;
extern const si_db_backend si_postgres_backend;

static const si_db_backend *const backends[] = {
    &si_sqlite_backend,
    &si_postgres_backend,
};

/* URL prefixes that name a backend; a URL without "scheme://" is a SQLite
 * path. PostgreSQL is listed even while its backend is absent so that its
 * URLs get "not built in" rather than being taken for file names. */
static const struct {
  const char *prefix;
  const char *backend;
} schemes[] = {
    {"postgresql://", "postgresql"},
    {"postgres://", "postgresql"},
    {"sqlite://", "sqlite"},
    {"file:", "sqlite"},
};

/* ---- backend selection ---- */

static const si_db_backend *backend_named(const char *name) {
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
    if (strcmp(backends[i]->name, name) == 0)
      return backends[i];
  return NULL;
}

/* Length of a leading "scheme://" (RFC 3986 scheme), 0 when there is none. */
static size_t scheme_length(const char *url) {
  const char *p = url;
  if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
    return 0;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
         *p == '+' || *p == '-' || *p == '.')
    p++;
  return strncmp(p, "://", 3) == 0 ? (size_t)(p - url) + 3 : 0;
}

static si_status pick_backend(const char *url, const si_db_backend **out, si_error *err) {
  const char *name = NULL;
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0] && !name; i++)
    if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
      name = schemes[i].backend;
  size_t n = scheme_length(url);
  if (!name && n > 0)
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "unknown database URL scheme \"%.*s\" (use a file path, sqlite:// or "
                        "postgresql://)",
                        (int)n, url);
  *out = backend_named(name ? name : "sqlite");
  if (!*out)
    return si_error_set(err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
                        "this build of sendit has no %s database support", name);
  return SI_OK;
}

/* ---- migrations ---- */

/* Copy of sql with every `token` replaced by `value`; NULL when out of
 * memory. */
static char *expand_token(const char *sql, const char *token, const char *value) {
  const char *repl = value ? value : "";
  const size_t tlen = strlen(token), slen = strlen(repl);
  size_t count = 0;
  for (const char *p = sql; (p = strstr(p, token)); p += tlen)
    count++;
  char *out = malloc(strlen(sql) + count * slen + 1);
  if (!out)
    return NULL;
  char *w = out;
  for (const char *p = sql, *hit; *p; p = hit + tlen) {
    if (!(hit = strstr(p, token))) {
      strcpy(w, p);
      return out;
    }
    memcpy(w, p, (size_t)(hit - p));
    w += hit - p;
    memcpy(w, repl, slen);
    w += slen;
  }
  *w = '\0';
  return out;
}

static int read_int(void *user, int ncols, const char *const *values) {
  *(int *)user = ncols > 0 && values[0] ? atoi(values[0]) : 0;
  return 1;
}

static si_status read_version(si_db *db, int *version, si_error *err) {
  *version = 0;
  return si_db_exec(db, "SELECT max(version) FROM schema_version", 0, NULL, read_int, version, NULL,
                    err);
}

static si_status apply_migration(si_db *db, int version, si_error *err) {
  const char *const *stmts = si_schema_migration(version);
  for (size_t i = 0; stmts[i]; i++) {
    char *serial = expand_token(stmts[i], "{serial}", db->backend->serial_key);
    char *sql = serial ? expand_token(serial, "{update_heavy}", db->backend->update_heavy) : NULL;
    free(serial);
    if (!sql)
      return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "migration %d", version);
    si_status s = si_db_exec(db, sql, 0, NULL, NULL, NULL, NULL, err);
    free(sql);
    if (s != SI_OK)
      return s;
  }
  char v[16];
  snprintf(v, sizeof v, "%d", version);
  const char *params[] = {v};
  return si_db_exec(db, "INSERT INTO schema_version (version) VALUES ($1)", 1, params, NULL, NULL,
                    NULL, err);
}

/* One step under the write lock: the version is read again inside the
 * transaction, because another process may have migrated while we waited
 * for the lock. *done is set when nothing is left to apply. */
static si_status migrate_step(si_db *db, int *done, si_error *err) {
  si_status s = si_db_begin(db, err);
  if (s != SI_OK)
    return s;
  int v = 0;
  if (db->backend->lock_schema)
    s = si_db_exec(db, db->backend->lock_schema, 0, NULL, NULL, NULL, NULL, err);
  if (s == SI_OK)
    s = si_db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)", 0,
                   NULL, NULL, NULL, NULL, err);
  if (s == SI_OK)
    s = read_version(db, &v, err);
  if (s == SI_OK && v > si_schema_latest_version())
    s = si_error_set(err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
                     "database schema version %d is newer than this sendit supports (%d)", v,
                     si_schema_latest_version());
  *done = s == SI_OK && v == si_schema_latest_version();
  if (s == SI_OK && !*done)
    s = apply_migration(db, ++v, err);
  if (s != SI_OK) {
    si_db_rollback(db);
    return s;
  }
  s = si_db_commit(db, err);
  if (s == SI_OK)
    db->version = v;
  return s;
}

static si_status migrate(si_db *db, si_error *err) {
  /* Every worker thread opens a connection: when the schema is current,
   * which is nearly always, answer without taking the write lock. Any
   * failure here (no table yet) just means "take the slow path". */
  int v = 0;
  if (read_version(db, &v, NULL) == SI_OK && v == si_schema_latest_version()) {
    db->version = v;
    return SI_OK;
  }
  for (int done = 0; !done;) {
    si_status s = migrate_step(db, &done, err);
    if (s != SI_OK)
      return s;
  }
  return SI_OK;
}

/* What a read-only opener may find: the schema at this program's version,
 * or nothing (SI_ERR_NOT_FOUND); never migrates. */
static si_status check_schema(si_db *db, si_error *err) {
  int tables = 0;
  const char *params[] = {"schema_version"};
  if (!db->backend->table_exists)
    return si_error_set(err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
                        "the %s backend cannot be opened read-only", db->backend->name);
  si_status s = si_db_exec(db, db->backend->table_exists, 1, params, read_int, &tables, NULL, err);
  int v = 0;
  if (s == SI_OK && tables)
    s = read_version(db, &v, err);
  if (s != SI_OK)
    return s;
  if (v == 0)
    return si_error_set(err, SI_ERR_NOT_FOUND, "", SI_NO_OFFSET, SI_NO_TAG,
                        "the %s database has no sendit tables yet: nothing imported",
                        db->backend->name);
  if (v != si_schema_latest_version())
    return si_error_set(
        err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
        "database schema version %d, this sendit has %d: %s", v, si_schema_latest_version(),
        v < si_schema_latest_version() ? "a command that writes (start_watcher, worker) migrates it"
                                       : "this sendit is too old for it");
  db->version = v;
  return SI_OK;
}

/* ---- public API ---- */

static si_status open_db(const char *url, int readonly, si_db **out, si_error *err) {
  if (!out)
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "si_db_open: no output");
  *out = NULL;
  if (!url || !*url)
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "empty database URL");
  const si_db_backend *backend = NULL;
  si_status s = pick_backend(url, &backend, err);
  if (s != SI_OK)
    return s;
  si_db *db = calloc(1, sizeof *db);
  if (!db)
    return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "database handle");
  db->backend = backend;
  if (readonly && backend->connect_readonly)
    s = backend->connect_readonly(url, &db->conn, err);
  else
    s = backend->connect(url, &db->conn, err);
  if (s == SI_OK)
    s = readonly ? check_schema(db, err) : migrate(db, err);
  if (s != SI_OK) {
    si_db_close(db);
    return s;
  }
  *out = db;
  return SI_OK;
}

si_status si_db_open(const char *url, si_db **out, si_error *err) {
  return open_db(url, 0, out, err);
}

si_status si_db_open_readonly(const char *url, si_db **out, si_error *err) {
  return open_db(url, 1, out, err);
}

si_status si_db_check_file(const si_db *db, si_error *err) {
  if (!db || !db->backend->check_file)
    return SI_OK;
  return db->backend->check_file(db->conn, err);
}

void si_db_close(si_db *db) {
  if (!db)
    return;
  /* Disconnecting rolls back an open transaction on every backend. */
  if (db->conn)
    db->backend->disconnect(db->conn);
  free(db);
}

const si_db_backend *si_db_get_backend(const si_db *db) { return db ? db->backend : NULL; }

si_status si_db_exec(si_db *db, const char *sql, int nparams, const char *const *params,
                     si_db_row_fn fn, void *user, int64_t *changes, si_error *err) {
  if (changes)
    *changes = 0;
  if (!db || !sql || nparams < 0 || (nparams > 0 && !params))
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "si_db_exec: invalid arguments");
  return db->backend->exec(db->conn, sql, nparams, params, fn, user, changes, err);
}

static si_status begin_write(si_db *db, int durable, si_error *err) {
  if (!db)
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "si_db_begin: no database");
  if (db->in_tx)
    return si_error_set(err, SI_ERR_STATE, "", SI_NO_OFFSET, SI_NO_TAG,
                        "a transaction is already open on this connection");
  const si_db_backend *b = db->backend;
  si_status s = SI_OK;
  int want_down = !durable;
  if (b->set_durable && db->level_down != want_down) {
    s = b->set_durable(db->conn, durable, err);
    if (s == SI_OK)
      db->level_down = want_down;
  }
  if (s == SI_OK)
    s = si_db_exec(db, b->begin_write, 0, NULL, NULL, NULL, NULL, err);
  if (s == SI_OK && !durable && b->relaxed_sql) {
    s = si_db_exec(db, b->relaxed_sql, 0, NULL, NULL, NULL, NULL, err);
    if (s != SI_OK)
      si_db_exec(db, "ROLLBACK", 0, NULL, NULL, NULL, NULL, NULL);
  }
  if (s == SI_OK) {
    db->in_tx = 1;
    db->relaxed = !durable;
  } else if (db->level_down && b->set_durable && b->set_durable(db->conn, 1, NULL) == SI_OK) {
    db->level_down = 0;
  }
  return s;
}

si_status si_db_begin(si_db *db, si_error *err) { return begin_write(db, 1, err); }

si_status si_db_begin_relaxed(si_db *db, si_error *err) { return begin_write(db, 0, err); }

si_status si_db_sync(si_db *db, si_error *err) {
  if (!db || !db->backend->sync)
    return si_error_set(err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
                        "this database backend cannot sync outside a commit");
  if (db->in_tx)
    return si_error_set(err, SI_ERR_STATE, "", SI_NO_OFFSET, SI_NO_TAG,
                        "si_db_sync inside a transaction");
  return db->backend->sync(db->conn, err);
}

int si_db_can_sync(const si_db *db) { return db && db->backend->sync != NULL; }

int si_db_multi_row_insert(const si_db *db) { return db && db->backend->multi_row_insert; }

int si_db_writer_busy(si_db *db) {
  if (!db || !db->backend->writer_busy)
    return -1;
  return db->backend->writer_busy(db->conn) ? 1 : 0;
}

/* Every transaction but a relaxed one is durable, and so is a statement
 * run outside any transaction: the level goes back as soon as the relaxed
 * one ends, however it ended. Should that fail, the next si_db_begin tries
 * again and fails rather than open a transaction that would not be durable. */
static void end_tx(si_db *db) {
  db->in_tx = 0;
  db->relaxed = 0;
  if (db->level_down && db->backend->set_durable(db->conn, 1, NULL) == SI_OK)
    db->level_down = 0;
}

si_status si_db_commit(si_db *db, si_error *err) {
  if (!db || !db->in_tx)
    return si_error_set(err, SI_ERR_STATE, "", SI_NO_OFFSET, SI_NO_TAG,
                        "commit without an open transaction");
  si_status s = si_db_exec(db, "COMMIT", 0, NULL, NULL, NULL, NULL, err);
  /* A failed COMMIT can leave the transaction open (SQLite, e.g. a
   * deferred constraint); close it so the connection is usable again. */
  if (s != SI_OK)
    si_db_exec(db, "ROLLBACK", 0, NULL, NULL, NULL, NULL, NULL);
  end_tx(db);
  return s;
}

si_status si_db_rollback(si_db *db) {
  if (!db || !db->in_tx)
    return SI_OK;
  si_status s = si_db_exec(db, "ROLLBACK", 0, NULL, NULL, NULL, NULL, NULL);
  end_tx(db);
  return s;
}

int si_db_schema_version(si_db *db) { return db ? db->version : 0; }

/* ---- signals ---- */

static int valid_channel(const char *channel) {
  if (!channel || !*channel || strlen(channel) > 63)
    return 0;
  for (const char *p = channel; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return 0;
  return 1;
}

static si_status check_signals(si_db *db, const char *channel, si_error *err) {
  if (!db)
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "no database connection");
  if (channel && !valid_channel(channel))
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "signal channel \"%s\" is not a lower-case SQL identifier", channel);
  if (!db->backend->listen || !db->backend->wait_signal || !db->backend->signal_sql)
    return si_error_set(err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
                        "the %s backend has no signals", db->backend->name);
  return SI_OK;
}

si_status si_db_signal(si_db *db, const char *channel, si_error *err) {
  si_status s = check_signals(db, channel, err);
  if (s == SI_ERR_UNSUPPORTED)
    return SI_OK;
  if (s != SI_OK)
    return s;
  char sql[128];
  snprintf(sql, sizeof sql, db->backend->signal_sql, channel);
  return si_db_exec(db, sql, 0, NULL, NULL, NULL, NULL, err);
}

si_status si_db_listen(si_db *db, const char *channel, si_error *err) {
  si_status s = check_signals(db, channel, err);
  return s != SI_OK ? s : db->backend->listen(db->conn, channel, err);
}

si_status si_db_wait_signal(si_db *db, int timeout_ms, int *signalled, si_error *err) {
  *signalled = 0;
  si_status s = check_signals(db, NULL, err);
  return s != SI_OK ? s : db->backend->wait_signal(db->conn, timeout_ms, signalled, err);
}

static int has_prefix(const si_error *err, const char *prefix) {
  return strncmp(err->message, prefix, strlen(prefix)) == 0;
}

int si_db_error_is_constraint(const si_error *err) {
  return err && (err->code == SI_ERR_DB || err->code == SI_ERR_STATE) &&
         has_prefix(err, SI_DB_CONSTRAINT_PREFIX);
}

int si_db_error_is_unique(const si_error *err) {
  return err && err->code == SI_ERR_STATE && has_prefix(err, SI_DB_UNIQUE_PREFIX);
}
