#include "heartbeat.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "sendit/db.h"
#include "sendit/log.h"

struct heartbeat {
  si_worker_self self;
  si_db *db; /* this thread's own: an si_db is used by one thread at a time */
  int interval_s;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stopping; /* guarded by lock */
};

/* Every few seconds, and well inside the window in which readers still
 * count the process as live (`sendit status`: three lease periods; the
 * dashboard: 30 s). */
static int beat_seconds(const si_config *cfg) {
  int s = cfg->lease_seconds / 3;
  return s < 1 ? 1 : s > 5 ? 5 : s;
}

/* A lost connection is re-established by the backend; a missed beat only
 * makes the process look idle for a moment. Only the first failure in a
 * row is logged. */
static void *beat_main(void *arg) {
  heartbeat *h = arg;
  int failing = 0;
  pthread_mutex_lock(&h->lock);
  while (!h->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += h->interval_s;
    while (!h->stopping && pthread_cond_timedwait(&h->wake, &h->lock, &until) == 0)
      ;
    if (h->stopping)
      break;
    pthread_mutex_unlock(&h->lock);
    si_error err;
    si_status st = si_worker_beat(h->db, &h->self, &err);
    if (st != SI_OK && !failing) {
      char buf[1200];
      si_log(SI_LOG_WARN, "heartbeat: %s", si_error_format(&err, buf, sizeof buf));
    }
    failing = st != SI_OK;
    pthread_mutex_lock(&h->lock);
  }
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

si_status heartbeat_start(const si_config *cfg, heartbeat **out, si_error *err) {
  *out = NULL;
  heartbeat *h = calloc(1, sizeof *h);
  if (!h)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  si_worker_self_init(&h->self);
  h->interval_s = beat_seconds(cfg);
  si_status st = si_db_open(cfg->database, &h->db, err);
  if (st == SI_OK)
    st = si_worker_register(h->db, &h->self, err);
  if (st != SI_OK) {
    si_db_close(h->db);
    free(h);
    return st;
  }
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->wake, NULL);
  if (pthread_create(&h->thread, NULL, beat_main, h) != 0) {
    si_worker_unregister(h->db, &h->self, err);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    si_db_close(h->db);
    free(h);
    return si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "cannot start the heartbeat thread");
  }
  *out = h;
  return SI_OK;
}

const si_worker_self *heartbeat_self(const heartbeat *h) { return &h->self; }

void heartbeat_stop(heartbeat *h) {
  if (!h)
    return;
  pthread_mutex_lock(&h->lock);
  h->stopping = 1;
  pthread_cond_signal(&h->wake);
  pthread_mutex_unlock(&h->lock);
  pthread_join(h->thread, NULL);
  si_error err;
  if (si_worker_unregister(h->db, &h->self, &err) != SI_OK) {
    char buf[1200];
    si_log(SI_LOG_ERROR, "cannot unregister %s: %s", h->self.id,
           si_error_format(&err, buf, sizeof buf));
  }
  si_db_close(h->db);
  pthread_cond_destroy(&h->wake);
  pthread_mutex_destroy(&h->lock);
  free(h);
}
