/* The `worker` table: who imports, and since when (sendit/worker_registry.h). */
#include "sendit/worker_registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sendit/store.h"

static int64_t to_i64(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }

void si_worker_host_name(char *out, size_t size) {
  out[size - 1] = '\0';
  if (gethostname(out, size - 1) != 0 || !out[0])
    snprintf(out, size, "localhost");
}

void si_worker_self_init(si_worker_self *self) {
  memset(self, 0, sizeof *self);
  si_worker_host_name(self->host, sizeof self->host);
  self->pid = (long)getpid();
  self->started_at = si_now_ms();
  snprintf(self->id, sizeof self->id, "%s:%ld", self->host, self->pid);
}

/* Whether job holder `worker` ("host:pid:N") is a thread of host:pid. */
static int holder_is(const char *worker, const char *host, long pid) {
  char prefix[160];
  int n = snprintf(prefix, sizeof prefix, "%s:%ld:", host, pid);
  return worker && n > 0 && (size_t)n < sizeof prefix && strncmp(worker, prefix, (size_t)n) == 0;
}

typedef struct held_job {
  const si_worker_self *self;
  int64_t job_id; /* -1: none */
} held_job;

static int held_row(void *user, int ncols, const char *const *v) {
  held_job *h = user;
  if (ncols >= 2 && holder_is(v[1], h->self->host, h->self->pid) && h->job_id < 0)
    h->job_id = to_i64(v[0]);
  return 0;
}

si_status si_worker_beat(si_db *db, const si_worker_self *self, si_error *err) {
  held_job h = {self, -1};
  si_status st = si_db_exec(db, "SELECT id, worker FROM job WHERE state = 'running' ORDER BY id", 0,
                            NULL, held_row, &h, NULL, err);
  if (st != SI_OK)
    return st;
  char pid_s[24], start_s[24], now_s[24], job_s[24];
  snprintf(pid_s, sizeof pid_s, "%ld", self->pid);
  snprintf(start_s, sizeof start_s, "%" PRId64, self->started_at);
  snprintf(now_s, sizeof now_s, "%" PRId64, si_now_ms());
  snprintf(job_s, sizeof job_s, "%" PRId64, h.job_id);
  const char *params[] = {self->id, self->host, pid_s,
                          start_s,  now_s,      h.job_id >= 0 ? job_s : NULL};
  return si_db_exec(db,
                    "INSERT INTO worker (id, host, pid, started_at, heartbeat_at, job_id) "
                    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET host = $2, "
                    "pid = $3, started_at = $4, heartbeat_at = $5, job_id = $6",
                    6, params, NULL, NULL, NULL, err);
}

si_status si_worker_register(si_db *db, const si_worker_self *self, si_error *err) {
  char old_s[24];
  snprintf(old_s, sizeof old_s, "%" PRId64, si_now_ms() - SI_WORKER_STALE_MS);
  const char *params[] = {old_s};
  si_status st = si_db_exec(db, "DELETE FROM worker WHERE heartbeat_at < $1", 1, params, NULL, NULL,
                            NULL, err);
  return st == SI_OK ? si_worker_beat(db, self, err) : st;
}

si_status si_worker_unregister(si_db *db, const si_worker_self *self, si_error *err) {
  const char *params[] = {self->id};
  return si_db_exec(db, "DELETE FROM worker WHERE id = $1", 1, params, NULL, NULL, NULL, err);
}

/* ---- listing ---- */

typedef struct entry_list {
  si_worker_entry *items;
  size_t count, cap;
  int oom;
} entry_list;

static int entry_row(void *user, int ncols, const char *const *v) {
  entry_list *l = user;
  if (ncols < 5)
    return 0;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    si_worker_entry *grown = realloc(l->items, cap * sizeof *grown);
    if (!grown) {
      l->oom = 1;
      return 1;
    }
    l->items = grown;
    l->cap = cap;
  }
  si_worker_entry *w = &l->items[l->count++];
  memset(w, 0, sizeof *w);
  snprintf(w->id, sizeof w->id, "%s", v[0] ? v[0] : "");
  snprintf(w->host, sizeof w->host, "%s", v[1] ? v[1] : "");
  w->pid = (long)to_i64(v[2]);
  w->started_at = to_i64(v[3]);
  w->heartbeat_at = to_i64(v[4]);
  return 0;
}

static int job_row(void *user, int ncols, const char *const *v) {
  entry_list *l = user;
  if (ncols < 3)
    return 0;
  for (size_t i = 0; i < l->count; i++) {
    si_worker_entry *w = &l->items[i];
    if (!holder_is(v[2], w->host, w->pid) ||
        w->njobs >= (int)(sizeof w->job_ids / sizeof w->job_ids[0]))
      continue;
    w->job_ids[w->njobs] = to_i64(v[0]);
    snprintf(w->job_folders[w->njobs], sizeof w->job_folders[0], "%s", v[1] ? v[1] : "");
    w->njobs++;
  }
  return 0;
}

si_status si_worker_list(si_db *db, int64_t since_ms, si_worker_entry_fn fn, void *user,
                         si_error *err) {
  char since_s[24];
  snprintf(since_s, sizeof since_s, "%" PRId64, since_ms);
  const char *params[] = {since_s};
  entry_list l = {0};
  si_status st = si_db_exec(db,
                            "SELECT id, host, pid, started_at, heartbeat_at FROM worker "
                            "WHERE heartbeat_at >= $1 ORDER BY id",
                            1, params, entry_row, &l, NULL, err);
  if (st == SI_OK && l.oom)
    st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st == SI_OK && l.count)
    st = si_db_exec(db, "SELECT id, folder, worker FROM job WHERE state = 'running' ORDER BY id", 0,
                    NULL, job_row, &l, NULL, err);
  for (size_t i = 0; st == SI_OK && i < l.count; i++)
    if (fn(user, &l.items[i]))
      break;
  free(l.items);
  return st;
}
