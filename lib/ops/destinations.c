/* Delivery for the operators; see sendit/ops_dest.h. */
#include "sendit/ops_dest.h"

#include <stdio.h>
#include <string.h>

#include "sendit/deliver.h"
#include "sendit/ops_format.h"
#include "sendit/store_dest.h"
#include "sendit/store_stages.h"

static json_t *nomem(si_error *err) {
  si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  return NULL;
}

static const char *state_of(const si_dest_state *s, const si_dest_totals *t) {
  if (strcmp(s->state, SI_BREAKER_OPEN) == 0)
    return "down";
  if (strcmp(s->state, SI_BREAKER_HALF_OPEN) == 0)
    return "probing";
  if (t->running_jobs)
    return "sending";
  return t->queued_jobs ? "waiting" : "idle";
}

static json_t *one(si_db *db, const si_dest_config *d, si_error *err) {
  si_dest_state s;
  si_dest_totals t;
  int found = 0;
  if (si_store_dest_state_get(db, d->name, &s, &found, err) != SI_OK ||
      si_store_dest_totals(db, d->name, &t, err) != SI_OK)
    return NULL;
  if (!found)
    snprintf(s.state, sizeof s.state, "%s", SI_BREAKER_CLOSED);
  json_t *o = json_pack(
      "{s:o, s:s, s:s, s:s, s:s, s:i, s:o, s:{s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
      "name", ops_json_text(d->name), "type", d->type, "source", d->source, "state",
      state_of(&s, &t), "breaker", s.state, "consecutive_failures", s.failures, "opened",
      ops_json_time(s.opened_at), "queue", "queued", (json_int_t)t.queued_jobs, "running",
      (json_int_t)t.running_jobs, "pending", (json_int_t)t.pending, "sent", (json_int_t)t.sent,
      "failed", (json_int_t)t.failed, "attempts", (json_int_t)s.attempts, "failed_attempts",
      (json_int_t)s.failed_attempts, "last_success", ops_json_time(s.last_success_at), "last_error",
      s.last_error[0] ? ops_json_text(s.last_error) : json_null(), "last_error_at",
      ops_json_time(s.last_error_at));
  return o ? o : nomem(err);
}

json_t *ops_destinations_json(si_db *db, const si_config *cfg, si_error *err) {
  json_t *list = json_array();
  if (!list)
    return nomem(err);
  for (size_t i = 0; i < cfg->destination_count; i++) {
    json_t *o = one(db, &cfg->destinations[i], err);
    if (!o || json_array_append_new(list, o) != 0) {
      json_decref(list);
      return o ? nomem(err) : NULL;
    }
  }
  json_t *out = json_pack("{s:o}", "destinations", list);
  return out ? out : nomem(err);
}

typedef struct count_rows {
  json_t *array;
  int oom;
} count_rows;

static int count_row(void *user, const char *name, int64_t pending, int64_t sent, int64_t failed) {
  count_rows *c = user;
  json_t *o =
      json_pack("{s:o, s:I, s:I, s:I}", "name", ops_json_text(name), "pending", (json_int_t)pending,
                "sent", (json_int_t)sent, "failed", (json_int_t)failed);
  c->oom = !o || json_array_append_new(c->array, o) != 0;
  return c->oom;
}

json_t *ops_batch_destinations_json(si_db *db, int64_t batch_id, si_error *err) {
  count_rows c = {json_array(), 0};
  if (!c.array)
    return nomem(err);
  si_status st = si_store_batch_dest_counts(db, batch_id, count_row, &c, err);
  if (st == SI_OK && !c.oom)
    return c.array;
  json_decref(c.array);
  return st == SI_OK ? nomem(err) : NULL;
}

si_status ops_batch_resend(si_db *db, const si_config *cfg, const char *uid, const char *to,
                           si_resend_result *out, si_error *err) {
  memset(out, 0, sizeof *out);
  if (to && !si_deliver_find(cfg, to)) {
    out->unknown = 1;
    snprintf(out->message, sizeof out->message, "no destination '%.100s' is configured", to);
    return SI_OK;
  }
  const char *names[64];
  size_t count = 0;
  si_status st = si_db_begin(db, err);
  if (st == SI_OK)
    st = si_deliver_fanout(db, cfg, uid, names, sizeof names / sizeof names[0], &count, err);
  int found = 1;
  for (size_t i = 0; st == SI_OK && found && i < count; i++) {
    if (to && strcmp(names[i], to) != 0)
      continue;
    st = si_store_dest_reset(db, uid, names[i], &found, err);
    if (st == SI_OK && found)
      st = si_store_stage_enqueue(db, "send", uid, names[i], NULL, NULL, err);
    out->queued += st == SI_OK && found;
  }
  if (st == SI_OK && !out->queued) {
    int64_t id = -1;
    st = si_store_batch_lock_uid(db, uid, &id, &found, err);
  }
  if (st != SI_OK) {
    si_db_rollback(db);
    return st;
  }
  out->found = found;
  st = si_db_commit(db, err);
  if (st != SI_OK)
    return st;
  if (!found)
    snprintf(out->message, sizeof out->message, "no batch '%.200s'", uid);
  else if (!out->queued)
    snprintf(out->message, sizeof out->message,
             "batch %.200s: no destination%s%.100s takes any of its images", uid, to ? " " : "",
             to ? to : "");
  else
    snprintf(out->message, sizeof out->message, "batch %.200s: send queued to %zu destination%s",
             uid, out->queued, out->queued == 1 ? "" : "s");
  return SI_OK;
}
