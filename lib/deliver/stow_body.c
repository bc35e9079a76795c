/* The STOW-RS request body; see stow_body.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "stow_body.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum phase { PART_HEAD, PART_DATA, PART_TAIL, CLOSE, DONE };

struct si_stow_body {
  const char *const *paths;
  const int64_t *sizes;
  size_t count;
  size_t part;      /* the part being read */
  enum phase phase; /* where in it */
  size_t at;        /* bytes of the phase's text already given */
  int64_t data_at;  /* bytes of the part's file already given */
  int fd;           /* the part's file, -1 outside PART_DATA */
  char boundary[SI_STOW_BOUNDARY_MAX + 1];
  size_t boundary_len;
  char carry[SI_STOW_BOUNDARY_MAX]; /* the file's last boundary_len - 1 bytes */
  size_t carry_len;
  char head[SI_STOW_BOUNDARY_MAX + 64];
  char close[SI_STOW_BOUNDARY_MAX + 8];
  char content_type[SI_STOW_BOUNDARY_MAX + 64];
  size_t head_len, close_len;
  uint64_t length;
  int collided;
};

static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

si_status si_stow_boundary(char *out, si_error *err) {
  out[0] = '\0';
  /* Once per process; thread-safe and cheap after the first. */
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, "", SI_NO_OFFSET, SI_NO_TAG,
                        "libsodium cannot start: no random boundary");
  for (size_t i = 0; i < SI_STOW_BOUNDARY_LEN; i++)
    out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
  out[SI_STOW_BOUNDARY_LEN] = '\0';
  return SI_OK;
}

/* RFC 2046 bchars, less the space (it may not end a boundary, and a quoted
 * parameter is not needed without it). */
static int boundary_ok(const char *s, size_t n) {
  return n >= 1 && n <= SI_STOW_BOUNDARY_MAX &&
         strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=?") ==
             n;
}

si_status si_stow_body_new(const char *boundary, const char *const *paths, const int64_t *sizes,
                           size_t count, si_stow_body **out, si_error *err) {
  *out = NULL;
  size_t blen = boundary ? strlen(boundary) : 0;
  if (!boundary_ok(boundary ? boundary : "", blen))
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "STOW-RS boundary: 1 to 70 characters of RFC 2046's set");
  si_stow_body *b = calloc(1, sizeof *b);
  if (!b)
    return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  b->paths = paths;
  b->sizes = sizes;
  b->count = count;
  b->fd = -1;
  memcpy(b->boundary, boundary, blen + 1);
  b->boundary_len = blen;
  b->head_len = (size_t)snprintf(b->head, sizeof b->head,
                                 "--%s\r\nContent-Type: application/dicom\r\n\r\n", boundary);
  b->close_len = (size_t)snprintf(b->close, sizeof b->close, "--%s--\r\n", boundary);
  snprintf(b->content_type, sizeof b->content_type,
           "multipart/related; type=\"application/dicom\"; boundary=%s", boundary);
  b->length = b->close_len;
  for (size_t i = 0; i < count; i++) {
    if (sizes[i] < 0) {
      free(b);
      return si_error_set(err, SI_ERR_ARG, paths[i], SI_NO_OFFSET, SI_NO_TAG, "negative size");
    }
    b->length += b->head_len + (uint64_t)sizes[i] + 2;
  }
  b->phase = count ? PART_HEAD : CLOSE;
  *out = b;
  return SI_OK;
}

uint64_t si_stow_body_length(const si_stow_body *b) { return b->length; }
const char *si_stow_body_content_type(const si_stow_body *b) { return b->content_type; }
size_t si_stow_body_part(const si_stow_body *b) { return b->part; }
int si_stow_body_collided(const si_stow_body *b) { return b->collided; }

/* Copies what is left of text[len] from b->at; 1 when the text is done. */
static int give_text(si_stow_body *b, const char *text, size_t len, char *buf, size_t n,
                     size_t *given) {
  size_t k = len - b->at < n ? len - b->at : n;
  memcpy(buf, text + b->at, k);
  b->at += k;
  *given = k;
  if (b->at < len)
    return 0;
  b->at = 0;
  return 1;
}

/* Whether the boundary occurs in the file's bytes so far: in data[n], or
 * across the join with the bytes before it. Keeps the new tail in carry. */
static int holds_boundary(si_stow_body *b, const char *data, size_t n) {
  size_t blen = b->boundary_len;
  if (memmem(data, n, b->boundary, blen))
    return 1;
  char join[2 * SI_STOW_BOUNDARY_MAX];
  size_t from_data = n < blen - 1 ? n : blen - 1;
  memcpy(join, b->carry, b->carry_len);
  memcpy(join + b->carry_len, data, from_data);
  if (memmem(join, b->carry_len + from_data, b->boundary, blen))
    return 1;
  /* The new carry: the last blen - 1 bytes of carry + data. */
  size_t keep = blen - 1;
  if (n >= keep) {
    memcpy(b->carry, data + n - keep, keep);
    b->carry_len = keep;
  } else {
    size_t total = b->carry_len + n, drop = total > keep ? total - keep : 0;
    memmove(b->carry, b->carry + drop, b->carry_len - drop);
    memcpy(b->carry + b->carry_len - drop, data, n);
    b->carry_len = total - drop;
  }
  return 0;
}

static si_status open_part(si_stow_body *b, si_error *err) {
  const char *path = b->paths[b->part];
  b->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (b->fd < 0)
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s",
                        strerror(errno));
  struct stat sb;
  if (fstat(b->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "not a regular file");
  if ((int64_t)sb.st_size != b->sizes[b->part])
    return si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG,
                        "the file has %lld bytes, %lld when the batch was made",
                        (long long)sb.st_size, (long long)b->sizes[b->part]);
  b->data_at = 0;
  b->carry_len = 0;
  return SI_OK;
}

/* Reads up to n bytes of the part's file into buf. */
static si_status give_data(si_stow_body *b, char *buf, size_t n, size_t *given, si_error *err) {
  const char *path = b->paths[b->part];
  *given = 0;
  if (b->fd < 0 && open_part(b, err) != SI_OK)
    return err ? err->code : SI_ERR_IO;
  int64_t left = b->sizes[b->part] - b->data_at;
  size_t want = (uint64_t)left < n ? (size_t)left : n;
  ssize_t got = 0;
  while (want && (got = read(b->fd, buf, want)) < 0 && errno == EINTR) {
  }
  if (got < 0)
    return si_error_set(err, SI_ERR_IO, path, (uint64_t)b->data_at, SI_NO_TAG, "cannot read: %s",
                        strerror(errno));
  if (want && got == 0)
    return si_error_set(err, SI_ERR_TRUNCATED, path, (uint64_t)b->data_at, SI_NO_TAG,
                        "the file ended early (it had %lld bytes when the batch was made)",
                        (long long)b->sizes[b->part]);
  if (holds_boundary(b, buf, (size_t)got)) {
    b->collided = 1;
    return si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG,
                        "the multipart boundary occurs in the file");
  }
  b->data_at += got;
  *given = (size_t)got;
  if (b->data_at == b->sizes[b->part]) {
    close(b->fd);
    b->fd = -1;
    b->phase = PART_TAIL;
  }
  return SI_OK;
}

size_t si_stow_body_read(si_stow_body *b, char *buf, size_t n, si_error *err) {
  size_t total = 0;
  while (total < n && b->phase != DONE) {
    size_t k = 0;
    switch (b->phase) {
    case PART_HEAD:
      if (give_text(b, b->head, b->head_len, buf + total, n - total, &k))
        b->phase = b->sizes[b->part] ? PART_DATA : PART_TAIL;
      break;
    case PART_DATA:
      if (give_data(b, buf + total, n - total, &k, err) != SI_OK)
        return SIZE_MAX;
      break;
    case PART_TAIL:
      if (give_text(b, "\r\n", 2, buf + total, n - total, &k)) {
        b->part++;
        b->phase = b->part < b->count ? PART_HEAD : CLOSE;
      }
      break;
    case CLOSE:
      if (give_text(b, b->close, b->close_len, buf + total, n - total, &k))
        b->phase = DONE;
      break;
    case DONE:
      break;
    }
    total += k;
  }
  return total;
}

void si_stow_body_free(si_stow_body *b) {
  if (!b)
    return;
  if (b->fd >= 0)
    close(b->fd);
  free(b);
}
