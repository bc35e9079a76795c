/* Step 3's second half: each file of a chunk decided (quarantined,
 * skipped, known, or new) and its row written, in the chunk's
 * transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/store_import.h"
#include "import_internal.h"

_Static_assert(CHUNK_FILES <= SI_STORE_KNOWN_UIDS_MAX, "a chunk's uids are looked up in one query");

static const plan *find_in_chunk(const plan *plans, size_t n, const char *uid) {
  for (size_t i = 0; i < n; i++)
    if (plans[i].act == ACT_MOVE && strcmp(plans[i].facts.uid, uid) == 0)
      return &plans[i];
  return NULL;
}

/* The row a readable file gets. Returns 0 when its storage path would not
 * fit (img->storage_path is then empty). */
static int image_of(const run *r, const plan *p, si_image *img) {
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
  snprintf(img->status, sizeof img->status, "%s", imp_rows_status(r));
  snprintf(img->original_name, sizeof img->original_name, "%s", p->file->relative);
  return imp_storage_path_for(r, p->file, img->storage_path, sizeof img->storage_path);
}

static si_status write_fresh_rows(run *r, si_error *err);

/* Step 3 for one file, inside the chunk's transaction. */
static si_status decide(run *r, plan *p, const plan *earlier, size_t n_earlier, si_error *err) {
  if (!p->readable)
    return imp_quarantine(r, p->file, "error", p->problem ? p->problem : "not readable", err);
  /* Said before any rule judges the value (the allow-list a Modality). */
  for (unsigned i = 0; i < IMP_CUT_FIELDS; i++)
    if (p->facts.cut & (1u << i))
      imp_batch_log(r, "warning", p->file->relative,
                    "%s is longer than the %zu bytes sendit records of it: recorded cut",
                    imp_cut_fields[i].name, imp_cut_fields[i].kept);
  const si_config *cfg = r->ctx->cfg;
  if (cfg->skip_burned_in && p->facts.burned_in) {
    r->res->skipped++;
    return imp_quarantine(r, p->file, "warning", "skipped: BurnedInAnnotation is YES", err);
  }
  if (!imp_is_allowed_modality(cfg->modalities, p->facts.modality)) {
    r->res->skipped++;
    char why[128];
    snprintf(why, sizeof why, "skipped: modality '%s' is not in the allow-list", p->facts.modality);
    return imp_quarantine(r, p->file, "warning", why, err);
  }
  si_image img;
  if (!image_of(r, p, &img)) {
    /* imp_set_aside_long_paths keeps such files out; never a cut path. */
    r->res->skipped++;
    return imp_quarantine(r, p->file, "warning", "skipped: file with too long a path for storage",
                          err);
  }
  imp_check_consistency(r, p->file, &img);
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
    return imp_plan_known(r, p, &img, &known, twin->file, err);
  }
  const header_facts *f = &p->facts;
  si_image_values row = {.uid = f->uid,
                         .batch_id = r->batch_id,
                         .status = imp_rows_status(r),
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
    return imp_plan_known(r, p, &img, &known, NULL, err);
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
 * imp_plan_known decides, the others are written. */
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
      st = imp_plan_known(r, p, &img, &known, NULL, err);
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

typedef struct chunk_lookup {
  plan *plans;
  size_t n;
} chunk_lookup;

static int mark_known(void *user, const char *uid) {
  chunk_lookup *l = user;
  for (size_t i = 0; i < l->n; i++)
    if (l->plans[i].readable && strcmp(l->plans[i].facts.uid, uid) == 0)
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
 * new (si_store_import_known_uids). */
static si_status find_known_uids(si_db *db, plan *plans, size_t n, si_error *err) {
  const char *uids[CHUNK_FILES];
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    plans[i].maybe_known = 0;
    if (plans[i].readable && plans[i].facts.uid[0])
      uids[count++] = plans[i].facts.uid;
  }
  chunk_lookup l = {plans, n};
  return si_store_import_known_uids(db, uids, count, mark_known, &l, err);
}

/* Step 3 for a chunk, inside a transaction the caller holds (it may hold
 * other imports' chunks too). A lost lease writes nothing and is no error. */
si_status imp_plan_chunk_in_tx(run *r, plan *plans, size_t n, size_t from, si_error *err) {
  si_db *db = r->ctx->db;
  si_status st = imp_renew_lease_in_tx(r, err);
  if (st != SI_OK || r->res->lease_lost)
    return st;
  if (r->batch_id < 0)
    st = imp_open_batch(r, err);
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
si_status imp_plan_chunk(run *r, plan *plans, size_t n, size_t from, si_error *err) {
  si_db *db = r->ctx->db;
  si_status st = si_db_can_sync(db) ? si_db_begin_relaxed(db, err) : si_db_begin(db, err);
  if (st == SI_OK)
    st = imp_plan_chunk_in_tx(r, plans, n, from, err);
  if (st == SI_OK && !r->res->lease_lost)
    return si_db_commit(db, err);
  si_db_rollback(db);
  return st;
}
