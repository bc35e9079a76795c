/* Setting a file aside into quarantine/<batch uid>/ with its entry and a
 * log line, in the transaction that holds the batch's row (quarantine.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/fs.h"
#include "sendit/quarantine.h"
#include "sendit/strf.h"
#include "import_internal.h"

/* Moves a file out of the way into quarantine/<batch uid>/ and records why,
 * in that batch's log. The path it got goes to dst. */
si_status imp_quarantine_as(run *r, owner to, const si_file_entry *f, const char *level,
                            const char *reason, char *dst, size_t size, si_error *err) {
  const si_config *cfg = r->ctx->cfg;
  /* The batch's row is held before the move, in every transaction that
   * moves a file there (a chunk's after the first has not locked it yet),
   * so that no reconciling sees the file before its entry (quarantine.h). */
  int locked = 0;
  si_status st = si_store_batch_lock_id(r->ctx->db, to.id, NULL, &locked, err);
  if (st != SI_OK)
    return st;
  char *dir = si_path_join(cfg->quarantine_dir, to.uid);
  st = dir ? si_mkdir_p(dir, err)
           : si_error_set(err, SI_ERR_NOMEM, f->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  const char *base = strrchr(f->relative, '/');
  base = base ? base + 1 : f->relative;
  /* A name reserved for temporary copies gets a "_" before it, so that
   * nothing sendit keeps is ever taken for an interrupted copy. */
  const char *escape = si_is_partial_name(base) ? "_" : "";
  struct stat sb;
  for (int n = 0; st == SI_OK; n++) {
    int len = n == 0 ? snprintf(dst, size, "%s/%s%s", dir, escape, base)
                     : snprintf(dst, size, "%s/%s%s.%d", dir, escape, base, n);
    if (len < 0 || (size_t)len >= size) /* never a cut path: the file stays, and the log says why */
      st = si_error_set(err, SI_ERR_ARG, f->path, SI_NO_OFFSET, SI_NO_TAG,
                        "quarantine path too long (%d bytes)", len);
    else if (lstat(dst, &sb) != 0)
      break;
  }
  if (st == SI_OK)
    st = si_move_file(f->path, dst, err);
  free(dir);
  if (st != SI_OK && imp_waits_for_space(r, err)) {
    /* The file stays where it is; the import resumes once there is room. */
    r->res->no_space = 1;
    return imp_batch_log(r, "warning", f->relative,
                         "%s; not quarantined yet, for want of disk space (%s): the import waits",
                         reason, err->message);
  }
  if (st != SI_OK) {
    /* Could not even quarantine (permissions): leave the file where it is,
     * stop this import, and say so. */
    r->res->fatal = 1;
    return imp_batch_log(r, "error", f->relative, "%s; and it could not be quarantined: %s", reason,
                         err ? err->message : "");
  }
  if (to.id == r->batch_id)
    r->res->quarantined++;
  si_status dbst = si_store_quarantine_add(r->ctx->db, to.uid, dst, f->relative, reason, err);
  if (dbst == SI_OK && to.id == r->batch_id) {
    dbst = imp_batch_log(r, level, f->relative, "%s (quarantined as %s)", reason, dst);
  } else if (dbst == SI_OK) {
    char *msg = si_strf("%s (quarantined as %s)", reason, dst);
    dbst = msg ? imp_log_in(r, to.uid, to.id, level, f->relative, msg)
               : si_error_set(err, SI_ERR_NOMEM, f->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    free(msg);
  }
  return dbst;
}

/* Moves a file of this import into quarantine/<uid>/ and records why. */
si_status imp_quarantine(run *r, const si_file_entry *f, const char *level, const char *reason,
                         si_error *err) {
  char dst[SI_PATH_MAX];
  return imp_quarantine_as(r, (owner){r->uid, r->batch_id}, f, level, reason, dst, sizeof dst, err);
}
