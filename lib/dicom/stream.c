#include "stream.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define STREAM_MAX_READ (64 * 1024)

si_status si_stream_init(si_stream *s, si_io *io, si_arena *arena, size_t initial_read,
                         si_error *err) {
  memset(s, 0, sizeof *s);
  s->io = io;
  s->arena = arena;
  s->name = si_io_name(io);
  s->next_read = initial_read ? initial_read : 8192;
  if (s->next_read > STREAM_MAX_READ)
    s->next_read = STREAM_MAX_READ;
  s->cap = s->next_read;
  s->buf = si_arena_alloc(arena, s->cap, 0);
  if (!s->buf)
    return si_error_set(err, SI_ERR_NOMEM, s->name, 0, SI_NO_TAG, "out of memory");
  return SI_OK;
}

static si_status refill(si_stream *s, size_t need, si_error *err) {
  size_t want = s->next_read;
  if (s->cap - s->len < want) {
    /* Move on to a fresh buffer; the old one keeps the values pointing into it. */
    size_t tail = s->len - s->pos;
    size_t cap = tail + (want > need ? want : need);
    uint8_t *fresh = si_arena_alloc(s->arena, cap, 0);
    if (!fresh)
      return si_error_set(err, SI_ERR_NOMEM, s->name, s->offset, SI_NO_TAG, "out of memory");
    memcpy(fresh, s->buf + s->pos, tail);
    s->buf = fresh;
    s->cap = cap;
    s->pos = 0;
    s->len = tail;
    want = cap - tail;
  }
  int64_t got = si_io_read(s->io, s->buf + s->len, want, err);
  if (got < 0)
    return err ? err->code : SI_ERR_IO;
  if (got == 0)
    s->eof = 1;
  s->len += (size_t)got;
  if (s->next_read < STREAM_MAX_READ)
    s->next_read *= 2;
  return SI_OK;
}

si_status si_stream_fill(si_stream *s, size_t n, si_error *err) {
  while (s->len - s->pos < n) {
    if (s->eof)
      return si_error_set(err, SI_ERR_TRUNCATED, s->name, s->offset, SI_NO_TAG,
                          "stream ends: %zu bytes needed, %zu left", n, s->len - s->pos);
    si_status st = refill(s, n, err);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}

int si_stream_at_end(si_stream *s, si_error *err) {
  if (s->len > s->pos)
    return 0;
  if (!s->eof && refill(s, 1, err) != SI_OK)
    return 1;
  return s->len == s->pos;
}

si_status si_stream_copy(si_stream *s, void *dst, size_t n, si_error *err) {
  uint8_t *out = dst;
  size_t buffered = s->len - s->pos;
  size_t first = n < buffered ? n : buffered;
  memcpy(out, s->buf + s->pos, first);
  si_stream_consume(s, first);
  size_t done = first;
  while (done < n) {
    int64_t got = si_io_read(s->io, out + done, n - done, err);
    if (got < 0)
      return err ? err->code : SI_ERR_IO;
    if (got == 0) {
      s->eof = 1;
      return si_error_set(err, SI_ERR_TRUNCATED, s->name, s->offset, SI_NO_TAG,
                          "stream ends %zu bytes into a value of %zu bytes", done, n);
    }
    done += (size_t)got;
    s->offset += (uint64_t)got;
  }
  return SI_OK;
}

si_status si_stream_skip(si_stream *s, uint64_t n, si_error *err) {
  size_t buffered = s->len - s->pos;
  size_t first = n < buffered ? (size_t)n : buffered;
  si_stream_consume(s, first);
  uint64_t rest = n - first;
  if (rest == 0)
    return SI_OK;
  int64_t got = si_io_skip(s->io, rest, err);
  if (got < 0)
    return err ? err->code : SI_ERR_IO;
  s->offset += (uint64_t)got;
  if ((uint64_t)got < rest) {
    s->eof = 1;
    return si_error_set(err, SI_ERR_TRUNCATED, s->name, s->offset, SI_NO_TAG,
                        "stream ends %llu bytes into a value of %llu bytes",
                        (unsigned long long)(n - rest + (uint64_t)got), (unsigned long long)n);
  }
  return SI_OK;
}

static int zeros(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i])
      return 0;
  return 1;
}

si_status si_stream_rest_is_zero(si_stream *s, int *all_zero, si_error *err) {
  *all_zero = zeros(s->buf + s->pos, s->len - s->pos);
  si_stream_consume(s, s->len - s->pos);
  uint8_t scratch[4096];
  while (*all_zero && !s->eof) {
    int64_t got = si_io_read(s->io, scratch, sizeof scratch, err);
    if (got < 0)
      return err ? err->code : SI_ERR_IO;
    if (got == 0)
      s->eof = 1;
    *all_zero = zeros(scratch, (size_t)got);
    s->offset += (uint64_t)got;
  }
  return SI_OK;
}

int64_t si_stream_remaining(si_stream *s) {
  int64_t rest = si_io_remaining(s->io);
  if (rest < 0)
    return -1;
  return rest + (int64_t)(s->len - s->pos);
}

/* ---- inflate ---- */

typedef struct inflate_ctx {
  si_stream *src;
  z_stream z;
  int done;
  int cut; /* the compressed data ended before its final block */
} inflate_ctx;

static int64_t inflate_cut(inflate_ctx *c, si_error *err) {
  si_error_set(err, SI_ERR_TRUNCATED, c->src->name, c->src->offset, SI_NO_TAG,
               "deflated data set ends before the end of its compressed stream: the file is cut");
  return -1;
}

static int64_t inflate_read(void *vctx, void *buf, size_t n, si_error *err) {
  inflate_ctx *c = vctx;
  if (c->cut)
    return inflate_cut(c, err);
  if (c->done || n == 0)
    return 0;
  c->z.next_out = buf;
  c->z.avail_out = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
  while (c->z.avail_out > 0 && !c->done) {
    if (si_stream_avail(c->src) == 0) {
      if (si_stream_at_end(c->src, err)) {
        if (!c->src->eof)
          return -1; /* the read failed: err says why */
        /* The compressed data ends before its final block: the file is cut,
         * even where the inflated bytes end between two elements. The bytes
         * inflated so far go out first; the next read fails. */
        c->cut = 1;
        break;
      }
    }
    c->z.next_in = (Bytef *)si_stream_peek(c->src);
    c->z.avail_in = (uInt)si_stream_avail(c->src);
    uInt before = c->z.avail_in;
    int rc = inflate(&c->z, Z_NO_FLUSH);
    si_stream_consume(c->src, before - c->z.avail_in);
    if (rc == Z_STREAM_END) {
      c->done = 1;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      si_error_set(err, SI_ERR_FORMAT, c->src->name, c->src->offset, SI_NO_TAG,
                   "deflated data set is corrupt: %s", c->z.msg ? c->z.msg : "inflate failed");
      return -1;
    } else if (rc == Z_BUF_ERROR && before == c->z.avail_in && c->z.avail_out > 0) {
      break; /* no progress possible */
    }
  }
  if (c->cut && c->z.avail_out == n)
    return inflate_cut(c, err);
  return (int64_t)(n - c->z.avail_out);
}

static void inflate_close(void *vctx) {
  inflate_ctx *c = vctx;
  inflateEnd(&c->z);
  free(c);
}

si_status si_inflate_io_open(si_stream *src, si_io **out, const int **cut, si_error *err) {
  static const si_io_methods methods = {inflate_read, NULL, NULL, inflate_close};
  *out = NULL;
  inflate_ctx *c = calloc(1, sizeof *c);
  if (!c)
    return si_error_set(err, SI_ERR_NOMEM, src->name, src->offset, SI_NO_TAG, "out of memory");
  c->src = src;
  /* Negative window bits: PS3.5 A.5 uses raw deflate without zlib header. */
  if (inflateInit2(&c->z, -MAX_WBITS) != Z_OK) {
    free(c);
    return si_error_set(err, SI_ERR_NOMEM, src->name, src->offset, SI_NO_TAG,
                        "cannot initialise inflate");
  }
  *cut = &c->cut;
  return si_io_create(&methods, c, src->name, out, err);
}
