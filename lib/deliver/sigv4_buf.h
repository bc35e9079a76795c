/* A growable text buffer for the s3 destination's requests, signatures and
 * manifests. Internal to lib/deliver. A failed allocation sets `oom` and
 * makes every later append a no-op, so callers check once at the end.
 *
 * Ownership: the buffer owns p; si_sbuf_take hands it to the caller. */
#ifndef SENDIT_DELIVER_SIGV4_BUF_H
#define SENDIT_DELIVER_SIGV4_BUF_H

#include <stdlib.h>
#include <string.h>

typedef struct si_sbuf {
  char *p;
  size_t len, cap;
  int oom;
} si_sbuf;

static inline void si_sbuf_add(si_sbuf *b, const void *data, size_t n) {
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
}
static inline void si_sbuf_adds(si_sbuf *b, const char *s) { si_sbuf_add(b, s, strlen(s)); }
static inline void si_sbuf_addc(si_sbuf *b, char c) { si_sbuf_add(b, &c, 1); }
/* The text (NUL-terminated, "" when empty), or NULL after a failed
 * allocation (the buffer is freed then). */
static inline char *si_sbuf_take(si_sbuf *b) {
  if (b->oom) {
    free(b->p);
    b->p = NULL;
    return NULL;
  }
  if (!b->p)
    return strdup("");
  char *p = b->p;
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}
static inline void si_sbuf_free(si_sbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

#endif
