/* Buffered reading on top of si_io for the parser. Buffers come from the
 * parsed file's arena and are never reused: a refill moves on to a new
 * buffer, so bytes once read stay valid and values can point into them
 * without a copy. Large values are read straight into their destination.
 * Deflated data sets are read through an inflating si_io over a stream. */
#ifndef SENDIT_STREAM_H
#define SENDIT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"
#include "arena.h"
#include "sendit/io.h"

typedef struct si_stream {
  si_io *io;        /* borrowed */
  si_arena *arena;  /* borrowed: owns the buffers */
  const char *name; /* borrowed, for errors */
  uint8_t *buf;
  size_t cap;
  size_t pos;       /* next unread byte in buf */
  size_t len;       /* bytes valid in buf */
  size_t next_read; /* size of the next refill: grows so header-only reads stay small */
  uint64_t offset;  /* stream offset of buf[pos] */
  int eof;
} si_stream;

/* Largest header a caller may ask si_stream_need for. */
#define SI_STREAM_MAX_NEED 16

si_status si_stream_init(si_stream *s, si_io *io, si_arena *arena, size_t initial_read,
                         si_error *err);

/* Makes at least n (<= SI_STREAM_MAX_NEED... or any n <= cap) bytes available
 * at s->buf + s->pos. Returns SI_OK, or SI_ERR_TRUNCATED when the stream ends
 * first (then fewer bytes are available; nothing is consumed). */
si_status si_stream_fill(si_stream *s, size_t n, si_error *err);
static inline si_status si_stream_need(si_stream *s, size_t n, si_error *err) {
  return s->len - s->pos >= n ? SI_OK : si_stream_fill(s, n, err);
}
static inline size_t si_stream_avail(const si_stream *s) { return s->len - s->pos; }
static inline const uint8_t *si_stream_peek(const si_stream *s) { return s->buf + s->pos; }
static inline void si_stream_consume(si_stream *s, size_t n) {
  s->pos += n;
  s->offset += n;
}
/* 1 when no byte is left (tries to read one). */
int si_stream_at_end(si_stream *s, si_error *err);
/* Copies exactly n bytes to dst or fails with SI_ERR_TRUNCATED. */
si_status si_stream_copy(si_stream *s, void *dst, size_t n, si_error *err);
/* Moves n bytes forward without keeping them: buffered bytes are dropped,
 * the rest is seeked over (files) or read and discarded (inflate), so no
 * memory grows with n. SI_ERR_TRUNCATED when the stream ends first. */
si_status si_stream_skip(si_stream *s, uint64_t n, si_error *err);
/* Reads the stream to its end without keeping it; *all_zero says whether
 * every byte left was zero (it stops at the first other byte). */
si_status si_stream_rest_is_zero(si_stream *s, int *all_zero, si_error *err);
/* Bytes left (buffered + unread), or -1 when the source cannot tell. */
int64_t si_stream_remaining(si_stream *s);

/* Creates an si_io that inflates raw deflate data read from `src` (borrowed;
 * must outlive the returned io). *cut (owned by the io) becomes 1 once the
 * compressed data ended before its final block. */
si_status si_inflate_io_open(si_stream *src, si_io **out, const int **cut, si_error *err);

#endif
