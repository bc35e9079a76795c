/* UTF-8 validation and repair (see sendit/utf8.h). The ranges follow the
 * table of well-formed byte sequences in the Unicode standard (section 3.9,
 * table 3-7): the second byte's range depends on the first, which is what
 * excludes overlong forms, surrogates and code points above U+10FFFF. */
#include "sendit/utf8.h"

#include <stdlib.h>
#include <string.h>

typedef struct lead {
  unsigned char lo, hi;               /* the first byte's range */
  unsigned char len;                  /* bytes in the sequence */
  unsigned char second_lo, second_hi; /* the second byte's range */
} lead;

static const lead leads[] = {
    {0x00, 0x7F, 1, 0, 0},       {0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF},
    {0xE1, 0xEC, 3, 0x80, 0xBF}, {0xED, 0xED, 3, 0x80, 0x9F}, {0xEE, 0xEF, 3, 0x80, 0xBF},
    {0xF0, 0xF0, 4, 0x90, 0xBF}, {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F},
};

size_t si_utf8_sequence(const unsigned char *s, size_t n) {
  const lead *l = NULL;
  for (size_t i = 0; i < sizeof leads / sizeof leads[0] && !l; i++)
    if (s[0] >= leads[i].lo && s[0] <= leads[i].hi)
      l = &leads[i];
  if (!l)
    return 0; /* 80..C1 and F5..FF never begin a sequence */
  if (l->len == 1)
    return 1;
  if (n < l->len || s[1] < l->second_lo || s[1] > l->second_hi)
    return 0;
  for (size_t i = 2; i < l->len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return l->len;
}

int si_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) { /* the common case, without the table */
      i++;
      continue;
    }
    size_t len = si_utf8_sequence(p + i, n - i);
    if (!len)
      return 0;
    i += len;
  }
  return 1;
}

char *si_utf8_repair(const char *s, size_t n, size_t *out_len) {
  /* Each bad byte becomes three: the worst case is 3n. */
  if (n > (((size_t)-1) - 1) / 3)
    return NULL;
  char *out = malloc(3 * n + 1);
  if (!out)
    return NULL;
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t len = si_utf8_sequence(p + i, n - i);
    if (len) {
      memcpy(out + o, p + i, len);
      o += len;
      i += len;
    } else {
      memcpy(out + o, SI_UTF8_REPLACEMENT, 3);
      o += 3;
      i++;
    }
  }
  out[o] = '\0';
  if (out_len)
    *out_len = o;
  return out;
}
