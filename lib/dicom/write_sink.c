/* The writer's output: an fd behind a stage buffer, or a growing memory
 * buffer, optionally through raw deflate (PS3.5 A.5). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "write_internal.h"

si_status si_sink_error(sink *o, si_status code, uint32_t tag, const char *what) {
  return si_error_set(o->err, code, o->name, o->offset, tag, "%s", what);
}

si_status si_sink_flush_fd(sink *o) {
  size_t done = 0;
  while (done < o->used) {
    ssize_t n = write(o->fd, o->buf + done, o->used - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      return si_error_set(o->err, SI_ERR_IO, o->name, o->offset, SI_NO_TAG, "write failed: %s",
                          strerror(e));
    }
    done += (size_t)n;
  }
  o->used = 0;
  return SI_OK;
}

static si_status raw_put(sink *o, const void *p, size_t n) {
  if (n == 0)
    return SI_OK; /* deflate may produce nothing yet; buf may still be NULL */
  if (o->fd < 0) {
    if (o->cap - o->used < n) {
      size_t cap = o->cap ? o->cap : 65536;
      while (cap - o->used < n) {
        if (cap > SIZE_MAX / 2)
          return si_sink_error(o, SI_ERR_NOMEM, SI_NO_TAG, "out of memory");
        cap *= 2;
      }
      uint8_t *grown = realloc(o->buf, cap);
      if (!grown)
        return si_sink_error(o, SI_ERR_NOMEM, SI_NO_TAG, "out of memory");
      o->buf = grown;
      o->cap = cap;
    }
    memcpy(o->buf + o->used, p, n);
    o->used += n;
    return SI_OK;
  }
  const uint8_t *b = p;
  while (n) {
    if (o->used == o->cap) {
      si_status st = si_sink_flush_fd(o);
      if (st != SI_OK)
        return st;
    }
    size_t step = o->cap - o->used < n ? o->cap - o->used : n;
    memcpy(o->buf + o->used, b, step);
    o->used += step;
    b += step;
    n -= step;
  }
  return SI_OK;
}

static si_status deflate_step(sink *o, int flush) {
  do {
    o->z.next_out = o->zbuf;
    o->z.avail_out = (uInt)STAGE_SIZE;
    int rc = deflate(&o->z, flush);
    if (rc == Z_STREAM_ERROR)
      return si_sink_error(o, SI_ERR_IO, SI_NO_TAG, "deflate failed");
    size_t produced = STAGE_SIZE - o->z.avail_out;
    o->compressed += produced;
    si_status st = raw_put(o, o->zbuf, produced);
    if (st != SI_OK)
      return st;
  } while (o->z.avail_out == 0 || (flush == Z_FINISH && o->z.avail_in));
  return SI_OK;
}

si_status si_sink_put(sink *o, const void *p, size_t n) {
  o->offset += n;
  if (!o->deflating)
    return raw_put(o, p, n);
  o->z.next_in = (Bytef *)p;
  o->z.avail_in = (uInt)n;
  return deflate_step(o, Z_NO_FLUSH);
}

si_status si_sink_start_deflate(sink *o, int level) {
  o->zbuf = malloc(STAGE_SIZE);
  if (!o->zbuf || deflateInit2(&o->z, level ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                               Z_DEFAULT_STRATEGY) != Z_OK)
    return si_sink_error(o, SI_ERR_NOMEM, SI_NO_TAG, "cannot start deflate");
  o->deflating = 1;
  return SI_OK;
}

/* Ends the deflate stream; PS3.5 A.5: an odd deflated stream gets a NUL. */
si_status si_sink_finish_deflate(sink *o) {
  o->z.next_in = NULL;
  o->z.avail_in = 0;
  si_status st = deflate_step(o, Z_FINISH);
  deflateEnd(&o->z);
  o->deflating = 0;
  if (st == SI_OK && o->compressed & 1)
    st = raw_put(o, "", 1);
  return st;
}

void si_sink_release(sink *o) {
  if (o->deflating)
    deflateEnd(&o->z);
  free(o->zbuf);
  if (o->fd >= 0)
    free(o->buf);
}
