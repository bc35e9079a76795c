/* File system helpers for moving studies around safely.
 * Ownership: si_file_list entries are owned by the list (si_file_list_free). */
#ifndef SENDIT_FS_H
#define SENDIT_FS_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"

/* mkdir -p with mode 0755. */
si_status si_mkdir_p(const char *path, si_error *err);

/* Moves a file: rename(2) when on one filesystem, else copy to a temporary
 * name beside dst (SI_PARTIAL_PREFIX + 16 hex digits: a fixed length, so any
 * name the filesystem accepts can be moved), fsync, rename into place, then
 * unlink src. The copy keeps holes (SEEK_DATA/SEEK_HOLE): a sparse file stays
 * sparse. An entry that is not a regular file (a symlink, FIFO, socket or
 * device node) is never opened or followed: across filesystems it is made
 * anew at dst (the link with the same target, the node with the same type
 * and mode) and src unlinked; a folder cannot cross filesystems
 * (SI_ERR_UNSUPPORTED). dst must not exist (SI_ERR_STATE otherwise). On
 * failure nothing is lost: src stays and no partial dst is left behind,
 * unless the process is killed mid-copy: si_remove_partials finds those. */
si_status si_move_file(const char *src, const char *dst, si_error *err);

#define SI_PARTIAL_PREFIX ".sendit-partial-"
/* Whether a file name (no folder part) has the exact form of si_move_file's
 * temporary copies: SI_PARTIAL_PREFIX followed by 16 lowercase hex digits. */
int si_is_partial_name(const char *name);

/* Removes the temporary copies an interrupted si_move_file left below root
 * (recursively, symlinks not followed): regular files whose name
 * si_is_partial_name accepts and for which `referenced` (may be NULL)
 * returns 0; `referenced` lets the caller keep a user's file that merely
 * has such a name. *removed (may be NULL) counts them. A missing root is no
 * error. */
si_status si_remove_partials(const char *root, int (*referenced)(void *user, const char *path),
                             void *user, size_t *removed, si_error *err);

/* rename(2) that fails with SI_ERR_STATE instead of replacing an existing
 * destination (renameat2 RENAME_NOREPLACE; one call, no check-then-act). */
si_status si_rename_noreplace(const char *src, const char *dst, si_error *err);

/* Free space in MiB on the filesystem holding `path` (what an unprivileged
 * writer may use), or -1 when it cannot be told. */
int64_t si_free_space_mb(const char *path);

/* fsync of a directory, so renames into it survive power loss. */
si_status si_fsync_dir(const char *path, si_error *err);

/* 1 when both files exist and have identical bytes, 0 when they differ, -1
 * on error (err filled). */
int si_files_equal(const char *a, const char *b, si_error *err);

typedef struct si_file_entry {
  char *path;     /* full path */
  char *relative; /* path below the listed root */
  int64_t size;   /* of a regular file; 0 for the others */
} si_file_entry;

/* qsort/bsearch order of si_file_list items: by relative path (strcmp). */
int si_file_entry_compare(const void *x, const void *y);

typedef struct si_file_list {
  si_file_entry *items; /* regular files */
  size_t count;
  si_file_entry *others;    /* entries that are not imported: see si_list_files */
  const char **other_kinds; /* per other: what it is (static text: "symlink",
                             * "FIFO", "folder with too long a path", ...) */
  size_t other_count;
} si_file_list;

/* Every regular file below root (recursively at any depth, iteratively, so
 * depth costs heap, not stack), sorted by relative path, in items. Nothing
 * is followed: root itself must be a folder, not a symlink (SI_ERR_STATE),
 * and a symlink below it (to a file or a folder) is listed, not entered.
 * Entries that are neither regular files nor folders (symlinks, FIFOs,
 * sockets, device nodes), and folders so deep that a name in them could
 * pass PATH_MAX, go to `others` with their kind, so the caller
 * can set them aside rather than lose them (in the order met). */
si_status si_list_files(const char *root, si_file_list *out, si_error *err);
void si_file_list_free(si_file_list *list);
/* Whether `path` is a folder (not a symlink) with at least one entry that is
 * not a folder below it (si_list_files: items or others); 0 for
 * anything else, errors included (for "is there anything left to retry"). */
int si_dir_has_files(const char *path);

/* Removes empty directories below and including root; leaves the rest. */
void si_remove_empty_dirs(const char *root);

/* Joins a and b with one '/' into a new malloc'd string (NULL when out of memory). */
char *si_path_join(const char *a, const char *b);

#endif
