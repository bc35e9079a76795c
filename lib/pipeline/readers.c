#include "readers.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_HELPERS 8

struct si_readers {
  pthread_mutex_t lock;
  pthread_cond_t done_one;
  size_t n, next; /* items [0, next) are taken */
  int stopping;
  unsigned char *done;
  si_read_fn fn;
  void *user;
  int started;
  pthread_t threads[MAX_HELPERS];
};

/* Takes the next item and runs it; 0 when none is left. Called and
 * returns with the lock held. */
static int run_next(si_readers *r) {
  if (r->stopping || r->next >= r->n)
    return 0;
  size_t i = r->next++;
  pthread_mutex_unlock(&r->lock);
  r->fn(r->user, i);
  pthread_mutex_lock(&r->lock);
  r->done[i] = 1;
  pthread_cond_broadcast(&r->done_one);
  return 1;
}

static void *helper_main(void *arg) {
  si_readers *r = arg;
  pthread_mutex_lock(&r->lock);
  while (run_next(r))
    ;
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

si_readers *si_readers_start(size_t n, int helpers, si_read_fn fn, void *user) {
  si_readers *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->done = calloc(n ? n : 1, 1);
  if (!r->done) {
    free(r);
    return NULL;
  }
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->done_one, NULL);
  r->n = n;
  r->fn = fn;
  r->user = user;
  if (helpers > MAX_HELPERS)
    helpers = MAX_HELPERS;
  if ((size_t)helpers > n)
    helpers = (int)n;
  for (int k = 0; k < helpers; k++)
    if (pthread_create(&r->threads[r->started], NULL, helper_main, r) == 0)
      r->started++;
  return r;
}

void si_readers_wait(si_readers *r, size_t i) {
  pthread_mutex_lock(&r->lock);
  /* Idle hands read: any item not taken yet, not only those up to i. */
  while (i < r->n && !r->done[i])
    if (!run_next(r))
      pthread_cond_wait(&r->done_one, &r->lock);
  pthread_mutex_unlock(&r->lock);
}

void si_readers_stop(si_readers *r) {
  if (!r)
    return;
  pthread_mutex_lock(&r->lock);
  r->stopping = 1;
  pthread_mutex_unlock(&r->lock);
  for (int k = 0; k < r->started; k++)
    pthread_join(r->threads[k], NULL);
  pthread_cond_destroy(&r->done_one);
  pthread_mutex_destroy(&r->lock);
  free(r->done);
  free(r);
}

void si_readers_run_all(size_t n, int helpers, si_read_fn fn, void *user) {
  si_readers *r = n > 1 ? si_readers_start(n, helpers, fn, user) : NULL;
  for (size_t i = 0; i < n; i++) {
    if (r)
      si_readers_wait(r, i);
    else
      fn(user, i);
  }
  si_readers_stop(r);
}

int si_readers_default_helpers(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus <= 2)
    return 1;
  return cpus - 1 > MAX_HELPERS ? MAX_HELPERS : (int)cpus - 1;
}
