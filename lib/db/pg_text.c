/* PostgreSQL backend: SQL text helpers, the UTF-8 escaping of other bytes, the $n check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pg_internal.h"

/* ---- text helpers ---- */

static int is_word_char(char ch) {
  return ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
         (ch >= 'A' && ch <= 'Z') || (unsigned char)ch >= 0x80;
}

const char *si_pg_skip_blanks(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

/* After the keyword `word` that sql begins with (case-insensitive), or NULL. */
const char *si_pg_after_word(const char *sql, const char *word) {
  const char *p = si_pg_skip_blanks(sql);
  size_t n = strlen(word);
  if (strncasecmp(p, word, n) != 0 || is_word_char(p[n]))
    return NULL;
  return p + n;
}

int si_pg_is_commit(const char *sql) {
  return si_pg_after_word(sql, "COMMIT") || si_pg_after_word(sql, "END");
}

int si_pg_is_rollback(const char *sql) {
  const char *p = si_pg_after_word(sql, "ROLLBACK");
  if (!p)
    p = si_pg_after_word(sql, "ABORT");
  if (!p)
    return 0;
  /* "ROLLBACK TO SAVEPOINT x" needs the transaction; plain ROLLBACK ends it. */
  while (*(p = si_pg_skip_blanks(p)) == ';')
    p++;
  return *p == '\0' || si_pg_after_word(p, "WORK") || si_pg_after_word(p, "TRANSACTION");
}

/* Statements that recur; DDL runs once at start-up and would only push the
 * hot statements out of the cache. */
int si_pg_worth_caching(const char *sql) {
  static const char *const words[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (si_pg_after_word(sql, words[i]))
      return 1;
  return 0;
}

uint64_t si_pg_hash_sql(const char *sql) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  return h;
}

/* libpq's messages span lines ("...failed: Connection refused\n\tIs the
 * server running..."); log lines and si_error must not. */
void si_pg_one_line(char *dst, size_t size, const char *src) {
  size_t n = 0;
  int blank = 1;
  for (const char *p = src ? src : ""; *p && n + 1 < size; p++) {
    int space = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
    if (space && blank)
      continue;
    dst[n++] = space ? ' ' : *p;
    blank = space;
  }
  while (n > 0 && dst[n - 1] == ' ')
    n--;
  if (size)
    dst[n] = '\0';
}

/* The URL with any password replaced by "***" (user:pw@host, password=...),
 * so messages and logs can name the database safely. */
void si_pg_redact_url(char *dst, size_t size, const char *url) {
  snprintf(dst, size, "%s", url);
  char *scheme = strstr(dst, "://");
  if (scheme) {
    char *auth = scheme + 3, *end = auth + strcspn(auth, "/?#");
    char *at = memchr(auth, '@', (size_t)(end - auth));
    char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon && at - colon > 1 && strlen(dst) + 4 < size) {
      memmove(colon + 4, at, strlen(at) + 1);
      memcpy(colon + 1, "***", 3);
    }
  }
  for (char *p = strstr(dst, "password="); p; p = strstr(p + 1, "password=")) {
    char *value = p + strlen("password="), *end = value + strcspn(value, "& ");
    if (end > value && strlen(dst) + 4 < size) {
      memmove(value + 3, end, strlen(end) + 1);
      memcpy(value, "***", 3);
    }
  }
}

/* ---- bytes that are not UTF-8 ----
 *
 * PostgreSQL refuses text that is not valid UTF-8 (in a UTF8 database, the
 * usual kind), while SQLite stores any bytes, and file and folder names on
 * Linux are bytes. So strings cross this backend through a lossless map:
 * every byte that does not belong to a valid UTF-8 character, and every
 * byte of a character in U+EF80..U+EFFF (private use), becomes the single
 * character U+EF00 + byte; results are mapped back. Valid text without
 * those characters, which is all of it in practice, passes unchanged and
 * uncopied. Equal strings stay equal and a prefix ending at an ASCII byte
 * ('/') stays a prefix, which is all the queries rely on. */

#define ESCAPE_FIRST 0xEF80u
#define ESCAPE_LAST 0xEFFFu

/* Length of the valid UTF-8 character at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) and its code point; 0 if invalid. */
static int utf8_char(const unsigned char *p, uint32_t *cp) {
  unsigned char b = p[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  int n = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
  if (!n)
    return 0;
  uint32_t v = b & (0x3F >> (n - 1));
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    v = (v << 6) | (p[i] & 0x3F);
  }
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return n;
}

int si_pg_needs_escape(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    uint32_t cp = 0;
    int n = *p < 0x80 ? 1 : utf8_char(p, &cp);
    if (!n || (n == 3 && cp >= ESCAPE_FIRST && cp <= ESCAPE_LAST))
      return 1;
    p += n;
  }
  return 0;
}

/* The mapped copy of s (malloc'd), or NULL when out of memory. */
char *si_pg_escape_text(const char *s) {
  char *out = malloc(strlen(s) * 3 + 1), *w = out;
  if (!out)
    return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    uint32_t cp = 0;
    int n = *p < 0x80 ? 1 : utf8_char(p, &cp);
    if (n && !(n == 3 && cp >= ESCAPE_FIRST && cp <= ESCAPE_LAST)) {
      memcpy(w, p, (size_t)n);
      w += n;
      p += n;
      continue;
    }
    uint32_t e = 0xEF00u + *p++;
    *w++ = (char)0xEE;
    *w++ = (char)(0x80 | ((e >> 6) & 0x3F));
    *w++ = (char)(0x80 | (e & 0x3F));
  }
  *w = '\0';
  return out;
}

/* The escape characters are EE BE xx and EE BF xx in UTF-8. */
int si_pg_has_escapes(const char *s) {
  for (const char *p = strchr(s, (char)0xEE); p; p = strchr(p + 1, (char)0xEE))
    if (((unsigned char)p[1] == 0xBE || (unsigned char)p[1] == 0xBF) &&
        ((unsigned char)p[2] & 0xC0) == 0x80)
      return 1;
  return 0;
}

/* The original bytes of a mapped value, in place (it only shrinks). */
void si_pg_unescape_text(char *s) {
  char *w = s;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    if (p[0] == 0xEE && (p[1] == 0xBE || p[1] == 0xBF) && (p[2] & 0xC0) == 0x80) {
      *w++ = (char)(((p[1] & 0x3F) << 6 | (p[2] & 0x3F)) - 0xF00);
      p += 3;
    } else {
      *w++ = (char)*p++;
    }
  }
  *w = '\0';
}

/* ---- parameters ---- */

/* Scans the SQL the way PostgreSQL's lexer splits it (strings, quoted
 * names, dollar quotes, nested comments) to find the $n parameters and a
 * second statement. Checking here gives the same SI_ERR_ARG as the SQLite
 * backend; the server would otherwise report a protocol violation (class
 * 08, indistinguishable from a lost connection) for a count mismatch. */
si_status si_pg_check_sql(const pg_conn *c, const char *sql, int nparams, int *count,
                          si_error *err) {
  /* The protocol counts parameters in 16 bits. */
  unsigned char used[65536 / 8] = {0};
  int max = 0, statements = 0, content = 0;
  char what[128] = "";
  for (const char *p = sql; *p && !what[0];) {
    char ch = *p;
    int prev_word = p > sql && is_word_char(p[-1]);
    if (ch == '-' && p[1] == '-') {
      p += strcspn(p, "\n");
      continue;
    }
    if (ch == '/' && p[1] == '*') {
      int depth = 1;
      for (p += 2; *p && depth; p++) {
        if (p[0] == '/' && p[1] == '*')
          depth++, p++;
        else if (p[0] == '*' && p[1] == '/')
          depth--, p++;
      }
      continue;
    }
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      p++;
      continue;
    }
    if (ch == ';') {
      content = 0;
      p++;
      continue;
    }
    if (!content) {
      statements += 1;
      content = 1;
    }
    if (ch == '\'' || ch == '"') {
      int backslash = ch == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
                      !(p - 1 > sql && is_word_char(p[-2]));
      for (p++; *p; p++) {
        if (backslash && *p == '\\' && p[1]) {
          p++;
        } else if (*p == ch) {
          if (p[1] != ch)
            break;
          p++;
        }
      }
      if (*p)
        p++;
      continue;
    }
    if (ch == '$' && !prev_word && p[1] >= '0' && p[1] <= '9') {
      char *end;
      long n = strtol(p + 1, &end, 10);
      p = end;
      if (n < 1 || n > 65535)
        snprintf(what, sizeof what, "parameter $%ld is out of range", n);
      else {
        used[(n - 1) / 8] |= (unsigned char)(1u << ((n - 1) % 8));
        max = n > max ? (int)n : max;
      }
      continue;
    }
    if (ch == '$' && !prev_word) { /* $tag$ ... $tag$ */
      const char *tag_end = p + 1; /* a digit here was a parameter, above */
      while (is_word_char(*tag_end))
        tag_end++;
      if (*tag_end == '$') {
        size_t tag_len = (size_t)(tag_end - p) + 1;
        const char *close = tag_end + 1;
        while ((close = strchr(close, '$')) && strncmp(close, p, tag_len) != 0)
          close++;
        p = close ? close + tag_len : p + strlen(p);
        continue;
      }
    }
    if (ch == '?') {
      snprintf(what, sizeof what, "parameter '?' (write parameters as $1..$N)");
      continue;
    }
    p++;
  }
  if (!what[0] && statements == 0)
    snprintf(what, sizeof what, "empty statement");
  else if (!what[0] && statements > 1)
    snprintf(what, sizeof what, "more than one statement");
  else if (!what[0] && max != nparams)
    snprintf(what, sizeof what, "statement takes %d parameters, %d given", max, nparams);
  for (int i = 0; i < max && !what[0]; i++)
    if (!(used[i / 8] & (1u << (i % 8))))
      snprintf(what, sizeof what, "parameter $%d is not used (write parameters as $1..$N)", i + 1);
  if (what[0])
    return si_error_set(err, SI_ERR_ARG, c->where, SI_NO_OFFSET, SI_NO_TAG, "%s (sql: %.*s)", what,
                        SQL_QUOTE_CHARS, sql);
  *count = max;
  return SI_OK;
}
