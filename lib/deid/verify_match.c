/* The leak scan's matching rules: case folding of UTF-8 text, the mode a
 * value's shape asks for, and the boundaries a match must have. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/verify_internal.h"
#include "sendit/utf8.h"

/* Lower (upper = 0) or upper case of one code point, for the scripts
 * patient names are written in most often in DICOM's single-byte character
 * sets: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic. */
static uint32_t fold_cp(uint32_t c, int upper) {
  if (!upper) {
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
        (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
      return c + 32;
    if (c >= 0x400 && c <= 0x40F)
      return c + 80;
    if (c == 0x178)
      return 0xFF;
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && c % 2 == 0)
      return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1)
      return c + 1;
    return c;
  }
  if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7) ||
      (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) || (c >= 0x430 && c <= 0x44F))
    return c - 32;
  if (c == 0x3C2)
    return 0x3A3;
  if (c >= 0x450 && c <= 0x45F)
    return c - 80;
  if (c == 0xFF)
    return 0x178;
  if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && c % 2 == 1)
    return c - 1;
  if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 0)
    return c - 1;
  return c;
}

static size_t put_cp(uint32_t c, char *out) {
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

char *verify_fold(const char *s, size_t len, int upper, size_t *out_len) {
  /* Folding never lengthens a character's encoding in the ranges above
   * (ÿ <-> Ÿ is 2 bytes both ways). */
  char *out = malloc(len + 1);
  if (!out)
    return NULL;
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = si_utf8_sequence(p + i, len - i);
    if (n == 0) {
      out[o++] = (char)p[i++];
      continue;
    }
    uint32_t c;
    if (n == 1)
      c = p[i];
    else if (n == 2)
      c = ((uint32_t)(p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F);
    else if (n == 3)
      c = ((uint32_t)(p[i] & 0x0F) << 12) | ((uint32_t)(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
    else
      c = ((uint32_t)(p[i] & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3F) << 12) |
          ((uint32_t)(p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
    uint32_t f = fold_cp(c, upper);
    if (f == c) {
      memcpy(out + o, p + i, n);
      o += n;
    } else {
      o += put_cp(f, out + o);
    }
    i += n;
  }
  out[o] = '\0';
  if (out_len)
    *out_len = o;
  return out;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int valid_date(const char *s) {
  int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int month = (s[4] - '0') * 10 + (s[5] - '0');
  int day = (s[6] - '0') * 10 + (s[7] - '0');
  return year >= 1800 && year <= 2299 && month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

verify_mode verify_mode_of(const char *s, size_t len) {
  size_t digits = 0, dots = 0;
  for (size_t i = 0; i < len; i++) {
    if (is_digit((uint8_t)s[i]))
      digits++;
    else if (s[i] == '.')
      dots++;
  }
  if (digits == len)
    return len == 8 && valid_date(s) ? VERIFY_DATE : VERIFY_NUMBER;
  if (digits + dots == len && dots > 0 && si_uid_is_valid(s, len))
    return VERIFY_UID;
  return VERIFY_TEXT;
}

int verify_date_valid(const char *s, size_t len) {
  for (size_t i = 0; i < 8; i++)
    if (i >= len || !is_digit((uint8_t)s[i]))
      return 0;
  return valid_date(s);
}

static int is_word_byte(uint8_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

int verify_word_ok(size_t nlen, const uint8_t *hay, size_t hay_len, size_t pos) {
  if (nlen >= VERIFY_WORD_ONLY_BELOW)
    return 1;
  if (pos > 0 && is_word_byte(hay[pos - 1]))
    return 0;
  return pos + nlen >= hay_len || !is_word_byte(hay[pos + nlen]);
}

size_t verify_bucket_of(const uint8_t *p, size_t key_len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < key_len; i++)
    h = (h ^ verify_lower(p[i])) * 16777619u;
  return h % VERIFY_BUCKETS;
}

int verify_bucket_add(verify_bucket *b, size_t item) {
  if (b->count == b->capacity) {
    size_t cap = b->capacity ? b->capacity * 2 : 4;
    size_t *items = realloc(b->items, cap * sizeof *items);
    if (!items)
      return -1;
    b->items = items;
    b->capacity = cap;
  }
  b->items[b->count++] = item;
  return 0;
}

char *si_verify_mask(const char *value, char *buf, size_t size) {
  if (!buf || size == 0)
    return buf;
  size_t len = value ? strlen(value) : 0, chars = 0, first = 0;
  for (size_t i = 0; i < len;) {
    size_t n = si_utf8_sequence((const unsigned char *)value + i, len - i);
    if (n == 0)
      n = 1;
    if (chars == 0)
      first = n;
    chars++;
    i += n;
  }
  /* "…" is U+2026. */
  snprintf(buf, size, "%.*s\xE2\x80\xA6(%zu)", (int)first, value ? value : "", chars);
  return buf;
}
