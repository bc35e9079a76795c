/* The intake pipeline: a finished input folder becomes one Batch of Images.
 *
 * Crash safety comes from the order of steps, each idempotent:
 *   1. the job is claimed with a lease (store.h); one job per batch uid runs
 *      at a time;
 *   2. the folder is claimed by an atomic rename into the work area, named
 *      after the job, so no second worker or restart can take it;
 *   3. headers are read (no lock held), then image rows are written with
 *      status NEW and their final storage path, one transaction per chunk
 *      of files; unreadable and conflicting files go to quarantine; the
 *      rows reach the disk before step 4 begins;
 *   4. the files go to storage: the whole folder in one rename when it can,
 *      else file by file (rename, or copy + fsync + rename across
 *      filesystems); the storage folders are fsynced;
 *   5. one transaction marks the rows DONE, writes the batch's status and
 *      metrics and ends the job.
 * Folders imported together (si_import_folders) whose folder goes to
 * storage in one rename get their rows written DONE in step 3 already, which
 * spares step 5 an update of every row: until the batch is finished such a
 * row may say DONE while its file is still in the work area. If the rename
 * does not happen, step 5 sets the rows of files not in storage back to NEW;
 * after a crash in between, the job runs again, finds its rows and moves the
 * files. The batch's status, not an image's, says that an import is over.
 * Which commits wait for the disk (si_db_begin_relaxed): the job's queueing
 * does; its claim and the record of the claimed folder's place need not, as
 * a power cut that undoes them leaves the job queued and its folder where
 * step 2 finds it again; step 3's rows must, before step 4 moves a file:
 * by durable commits, or, where the backend can sync outside a commit
 * (SQLite, si_db_sync), by relaxed commits and one sync after the last, so
 * that no other worker waits on the write lock while the disk catches up
 * (a power cut before the sync undoes rows whose files have not moved, and
 * the job runs again); step 5's need not: the moves reached the disk before it began, and if a
 * power cut undoes it the job runs again and finishes the same rows, as
 * after a crash between steps 4 and 5.
 * The storage place of an import is deterministic (storage/<uid> for a
 * batch's first data, storage/<uid>/<folder name> for later data), so a
 * restart at any point re-runs the job to the same end: rows that exist are
 * not inserted again, files still in the work area are moved, and rows whose
 * files reached storage are finished. Nothing is deleted except a
 * byte-identical second copy of an image already stored.
 *
 * Ownership: contexts and results are caller-owned structs; the pipeline
 * borrows the config and the database connection for the call. */
#ifndef SENDIT_PIPELINE_H
#define SENDIT_PIPELINE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/store.h"

typedef struct si_import_context {
  const si_config *cfg; /* borrowed */
  si_db *db;            /* borrowed; used by this thread only */
  const char *worker;   /* worker id for leases, e.g. "host:pid:thread" */
  int64_t job_id;       /* job being run (-1 for synchronous imports) */
  /* Progress callback (may be NULL): files done of total. */
  void (*progress)(void *user, int64_t done, int64_t total);
  void *progress_user;
  /* When set and non-zero, the import stops between chunks and leaves the
   * rest for the next run (graceful shutdown). May be NULL. An atomic: another
   * thread sets it. */
  const atomic_int *cancel;
} si_import_context;

typedef struct si_import_result {
  si_batch batch; /* final record */
  int64_t files_seen;
  int64_t imported;
  int64_t duplicates_ignored;
  int64_t quarantined;
  int64_t skipped;
  int fatal;       /* the import stopped early (disk full, permission, ...) */
  int interrupted; /* stopped by ctx->cancel; the job goes back to the queue */
  /* Stopped by a full disk or quota (ENOSPC, EDQUOT) while storing or
   * quarantining: not an error of the batch. The files not stored stay
   * where they are, the batch waits in QUEUE and the job goes back to the
   * queue without counting the attempt; the worker pool pauses intake. */
  int no_space;
  int folder_moved; /* the whole folder went to storage in one rename */
  int job_finished; /* the job's end was committed with the batch's */
  /* The job's lease ran out (this worker was too slow to renew it, and
   * another may hold it now): the import stopped where it was and left the
   * job, the batch's status and the remaining files to the holder. */
  int lease_lost;
} si_import_result;

/* Imports every file under `folder` into batch `batch_uid`. Files that fail
 * are quarantined and recorded; a failure that stops the whole import (full
 * disk, unwritable storage) leaves the remaining files where they are, marks
 * the batch ERROR and returns SI_OK with result->fatal set: the error is a
 * fact about the batch, not a failure of the call. For a job (ctx->job_id
 * >= 0) a full disk is no such failure but result->no_space: the batch waits
 * in QUEUE and the job is back in the queue. Non-SI_OK means the database
 * itself failed. */
si_status si_import_folder(si_import_context *ctx, const char *folder, const char *batch_uid,
                           si_import_result *result, si_error *err);

/* One import of several run together (si_import_folders). */
typedef struct si_import_item {
  const char *folder;       /* borrowed */
  const char *batch_uid;    /* borrowed */
  int64_t job_id;           /* the job this import runs, or -1 */
  si_import_result *result; /* borrowed; filled as si_import_folder fills it */
} si_import_item;

/* Imports several folders, each into its own batch, with the outcome of
 * si_import_folder for each. Small folders (one chunk of files each) are
 * imported together: their rows are written in one transaction (on SQLite,
 * in a few, whenever the write lock is free while the headers are read)
 * and they are finished in another, so a burst of small studies costs a few
 * commits instead of two per study. The steps and their order are those above, for
 * each folder. ctx->job_id is ignored; each item names its job. A database
 * failure fails the call and leaves every item's job to be run again. */
si_status si_import_folders(si_import_context *ctx, const si_import_item *items, size_t n,
                            si_error *err);

/* Runs one claimed job: claims its folder into the work area (or finds it
 * there after a crash), imports it and ends the job. */
si_status si_run_job(si_import_context *ctx, si_job *job, si_import_result *result, si_error *err);

/* Runs several jobs claimed together (si_store_claim_many): their folders
 * are claimed and their work paths recorded in one transaction, then they
 * are imported by si_import_folders. results[i] is jobs[i]'s. */
si_status si_run_jobs(si_import_context *ctx, si_job *jobs, size_t n, si_import_result *results,
                      si_error *err);

#endif
