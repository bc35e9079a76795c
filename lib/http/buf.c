/* Text buffers, escaping and display formats for the web server. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "sendit/utf8.h"

static int grow(hbuf *b, size_t more) {
  if (b->oom)
    return -1;
  if (b->len + more + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *data = realloc(b->data, cap);
  if (!data) {
    b->oom = 1;
    return -1;
  }
  b->data = data;
  b->cap = cap;
  return 0;
}

void hb_putn(hbuf *b, const char *s, size_t n) {
  if (grow(b, n) != 0)
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void hb_put(hbuf *b, const char *s) { hb_putn(b, s, strlen(s)); }

void hb_printf(hbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    hb_putn(b, small, (size_t)n);
    return;
  }
  if (grow(b, (size_t)n) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static void html_escape(hbuf *b, const char *s);

void hb_html(hbuf *b, const char *s) {
  size_t n = strlen(s);
  if (si_utf8_valid(s, n)) {
    html_escape(b, s);
    return;
  }
  /* Names and values from senders may hold any bytes: a page shows U+FFFD
   * for those that are not UTF-8 rather than sending them raw. */
  char *fixed = si_utf8_repair(s, n, NULL);
  if (!fixed) {
    b->oom = 1;
    return;
  }
  html_escape(b, fixed);
  free(fixed);
}

static void html_escape(hbuf *b, const char *s) {
  const char *run = s;
  for (; *s; s++) {
    const char *rep = NULL;
    switch (*s) {
    case '&':
      rep = "&amp;";
      break;
    case '<':
      rep = "&lt;";
      break;
    case '>':
      rep = "&gt;";
      break;
    case '"':
      rep = "&quot;";
      break;
    case '\'':
      rep = "&#39;";
      break;
    default:
      continue;
    }
    hb_putn(b, run, (size_t)(s - run));
    hb_put(b, rep);
    run = s + 1;
  }
  hb_putn(b, run, (size_t)(s - run));
}

void hb_url(hbuf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      hb_putn(b, (const char *)&c, 1);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      hb_putn(b, esc, 3);
    }
  }
}

void hb_free(hbuf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void web_url_decode(char *s) {
  char *out = s;
  for (; *s; s++) {
    int hi, lo;
    if (*s == '+') {
      *out++ = ' ';
    } else if (*s == '%' && (hi = hex_value(s[1])) >= 0 && (lo = hex_value(s[2])) >= 0) {
      *out++ = (char)(hi * 16 + lo);
      s += 2;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

int64_t web_parse_date(const char *s) {
  if (strlen(s) != 10)
    return -1;
  for (int i = 0; i < 10; i++)
    if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
      return -1;
  int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
    return -1;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
  time_t t = timegm(&tm);
  /* timegm normalises 2024-02-31 to March; such a date is not one. */
  struct tm back;
  gmtime_r(&t, &back);
  if (back.tm_mday != d || back.tm_mon != m - 1)
    return -1;
  return (int64_t)t * 1000;
}
