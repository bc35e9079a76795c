/* A command's usage text (the `sendit CMD --help` text) as man(7) roff
 * (src/manpage.h). The usage texts share one shape, which this reads:
 *
 *   Usage: sendit CMD ...        the synopsis; more forms or continuations
 *          sendit CMD ...        indented below it
 *
 *   Text of a paragraph          filled
 *   word   text of a paragraph   a tagged paragraph (.TP) when the next
 *          continued             line is indented to the text's column
 *     --opt ARG   what it does   an option (.TP): its words to the first
 *                 continued      run of two blanks (or to the first word
 *                                that is no option or placeholder)
 *       an indented example      no fill
 *
 * Nothing here knows any command: a new command's usage comes out right as
 * long as it keeps the shape. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "manpage.h"

typedef struct text_line {
  const char *s; /* after the indentation */
  size_t n;      /* without the newline */
  size_t indent;
} text_line;

/* Splits `text` into lines; NULL when out of memory. */
static text_line *split_lines(const char *text, size_t *count) {
  size_t cap = 1;
  for (const char *p = text; *p; p++)
    cap += *p == '\n';
  text_line *ls = calloc(cap, sizeof *ls);
  if (!ls)
    return NULL;
  size_t n = 0;
  for (const char *p = text; *p && n < cap;) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    size_t ind = 0;
    while (ind < len && p[ind] == ' ')
      ind++;
    ls[n++] = (text_line){p + ind, len - ind, ind};
    p += len + (end ? 1 : 0);
  }
  *count = n;
  return ls;
}

static int blank(const text_line *l) { return l->n == 0; }
static int is_usage(const text_line *l) {
  return l->indent == 0 && strncmp(l->s, "Usage:", 6) == 0;
}
static int is_option(const text_line *l) {
  return l->n >= 2 && l->s[0] == '-' && (l->s[1] == '-' || isalpha((unsigned char)l->s[1]));
}

/* Where the usage lines end: the index of the first line after them. */
static size_t usage_end(const text_line *ls, size_t count) {
  size_t i = 0;
  if (i < count && is_usage(&ls[i]))
    for (i++; i < count && !blank(&ls[i]) && ls[i].indent > 0;)
      i++;
  return i;
}

void man_usage_synopsis(FILE *out, const char *usage) {
  size_t count;
  text_line *ls = split_lines(usage, &count);
  if (!ls)
    return;
  size_t end = usage_end(ls, count);
  for (size_t i = 0; i < end; i++) {
    const char *s = ls[i].s;
    size_t n = ls[i].n;
    int first = i == 0 || strncmp(s, "sendit ", 7) == 0;
    if (i == 0) {
      s += 6;
      n -= 6;
      while (n && *s == ' ') {
        s++;
        n--;
      }
    }
    if (first)
      fputs(".PP\n", out);
    roff_words(out, s, n, first);
    fputc('\n', out);
  }
  free(ls);
}

/* The length of an option line's words (--opt ARG, -q, --quiet). */
static size_t term_len(const char *s, size_t n) {
  for (size_t i = 0; i + 1 < n; i++)
    if (s[i] == ' ' && s[i + 1] == ' ')
      return i;
  size_t i = 0, end = 0;
  while (i < n && (s[i] == '-' || isupper((unsigned char)s[i]) || strchr("[<{(", s[i]))) {
    while (i < n && s[i] != ' ')
      i++;
    end = i++;
  }
  return end;
}

/* A line kept as written (no fill), indented by `indent` beyond the block. */
static void nofill_line(FILE *out, const text_line *l, size_t base) {
  for (size_t k = base; k < l->indent; k++)
    fputc(' ', out);
  if (l->indent <= base && l->n && l->s[0] == '.')
    fputs("\\&", out);
  roff_text(out, l->s, l->n);
  fputc('\n', out);
}

/* Lines from *i on that are indented beyond `base` and no option, without
 * fill, in a block indented once more. */
static void nofill_block(FILE *out, const text_line *ls, size_t count, size_t *i, size_t base) {
  size_t min = (size_t)-1;
  size_t j = *i;
  for (; j < count && !blank(&ls[j]) && ls[j].indent > base && !is_option(&ls[j]); j++)
    if (ls[j].indent < min)
      min = ls[j].indent;
  fputs(".RS\n.nf\n", out);
  for (; *i < j; (*i)++)
    nofill_line(out, &ls[*i], min);
  fputs(".fi\n.RE\n", out);
}

/* The tag column of a paragraph "word   text" whose next line is indented
 * to where text begins, or 0. */
static size_t tag_column(const text_line *l, const text_line *next) {
  size_t k = next->indent;
  if (l->indent != 0 || blank(next) || is_option(next) || k < 2 || k >= l->n)
    return 0;
  if (l->s[k - 1] != ' ' || l->s[k] == ' ')
    return 0;
  size_t w = 0;
  while (w < k && l->s[w] != ' ')
    w++;
  for (size_t j = w; j < k; j++)
    if (l->s[j] != ' ')
      return 0;
  return w > 0 ? k : 0;
}

enum mode { M_NONE, M_PARA, M_OPTION };

void man_usage_body(FILE *out, const char *usage) {
  size_t count;
  text_line *ls = split_lines(usage, &count);
  if (!ls)
    return;
  enum mode mode = M_NONE;
  size_t opt_indent = 0;
  long cont = -1; /* a paragraph's continuation indent (-1: no second line yet) */
  int nested = 0; /* an .RS of options indented under a paragraph */
  for (size_t i = usage_end(ls, count); i < count;) {
    const text_line *l = &ls[i];
    if (blank(l)) {
      if (nested)
        fputs(".RE\n", out);
      nested = 0;
      mode = M_NONE;
      i++;
    } else if (is_option(l) && !(mode == M_OPTION && l->indent > opt_indent)) {
      if (l->indent > 2 && !nested && mode != M_OPTION) {
        fputs(".RS\n", out);
        nested = 1;
      }
      size_t t = term_len(l->s, l->n);
      fputs(".TP\n", out);
      roff_words(out, l->s, t, 0);
      fputc('\n', out);
      if (t < l->n)
        roff_line(out, l->s + t, l->n - t);
      mode = M_OPTION;
      opt_indent = l->indent;
      i++;
    } else if (mode == M_OPTION && l->indent > opt_indent) {
      roff_line(out, l->s, l->n);
      i++;
    } else if (mode == M_PARA && cont >= 0 && l->indent > (size_t)cont) {
      nofill_block(out, ls, count, &i, (size_t)cont);
    } else if (mode == M_PARA) {
      if (cont < 0)
        cont = (long)l->indent;
      roff_line(out, l->s, l->n);
      i++;
    } else if (l->indent > 0) {
      fputs(".PP\n", out);
      nofill_block(out, ls, count, &i, 0);
    } else {
      size_t k = i + 1 < count ? tag_column(l, &ls[i + 1]) : 0;
      if (k) {
        size_t w = 0;
        while (l->s[w] != ' ')
          w++;
        fputs(".TP\n\\fB", out);
        roff_text(out, l->s, w);
        fputs("\\fR\n", out);
        roff_line(out, l->s + k, l->n - k);
        cont = (long)k;
      } else {
        fputs(".PP\n", out);
        roff_line(out, l->s, l->n);
        cont = -1;
      }
      mode = M_PARA;
      i++;
    }
  }
  if (nested)
    fputs(".RE\n", out);
  free(ls);
}
