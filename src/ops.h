/* The operator commands (status, config, batches, batch, batch_logs,
 * export_metrics, summary_metrics, quarantine) and the few helpers they
 * share: one way to run a command (config, options, database), aligned text
 * tables and JSON output. The helpers are static inline so they live with
 * their declarations and need no file of their own. The statuses and the
 * time and size formats are the web's too: sendit/ops_status.h and
 * sendit/ops_format.h (lib/ops).
 *
 * Output rules: tables for people (ISO-8601 UTC times to the second, sizes
 * like "1.5 MiB"), JSON or CSV for scripts (times to the millisecond, exact
 * bytes). Exit statuses are cli.h's: 0 ok, 1 failure or not found, 2 usage. */
#ifndef SENDIT_OPS_H
#define SENDIT_OPS_H

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "cli.h"
#include "sendit/log.h"
#include "sendit/ops_format.h"
#include "sendit/ops_status.h"

int cmd_status(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_batches(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_batch_logs(int argc, char **argv);
int cmd_export_metrics(int argc, char **argv);
int cmd_summary_metrics(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);
int cmd_destinations(int argc, char **argv);
extern const char cmd_status_usage[];
extern const char cmd_config_usage[];
extern const char cmd_batches_usage[];
extern const char cmd_batch_usage[];
extern const char cmd_batch_logs_usage[];
extern const char cmd_export_metrics_usage[];
extern const char cmd_summary_metrics_usage[];
extern const char cmd_quarantine_usage[];
extern const char cmd_destinations_usage[];

/* ---- running a command ---- */

/* What a command does with the database: nothing, look (never creating
 * or migrating it: app_open_db_readonly), or write. */
typedef enum ops_db_use { OPS_DB_NONE, OPS_DB_READ, OPS_DB_WRITE } ops_db_use;

/* A command is an option parser and a body. parse returns -1 when the
 * command line is fine, else the exit status (usually CLI_EXIT_USAGE); it
 * runs before the database is opened, so a bad command line touches
 * nothing. */
typedef struct ops_command {
  const char *name; /* as in messages: "batch show" */
  ops_db_use db;
  int (*parse)(int argc, char **argv, void *opts);
  int (*run)(app *a, void *opts);
} ops_command;

static inline int ops_run(const ops_command *c, int argc, char **argv, void *opts) {
  app a;
  int rc = app_init(&a, c->name, &argc, argv);
  if (rc)
    return rc;
  optind = 1;
  opterr = 0;
  rc = c->parse(argc, argv, opts);
  if (rc < 0 && c->db != OPS_DB_NONE &&
      (c->db == OPS_DB_READ ? app_open_db_readonly(&a, c->name) : app_open_db(&a, c->name)) !=
          CLI_EXIT_OK)
    rc = CLI_EXIT_FAILURE;
  if (rc < 0)
    rc = c->run(&a, opts);
  app_close(&a);
  return rc;
}

/* The message for getopt_long's '?' (unknown option) or ':' (no value). */
static inline int ops_bad_option(const char *cmd, int c, char **argv) {
  const char *arg = optind > 0 ? argv[optind - 1] : "";
  if (c == ':')
    return cli_usage_error(cmd, "option '%s' needs a value", arg);
  /* getopt sets optopt for an unknown short option only; inside a cluster
   * ("-xy") optind has not moved on, so argv cannot name it. */
  if (optopt > ' ' && optopt < 127)
    return cli_usage_error(cmd, "unknown option '-%c'", optopt);
  return cli_usage_error(cmd, "unknown option '%s'", arg);
}

/* A non-negative decimal count for --limit and --offset (and ids); 0 when
 * it is one. cli_parse_number's rules: digits only, no overflow. */
static inline int ops_parse_count(const char *s, int64_t *out) {
  long long v;
  if (cli_parse_number(s, 0, INT64_MAX, &v) != 0)
    return -1;
  *out = v;
  return 0;
}

static inline int ops_not_found(const char *cmd, const char *what, const char *uid) {
  fflush(stdout);
  fprintf(stderr, "sendit %s: no %s '%s'\n", cmd, what, cli_text(uid));
  return CLI_EXIT_FAILURE;
}

static inline int ops_fail(const char *cmd, const si_error *err) {
  cli_print_error(cmd, err);
  return CLI_EXIT_FAILURE;
}

/* Reals are seconds to the millisecond: 12 significant digits print them
 * as written ("0.004", not jansson's default "0.0040000000000000001"). */
#define OPS_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

/* Prints and releases `j`; CLI_EXIT_FAILURE when it could not be built or
 * written. */
static inline int ops_print_json(json_t *j) {
  int rc = j ? json_dumpf(j, stdout, OPS_JSON_FLAGS) : -1;
  json_decref(j);
  if (rc == 0)
    putchar('\n');
  if (rc != 0 || fflush(stdout) != 0) {
    fprintf(stderr, "sendit: cannot write the JSON output\n");
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

/* ---- aligned tables ---- */

/* Rows of text cells; the first row is the header (if any). Cells are
 * copied through si_log_sanitize, so a name can neither drive the terminal
 * nor split a row. Columns are padded to their widest cell (in characters,
 * so UTF-8 names line up), numbers are right-aligned, and the last column
 * is not padded so long messages do not drag trailing blanks. */
typedef struct ops_table {
  size_t ncols;
  const char *align; /* one 'l' or 'r' per column */
  char **cells;      /* rows * ncols, owned */
  size_t rows, cap;
  int oom;
} ops_table;

static inline int ops_table_add(ops_table *t, const char *const *row) {
  if (t->rows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **cells = realloc(t->cells, cap * t->ncols * sizeof *cells);
    if (!cells) {
      t->oom = 1;
      return -1;
    }
    t->cells = cells;
    t->cap = cap;
  }
  char **dst = t->cells + t->rows * t->ncols;
  for (size_t c = 0; c < t->ncols; c++) {
    dst[c] = strdup(row[c] ? row[c] : "");
    if (dst[c]) /* cells show names from the database and the file system */
      si_log_sanitize(dst[c], strlen(dst[c]));
    if (!dst[c]) {
      while (c > 0)
        free(dst[--c]);
      t->oom = 1;
      return -1;
    }
  }
  t->rows++;
  return 0;
}

/* `headers` may be NULL for a table of label/value lines. */
static inline void ops_table_init(ops_table *t, const char *align, const char *const *headers) {
  memset(t, 0, sizeof *t);
  t->ncols = strlen(align);
  t->align = align;
  if (headers)
    ops_table_add(t, headers);
}

static inline size_t ops_text_width(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* Prints the table with `indent` leading blanks; -1 when rows were lost to
 * a failed allocation. */
static inline int ops_table_print(const ops_table *t, FILE *out, int indent) {
  size_t width[16] = {0};
  size_t ncols = t->ncols < 16 ? t->ncols : 16;
  for (size_t r = 0; r < t->rows; r++)
    for (size_t c = 0; c < ncols; c++) {
      size_t w = ops_text_width(t->cells[r * t->ncols + c]);
      width[c] = w > width[c] ? w : width[c];
    }
  for (size_t r = 0; r < t->rows; r++) {
    fprintf(out, "%*s", indent, "");
    for (size_t c = 0; c < ncols; c++) {
      const char *cell = t->cells[r * t->ncols + c];
      int pad = (int)(width[c] - ops_text_width(cell));
      int last = c + 1 == ncols;
      if (t->align[c] == 'r')
        fprintf(out, "%*s%s", pad, "", cell);
      else
        fprintf(out, "%s%*s", cell, last ? 0 : pad, "");
      fputs(last ? "\n" : "  ", out);
    }
  }
  return t->oom ? -1 : 0;
}

static inline void ops_table_free(ops_table *t) {
  for (size_t i = 0; i < t->rows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}

#endif
