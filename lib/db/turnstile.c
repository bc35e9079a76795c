#include "turnstile.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

struct si_turnstile {
  dev_t dev;
  ino_t ino;
  int users; /* connections holding this turnstile */
  pthread_mutex_t lock;
  pthread_cond_t free;
  int inside;       /* a writer is in */
  pthread_t holder; /* that writer's thread, to refuse a second entry from it */
  si_turnstile *next;
};

/* All turnstiles of the process, one per database file in use. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static si_turnstile *registry;

si_turnstile *si_turnstile_for(const char *path) {
  struct stat sb;
  if (!path || !*path || stat(path, &sb) != 0)
    return NULL;
  pthread_mutex_lock(&registry_lock);
  si_turnstile *t = registry;
  while (t && !(t->dev == sb.st_dev && t->ino == sb.st_ino))
    t = t->next;
  if (!t && (t = calloc(1, sizeof *t)) != NULL) {
    t->dev = sb.st_dev;
    t->ino = sb.st_ino;
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->free, &attr);
    pthread_condattr_destroy(&attr);
    t->next = registry;
    registry = t;
  }
  if (t)
    t->users++;
  pthread_mutex_unlock(&registry_lock);
  return t;
}

void si_turnstile_put(si_turnstile *t) {
  if (!t)
    return;
  pthread_mutex_lock(&registry_lock);
  if (--t->users == 0) {
    si_turnstile **link = &registry;
    while (*link != t)
      link = &(*link)->next;
    *link = t->next;
    pthread_cond_destroy(&t->free);
    pthread_mutex_destroy(&t->lock);
    free(t);
  }
  pthread_mutex_unlock(&registry_lock);
}

int si_turnstile_enter(si_turnstile *t, long timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&t->lock);
  int entered = 0;
  if (!(t->inside && pthread_equal(t->holder, pthread_self()))) {
    int rc = 0;
    while (t->inside && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&t->free, &t->lock, &until);
    if (!t->inside) {
      t->inside = 1;
      t->holder = pthread_self();
      entered = 1;
    }
  }
  pthread_mutex_unlock(&t->lock);
  return entered;
}

void si_turnstile_leave(si_turnstile *t) {
  pthread_mutex_lock(&t->lock);
  t->inside = 0;
  pthread_cond_signal(&t->free);
  pthread_mutex_unlock(&t->lock);
}

int si_turnstile_taken(si_turnstile *t) {
  pthread_mutex_lock(&t->lock);
  int taken = t->inside && !pthread_equal(t->holder, pthread_self());
  pthread_mutex_unlock(&t->lock);
  return taken;
}
