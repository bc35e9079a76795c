/* The SQLite backend's in-process writer queue. SQLite has one write lock
 * per database file and makes a writer that finds it taken poll for it
 * (lib/db/sqlite.c's busy handler). Threads of one process that write to
 * one file wait here instead, on a condition variable: no polling (each
 * poll wakes a thread on a machine whose cores the writer needs), and the
 * next writer starts the moment the previous one commits rather than at
 * its next poll. Writers of other processes still meet at SQLite's lock.
 *
 * Ownership: si_turnstile_for returns a shared turnstile the caller gives
 * back with si_turnstile_put; a turnstile lives while any connection to its
 * file holds it. Entry and exit may happen on different threads. */
#ifndef SENDIT_DB_TURNSTILE_H
#define SENDIT_DB_TURNSTILE_H

typedef struct si_turnstile si_turnstile;

/* The turnstile of the database file at `path` (found by device and inode,
 * so every spelling of a path agrees); NULL when the file cannot be
 * stat()ed (an in-memory database) or memory is short: callers then rely on
 * SQLite's lock alone. */
si_turnstile *si_turnstile_for(const char *path);
void si_turnstile_put(si_turnstile *t);

/* Waits until no other writer of this process is inside, for at most
 * timeout_ms; returns 1 once entered, 0 when the wait timed out or the
 * calling thread is already inside through another connection (then the
 * caller goes on without it, and SQLite's lock decides as before). */
int si_turnstile_enter(si_turnstile *t, long timeout_ms);
void si_turnstile_leave(si_turnstile *t);

/* Non-zero while another thread is inside: an entry now would wait. */
int si_turnstile_taken(si_turnstile *t);

#endif
