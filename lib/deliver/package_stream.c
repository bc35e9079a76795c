/* See package_stream.h. libarchive's thread hands each block to the hasher
 * thread, writes it to the file meanwhile, then waits for the hasher before
 * returning the block to libarchive: no copy, and the digest overlaps the
 * write(2) (a copy into the page cache) rather than following it. */
#include "deliver/package_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver/package_internal.h"

struct si_pkg_stream {
  int fd, error;
  int64_t bytes;
  si_pkg_sha256 hash;
  pthread_mutex_t lock;
  pthread_cond_t changed;
  const void *block; /* the block being hashed, NULL when none */
  size_t block_size;
  int threaded, done;
  pthread_t hasher;
};

static void *hash_loop(void *user) {
  si_pkg_stream *s = user;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    while (!s->block && !s->done)
      pthread_cond_wait(&s->changed, &s->lock);
    if (!s->block)
      break; /* done, nothing pending */
    const void *block = s->block;
    size_t size = s->block_size;
    pthread_mutex_unlock(&s->lock);
    si_pkg_sha256_update(&s->hash, block, size);
    pthread_mutex_lock(&s->lock);
    s->block = NULL;
    pthread_cond_broadcast(&s->changed);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

si_pkg_stream *si_pkg_stream_new(int fd) {
  si_pkg_stream *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->fd = fd;
  si_pkg_sha256_init(&s->hash, 0);
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->changed, NULL);
  /* Without a thread the stream is hashed inline: slower, same result. */
  s->threaded = pthread_create(&s->hasher, NULL, hash_loop, s) == 0;
  return s;
}

static int write_block(int fd, const unsigned char *p, size_t left) {
  while (left) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    p += n;
    left -= (size_t)n;
  }
  return 0;
}

la_ssize_t si_pkg_stream_write(struct archive *a, void *user, const void *buf, size_t size) {
  (void)a;
  si_pkg_stream *s = user;
  if (s->error)
    return -1;
  if (s->threaded) {
    pthread_mutex_lock(&s->lock);
    s->block = buf;
    s->block_size = size;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
  } else {
    si_pkg_sha256_update(&s->hash, buf, size);
  }
  int error = write_block(s->fd, buf, size);
  if (s->threaded) { /* libarchive reuses buf once we return */
    pthread_mutex_lock(&s->lock);
    while (s->block)
      pthread_cond_wait(&s->changed, &s->lock);
    pthread_mutex_unlock(&s->lock);
  }
  if (error) {
    s->error = error;
    return -1;
  }
  s->bytes += (int64_t)size;
  return (la_ssize_t)size;
}

int si_pkg_stream_finish(si_pkg_stream *s, char hex[65], int64_t *bytes) {
  if (s->threaded) {
    pthread_mutex_lock(&s->lock);
    s->done = 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->hasher, NULL);
  }
  si_pkg_sha256_final(&s->hash, hex);
  *bytes = s->bytes;
  int error = s->error;
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->changed);
  free(s);
  return error;
}
