/* Import of one folder into one batch. See pipeline.h for the crash-safety
 * argument; the order of the steps below is what makes it hold. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
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

#define CHUNK_FILES 256

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
  si_image img;
  int burned_in;
} header_facts;

static void get_text(const si_dataset *ds, uint32_t tag, char *dst, size_t size) {
  char *s = NULL;
  dst[0] = 0;
  if (si_get_string(ds, tag, SIZE_MAX, &s, NULL) == SI_OK && s)
    snprintf(dst, size, "%s", s);
  free(s);
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
  si_image *img = &f->img;
  if (si_get_uid(ds, SI_TAG(0x0008, 0x0018), img->uid, NULL) != SI_OK || !img->uid[0]) {
    si_file_free(file);
    return si_error_set(err, SI_ERR_VALUE, path, SI_NO_OFFSET, SI_TAG(0x0008, 0x0018),
                        "no SOPInstanceUID: not an image that can be stored");
  }
  si_get_uid(ds, SI_TAG(0x0008, 0x0016), img->sop_class_uid, NULL);
  if (!img->sop_class_uid[0])
    si_get_uid(si_file_meta(file), SI_TAG(0x0002, 0x0002), img->sop_class_uid, NULL);
  si_get_uid(ds, SI_TAG(0x0020, 0x000D), img->study_uid, NULL);
  si_get_uid(ds, SI_TAG(0x0020, 0x000E), img->series_uid, NULL);
  get_text(ds, SI_TAG(0x0010, 0x0020), img->patient_id, sizeof img->patient_id);
  get_text(ds, SI_TAG(0x0008, 0x0050), img->accession_number, sizeof img->accession_number);
  get_text(ds, SI_TAG(0x0008, 0x0060), img->modality, sizeof img->modality);
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
  const char *uid;
  int64_t batch_id;
  char *storage_dir; /* storage/<uid> */
  si_import_result *res;
  char first_patient[SI_NAME_MAX];
  char first_study[SI_UID_MAX];
  int warned_studies;
  int storage_ready;
} run;

static si_status batch_log(run *r, const char *level, const char *file, const char *fmt, ...)
    SI_PRINTF(4, 5);
static si_status batch_log(run *r, const char *level, const char *file, const char *fmt, ...) {
  char msg[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  si_log(strcmp(level, "error") == 0 ? SI_LOG_ERROR : SI_LOG_INFO, "batch %s: %s%s%s", r->uid,
         file ? file : "", file ? ": " : "", msg);
  si_error e;
  return si_store_batch_log(r->ctx->db, r->batch_id, level, file, msg, &e);
}

/* Moves a file out of the way into quarantine/<uid>/ and records why. */
static si_status quarantine(run *r, const si_file_entry *f, const char *level, const char *reason,
                            si_error *err) {
  const si_config *cfg = r->ctx->cfg;
  char *dir = si_path_join(cfg->quarantine_dir, r->uid);
  si_status st = dir ? si_mkdir_p(dir, err) : SI_ERR_NOMEM;
  char dst[SI_PATH_MAX];
  const char *base = strrchr(f->relative, '/');
  base = base ? base + 1 : f->relative;
  struct stat sb;
  for (int n = 0; st == SI_OK; n++) {
    if (n == 0)
      snprintf(dst, sizeof dst, "%s/%s", dir, base);
    else
      snprintf(dst, sizeof dst, "%s/%s.%d", dir, base, n);
    if (lstat(dst, &sb) != 0)
      break;
  }
  if (st == SI_OK)
    st = si_move_file(f->path, dst, err);
  free(dir);
  if (st != SI_OK) {
    /* Could not even quarantine (disk, permissions): leave the file where it
     * is, stop this import, and say so. */
    r->res->fatal = 1;
    return batch_log(r, "error", f->relative, "%s; and it could not be quarantined: %s", reason,
                     err ? err->message : "");
  }
  r->res->quarantined++;
  si_status dbst = si_store_quarantine_add(r->ctx->db, r->uid, dst, f->relative, reason, err);
  if (dbst == SI_OK)
    dbst = batch_log(r, level, f->relative, "%s (quarantined as %s)", reason, dst);
  return dbst;
}

typedef enum action { ACT_NONE, ACT_MOVE, ACT_DROP_COPY } action;

typedef struct plan {
  const si_file_entry *file;
  si_image img;
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

/* Decides what to do with a file whose SOPInstanceUID is already known. */
static si_status plan_known(run *r, plan *p, const si_image *known, const plan *same_chunk,
                            si_error *err) {
  const si_file_entry *f = p->file;
  const char *other = same_chunk ? same_chunk->file->path : known->storage_path;
  struct stat sb;
  if (!same_chunk && known->batch_id == r->batch_id && strcmp(known->status, SI_IMAGE_NEW) == 0 &&
      lstat(known->storage_path, &sb) != 0) {
    /* Our own interrupted import: the row was written, the move was not. */
    p->img = *known;
    p->act = ACT_MOVE;
    return SI_OK;
  }
  int same = si_files_equal(f->path, other, err);
  if (same == 1) {
    p->act = ACT_DROP_COPY;
    r->res->duplicates_ignored++;
    return batch_log(r, "info", f->relative, "byte-identical copy of %s ignored", known->uid);
  }
  char reason[1024];
  snprintf(reason, sizeof reason,
           "duplicate SOPInstanceUID %s with different content (kept the one from %s)", known->uid,
           same_chunk ? same_chunk->file->relative : known->original_name);
  if (r->ctx->cfg->duplicate_policy == SI_DUP_KEEP_LAST && !same_chunk && same == 0) {
    /* Newest wins: the stored file goes to quarantine, the new one takes its place. */
    si_file_entry old = {(char *)known->storage_path, (char *)known->original_name, 0};
    snprintf(reason, sizeof reason, "replaced by a newer image with SOPInstanceUID %s", known->uid);
    si_status st = quarantine(r, &old, "warning", reason, err);
    if (st != SI_OK)
      return st;
    p->img.id = known->id;
    p->act = ACT_MOVE;
    snprintf(p->img.storage_path, sizeof p->img.storage_path, "%s", known->storage_path);
    return si_store_image_replace(r->ctx->db, &p->img, err);
  }
  p->act = ACT_NONE;
  return quarantine(r, f, "error", reason, err);
}

static const plan *find_in_chunk(const plan *plans, size_t n, const char *uid) {
  for (size_t i = 0; i < n; i++)
    if (plans[i].act == ACT_MOVE && strcmp(plans[i].img.uid, uid) == 0)
      return &plans[i];
  return NULL;
}

/* Step 3: reads headers, decides, writes rows (one transaction). */
static si_status plan_chunk(run *r, const si_file_list *files, size_t from, size_t to, plan *plans,
                            si_error *err) {
  si_db *db = r->ctx->db;
  si_status st = si_db_begin(db, err);
  for (size_t i = from; st == SI_OK && i < to; i++) {
    plan *p = &plans[i - from];
    memset(p, 0, sizeof *p);
    p->file = &files->items[i];
    header_facts facts;
    si_error perr;
    si_error_clear(&perr);
    if (read_facts(p->file->path, &facts, &perr) != SI_OK) {
      char detail[1100], why[1200];
      snprintf(why, sizeof why, "not readable as DICOM: %s",
               si_error_format(&perr, detail, sizeof detail));
      st = quarantine(r, p->file, "error", why, err);
      continue;
    }
    p->img = facts.img;
    p->img.batch_id = r->batch_id;
    p->img.size_bytes = p->file->size;
    snprintf(p->img.status, sizeof p->img.status, "%s", SI_IMAGE_NEW);
    snprintf(p->img.original_name, sizeof p->img.original_name, "%s", p->file->relative);
    snprintf(p->img.storage_path, sizeof p->img.storage_path, "%s/%s.dcm", r->storage_dir,
             p->img.uid);
    if (r->ctx->cfg->skip_burned_in && facts.burned_in) {
      r->res->skipped++;
      st = quarantine(r, p->file, "warning", "skipped: BurnedInAnnotation is YES", err);
      continue;
    }
    if (!is_allowed_modality(r->ctx->cfg->modalities, p->img.modality)) {
      r->res->skipped++;
      char why[128];
      snprintf(why, sizeof why, "skipped: modality '%s' is not in the allow-list", p->img.modality);
      st = quarantine(r, p->file, "warning", why, err);
      continue;
    }
    check_consistency(r, p->file, &p->img);
    const plan *twin = find_in_chunk(plans, i - from, p->img.uid);
    si_image known;
    int found = 0;
    if (!twin)
      st = si_store_image_get(db, p->img.uid, &known, &found, err);
    if (st != SI_OK)
      break;
    if (twin) {
      snprintf(known.uid, sizeof known.uid, "%s", p->img.uid);
      st = plan_known(r, p, &known, twin, err);
    } else if (found) {
      st = plan_known(r, p, &known, NULL, err);
    } else {
      p->act = ACT_MOVE;
      st = si_store_image_insert(db, &p->img, err);
    }
  }
  if (st == SI_OK)
    return si_db_commit(db, err);
  si_db_rollback(db);
  return st;
}

/* Step 4 and 5: moves files, then marks their rows DONE. A failed move is
 * fatal for the batch (disk full, permissions): the file stays put. */
static si_status apply_chunk(run *r, plan *plans, size_t n, si_error *err) {
  si_error ferr;
  si_error_clear(&ferr);
  size_t moved = 0;
  for (size_t i = 0; i < n && !r->res->fatal; i++) {
    plan *p = &plans[i];
    if (p->act == ACT_DROP_COPY) {
      unlink(p->file->path);
    } else if (p->act == ACT_MOVE) {
      if (!r->storage_ready && si_mkdir_p(r->storage_dir, &ferr) == SI_OK)
        r->storage_ready = 1;
      if (!r->storage_ready || si_move_file(p->file->path, p->img.storage_path, &ferr) != SI_OK) {
        r->res->fatal = 1;
        batch_log(r, "error", p->file->relative, "cannot store: %s", ferr.message);
        p->act = ACT_NONE;
        continue;
      }
      moved++;
    }
  }
  if (moved && si_fsync_dir(r->storage_dir, &ferr) != SI_OK)
    batch_log(r, "warning", NULL, "%s", ferr.message);
  si_db *db = r->ctx->db;
  si_status st = si_db_begin(db, err);
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    if (plans[i].act != ACT_MOVE)
      continue;
    const char *params[] = {plans[i].img.uid};
    st = si_db_exec(db, "UPDATE image SET status = 'DONE' WHERE uid = $1", 1, params, NULL, NULL,
                    NULL, err);
    r->res->imported++;
  }
  if (st == SI_OK)
    return si_db_commit(db, err);
  si_db_rollback(db);
  return st;
}

static int histogram_row(void *user, int ncols, const char *const *v) {
  if (ncols >= 2)
    json_object_set_new(user, v[0] && v[0][0] ? v[0] : "unknown",
                        json_integer(strtoll(v[1] ? v[1] : "0", NULL, 10)));
  return 0;
}

static int totals_row(void *user, int ncols, const char *const *v) {
  si_batch *b = user;
  if (ncols >= 2) {
    b->image_count = v[0] ? strtoll(v[0], NULL, 10) : 0;
    b->size_bytes = v[1] ? strtoll(v[1], NULL, 10) : 0;
  }
  return 1;
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

/* A crash between step 4 (move) and step 5 (mark DONE) leaves rows NEW
 * whose files are already in storage: finish them. Rows whose file is
 * still in the work area were handled by the chunks above. */
static si_status settle_moved_rows(run *r, si_error *err) {
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%" PRId64, r->batch_id);
  const char *params[] = {id_s};
  pending_rows pending = {0};
  si_status st = si_db_exec(r->ctx->db,
                            "SELECT uid, storage_path FROM image WHERE batch_id = $1 AND "
                            "status = 'NEW'",
                            1, params, collect_pending, &pending, NULL, err);
  if (st == SI_OK && pending.count)
    st = si_db_begin(r->ctx->db, err);
  int open_tx = st == SI_OK && pending.count;
  size_t settled = 0;
  for (size_t i = 0; st == SI_OK && i < pending.count; i++) {
    struct stat sb;
    if (stat(pending.rows[i].path, &sb) != 0)
      continue;
    const char *uid[] = {pending.rows[i].uid};
    st = si_db_exec(r->ctx->db, "UPDATE image SET status = 'DONE' WHERE uid = $1", 1, uid, NULL,
                    NULL, NULL, err);
    settled++;
  }
  if (open_tx) {
    if (st == SI_OK)
      st = si_db_commit(r->ctx->db, err);
    else
      si_db_rollback(r->ctx->db);
  }
  if (st == SI_OK && settled)
    si_log(SI_LOG_INFO, "batch %s: %zu images stored before an interruption are now recorded",
           r->uid, settled);
  r->res->imported += (int64_t)settled;
  free(pending.rows);
  return st;
}

/* Final metrics of the batch, over all its images (late data included). */
static si_status finish_batch(run *r, int64_t started, si_error *err) {
  si_batch *b = &r->res->batch;
  int found;
  si_status st = si_store_batch_get(r->ctx->db, r->uid, b, &found, err);
  if (st != SI_OK)
    return st;
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%" PRId64, r->batch_id);
  const char *params[] = {id_s};
  st = si_db_exec(r->ctx->db,
                  "SELECT count(*), COALESCE(sum(size_bytes), 0) FROM image "
                  "WHERE batch_id = $1 AND status <> 'NEW'",
                  1, params, totals_row, b, NULL, err);
  json_t *hist = json_object();
  if (st == SI_OK)
    st = si_db_exec(r->ctx->db,
                    "SELECT study_date, count(*) FROM image WHERE batch_id = $1 "
                    "GROUP BY study_date ORDER BY study_date",
                    1, params, histogram_row, hist, NULL, err);
  int64_t finished = si_now_ms();
  b->finished_at = finished;
  b->elapsed_ms = finished - started;
  b->skipped_count += r->res->skipped;
  b->quarantined_count += r->res->quarantined;
  snprintf(b->status, sizeof b->status, "%s",
           r->res->fatal         ? SI_BATCH_ERROR
           : b->image_count == 0 ? SI_BATCH_EMPTY
                                 : SI_BATCH_DONE);
  json_t *qa = json_pack(
      "{s:I, s:I, s:f, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:b}", "start", (json_int_t)started,
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
    st = si_store_batch_finish(r->ctx->db, b, err);
  if (st == SI_OK)
    st = si_store_batch_get(r->ctx->db, r->uid, b, &found, err);
  return st;
}

si_status si_import_folder(si_import_context *ctx, const char *folder, const char *batch_uid,
                           si_import_result *result, si_error *err) {
  memset(result, 0, sizeof *result);
  run r = {.ctx = ctx, .uid = batch_uid, .res = result};
  int64_t started = si_now_ms();
  int reopened = 0;
  si_status st = si_store_batch_begin(ctx->db, batch_uid, &r.batch_id, &reopened, err);
  if (st != SI_OK)
    return st;
  r.storage_dir = si_path_join(ctx->cfg->storage_dir, batch_uid);
  if (!r.storage_dir)
    return si_error_set(err, SI_ERR_NOMEM, folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  si_file_list files;
  si_error lerr;
  if (si_list_files(folder, &files, &lerr) != SI_OK) {
    result->fatal = 1;
    batch_log(&r, "error", NULL, "cannot list %s: %s", folder, lerr.message);
    files.items = NULL;
    files.count = 0;
  }
  result->files_seen = (int64_t)files.count;
  if (reopened)
    batch_log(&r, "info", NULL, "batch reopened: %zu more files arrived", files.count);
  plan *plans = calloc(CHUNK_FILES, sizeof *plans);
  if (!plans)
    st = si_error_set(err, SI_ERR_NOMEM, folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  for (size_t from = 0; st == SI_OK && from < files.count && !result->fatal; from += CHUNK_FILES) {
    if (ctx->cancel && *ctx->cancel) {
      result->interrupted = 1;
      break;
    }
    size_t to = from + CHUNK_FILES < files.count ? from + CHUNK_FILES : files.count;
    st = plan_chunk(&r, &files, from, to, plans, err);
    if (st == SI_OK)
      st = apply_chunk(&r, plans, to - from, err);
    if (st == SI_OK && ctx->job_id >= 0)
      st = si_store_heartbeat(ctx->db, ctx->job_id, ctx->worker, ctx->cfg->lease_seconds, err);
    if (ctx->progress)
      ctx->progress(ctx->progress_user, (int64_t)to, (int64_t)files.count);
  }
  free(plans);
  si_file_list_free(&files);
  if (st == SI_OK && result->interrupted) {
    batch_log(&r, "info", NULL, "import interrupted by shutdown; the rest follows on restart");
    st = si_store_batch_set_status(ctx->db, batch_uid, SI_BATCH_QUEUE, err);
  } else if (st == SI_OK) {
    if (!result->fatal)
      si_remove_empty_dirs(folder);
    st = settle_moved_rows(&r, err);
    if (st == SI_OK)
      st = finish_batch(&r, started, err);
  }
  free(r.storage_dir);
  return st;
}
