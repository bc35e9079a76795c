/* Escaping text for man(7) roff (src/manpage.h): the one place that knows
 * which characters roff treats specially, so that the usage texts, key
 * help and defaults can be written into the pages as they are. */
#include <ctype.h>
#include <string.h>

#include "manpage.h"

/* Whether a '-' after `prev` starts a word: an option or a minus sign,
 * written \- so it renders (and copies) as a plain hyphen-minus. */
static int word_start(char prev) { return prev == 0 || strchr(" \t[(|,=/\"'{<-", prev) != NULL; }

/* Decodes one UTF-8 sequence at s (n bytes left): the code point and its
 * length, or 0xFFFD and 1 for a bad byte. */
static unsigned utf8_at(const unsigned char *s, size_t n, size_t *len) {
  unsigned c = s[0];
  size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (need == 0 || need > n) {
    *len = 1;
    return 0xFFFD;
  }
  unsigned cp = c & (0x3F >> (need - 1));
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *len = 1;
      return 0xFFFD;
    }
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  *len = need;
  return cp;
}

void roff_text(FILE *out, const char *s, size_t n) {
  char prev = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\\')
      fputs("\\e", out);
    else if (c == '-' && (word_start(prev) || (i + 1 < n && s[i + 1] == '-')))
      fputs("\\-", out);
    else if (c == '\'')
      fputs("\\(aq", out);
    else if (c == '`')
      fputs("\\(ga", out);
    else if (c == '^')
      fputs("\\(ha", out);
    else if (c == '~')
      fputs("\\(ti", out);
    else if (c == '\t')
      fputc(' ', out);
    else if (c >= 0x80) {
      size_t len;
      unsigned cp = utf8_at((const unsigned char *)s + i, n - i, &len);
      fprintf(out, "\\[u%04X]", cp);
      i += len - 1;
    } else if (c >= 0x20 && c != 0x7F)
      fputc(c, out);
    prev = (char)c;
  }
}

void roff_line(FILE *out, const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t')) {
    s++;
    n--;
  }
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
    n--;
  if (n && s[0] == '.')
    fputs("\\&", out);
  roff_text(out, s, n);
  fputc('\n', out);
}

static int is_option_char(char c) { return isalnum((unsigned char)c) || c == '-' || c == '_'; }

/* A placeholder: upper-case letters, digits and '_', starting with a
 * letter, not followed by a lower-case letter (so "Endian" stays roman). */
static size_t placeholder_len(const char *s, size_t n) {
  size_t k = 0;
  if (!isupper((unsigned char)s[0]))
    return 0;
  while (k < n && (isupper((unsigned char)s[k]) || isdigit((unsigned char)s[k]) || s[k] == '_'))
    k++;
  return k < n && islower((unsigned char)s[k]) ? 0 : k;
}

void roff_words(FILE *out, const char *s, size_t n, int lead_bold) {
  size_t i = 0;
  if (lead_bold) {
    size_t end = 0;
    for (size_t k = 0; k <= n; k++) {
      if (k == n || s[k] == ' ') {
        if (k > end && !islower((unsigned char)s[end]))
          break;
        size_t w = end;
        while (w < k && (islower((unsigned char)s[w]) || s[w] == '_'))
          w++;
        if (w != k)
          break;
        i = k;
        end = k + 1;
      }
    }
    if (i) {
      fputs("\\fB", out);
      roff_text(out, s, i);
      fputs("\\fR", out);
    }
  }
  while (i < n) {
    char prev = i ? s[i - 1] : 0;
    size_t k = i;
    if (s[i] == '-' && i + 1 < n && (s[i + 1] == '-' || isalpha((unsigned char)s[i + 1])) &&
        (prev == 0 || strchr(" [(|,", prev))) {
      while (k < n && is_option_char(s[k]))
        k++;
      fputs("\\fB", out);
      roff_text(out, s + i, k - i);
      fputs("\\fR", out);
    } else if (!isalnum((unsigned char)prev) && (k = i + placeholder_len(s + i, n - i)) > i) {
      fputs("\\fI", out);
      roff_text(out, s + i, k - i);
      fputs("\\fR", out);
    } else {
      k = i + 1;
      while (k < n && s[k] != '-' && !isupper((unsigned char)s[k]))
        k++;
      /* roff_text decides a '-' by the character before it: give it the
       * run's context by starting at i. */
      roff_text(out, s + i, k - i);
    }
    i = k;
  }
}

void roff_macro(FILE *out, const char *name, const char *arg) {
  fprintf(out, ".%s \"", name);
  for (const char *p = arg; *p; p++) {
    const char *q = strchr(p, '"');
    size_t len = q ? (size_t)(q - p) : strlen(p);
    roff_text(out, p, len);
    p += len;
    if (!q)
      break;
    fputs("\\(dq", out);
  }
  fputs("\"\n", out);
}
