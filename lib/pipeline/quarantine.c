/* Reconciling the quarantine folder with its entries (see quarantine.h). */
#include "sendit/quarantine.h"
#include "sendit/strf.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/store.h"

/* The paths of a batch's entries relative to quarantine/<uid>/: files are
 * matched by their path below that folder, so that a quarantine folder
 * configured under another spelling still matches its entries (an entry
 * whose path does not pass through "/<uid>/" is matched by its last part). */
typedef struct names {
  const char *uid;
  char *prefix; /* quarantine/<uid>/ (owned) */
  char **items;
  size_t count, cap;
  int oom;
} names;

static const char *last_part(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* The part of an entry's path below its batch's folder: below `prefix`
 * (quarantine/<uid>/ as configured), else below the first "/<uid>/". */
static const char *below_batch(const names *n, const char *path) {
  if (strncmp(path, n->prefix, strlen(n->prefix)) == 0)
    return path + strlen(n->prefix);
  size_t len = strlen(n->uid);
  for (const char *p = strstr(path, n->uid); p; p = strstr(p + 1, n->uid))
    if (p > path && p[-1] == '/' && p[len] == '/' && p[len + 1])
      return p + len + 1;
  return last_part(path);
}

static int add_name(void *user, const char *path) {
  names *n = user;
  if (n->count == n->cap) {
    size_t cap = n->cap ? n->cap * 2 : 32;
    char **grown = realloc(n->items, cap * sizeof *grown);
    if (!grown) {
      n->oom = 1;
      return 1;
    }
    n->items = grown;
    n->cap = cap;
  }
  if (!(n->items[n->count] = strdup(below_batch(n, path)))) {
    n->oom = 1;
    return 1;
  }
  n->count++;
  return 0;
}

static int by_text(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether `rel` is an entry's, or lies below an entry that names a folder
 * (a folder set aside whole: its files are recorded with it). */
static int is_recorded(const names *known, const char *rel) {
  if (!known->count)
    return 0;
  char *key = strdup(rel);
  if (!key)
    return 1; /* not reconciled now: the next reconciling tries again */
  const char *k = key;
  int found = 0;
  for (char *slash = key; !found && slash;) {
    found = bsearch(&k, known->items, known->count, sizeof *known->items, by_text) != NULL;
    if ((slash = strrchr(key, '/')))
      *slash = 0;
  }
  free(key);
  return found;
}

static void free_names(names *n) {
  for (size_t i = 0; i < n->count; i++)
    free(n->items[i]);
  free(n->items);
  free(n->prefix);
}

static si_status record_found(si_db *db, const char *batch_uid, int64_t batch_id,
                              const si_file_entry *f, si_error *err) {
  si_status st =
      si_store_quarantine_add(db, batch_uid, f->path, f->relative, SI_QUARANTINE_FOUND_REASON, err);
  char *msg = si_strf("%s (now recorded as quarantined: %s)", SI_QUARANTINE_FOUND_REASON, f->path);
  if (!msg && st == SI_OK)
    st = si_error_set(err, SI_ERR_NOMEM, f->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (msg)
    si_log(SI_LOG_WARN, "batch %s: %s: %s", batch_uid, f->relative, msg);
  if (st == SI_OK && batch_id >= 0)
    st = si_store_batch_log(db, batch_id, "warning", f->relative, msg, err);
  free(msg);
  return st;
}

/* As si_quarantine_reconcile; with `create` set and no batch row
 * (*batch_id < 0), a batch is created for what is found, in ERROR (no
 * import is coming for it: its log says what was found), and *batch_id
 * gets its id. */
static si_status reconcile(si_db *db, const si_config *cfg, const char *batch_uid,
                           int64_t *batch_id, int create, int64_t *found, si_error *err) {
  if (found)
    *found = 0;
  char *dir = si_path_join(cfg->quarantine_dir, batch_uid);
  if (!dir)
    return si_error_set(err, SI_ERR_NOMEM, batch_uid, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  struct stat sb;
  if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    free(dir); /* nothing was ever set aside for this batch */
    return SI_OK;
  }
  si_file_list files = {0};
  si_status st = si_list_files(dir, &files, err);
  free(dir);
  if (st != SI_OK || files.count + files.other_count == 0) {
    si_file_list_free(&files);
    return st;
  }
  names known = {.uid = batch_uid};
  known.prefix = si_strf("%s/%s/", cfg->quarantine_dir, batch_uid);
  st = known.prefix
           ? si_store_quarantine_paths(db, batch_uid, add_name, &known, err)
           : si_error_set(err, SI_ERR_NOMEM, batch_uid, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK && known.oom)
    st = si_error_set(err, SI_ERR_NOMEM, batch_uid, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK && known.count > 1)
    qsort(known.items, known.count, sizeof *known.items, by_text);
  int64_t n = 0;
  /* Regular files, then what else was set aside (symlinks, FIFOs, ...:
   * set_aside_others moves them too, and a kill can orphan one as well). */
  size_t total = files.count + files.other_count;
  for (size_t i = 0; st == SI_OK && i < total; i++) {
    const si_file_entry *f = i < files.count ? &files.items[i] : &files.others[i - files.count];
    const char *name = f->relative;
    /* A copy cut short by a kill is no quarantined file: the batch's next
     * import removes it (si_remove_partials), so it gets no entry. Only
     * regular files are copies; sendit never keeps a file of that name
     * (the import sets such a file aside under another). */
    if (i < files.count && si_is_partial_name(last_part(name)))
      continue;
    if (is_recorded(&known, name))
      continue;
    if (*batch_id < 0 && create) {
      int reopened = 0;
      st = si_store_batch_begin(db, batch_uid, batch_id, &reopened, err);
      if (st == SI_OK)
        st = si_store_batch_set_status(db, batch_uid, "ERROR", err);
    }
    if (st == SI_OK)
      st = record_found(db, batch_uid, *batch_id, f, err);
    n++;
  }
  free_names(&known);
  si_file_list_free(&files);
  if (found)
    *found = n;
  return st;
}

si_status si_quarantine_reconcile(si_db *db, const si_config *cfg, const char *batch_uid,
                                  int64_t batch_id, int64_t *found, si_error *err) {
  return reconcile(db, cfg, batch_uid, &batch_id, 0, found, err);
}

/* One folder in its own transaction, behind its batch's lock. */
static si_status reconcile_folder(si_db *db, const si_config *cfg, const char *uid, int64_t *found,
                                  si_error *err) {
  si_status st = si_db_begin(db, err);
  int64_t batch_id = -1;
  int exists = 0, pending = 0, skip = 0;
  if (st == SI_OK)
    st = si_store_batch_lock_uid(db, uid, &batch_id, &exists, err);
  if (st == SI_OK && !exists)
    st = si_store_job_pending(db, uid, &pending, err);
  /* The batch's first import may be moving files into the folder right
   * now, with no batch row to lock yet: it reconciles when it runs again.
   * With no job to come, a batch is made for what is found, so that it
   * has a log that says so. */
  skip = !exists && pending;
  int64_t n = 0;
  if (st == SI_OK && !skip)
    st = reconcile(db, cfg, uid, &batch_id, 1, &n, err);
  if (st == SI_OK && n)
    st = si_store_batch_recount(db, batch_id, err);
  if (st == SI_OK)
    st = si_db_commit(db, err);
  else
    si_db_rollback(db);
  if (st == SI_OK && found)
    *found += n;
  return st;
}

si_status si_quarantine_reconcile_all(si_db *db, const si_config *cfg, int64_t *found,
                                      si_error *err) {
  if (found)
    *found = 0;
  DIR *d = opendir(cfg->quarantine_dir);
  if (!d)
    return SI_OK; /* no quarantine yet */
  si_status st = SI_OK;
  struct dirent *de;
  while (st == SI_OK && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    struct stat sb;
    if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(sb.st_mode))
      continue;
    st = reconcile_folder(db, cfg, de->d_name, found, err);
  }
  closedir(d);
  return st;
}
