/* `sendit batch retry UID` and the dashboard's Retry: one rule for both.
 *
 * A batch is retried only when it failed (status ERROR, or errors logged)
 * and no worker may be working on it (not QUEUE or PROCESSING). It resumes
 * the stage that failed, not the whole chain (sendit/stages.h):
 *   - failed in a stage after the import (batch.error_stage names it): that
 *     stage's newest failed job is queued again (same key and payload,
 *     attempts from 0), the batch goes to QUEUE;
 *   - failed in the import (or before stages were recorded): as always, a
 *     new import job for the files the newest failed import job left, in
 *     the work area or else in its input folder; none left is a refusal.
 * The new job, the status change and the cleared has_error/error_stage
 * commit together or not at all.
 *
 * Ownership: the result is caller-owned; nothing to free. */
#ifndef SENDIT_BATCH_RETRY_H
#define SENDIT_BATCH_RETRY_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

typedef enum si_retry_outcome {
  SI_RETRY_QUEUED,   /* a job was queued (or one was queued already: created 0) */
  SI_RETRY_NO_BATCH, /* no batch of that uid */
  SI_RETRY_REFUSED   /* nothing to retry, or not now: message says why */
} si_retry_outcome;

typedef struct si_batch_retry_result {
  si_retry_outcome outcome;
  /* Why not (SI_RETRY_REFUSED, SI_RETRY_NO_BATCH), or what was queued; raw
   * text (uids and paths unescaped: the caller escapes for its output). */
  char message[2 * SI_PATH_MAX + 512];
  char stage[16];         /* the stage retried ("import", ...) */
  char old_status[16];    /* the batch's status before */
  char path[SI_PATH_MAX]; /* import: the folder queued */
  const char *from;       /* import: "files left in the work area" or "the original folder" */
  int64_t failed_job;     /* the failed job it follows, or -1 */
  int created;            /* 0 when a job of that stage was queued already */
} si_batch_retry_result;

/* Why batch `b` cannot be retried, or NULL when it can (static text). */
const char *si_batch_not_retryable(const si_batch *b);

/* Applies the rule to batch `uid`. SI_OK with out->outcome set; other
 * statuses are database failures (err says which; nothing changed). */
si_status si_batch_retry(si_db *db, const char *uid, si_batch_retry_result *out, si_error *err);

#endif
