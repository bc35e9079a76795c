/* Step 4: the files go to storage (the whole folder in one rename when it
 * can), what is not imported is set aside first, the changed folders are
 * fsynced, and the litter of interrupted copies is swept before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/store_import.h"
#include "sendit/strf.h"
#include "import_internal.h"

static si_status mkdir_parent(const char *path, si_error *err) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return SI_OK;
  char *dir = strndup(path, (size_t)(slash - path));
  si_status st =
      dir ? si_mkdir_p(dir, err)
          : si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  free(dir);
  return st;
}

/* Before the files move: the entries that are not imported (symlinks,
 * FIFOs, sockets, device nodes, what is nested too deep for a path) go to
 * quarantine/<uid>/ with the reason `skipped: <kind>`, so none rides into
 * storage with a folder's rename, none is lost, and quarantine list and
 * requeue know them. They are renamed, never opened or followed (across
 * filesystems si_move_file makes them anew). One that cannot be set aside
 * stops the import (the batch log says why) and stays in the work area. */
static void set_aside_others(run *r, const si_file_list *files) {
  if (!files->other_count)
    return;
  si_error err;
  si_status st = SI_OK;
  if (r->batch_id < 0) {
    st = si_db_begin(r->ctx->db, &err);
    if (st == SI_OK)
      st = imp_open_batch(r, &err);
    st = st == SI_OK ? si_db_commit(r->ctx->db, &err) : (si_db_rollback(r->ctx->db), st);
  }
  for (size_t i = 0; st == SI_OK && i < files->other_count && !r->res->fatal; i++) {
    char *reason = si_strf("skipped: %s (not imported, not followed)", files->other_kinds[i]);
    if (!reason) {
      st = si_error_set(&err, SI_ERR_NOMEM, files->others[i].path, SI_NO_OFFSET, SI_NO_TAG,
                        "out of memory");
      break;
    }
    r->res->skipped++;
    /* Each move and its entry in one transaction that holds the batch's
     * row (imp_quarantine_as locks it), as a chunk's are: no reconciling sees
     * the file before its entry, and a kill in between leaves it for
     * reconciling (quarantine.h). */
    st = si_db_begin(r->ctx->db, &err);
    if (st == SI_OK)
      st = imp_quarantine(r, &files->others[i], "warning", reason, &err);
    st = st == SI_OK ? si_db_commit(r->ctx->db, &err) : (si_db_rollback(r->ctx->db), st);
    free(reason);
  }
  if (st != SI_OK) {
    r->res->fatal = 1;
    si_log(SI_LOG_ERROR, "batch %s: cannot set aside what is not imported: %s", r->uid,
           err.message);
  }
}

/* Step 4: the files go to storage, in one rename of the whole folder when
 * it holds nothing else, else one by one. A failed move stops the import
 * (full disk, permissions): the file stays where it is. The folders whose
 * entries changed are marked for imp_sync_moves. */
void imp_move_files(run *r, const si_file_list *files) {
  si_error ferr;
  si_error_clear(&ferr);
  set_aside_others(r, files);
  if (r->res->fatal)
    return;
  size_t wanted = 0;
  for (size_t i = 0; i < files->count && !r->res->no_space; i++)
    wanted += r->moves[i];
  if (!wanted)
    return; /* nothing to store, or no room for it (the folder keeps it all) */
  if (r->folder_rename && mkdir_parent(r->base, &ferr) == SI_OK &&
      si_rename_noreplace(r->folder, r->base, &ferr) == SI_OK) {
    r->res->folder_moved = 1;
  } else {
    for (size_t i = 0; i < files->count && !r->res->fatal; i++) {
      if (!r->moves[i])
        continue;
      /* Copies across filesystems can outlast a lease. */
      if (!imp_heartbeat_if_due(r))
        return;
      /* A path that would not fit was set aside (imp_set_aside_long_paths):
       * should one come here anyway, it is an error, never a cut path. */
      char dst[SI_PATH_MAX];
      int fits = imp_storage_path_for(r, &files->items[i], dst, sizeof dst);
      if (!fits)
        si_error_set(&ferr, SI_ERR_ARG, files->items[i].path, SI_NO_OFFSET, SI_NO_TAG,
                     "storage path too long");
      if (!fits || mkdir_parent(dst, &ferr) != SI_OK ||
          si_move_file(files->items[i].path, dst, &ferr) != SI_OK) {
        int full = imp_waits_for_space(r, &ferr);
        if (full) {
          r->res->no_space = 1;
        } else {
          r->res->fatal = 1;
        }
        imp_batch_log(r, full ? "warning" : "error", files->items[i].relative, "cannot store%s: %s",
                      full ? " yet" : "", ferr.message);
        if (full)
          break;
      }
    }
  }
  /* A folder that arrived whole kept its entries; only its parent changed. */
  r->sync_base = !r->res->folder_moved;
  r->sync_parent = 1;
}

/* Length of the parent folder's part of `path` (all of it without a '/'). */
static size_t parent_length(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? (size_t)(slash - path) : strlen(path);
}

/* The moves reach the disk before the finishing transaction records them:
 * each changed folder is fsynced once, so a group whose folders all went
 * into storage/ costs one fsync of storage/ rather than two per folder.
 * (Usually the first earlier run already has the same parent.) */
void imp_sync_moves(run **runs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    run *r = runs[i];
    size_t len = parent_length(r->base);
    int parent_done = !r->sync_parent;
    for (size_t k = 0; k < i && !parent_done; k++)
      parent_done = runs[k]->sync_parent && parent_length(runs[k]->base) == len &&
                    memcmp(runs[k]->base, r->base, len) == 0;
    si_error ferr;
    char parent[sizeof r->base]; /* a prefix of r->base: it fits */
    memcpy(parent, r->base, len);
    parent[len] = 0;
    if ((r->sync_base && si_fsync_dir(r->base, &ferr) != SI_OK) ||
        (!parent_done && si_fsync_dir(parent, &ferr) != SI_OK))
      imp_batch_log(r, "warning", NULL, "%s", ferr.message);
  }
}

/* Whether a row names `path`: an image's, or a quarantine entry's (of the
 * file or, with `folders`, of a folder above it: a folder set aside whole
 * keeps its files). Paths are compared with runs of '/' folded, as rows of
 * older versions may spell a configured folder "/x/storage/" + "/" + ... */
static int row_names(run *r, const char *path, int folders) {
  int found = 0;
  si_error e;
  return si_store_path_recorded(r->ctx->db, path, folders, &found, &e) != SI_OK || found;
}

/* Whether a file named like a temporary copy is a stored or quarantined
 * file (of an older version, or inside a folder quarantined whole: files
 * sendit stores itself never bear such a name, imp_set_aside_long_paths):
 * then it is kept. When the database cannot say, it is kept too. Only
 * files named like a copy are asked about, so the scans are rare. */
static int partial_is_recorded(void *user, const char *path) {
  run *r = user;
  if (row_names(r, path, 0))
    return 1;
  char *above = strdup(path);
  if (!above)
    return 1; /* kept, as when the database cannot say */
  int recorded = 0;
  for (char *slash = strrchr(above, '/'); !recorded && slash && slash > above;
       slash = strrchr(above, '/')) {
    *slash = 0;
    recorded = row_names(r, above, 1);
  }
  free(above);
  return recorded;
}

/* A kill during a copy across filesystems leaves a temporary copy
 * (`.sendit-partial-<hex>`) beside the file's place in storage/<uid>/ or
 * quarantine/<uid>/; the source is still in the work area, so the copy is
 * only litter. Every import of a batch removes those below its folders
 * before it moves anything (one import of a batch runs at a time, so none
 * is in progress; a first import finds no folder and costs one lstat). */
void imp_remove_partials(run *r) {
  const char *roots[] = {r->ctx->cfg->storage_dir, r->ctx->cfg->quarantine_dir};
  for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
    char *dir = si_path_join(roots[i], r->uid);
    size_t removed = 0;
    si_error e;
    if (dir && si_remove_partials(dir, partial_is_recorded, r, &removed, &e) != SI_OK)
      si_log(SI_LOG_WARN, "batch %s: %s", r->uid, e.message);
    if (removed)
      si_log(SI_LOG_INFO, "batch %s: removed %zu interrupted cross-filesystem copies below %s",
             r->uid, removed, dir);
    free(dir);
  }
}
