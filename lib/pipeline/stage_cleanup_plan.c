/* The cleanup's rule: which kinds of which confirmed batches are due, and
 * why the others are kept; see sendit/cleanup.h. */
#include "sendit/cleanup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/ops_format.h"

#define DAY_MS (86400LL * 1000)
#define MIB (1024LL * 1024)

/* The confirmed batches, copied out of the query's rows: the files of
 * each are read with further queries, which must not run inside one. */
typedef struct confirmed_list {
  si_confirmed_batch *rows;
  char (*uids)[SI_NAME_MAX];
  int *errors;
  size_t count, cap;
  int oom;
} confirmed_list;

static int keep_confirmed(void *user, const si_confirmed_batch *b) {
  confirmed_list *l = user;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    si_confirmed_batch *rows = realloc(l->rows, cap * sizeof *rows);
    if (rows)
      l->rows = rows;
    char(*uids)[SI_NAME_MAX] = rows ? realloc(l->uids, cap * sizeof *uids) : NULL;
    if (uids)
      l->uids = uids;
    int *errors = uids ? realloc(l->errors, cap * sizeof *errors) : NULL;
    if (!errors) {
      l->oom = 1;
      return 1;
    }
    l->errors = errors;
    l->cap = cap;
  }
  l->rows[l->count] = *b;
  snprintf(l->uids[l->count], SI_NAME_MAX, "%s", b->uid);
  l->errors[l->count] = b->has_error || strcmp(b->status, SI_BATCH_ERROR) == 0;
  l->count++;
  return 0;
}

typedef struct file_tally {
  const char *root;
  int64_t rows, files, bytes;
} file_tally;

static int tally_file(void *user, int64_t image_id, const char *path, int64_t size) {
  (void)image_id;
  (void)size; /* the recorded size may be stale: the file says */
  file_tally *t = user;
  int64_t now = si_cleanup_size(t->root, path);
  t->rows++;
  t->files += now >= 0;
  t->bytes += now > 0 ? now : 0;
  return 0;
}

static si_cleanup_item *add_item(si_cleanup_plan *plan) {
  if (plan->count == plan->cap) {
    size_t cap = plan->cap ? plan->cap * 2 : 16;
    si_cleanup_item *items = realloc(plan->items, cap * sizeof *items);
    if (!items)
      return NULL;
    plan->items = items;
    plan->cap = cap;
  }
  si_cleanup_item *it = &plan->items[plan->count++];
  memset(it, 0, sizeof *it);
  return it;
}

/* The item of (batch, what), or none (*added 0) when nothing of it is
 * left to remove. */
static si_status plan_kind(si_db *db, const si_config *cfg, const confirmed_list *l, size_t i,
                           const char *what, int64_t now_ms, si_cleanup_plan *plan, si_error *err) {
  const si_confirmed_batch *b = &l->rows[i];
  int done = 0;
  int64_t plan_id = -1;
  si_status st =
      si_store_cleanup_state(db, b->batch_id, what, b->newest_image, &done, &plan_id, err);
  if (st != SI_OK || done)
    return st;
  int originals = strcmp(what, SI_CLEANUP_ORIGINALS) == 0;
  file_tally t = {originals ? cfg->storage_dir : cfg->deid_dir, 0, 0, 0};
  st = si_store_cleanup_files(db, b->batch_id, what, tally_file, &t, err);
  if (st != SI_OK || (t.rows == 0 && plan_id < 0))
    return st;
  si_cleanup_item *it = add_item(plan);
  if (!it)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  it->batch_id = b->batch_id;
  snprintf(it->batch_uid, sizeof it->batch_uid, "%s", l->uids[i]);
  it->what = originals ? SI_CLEANUP_ORIGINALS : SI_CLEANUP_DEID;
  it->confirmed_at = b->confirmed_at;
  it->newest_image = b->newest_image;
  it->files = t.files;
  it->bytes = t.bytes;
  int days = originals ? cfg->cleanup_keep_originals_days : cfg->cleanup_keep_deid_days;
  int64_t due_at = b->confirmed_at + (int64_t)days * DAY_MS;
  if (l->errors[i] && cfg->cleanup_keep_errors) {
    it->errors = 1;
    snprintf(it->kept, sizeof it->kept, "the batch has errors ([cleanup] keep_errors)");
  } else if (plan_id >= 0 || now_ms >= due_at) {
    it->reason = SI_CLEANUP_POLICY; /* an interrupted pass is finished whatever the days */
    plan->due_bytes += it->bytes;
  } else {
    char when[OPS_TIME_MAX];
    snprintf(it->kept, sizeof it->kept, "until %s ([cleanup] keep_%s_days = %d)",
             ops_time(when, due_at, 0), originals ? "originals" : "deid", days);
  }
  return SI_OK;
}

/* Below the low water, kept items (not for errors) become due, oldest
 * confirmation first, until their bytes and the policy's would bring the
 * free space up to the high water. */
static void plan_low_water(const si_config *cfg, si_cleanup_plan *plan) {
  if (plan->free_mb < 0 || cfg->low_water_mb <= 0 || plan->free_mb >= cfg->low_water_mb)
    return;
  plan->low_water = 1;
  int64_t need = (cfg->high_water_mb - plan->free_mb) * MIB - plan->due_bytes;
  for (size_t i = 0; i < plan->count && need > 0; i++) {
    si_cleanup_item *it = &plan->items[i];
    if (it->reason || it->errors)
      continue;
    it->reason = SI_CLEANUP_LOW_WATER;
    it->kept[0] = 0;
    need -= it->bytes;
    plan->due_bytes += it->bytes;
  }
}

si_status si_cleanup_plan_make(si_db *db, const si_config *cfg, int64_t batch_id, int64_t now_ms,
                               int64_t free_mb, si_cleanup_plan *plan, si_error *err) {
  memset(plan, 0, sizeof *plan);
  plan->free_mb = free_mb;
  confirmed_list l = {0};
  si_status st = si_store_cleanup_confirmed(db, batch_id, keep_confirmed, &l, err);
  if (st == SI_OK && l.oom)
    st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  for (size_t i = 0; st == SI_OK && i < l.count; i++) {
    st = plan_kind(db, cfg, &l, i, SI_CLEANUP_ORIGINALS, now_ms, plan, err);
    if (st == SI_OK)
      st = plan_kind(db, cfg, &l, i, SI_CLEANUP_DEID, now_ms, plan, err);
  }
  free(l.rows);
  free(l.uids);
  free(l.errors);
  if (st != SI_OK) {
    si_cleanup_plan_free(plan);
    return st;
  }
  plan_low_water(cfg, plan);
  return SI_OK;
}

void si_cleanup_plan_free(si_cleanup_plan *plan) {
  free(plan->items);
  plan->items = NULL;
  plan->count = plan->cap = 0;
}
