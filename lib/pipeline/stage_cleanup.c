/* The cleanup stage: removing a due item's files with its record, the
 * sweep (policy, then the low water) and the stage's run; see
 * sendit/cleanup.h. */
#include "sendit/cleanup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/fs.h"
#include "sendit/log.h"

/* The batch log keeps this many refused files by name; the rest are counted. */
#define REFUSED_NAMED 10

typedef struct path_list {
  char **paths;
  size_t count, cap;
  int oom;
} path_list;

static int keep_path(void *user, int64_t image_id, const char *path, int64_t size) {
  (void)image_id;
  (void)size;
  path_list *l = user;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    char **paths = realloc(l->paths, cap * sizeof *paths);
    if (!paths) {
      l->oom = 1;
      return 1;
    }
    l->paths = paths;
    l->cap = cap;
  }
  if (!(l->paths[l->count] = strdup(path))) {
    l->oom = 1;
    return 1;
  }
  l->count++;
  return 0;
}

static void path_list_free(path_list *l) {
  for (size_t i = 0; i < l->count; i++)
    free(l->paths[i]);
  free(l->paths);
}

/* The folder every path is in (their common prefix, cut at a '/'), into
 * out[size]. */
static void common_folder(const path_list *l, char *out, size_t size) {
  out[0] = 0;
  if (!l->count)
    return;
  size_t len = strlen(l->paths[0]);
  for (size_t i = 1; i < l->count; i++) {
    size_t k = 0;
    while (k < len && l->paths[i][k] == l->paths[0][k])
      k++;
    len = k;
  }
  const char *p = l->paths[0];
  while (len > 0 && p[len] != '/')
    len--;
  snprintf(out, size, "%.*s", (int)len, p);
}

static si_status in_tx_end(si_db *db, si_status st, si_error *err) {
  if (st == SI_OK)
    return si_db_commit(db, err);
  si_db_rollback(db);
  return st;
}

si_status si_cleanup_item_run(si_db *db, const si_config *cfg, const si_cleanup_item *item,
                              si_cleanup_result *res, si_error *err) {
  memset(res, 0, sizeof *res);
  int done = 0;
  int64_t plan_id = -1;
  si_status st = si_store_cleanup_state(db, item->batch_id, item->what, item->newest_image, &done,
                                        &plan_id, err);
  if (st != SI_OK || done)
    return st;
  const char *root =
      strcmp(item->what, SI_CLEANUP_ORIGINALS) == 0 ? cfg->storage_dir : cfg->deid_dir;
  path_list l = {0};
  st = si_store_cleanup_files(db, item->batch_id, item->what, keep_path, &l, err);
  if (st == SI_OK && l.oom)
    st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st != SI_OK) {
    path_list_free(&l);
    return st;
  }
  common_folder(&l, res->path, sizeof res->path);
  int resumed = plan_id >= 0;
  /* The plan is durable before the first file goes: a crash after it
   * leaves a record that the next pass finishes. */
  if (!resumed) {
    /* Under the batch's lock, looked at again: the daemon's sweep and a
     * stage's job may reach one batch at once, and one plan must serve both. */
    int found = 0;
    st = si_db_begin(db, err);
    if (st == SI_OK)
      st = si_store_batch_lock_id(db, item->batch_id, NULL, &found, err);
    if (st == SI_OK)
      st = si_store_cleanup_state(db, item->batch_id, item->what, item->newest_image, &done,
                                  &plan_id, err);
    resumed = plan_id >= 0;
    if (st == SI_OK && !done && !resumed)
      st =
          si_store_cleanup_plan(db, item->batch_id, item->what, res->path, item->files, item->bytes,
                                item->reason ? item->reason : SI_CLEANUP_POLICY, &plan_id, err);
    st = in_tx_end(db, st, err);
    if (st != SI_OK || done) {
      path_list_free(&l);
      return st;
    }
  }
  char refused[REFUSED_NAMED][SI_PATH_MAX / 4];
  char failure[SI_PATH_MAX + 256] = "";
  for (size_t i = 0; st == SI_OK && i < l.count; i++) {
    char why[256];
    int64_t bytes = 0;
    switch (si_cleanup_unlink(root, l.paths[i], &bytes, why, sizeof why)) {
    case SI_UNLINK_REMOVED:
      res->removed++;
      res->removed_bytes += bytes;
      break;
    case SI_UNLINK_GONE:
      res->gone++;
      break;
    case SI_UNLINK_REFUSED:
      if (res->refused < REFUSED_NAMED)
        snprintf(refused[res->refused], sizeof refused[0], "%.700s: %s", l.paths[i], why);
      res->refused++;
      break;
    case SI_UNLINK_FAILED:
      if (!failure[0])
        snprintf(failure, sizeof failure, "%s: %s", l.paths[i], why);
      break;
    }
  }
  path_list_free(&l);
  if (st != SI_OK)
    return st;
  char msg[SI_PATH_MAX + 512];
  st = si_db_begin(db, err);
  for (int64_t i = 0; st == SI_OK && i < res->refused && i < REFUSED_NAMED; i++) {
    snprintf(msg, sizeof msg, "cleanup: kept %s", refused[i]);
    st = si_store_batch_log(db, item->batch_id, "warning", NULL, msg, err);
  }
  if (st == SI_OK && failure[0]) {
    /* The plan stays open: the next pass (the stage's retry, the sweep)
     * takes it up again. */
    snprintf(msg, sizeof msg, "cleanup: cannot remove %s (%" PRId64 " removed so far)", failure,
             res->removed);
    st = si_store_batch_log(db, item->batch_id, "warning", NULL, msg, err);
    st = in_tx_end(db, st, err);
    return st != SI_OK
               ? st
               : si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG,
                              "cleanup of batch %s: cannot remove %s", item->batch_uid, failure);
  }
  if (st == SI_OK)
    st = si_store_cleanup_finish(db, plan_id, res->removed, res->removed_bytes, resumed, err);
  if (st == SI_OK) {
    snprintf(msg, sizeof msg,
             "cleanup: removed the %s: %" PRId64 " file%s, %" PRId64 " bytes from %.3000s (%s)%s; "
             "%" PRId64 " already gone, %" PRId64 " kept",
             strcmp(item->what, SI_CLEANUP_DEID) == 0 ? "de-identified copies" : "originals",
             res->removed, res->removed == 1 ? "" : "s", res->removed_bytes,
             res->path[0] ? res->path : "-", item->reason ? item->reason : SI_CLEANUP_POLICY,
             resumed ? ", finishing an interrupted pass" : "", res->gone, res->refused);
    st = si_store_batch_log(db, item->batch_id, "info", NULL, msg, err);
  }
  if (st == SI_OK)
    st = si_store_cleanup_images_done(db, item->batch_id, err);
  st = in_tx_end(db, st, err);
  if (st == SI_OK)
    si_log(SI_LOG_INFO, "batch %s: %s", item->batch_uid, msg);
  return st;
}

si_status si_cleanup_sweep(si_db *db, const si_config *cfg, int dry_run, si_cleanup_item_fn fn,
                           void *user, size_t *count, si_error *err) {
  si_status first = SI_OK;
  si_error first_err;
  *count = 0;
  /* A second round only when the first's estimate left storage below the
   * low water (hard links, another filesystem for deid). */
  for (int round = 0; round < 3; round++) {
    int64_t free_mb = cfg->low_water_mb > 0 ? si_free_space_mb(cfg->storage_dir) : -1;
    si_cleanup_plan plan;
    si_status st = si_cleanup_plan_make(db, cfg, -1, si_now_ms(), free_mb, &plan, err);
    if (st != SI_OK)
      return st;
    size_t progress = 0;
    for (size_t i = 0; i < plan.count; i++) {
      const si_cleanup_item *it = &plan.items[i];
      if (!it->reason)
        continue;
      if (dry_run) {
        if (fn)
          fn(user, it, NULL);
        (*count)++;
        continue;
      }
      if (strcmp(it->reason, SI_CLEANUP_LOW_WATER) == 0) {
        int64_t now_mb = si_free_space_mb(cfg->storage_dir);
        if (now_mb >= cfg->high_water_mb)
          continue; /* high enough again: the rest keep their days */
      }
      si_cleanup_result res;
      si_error e;
      st = si_cleanup_item_run(db, cfg, it, &res, &e);
      if (st != SI_OK) {
        char buf[1200];
        si_log(SI_LOG_ERROR, "cleanup of batch %s (%s): %s", it->batch_uid, it->what,
               si_error_format(&e, buf, sizeof buf));
        if (first == SI_OK) {
          first = st;
          first_err = e;
        }
        continue;
      }
      if (fn)
        fn(user, it, &res);
      (*count)++;
      progress++;
    }
    int low = plan.low_water;
    si_cleanup_plan_free(&plan);
    if (dry_run || !low || !progress)
      break;
    int64_t now_mb = si_free_space_mb(cfg->storage_dir);
    if (now_mb < 0 || now_mb >= cfg->low_water_mb)
      break;
  }
  if (first != SI_OK)
    *err = first_err;
  return first;
}

/* ---- the stage ---- */

static int is_confirmed(void *user, const si_confirmed_batch *b) {
  (void)b;
  *(int *)user = 1;
  return 1;
}

si_status si_stage_cleanup_run(si_stage_context *ctx, const si_job *job, int *failed, char *error,
                               size_t size, si_error *err) {
  *failed = 0;
  si_batch *b = malloc(sizeof *b); /* 4 KiB of qa: not for the stack */
  if (!b)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  int found = 0, confirmed = 0;
  si_status st = si_store_batch_get(ctx->db, job->folder, b, &found, err);
  int64_t batch_id = found ? b->id : -1;
  free(b);
  if (st != SI_OK)
    return st;
  if (!found) {
    *failed = 1;
    ctx->give_up = 1;
    snprintf(error, size, "cleanup: no batch %s", job->folder);
    return SI_OK;
  }
  st = si_store_cleanup_confirmed(ctx->db, batch_id, is_confirmed, &confirmed, err);
  if (st == SI_OK && !confirmed)
    return si_store_batch_log(ctx->db, batch_id, "info", NULL,
                              "cleanup: nothing removed: not every destination confirmed the "
                              "batch",
                              err);
  si_cleanup_plan plan;
  if (st == SI_OK)
    st = si_cleanup_plan_make(ctx->db, ctx->cfg, batch_id, si_now_ms(), -1, &plan, err);
  if (st != SI_OK)
    return st;
  for (size_t i = 0; st == SI_OK && i < plan.count; i++) {
    const si_cleanup_item *it = &plan.items[i];
    char msg[400];
    if (!it->reason) {
      snprintf(msg, sizeof msg, "cleanup: the %s are kept %s",
               strcmp(it->what, SI_CLEANUP_DEID) == 0 ? "de-identified copies" : "originals",
               it->kept);
      st = si_store_batch_log(ctx->db, batch_id, "info", NULL, msg, err);
      continue;
    }
    si_cleanup_result res;
    si_error e;
    si_status rs = si_cleanup_item_run(ctx->db, ctx->cfg, it, &res, &e);
    if (rs == SI_ERR_IO) { /* a file the system would not let go: tried again later */
      *failed = 1;
      snprintf(error, size, "%s", e.message);
    } else if (rs != SI_OK) {
      *err = e;
      st = rs;
    }
  }
  si_cleanup_plan_free(&plan);
  /* Confirmed and judged: the images reach the original's final state,
   * whatever the keep days leave for later. */
  if (st == SI_OK && !*failed) {
    st = si_db_begin(ctx->db, err);
    if (st == SI_OK)
      st = si_store_cleanup_images_done(ctx->db, batch_id, err);
    st = in_tx_end(ctx->db, st, err);
  }
  return st;
}
