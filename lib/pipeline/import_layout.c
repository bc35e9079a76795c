/* Where an import's files go: storage/<uid> for a batch's first data,
 * storage/<uid>/<folder name>[.<n>] for late data, and the files whose path
 * there would be too long (or whose name is reserved), which are set aside
 * instead. */
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/fs.h"
#include "sendit/quarantine.h"
#include "import_internal.h"

/* Where a file of this import is stored: base/<path below the folder>.
 * Returns 0 when that does not fit in `size` (out is then no path). */
int imp_storage_path_for(const run *r, const si_file_entry *f, char *out, size_t size) {
  int n = snprintf(out, size, "%s/%s", r->base, f->relative);
  if (n >= 0 && (size_t)n < size)
    return 1;
  if (size)
    out[0] = 0;
  return 0;
}

/* The status new rows are written with. A folder that goes to storage in
 * one rename right after its rows are committed gets them DONE at once: it
 * saves updating every row after the move. Until the batch is finished a
 * row may then say DONE while its file is on its way; should the rename not
 * happen, the finish sets the rows back to NEW (reset_unmoved_rows), and a
 * crash in between leaves the job to run again and move the files, as for
 * rows written NEW (imp_plan_known). */
const char *imp_rows_status(const run *r) {
  return r->optimistic && r->folder_rename ? SI_IMAGE_DONE : SI_IMAGE_NEW;
}

/* Where late data goes: the batch's first import became storage/<uid>;
 * later data goes below it, named after the folder that brought it (for a
 * job, its work folder "job-<id>"), with ".<n>" added while that name is
 * taken: the first import's own subfolders may have any name, so a name is
 * used only once it is checked to be new (a resumed import that finds its
 * earlier place taken by its own files uses the next: its rows say where
 * each file is). Returns snprintf's count. */
static int late_data_base(run *r, const char *first) {
  const char *name = strrchr(r->folder, '/');
  name = name ? name + 1 : r->folder;
  struct stat sb;
  int n = snprintf(r->base, sizeof r->base, "%s/%s", first, name);
  for (int k = 1; n > 0 && (size_t)n < sizeof r->base && lstat(r->base, &sb) == 0; k++)
    n = k > LATE_NAME_TRIES ? -1
                            : snprintf(r->base, sizeof r->base, "%s/%.*s.%d", first,
                                       NAME_MAX - LATE_NAME_EXTRA, name, k);
  return n;
}

/* The batch row exists in the same transaction as the first rows: one
 * commit fewer per batch. (A job's claimed folder was recorded when it was
 * claimed, job.c.) */
si_status imp_open_batch(run *r, si_error *err) {
  int reopened = 0;
  si_status st = si_store_batch_begin(r->ctx->db, r->uid, &r->batch_id, &reopened, err);
  if (st != SI_OK)
    return st;
  si_batch b;
  int found;
  st = si_store_batch_get(r->ctx->db, r->uid, &b, &found, err);
  if (st != SI_OK)
    return st;
  struct stat sb;
  char first[SI_PATH_MAX];
  int n = snprintf(first, sizeof first, "%s/%s", r->ctx->cfg->storage_dir, r->uid);
  if (n >= 0 && (size_t)n < sizeof first)
    n = !b.reopened && lstat(first, &sb) != 0 ? snprintf(r->base, sizeof r->base, "%s", first)
                                              : late_data_base(r, first);
  if (n < 0 || (size_t)n >= sizeof r->base)
    return si_error_set(err, SI_ERR_ARG, r->folder, SI_NO_OFFSET, SI_NO_TAG,
                        "storage path too long");
  r->folder_rename = lstat(r->base, &sb) != 0;
  if (reopened)
    imp_batch_log(r, "info", NULL, "batch reopened: %" PRId64 " more files arrived",
                  r->res->files_seen);
  /* Files an interrupted run of this batch set aside without recording
   * them (quarantine.h); the batch's row is locked by now. */
  int64_t orphans = 0;
  st = si_quarantine_reconcile(r->ctx->db, r->ctx->cfg, r->uid, r->batch_id, &orphans, err);
  r->res->quarantined += orphans;
  return st;
}
/* Files whose storage path would pass SI_PATH_MAX (imp_storage_path_for would
 * cut it) join the entries set aside rather than be stored under a cut
 * path. The bound holds for the first import and for late data. So do
 * files named like a temporary copy (si_is_partial_name): stored under that
 * name, the sweep of interrupted copies (imp_remove_partials) could take them
 * for litter; imp_quarantine_as gives them another name. Returns 0 when out of
 * memory. */
int imp_set_aside_long_paths(run *r) {
  const char *name = strrchr(r->folder, '/');
  name = name ? name + 1 : r->folder;
  size_t fixed = strlen(r->ctx->cfg->storage_dir) + 1 + strlen(r->uid) + 1 + strlen(name) +
                 LATE_NAME_EXTRA + 1;
  si_file_list *l = &r->files;
  size_t kept = 0;
  for (size_t i = 0; i < l->count; i++) {
    const char *last = strrchr(l->items[i].relative, '/');
    int reserved = si_is_partial_name(last ? last + 1 : l->items[i].relative);
    if (!reserved && fixed + strlen(l->items[i].relative) < SI_PATH_MAX) {
      l->items[kept++] = l->items[i];
      continue;
    }
    si_file_entry *others = realloc(l->others, (l->other_count + 1) * sizeof *others);
    if (others)
      l->others = others;
    const char **kinds =
        others ? realloc(l->other_kinds, (l->other_count + 1) * sizeof *kinds) : NULL;
    if (kinds)
      l->other_kinds = kinds;
    if (!kinds) {
      memmove(&l->items[kept], &l->items[i], (l->count - i) * sizeof *l->items);
      l->count = kept + (l->count - i);
      return 0;
    }
    l->others[l->other_count] = l->items[i];
    l->other_kinds[l->other_count++] = reserved ? "name reserved for sendit's temporary copies"
                                                : "file with too long a path for storage";
  }
  l->count = kept;
  return 1;
}
