/* The cleanup stage (issue 16, README "Cleanup"), the original's clean_up
 * and the last stage of the chain: once every destination confirmed a
 * batch (sendit/store_cleanup.h says when), its originals (image
 * storage_path, under [storage] folder) and de-identified copies
 * (image_deid output_path, under [deid] folder) are removed by the
 * [cleanup] policy, never before:
 *   - keep_originals_days / keep_deid_days: how long each stays after the
 *     confirmation (0: at once);
 *   - keep_errors: a batch with errors (has_error, or ERROR) is never cleaned;
 *   - below [storage] low_water_mb free space, the oldest confirmed
 *     batches go first, inside their keep days too, until free space is
 *     above high_water_mb again (reason "low-water").
 * Each pass of a batch and kind is recorded in batch_cleanup (a plan
 * first, finished once the files are gone: a crash re-runs it) and in the
 * batch's log; the batch's confirmed images become DONE and keep their rows.
 *
 * Removal never leaves its root: a path is taken apart below the root and
 * each folder opened without following symlinks (openat, O_NOFOLLOW), so a
 * symlink planted in storage is neither followed nor removed (the batch
 * log says so); only regular files are unlinked; a file already gone is
 * fine; folders left empty are pruned up to, not including, the root.
 *
 * Ownership: plans are caller-owned (si_cleanup_plan_free); everything
 * else is borrowed for the call. */
#ifndef SENDIT_CLEANUP_H
#define SENDIT_CLEANUP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/stages.h"
#include "sendit/store.h"
#include "sendit/store_cleanup.h"

/* One kind of a confirmed batch's files and what the policy says of it. */
typedef struct si_cleanup_item {
  int64_t batch_id;
  char batch_uid[SI_NAME_MAX];
  const char *what;     /* SI_CLEANUP_ORIGINALS or SI_CLEANUP_DEID (static) */
  const char *reason;   /* SI_CLEANUP_POLICY or SI_CLEANUP_LOW_WATER when due; NULL when kept */
  char kept[160];       /* why kept, when reason is NULL */
  int errors;           /* kept for the batch's errors (even below the low water) */
  int64_t confirmed_at; /* ms */
  int64_t newest_image; /* ms: the batch's newest image row */
  int64_t files, bytes; /* there now (regular files, lstat) */
} si_cleanup_item;

typedef struct si_cleanup_plan {
  si_cleanup_item *items; /* oldest confirmation first; due and kept */
  size_t count, cap;
  int64_t free_mb;   /* storage's free space it was made for; -1: not looked at */
  int low_water;     /* free_mb was below [storage] low_water_mb */
  int64_t due_bytes; /* the due items' bytes */
} si_cleanup_plan;

/* The rule, shared by the stage, the daemon's sweep, `sendit cleanup` and
 * any web use: the items of the confirmed batches (only batch_id unless
 * -1) at `now_ms`, with storage's free space `free_mb` (-1: leave the low
 * water out). Items with nothing recorded to remove (no deid copies) are
 * left out; kinds already removed too. */
si_status si_cleanup_plan_make(si_db *db, const si_config *cfg, int64_t batch_id, int64_t now_ms,
                               int64_t free_mb, si_cleanup_plan *plan, si_error *err);
void si_cleanup_plan_free(si_cleanup_plan *plan);

/* What one removal did. */
typedef struct si_cleanup_result {
  int64_t removed, removed_bytes; /* unlinked now */
  int64_t gone;                   /* already gone */
  int64_t refused;                /* kept: not a regular file, or a symlink on the way */
  char path[SI_PATH_MAX];         /* the folder they were in (the record's path) */
} si_cleanup_result;

/* Removes a due item's files (its reason), records it (plan, then
 * finish, the batch log) and sets the batch's confirmed images DONE. A
 * file that cannot be removed (other than gone) is SI_ERR_IO naming it;
 * the plan stays for the next pass. */
si_status si_cleanup_item_run(si_db *db, const si_config *cfg, const si_cleanup_item *item,
                              si_cleanup_result *res, si_error *err);

/* One sweep: the policy's due items, then, while storage's free space is
 * below low_water_mb, the oldest confirmed batches' until it is above
 * high_water_mb (free space measured again after each). `dry_run` removes
 * nothing and lists the plan. fn (may be NULL) hears of each due item
 * (res NULL on a dry run). *count gets how many items were (or would be)
 * removed. */
typedef void (*si_cleanup_item_fn)(void *user, const si_cleanup_item *item,
                                   const si_cleanup_result *res);
si_status si_cleanup_sweep(si_db *db, const si_config *cfg, int dry_run, si_cleanup_item_fn fn,
                           void *user, size_t *count, si_error *err);

/* The stage's run (si_stage_run_fn): the batch's due kinds are removed,
 * the kept ones logged with why (not confirmed, errors, keep days: the
 * daemon's sweep removes them when due). An attempt fails when a file
 * cannot be removed. */
si_status si_stage_cleanup_run(si_stage_context *ctx, const si_job *job, int *failed, char *error,
                               size_t size, si_error *err);

/* The daemon's sweep: a thread with its own connection that runs
 * si_cleanup_sweep every [cleanup] interval_seconds (and at once when
 * started). */
typedef struct si_cleanup_service si_cleanup_service;
si_status si_cleanup_service_start(const si_config *cfg, si_cleanup_service **out, si_error *err);
void si_cleanup_service_stop(si_cleanup_service *svc);

/* ---- removal below a root (stage_cleanup_fs.c) ---- */

typedef enum si_unlink_outcome {
  SI_UNLINK_REMOVED,
  SI_UNLINK_GONE,
  SI_UNLINK_REFUSED, /* outside the root, a symlink or not a regular file: left alone */
  SI_UNLINK_FAILED   /* the system refused (why says so) */
} si_unlink_outcome;
/* Unlinks the regular file `path` below `root` (absolute, clean) without
 * following any symlink below the root, then prunes the folders it leaves
 * empty up to the root. *bytes gets the size removed; why[size] the
 * reason when refused or failed. */
si_unlink_outcome si_cleanup_unlink(const char *root, const char *path, int64_t *bytes, char *why,
                                    size_t size);
/* The size of the regular file `path` below `root`, by the same walk, or
 * -1 when it is not one (gone, a symlink, outside). */
int64_t si_cleanup_size(const char *root, const char *path);

/* ---- operator views (lib/ops/cleanup.c, lib/ops/batch_cleanup.c) ---- */

/* The batch's cleanup record, one builder for `sendit batch show --json`'s
 * "cleanup" and the web: an array of
 *   {"what", "path", "files", "bytes", "reason", "planned", "removed"}
 * (removed null for a pass not finished). NULL with err set on failure. */
json_t *ops_batch_cleanup_json(si_db *db, int64_t batch_id, si_error *err);

/* `sendit cleanup`'s work: one sweep (dry run or not), as JSON:
 *   {"dry_run", "free_mb", "low_water_mb", "high_water_mb", "error",
 *    "items": [{"batch", "what", "files", "bytes", "reason", "confirmed",
 *      "path", "removed", "removed_bytes", "gone", "refused"}]}
 * (files and bytes: there when planned; path and the last four null on a
 * dry run; error null or the first failure, the other items still done).
 * *status gets the sweep's status. NULL only when memory ran out. */
json_t *ops_cleanup_json(si_db *db, const si_config *cfg, int dry_run, si_status *status,
                         si_error *err);

#endif
