/* Releasing held images; see sendit/deid_release.h. */
#include "sendit/deid_release.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/store_deid_stage.h"
#include "sendit/store_stages.h"

typedef struct held_ids {
  int64_t *ids;
  size_t count, cap;
} held_ids;

static int held_row(void *user, const si_deid_image *row) {
  held_ids *h = user;
  if (!row->state || strcmp(row->state, SI_DEID_HELD) != 0)
    return 0;
  if (h->count == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 16;
    int64_t *grown = realloc(h->ids, cap * sizeof *grown);
    if (!grown)
      return 1;
    h->ids = grown;
    h->cap = cap;
  }
  h->ids[h->count++] = row->image_id;
  return 0;
}

static si_status release_in(si_db *db, const char *uid, const int64_t *ids, size_t n,
                            si_deid_release_result *out, si_error *err) {
  int64_t batch_id = -1;
  int found = 0;
  si_status st = si_store_batch_lock_uid(db, uid, &batch_id, &found, err);
  out->found = found;
  if (st != SI_OK || !found)
    return st;
  held_ids all = {0};
  if (n == 0) {
    st = si_store_deid_stage_images(db, batch_id, 1, held_row, &all, err);
    ids = all.ids;
    n = all.count;
  }
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    int changed = 0;
    st = si_store_deid_stage_release(db, uid, ids[i], &changed, err);
    if (st == SI_OK && changed) {
      out->released++;
      char msg[128];
      snprintf(msg, sizeof msg, "deid: image %" PRId64 " released by an operator", ids[i]);
      st = si_store_batch_log(db, batch_id, "info", NULL, msg, err);
    } else if (st == SI_OK && !out->not_held++) {
      out->first_not_held = ids[i];
    }
  }
  free(all.ids);
  if (st != SI_OK || !out->released)
    return st;
  char error_stage[32];
  st = si_store_batch_error_stage(db, uid, error_stage, sizeof error_stage, &found, err);
  if (st == SI_OK && strcmp(error_stage, "deid") == 0)
    st = si_store_stage_requeue_failed(db, uid, "deid", &out->queued, err);
  else if (st == SI_OK)
    st = si_store_stage_enqueue(db, "deid", uid, NULL, NULL, &out->queued, err);
  return st;
}

si_status si_deid_release(si_db *db, const char *uid, const int64_t *ids, size_t n,
                          si_deid_release_result *out, si_error *err) {
  memset(out, 0, sizeof *out);
  si_status st = si_db_begin(db, err);
  if (st == SI_OK)
    st = release_in(db, uid, ids, n, out, err);
  if (st == SI_OK && out->released)
    return si_db_commit(db, err);
  si_db_rollback(db);
  if (st == SI_OK)
    out->queued = 0;
  return st;
}
