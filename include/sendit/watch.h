/* The input watcher: inotify on the input folder(s) for folders created or
 * moved in, a scan at start-up, a rescan when the inotify queue overflows,
 * an optional periodic rescan (network filesystems), and the optional
 * "stable for N seconds" rule for senders that cannot rename. Idle, it
 * sleeps in poll(2) without a timeout.
 *
 * Ownership: the watcher borrows cfg; si_watcher_close frees it. */
#ifndef SENDIT_WATCH_H
#define SENDIT_WATCH_H

#include <time.h>
#include "sendit/config.h"
#include "sendit/error.h"

typedef struct si_watcher si_watcher;

/* Called for every finished folder found (possibly more than once for the
 * same folder: the queue ignores a folder that already has a pending job).
 * After the folders of one pass it is called once with name and path NULL,
 * so the consumer can queue a burst of folders in one transaction. A pass
 * is one scan, or the inotify events of one burst: events are read until
 * the input has been quiet for 2 ms (50 ms at most). */
typedef void (*si_watch_fn)(void *user, const char *name, const char *path);

/* Why the input entry at `path` is not a folder to import, judged by
 * lstat without resolving anything: "a symbolic link (never followed)",
 * "not a folder", "gone" (no such entry); NULL for a real folder. The
 * returned text is static. Shared by the watcher and `start_queue`. */
const char *si_watch_entry_refusal(const char *path);

/* The finished-folder rule: a name is finished when it is not hidden and
 * no dot-separated extension starts with "tmp" ("ST-1.tmp2343" is not). */
int si_folder_is_finished(const char *name);

/* The newest modification time anywhere in the tree at path (16 levels,
 * symlinks not followed): what [input] stable_seconds measures quiet by. */
time_t si_watch_newest_mtime(const char *path);

/* The input folders (the configured folder or its subfolders) are resolved
 * once to absolute paths; their entries are never resolved: each is judged
 * with si_watch_entry_refusal and reported with its own path below the
 * input folder. Links, files and other non-folders are logged as SKIPPED. */
si_status si_watcher_open(const si_config *cfg, si_watch_fn fn, void *user, si_watcher **out,
                          si_error *err);
/* Scans the input folders once, reporting finished folders. */
si_status si_watcher_scan(si_watcher *w, si_error *err);
/* Runs until si_watcher_stop; returns SI_OK then. */
si_status si_watcher_run(si_watcher *w, si_error *err);
/* Async-signal-safe: wakes si_watcher_run and makes it return. */
void si_watcher_stop(si_watcher *w);
void si_watcher_close(si_watcher *w);

#endif
