#include "sendit/workers.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/pipeline.h"
#include "sendit/store.h"

#define PAUSED_RECHECK_SECONDS 5
/* Most jobs a worker claims at once (see claim_size): a burst of small
 * folders up to the import's group size (2,048 files) in one claim. */
#define CLAIM_MAX 32
/* How often the signal listener looks whether the pool is stopping, and
 * how long it waits before connecting again after losing its connection. */
#define LISTEN_SLICE_MS 250
#define LISTEN_RETRY_SECONDS 5

typedef struct worker {
  si_worker_pool *pool;
  pthread_t thread;
  int index;
  int started;
  si_job jobs[CLAIM_MAX]; /* claimed together */
  si_import_result results[CLAIM_MAX];
} worker;

struct si_worker_pool {
  const si_config *cfg;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stopping;
  volatile sig_atomic_t cancel; /* mirrors stopping, read by imports between chunks */
  int wakeups;
  int paused;
  char pause_reason[256];
  worker *workers;
  int count;
  int busy; /* workers holding claimed jobs */
  pthread_t listener;
  int listening; /* the listener thread was started */
};

static void wait_seconds(si_worker_pool *pool, int seconds) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += seconds;
  pthread_mutex_lock(&pool->lock);
  while (!pool->stopping && pool->wakeups == 0)
    if (pthread_cond_timedwait(&pool->wake, &pool->lock, &until) == ETIMEDOUT)
      break;
  if (pool->wakeups > 0)
    pool->wakeups--;
  pthread_mutex_unlock(&pool->lock);
}

/* Sleeps up to `seconds` or until the pool stops, leaving the workers'
 * wake-ups alone. */
static void pause_unless_stopping(si_worker_pool *pool, int seconds) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += seconds;
  pthread_mutex_lock(&pool->lock);
  while (!pool->stopping)
    if (pthread_cond_timedwait(&pool->wake, &pool->lock, &until) == ETIMEDOUT)
      break;
  pthread_mutex_unlock(&pool->lock);
}

static int stopping(si_worker_pool *pool) {
  pthread_mutex_lock(&pool->lock);
  int s = pool->stopping;
  pthread_mutex_unlock(&pool->lock);
  return s;
}

/* Hysteresis between the two water marks, so intake does not flap. */
static int disk_allows_claim(si_worker_pool *pool) {
  const si_config *cfg = pool->cfg;
  int64_t free_mb = si_free_space_mb(cfg->storage_dir);
  pthread_mutex_lock(&pool->lock);
  if (free_mb >= 0 && !pool->paused && free_mb < cfg->low_water_mb) {
    pool->paused = 1;
    snprintf(pool->pause_reason, sizeof pool->pause_reason,
             "storage %s has %" PRId64 " MiB free, below the low-water mark of %" PRId64
             " MiB: intake paused until %" PRId64 " MiB are free",
             cfg->storage_dir, free_mb, cfg->low_water_mb, cfg->high_water_mb);
    si_log(SI_LOG_WARN, "%s", pool->pause_reason);
  } else if (pool->paused && free_mb >= cfg->high_water_mb) {
    pool->paused = 0;
    si_log(SI_LOG_INFO, "storage has %" PRId64 " MiB free again: intake resumed", free_mb);
  }
  int allowed = !pool->paused;
  pthread_mutex_unlock(&pool->lock);
  return allowed;
}

/* A worker takes its share of the queue, so that a burst of small folders
 * is imported in a few shared transactions (si_run_jobs) while every idle
 * worker of the pool still gets work: ceil(queued / idle workers, itself
 * included), at most CLAIM_MAX. Busy workers are not counted: dividing by
 * them too left the last worker to claim only half of what remained, and
 * a burst trickled out in ever smaller claims of four commits each.
 * Where writers take turns on one lock (SQLite), the first worker takes
 * the whole burst instead: its import reads headers on every core
 * (lib/pipeline/readers.h) and writes all the rows in one transaction,
 * where two workers' transactions would only wait for each other and each
 * rewrite the indexes' pages. */
static size_t claim_size(si_worker_pool *pool, si_db *db) {
  int64_t queued = 0, running = 0;
  si_error err;
  if (si_store_queue_depth(db, &queued, &running, &err) != SI_OK || queued <= 1)
    return 1;
  if (si_db_writer_busy(db) >= 0)
    return queued > CLAIM_MAX ? CLAIM_MAX : (size_t)queued;
  pthread_mutex_lock(&pool->lock);
  int64_t idle = pool->count - pool->busy;
  pthread_mutex_unlock(&pool->lock);
  if (idle < 1)
    idle = 1;
  int64_t share = (queued + idle - 1) / idle;
  return share > CLAIM_MAX ? CLAIM_MAX : (size_t)share;
}

static void set_busy(si_worker_pool *pool, int delta) {
  pthread_mutex_lock(&pool->lock);
  pool->busy += delta;
  pthread_mutex_unlock(&pool->lock);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  si_worker_pool *pool = w->pool;
  const si_config *cfg = pool->cfg;
  char host[128] = "localhost", id[256];
  gethostname(host, sizeof host - 1);
  snprintf(id, sizeof id, "%s:%ld:%d", host, (long)getpid(), w->index);
  si_db *db = NULL;
  si_error err;
  while (!stopping(pool)) {
    if (!db && si_db_open(cfg->database, &db, &err) != SI_OK) {
      char buf[1024];
      si_log(SI_LOG_ERROR, "worker %s: database: %s", id, si_error_format(&err, buf, sizeof buf));
      db = NULL;
      wait_seconds(pool, PAUSED_RECHECK_SECONDS);
      continue;
    }
    if (!disk_allows_claim(pool)) {
      wait_seconds(pool, PAUSED_RECHECK_SECONDS);
      continue;
    }
    size_t found = 0;
    if (si_store_claim_many(db, id, cfg->lease_seconds, w->jobs, claim_size(pool, db), &found,
                            &err) != SI_OK) {
      char buf[1024];
      si_log(SI_LOG_ERROR, "worker %s: claim: %s", id, si_error_format(&err, buf, sizeof buf));
      si_db_close(db);
      db = NULL;
      wait_seconds(pool, cfg->poll_seconds);
      continue;
    }
    if (!found) {
      wait_seconds(pool, cfg->poll_seconds);
      continue;
    }
    si_import_context ctx = {
        .cfg = cfg, .db = db, .worker = id, .job_id = w->jobs[0].id, .cancel = &pool->cancel};
    set_busy(pool, 1);
    si_status run_status = si_run_jobs(&ctx, w->jobs, found, w->results, &err);
    set_busy(pool, -1);
    if (run_status != SI_OK) {
      char buf[1024];
      /* The leases run out and the jobs are retried: database trouble is
       * usually passing. */
      si_log(SI_LOG_ERROR, "worker %s: job %" PRId64 " (%s)%s: %s", id, w->jobs[0].id,
             w->jobs[0].folder, found > 1 ? " and the jobs claimed with it" : "",
             si_error_format(&err, buf, sizeof buf));
      si_db_close(db);
      db = NULL;
    }
  }
  si_db_close(db);
  return NULL;
}

/* Wakes the pool when another process announces a job (PostgreSQL's
 * LISTEN/NOTIFY, see si_store_enqueue), so that idle workers on every host
 * take their share of a burst at once rather than at their next poll. The
 * poll stays: it finds jobs whose lease ran out, and jobs announced while
 * this connection was down. Ends at once on a backend without signals. */
static void *listener_main(void *arg) {
  si_worker_pool *pool = arg;
  si_db *db = NULL;
  si_error err;
  int warned = 0;
  while (!stopping(pool)) {
    if (!db) {
      si_status st = si_db_open(pool->cfg->database, &db, &err);
      if (st == SI_OK)
        st = si_db_listen(db, SI_STORE_JOBS_CHANNEL, &err);
      if (st == SI_ERR_UNSUPPORTED)
        break;
      if (st != SI_OK) {
        char buf[1024];
        if (!warned++)
          si_log(SI_LOG_WARN, "job announcements: %s (idle workers look for jobs every %d s)",
                 si_error_format(&err, buf, sizeof buf), pool->cfg->poll_seconds);
        si_db_close(db);
        db = NULL;
        pause_unless_stopping(pool, LISTEN_RETRY_SECONDS);
        continue;
      }
      warned = 0;
      si_worker_pool_wake(pool); /* for what was announced while we were away */
    }
    int signalled = 0;
    if (si_db_wait_signal(db, LISTEN_SLICE_MS, &signalled, &err) != SI_OK) {
      si_db_close(db);
      db = NULL;
      continue;
    }
    if (signalled)
      si_worker_pool_wake(pool);
  }
  si_db_close(db);
  return NULL;
}

si_status si_worker_pool_start(const si_config *cfg, int threads, si_worker_pool **out,
                               si_error *err) {
  *out = NULL;
  si_status st = si_mkdir_p(cfg->storage_dir, err);
  if (st != SI_OK)
    return st;
  si_worker_pool *pool = calloc(1, sizeof *pool);
  worker *workers = calloc((size_t)(threads > 0 ? threads : 1), sizeof *workers);
  if (!pool || !workers) {
    free(pool);
    free(workers);
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  pool->cfg = cfg;
  pool->workers = workers;
  pool->count = threads;
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->wake, NULL);
  for (int i = 0; i < threads; i++) {
    workers[i] = (worker){.pool = pool, .index = i};
    if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
      si_worker_pool_stop(pool);
      return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                          "cannot start worker thread %d", i);
    }
    workers[i].started = 1;
  }
  pool->listening = pthread_create(&pool->listener, NULL, listener_main, pool) == 0;
  *out = pool;
  return SI_OK;
}

void si_worker_pool_wake(si_worker_pool *pool) {
  pthread_mutex_lock(&pool->lock);
  pool->wakeups = pool->count;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
}

int si_worker_pool_paused(si_worker_pool *pool, char *why, size_t size) {
  pthread_mutex_lock(&pool->lock);
  int paused = pool->paused;
  if (why && size)
    snprintf(why, size, "%s", paused ? pool->pause_reason : "");
  pthread_mutex_unlock(&pool->lock);
  return paused;
}

void si_worker_pool_stop(si_worker_pool *pool) {
  if (!pool)
    return;
  pthread_mutex_lock(&pool->lock);
  pool->stopping = 1;
  pool->cancel = 1;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  for (int i = 0; i < pool->count; i++)
    if (pool->workers[i].started)
      pthread_join(pool->workers[i].thread, NULL);
  if (pool->listening)
    pthread_join(pool->listener, NULL);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->lock);
  free(pool->workers);
  free(pool);
}
