/* The rules that decide a readable file: the modality allow-list, the
 * batch's consistency warnings, and what a known SOPInstanceUID means
 * (a resumed run's own row, a byte-identical copy, a conflicting one, the
 * keep-last replacement). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/fs.h"
#include "sendit/quarantine.h"
#include "sendit/strf.h"
#include "import_internal.h"

int imp_is_allowed_modality(const char *list, const char *modality) {
  if (!list || !list[0])
    return 1;
  size_t n = strlen(modality);
  for (const char *p = list; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    while (len && *p == ' ') {
      p++;
      len--;
    }
    while (len && p[len - 1] == ' ')
      len--;
    if (len == n && strncmp(p, modality, n) == 0)
      return 1;
    if (!comma)
      break;
    p = comma + 1;
  }
  return 0;
}

void imp_check_consistency(run *r, const si_file_entry *f, const si_image *img) {
  if (!r->first_patient[0] && img->patient_id[0]) {
    snprintf(r->first_patient, sizeof r->first_patient, "%s", img->patient_id);
  } else if (img->patient_id[0] && strcmp(r->first_patient, img->patient_id) != 0) {
    imp_batch_log(r, "error", f->relative, "PatientID '%s' differs from the batch's '%s'",
                  img->patient_id, r->first_patient);
  }
  if (!r->first_study[0]) {
    snprintf(r->first_study, sizeof r->first_study, "%s", img->study_uid);
  } else if (!r->warned_studies && strcmp(r->first_study, img->study_uid) != 0) {
    r->warned_studies = 1;
    imp_batch_log(r, "warning", f->relative, "batch holds more than one study (%s and %s)",
                  r->first_study, img->study_uid);
  }
}

/* The batch a known image belongs to, locked (quarantine.h): this import's
 * own, or another one's. */
static si_status owner_of(run *r, const si_image *known, owner *o, char *uid, si_error *err) {
  *o = (owner){r->uid, r->batch_id};
  if (known->batch_id == r->batch_id)
    return SI_OK;
  int found = 0;
  si_status st = si_store_batch_lock_id(r->ctx->db, known->batch_id, uid, &found, err);
  if (st == SI_OK && found)
    *o = (owner){uid, known->batch_id};
  return st;
}

/* Whether another batch's stored copy of a known image is gone from
 * storage while that batch is finished (not on its way: a running import
 * moves its files after its rows). After a crash between moving it to
 * quarantine (keep-last) and the commit, it is in quarantine/<its batch>/
 * without an entry: reconciled here, so it gets one. */
static si_status stored_copy_gone(run *r, const si_image *known, int *gone, si_error *err) {
  *gone = 0;
  struct stat sb;
  if (lstat(known->storage_path, &sb) == 0 || errno != ENOENT)
    return SI_OK;
  owner o;
  char uid[SI_NAME_MAX];
  si_status st = owner_of(r, known, &o, uid, err);
  si_batch b;
  int found = 0;
  if (st == SI_OK && o.id != r->batch_id)
    st = si_store_batch_get(r->ctx->db, o.uid, &b, &found, err);
  if (st != SI_OK || !found || !strcmp(b.status, SI_BATCH_PROCESSING) ||
      !strcmp(b.status, SI_BATCH_QUEUE) || lstat(known->storage_path, &sb) == 0)
    return st;
  *gone = 1;
  int64_t orphans = 0;
  return si_quarantine_reconcile(r->ctx->db, r->ctx->cfg, o.uid, o.id, &orphans, err);
}

/* keep-last: the stored copy goes to quarantine, filed under the batch it
 * came from, and the new one takes its place; both batches' logs say so and
 * the old batch's counts follow (the new one's are counted at its finish).
 * `gone`: the stored copy is not in storage any more (stored_copy_gone). */
static si_status keep_last(run *r, plan *p, si_image *img, const si_image *known, int gone,
                           si_error *err) {
  const si_file_entry *f = p->file;
  owner o;
  char uid[SI_NAME_MAX], dst[SI_PATH_MAX];
  si_status st = owner_of(r, known, &o, uid, err);
  if (st != SI_OK)
    return st;
  int other = o.id != r->batch_id;
  char *gone_note = NULL; /* where the stored copy went, when it is gone */
  if (gone) {
    gone_note = si_strf("(no longer in storage at %s)", known->storage_path);
    if (!gone_note)
      return si_error_set(err, SI_ERR_NOMEM, f->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  } else {
    si_file_entry old = {(char *)known->storage_path, (char *)known->original_name, 0};
    char *reason =
        other ? si_strf("replaced by a newer image with SOPInstanceUID %s (%s of batch %s)",
                        known->uid, f->relative, r->uid)
              : si_strf("replaced by a newer image with SOPInstanceUID %s", known->uid);
    st = reason
             ? imp_quarantine_as(r, o, &old, "warning", reason, dst, sizeof dst, err)
             : si_error_set(err, SI_ERR_NOMEM, f->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    free(reason);
    if (st != SI_OK || r->res->fatal || r->res->no_space) {
      p->act = ACT_NONE; /* the stored copy stays: so does its row */
      return st;
    }
  }
  const char *where = gone_note ? gone_note : dst;
  if (gone && other) {
    char *msg = si_strf("stored copy of image %s is gone %s: replaced by %s of batch %s",
                        known->uid, where, f->relative, r->uid);
    st = msg ? imp_log_in(r, o.uid, o.id, "warning", known->original_name, msg)
             : si_error_set(err, SI_ERR_NOMEM, f->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    free(msg);
  }
  img->id = known->id;
  p->act = ACT_MOVE;
  r->written_ahead += strcmp(img->status, SI_IMAGE_DONE) == 0;
  if (st == SI_OK)
    st = si_store_image_replace(r->ctx->db, img, err);
  if (st == SI_OK && other)
    st = imp_batch_log(r, "warning", f->relative,
                       "replaces image %s of batch %s, whose copy %s was set aside %s", known->uid,
                       o.uid, known->original_name, where);
  if (st == SI_OK && other)
    st = si_store_batch_recount(r->ctx->db, o.id, err);
  free(gone_note);
  return st;
}

/* The file of this import that a row of its batch was planned for, when
 * that is not `f`: the row's storage path is this import's `base` followed by
 * the file's relative path (image_of). NULL when there is none. */
static const si_file_entry *planned_for_other(const run *r, const si_file_entry *f,
                                              const char *storage_path) {
  size_t len = strlen(r->base);
  if (strncmp(storage_path, r->base, len) != 0 || storage_path[len] != '/')
    return NULL;
  si_file_entry key = {NULL, (char *)storage_path + len + 1, 0};
  const si_file_entry *hit =
      bsearch(&key, r->files.items, r->files.count, sizeof *r->files.items, si_file_entry_compare);
  return hit && hit != f ? hit : NULL;
}

/* Whether `f`, whose bytes are stored already as `known`, is the source of
 * that very copy, left behind by an interrupted move: across filesystems a
 * move copies, renames the copy into place and then unlinks the source, and
 * a kill in between leaves both. The row is this batch's, for this file
 * name, and was written after the batch last finished (by the import that
 * was interrupted, not by one that finished before: then the file is a copy
 * the sender sent again). */
static int left_behind_by_a_move(run *r, const si_file_entry *f, const si_image *known) {
  if (known->batch_id != r->batch_id || strcmp(known->original_name, f->relative) != 0)
    return 0;
  si_batch b;
  int found = 0;
  si_error err;
  if (si_store_batch_get(r->ctx->db, r->uid, &b, &found, &err) != SI_OK || !found)
    return 0; /* counted as a duplicate, as before */
  return b.finished_at <= 0 || known->created_at > b.finished_at;
}

/* The source copy of a finished move is removed, as a byte-identical copy
 * is, but it is no duplicate: the sender sent it once. */
static si_status drop_left_behind(run *r, plan *p, const si_image *known) {
  p->act = ACT_NONE;
  r->left_behind = 1;
  unlink(p->file->path);
  return imp_batch_log(r, "info", p->file->relative,
                       "stored as %s before an interruption; the source left behind is removed",
                       known->storage_path);
}

/* Decides what to do with a file whose SOPInstanceUID is already known.
 * `twin`: another file of this import that holds the uid (same_chunk, or
 * one whose row was written by an earlier chunk), still in the work area. */
si_status imp_plan_known(run *r, plan *p, si_image *img, const si_image *known,
                         const si_file_entry *twin, si_error *err) {
  const si_file_entry *f = p->file;
  struct stat sb;
  int own_unstored =
      !twin && known->batch_id == r->batch_id &&
      (strcmp(known->status, SI_IMAGE_NEW) == 0 || strcmp(known->status, SI_IMAGE_DONE) == 0) &&
      lstat(known->storage_path, &sb) != 0;
  /* A row of this batch whose file is not in storage may be one written for
   * another file of this import: an earlier chunk's rows are committed
   * before any file moves (and after a crash, so are the first copy's).
   * That file is a twin, decided as one in the same chunk is. */
  if (own_unstored)
    twin = planned_for_other(r, f, known->storage_path);
  if (own_unstored && !twin) {
    /* Our own interrupted import: the row was written (NEW, or DONE ahead of
     * its folder's rename) for this very file, the move was not. */
    char planned[SI_PATH_MAX];
    if (!imp_storage_path_for(r, f, planned, sizeof planned))
      return si_error_set(err, SI_ERR_STATE, f->path, SI_NO_OFFSET, SI_NO_TAG,
                          "storage path too long (it was set aside when listed)");
    *img = *known;
    p->act = ACT_MOVE;
    if (strcmp(known->status, SI_IMAGE_NEW) == 0)
      r->reused_new = 1;
    else
      r->written_ahead++;
    if (strcmp(planned, known->storage_path) == 0)
      return SI_OK;
    /* Planned elsewhere before (the storage layout changed meanwhile): the
     * file never moved, so the plan can follow this import's. */
    snprintf(img->storage_path, sizeof img->storage_path, "%s", planned);
    return si_store_image_replace(r->ctx->db, img, err);
  }
  const char *other = twin ? twin->path : known->storage_path;
  int stored_gone = 0;
  if (!twin && r->ctx->cfg->duplicate_policy == SI_DUP_KEEP_LAST &&
      known->batch_id != r->batch_id) {
    si_status st = stored_copy_gone(r, known, &stored_gone, err);
    if (st != SI_OK)
      return st;
  }
  if (stored_gone)
    return keep_last(r, p, img, known, 1, err);
  int same = si_files_equal(f->path, other, err);
  if (same == 1 && !twin && left_behind_by_a_move(r, f, known))
    return drop_left_behind(r, p, known);
  if (same == 1) {
    p->act = ACT_DROP_COPY;
    r->res->duplicates_ignored++;
    /* Its bytes are stored already: the only file sendit ever deletes. */
    unlink(f->path);
    return imp_batch_log(r, "info", f->relative, "byte-identical copy of %s ignored", known->uid);
  }
  /* Within one import the first file in listing order is kept under either
   * policy: keep-last replaces what an earlier import stored. */
  if (r->ctx->cfg->duplicate_policy == SI_DUP_KEEP_LAST && !twin && same == 0)
    return keep_last(r, p, img, known, 0, err);
  const char *kept = twin ? twin->relative : known->original_name;
  char *reason =
      same < 0 /* e.g. the kept copy is still on its way to storage (another worker's) */
          ? si_strf("duplicate SOPInstanceUID %s, not compared with the copy kept from %s: %s",
                    known->uid, kept, err->message)
          : si_strf("duplicate SOPInstanceUID %s with different content (kept the one from %s)",
                    known->uid, kept);
  p->act = ACT_NONE;
  si_status st =
      reason ? imp_quarantine(r, f, "error", reason, err)
             : si_error_set(err, SI_ERR_NOMEM, f->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  free(reason);
  return st;
}
