/* The table of stages, the chain of [pipeline] stages, backoff, and running
 * a stage's job to its end; see sendit/stages.h. */
#include "sendit/stages.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "sendit/cleanup.h"
#include "sendit/deliver.h"
#include "sendit/log.h"
#include "sendit/stage_deid.h"
#include "sendit/store_stages.h"

static si_status run_test(si_stage_context *ctx, const si_job *job, int *failed, char *error,
                          size_t size, si_error *err);

/* Import: its retries are the queue's (leases, [queue] max_attempts), so
 * its policy here is unused. The test stage retries fast, for the tests. */
static const si_stage_kind kinds[] = {
    {"import", 1, NULL, NULL, 0, {0, 0, 0}},
    {"test", 1, "SENDIT_TEST_STAGES", run_test, 0, {300, 2000, 4}},
    /* deid: one batch at a time per pool (its images are many; the pool's
     * other workers import meanwhile); an attempt that fails (the provider
     * down, a full disk) waits 5 s doubling to 5 min, 8 attempts (some 15
     * minutes in all, enough for a service's restart). */
    {"deid", 1, NULL, si_stage_deid_run, 1, {5000, 300000, 8}},
    /* send: one job per batch and destination (lib/deliver/engine.c); its
     * attempts are bounded by the destination's max_attempts and
     * max_age_seconds (at most 1000 here), each destination's concurrency
     * and breaker by the engine; 5 s doubling to 10 min between attempts. */
    {"send", 1, NULL, si_deliver_run, 0, {5000, 600000, 1000}},
    /* cleanup: one batch at a time per pool; an attempt fails only when
     * files could not be removed (a permission, an I/O error). */
    {"cleanup", 1, NULL, si_stage_cleanup_run, 1, {1000, 60000, 5}},
};

const si_stage_kind *si_stage_kinds(size_t *count) {
  *count = sizeof kinds / sizeof kinds[0];
  return kinds;
}

const si_stage_kind *si_stage_find(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strlen(kinds[i].name) == len && memcmp(kinds[i].name, name, len) == 0)
      return &kinds[i];
  return NULL;
}

static int env_on(const char *name) {
  const char *v = name ? getenv(name) : NULL;
  return v && strcmp(v, "1") == 0;
}

const char *si_stages_check(const char *list) {
  static _Thread_local char why[512];
  const char *p = list;
  int index = 0;
  char seen[sizeof kinds / sizeof kinds[0]] = {0};
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    const si_stage_kind *k = si_stage_find(p, len);
    if (!k) {
      snprintf(why, sizeof why, "unknown stage \"%.*s\" (known: import, test, deid, send, cleanup)",
               (int)len, p);
      return why;
    }
    if (!k->built) {
      snprintf(why, sizeof why,
               "stage \"%s\" is not built yet (built: import, deid, send, cleanup)", k->name);
      return why;
    }
    if (k->env && !env_on(k->env)) {
      snprintf(why, sizeof why, "stage \"%s\" is for the test suite only (it needs %s=1)", k->name,
               k->env);
      return why;
    }
    if (index == 0 && strcmp(k->name, "import") != 0) {
      snprintf(why, sizeof why, "the first stage must be import, not \"%s\"", k->name);
      return why;
    }
    if (seen[k - kinds]++) {
      snprintf(why, sizeof why, "stage \"%s\" is named twice", k->name);
      return why;
    }
    /* Cleanup removes only what every destination confirmed: without a
     * send stage before it, nothing ever would be. */
    if (strcmp(k->name, "cleanup") == 0 && !seen[si_stage_find("send", 4) - kinds]) {
      snprintf(why, sizeof why,
               "stage \"cleanup\" needs \"send\" before it (it removes only what every "
               "destination confirmed)");
      return why;
    }
    index++;
    p += len + (comma ? 1 : 0);
  }
  return index ? NULL : "must name at least import";
}

/* The position of `name` in the chain, or -1; *next_out gets the name after
 * it (NULL for the last), pointing into the table. */
static int chain_position(const si_config *cfg, const char *name, const char **next_out) {
  const char *p = cfg->pipeline_stages && cfg->pipeline_stages[0] ? cfg->pipeline_stages : "import";
  int index = 0, found = -1;
  if (next_out)
    *next_out = NULL;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    const si_stage_kind *k = si_stage_find(p, len);
    if (found >= 0) {
      if (next_out && k)
        *next_out = k->name;
      return found;
    }
    if (k && strcmp(k->name, name) == 0)
      found = index;
    index++;
    p += len + (comma ? 1 : 0);
  }
  return found;
}

int si_stage_enabled(const si_config *cfg, const char *name) {
  return strcmp(name, "import") == 0 || chain_position(cfg, name, NULL) >= 0;
}

const char *si_stage_next(const si_config *cfg, const char *name) {
  const char *next = NULL;
  return chain_position(cfg, name, &next) >= 0 ? next : NULL;
}

int64_t si_stage_backoff_ms(const si_retry_policy *policy, int attempt, uint32_t random) {
  int64_t d = policy->base_ms > 0 ? policy->base_ms : 0;
  for (int i = 1; i < attempt && d < policy->max_ms; i++)
    d *= 2;
  if (d > policy->max_ms)
    d = policy->max_ms;
  int64_t half = d / 2;
  return d - half + (int64_t)(random % (uint64_t)(half + 1));
}

/* ---- the test stage ---- */

/* The payload a hand-off gives the test stage for batch `uid`, from
 * SENDIT_TEST_STAGE_RULES; into out[size]. */
static void test_payload(const char *uid, char *out, size_t size) {
  snprintf(out, size, "{}");
  const char *rules = getenv("SENDIT_TEST_STAGE_RULES");
  for (const char *p = rules ? rules : ""; *p;) {
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (eq && strncmp(uid, p, (size_t)(eq - p)) == 0) {
      int fail = 0, sleep_ms = 0;
      const char *f = strstr(eq, "fail:"), *s = strstr(eq, "sleep:");
      if (f && f < p + len)
        fail = strncmp(f + 5, "always", 6) == 0 ? -1 : atoi(f + 5);
      if (s && s < p + len)
        sleep_ms = atoi(s + 6);
      snprintf(out, size, "{\"fail\": %d, \"sleep_ms\": %d}", fail, sleep_ms);
      return;
    }
    p += len + (end ? 1 : 0);
  }
}

static si_status run_test(si_stage_context *ctx, const si_job *job, int *failed, char *error,
                          size_t size, si_error *err) {
  json_t *doc = json_loads(job->payload[0] ? job->payload : "{}", 0, NULL);
  int fail = (int)json_integer_value(json_object_get(doc, "fail"));
  int64_t sleep_ms = json_integer_value(json_object_get(doc, "sleep_ms"));
  json_decref(doc);
  /* Slices, so that a stopping pool is not held up; the lease is renewed
   * every second, as a long stage must. */
  for (int64_t slept = 0; slept < sleep_ms && !(ctx->cancel && *ctx->cancel); slept += 20) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    if (slept % 1000 == 980) {
      si_status st =
          si_store_heartbeat(ctx->db, job->id, ctx->worker, ctx->cfg->lease_seconds, err);
      if (st != SI_OK)
        return st; /* lost (SI_ERR_STATE: another holds it) or the database failed */
    }
  }
  *failed = fail < 0 || job->attempts <= fail;
  if (*failed)
    snprintf(error, size, "test stage: failing as told (attempt %d, fail %d)", job->attempts, fail);
  return SI_OK;
}

/* ---- ends ---- */

/* The hand-off after `stage`: the next stage, its payload and, for send,
 * the destinations the batch goes to (a send without any is skipped). */
typedef struct hand_off {
  const char *next;
  char payload[256];
  const char *keys[64];
  size_t key_count;
} hand_off;

static si_status next_of(si_db *db, const si_config *cfg, const char *stage, const char *uid,
                         hand_off *h, si_error *err) {
  h->next = si_stage_next(cfg, stage);
  h->payload[0] = 0;
  h->key_count = 0;
  if (h->next && strcmp(h->next, "test") == 0)
    test_payload(uid, h->payload, sizeof h->payload);
  if (h->next && strcmp(h->next, "send") == 0) {
    si_status st = si_deliver_fanout(db, cfg, uid, h->keys, sizeof h->keys / sizeof h->keys[0],
                                     &h->key_count, err);
    if (st != SI_OK)
      return st;
    if (!h->key_count) {
      si_log(SI_LOG_INFO, "batch %s: no destination takes any of its images; send skipped", uid);
      return next_of(db, cfg, "send", uid, h, err);
    }
  }
  return SI_OK;
}

si_status si_stage_end_import(si_db *db, const si_config *cfg, int64_t job_id, const char *worker,
                              const char *batch_uid, int failed, const char *error,
                              int64_t started_ms, si_error *err) {
  hand_off h = {.next = NULL};
  if (!failed) {
    si_status st = next_of(db, cfg, "import", batch_uid, &h, err);
    if (st != SI_OK)
      return st;
  }
  const char *next = h.next;
  si_job_end end = {.job_id = job_id,
                    .worker = worker,
                    .kind = "import",
                    .batch_uid = batch_uid,
                    .state = failed ? "failed" : "done",
                    .error = failed ? (error ? error : "import stopped: see the batch log") : NULL,
                    .next_kind = next,
                    .next_payload = next ? h.payload : NULL,
                    .next_keys = h.keys,
                    .next_key_count = h.key_count,
                    .started_ms = started_ms};
  return si_store_job_end(db, &end, err);
}

/* The batch log line of a stage given up, and the job's end, in the
 * caller's transaction. */
static si_status give_up(si_stage_context *ctx, const si_stage_kind *kind, const si_job *job,
                         const char *why, si_error *err) {
  char msg[1400];
  snprintf(msg, sizeof msg, "stage %s given up after %d attempts: %s", kind->name,
           job->attempts > kind->retry.max_attempts ? job->attempts - 1 : job->attempts, why);
  si_log(SI_LOG_ERROR, "job %" PRId64 " (%s, batch %s): %s", job->id, kind->name, job->folder, msg);
  int64_t batch_id = -1;
  int found = 0;
  si_status st = si_store_batch_lock_uid(ctx->db, job->folder, &batch_id, &found, err);
  if (st == SI_OK && found)
    st = si_store_batch_log(ctx->db, batch_id, "error", NULL, msg, err);
  si_job_end end = {.job_id = job->id,
                    .worker = ctx->worker,
                    .kind = kind->name,
                    .batch_uid = job->folder,
                    .state = "failed",
                    .error = msg,
                    .batch_error = 1,
                    .fan_in = strcmp(kind->name, "send") == 0};
  return st == SI_OK ? si_store_job_end(ctx->db, &end, err) : st;
}

static uint32_t jitter_random(const si_job *job) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)job->id << 17) ^ (uint64_t)job->attempts;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (uint32_t)x;
}

si_status si_stage_run_claimed(si_stage_context *ctx, const si_stage_kind *kind, si_job *job,
                               si_error *err) {
  int failed = 0;
  char why[1024] = "";
  si_status st = SI_OK;
  int over = job->attempts > kind->retry.max_attempts;
  ctx->give_up = 0;
  ctx->deferred = 0;
  if (over)
    snprintf(why, sizeof why, "its worker stopped before finishing (lease ran out)");
  else
    st = kind->run(ctx, job, &failed, why, sizeof why, err);
  if (st == SI_ERR_STATE) {
    si_log(SI_LOG_WARN, "job %" PRId64 " (%s): %s; leaving it", job->id, kind->name, err->message);
    return SI_OK;
  }
  if (st != SI_OK || ctx->deferred)
    return st;
  st = si_db_begin(ctx->db, err);
  if (st == SI_OK && !over && !failed) {
    hand_off h = {.next = NULL};
    st = next_of(ctx->db, ctx->cfg, kind->name, job->folder, &h, err);
    si_job_end end = {.job_id = job->id,
                      .worker = ctx->worker,
                      .kind = kind->name,
                      .batch_uid = job->folder,
                      .state = "done",
                      .next_kind = h.next,
                      .next_key = strcmp(kind->name, "send") == 0 ? "" : job->key,
                      .next_payload = h.next ? h.payload : NULL,
                      .next_keys = h.keys,
                      .next_key_count = h.key_count,
                      .fan_in = strcmp(kind->name, "send") == 0};
    if (st == SI_OK)
      st = si_store_job_end(ctx->db, &end, err);
  } else if (st == SI_OK && !over && !ctx->give_up && job->attempts < kind->retry.max_attempts) {
    int64_t delay = si_stage_backoff_ms(&kind->retry, job->attempts, jitter_random(job));
    si_log(SI_LOG_WARN,
           "job %" PRId64 " (%s, batch %s): attempt %d failed: %s; again in %" PRId64 " ms",
           job->id, kind->name, job->folder, job->attempts, why, delay);
    st = si_store_job_retry_later(ctx->db, job->id, ctx->worker, job->folder, kind->name, why,
                                  delay, err);
  } else if (st == SI_OK) {
    st = give_up(ctx, kind, job, why, err);
  }
  if (st == SI_OK)
    return si_db_commit(ctx->db, err);
  si_db_rollback(ctx->db);
  if (st == SI_ERR_STATE) {
    si_log(SI_LOG_WARN, "job %" PRId64 " (%s): %s; leaving it", job->id, kind->name, err->message);
    return SI_OK;
  }
  return st;
}
