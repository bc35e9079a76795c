/* A page index for GET /api/images without filters: the listing key
 * (batch_id, id) of every STRIDE-th image, so that a deep page starts from
 * a known key and reads only its own rows instead of walking every index
 * entry before it (which costs about a millisecond per 100,000 images on
 * every request).
 *
 * It is only used while it is surely right: while the number of images and
 * the largest id are the ones it was built from, and for at most MAX_AGE_MS
 * (an image moved to another batch by the keep-last duplicate policy
 * changes neither). Otherwise requests take the plain path, and the index
 * is rebuilt at most every REBUILD_MS, so a busy import does not spend its
 * time rebuilding it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "page_index.h"
#include "sendit/store_web.h"

enum { STRIDE = 128, MAX_AGE_MS = 30 * 1000, REBUILD_MS = 2 * 1000 };

struct web_page_index {
  pthread_mutex_t lock;
  int64_t *keys; /* batch_id, id pairs */
  size_t n, cap;
  int64_t count, max_id; /* of the table when built */
  int64_t built_at, tried_at;
  int valid;
};

web_page_index *web_page_index_new(void) {
  web_page_index *x = calloc(1, sizeof *x);
  if (x)
    pthread_mutex_init(&x->lock, NULL);
  return x;
}

void web_page_index_free(web_page_index *x) {
  if (!x)
    return;
  pthread_mutex_destroy(&x->lock);
  free(x->keys);
  free(x);
}

static int add_key(void *user, int64_t row, int64_t batch_id, int64_t id) {
  web_page_index *x = user;
  (void)row;
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 1024;
    int64_t *keys = realloc(x->keys, cap * 2 * sizeof *keys);
    if (!keys)
      return 1;
    x->keys = keys;
    x->cap = cap;
  }
  x->keys[2 * x->n] = batch_id;
  x->keys[2 * x->n + 1] = id;
  x->n++;
  return 0;
}

/* Called with the lock held. The numbers are read again after the walk: a
 * change meanwhile shows in them, and then the keys are not trusted. */
static void rebuild(web_page_index *x, si_db *db, int64_t count, int64_t max_id, int64_t now) {
  si_error err;
  x->tried_at = now;
  x->valid = 0;
  x->n = 0;
  int64_t c = 0, m = 0;
  int ok = si_web_image_keys(db, STRIDE, add_key, x, &err) == SI_OK &&
           si_web_image_stats(db, &c, &m, &err) == SI_OK && c == count && m == max_id &&
           x->n == (size_t)((count + STRIDE - 1) / STRIDE);
  if (ok) {
    x->count = count;
    x->max_id = max_id;
    x->built_at = now;
    x->valid = 1;
  }
}

si_status web_page_index_images(web_page_index *x, si_db *db, int64_t limit, int64_t offset,
                                int64_t *count, si_web_image_fn fn, void *user, si_error *err) {
  int64_t max_id = 0;
  si_status st = si_web_image_stats(db, count, &max_id, err);
  if (st != SI_OK)
    return st;
  int64_t now = si_now_ms();
  int64_t start[2] = {0, 0}, skip = 0;
  int use = 0;
  pthread_mutex_lock(&x->lock);
  int fresh =
      x->valid && x->count == *count && x->max_id == max_id && now - x->built_at < MAX_AGE_MS;
  if (!fresh && now - x->tried_at >= REBUILD_MS)
    rebuild(x, db, *count, max_id, now);
  fresh = x->valid && x->count == *count && x->max_id == max_id;
  if (fresh && offset < *count) {
    size_t k = (size_t)(offset / STRIDE);
    start[0] = x->keys[2 * k];
    start[1] = x->keys[2 * k + 1];
    skip = offset % STRIDE;
    use = 1;
  }
  pthread_mutex_unlock(&x->lock);
  si_web_image_filter none = {0};
  if (use)
    return si_web_images_from(db, start[0], start[1], limit, skip, fn, user, err);
  return si_web_images(db, &none, limit, offset, NULL, fn, user, err);
}
