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
 * name beside dst, fsync, rename into place, then unlink src. dst must not
 * exist (SI_ERR_STATE otherwise). On failure nothing is lost: src stays and
 * no partial dst is left behind. */
si_status si_move_file(const char *src, const char *dst, si_error *err);

/* rename(2) that fails with SI_ERR_STATE instead of replacing an existing
 * destination (renameat2 RENAME_NOREPLACE; one call, no check-then-act). */
si_status si_rename_noreplace(const char *src, const char *dst, si_error *err);

/* fsync of a directory, so renames into it survive power loss. */
si_status si_fsync_dir(const char *path, si_error *err);

/* 1 when both files exist and have identical bytes, 0 when they differ, -1
 * on error (err filled). */
int si_files_equal(const char *a, const char *b, si_error *err);

typedef struct si_file_entry {
  char *path;     /* full path */
  char *relative; /* path below the listed root */
  int64_t size;
} si_file_entry;

typedef struct si_file_list {
  si_file_entry *items;
  size_t count;
} si_file_list;

/* Every regular file below root (recursively, symlinks not followed), sorted
 * by relative path. */
si_status si_list_files(const char *root, si_file_list *out, si_error *err);
void si_file_list_free(si_file_list *list);
/* Whether `path` is a folder with at least one regular file below it; 0 for
 * anything else, errors included (for "is there anything left to retry"). */
int si_dir_has_files(const char *path);

/* Removes empty directories below and including root; leaves the rest. */
void si_remove_empty_dirs(const char *root);

/* Joins a and b with one '/' into a new malloc'd string (NULL when out of memory). */
char *si_path_join(const char *a, const char *b);

#endif
