/* The deid stage (issue 14): every image of a batch not yet decided is
 * de-identified into [deid] folder/<study code>/<name>, or held for review
 * (README, "The deid stage"). Crash-safe and idempotent like the import:
 * an output is complete under its final name before its row says done, a
 * re-run keeps the outputs whose rows are written and writes the others
 * again under the same names (the engine is deterministic), and held
 * images are set aside once. */
#include "sendit/stage_deid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/log.h"
#include "sendit/strf.h"
#include "sendit/store_deid_stage.h"
#include "stage_deid_internal.h"

typedef struct item_list {
  deid_item *items;
  size_t count, cap;
  int oom;
} item_list;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int collect(void *user, const si_deid_image *row) {
  item_list *l = user;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    deid_item *grown = realloc(l->items, cap * sizeof *grown);
    if (!grown) {
      l->oom = 1;
      return 1;
    }
    l->items = grown;
    l->cap = cap;
  }
  deid_item *it = &l->items[l->count];
  memset(it, 0, sizeof *it);
  it->image_id = row->image_id;
  it->uid = strdup(row->uid);
  it->storage_path = strdup(row->storage_path);
  it->original_name = strdup(row->original_name);
  it->patient_id = strdup(row->patient_id);
  it->study_uid = strdup(row->study_uid);
  it->released = row->state && strcmp(row->state, SI_DEID_RELEASED) == 0;
  it->state = it->released ? NULL : dup_or_null(row->state);
  it->output_path = dup_or_null(row->output_path);
  l->count++;
  if (!it->uid || !it->storage_path || !it->original_name || !it->patient_id || !it->study_uid ||
      (row->state && !it->released && !it->state) || (row->output_path && !it->output_path))
    l->oom = 1;
  return l->oom;
}

static void list_free(item_list *l) {
  for (size_t i = 0; i < l->count; i++) {
    deid_item *it = &l->items[i];
    free(it->uid);
    free(it->storage_path);
    free(it->original_name);
    free(it->patient_id);
    free(it->study_uid);
    free(it->state);
    free(it->output_path);
  }
  free(l->items);
}

/* Whether the image still needs the engine: undecided or released, or done
 * with its output gone (someone removed it: it is made again). */
static int to_do(const deid_item *it) {
  if (!it->state)
    return 1;
  struct stat sb;
  return strcmp(it->state, SI_DEID_DONE) == 0 &&
         (!it->output_path || stat(it->output_path, &sb) != 0);
}

static si_status nomem(si_error *err) {
  return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
}

/* ---- the engine's inputs ---- */

/* A released image's rules: the recipe's actions, not its filter (the
 * operator reviewed what it flagged). */
static si_status no_filter(const void *self, const si_file *file, int *flagged, char *reason,
                           size_t size, si_error *err) {
  (void)self;
  (void)file;
  (void)reason;
  (void)size;
  (void)err;
  *flagged = 0;
  return SI_OK;
}

/* "basic,OPTION..." or "none", as si_deid_profile_parse reads it. */
static char *profile_text(const si_config *cfg) {
  if (strcmp(cfg->deid_profile, "basic") != 0)
    return strdup("none");
  return si_strf("basic%s%s", cfg->deid_options[0] ? "," : "", cfg->deid_options);
}

static si_status env_open(deid_env *env, si_error *err) {
  const si_config *cfg = env->ctx->cfg;
  si_deid_options_init(&env->opts);
  char *profile = profile_text(cfg);
  if (!profile)
    return nomem(err);
  si_status st = si_deid_profile_parse(profile, &env->opts.profile, err);
  free(profile);
  env->opts.keep_times = cfg->deid_keep_times;
  env->opts.key = env->key;
  if (st == SI_OK)
    st = si_deid_key_load(cfg->deid_key_file, env->key, err);
  if (st == SI_OK && cfg->deid_recipe[0]) {
    st = si_deid_recipe_load(cfg->deid_recipe, &env->recipe, err);
    if (st == SI_OK) {
      si_deid_recipe_rules(env->recipe, &env->rules);
      env->opts.rules = &env->rules;
      env->rules_released = env->rules;
      env->rules_released.filter = no_filter;
    }
  }
  if (st == SI_OK)
    st = si_stage_deid_ids_open(cfg, env->ctx->db, &env->ids, err);
  return st;
}

static void env_close(deid_env *env) {
  if (env->ids)
    si_deid_ids_free(env->ids);
  si_deid_recipe_free(env->recipe);
  memset(env->key, 0, sizeof env->key);
  for (size_t i = 0; i < env->nswept; i++)
    free(env->swept[i]);
  free(env->swept);
}

/* ---- one patient: one lookup, then its images ---- */

typedef struct run_state {
  deid_env *env;
  const si_job *job;
  int64_t last_heartbeat;
  int64_t done, held, failed;
  int cancelled, lost;
} run_state;

static si_status heartbeat(run_state *r, si_error *err) {
  int64_t now = si_now_ms();
  if (now - r->last_heartbeat < 1000)
    return SI_OK;
  r->last_heartbeat = now;
  const si_stage_context *ctx = r->env->ctx;
  si_status st = si_store_heartbeat(ctx->db, r->job->id, ctx->worker, ctx->cfg->lease_seconds, err);
  r->lost = st == SI_ERR_STATE;
  return st;
}

/* The distinct studies of items[from, to) (sorted by study within the
 * patient), into a new array of borrowed strings. */
static const char **studies_of(const deid_item *items, size_t from, size_t to, size_t *n) {
  const char **out = malloc((to - from) * sizeof *out);
  *n = 0;
  for (size_t i = from; out && i < to; i++)
    if (*n == 0 || strcmp(out[*n - 1], items[i].study_uid) != 0)
      out[(*n)++] = items[i].study_uid;
  return out;
}

static si_status run_patient(run_state *r, const deid_item *items, size_t from, size_t to,
                             si_error *err) {
  int any = 0;
  for (size_t i = from; i < to && !any; i++)
    any = to_do(&items[i]);
  if (!any) {
    for (size_t i = from; i < to; i++) {
      const char *s = items[i].state;
      r->done += strcmp(s, SI_DEID_DONE) == 0;
      r->held += strcmp(s, SI_DEID_HELD) == 0;
      r->failed += strcmp(s, SI_DEID_FAILED) == 0;
    }
    return SI_OK;
  }
  size_t nstudies = 0;
  const char **studies = studies_of(items, from, to, &nstudies);
  if (!studies)
    return nomem(err);
  si_deid_ids_request req = {.entity_id = items[from].patient_id,
                             .entity_source = "PatientID",
                             .item_ids = studies,
                             .item_count = nstudies,
                             .batch_uid = r->env->batch_uid};
  si_deid_ids_answer answer;
  memset(&answer, 0, sizeof answer);
  si_status st = si_deid_ids_lookup(r->env->ids, &req, &answer, err);
  if (st == SI_OK && answer.item_count != nstudies)
    st = si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "the identifier provider gave %zu study codes for %zu studies",
                      answer.item_count, nstudies);
  for (size_t i = from, s = 0; st == SI_OK && i < to; i++) {
    const deid_item *it = &items[i];
    while (s < nstudies && strcmp(studies[s], it->study_uid) != 0)
      s++;
    if (!to_do(it)) {
      r->done += strcmp(it->state, SI_DEID_DONE) == 0;
      r->held += strcmp(it->state, SI_DEID_HELD) == 0;
      r->failed += strcmp(it->state, SI_DEID_FAILED) == 0;
      continue;
    }
    if (r->env->ctx->cancel && *r->env->ctx->cancel) {
      r->cancelled = 1;
      break;
    }
    si_deid_subject subject = {.patient_code = answer.entity_code,
                               .study_code = s < nstudies ? answer.item_codes[s] : "",
                               .day_shift = answer.day_shift};
    deid_result result = DEID_FAILED;
    char why[1024] = "";
    st = deid_image(r->env, it, &subject, &result, why, sizeof why, err);
    if (st == SI_OK) {
      r->done += result == DEID_DONE;
      r->held += result == DEID_HELD;
      r->failed += result == DEID_FAILED;
      st = heartbeat(r, err);
    }
  }
  si_deid_ids_answer_free(&answer);
  free(studies);
  return st;
}

/* ---- the stage's run ---- */

si_status si_stage_deid_run(si_stage_context *ctx, const si_job *job, int *failed, char *error,
                            size_t size, si_error *err) {
  si_batch *batch = malloc(sizeof *batch);
  if (!batch)
    return nomem(err);
  int found = 0;
  si_status st = si_store_batch_get(ctx->db, job->folder, batch, &found, err);
  if (st != SI_OK || !found) {
    free(batch);
    if (st == SI_OK) {
      *failed = 1;
      snprintf(error, size, "deid: no batch %s", job->folder);
    }
    return st;
  }
  deid_env env = {.ctx = ctx, .batch_id = batch->id, .batch_uid = job->folder};
  item_list list = {0};
  st = si_store_deid_stage_images(ctx->db, batch->id, 0, collect, &list, err);
  if (st == SI_OK && list.oom)
    st = nomem(err);
  free(batch);
  if (st != SI_OK) {
    list_free(&list);
    return st;
  }
  si_status est = env_open(&env, err);
  run_state r = {.env = &env, .job = job, .last_heartbeat = si_now_ms()};
  if (est == SI_OK) {
    /* Images come sorted by patient: one lookup per patient. */
    for (size_t from = 0; st == SI_OK && from < list.count && !r.cancelled;) {
      size_t to = from + 1;
      while (to < list.count && strcmp(list.items[to].patient_id, list.items[from].patient_id) == 0)
        to++;
      st = run_patient(&r, list.items, from, to, err);
      from = to;
    }
  }
  env_close(&env);
  list_free(&list);
  if (st != SI_OK && (r.lost || st == SI_ERR_DB))
    return st; /* the lease is lost, or the database failed: the job runs again */
  if (est != SI_OK || st != SI_OK) {
    /* The configuration's files, the identifier provider, the disk: this
     * attempt fails and is tried again after the backoff. */
    *failed = 1;
    snprintf(error, size, "deid: %s", err->message);
    return SI_OK;
  }
  if (r.cancelled) {
    *failed = 1;
    snprintf(error, size, "deid: stopped (the worker is stopping) after %" PRId64 " images",
             r.done);
    return SI_OK;
  }
  si_log(SI_LOG_INFO, "deid %s: %" PRId64 " de-identified, %" PRId64 " held, %" PRId64 " failed",
         job->folder, r.done, r.held, r.failed);
  if (r.done == 0 && r.held + r.failed > 0) {
    *failed = 1;
    ctx->give_up = 1; /* held images stay held: trying again changes nothing */
    snprintf(error, size,
             "deid: every image was held or failed (%" PRId64 " held, %" PRId64
             " failed): see the batch log",
             r.held, r.failed);
  }
  return SI_OK;
}
