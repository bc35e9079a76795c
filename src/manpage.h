/* The man pages that `sendit manpage 1|5` prints: sendit(1) from the
 * command table and the commands' usage texts, sendit.ini(5) from the
 * configuration's key tables (sendit/config.h, sendit/destination.h). The
 * pages are made from the same tables the program runs on, so they list
 * exactly its commands, options, keys and defaults.
 *
 * man_roff.c: escaping text for man(7) roff; man_usage.c: a usage text
 * ("Usage: sendit CMD ...", paragraphs, option lines) to roff; manpage.c:
 * sendit(1); manpage_ini.c: sendit.ini(5). Every writer returns 0, or -1
 * when writing to `out` failed. */
#ifndef SENDIT_MANPAGE_H
#define SENDIT_MANPAGE_H

#include <stddef.h>
#include <stdio.h>

#include "cli.h"

/* ---- man_roff.c ---- */

/* Writes s[0..n) as roff text: backslashes, quotes and accents escaped, a
 * '-' that starts a word (an option, a negative number) as \-, non-ASCII
 * UTF-8 as \[uXXXX]. No newline. */
void roff_text(FILE *out, const char *s, size_t n);
/* One input line of text: leading blanks dropped, \& before a leading '.',
 * then the text and a newline. */
void roff_line(FILE *out, const char *s, size_t n);
/* Synopsis or option words: options (-x, --xyz) in bold, placeholders
 * (FILE, TAG=VALUE) in italics, the rest roman; with `lead_bold`, the
 * leading lower-case words too ("sendit batch show"). No newline. */
void roff_words(FILE *out, const char *s, size_t n, int lead_bold);
/* A macro line `.NAME "ARG"` with the argument escaped (its quotes as
 * \(dq). */
void roff_macro(FILE *out, const char *name, const char *arg);

/* ---- man_usage.c ---- */

/* The "Usage:" lines of `usage` as synopsis paragraphs, one per form. */
void man_usage_synopsis(FILE *out, const char *usage);
/* Everything after the "Usage:" lines: paragraphs, option lists (.TP),
 * indented examples (no fill). */
void man_usage_body(FILE *out, const char *usage);

/* ---- manpage.c, manpage_ini.c ---- */

typedef struct man_info {
  const char *version; /* "0.1.0" */
  const char *date;    /* for .TH, like "2026-12-02"; "" when none */
  const char *about;   /* what sendit does, after "sendit ": the overview's sentence */
} man_info;

/* sendit(1): every listed row of `commands` (rows with a summary). */
int manpage_write_1(FILE *out, const man_info *info, const cli_command *commands, size_t count);
/* sendit.ini(5). */
int manpage_write_5(FILE *out, const man_info *info);

#endif
