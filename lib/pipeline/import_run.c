/* A run's log lines, whether a failed move waits for space, and the job's
 * lease, renewed in a transaction (which fences it) or between steps. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/log.h"
#include "sendit/strf.h"
#include "import_internal.h"

si_status imp_log_in(run *r, const char *uid, int64_t batch_id, const char *level, const char *file,
                     const char *msg) {
  si_log(strcmp(level, "error") == 0 ? SI_LOG_ERROR : SI_LOG_INFO, "batch %s: %s%s%s", uid,
         file ? file : "", file ? ": " : "", msg);
  si_error e;
  return si_store_batch_log(r->ctx->db, batch_id, level, file, msg, &e);
}

si_status imp_batch_log(run *r, const char *level, const char *file, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = si_vstrf(fmt, ap);
  va_end(ap);
  if (!msg)
    return SI_ERR_NOMEM;
  si_status st = imp_log_in(r, r->uid, r->batch_id, level, file, msg);
  free(msg);
  return st;
}

/* Whether a failed move failed for want of space (ENOSPC, EDQUOT): then
 * the import pauses rather than fails (si_import_result.no_space). The
 * error carries the reason as text only (fs.c words it with strerror). */
static int for_want_of_space(const si_error *e) {
  return e && (strstr(e->message, strerror(ENOSPC)) || strstr(e->message, strerror(EDQUOT)));
}

/* Only a job can wait for space: a synchronous import (sendit
 * import_dicomdir) has no queue to go back to, and fails as before. */
int imp_waits_for_space(const run *r, const si_error *e) {
  return r->job_id >= 0 && for_want_of_space(e);
}

/* The first statement of each chunk's transaction renews the job's lease,
 * which fences the chunk: on PostgreSQL the job's row stays locked until the
 * commit, so no claim can take the job over in between (SQLite's single
 * writer does the same), and a worker whose lease already ran out writes
 * nothing. Sets lease_lost instead of failing. */
si_status imp_renew_lease_in_tx(run *r, si_error *err) {
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
/* Renews the lease a third of the way through it. Returns 0 once the lease
 * is lost: then the import must stop touching the job's files and rows. A
 * database error is not a lost lease: the next beat tries again. */
int imp_heartbeat_if_due(run *r) {
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
