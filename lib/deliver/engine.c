/* The send stage's run (sendit/deliver.h): admission (the destination's
 * concurrency and breaker), the batch's items for the destination, the
 * type's delivery with each result written to the ledger as it comes, the
 * breaker's record, and the job's outcome (done, retry, or given up). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/deliver.h"
#include "sendit/log.h"
#include "sendit/store.h"
#include "sendit/store_stages.h"

/* A destination at its concurrency looks again after this. */
#define BUSY_RETRY_MS 1000

typedef struct send_run {
  si_stage_context *ctx;
  const si_job *job;
  const si_dest_config *d;
  si_dest_item *items;
  char **owned; /* the items' strings */
  size_t count, cap, owned_count, owned_cap;
  unsigned char *settled;
  size_t sent, refused, retry;
  size_t refused_now; /* of refused: by this attempt (the others are not among the items) */
  char refusal[512], retry_why[512];
  si_status db_status;
  si_error db_err;
  int64_t last_beat, last_flush;
  /* Answers not yet written: one transaction takes a run of them (a
   * commit per instance would cost a sync each). */
  struct unwritten {
    size_t index;
    const char *state;
    char *answer;
  } * unwritten;
  size_t nunwritten;
  pthread_mutex_t lock; /* a type may report from its own threads */
} send_run;

/* Answers are written at most this many at once, and no later than this
 * long after they came. */
#define FLUSH_COUNT 64
#define FLUSH_MS 200

static char *keep(send_run *r, const char *s) {
  if (r->owned_count == r->owned_cap) {
    size_t cap = r->owned_cap ? r->owned_cap * 2 : 64;
    char **grown = realloc(r->owned, cap * sizeof *grown);
    if (!grown)
      return NULL;
    r->owned = grown;
    r->owned_cap = cap;
  }
  char *copy = strdup(s ? s : "");
  if (copy)
    r->owned[r->owned_count++] = copy;
  return copy;
}

static void run_free(send_run *r) {
  for (size_t i = 0; i < r->nunwritten; i++)
    free(r->unwritten[i].answer);
  free(r->unwritten);
  for (size_t i = 0; i < r->owned_count; i++)
    free(r->owned[i]);
  free(r->owned);
  free(r->items);
  free(r->settled);
}

/* ---- admission ---- */

/* Whether the job may start now; else it is given back (ctx->deferred). */
static si_status admit(send_run *r, int *go, si_error *err) {
  si_stage_context *ctx = r->ctx;
  const si_dest_config *d = r->d;
  *go = 0;
  si_dest_state s;
  int64_t now = 0, running = 0, until = 0;
  si_breaker_verdict v = SI_BREAKER_RUN;
  si_status st = si_db_begin(ctx->db, err);
  if (st == SI_OK)
    st = si_store_dest_state_lock(ctx->db, d->name, &s, err);
  if (st == SI_OK)
    st = si_store_db_now(ctx->db, &now, err);
  if (st == SI_OK)
    st = si_store_dest_running(ctx->db, d->name, r->job->id, &running, err);
  int busy = st == SI_OK && running >= d->concurrency;
  if (st == SI_OK && !busy) {
    v = si_breaker_admit(&s, now, d->breaker_probe_seconds, (int64_t)ctx->cfg->lease_seconds * 1000,
                         &until);
    if (v == SI_BREAKER_PROBE)
      st = si_store_dest_state_put(ctx->db, &s, err);
  }
  if (st == SI_OK)
    st = si_db_commit(ctx->db, err);
  else
    si_db_rollback(ctx->db);
  if (st != SI_OK)
    return st;
  if (!busy && v != SI_BREAKER_WAIT) {
    if (v == SI_BREAKER_PROBE)
      si_log(SI_LOG_INFO, "destination %s: breaker half-open, probing with batch %s", d->name,
             r->job->folder);
    *go = 1;
    return SI_OK;
  }
  int64_t delay = busy ? BUSY_RETRY_MS : until - now;
  st = si_store_job_defer(ctx->db, r->job->id, ctx->worker, delay > 0 ? delay : 1, err);
  ctx->deferred = st == SI_OK;
  return st == SI_ERR_STATE ? SI_OK : st;
}

/* ---- the items ---- */

static int gather_row(void *user, const si_send_image *row) {
  send_run *r = user;
  int failed = row->state && strcmp(row->state, SI_DEST_FAILED) == 0;
  if (row->state && !failed && strcmp(row->state, SI_DEST_PENDING) != 0)
    return 0; /* sent */
  int match = 0;
  r->db_status = si_deliver_image_match(r->d, row, &match, &r->db_err);
  if (r->db_status != SI_OK)
    return 1;
  if (!match)
    return 0;
  if (failed) {
    /* refused for good by an earlier attempt whose end a crash lost: the
     * batch still fails for it */
    if (!r->refused++)
      snprintf(r->refusal, sizeof r->refusal, "%s: %s", row->sop_instance_uid,
               row->answer ? row->answer : "");
    return 0;
  }
  if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    si_dest_item *grown = realloc(r->items, cap * sizeof *grown);
    if (!grown) {
      r->db_status = SI_ERR_NOMEM;
      return 1;
    }
    r->items = grown;
    r->cap = cap;
  }
  si_dest_item *it = &r->items[r->count];
  it->image_id = row->image_id;
  it->path = keep(r, row->path);
  it->sop_class_uid = keep(r, row->sop_class_uid);
  it->sop_instance_uid = keep(r, row->sop_instance_uid);
  it->study_uid = keep(r, row->study_uid);
  it->series_uid = keep(r, row->series_uid);
  it->size = row->size;
  if (!it->path || !it->sop_class_uid || !it->sop_instance_uid || !it->study_uid ||
      !it->series_uid) {
    r->db_status = SI_ERR_NOMEM;
    return 1;
  }
  struct stat sb;
  if (strcmp(r->d->source, "deid") == 0 && stat(it->path, &sb) == 0)
    it->size = (int64_t)sb.st_size;
  r->count++;
  return 0;
}

/* The batch's items not yet settled for the destination, with their
 * ledger rows added as pending first (one transaction). */
static si_status gather(send_run *r, si_error *err) {
  si_db *db = r->ctx->db;
  si_status st = si_db_begin(db, err);
  if (st == SI_OK)
    st = si_store_send_images(db, r->job->folder, r->d->source, r->d->name, gather_row, r, err);
  if (st == SI_OK && r->db_status != SI_OK)
    st = si_error_set(err, r->db_status, r->d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  for (size_t i = 0; st == SI_OK && i < r->count; i++)
    st = si_store_image_destination_add(db, r->items[i].image_id, r->d->name, NULL, err);
  if (st == SI_OK)
    st = si_db_commit(db, err);
  else
    si_db_rollback(db);
  if (st == SI_OK && !r->unwritten && !(r->unwritten = calloc(FLUSH_COUNT, sizeof *r->unwritten)))
    st = si_error_set(err, SI_ERR_NOMEM, r->d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK && !r->settled && !(r->settled = calloc(r->count ? r->count : 1, 1)))
    st = si_error_set(err, SI_ERR_NOMEM, r->d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  return st;
}

/* ---- results ---- */

/* Writes the answers that came, and renews the lease when a third of it
 * passed, in one transaction: a crash after the peer's confirmation loses
 * at most these rows, and their items are delivered again, which the
 * contract makes idempotent. */
static si_status flush(send_run *r, si_error *err) {
  si_db *db = r->ctx->db;
  int64_t now = si_now_ms();
  r->last_flush = now;
  int beat = now - r->last_beat >= (int64_t)r->ctx->cfg->lease_seconds * 1000 / 3;
  if (!r->nunwritten && !beat)
    return SI_OK;
  si_status st = si_db_begin(db, err);
  for (size_t i = 0; st == SI_OK && i < r->nunwritten; i++)
    st = si_store_image_destination_set(db, r->items[r->unwritten[i].index].image_id, r->d->name,
                                        r->unwritten[i].state, r->unwritten[i].answer, err);
  if (st == SI_OK && beat) {
    r->last_beat = now;
    st = si_store_heartbeat(db, r->job->id, r->ctx->worker, r->ctx->cfg->lease_seconds, err);
  }
  if (st == SI_OK)
    st = si_db_commit(db, err);
  else
    si_db_rollback(db);
  for (size_t i = 0; i < r->nunwritten; i++)
    free(r->unwritten[i].answer);
  r->nunwritten = 0;
  return st;
}

static void on_result(void *user, const si_dest_result *res) {
  send_run *r = user;
  pthread_mutex_lock(&r->lock);
  if (res->index >= r->count || r->settled[res->index] || r->db_status != SI_OK) {
    pthread_mutex_unlock(&r->lock);
    return;
  }
  /* 1: settled (sent or refused for good); 2: to be tried again */
  r->settled[res->index] = res->sent || !res->retryable ? 1 : 2;
  const char *answer = res->answer ? res->answer : "";
  const char *state = SI_DEST_SENT;
  if (res->sent) {
    r->sent++;
  } else if (res->retryable) {
    state = SI_DEST_PENDING; /* tried again with the job */
    if (!r->retry++)
      snprintf(r->retry_why, sizeof r->retry_why, "%s: %s", r->items[res->index].path, answer);
  } else {
    state = SI_DEST_FAILED;
    r->refused_now++;
    if (!r->refused++)
      snprintf(r->refusal, sizeof r->refusal, "%s: %s", r->items[res->index].sop_instance_uid,
               answer);
  }
  struct unwritten *u = &r->unwritten[r->nunwritten];
  u->index = res->index;
  u->state = state;
  u->answer = strdup(answer);
  r->nunwritten += u->answer != NULL;
  si_status st = u->answer ? SI_OK : SI_ERR_NOMEM;
  if (st != SI_OK)
    si_error_set(&r->db_err, st, r->d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK && (r->nunwritten == FLUSH_COUNT || si_now_ms() - r->last_flush >= FLUSH_MS))
    st = flush(r, &r->db_err);
  r->db_status = st;
  pthread_mutex_unlock(&r->lock);
}

/* ---- the breaker's record ---- */

/* *probe_at: when the breaker, open after this attempt, lets the next
 * through (0: closed). */
static si_status record(send_run *r, int ok, const char *error, int64_t *probe_at, si_error *err) {
  si_db *db = r->ctx->db;
  si_dest_state s;
  int64_t now = 0;
  int opened = 0, closed = 0;
  *probe_at = 0;
  si_status st = si_db_begin(db, err);
  if (st == SI_OK)
    st = si_store_dest_state_lock(db, r->d->name, &s, err);
  if (st == SI_OK)
    st = si_store_db_now(db, &now, err);
  if (st == SI_OK) {
    closed = ok && strcmp(s.state, SI_BREAKER_CLOSED) != 0;
    opened = si_breaker_record(&s, ok, error, now, r->d->breaker_failures);
    if (strcmp(s.state, SI_BREAKER_OPEN) == 0)
      *probe_at = s.opened_at + (int64_t)r->d->breaker_probe_seconds * 1000;
    s.sent_count += (int64_t)r->sent;
    s.failed_count += (int64_t)r->refused_now;
    st = si_store_dest_state_put(db, &s, err);
  }
  if (st == SI_OK && opened)
    st = si_store_dest_push_queued(db, r->d->name,
                                   now + (int64_t)r->d->breaker_probe_seconds * 1000, err);
  if (st == SI_OK && closed)
    st = si_store_dest_release_queued(db, r->d->name, err);
  if (st == SI_OK)
    st = si_db_commit(db, err);
  else
    si_db_rollback(db);
  if (st == SI_OK && closed)
    si_log(SI_LOG_INFO, "destination %s: breaker closed (the probe succeeded)", r->d->name);
  if (st == SI_OK && opened)
    si_log(SI_LOG_WARN,
           "destination %s: breaker open after %d consecutive failed attempts (%s); next probe "
           "in %d s",
           r->d->name, s.failures, s.last_error, r->d->breaker_probe_seconds);
  return st;
}

/* ---- giving up ---- */

static si_status give_up_pending(send_run *r, const char *why, si_error *err) {
  char answer[700];
  snprintf(answer, sizeof answer, "given up after %d attempts: %s", r->job->attempts, why);
  si_status st = SI_OK;
  for (size_t i = 0; st == SI_OK && i < r->count; i++)
    if (r->settled[i] == 2)
      st = si_store_image_destination_set(r->ctx->db, r->items[i].image_id, r->d->name,
                                          SI_DEST_FAILED, answer, err);
  return st;
}

static void unsettled_to_retry(send_run *r, const char *why) {
  for (size_t i = 0; i < r->count; i++)
    if (!r->settled[i]) {
      r->settled[i] = 2;
      if (!r->retry++)
        snprintf(r->retry_why, sizeof r->retry_why, "%s", why);
    }
}

si_status si_deliver_run(si_stage_context *ctx, const si_job *job, int *failed, char *error,
                         size_t size, si_error *err) {
  const si_dest_config *d = si_deliver_find(ctx->cfg, job->key);
  *failed = 0;
  if (!d) {
    *failed = 1;
    ctx->give_up = 1;
    snprintf(error, size, "destination %s is not configured (any more)", job->key);
    return SI_OK;
  }
  const si_dest_type *type = si_dest_type_find(d->type);
  send_run r = {.ctx = ctx,
                .job = job,
                .d = d,
                .db_status = SI_OK,
                .last_beat = si_now_ms(),
                .last_flush = si_now_ms()};
  int go = 0;
  si_status st = admit(&r, &go, err);
  if (st != SI_OK || !go)
    return st;
  pthread_mutex_init(&r.lock, NULL);
  st = gather(&r, err);
  si_status dst = SI_OK;
  int64_t probe_at = 0;
  si_error derr;
  si_error_clear(&derr);
  char derr_text[600] = "";
  if (st == SI_OK && r.count) {
    si_dest_batch b = {job->folder, d->source, r.items, r.count};
    dst = type->deliver(d, &b, ctx->cancel, on_result, &r, &derr);
    if (dst != SI_OK)
      si_error_format(&derr, derr_text, sizeof derr_text);
    if (r.db_status == SI_OK)
      r.db_status = flush(&r, &r.db_err);
    if (r.db_status != SI_OK) {
      st = r.db_status;
      *err = r.db_err;
    }
    unsettled_to_retry(&r, dst != SI_OK ? derr_text : "the destination did not answer for it");
    if (st == SI_OK)
      st = record(&r, dst == SI_OK, derr_text, &probe_at, err);
  }
  int64_t created = 0, now = si_now_ms();
  if (st == SI_OK && r.retry)
    st = si_store_job_created(ctx->db, job->id, &created, err);
  if (st == SI_OK && r.retry) {
    int out_of_time = created && now - created > d->max_age_seconds * 1000;
    *failed = 1;
    if (job->attempts >= d->max_attempts || out_of_time) {
      ctx->give_up = 1;
      st = give_up_pending(&r, r.retry_why, err);
      snprintf(error, size,
               "destination %s: %zu of %zu instances not delivered after %d attempts%s: %s",
               d->name, r.retry, r.count, job->attempts,
               out_of_time ? " (max_age_seconds passed)" : "", r.retry_why);
    } else {
      snprintf(error, size, "destination %s: %zu of %zu instances not delivered yet: %s", d->name,
               r.retry, r.count, r.retry_why);
      /* Behind an open breaker the next attempt is its probe, not the
       * stage's backoff, which may be longer. */
      int64_t db_now = 0;
      if (probe_at)
        st = si_store_db_now(ctx->db, &db_now, err);
      if (st == SI_OK && probe_at) {
        st = si_store_job_retry_later(ctx->db, job->id, ctx->worker, job->folder, "send", error,
                                      probe_at > db_now ? probe_at - db_now : 1, err);
        ctx->deferred = st == SI_OK;
        if (st == SI_ERR_STATE)
          st = SI_OK;
      }
    }
  } else if (st == SI_OK && r.refused) {
    *failed = 1;
    ctx->give_up = 1;
    snprintf(error, size, "destination %s: %zu of %zu instances refused: %s", d->name, r.refused,
             r.count + r.refused - r.refused_now, r.refusal);
  }
  if (st == SI_OK && r.count)
    si_log(SI_LOG_INFO, "batch %s to %s: %zu sent, %zu refused, %zu to retry (attempt %d)%s%s",
           job->folder, d->name, r.sent, r.refused, r.retry, job->attempts,
           derr_text[0] ? ": " : "", derr_text);
  pthread_mutex_destroy(&r.lock);
  run_free(&r);
  return st;
}
