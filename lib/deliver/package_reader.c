/* The package's reader thread (package_internal.h): opens the batch's
 * files in order, reads their headers and bytes, hashes each member, and
 * hands the chunks to the thread that writes the archive through a ring of
 * slots. With the archive's own hash on a third thread (package_stream.c)
 * the work of a package spreads over both cores instead of queueing on one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/package_internal.h"

#define SLOTS 8
#define CHUNK (1u << 20)

struct si_pkg_reader {
  const si_dest_batch *batch;
  si_pkg_chunk slots[SLOTS];
  size_t head, count; /* the consumer's next slot; slots filled */
  int stop, finished;
  pthread_mutex_t lock;
  pthread_cond_t changed;
  pthread_t thread;
};

/* The next free slot, or NULL when the consumer asked to stop. */
static si_pkg_chunk *slot_to_fill(si_pkg_reader *r) {
  pthread_mutex_lock(&r->lock);
  while (r->count == SLOTS && !r->stop)
    pthread_cond_wait(&r->changed, &r->lock);
  si_pkg_chunk *c = r->stop ? NULL : &r->slots[(r->head + r->count) % SLOTS];
  pthread_mutex_unlock(&r->lock);
  return c;
}

static void publish(si_pkg_reader *r) {
  pthread_mutex_lock(&r->lock);
  r->count++;
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
}

static int fail(si_pkg_reader *r, si_pkg_chunk *c, size_t index) {
  c->kind = SI_PKG_CHUNK_ERROR;
  c->index = index;
  publish(r);
  return -1;
}

/* One file: START, DATA..., END (or ERROR). -1 to stop. */
static int read_one(si_pkg_reader *r, size_t index) {
  const si_dest_item *item = &r->batch->items[index];
  si_pkg_chunk *c = slot_to_fill(r);
  if (!c)
    return -1;
  int fd = open(item->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat sb;
  if (fd < 0) {
    si_error_set(&c->err, SI_ERR_IO, item->path, SI_NO_OFFSET, SI_NO_TAG,
                 "cannot open the file to package: %s", strerror(errno));
    return fail(r, c, index);
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    si_error_set(&c->err, SI_ERR_STATE, item->path, SI_NO_OFFSET, SI_NO_TAG,
                 "not a regular file: not packaged");
    return fail(r, c, index);
  }
  if (si_pkg_header_read(item->path, &c->header, &c->err) != SI_OK) {
    close(fd);
    return fail(r, c, index);
  }
  c->kind = SI_PKG_CHUNK_START;
  c->index = index;
  c->file_size = (int64_t)sb.st_size;
  c->mtime = sb.st_mtim.tv_sec;
  publish(r);
  si_pkg_sha256 hash;
  si_pkg_sha256_init(&hash, 0);
  int64_t done = 0;
  for (;;) {
    if (!(c = slot_to_fill(r)))
      break;
    if (!c->data && !(c->data = malloc(CHUNK))) {
      si_error_set(&c->err, SI_ERR_NOMEM, item->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
      fail(r, c, index);
      c = NULL;
      break;
    }
    ssize_t n = read(fd, c->data, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      si_error_set(&c->err, SI_ERR_IO, item->path, (uint64_t)done, SI_NO_TAG, "read: %s",
                   strerror(errno));
      fail(r, c, index);
      c = NULL;
      break;
    }
    if (n == 0 || done + n > (int64_t)sb.st_size) {
      if (done + n > (int64_t)sb.st_size)
        si_error_set(&c->err, SI_ERR_STATE, item->path, (uint64_t)done, SI_NO_TAG,
                     "the file grew while it was packaged");
      else if (done != (int64_t)sb.st_size)
        si_error_set(&c->err, SI_ERR_TRUNCATED, item->path, (uint64_t)done, SI_NO_TAG,
                     "the file shrank while it was packaged (%lld of %lld bytes)", (long long)done,
                     (long long)sb.st_size);
      else
        break; /* c is the END slot */
      fail(r, c, index);
      c = NULL;
      break;
    }
    si_pkg_sha256_update(&hash, c->data, (size_t)n);
    c->kind = SI_PKG_CHUNK_DATA;
    c->index = index;
    c->size = (size_t)n;
    done += n;
    publish(r);
  }
  close(fd);
  char hex[65];
  si_pkg_sha256_final(&hash, hex);
  if (!c)
    return -1;
  c->kind = SI_PKG_CHUNK_END;
  c->index = index;
  memcpy(c->hex, hex, sizeof hex);
  publish(r);
  return 0;
}

static void *reader_main(void *user) {
  si_pkg_reader *r = user;
  for (size_t i = 0; i < r->batch->count; i++)
    if (read_one(r, i) != 0)
      break;
  pthread_mutex_lock(&r->lock);
  r->finished = 1;
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

si_pkg_reader *si_pkg_reader_start(const si_dest_batch *b) {
  si_pkg_reader *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->batch = b;
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->changed, NULL);
  if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->changed);
    free(r);
    return NULL;
  }
  return r;
}

si_pkg_chunk *si_pkg_reader_next(si_pkg_reader *r) {
  pthread_mutex_lock(&r->lock);
  while (r->count == 0 && !r->finished)
    pthread_cond_wait(&r->changed, &r->lock);
  si_pkg_chunk *c = r->count ? &r->slots[r->head] : NULL;
  pthread_mutex_unlock(&r->lock);
  return c;
}

void si_pkg_reader_release(si_pkg_reader *r) {
  pthread_mutex_lock(&r->lock);
  r->head = (r->head + 1) % SLOTS;
  r->count--;
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
}

void si_pkg_reader_stop(si_pkg_reader *r) {
  pthread_mutex_lock(&r->lock);
  r->stop = 1;
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
  pthread_join(r->thread, NULL);
  for (size_t i = 0; i < SLOTS; i++) {
    free(r->slots[i].data);
    si_pkg_header_free(&r->slots[i].header);
  }
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->changed);
  free(r);
}
