/* The import's entry points (si_import_folder, si_import_folders): a
 * folder's listing, the grouping of small folders, and the order of the
 * steps for a folder alone and for a group. See pipeline.h for the
 * crash-safety argument; the order of the calls below is what makes it
 * hold. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/fs.h"
#include "sendit/pipeline.h"
#include "import_internal.h"
#include "readers.h"
#include "uid_set.h"

/* One import on its own: headers read outside any transaction, decided and
 * recorded in one transaction per chunk, then moved, then finished. */
static si_status import_alone(run *r, si_error *err) {
  si_import_context *ctx = r->ctx;
  const si_file_list *files = &r->files;
  plan *plans = imp_alloc_plans(files->count);
  if (!plans)
    return si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  si_status st = SI_OK;
  for (size_t from = 0; st == SI_OK && from < files->count && !r->res->fatal; from += CHUNK_FILES) {
    if (ctx->cancel && *ctx->cancel) {
      r->res->interrupted = 1;
      break;
    }
    size_t to = from + CHUNK_FILES < files->count ? from + CHUNK_FILES : files->count;
    if (!imp_heartbeat_if_due(r))
      break;
    imp_read_chunk_on_all_cores(files, from, to, plans);
    st = imp_plan_chunk(r, plans, to - from, from, err);
    imp_free_problems(plans, to - from);
    if (r->res->lease_lost)
      break;
    if (ctx->progress)
      ctx->progress(ctx->progress_user, (int64_t)to, (int64_t)files->count);
  }
  free(plans);
  if (st == SI_OK && si_db_can_sync(ctx->db))
    st = si_db_sync(ctx->db, err);
  if (st == SI_OK && !r->res->interrupted && !r->res->fatal && imp_heartbeat_if_due(r))
    imp_move_files(r, files);
  imp_sync_moves(&r, 1);
  int finish = 0;
  if (st == SI_OK)
    st = imp_wrap_up(r, &finish, err);
  if (st == SI_OK && finish)
    st = imp_finish_runs(&r, 1, err);
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
  plan *plans = imp_alloc_plans(files->count);
  if (plans)
    imp_read_chunk(files, 0, files->count, plans);
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
        imp_heartbeat_if_due(runs[k]);
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
      st = imp_plan_chunk_in_tx(r, plans[i], r->files.count, 0, err);
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
    imp_free_plans(plans[i], runs[i]->files.count);
  free(plans);
  free(short_of_memory);
  size_t finishing = 0;
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    run *r = runs[i];
    if (deferred[i])
      continue;
    if (ctx->progress && !r->res->interrupted)
      ctx->progress(ctx->progress_user, (int64_t)r->files.count, (int64_t)r->files.count);
    if (!r->res->interrupted && !r->res->lease_lost && !r->res->fatal && imp_heartbeat_if_due(r))
      imp_move_files(r, &r->files);
  }
  imp_sync_moves(runs, n);
  for (size_t i = 0; st == SI_OK && i < n; i++) {
    run *r = runs[i];
    if (deferred[i])
      continue;
    int finish = 0;
    st = imp_wrap_up(r, &finish, err);
    if (finish)
      to_finish[finishing++] = r;
  }
  if (st == SI_OK && finishing)
    st = imp_finish_runs(to_finish, finishing, err);
  for (size_t i = 0; st == SI_OK && i < n; i++)
    if (deferred[i])
      st = import_alone(runs[i], err);
  free(to_finish);
  free(deferred);
  return st;
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
  r->insert_first = !si_db_multi_row_insert(ctx->db);
  r->started = r->last_heartbeat = si_now_ms();
  si_error lerr;
  struct stat sb;
  if (lstat(r->folder, &sb) != 0 && errno == ENOENT) {
    /* nothing to list */
  } else if (si_list_files(r->folder, &r->files, &lerr) != SI_OK) {
    r->res->fatal = 1;
    r->list_failed = 1;
    r->list_error = lerr;
  }
  if (!imp_set_aside_long_paths(r))
    return si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  r->res->files_seen = (int64_t)(r->files.count + r->files.other_count);
  r->moves = calloc(r->files.count ? r->files.count : 1, 1);
  return r->moves
             ? SI_OK
             : si_error_set(err, SI_ERR_NOMEM, r->folder, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
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
    imp_remove_partials(&runs[i]);
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
