#include "sendit/workers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/pipeline.h"
#include "sendit/quarantine.h"
#include "sendit/stages.h"
#include "sendit/store.h"
#include "sendit/store_stages.h"

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
  atomic_int cancel; /* mirrors stopping, read by imports between chunks */
  int wakeups;
  int paused;           /* below the low-water mark, or a run found the disk full */
  int64_t paused_at_ms; /* when: a pause lasts PAUSED_RECHECK_SECONDS at least */
  int waiting;          /* the next folder does not fit the free space (claim_fits) */
  char pause_reason[SI_PATH_MAX + 512];
  int64_t reserved; /* bytes of folders claimed by this pool and not yet stored */
  worker *workers;
  int count;
  int busy;                             /* workers holding claimed jobs */
  int kind_running[SI_STAGE_KINDS_MAX]; /* jobs of each stage kind running (stages.h) */
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

static int watch_on(const si_config *cfg) {
  return cfg->low_water_mb > 0 || cfg->high_water_mb > 0;
}

/* Hysteresis between the two water marks, so intake does not flap. A
 * pause (the low-water mark, or a disk found full by an import, see
 * note_full_disk) ends once free space is at the high-water mark again,
 * and not before PAUSED_RECHECK_SECONDS. */
static int disk_allows_claim(si_worker_pool *pool) {
  const si_config *cfg = pool->cfg;
  int64_t free_mb = si_free_space_mb(cfg->storage_dir);
  int64_t now = si_now_ms();
  pthread_mutex_lock(&pool->lock);
  if (watch_on(cfg) && free_mb >= 0 && !pool->paused && free_mb < cfg->low_water_mb) {
    pool->paused = 1;
    pool->paused_at_ms = now;
    snprintf(pool->pause_reason, sizeof pool->pause_reason,
             "storage %s has %" PRId64 " MiB free, below the low-water mark of %" PRId64
             " MiB: intake paused until %" PRId64 " MiB are free",
             cfg->storage_dir, free_mb, cfg->low_water_mb, cfg->high_water_mb);
    si_log(SI_LOG_WARN, "%s", pool->pause_reason);
  } else if (pool->paused && (free_mb < 0 || free_mb >= cfg->high_water_mb) &&
             now - pool->paused_at_ms >= PAUSED_RECHECK_SECONDS * 1000) {
    pool->paused = 0;
    si_log(SI_LOG_INFO, "storage has %" PRId64 " MiB free again: intake resumed", free_mb);
  }
  int allowed = !pool->paused;
  pthread_mutex_unlock(&pool->lock);
  return allowed;
}

/* An import stopped for want of space (si_import_result.no_space): intake
 * pauses as below the low-water mark, and its job is back in the queue. */
static void note_full_disk(si_worker_pool *pool, const si_job *job) {
  const si_config *cfg = pool->cfg;
  pthread_mutex_lock(&pool->lock);
  pool->paused = 1;
  pool->paused_at_ms = si_now_ms();
  snprintf(pool->pause_reason, sizeof pool->pause_reason,
           "storage %s filled up while importing %s: intake paused until %" PRId64
           " MiB are free; the job waits in the queue (no attempt counted)",
           cfg->storage_dir, job->folder, cfg->high_water_mb);
  si_log(SI_LOG_WARN, "%s", pool->pause_reason);
  pthread_mutex_unlock(&pool->lock);
}

/* ---- the size of what a claim takes ---- */

#define SIZE_DEPTH_MAX 64
#define BLOCK 4096

/* Bytes that storing the folder at `path` takes from the storage's
 * filesystem: nothing when it is on that filesystem (the files are
 * renamed), else the sum of its files' sizes, each rounded up to a block.
 * -1 when it cannot be looked at (gone, unreadable): that is for the
 * import to find and report. */
static int64_t tree_bytes(int dirfd_, int depth) {
  DIR *d = fdopendir(dirfd_);
  if (!d) {
    close(dirfd_);
    return 0;
  }
  int64_t total = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    struct stat sb;
    if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
      continue;
    if (S_ISREG(sb.st_mode)) {
      total += ((int64_t)sb.st_size + BLOCK - 1) / BLOCK * BLOCK;
    } else if (S_ISDIR(sb.st_mode) && depth < SIZE_DEPTH_MAX) {
      int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0)
        total += tree_bytes(fd, depth + 1);
    }
  }
  closedir(d);
  return total;
}

static int64_t bytes_to_store(const si_config *cfg, const char *path) {
  struct stat folder, storage;
  if (lstat(path, &folder) != 0 || !S_ISDIR(folder.st_mode))
    return -1;
  if (stat(cfg->storage_dir, &storage) == 0 && storage.st_dev == folder.st_dev)
    return 0;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -1 : tree_bytes(fd, 0);
}

static const char *job_folder(const si_job *job) {
  struct stat sb;
  return job->work_path[0] && lstat(job->work_path, &sb) == 0 ? job->work_path : job->path;
}

si_status si_intake_space_check(const si_config *cfg, si_db *db, int *waiting, char *why,
                                size_t size, si_error *err) {
  *waiting = 0;
  if (why && size)
    why[0] = 0;
  struct statvfs vfs;
  if (!watch_on(cfg) || statvfs(cfg->storage_dir, &vfs) != 0)
    return SI_OK;
  si_job job;
  int found = 0;
  si_status st = si_store_oldest_queued(db, &job, &found, err);
  if (st != SI_OK || !found)
    return st;
  int64_t need = bytes_to_store(cfg, job_folder(&job));
  int64_t budget =
      (int64_t)((uint64_t)vfs.f_bavail * vfs.f_frsize) - cfg->low_water_mb * 1024 * 1024;
  if (need > 0 && need > budget) {
    *waiting = 1;
    if (why && size)
      snprintf(why, size,
               "the next queued folder %s needs %" PRId64 " MiB in storage, which has %" PRId64
               " MiB free above the low-water mark of %" PRId64
               " MiB: intake waits until there is room",
               job.folder, (need + (1 << 20) - 1) >> 20, budget > 0 ? budget >> 20 : 0,
               cfg->low_water_mb);
  }
  return SI_OK;
}

/* Keeps of the claimed jobs (oldest first) those whose folders fit the
 * space budget together, and gives the others back to the queue without
 * counting an attempt: one claim of many small folders must not take more
 * than the disk can hold (they were all measured at once before). A first
 * folder larger than the whole budget is given back too, and intake waits
 * (in order: a later, smaller folder does not overtake it) until there is
 * room; the pool says so in its pause reason (sendit status too, through
 * si_intake_space_check). Returns how many are kept; *reserved gets their
 * bytes. */
static size_t claim_fits(si_worker_pool *pool, si_db *db, const char *id, si_job *jobs, size_t n,
                         int64_t *reserved) {
  const si_config *cfg = pool->cfg;
  *reserved = 0;
  if (!watch_on(cfg))
    return n;
  /* The folders are measured first; the budget is then read, and what is
   * kept reserved, under one hold of the pool's lock: two workers claiming
   * at once must not both spend the same free space (each saw the other's
   * reservation missing while it measured). */
  int64_t *needs = malloc(n * sizeof *needs);
  for (size_t i = 0; needs && i < n; i++) {
    needs[i] = bytes_to_store(cfg, job_folder(&jobs[i]));
    if (needs[i] < 0)
      needs[i] = 0;
  }
  /* Free bytes on storage above the low-water mark, less what this pool's
   * claims still have to store (INT64_MAX when storage cannot be asked). */
  pthread_mutex_lock(&pool->lock);
  struct statvfs vfs;
  int64_t budget = statvfs(cfg->storage_dir, &vfs) != 0
                       ? INT64_MAX
                       : (int64_t)((uint64_t)vfs.f_bavail * vfs.f_frsize) -
                             cfg->low_water_mb * 1024 * 1024 - pool->reserved;
  size_t kept = 0;
  int64_t total = 0, first_need = 0;
  for (; kept < n; kept++) {
    /* Without memory to measure, one folder at a time. */
    int64_t need = needs ? needs[kept] : 0;
    if (!needs && kept == 1)
      break;
    if (kept == 0)
      first_need = need;
    if (need > 0 && total + need > budget)
      break;
    total += need;
  }
  pool->reserved += total;
  pthread_mutex_unlock(&pool->lock);
  free(needs);
  /* Given back in one transaction: one commit, not one per job. Relaxed:
   * a power cut that undoes it leaves the jobs claimed until their leases
   * run out. A failure leaves them so too. */
  si_error err;
  si_status st = kept < n ? si_db_begin_relaxed(db, &err) : SI_OK;
  for (size_t i = kept; st == SI_OK && i < n; i++)
    st = si_store_job_release(db, jobs[i].id, id, "waiting for disk space", &err);
  if (kept < n)
    st = st == SI_OK ? si_db_commit(db, &err) : (si_db_rollback(db), st);
  if (st != SI_OK) {
    char buf[1024];
    si_log(SI_LOG_WARN, "worker %s: giving back %zu jobs: %s (their leases run out)", id, n - kept,
           si_error_format(&err, buf, sizeof buf));
  }
  pthread_mutex_lock(&pool->lock);
  if (kept == 0 && !pool->waiting) {
    pool->waiting = 1;
    snprintf(pool->pause_reason, sizeof pool->pause_reason,
             "the next queued folder %s needs %" PRId64 " MiB in storage %s, which has %" PRId64
             " MiB free above the low-water mark of %" PRId64
             " MiB: intake waits until there is room",
             jobs[0].folder, (first_need + (1 << 20) - 1) >> 20, cfg->storage_dir,
             budget > 0 ? budget >> 20 : 0, cfg->low_water_mb);
    si_log(SI_LOG_WARN, "%s", pool->pause_reason);
  } else if (kept > 0 && pool->waiting) {
    pool->waiting = 0;
    si_log(SI_LOG_INFO, "storage has room for %s again: intake resumed", jobs[0].folder);
  }
  if (kept < n && kept > 0)
    si_log(SI_LOG_INFO,
           "worker %s: claimed %zu folders (%" PRId64 " MiB), gave %zu back: the rest would not "
           "fit the %" PRId64 " MiB free above the low-water mark",
           id, kept, total >> 20, n - kept, budget >> 20);
  pthread_mutex_unlock(&pool->lock);
  *reserved = total;
  return kept;
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

/* The import kind's turn: the batched claim (claim_size, claim_fits) and
 * si_run_jobs, as before stages existed. Returns 0 when it ran jobs (look
 * again at once), else the seconds to wait before its next turn. *db is
 * closed (NULL) after a database failure. */
static int work_import(worker *w, si_db **db, const char *id) {
  si_worker_pool *pool = w->pool;
  const si_config *cfg = pool->cfg;
  si_error err;
  if (!disk_allows_claim(pool))
    return PAUSED_RECHECK_SECONDS;
  size_t found = 0;
  /* While the next folder waits for room, one claim looks whether it fits. */
  pthread_mutex_lock(&pool->lock);
  int waiting = pool->waiting;
  pthread_mutex_unlock(&pool->lock);
  size_t want = waiting ? 1 : claim_size(pool, *db);
  if (si_store_claim_many(*db, id, cfg->lease_seconds, w->jobs, want, &found, &err) != SI_OK) {
    char buf[1024];
    si_log(SI_LOG_ERROR, "worker %s: claim: %s", id, si_error_format(&err, buf, sizeof buf));
    si_db_close(*db);
    *db = NULL;
    return cfg->poll_seconds;
  }
  if (!found) {
    pthread_mutex_lock(&pool->lock);
    pool->waiting = 0; /* nothing waits any more */
    pthread_mutex_unlock(&pool->lock);
    return cfg->poll_seconds;
  }
  int64_t reserved = 0;
  found = claim_fits(pool, *db, id, w->jobs, found, &reserved);
  if (!found)
    return PAUSED_RECHECK_SECONDS;
  si_import_context ctx = {
      .cfg = cfg, .db = *db, .worker = id, .job_id = w->jobs[0].id, .cancel = &pool->cancel};
  set_busy(pool, 1);
  si_status run_status = si_run_jobs(&ctx, w->jobs, found, w->results, &err);
  set_busy(pool, -1);
  pthread_mutex_lock(&pool->lock);
  pool->reserved -= reserved;
  pthread_mutex_unlock(&pool->lock);
  for (size_t i = 0; run_status == SI_OK && i < found; i++)
    if (w->results[i].no_space) {
      note_full_disk(pool, &w->jobs[i]);
      break;
    }
  if (run_status != SI_OK) {
    char buf[1024];
    /* The leases run out and the jobs are retried: database trouble is
     * usually passing. */
    si_log(SI_LOG_ERROR, "worker %s: job %" PRId64 " (%s)%s: %s", id, w->jobs[0].id,
           w->jobs[0].folder, found > 1 ? " and the jobs claimed with it" : "",
           si_error_format(&err, buf, sizeof buf));
    si_db_close(*db);
    *db = NULL;
  }
  return 0;
}

/* A stage's turn (kinds after the import, stages.h): one job of the kind,
 * within the kind's concurrency in this pool. Returns as work_import. */
static int work_stage(worker *w, si_db **db, const char *id, size_t k, const si_stage_kind *kind) {
  si_worker_pool *pool = w->pool;
  const si_config *cfg = pool->cfg;
  pthread_mutex_lock(&pool->lock);
  int room = kind->concurrency <= 0 || pool->kind_running[k] < kind->concurrency;
  if (room)
    pool->kind_running[k]++;
  pthread_mutex_unlock(&pool->lock);
  if (!room)
    return cfg->poll_seconds;
  si_error err;
  int found = 0;
  si_status st =
      si_store_stage_claim(*db, id, cfg->lease_seconds, kind->name, &w->jobs[0], &found, &err);
  if (st == SI_OK && found) {
    si_stage_context ctx = {.cfg = cfg, .db = *db, .worker = id, .cancel = &pool->cancel};
    set_busy(pool, 1);
    st = si_stage_run_claimed(&ctx, kind, &w->jobs[0], &err);
    set_busy(pool, -1);
  }
  pthread_mutex_lock(&pool->lock);
  pool->kind_running[k]--;
  pthread_mutex_unlock(&pool->lock);
  if (st != SI_OK) {
    char buf[1024];
    si_log(SI_LOG_ERROR, "worker %s: %s job: %s", id, kind->name,
           si_error_format(&err, buf, sizeof buf));
    si_db_close(*db);
    *db = NULL;
    return cfg->poll_seconds;
  }
  return found ? 0 : cfg->poll_seconds;
}

/* Each round gives every kind of the chain (stages.h, import first) its
 * turn; the worker waits only when none had work, for the shortest of
 * their waits. With [pipeline] stages = import that is the import's own. */
static void *worker_main(void *arg) {
  worker *w = arg;
  si_worker_pool *pool = w->pool;
  const si_config *cfg = pool->cfg;
  char host[128] = "localhost", id[256];
  gethostname(host, sizeof host - 1);
  snprintf(id, sizeof id, "%s:%ld:%d", host, (long)getpid(), w->index);
  size_t nkinds = 0;
  const si_stage_kind *kinds = si_stage_kinds(&nkinds);
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
    int wait = -1;
    for (size_t k = 0; k < nkinds && db && !stopping(pool); k++) {
      if (!si_stage_enabled(cfg, kinds[k].name))
        continue;
      int next = kinds[k].run ? work_stage(w, &db, id, k, &kinds[k]) : work_import(w, &db, id);
      if (wait < 0 || next < wait)
        wait = next;
    }
    if (wait > 0)
      wait_seconds(pool, wait);
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

/* Files an import set aside without recording them before a crash
 * (quarantine.h). A failure here is logged, not fatal: the imports of the
 * batches concerned reconcile their folders again. */
static void reconcile_quarantine(const si_config *cfg) {
  si_db *db = NULL;
  si_error err;
  int64_t found = 0;
  si_status st = si_db_open(cfg->database, &db, &err);
  if (st == SI_OK)
    st = si_quarantine_reconcile_all(db, cfg, &found, &err);
  si_db_close(db);
  if (st != SI_OK) {
    char buf[1024];
    si_log(SI_LOG_WARN, "quarantine check at start-up: %s", si_error_format(&err, buf, sizeof buf));
  } else if (found) {
    si_log(SI_LOG_WARN,
           "quarantine check at start-up: %" PRId64 " files had no record and were recorded",
           found);
  }
}

si_status si_worker_pool_start(const si_config *cfg, int threads, si_worker_pool **out,
                               si_error *err) {
  *out = NULL;
  si_status st = si_mkdir_p(cfg->storage_dir, err);
  if (st != SI_OK)
    return st;
  reconcile_quarantine(cfg);
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
  int paused = pool->paused || pool->waiting;
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
  atomic_store(&pool->cancel, 1);
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
