/* Import of one folder into one batch. See pipeline.h for the crash-safety
 * argument; the order of the steps below is what makes it hold. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sendit/dicom.h"
#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/pipeline.h"
#include "sendit/quarantine.h"
#include "readers.h"
#include "uid_set.h"

#define CHUNK_FILES 256
/* Headers held at once by imports that run together (plans of ~6.5 KB each). */
#define GROUP_FILES 2048
/* The longest a group's rows transaction stays open while its headers are
 * read, in ms: on slow storage the others wait at most this long for the
 * write lock (SQLite), and then one more commit. */
#define GROUP_TX_MS 1000
/* Names tried for late data beside ones taken (open_batch): ".1" to ".999". */
#define LATE_NAME_TRIES 999
/* What late data's name may add to a storage path: "/" + ".999". */
#define LATE_NAME_EXTRA 5

int si_folder_is_finished(const char *name) {
  if (!name[0] || name[0] == '.')
    return 0;
  for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.'))
    if (strncmp(dot + 1, "tmp", 3) == 0)
      return 0;
  return 1;
}

int64_t si_free_space_mb(const char *path) {
  struct statvfs vfs;
  if (statvfs(path, &vfs) != 0)
    return -1;
  return (int64_t)((uint64_t)vfs.f_bavail * vfs.f_frsize / (1024 * 1024));
}

/* What the header says that the import needs. */
typedef struct header_facts {
  char uid[SI_UID_MAX];
  char sop_class_uid[SI_UID_MAX];
  char study_uid[SI_UID_MAX];
  char series_uid[SI_UID_MAX];
  char patient_id[SI_NAME_MAX];
  char accession_number[SI_NAME_MAX];
  char modality[32];
  char study_date[16];
  int burned_in;
} header_facts;

static void get_text(const si_dataset *ds, uint32_t tag, char *dst, size_t size) {
  char *s = NULL;
  dst[0] = 0;
  if (si_get_string(ds, tag, SIZE_MAX, &s, NULL) == SI_OK && s)
    snprintf(dst, size, "%s", s);
  free(s);
}

/* The UIDs an image is filed under, each checked against PS3.5 9.1: a value
 * that is not a UID ("../../tmp/pwn", raw bytes) must not reach the
 * database, paths or pages. All three are required: Study and Series
 * Instance UID are Type 1 in every composite IOD, so a file without one is
 * most likely cut between two top-level elements (the reader cannot tell:
 * the shorter data set is complete), as a sender still writing leaves it. */
static const struct {
  uint32_t tag;
  const char *name;
  const char *absent; /* why a file without it is quarantined */
} checked_uids[] = {
    {SI_TAG(0x0008, 0x0018), "SOPInstanceUID", "not an image that can be stored"},
    {SI_TAG(0x0020, 0x000D), "StudyInstanceUID", NULL},
    {SI_TAG(0x0020, 0x000E), "SeriesInstanceUID", NULL},
};

#define INCOMPLETE "incomplete header: no %s (cut file?)"

/* Errors that are about the image's identity, not about reading it: SI_ERR_VALUE. */
static si_status read_uids(const char *path, const si_dataset *ds, header_facts *f, si_error *err) {
  char *fields[] = {f->uid, f->study_uid, f->series_uid}; /* in checked_uids' order */
  for (size_t i = 0; i < sizeof checked_uids / sizeof checked_uids[0]; i++) {
    char *dst = fields[i];
    const si_element *el = si_dataset_find(ds, checked_uids[i].tag);
    int empty = !el || (el->value_len == 0 && !(el->flags & SI_ELEM_VALUE_SKIPPED));
    if (empty && checked_uids[i].absent)
      return si_error_set(err, SI_ERR_VALUE, path, el ? el->offset : SI_NO_OFFSET,
                          checked_uids[i].tag, "no %s: %s", checked_uids[i].name,
                          checked_uids[i].absent);
    if (empty)
      return si_error_set(err, SI_ERR_VALUE, path, el ? el->offset : SI_NO_OFFSET,
                          checked_uids[i].tag, INCOMPLETE, checked_uids[i].name);
    si_error why;
    if (si_get_valid_uid(ds, checked_uids[i].tag, dst, &why) != SI_OK) {
      const char *said = why.message;
      if (strncmp(said, "not a valid UID: ", 17) == 0)
        said += 17;
      return si_error_set(err, SI_ERR_VALUE, path, el->offset, checked_uids[i].tag,
                          "%s is not a valid UID: %s", checked_uids[i].name, said);
    }
  }
  return SI_OK;
}

static si_status read_facts(const char *path, header_facts *f, si_error *err) {
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = 1;
  si_file *file;
  si_status st = si_read_file(path, &opts, &file, err);
  if (st != SI_OK)
    return st;
  const si_dataset *ds = si_file_dataset(file);
  memset(f, 0, sizeof *f);
  header_facts *img = f;
  st = read_uids(path, ds, img, err);
  if (st != SI_OK) {
    si_file_free(file);
    return st;
  }
  si_get_uid(ds, SI_TAG(0x0008, 0x0016), img->sop_class_uid, NULL);
  if (!img->sop_class_uid[0])
    si_get_uid(si_file_meta(file), SI_TAG(0x0002, 0x0002), img->sop_class_uid, NULL);
  get_text(ds, SI_TAG(0x0010, 0x0020), img->patient_id, sizeof img->patient_id);
  get_text(ds, SI_TAG(0x0008, 0x0050), img->accession_number, sizeof img->accession_number);
  get_text(ds, SI_TAG(0x0008, 0x0060), img->modality, sizeof img->modality);
  /* Modality is Type 1 too (General Series module, and its equivalents in
   * the other series modules): without it, the file is taken as cut, as
   * above; the allow-list could not judge it either. */
  if (!img->modality[0]) {
    si_file_free(file);
    return si_error_set(err, SI_ERR_VALUE, path, SI_NO_OFFSET, SI_TAG(0x0008, 0x0060), INCOMPLETE,
                        "Modality");
  }
  get_text(ds, SI_TAG(0x0008, 0x0020), img->study_date, sizeof img->study_date);
  char burned[16];
  get_text(ds, SI_TAG(0x0028, 0x0301), burned, sizeof burned);
  /* Only YES means burned-in text; the original also dropped "NO". */
  f->burned_in = strcmp(burned, "YES") == 0;
  si_file_free(file);
  return SI_OK;
}

/* Per-run state of one import. */
typedef struct run {
  si_import_context *ctx;
  int64_t job_id; /* -1 for a synchronous import */
  const char *uid;
  const char *folder;
  int64_t batch_id;
  int64_t started;
  si_file_list files;
  char list_problem[600];
  char base[SI_PATH_MAX]; /* where this import's files go: storage/<uid>[/<folder name>] */
  int folder_rename;      /* the whole folder can become `base` in one rename */
  /* New rows are written DONE (see rows_status): the import runs with
   * others (import_together), which move their folders right after. */
  int optimistic;
  int reused_new;        /* rows still NEW from an interrupted run are reused */
  int left_behind;       /* a file an interrupted run stored left its source (its row is NEW) */
  int64_t written_ahead; /* rows of files to move that say DONE already */
  int sync_base;         /* files were moved into `base`: its entries must reach the disk */
  int sync_parent;       /* `base` appeared in its parent: the parent's entries too */
  unsigned char *moves;  /* per listed file: 1 when it goes to storage */
  si_import_result *res;
  char first_patient[SI_NAME_MAX];
  char first_study[SI_UID_MAX];
  int warned_studies;
  int64_t last_heartbeat;
  /* How a known uid is found. Where a statement is cheap (SQLite), the
   * rows are inserted unless known, and the insert finds it; where it is
   * not (PostgreSQL: a round trip), the chunk's known uids are looked up in
   * one query first. */
  int insert_first;
  /* The chunk's new image rows (with insert_first: those that seem new),
   * written together once it is decided, several per statement. */
  si_image_values *fresh;
  struct plan **fresh_plans; /* the plan of each */
  char *fresh_paths;         /* their storage paths, one after another */
  size_t fresh_count, fresh_used, fresh_room;
} run;

static si_status log_in(run *r, const char *uid, int64_t batch_id, const char *level,
                        const char *file, const char *msg) {
  si_log(strcmp(level, "error") == 0 ? SI_LOG_ERROR : SI_LOG_INFO, "batch %s: %s%s%s", uid,
         file ? file : "", file ? ": " : "", msg);
  si_error e;
  return si_store_batch_log(r->ctx->db, batch_id, level, file, msg, &e);
}

static si_status batch_log(run *r, const char *level, const char *file, const char *fmt, ...)
    SI_PRINTF(4, 5);
static si_status batch_log(run *r, const char *level, const char *file, const char *fmt, ...) {
  char msg[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return log_in(r, r->uid, r->batch_id, level, file, msg);
}

/* Whether a failed move failed for want of space (ENOSPC, EDQUOT): then
 * the import pauses rather than fails (si_import_result.no_space). The
 * error carries the reason as text only (fs.c words it with strerror). */
static int for_want_of_space(const si_error *e) {
  return e && (strstr(e->message, strerror(ENOSPC)) || strstr(e->message, strerror(EDQUOT)));
}

/* Only a job can wait for space: a synchronous import (sendit
 * import_dicomdir) has no queue to go back to, and fails as before. */
static int waits_for_space(const run *r, const si_error *e) {
  return r->job_id >= 0 && for_want_of_space(e);
}

/* A batch that a file is set aside for: this import's, or the batch whose
 * image it replaces (keep-last), which must then be locked (quarantine.h). */
typedef struct owner {
  const char *uid;
  int64_t id;
} owner;

/* Moves a file out of the way into quarantine/<batch uid>/ and records why,
 * in that batch's log. The path it got goes to dst. */
static si_status quarantine_as(run *r, owner to, const si_file_entry *f, const char *level,
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
  st = dir ? si_mkdir_p(dir, err) : SI_ERR_NOMEM;
  const char *base = strrchr(f->relative, '/');
  base = base ? base + 1 : f->relative;
  /* A name reserved for temporary copies gets a "_" before it, so that
   * nothing sendit keeps is ever taken for an interrupted copy. */
  const char *escape = si_is_partial_name(base) ? "_" : "";
  struct stat sb;
  for (int n = 0; st == SI_OK; n++) {
    if (n == 0)
      snprintf(dst, size, "%s/%s%s", dir, escape, base);
    else
      snprintf(dst, size, "%s/%s%s.%d", dir, escape, base, n);
    if (lstat(dst, &sb) != 0)
      break;
  }
  if (st == SI_OK)
    st = si_move_file(f->path, dst, err);
  free(dir);
  if (st != SI_OK && waits_for_space(r, err)) {
    /* The file stays where it is; the import resumes once there is room. */
    r->res->no_space = 1;
    return batch_log(r, "warning", f->relative,
                     "%s; not quarantined yet, for want of disk space (%s): the import waits",
                     reason, err->message);
  }
  if (st != SI_OK) {
    /* Could not even quarantine (permissions): leave the file where it is,
     * stop this import, and say so. */
    r->res->fatal = 1;
    return batch_log(r, "error", f->relative, "%s; and it could not be quarantined: %s", reason,
                     err ? err->message : "");
  }
  if (to.id == r->batch_id)
    r->res->quarantined++;
  si_status dbst = si_store_quarantine_add(r->ctx->db, to.uid, dst, f->relative, reason, err);
  if (dbst == SI_OK && to.id == r->batch_id) {
    dbst = batch_log(r, level, f->relative, "%s (quarantined as %s)", reason, dst);
  } else if (dbst == SI_OK) {
    char msg[SI_PATH_MAX + 1200];
    snprintf(msg, sizeof msg, "%s (quarantined as %s)", reason, dst);
    dbst = log_in(r, to.uid, to.id, level, f->relative, msg);
  }
  return dbst;
}

/* Moves a file of this import into quarantine/<uid>/ and records why. */
static si_status quarantine(run *r, const si_file_entry *f, const char *level, const char *reason,
                            si_error *err) {
  char dst[SI_PATH_MAX];
  return quarantine_as(r, (owner){r->uid, r->batch_id}, f, level, reason, dst, sizeof dst, err);
}

typedef enum action { ACT_NONE, ACT_MOVE, ACT_DROP_COPY } action;

/* A file's plan is kept small (~0.9 KB): a chunk's plans are written for
 * every file, and big ones cost page faults and cache misses per file. */
typedef struct plan {
  const si_file_entry *file;
  header_facts facts;
  int readable;
  char *problem;   /* why the file is unreadable (owned) */
  int maybe_known; /* its uid has a row already: look it up */
  int maybe_twin;  /* an earlier file of the chunk has the same uid */
  action act;
} plan;

static int is_allowed_modality(const char *list, const char *modality) {
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

static void check_consistency(run *r, const si_file_entry *f, const si_image *img) {
  if (!r->first_patient[0] && img->patient_id[0]) {
    snprintf(r->first_patient, sizeof r->first_patient, "%s", img->patient_id);
  } else if (img->patient_id[0] && strcmp(r->first_patient, img->patient_id) != 0) {
    batch_log(r, "error", f->relative, "PatientID '%s' differs from the batch's '%s'",
              img->patient_id, r->first_patient);
  }
  if (!r->first_study[0]) {
    snprintf(r->first_study, sizeof r->first_study, "%s", img->study_uid);
  } else if (!r->warned_studies && strcmp(r->first_study, img->study_uid) != 0) {
    r->warned_studies = 1;
    batch_log(r, "warning", f->relative, "batch holds more than one study (%s and %s)",
              r->first_study, img->study_uid);
  }
}

/* Where a file of this import is stored: base/<path below the folder>. */
static void storage_path_for(const run *r, const si_file_entry *f, char *out, size_t size) {
  snprintf(out, size, "%s/%s", r->base, f->relative);
}

/* The status new rows are written with. A folder that goes to storage in
 * one rename right after its rows are committed gets them DONE at once: it
 * saves updating every row after the move. Until the batch is finished a
 * row may then say DONE while its file is on its way; should the rename not
 * happen, the finish sets the rows back to NEW (reset_unmoved_rows), and a
 * crash in between leaves the job to run again and move the files, as for
 * rows written NEW (plan_known). */
static const char *rows_status(const run *r) {
  return r->optimistic && r->folder_rename ? SI_IMAGE_DONE : SI_IMAGE_NEW;
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
  if (gone) {
    snprintf(dst, sizeof dst, "(no longer in storage at %s)", known->storage_path);
  } else {
    char reason[1024];
    si_file_entry old = {(char *)known->storage_path, (char *)known->original_name, 0};
    if (other)
      snprintf(reason, sizeof reason,
               "replaced by a newer image with SOPInstanceUID %s (%s of batch %s)", known->uid,
               f->relative, r->uid);
    else
      snprintf(reason, sizeof reason, "replaced by a newer image with SOPInstanceUID %s",
               known->uid);
    st = quarantine_as(r, o, &old, "warning", reason, dst, sizeof dst, err);
    if (st != SI_OK || r->res->fatal || r->res->no_space) {
      p->act = ACT_NONE; /* the stored copy stays: so does its row */
      return st;
    }
  }
  if (gone && other) {
    char msg[SI_PATH_MAX + 400];
    snprintf(msg, sizeof msg, "stored copy of image %s is gone %s: replaced by %s of batch %s",
             known->uid, dst, f->relative, r->uid);
    st = log_in(r, o.uid, o.id, "warning", known->original_name, msg);
  }
  img->id = known->id;
  p->act = ACT_MOVE;
  r->written_ahead += strcmp(img->status, SI_IMAGE_DONE) == 0;
  if (st == SI_OK)
    st = si_store_image_replace(r->ctx->db, img, err);
  if (st == SI_OK && other)
    st = batch_log(r, "warning", f->relative,
                   "replaces image %s of batch %s, whose copy %s was set aside %s", known->uid,
                   o.uid, known->original_name, dst);
  if (st == SI_OK && other)
    st = si_store_batch_recount(r->ctx->db, o.id, err);
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
  return batch_log(r, "info", p->file->relative,
                   "stored as %s before an interruption; the source left behind is removed",
                   known->storage_path);
}

/* Decides what to do with a file whose SOPInstanceUID is already known.
 * `twin`: another file of this import that holds the uid (same_chunk, or
 * one whose row was written by an earlier chunk), still in the work area. */
static si_status plan_known(run *r, plan *p, si_image *img, const si_image *known,
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
    storage_path_for(r, f, planned, sizeof planned);
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
    return batch_log(r, "info", f->relative, "byte-identical copy of %s ignored", known->uid);
  }
  char reason[1024];
  const char *kept = twin ? twin->relative : known->original_name;
  if (same < 0) /* e.g. the kept copy is still on its way to storage (another worker's) */
    snprintf(reason, sizeof reason,
             "duplicate SOPInstanceUID %s, not compared with the copy kept from %s: %s", known->uid,
             kept, err->message);
  else
    snprintf(reason, sizeof reason,
             "duplicate SOPInstanceUID %s with different content (kept the one from %s)",
             known->uid, kept);
  /* Within one import the first file in listing order is kept under either
   * policy: keep-last replaces what an earlier import stored. */
  if (r->ctx->cfg->duplicate_policy == SI_DUP_KEEP_LAST && !twin && same == 0)
    return keep_last(r, p, img, known, 0, err);
  p->act = ACT_NONE;
  return quarantine(r, f, "error", reason, err);
}

static const plan *find_in_chunk(const plan *plans, size_t n, const char *uid) {
  for (size_t i = 0; i < n; i++)
    if (plans[i].act == ACT_MOVE && strcmp(plans[i].facts.uid, uid) == 0)
      return &plans[i];
  return NULL;
}

static void read_one(plan *p, const si_file_entry *file) {
  memset(p, 0, sizeof *p);
  p->file = file;
  si_error perr;
  si_error_clear(&perr);
  if (read_facts(p->file->path, &p->facts, &perr) != SI_OK) {
    char detail[1100], problem[1200];
    /* A readable file without a usable identity is not "unreadable". */
    snprintf(problem, sizeof problem, "%s%s",
             perr.code == SI_ERR_VALUE ? "" : "not readable as DICOM: ",
             si_error_format(&perr, detail, sizeof detail));
    p->problem = strdup(problem);
    return;
  }
  p->readable = 1;
}

/* Reads the headers of a chunk: no database, no lock held. */
static void read_chunk(const si_file_list *files, size_t from, size_t to, plan *plans) {
  for (size_t i = from; i < to; i++)
    read_one(&plans[i - from], &files->items[i]);
}

typedef struct chunk_reads {
  const si_file_list *files;
  size_t from;
  plan *plans;
} chunk_reads;

static void read_file_of_chunk(void *user, size_t i) {
  chunk_reads *c = user;
  read_one(&c->plans[i], &c->files->items[c->from + i]);
}

/* The same on the reader threads, for a big folder's chunks. */
static void read_chunk_on_all_cores(const si_file_list *files, size_t from, size_t to,
                                    plan *plans) {
  chunk_reads c = {files, from, plans};
  si_readers_run_all(to - from, si_readers_default_helpers(), read_file_of_chunk, &c);
}

static void free_problems(plan *plans, size_t n) {
  for (size_t i = 0; plans && i < n; i++) {
    free(plans[i].problem);
    plans[i].problem = NULL;
  }
}

static void free_plans(plan *plans, size_t n) {
  free_problems(plans, n);
  free(plans);
}

/* The row a readable file gets. */
static void image_of(const run *r, const plan *p, si_image *img) {
  const header_facts *f = &p->facts;
  memset(img, 0, sizeof *img);
  memcpy(img->uid, f->uid, sizeof img->uid);
  memcpy(img->sop_class_uid, f->sop_class_uid, sizeof img->sop_class_uid);
  memcpy(img->study_uid, f->study_uid, sizeof img->study_uid);
  memcpy(img->series_uid, f->series_uid, sizeof img->series_uid);
  memcpy(img->patient_id, f->patient_id, sizeof img->patient_id);
  memcpy(img->accession_number, f->accession_number, sizeof img->accession_number);
  memcpy(img->modality, f->modality, sizeof img->modality);
  memcpy(img->study_date, f->study_date, sizeof img->study_date);
  img->batch_id = r->batch_id;
  img->size_bytes = p->file->size;
  snprintf(img->status, sizeof img->status, "%s", rows_status(r));
  snprintf(img->original_name, sizeof img->original_name, "%s", p->file->relative);
  storage_path_for(r, p->file, img->storage_path, sizeof img->storage_path);
}

static si_status write_fresh_rows(run *r, si_error *err);

/* Step 3 for one file, inside the chunk's transaction. */
static si_status decide(run *r, plan *p, const plan *earlier, size_t n_earlier, si_error *err) {
  if (!p->readable)
    return quarantine(r, p->file, "error", p->problem ? p->problem : "not readable", err);
  const si_config *cfg = r->ctx->cfg;
  if (cfg->skip_burned_in && p->facts.burned_in) {
    r->res->skipped++;
    return quarantine(r, p->file, "warning", "skipped: BurnedInAnnotation is YES", err);
  }
  if (!is_allowed_modality(cfg->modalities, p->facts.modality)) {
    r->res->skipped++;
    char why[128];
    snprintf(why, sizeof why, "skipped: modality '%s' is not in the allow-list", p->facts.modality);
    return quarantine(r, p->file, "warning", why, err);
  }
  si_image img;
  image_of(r, p, &img);
  check_consistency(r, p->file, &img);
  /* Whether an earlier file of the chunk took this uid is known once the
   * rows that seemed new are in. */
  si_status st = p->maybe_twin && r->insert_first ? write_fresh_rows(r, err) : SI_OK;
  if (st != SI_OK)
    return st;
  const plan *twin = p->maybe_twin ? find_in_chunk(earlier, n_earlier, img.uid) : NULL;
  if (twin) {
    si_image known;
    memset(&known, 0, sizeof known);
    snprintf(known.uid, sizeof known.uid, "%s", img.uid);
    return plan_known(r, p, &img, &known, twin->file, err);
  }
  const header_facts *f = &p->facts;
  si_image_values row = {.uid = f->uid,
                         .batch_id = r->batch_id,
                         .status = rows_status(r),
                         .storage_path = img.storage_path,
                         .original_name = p->file->relative,
                         .size_bytes = p->file->size,
                         .patient_id = f->patient_id,
                         .accession_number = f->accession_number,
                         .study_uid = f->study_uid,
                         .series_uid = f->series_uid,
                         .sop_class_uid = f->sop_class_uid,
                         .modality = f->modality,
                         .study_date = f->study_date};
  si_image known;
  int found = 0;
  if (!r->insert_first && p->maybe_known)
    st = si_store_image_get(r->ctx->db, img.uid, &known, &found, err);
  if (st != SI_OK)
    return st;
  if (found)
    return plan_known(r, p, &img, &known, NULL, err);
  p->act = ACT_MOVE;
  /* Written with the chunk's other new rows (write_fresh_rows); the facts
   * it points to live as long as the chunk's plans. */
  size_t len = strlen(img.storage_path) + 1;
  if (r->fresh_used + len > r->fresh_room)
    return si_error_set(err, SI_ERR_STATE, p->file->path, SI_NO_OFFSET, SI_NO_TAG,
                        "storage path longer than planned");
  row.storage_path = memcpy(r->fresh_paths + r->fresh_used, img.storage_path, len);
  r->fresh_used += len;
  r->fresh_plans[r->fresh_count] = p;
  r->fresh[r->fresh_count++] = row;
  r->written_ahead += strcmp(row.status, SI_IMAGE_DONE) == 0;
  return SI_OK;
}

/* Room for the new rows of a chunk of n plans. */
static si_status plan_fresh_rows(run *r, const plan *plans, size_t n, si_error *err) {
  size_t room = 0, base = strlen(r->base);
  for (size_t i = 0; i < n; i++)
    room += base + 2 + strlen(plans[i].file->relative);
  r->fresh = malloc((n ? n : 1) * sizeof *r->fresh);
  r->fresh_plans = malloc((n ? n : 1) * sizeof *r->fresh_plans);
  r->fresh_paths = malloc(room ? room : 1);
  r->fresh_count = r->fresh_used = 0;
  r->fresh_room = room;
  if (r->fresh && r->fresh_plans && r->fresh_paths)
    return SI_OK;
  return si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
}

static void free_fresh_rows(run *r) {
  free(r->fresh);
  free(r->fresh_plans);
  free(r->fresh_paths);
  r->fresh = NULL;
  r->fresh_plans = NULL;
  r->fresh_paths = NULL;
  r->fresh_count = 0;
}

/* The rows that seemed new, inserted one by one: a known uid is decided as
 * plan_known decides, the others are written. */
static si_status insert_or_decide(run *r, si_error *err) {
  si_status st = SI_OK;
  for (size_t k = 0; st == SI_OK && k < r->fresh_count; k++) {
    int inserted = 0, found = 0;
    st = si_store_image_insert_new(r->ctx->db, &r->fresh[k], &inserted, err);
    if (st != SI_OK || inserted)
      continue;
    plan *p = r->fresh_plans[k];
    r->written_ahead -= strcmp(r->fresh[k].status, SI_IMAGE_DONE) == 0;
    si_image img, known;
    image_of(r, p, &img);
    st = si_store_image_get(r->ctx->db, img.uid, &known, &found, err);
    if (st == SI_OK && !found)
      st = si_error_set(err, SI_ERR_STATE, p->file->path, SI_NO_OFFSET, SI_NO_TAG,
                        "image %s was neither inserted nor found", img.uid);
    if (st == SI_OK)
      st = plan_known(r, p, &img, &known, NULL, err);
  }
  return st;
}

/* Writes the chunk's new rows decided so far. With insert_first they were
 * only thought new: they go in together when none is known (the usual
 * case), else one by one. */
static si_status write_fresh_rows(run *r, si_error *err) {
  si_status st = SI_OK;
  size_t n = r->fresh_count;
  if (n && r->insert_first) {
    int all = 0;
    st = si_store_image_insert_all_new(r->ctx->db, r->fresh, n, &all, err);
    if (st == SI_OK && !all)
      st = insert_or_decide(r, err);
  } else if (n) {
    st = si_store_image_insert_many(r->ctx->db, r->fresh, n, err);
  }
  r->fresh_count = r->fresh_used = 0;
  return st;
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
static si_status open_batch(run *r, si_error *err) {
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
  snprintf(first, sizeof first, "%s/%s", r->ctx->cfg->storage_dir, r->uid);
  int n = !b.reopened && lstat(first, &sb) != 0 ? snprintf(r->base, sizeof r->base, "%s", first)
                                                : late_data_base(r, first);
  if (n < 0 || (size_t)n >= sizeof r->base)
    return si_error_set(err, SI_ERR_ARG, r->folder, SI_NO_OFFSET, SI_NO_TAG,
                        "storage path too long");
  r->folder_rename = lstat(r->base, &sb) != 0;
  if (reopened)
    batch_log(r, "info", NULL, "batch reopened: %" PRId64 " more files arrived",
              r->res->files_seen);
  /* Files an interrupted run of this batch set aside without recording
   * them (quarantine.h); the batch's row is locked by now. */
  int64_t orphans = 0;
  st = si_quarantine_reconcile(r->ctx->db, r->ctx->cfg, r->uid, r->batch_id, &orphans, err);
  r->res->quarantined += orphans;
  return st;
}

typedef struct chunk_lookup {
  plan *plans;
  size_t n;
} chunk_lookup;

static int mark_known(void *user, int ncols, const char *const *v) {
  chunk_lookup *l = user;
  for (size_t i = 0; ncols > 0 && v[0] && i < l->n; i++)
    if (l->plans[i].readable && strcmp(l->plans[i].facts.uid, v[0]) == 0)
      l->plans[i].maybe_known = 1;
  return 0;
}

static int by_uid_then_position(const void *a, const void *b) {
  const plan *pa = *(const plan *const *)a, *pb = *(const plan *const *)b;
  int c = strcmp(pa->facts.uid, pb->facts.uid);
  return c ? c : (pa > pb) - (pa < pb);
}

/* Marks the files whose uid an earlier file of the chunk has: sorting
 * finds them in n log n, where comparing each file with all earlier ones
 * took n^2 / 2 string comparisons per chunk. */
static void mark_twins(plan *plans, size_t n) {
  const plan *sorted[CHUNK_FILES];
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    plans[i].maybe_twin = 0;
    if (plans[i].readable && plans[i].facts.uid[0])
      sorted[count++] = &plans[i];
  }
  qsort(sorted, count, sizeof sorted[0], by_uid_then_position);
  for (size_t i = 1; i < count; i++)
    if (strcmp(sorted[i]->facts.uid, sorted[i - 1]->facts.uid) == 0)
      plans[sorted[i] - plans].maybe_twin = 1;
}

/* Which uids of the chunk have rows already, in one query: most files are
 * new, and a lookup per file would cost a round trip each on PostgreSQL.
 * The statement always has CHUNK_FILES parameters (the last uid repeats)
 * so that it is prepared once. */
static si_status find_known_uids(si_db *db, plan *plans, size_t n, si_error *err) {
  const char *params[CHUNK_FILES];
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    plans[i].maybe_known = 0;
    if (plans[i].readable && plans[i].facts.uid[0])
      params[count++] = plans[i].facts.uid;
  }
  if (count == 0)
    return SI_OK;
  for (int i = count; i < CHUNK_FILES; i++)
    params[i] = params[count - 1];
  char sql[48 + CHUNK_FILES * 6];
  int len = snprintf(sql, sizeof sql, "SELECT uid FROM image WHERE uid IN (");
  for (int i = 1; i <= CHUNK_FILES; i++)
    len += snprintf(sql + len, sizeof sql - (size_t)len, i > 1 ? ", $%d" : "$%d", i);
  snprintf(sql + len, sizeof sql - (size_t)len, ")");
  chunk_lookup l = {plans, n};
  return si_db_exec(db, sql, CHUNK_FILES, params, mark_known, &l, NULL, err);
}

/* The first statement of each chunk's transaction renews the job's lease,
 * which fences the chunk: on PostgreSQL the job's row stays locked until the
 * commit, so no claim can take the job over in between (SQLite's single
 * writer does the same), and a worker whose lease already ran out writes
 * nothing. Sets lease_lost instead of failing. */
static si_status renew_lease_in_tx(run *r, si_error *err) {
  si_import_context *ctx = r->ctx;
  if (r->job_id < 0)
    return SI_OK;
  int64_t now = si_now_ms();
  si_status st = si_store_heartbeat(ctx->db, r->job_id, ctx->worker, ctx->cfg->lease_seconds, err);
  if (st == SI_OK)
    r->last_heartbeat = now;
  if (st != SI_ERR_STATE)
    return st;
  r->res->lease_lost = 1;
  si_log(SI_LOG_WARN, "job %" PRId64 " (batch %s): %s; stopping this import", r->job_id, r->uid,
         err->message);
  return SI_OK;
}

/* Step 3 for a chunk, inside a transaction the caller holds (it may hold
 * other imports' chunks too). A lost lease writes nothing and is no error. */
static si_status plan_chunk_in_tx(run *r, plan *plans, size_t n, size_t from, si_error *err) {
  si_db *db = r->ctx->db;
  si_status st = renew_lease_in_tx(r, err);
  if (st != SI_OK || r->res->lease_lost)
    return st;
  if (r->batch_id < 0)
    st = open_batch(r, err);
  if (st == SI_OK && !r->insert_first)
    st = find_known_uids(db, plans, n, err);
  mark_twins(plans, n);
  if (st == SI_OK)
    st = plan_fresh_rows(r, plans, n, err);
  for (size_t i = 0; st == SI_OK && i < n; i++)
    st = decide(r, &plans[i], plans, i, err);
  if (st == SI_OK)
    st = write_fresh_rows(r, err);
  free_fresh_rows(r);
  /* Known only now: a row that seemed new may have been known. */
  for (size_t i = 0; st == SI_OK && i < n; i++)
    r->moves[from + i] = plans[i].act == ACT_MOVE;
  return st;
}

/* Relaxed where si_db_sync follows before the moves (import_alone). */
static si_status plan_chunk(run *r, plan *plans, size_t n, size_t from, si_error *err) {
  si_db *db = r->ctx->db;
  si_status st = si_db_can_sync(db) ? si_db_begin_relaxed(db, err) : si_db_begin(db, err);
  if (st == SI_OK)
    st = plan_chunk_in_tx(r, plans, n, from, err);
  if (st == SI_OK && !r->res->lease_lost)
    return si_db_commit(db, err);
  si_db_rollback(db);
  return st;
}

/* Renews the lease a third of the way through it. Returns 0 once the lease
 * is lost: then the import must stop touching the job's files and rows. A
 * database error is not a lost lease: the next beat tries again. */
static int heartbeat_if_due(run *r) {
  si_import_context *ctx = r->ctx;
  int64_t now = si_now_ms();
  if (r->res->lease_lost)
    return 0;
  if (r->job_id < 0 || now - r->last_heartbeat < (int64_t)ctx->cfg->lease_seconds * 1000 / 3)
    return 1;
  si_error err;
  si_status st = si_store_heartbeat(ctx->db, r->job_id, ctx->worker, ctx->cfg->lease_seconds, &err);
  if (st == SI_OK) {
    r->last_heartbeat = now;
  } else if (st == SI_ERR_STATE) {
    r->res->lease_lost = 1;
    si_log(SI_LOG_WARN, "job %" PRId64 " (batch %s): %s; stopping this import", r->job_id, r->uid,
           err.message);
    return 0;
  }
  return 1;
}

static si_status mkdir_parent(const char *path, si_error *err) {
  char dir[SI_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    return SI_OK;
  *slash = 0;
  return si_mkdir_p(dir, err);
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
      st = open_batch(r, &err);
    st = st == SI_OK ? si_db_commit(r->ctx->db, &err) : (si_db_rollback(r->ctx->db), st);
  }
  for (size_t i = 0; st == SI_OK && i < files->other_count && !r->res->fatal; i++) {
    char reason[160];
    snprintf(reason, sizeof reason, "skipped: %s (not imported, not followed)",
             files->other_kinds[i]);
    r->res->skipped++;
    /* Each move and its entry in one transaction that holds the batch's
     * row (quarantine_as locks it), as a chunk's are: no reconciling sees
     * the file before its entry, and a kill in between leaves it for
     * reconciling (quarantine.h). */
    st = si_db_begin(r->ctx->db, &err);
    if (st == SI_OK)
      st = quarantine(r, &files->others[i], "warning", reason, &err);
    st = st == SI_OK ? si_db_commit(r->ctx->db, &err) : (si_db_rollback(r->ctx->db), st);
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
 * entries changed are marked for sync_moves. */
static void move_files(run *r, const si_file_list *files) {
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
      if (!heartbeat_if_due(r))
        return;
      char dst[SI_PATH_MAX];
      storage_path_for(r, &files->items[i], dst, sizeof dst);
      if (mkdir_parent(dst, &ferr) != SI_OK ||
          si_move_file(files->items[i].path, dst, &ferr) != SI_OK) {
        int full = waits_for_space(r, &ferr);
        if (full) {
          r->res->no_space = 1;
        } else {
          r->res->fatal = 1;
        }
        batch_log(r, full ? "warning" : "error", files->items[i].relative, "cannot store%s: %s",
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
static void sync_moves(run **runs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    run *r = runs[i];
    size_t len = parent_length(r->base);
    int parent_done = !r->sync_parent;
    for (size_t k = 0; k < i && !parent_done; k++)
      parent_done = runs[k]->sync_parent && parent_length(runs[k]->base) == len &&
                    memcmp(runs[k]->base, r->base, len) == 0;
    si_error ferr;
    char parent[SI_PATH_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)len, r->base);
    if ((r->sync_base && si_fsync_dir(r->base, &ferr) != SI_OK) ||
        (!parent_done && si_fsync_dir(parent, &ferr) != SI_OK))
      batch_log(r, "warning", NULL, "%s", ferr.message);
  }
}

/* One row per StudyDate of the batch: all its images for the histogram
 * (a missing date counts as "unknown"), those stored for the totals. */
typedef struct batch_tally {
  si_batch *batch;
  json_t *histogram;
} batch_tally;

static int tally_row(void *user, int ncols, const char *const *v) {
  batch_tally *t = user;
  if (ncols < 4)
    return 1;
  const char *date = v[0] && v[0][0] ? v[0] : "unknown";
  json_int_t before = json_integer_value(json_object_get(t->histogram, date));
  json_object_set_new(t->histogram, date,
                      json_integer(before + strtoll(v[1] ? v[1] : "0", NULL, 10)));
  t->batch->image_count += v[2] ? strtoll(v[2], NULL, 10) : 0;
  t->batch->size_bytes += v[3] ? strtoll(v[3], NULL, 10) : 0;
  return 0;
}

typedef struct pending_row {
  char uid[SI_UID_MAX];
  char path[SI_PATH_MAX];
} pending_row;

typedef struct pending_rows {
  pending_row *rows;
  size_t count, cap;
} pending_rows;

static int collect_pending(void *user, int ncols, const char *const *v) {
  pending_rows *p = user;
  if (ncols < 2 || !v[0] || !v[1])
    return 0;
  if (p->count == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    pending_row *grown = realloc(p->rows, cap * sizeof *grown);
    if (!grown)
      return 1;
    p->rows = grown;
    p->cap = cap;
  }
  snprintf(p->rows[p->count].uid, SI_UID_MAX, "%s", v[0]);
  snprintf(p->rows[p->count].path, SI_PATH_MAX, "%s", v[1]);
  p->count++;
  return 0;
}

/* The batch's rows that select_sql picks ($1 the batch; $2, when nparams
 * is 2, `base` + "/") whose file is in storage (stored = 1) or is not
 * (stored = 0) get status `to`; *changed counts them, *kept the others
 * (either may be NULL). */
static si_status restatus_rows(run *r, const char *select_sql, int nparams, int stored,
                               const char *to, int64_t *changed, int64_t *kept, si_error *err) {
  char id_s[24], prefix[SI_PATH_MAX + 1];
  snprintf(id_s, sizeof id_s, "%" PRId64, r->batch_id);
  snprintf(prefix, sizeof prefix, "%s/", r->base);
  const char *params[] = {id_s, prefix};
  pending_rows rows = {0};
  si_status st =
      si_db_exec(r->ctx->db, select_sql, nparams, params, collect_pending, &rows, NULL, err);
  for (size_t i = 0; st == SI_OK && i < rows.count; i++) {
    struct stat sb;
    if ((lstat(rows.rows[i].path, &sb) == 0) != stored) {
      if (kept)
        (*kept)++;
      continue;
    }
    const char *change[] = {to, rows.rows[i].uid};
    st = si_db_exec(r->ctx->db, "UPDATE image SET status = $1 WHERE uid = $2", 2, change, NULL,
                    NULL, NULL, err);
    if (changed)
      (*changed)++;
  }
  free(rows.rows);
  return st;
}

/* Step 5 the slow way, inside the finishing transaction: every NEW row of
 * the batch whose file is in storage becomes DONE. This also finishes rows
 * whose files were stored just before a crash. */
static si_status settle_moved_rows(run *r, si_error *err) {
  int64_t settled = 0;
  si_status st = restatus_rows(r,
                               "SELECT uid, storage_path FROM image WHERE batch_id = $1 AND "
                               "status = 'NEW'",
                               1, 1, "DONE", &settled, NULL, err);
  if (st == SI_OK && settled)
    si_log(SI_LOG_INFO,
           "batch %s: %" PRId64 " images stored before an interruption are now recorded", r->uid,
           settled);
  r->res->imported += settled;
  return st;
}

/* Rows written DONE ahead of a folder rename that did not happen (a move
 * that failed, a lease lost first) go back to NEW unless their file is in
 * storage; settle_moved_rows then treats them as any NEW row. The rows under
 * `base` are this import's: `base` did not exist when it began. */
static si_status reset_unmoved_rows(run *r, si_error *err) {
  int64_t kept = 0; /* moved on their own (the folder could not be) */
  si_status st =
      restatus_rows(r,
                    "SELECT uid, storage_path FROM image WHERE batch_id = $1 AND status = "
                    "'DONE' AND substr(storage_path, 1, length($2)) = $2",
                    2, 0, "NEW", NULL, &kept, err);
  r->res->imported += kept;
  return st;
}

/* Step 5 the fast way: after the whole folder became `base`, every NEW row
 * planned under it is stored (one import per batch runs at a time). */
static si_status mark_folder_done(run *r, si_error *err) {
  char id_s[24], prefix[SI_PATH_MAX + 1];
  snprintf(id_s, sizeof id_s, "%" PRId64, r->batch_id);
  snprintf(prefix, sizeof prefix, "%s/", r->base);
  const char *params[] = {id_s, prefix};
  int64_t changes = 0;
  si_status st = si_db_exec(r->ctx->db,
                            "UPDATE image SET status = 'DONE' WHERE batch_id = $1 AND status = "
                            "'NEW' AND substr(storage_path, 1, length($2)) = $2",
                            2, params, NULL, NULL, &changes, err);
  r->res->imported += changes;
  return st;
}

/* Step 5 inside a transaction the caller holds (it may hold other imports'
 * ends too): the DONE marks, the batch's final metrics over all its images
 * (late data included) and the end of its job. Its first statement renews
 * the job's lease, which fences the rest as it fences each chunk; a lost
 * lease writes nothing and is no error. */
static si_status finish_in_tx(run *r, si_error *err) {
  si_batch *b = &r->res->batch;
  si_db *db = r->ctx->db;
  si_status st = renew_lease_in_tx(r, err);
  if (st != SI_OK || r->res->lease_lost)
    return st;
  /* Locked first, so the counts below include what another import that
   * took one of its images (keep-last) committed meanwhile. */
  int locked = 0;
  st = si_store_batch_lock_id(db, r->batch_id, NULL, &locked, err);
  if (st != SI_OK)
    return st;
  /* Rows may say DONE ahead of the rename: this run's (rows_status), or an
   * interrupted run's that this one reused (plan_known). */
  int ahead = r->folder_rename && (r->optimistic || r->written_ahead);
  if (r->res->folder_moved) {
    /* Rows written DONE are; NEW ones of an interrupted run are reused. */
    if (!ahead || r->reused_new)
      st = mark_folder_done(r, err);
    r->res->imported += r->written_ahead;
    /* Rows of files an interrupted run stored one by one are not under
     * `base` (a resumed run has a `base` of its own: late_data_base). */
    if (st == SI_OK && (r->left_behind || r->reused_new))
      st = settle_moved_rows(r, err);
  } else {
    if (ahead)
      st = reset_unmoved_rows(r, err);
    if (st == SI_OK)
      st = settle_moved_rows(r, err);
  }
  int found;
  if (st == SI_OK)
    st = si_store_batch_get(db, r->uid, b, &found, err);
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%" PRId64, r->batch_id);
  const char *params[] = {id_s};
  json_t *hist = json_object();
  batch_tally tally = {b, hist};
  b->image_count = b->size_bytes = 0;
  if (st == SI_OK)
    st =
        si_db_exec(db,
                   "SELECT study_date, count(*), sum(CASE WHEN status <> 'NEW' THEN 1 ELSE 0 END), "
                   "sum(CASE WHEN status <> 'NEW' THEN size_bytes ELSE 0 END) FROM image "
                   "WHERE batch_id = $1 GROUP BY study_date",
                   1, params, tally_row, &tally, NULL, err);
  int64_t finished = si_now_ms();
  b->finished_at = finished;
  b->elapsed_ms = finished - r->started;
  b->skipped_count += r->res->skipped;
  /* This run's entries, those it found (quarantine.h) included; entries
   * another batch's import filed here (keep-last) were counted by it, and
   * are in `b` as the batch's row was locked above. (Counting every entry
   * here would scan the quarantine table at each finish.) */
  b->quarantined_count += r->res->quarantined;
  /* A batch stopped by a full disk waits in QUEUE: its job runs again. */
  snprintf(b->status, sizeof b->status, "%s",
           r->res->fatal         ? SI_BATCH_ERROR
           : r->res->no_space    ? SI_BATCH_QUEUE
           : b->image_count == 0 ? SI_BATCH_EMPTY
                                 : SI_BATCH_DONE);
  json_t *qa = json_pack(
      "{s:I, s:I, s:f, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:b}", "start", (json_int_t)r->started,
      "finish", (json_int_t)finished, "elapsed_seconds", (double)b->elapsed_ms / 1000.0,
      "size_bytes", (json_int_t)b->size_bytes, "image_count", (json_int_t)b->image_count,
      "study_dates", hist, "files_seen", (json_int_t)r->res->files_seen, "duplicates_ignored",
      (json_int_t)r->res->duplicates_ignored, "quarantined", (json_int_t)r->res->quarantined,
      "skipped", (json_int_t)r->res->skipped, "reopened", b->reopened);
  char *text = qa ? json_dumps(qa, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  snprintf(b->qa, sizeof b->qa, "%s", text ? text : "{}");
  free(text);
  json_decref(qa);
  if (st == SI_OK)
    st = si_store_batch_finish(db, b, err);
  if (st == SI_OK && r->job_id >= 0 && r->res->no_space && !r->res->fatal) {
    st = si_store_job_release(db, r->job_id, r->ctx->worker,
                              "waiting for disk space (see the batch log)", err);
    r->res->job_finished = st == SI_OK;
  } else if (st == SI_OK && r->job_id >= 0) {
    st = si_store_job_finish(db, r->job_id, r->ctx->worker, r->res->fatal ? "failed" : "done",
                             r->res->fatal ? "import stopped: see the batch log" : NULL, err);
    r->res->job_finished = st == SI_OK;
  }
  return st;
}

/* Step 5 for several imports in one transaction: one commit ends them all.
 * The transaction is relaxed (its commit does not wait for the disk): the
 * moves it records were fsynced before it began, and should a power cut
 * undo it, the jobs run again and finish the same rows (settle_moved_rows),
 * as after any crash between steps 4 and 5. */
static si_status finish_runs(run **runs, size_t n, si_error *err) {
  si_db *db = runs[0]->ctx->db;
  si_status st = si_db_begin_relaxed(db, err);
  for (size_t i = 0; st == SI_OK && i < n; i++)
    st = finish_in_tx(runs[i], err);
  if (st == SI_OK)
    st = si_db_commit(db, err);
  else
    si_db_rollback(db);
  for (size_t i = 0; i < n; i++) {
    run *r = runs[i];
    if (st != SI_OK) {
      r->res->job_finished = 0;
    } else if (r->res->lease_lost) {
      si_log(SI_LOG_WARN, "job %" PRId64 " (batch %s): leaving the batch to the new holder",
             r->job_id, r->uid);
    }
  }
  /* Committed: a failed re-read below does not undo any run's end. */
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    int found;
    if (!runs[i]->res->lease_lost)
      st = si_store_batch_get(db, runs[i]->uid, &runs[i]->res->batch, &found, err);
  }
  return st;
}

/* What comes between an import's moves and its finish. Sets *finish when
 * the run is to be finished (not stopped by a lost lease or a shutdown). */
static si_status wrap_up(run *r, int *finish, si_error *err) {
  si_import_context *ctx = r->ctx;
  si_import_result *res = r->res;
  si_status st = SI_OK;
  *finish = 0;
  if (r->batch_id < 0 && !res->lease_lost) {
    /* No file went through a chunk: the batch still gets its record. */
    st = si_db_begin(ctx->db, err);
    if (st == SI_OK)
      st = open_batch(r, err);
    st = st == SI_OK ? si_db_commit(ctx->db, err) : (si_db_rollback(ctx->db), st);
  }
  if (st == SI_OK && r->list_problem[0])
    batch_log(r, "error", NULL, "%s", r->list_problem);
  if (st == SI_OK && res->lease_lost) {
    if (r->batch_id >= 0)
      batch_log(r, "warning", NULL,
                "this worker's lease on the job ran out: it stopped, and the worker now holding "
                "the job finishes the import");
  } else if (st == SI_OK && res->interrupted) {
    batch_log(r, "info", NULL, "import interrupted by shutdown; the rest follows on restart");
    st = si_store_batch_set_status(ctx->db, r->uid, SI_BATCH_QUEUE, err);
  } else if (st == SI_OK && res->no_space && !res->fatal) {
    /* Finished as far as it got (rows of stored files DONE, the others
     * NEW), in QUEUE, and the job back in the queue (finish_in_tx). */
    batch_log(r, "warning", NULL,
              "storage is full: the files not stored yet stay in %s; intake pauses and this "
              "import resumes when there is space again (no attempt counted)",
              r->folder);
    *finish = 1;
  } else if (st == SI_OK) {
    if (!res->fatal && !res->folder_moved)
      si_remove_empty_dirs(r->folder);
    *finish = 1;
  }
  return st;
}

static plan *alloc_plans(size_t files) {
  size_t n = files < CHUNK_FILES ? files : CHUNK_FILES;
  return malloc((n ? n : 1) * sizeof(plan));
}

/* One import on its own: headers read outside any transaction, decided and
 * recorded in one transaction per chunk, then moved, then finished. */
static si_status import_alone(run *r, si_error *err) {
  si_import_context *ctx = r->ctx;
  const si_file_list *files = &r->files;
  plan *plans = alloc_plans(files->count);
  if (!plans)
    return si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  si_status st = SI_OK;
  for (size_t from = 0; st == SI_OK && from < files->count && !r->res->fatal; from += CHUNK_FILES) {
    if (ctx->cancel && *ctx->cancel) {
      r->res->interrupted = 1;
      break;
    }
    size_t to = from + CHUNK_FILES < files->count ? from + CHUNK_FILES : files->count;
    if (!heartbeat_if_due(r))
      break;
    read_chunk_on_all_cores(files, from, to, plans);
    st = plan_chunk(r, plans, to - from, from, err);
    free_problems(plans, to - from);
    if (r->res->lease_lost)
      break;
    if (ctx->progress)
      ctx->progress(ctx->progress_user, (int64_t)to, (int64_t)files->count);
  }
  free(plans);
  if (st == SI_OK && si_db_can_sync(ctx->db))
    st = si_db_sync(ctx->db, err);
  if (st == SI_OK && !r->res->interrupted && !r->res->fatal && heartbeat_if_due(r))
    move_files(r, files);
  sync_moves(&r, 1);
  int finish = 0;
  if (st == SI_OK)
    st = wrap_up(r, &finish, err);
  if (st == SI_OK && finish)
    st = finish_runs(&r, 1, err);
  return st;
}

/* What the readers of a group share: member i's plans land in plans[i]
 * (NULL with short_of_memory[i] set when they could not be allocated). */
typedef struct group_reads {
  run **runs;
  plan **plans;
  unsigned char *short_of_memory;
} group_reads;

static void read_member(void *user, size_t i) {
  group_reads *g = user;
  const si_file_list *files = &g->runs[i]->files;
  plan *plans = alloc_plans(files->count);
  if (plans)
    read_chunk(files, 0, files->count, plans);
  g->plans[i] = plans;
  g->short_of_memory[i] = !plans;
}

/* Defers a member (runs it alone after the group) when it holds a
 * SOPInstanceUID an earlier member holds too: which copy stays, and
 * whether they are the same bytes, is decided against the copy in storage,
 * and the earlier one's files reach storage only after the group's rows. */
static si_status defer_if_shared(run *r, plan *plans, si_uid_set *held, unsigned char *deferred,
                                 si_error *err) {
  for (size_t k = 0; k < r->files.count && !*deferred; k++)
    if (plans[k].readable && plans[k].facts.uid[0] && si_uid_set_has(held, plans[k].facts.uid))
      *deferred = 1;
  for (size_t k = 0; k < r->files.count; k++)
    if (plans[k].readable && plans[k].facts.uid[0] && !si_uid_set_add(held, plans[k].facts.uid))
      return si_error_set(err, SI_ERR_STATE, r->folder, SI_NO_OFFSET, SI_NO_TAG,
                          "more uids than files in the group");
  return SI_OK;
}

/* Small imports together: each is one chunk, and they share their two
 * transactions (rows, then finish), so a burst of small folders costs two
 * commits rather than two per folder. Helper threads read the members'
 * headers while this thread writes the rows of the members read already,
 * in order, in one transaction; where the backend can sync outside a
 * commit (SQLite), that transaction is relaxed and one si_db_sync follows,
 * so no other writer waits for the disk. Then every folder moves, then all
 * finish in one transaction. */
static si_status import_together(run **runs, size_t n, si_error *err) {
  si_import_context *ctx = runs[0]->ctx;
  si_status st = SI_OK;
  plan **plans = calloc(n, sizeof *plans);
  run **to_finish = calloc(n, sizeof *to_finish);
  unsigned char *deferred = calloc(n, 1), *short_of_memory = calloc(n, 1);
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += runs[i]->files.count;
  si_uid_set held = {0};
  if (!plans || !to_finish || !deferred || !short_of_memory || !si_uid_set_init(&held, total)) {
    free(plans);
    free(to_finish);
    free(deferred);
    free(short_of_memory);
    si_uid_set_free(&held);
    return si_error_set(err, SI_ERR_NOMEM, runs[0]->folder, SI_NO_OFFSET, SI_NO_TAG,
                        "out of memory");
  }
  group_reads reads = {runs, plans, short_of_memory};
  int cancelled = ctx->cancel && *ctx->cancel;
  int sync_after = si_db_can_sync(ctx->db), in_tx = 0, wrote = 0;
  int64_t tx_began = 0, swept = si_now_ms();
  si_readers *readers =
      cancelled ? NULL : si_readers_start(n, si_readers_default_helpers(), read_member, &reads);
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    run *r = runs[i];
    if (cancelled) {
      r->res->interrupted = 1;
      continue;
    }
    /* The members still to be written keep their leases while the
     * headers are read (each renews its own as its rows go in). */
    if (si_now_ms() - swept >= (int64_t)ctx->cfg->lease_seconds * 1000 / 3) {
      for (size_t k = i; k < n; k++)
        heartbeat_if_due(runs[k]);
      swept = si_now_ms();
    }
    if (readers)
      si_readers_wait(readers, i);
    else
      read_member(&reads, i);
    if (short_of_memory[i])
      st = si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    if (st == SI_OK)
      st = defer_if_shared(r, plans[i], &held, &deferred[i], err);
    if (st != SI_OK || deferred[i])
      continue;
    /* Begun once the first member is read, not before: the write lock is
     * held only while there are rows to write. */
    if (!in_tx) {
      st = sync_after ? si_db_begin_relaxed(ctx->db, err) : si_db_begin(ctx->db, err);
      in_tx = wrote = st == SI_OK;
      tx_began = si_now_ms();
    }
    r->optimistic = 1; /* each folder moves right after the group's rows */
    if (st == SI_OK)
      st = plan_chunk_in_tx(r, plans[i], r->files.count, 0, err);
    if (st == SI_OK && i + 1 < n && si_now_ms() - tx_began >= GROUP_TX_MS) {
      in_tx = 0;
      st = si_db_commit(ctx->db, err);
    }
  }
  si_readers_stop(readers);
  if (in_tx)
    st = st == SI_OK ? si_db_commit(ctx->db, err) : (si_db_rollback(ctx->db), st);
  if (st == SI_OK && wrote && sync_after)
    st = si_db_sync(ctx->db, err);
  si_uid_set_free(&held);
  for (size_t i = 0; i < n; i++)
    free_plans(plans[i], runs[i]->files.count);
  free(plans);
  free(short_of_memory);
  size_t finishing = 0;
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    run *r = runs[i];
    if (deferred[i])
      continue;
    if (ctx->progress && !r->res->interrupted)
      ctx->progress(ctx->progress_user, (int64_t)r->files.count, (int64_t)r->files.count);
    if (!r->res->interrupted && !r->res->lease_lost && !r->res->fatal && heartbeat_if_due(r))
      move_files(r, &r->files);
  }
  sync_moves(runs, n);
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    run *r = runs[i];
    if (deferred[i])
      continue;
    int finish = 0;
    st = wrap_up(r, &finish, err);
    if (finish)
      to_finish[finishing++] = r;
  }
  if (st == SI_OK && finishing)
    st = finish_runs(to_finish, finishing, err);
  for (size_t i = 0; st == SI_OK && i < n; i++)
    if (deferred[i])
      st = import_alone(runs[i], err);
  free(to_finish);
  free(deferred);
  return st;
}

/* Files whose storage path would pass SI_PATH_MAX (storage_path_for would
 * cut it) join the entries set aside rather than be stored under a cut
 * path. The bound holds for the first import and for late data. So do
 * files named like a temporary copy (si_is_partial_name): stored under that
 * name, the sweep of interrupted copies (remove_partials) could take them
 * for litter; quarantine_as gives them another name. Returns 0 when out of
 * memory. */
static int set_aside_long_paths(run *r) {
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

/* Lists an import's folder. A folder that is gone was moved into storage
 * just before a crash: only the records are left to finish. */
static si_status open_run(run *r, si_import_context *ctx, const si_import_item *item,
                          si_error *err) {
  memset(item->result, 0, sizeof *item->result);
  r->ctx = ctx;
  r->job_id = item->job_id;
  r->uid = item->batch_uid;
  r->folder = item->folder;
  r->res = item->result;
  r->batch_id = -1;
  r->insert_first = !si_db_get_backend(ctx->db)->multi_row_insert;
  r->started = r->last_heartbeat = si_now_ms();
  si_error lerr;
  struct stat sb;
  if (lstat(r->folder, &sb) != 0 && errno == ENOENT) {
    /* nothing to list */
  } else if (si_list_files(r->folder, &r->files, &lerr) != SI_OK) {
    r->res->fatal = 1;
    snprintf(r->list_problem, sizeof r->list_problem, "cannot list %s: %s", r->folder,
             lerr.message);
  }
  if (!set_aside_long_paths(r))
    return si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  r->res->files_seen = (int64_t)(r->files.count + r->files.other_count);
  r->moves = calloc(r->files.count ? r->files.count : 1, 1);
  return r->moves
             ? SI_OK
             : si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
}

static int any_row(void *user, int ncols, const char *const *v) {
  (void)ncols;
  (void)v;
  *(int *)user = 1;
  return 1;
}

/* Whether a row names `path`: an image's, or a quarantine entry's (of the
 * file or, with `folders`, of a folder above it: a folder set aside whole
 * keeps its files). Paths are compared with runs of '/' folded, as rows of
 * older versions may spell a configured folder "/x/storage/" + "/" + ... */
static int row_names(run *r, const char *path, int folders) {
  const char *params[] = {path};
  int found = 0;
  si_error e;
  si_status st = si_db_exec(
      r->ctx->db,
      folders ? "SELECT 1 FROM quarantine WHERE replace(replace(path, '//', '/'), '//', '/') = $1"
              : "SELECT 1 FROM image WHERE replace(replace(storage_path, '//', '/'), '//', '/') = "
                "$1 UNION ALL "
                "SELECT 1 FROM quarantine WHERE replace(replace(path, '//', '/'), '//', '/') = $1",
      1, params, any_row, &found, NULL, &e);
  return st != SI_OK || found;
}

/* Whether a file named like a temporary copy is a stored or quarantined
 * file (of an older version, or inside a folder quarantined whole: files
 * sendit stores itself never bear such a name, set_aside_long_paths):
 * then it is kept. When the database cannot say, it is kept too. Only
 * files named like a copy are asked about, so the scans are rare. */
static int partial_is_recorded(void *user, const char *path) {
  run *r = user;
  if (row_names(r, path, 0))
    return 1;
  char above[SI_PATH_MAX];
  snprintf(above, sizeof above, "%s", path);
  for (char *slash = strrchr(above, '/'); slash && slash > above; slash = strrchr(above, '/')) {
    *slash = 0;
    if (row_names(r, above, 1))
      return 1;
  }
  return 0;
}

/* A kill during a copy across filesystems leaves a temporary copy
 * (`.sendit-partial-<hex>`) beside the file's place in storage/<uid>/ or
 * quarantine/<uid>/; the source is still in the work area, so the copy is
 * only litter. Every import of a batch removes those below its folders
 * before it moves anything (one import of a batch runs at a time, so none
 * is in progress; a first import finds no folder and costs one lstat). */
static void remove_partials(run *r) {
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

typedef struct opening {
  run *runs;
  si_import_context *ctx;
  const si_import_item *items;
  si_status *status;
  si_error *errors;
} opening;

static void open_one(void *user, size_t i) {
  opening *o = user;
  o->status[i] = open_run(&o->runs[i], o->ctx, &o->items[i], &o->errors[i]);
}

/* Lists every folder, on the reader threads too: a listing stats each file. */
static si_status open_runs(si_import_context *ctx, const si_import_item *items, size_t n, run *runs,
                           si_error *err) {
  si_status *status = calloc(n ? n : 1, sizeof *status);
  si_error *errors = calloc(n ? n : 1, sizeof *errors);
  if (!status || !errors) {
    free(status);
    free(errors);
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  opening o = {runs, ctx, items, status, errors};
  si_readers_run_all(n, si_readers_default_helpers(), open_one, &o);
  si_status st = SI_OK;
  for (size_t i = 0; st == SI_OK && i < n; i++)
    if ((st = status[i]) != SI_OK)
      *err = errors[i];
  free(status);
  free(errors);
  return st;
}

si_status si_import_folders(si_import_context *ctx, const si_import_item *items, size_t n,
                            si_error *err) {
  run *runs = calloc(n ? n : 1, sizeof *runs);
  run **together = calloc(n ? n : 1, sizeof *together);
  unsigned char *placed = calloc(n ? n : 1, 1);
  si_status st = runs && together && placed ? SI_OK
                                            : si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET,
                                                           SI_NO_TAG, "out of memory");
  if (st == SI_OK)
    st = open_runs(ctx, items, n, runs, err);
  for (size_t i = 0; st == SI_OK && i < n; i++)
    remove_partials(&runs[i]);
  /* Groups of imports that run together: one chunk each, at most
   * GROUP_FILES headers held at once, and one import per batch (a second
   * folder for a batch is late data: it follows). */
  for (int more = 1; st == SI_OK && more;) {
    size_t grouped = 0, group_files = 0;
    for (size_t i = 0; i < n; i++) {
      size_t count = runs[i].files.count;
      int same_batch = 0;
      for (size_t g = 0; g < grouped && !same_batch; g++)
        same_batch = !strcmp(together[g]->uid, runs[i].uid);
      if (!placed[i] && count > 0 && count <= CHUNK_FILES && !runs[i].res->fatal && !same_batch &&
          group_files + count <= GROUP_FILES) {
        together[grouped++] = &runs[i];
        group_files += count;
        placed[i] = 1;
      }
    }
    more = grouped > 0;
    if (more)
      st = import_together(together, grouped, err);
  }
  for (size_t i = 0; st == SI_OK && i < n; i++)
    if (!placed[i])
      st = import_alone(&runs[i], err);
  for (size_t i = 0; runs && i < n; i++) {
    free(runs[i].moves);
    si_file_list_free(&runs[i].files);
  }
  free(runs);
  free(together);
  free(placed);
  return st;
}

si_status si_import_folder(si_import_context *ctx, const char *folder, const char *batch_uid,
                           si_import_result *result, si_error *err) {
  si_import_item item = {folder, batch_uid, ctx->job_id, result};
  return si_import_folders(ctx, &item, 1, err);
}
