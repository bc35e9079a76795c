/* The database layer: one small interface of function pointers that each
 * backend implements (lib/db/sqlite.c, lib/db/postgres.c), and helpers over
 * it. SQL text is shared by all backends: parameters are written $1, $2, ...
 * (SQLite accepts them as named parameters) and travel as text, NULL for SQL
 * NULL; rows arrive as arrays of strings. Text values are byte strings: any
 * NUL-terminated bytes (file names need not be UTF-8) are stored and
 * returned unchanged, and equal only themselves, on every backend.
 *
 * Ownership: si_db_open returns a connection the caller closes with
 * si_db_close. A connection is used by one thread at a time. Strings passed
 * to row callbacks are borrowed for the duration of the call only. */
#ifndef SENDIT_DB_H
#define SENDIT_DB_H

#include <stdint.h>

#include "sendit/error.h"

typedef struct si_db si_db;

/* Called once per result row; return non-zero to stop early. values[i] is
 * NULL for SQL NULL. */
typedef int (*si_db_row_fn)(void *user, int ncols, const char *const *values);

typedef struct si_db_backend {
  const char *name; /* "sqlite", "postgresql" */
  si_status (*connect)(const char *url, void **conn, si_error *err);
  void (*disconnect)(void *conn);
  /* Runs one statement. `changes` (may be NULL) receives the rows changed. */
  si_status (*exec)(void *conn, const char *sql, int nparams, const char *const *params,
                    si_db_row_fn fn, void *user, int64_t *changes, si_error *err);
  /* Dialect: statement that starts a write transaction, appended row-lock
   * clause for the queue's claim query, and the auto-increment key type. */
  const char *begin_write;
  const char *skip_locked;
  /* SQL expression: the database's clock in epoch milliseconds. Leases are
   * read and written by that one clock, so workers on hosts whose clocks
   * disagree still agree on when a lease ran out. */
  const char *now_ms;
  const char *serial_key;
  /* Run right after begin_write in each migration step to serialize
   * migrating processes; NULL when begin_write already does (SQLite's
   * BEGIN IMMEDIATE takes the database's write lock). */
  const char *lock_schema;
  /* Replaces "{update_heavy}" after the column list of a table whose rows
   * are updated right after they are written (image: NEW, then DONE); NULL
   * for nothing. PostgreSQL leaves room in each page so that such an
   * update stays in the page and touches no index (a HOT update). */
  const char *update_heavy;
  /* Cross-process wake-up (NULL when the backend has none: SQLite, whose
   * processes share one host and find new jobs by polling). listen
   * subscribes the connection to `channel`; wait_signal blocks up to
   * timeout_ms for a signal on a subscribed channel and sets *signalled;
   * signal_sql is the statement that signals a channel, run inside the
   * writer's transaction so listeners hear of rows only once they are
   * committed ("%s" stands for the channel name). */
  /* Non-zero when one INSERT of many rows is cheaper than as many
   * single-row INSERTs (PostgreSQL: the server's cost per statement). */
  int multi_row_insert;
  si_status (*listen)(void *conn, const char *channel, si_error *err);
  si_status (*wait_signal)(void *conn, int timeout_ms, int *signalled, si_error *err);
  const char *signal_sql;
  /* Relaxed transactions (si_db_begin_relaxed). set_durable (may be NULL)
   * runs outside any transaction: with 0 just before a relaxed one begins,
   * with 1 once it has ended (SQLite's synchronous level cannot change
   * inside one). relaxed_sql (may be NULL) runs first inside a relaxed one
   * (PostgreSQL: SET LOCAL synchronous_commit). */
  si_status (*set_durable)(void *conn, int durable, si_error *err);
  const char *relaxed_sql;
  /* Single-writer backends only (NULL elsewhere): non-zero while another
   * thread of this process holds the write lock, so that a write
   * transaction begun now would wait for it (si_db_writer_busy). */
  int (*writer_busy)(void *conn);
  /* Makes every commit so far durable without taking the write lock
   * (si_db_sync); NULL when the backend cannot. */
  si_status (*sync)(void *conn, si_error *err);
  /* Read-only use (si_db_open_readonly). connect_readonly (NULL: connect)
   * opens without creating anything; table_exists is a query taking the
   * table name as $1 whose one row is 1 when the table exists, else 0. */
  si_status (*connect_readonly)(const char *url, void **conn, si_error *err);
  const char *table_exists;
  /* NULL when the database is not a file: see si_db_check_file. */
  si_status (*check_file)(void *conn, si_error *err);
} si_db_backend;

/* Picks the backend from the URL ("postgresql://" or "postgres://" ->
 * PostgreSQL, anything else is a SQLite file path), connects, and brings the
 * schema to the current version (creating it on first use). SQLite also
 * takes "sqlite://path" ("sqlite:///abs/path") and "file:" URIs; any other
 * "scheme://" is SI_ERR_CONFIG, and a backend not built in is
 * SI_ERR_UNSUPPORTED. A database whose schema is newer than this program is
 * refused with SI_ERR_UNSUPPORTED. Safe to call from several threads and
 * processes at once on the same database. */
si_status si_db_open(const char *url, si_db **out, si_error *err);
void si_db_close(si_db *db);

/* Opens a database that exists already, for reading: it never creates the
 * SQLite file, its folder or the schema, and never migrates. SI_ERR_NOT_FOUND
 * when there is nothing there yet: no file at a SQLite path, or a database
 * without sendit's tables (a PostgreSQL database nothing was imported into);
 * err says which. A schema older than this program (a writing command
 * migrates it) or newer is SI_ERR_UNSUPPORTED. SQLite opens the file with
 * SQLITE_OPEN_READONLY and query_only (beside a database in WAL mode it may
 * still create the -wal and -shm files, as every reader does); writes on
 * the connection fail. For the commands that only look (status, batches,
 * ...). */
si_status si_db_open_readonly(const char *url, si_db **out, si_error *err);

/* Whether the SQLite file this connection opened is still the one its path
 * names: SI_ERR_STATE, naming the file, when it was deleted, renamed away or
 * replaced by another file since, so that every later commit would go to a
 * file nobody can see again. SI_OK otherwise, and always on a backend
 * without a file (PostgreSQL). Only stats the path (about a microsecond)
 * and reads what connecting recorded, so any thread may call it, even
 * while another thread uses the connection. */
si_status si_db_check_file(const si_db *db, si_error *err);
const si_db_backend *si_db_get_backend(const si_db *db);

si_status si_db_exec(si_db *db, const char *sql, int nparams, const char *const *params,
                     si_db_row_fn fn, void *user, int64_t *changes, si_error *err);
si_status si_db_begin(si_db *db, si_error *err);
si_status si_db_commit(si_db *db, si_error *err);
si_status si_db_rollback(si_db *db);

/* A write transaction, as si_db_begin's, whose commit does not wait for the
 * disk. A crash of sendit itself (kill -9) never undoes it; a power cut, a
 * crash of the operating system or of the PostgreSQL server may, together
 * with every relaxed transaction committed after it, never partly and never
 * one committed before the last durable (si_db_begin) commit: a durable
 * commit makes everything committed before it durable too. Use it where
 * such a loss is found and redone: a job's end, whose job then runs again;
 * a queue entry that the start-up scan finds again. Never where something
 * outside the database (a rename, a file sent) is done next on the
 * strength of it. SQLite: synchronous=NORMAL for this transaction, so its
 * commit does not fsync the WAL; PostgreSQL: synchronous_commit off. End it
 * with si_db_commit or si_db_rollback. */
si_status si_db_begin_relaxed(si_db *db, si_error *err);

/* Whether a write transaction begun now would wait for another writer:
 * 1 when another thread of this process is inside one, 0 when none is
 * (a writer of another process may still be), -1 on a backend whose
 * writers do not take turns on one lock (PostgreSQL). A hint for callers
 * that have other work to do meanwhile; it may be stale by the time they
 * begin. */
int si_db_writer_busy(si_db *db);

/* Makes every transaction committed so far on this database, by any
 * connection, relaxed ones included, as durable as a durable commit would,
 * without holding the write lock while the disk catches up: so a single
 * writer's relaxed commits plus one si_db_sync outside the lock stand for a
 * durable commit, and the next writer need not wait for the disk. SQLite:
 * fsync of the WAL. SI_ERR_UNSUPPORTED on a backend without it (PostgreSQL,
 * whose durable commits do not keep other writers waiting); callers then
 * commit durably instead. */
si_status si_db_sync(si_db *db, si_error *err);
/* Non-zero when si_db_sync is available on this connection's backend. */
int si_db_can_sync(const si_db *db);
/* Non-zero when one INSERT of many rows is cheaper than as many single-row
 * INSERTs on this connection's backend (si_db_backend.multi_row_insert):
 * where it is not, a statement is cheap enough to insert-then-look-up. */
int si_db_multi_row_insert(const si_db *db);

/* Signals: a way for one process to wake others that share the database
 * (PostgreSQL's LISTEN/NOTIFY). si_db_signal tells every connection
 * listening on `channel`; inside a transaction the listeners hear it at
 * commit and not at all on rollback; several signals of one transaction
 * arrive as one. It does nothing on a backend without signals. si_db_listen
 * subscribes this connection; si_db_wait_signal then blocks for up to
 * timeout_ms and sets *signalled when a signal arrived (signals that came
 * while the connection was busy count too). Both give SI_ERR_UNSUPPORTED on
 * a backend without signals; a connection lost while waiting is SI_ERR_DB,
 * and the subscription is gone with it: open a new connection and listen
 * again (signals sent in between are lost, so listeners also poll). Channel
 * names are SQL identifiers: lower-case letters, digits and '_'. */
si_status si_db_signal(si_db *db, const char *channel, si_error *err);
si_status si_db_listen(si_db *db, const char *channel, si_error *err);
si_status si_db_wait_signal(si_db *db, int timeout_ms, int *signalled, si_error *err);

/* Schema version after migration (see lib/db/schema.c). */
int si_db_schema_version(si_db *db);

/* Transactions: si_db_begin always opens a write transaction (the backend's
 * begin_write), so two writers queue on the lock up front instead of
 * deadlocking on a read-to-write upgrade. Use these three rather than raw
 * BEGIN/COMMIT through si_db_exec. si_db_begin inside a transaction and
 * si_db_commit outside one give SI_ERR_STATE; si_db_rollback outside one is
 * a no-op. When si_db_commit fails, the transaction has been rolled back.
 * After any failed statement inside a transaction, roll back: PostgreSQL
 * aborts the whole transaction there while SQLite keeps it, so portable code
 * must not carry on (use INSERT ... ON CONFLICT DO NOTHING to tolerate
 * duplicates inside a transaction).
 *
 * Deferred failures: inside a transaction, a statement whose caller asks
 * for neither rows (fn NULL) nor `changes` (NULL) may be sent without
 * waiting for its outcome (PostgreSQL does: it saves a round trip per
 * statement). If it fails, its error (code, "constraint:" prefix, its SQL)
 * is returned by the next statement of the transaction that waits, at the
 * latest by si_db_commit, and the statements in between did not run. Code
 * that rolls back on any failure, as above, needs nothing more; pass
 * `changes` to learn a statement's own outcome at once.
 *
 * Constraint violations: a UNIQUE or PRIMARY KEY violation (including a
 * partial unique index such as job_pending) is SI_ERR_STATE, the expected
 * "that row already exists" of a duplicate or a lost race; the others
 * (FOREIGN KEY, NOT NULL, CHECK) are SI_ERR_DB, as they mean a bug or a
 * damaged database. Either way the message starts with "constraint:<kind>: ",
 * kind being "unique", "foreign-key", "not-null", "check" or "other",
 * followed by the backend's own text (SQLite: "UNIQUE constraint failed:
 * image.uid") and the start of the SQL. Every backend reports them this way,
 * so callers need not parse backend-specific messages. Which constraint
 * fired is only in the backend's text; a caller that must know (image.uid
 * vs storage_path) should look the row up afterwards. */
#define SI_DB_CONSTRAINT_PREFIX "constraint:"
#define SI_DB_UNIQUE_PREFIX "constraint:unique:"

/* Non-zero when err is a constraint violation of any kind. */
int si_db_error_is_constraint(const si_error *err);
/* Non-zero when err is a UNIQUE or PRIMARY KEY violation (SI_ERR_STATE). */
int si_db_error_is_unique(const si_error *err);

#endif
