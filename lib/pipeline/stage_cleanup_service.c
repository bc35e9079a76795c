/* The daemon's cleanup sweep: a thread of its own, with a database
 * connection of its own (a connection serves one thread), that runs
 * si_cleanup_sweep at start and every [cleanup] interval_seconds: the
 * batches whose keep days ran out, and the oldest confirmed ones while
 * storage is below the low water. See sendit/cleanup.h. */
#include "sendit/cleanup.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "sendit/log.h"

struct si_cleanup_service {
  const si_config *cfg;
  si_db *db;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stop; /* guarded by lock */
};

static void sweep_once(si_cleanup_service *s) {
  si_error err;
  size_t count = 0;
  if (si_cleanup_sweep(s->db, s->cfg, 0, NULL, NULL, &count, &err) != SI_OK) {
    char buf[1200];
    si_log(SI_LOG_ERROR, "cleanup sweep: %s", si_error_format(&err, buf, sizeof buf));
  } else if (count) {
    si_log(SI_LOG_INFO, "cleanup sweep: %zu removal%s (see the batches' logs)", count,
           count == 1 ? "" : "s");
  }
}

static void *service_run(void *arg) {
  si_cleanup_service *s = arg;
  pthread_mutex_lock(&s->lock);
  while (!s->stop) {
    pthread_mutex_unlock(&s->lock);
    sweep_once(s);
    pthread_mutex_lock(&s->lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->cfg->cleanup_interval_seconds > 0 ? s->cfg->cleanup_interval_seconds : 60;
    while (!s->stop && pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

si_status si_cleanup_service_start(const si_config *cfg, si_cleanup_service **out, si_error *err) {
  *out = NULL;
  si_cleanup_service *s = calloc(1, sizeof *s);
  if (!s)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  s->cfg = cfg;
  si_status st = si_db_open(cfg->database, &s->db, err);
  if (st != SI_OK) {
    free(s);
    return st;
  }
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->wake, NULL);
  if (pthread_create(&s->thread, NULL, service_run, s) != 0) {
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    si_db_close(s->db);
    free(s);
    return si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "cannot start the cleanup sweep's thread");
  }
  *out = s;
  return SI_OK;
}

void si_cleanup_service_stop(si_cleanup_service *s) {
  if (!s)
    return;
  pthread_mutex_lock(&s->lock);
  s->stop = 1;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->lock);
  si_db_close(s->db);
  free(s);
}
