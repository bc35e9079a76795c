/* `sendit export_metrics` (one row per batch, CSV or JSON, for spreadsheets
 * and dashboards) and `sendit summary_metrics` (totals and timing over all
 * batches). Both read every batch once, oldest first. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <unistd.h>

#include "ops.h"
#include "sendit/store.h"
#include "sendit/store_ops.h"

const char cmd_export_metrics_usage[] =
    "Usage: sendit export_metrics [--format csv|json] [--output FILE] [--config PATH]\n"
    "\n"
    "Writes one row per batch, oldest first: uid, status, size_bytes, images,\n"
    "start, finish, elapsed_seconds. Times are ISO-8601 UTC with milliseconds;\n"
    "start, finish and elapsed_seconds are empty (null) for a batch that has not\n"
    "finished.\n"
    "\n"
    "  --format csv   CSV with a header line, fields quoted as RFC 4180 says,\n"
    "                 lines ending in LF (the default)\n"
    "  --format json  a JSON array of objects\n"
    "  --output FILE  write to FILE (replaced whole, never left half-written)\n"
    "                 instead of standard output\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 1 the database could not be read or FILE not written,\n"
    "2 usage.\n";

const char cmd_summary_metrics_usage[] =
    "Usage: sendit summary_metrics [--json] [--config PATH]\n"
    "\n"
    "Prints totals over all batches: batches in all and by status, batches with\n"
    "errors, images and bytes stored, the mean, median, 95th percentile and\n"
    "maximum time a batch took (over finished batches), and the overall rate in\n"
    "files per second (images of finished batches / their summed time).\n"
    "\n"
    "  --json         print one JSON object instead of text\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 1 the database could not be read, 2 usage.\n";

/* What metrics need of a batch: small, so every batch fits in memory. */
typedef struct metric_row {
  char uid[SI_NAME_MAX];
  char status[16];
  int has_error;
  int64_t size_bytes, images, started, finished, elapsed_ms;
} metric_row;

typedef struct metric_rows {
  metric_row *items;
  size_t count, cap;
  int oom;
} metric_rows;

static int collect_row(void *user, const si_batch *b) {
  metric_rows *r = user;
  if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    metric_row *items = realloc(r->items, cap * sizeof *items);
    if (!items) {
      r->oom = 1;
      return 1;
    }
    r->items = items;
    r->cap = cap;
  }
  metric_row *m = &r->items[r->count++];
  snprintf(m->uid, sizeof m->uid, "%s", b->uid);
  snprintf(m->status, sizeof m->status, "%s", b->status);
  m->has_error = b->has_error;
  m->size_bytes = b->size_bytes;
  m->images = b->image_count;
  m->started = b->started_at;
  m->finished = b->finished_at;
  m->elapsed_ms = b->elapsed_ms;
  return 0;
}

/* Every batch, oldest first (the store lists newest first). */
static int collect(app *a, const char *cmd, metric_rows *r) {
  si_error err;
  memset(r, 0, sizeof *r);
  if (si_store_batch_list(a->db, NULL, 0, 0, collect_row, r, &err) != SI_OK) {
    free(r->items);
    return ops_fail(cmd, &err);
  }
  if (r->oom) {
    free(r->items);
    fprintf(stderr, "sendit %s: out of memory\n", cmd);
    return CLI_EXIT_FAILURE;
  }
  for (size_t i = 0; i < r->count / 2; i++) {
    metric_row t = r->items[i];
    r->items[i] = r->items[r->count - 1 - i];
    r->items[r->count - 1 - i] = t;
  }
  return CLI_EXIT_OK;
}

static int is_finished(const metric_row *m) { return m->finished > 0; }

/* ---- export_metrics ---- */

typedef enum export_format { FORMAT_CSV, FORMAT_JSON } export_format;

typedef struct export_opts {
  export_format format;
  const char *output; /* NULL: standard output */
} export_opts;

/* RFC 4180: quote a field holding a comma, quote or line break, and double
 * the quotes inside. */
static void csv_field(FILE *out, const char *s, int last) {
  s = cli_text(s); /* a uid is a sender's folder name: no escapes for a terminal */
  if (strpbrk(s, ",\"\r\n")) {
    fputc('"', out);
    for (; *s; s++) {
      if (*s == '"')
        fputc('"', out);
      fputc(*s, out);
    }
    fputc('"', out);
  } else {
    fputs(s, out);
  }
  fputc(last ? '\n' : ',', out);
}

static void write_csv(FILE *out, const metric_rows *r) {
  static const char *const header[] = {"uid",   "status", "size_bytes",     "images",
                                       "start", "finish", "elapsed_seconds"};
  enum { NCOLS = sizeof header / sizeof header[0] };
  for (size_t c = 0; c < NCOLS; c++)
    csv_field(out, header[c], c + 1 == NCOLS);
  for (size_t i = 0; i < r->count; i++) {
    const metric_row *m = &r->items[i];
    char size[24], images[24], start[OPS_TIME_MAX], finish[OPS_TIME_MAX], elapsed[32] = "";
    snprintf(size, sizeof size, "%" PRId64, m->size_bytes);
    snprintf(images, sizeof images, "%" PRId64, m->images);
    ops_time(start, m->started, 1);
    ops_time(finish, m->finished, 1);
    if (is_finished(m))
      snprintf(elapsed, sizeof elapsed, "%.3f", (double)m->elapsed_ms / 1000.0);
    const char *row[NCOLS] = {
        m->uid, m->status, size, images, m->started > 0 ? start : "", m->finished > 0 ? finish : "",
        elapsed};
    for (size_t c = 0; c < NCOLS; c++)
      csv_field(out, row[c], c + 1 == NCOLS);
  }
}

static int write_json(FILE *out, const metric_rows *r) {
  json_t *array = json_array();
  for (size_t i = 0; i < r->count; i++) {
    const metric_row *m = &r->items[i];
    json_array_append_new(
        array, json_pack("{s:o, s:s, s:I, s:I, s:o, s:o, s:o}", "uid", ops_json_text(m->uid),
                         "status", m->status, "size_bytes", (json_int_t)m->size_bytes, "images",
                         (json_int_t)m->images, "start", ops_json_time(m->started), "finish",
                         ops_json_time(m->finished), "elapsed_seconds",
                         is_finished(m) ? json_real((double)m->elapsed_ms / 1000.0) : json_null()));
  }
  int rc = array ? json_dumpf(array, out, OPS_JSON_FLAGS) : -1;
  json_decref(array);
  if (rc == 0)
    fputc('\n', out);
  return rc;
}

static int write_rows(FILE *out, const export_opts *o, const metric_rows *r) {
  if (o->format == FORMAT_JSON)
    return write_json(out, r);
  write_csv(out, r);
  return 0;
}

/* Writes beside FILE and renames over it, so a reader never sees half a
 * file and a failed export leaves the previous one in place. */
static int export_to_file(const export_opts *o, const metric_rows *r) {
  char tmp[SI_PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.tmp%ld", o->output, (long)getpid());
  FILE *out = fopen(tmp, "w");
  if (!out) {
    fprintf(stderr, "sendit export_metrics: cannot create %s: %s\n", tmp, strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  int failed = write_rows(out, o, r) != 0 || ferror(out);
  failed |= fclose(out) != 0;
  if (failed || rename(tmp, o->output) != 0) {
    fprintf(stderr, "sendit export_metrics: cannot write %s: %s\n", o->output, strerror(errno));
    unlink(tmp);
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

static int parse_export(int argc, char **argv, void *opts) {
  export_opts *o = opts;
  static const struct option longs[] = {{"format", required_argument, NULL, 'f'},
                                        {"output", required_argument, NULL, 'o'},
                                        {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    if (c == 'o') {
      o->output = strcmp(optarg, "-") == 0 ? NULL : optarg;
    } else if (c == 'f' && strcasecmp(optarg, "csv") == 0) {
      o->format = FORMAT_CSV;
    } else if (c == 'f' && strcasecmp(optarg, "json") == 0) {
      o->format = FORMAT_JSON;
    } else if (c == 'f') {
      return cli_usage_error("export_metrics", "unknown format '%s' (csv or json)", optarg);
    } else {
      return ops_bad_option("export_metrics", c, argv);
    }
  }
  if (optind < argc)
    return cli_usage_error("export_metrics", "unexpected argument '%s'", argv[optind]);
  return -1;
}

static int run_export(app *a, void *opts) {
  export_opts *o = opts;
  metric_rows r;
  int rc = collect(a, "export_metrics", &r);
  if (rc != CLI_EXIT_OK)
    return rc;
  if (o->output) {
    rc = export_to_file(o, &r);
  } else if (write_rows(stdout, o, &r) != 0 || fflush(stdout) != 0) {
    fprintf(stderr, "sendit export_metrics: cannot write the output\n");
    rc = CLI_EXIT_FAILURE;
  }
  free(r.items);
  return rc;
}

int cmd_export_metrics(int argc, char **argv) {
  static const ops_command c = {"export_metrics", OPS_DB_READ, parse_export, run_export};
  export_opts o = {FORMAT_CSV, NULL};
  return ops_run(&c, argc, argv, &o);
}

/* ---- summary_metrics ---- */

typedef struct summary {
  int64_t batches, by_status[OPS_STATUS_COUNT], with_errors;
  int64_t images, bytes;
  /* Over finished batches: */
  size_t finished;
  double mean, median, p95, max; /* seconds */
  int64_t finished_images;
  double finished_seconds;
} summary;

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Mean, median and nearest-rank 95th percentile of the elapsed times. */
static int timing(summary *s, const metric_rows *r) {
  double *secs = malloc((r->count ? r->count : 1) * sizeof *secs);
  if (!secs)
    return -1;
  for (size_t i = 0; i < r->count; i++) {
    const metric_row *m = &r->items[i];
    if (!is_finished(m))
      continue;
    secs[s->finished++] = (double)m->elapsed_ms / 1000.0;
    s->finished_seconds += (double)m->elapsed_ms / 1000.0;
    s->finished_images += m->images;
  }
  size_t n = s->finished;
  if (n > 0) {
    qsort(secs, n, sizeof *secs, compare_double);
    s->mean = s->finished_seconds / (double)n;
    s->median = n % 2 ? secs[n / 2] : (secs[n / 2 - 1] + secs[n / 2]) / 2.0;
    s->p95 = secs[(size_t)ceil(0.95 * (double)n) - 1];
    s->max = secs[n - 1];
  }
  free(secs);
  return 0;
}

static int summarize(app *a, summary *s) {
  metric_rows r;
  memset(s, 0, sizeof *s);
  int rc = collect(a, "summary_metrics", &r);
  if (rc != CLI_EXIT_OK)
    return rc;
  for (size_t i = 0; i < r.count; i++) {
    int k = ops_status_index(r.items[i].status);
    if (k >= 0)
      s->by_status[k]++;
    s->with_errors += r.items[i].has_error || k == ops_status_index(SI_BATCH_ERROR);
  }
  s->batches = (int64_t)r.count;
  si_error err;
  if (timing(s, &r) != 0) {
    fprintf(stderr, "sendit summary_metrics: out of memory\n");
    rc = CLI_EXIT_FAILURE;
  } else if (si_store_image_totals(a->db, &s->images, &s->bytes, &err) != SI_OK) {
    rc = ops_fail("summary_metrics", &err);
  }
  free(r.items);
  return rc;
}

static double files_per_second(const summary *s) {
  return s->finished_seconds > 0 ? (double)s->finished_images / s->finished_seconds : 0.0;
}

static void add_line(ops_table *t, const char *label, const char *fmt, ...) SI_PRINTF(3, 4);
static void add_line(ops_table *t, const char *label, const char *fmt, ...) {
  char value[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(value, sizeof value, fmt, ap);
  va_end(ap);
  ops_table_add(t, (const char *const[]){label, value});
}

static int print_summary_text(const summary *s) {
  ops_table t;
  char size[OPS_SIZE_MAX];
  ops_table_init(&t, "ll", NULL);
  add_line(&t, "batches", "%" PRId64, s->batches);
  for (int i = 0; i < OPS_STATUS_COUNT; i++) {
    char label[32];
    snprintf(label, sizeof label, "  %s", ops_status_name(i));
    add_line(&t, label, "%" PRId64, s->by_status[i]);
  }
  add_line(&t, "batches with errors", "%" PRId64, s->with_errors);
  add_line(&t, "images", "%" PRId64, s->images);
  add_line(&t, "bytes", "%" PRId64 " (%s)", s->bytes, ops_size(size, s->bytes));
  add_line(&t, "finished batches", "%zu", s->finished);
  if (s->finished > 0) {
    add_line(&t, "elapsed mean", "%.3f s", s->mean);
    add_line(&t, "elapsed median", "%.3f s", s->median);
    add_line(&t, "elapsed p95", "%.3f s", s->p95);
    add_line(&t, "elapsed max", "%.3f s", s->max);
  }
  if (s->finished_seconds > 0)
    add_line(&t, "throughput", "%.1f files/s", files_per_second(s));
  int rc = ops_table_print(&t, stdout, 0) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
  ops_table_free(&t);
  return rc;
}

/* A timing figure, or null when no batch has finished. */
static json_t *seconds_json(const summary *s, double v) {
  return s->finished > 0 ? json_real(v) : json_null();
}

static int print_summary_json(const summary *s) {
  json_t *by = json_object();
  for (int i = 0; i < OPS_STATUS_COUNT; i++)
    json_object_set_new(by, ops_status_name(i), json_integer(s->by_status[i]));
  return ops_print_json(json_pack(
      "{s:I, s:o, s:I, s:I, s:I, s:{s:I, s:o, s:o, s:o, s:o}, s:o}", "batches_total",
      (json_int_t)s->batches, "batches", by, "batches_with_errors", (json_int_t)s->with_errors,
      "images_total", (json_int_t)s->images, "bytes_total", (json_int_t)s->bytes, "elapsed_seconds",
      "count", (json_int_t)s->finished, "mean", seconds_json(s, s->mean), "median",
      seconds_json(s, s->median), "p95", seconds_json(s, s->p95), "max", seconds_json(s, s->max),
      "files_per_second", s->finished_seconds > 0 ? json_real(files_per_second(s)) : json_null()));
}

typedef struct summary_opts {
  int json;
} summary_opts;

static int parse_summary(int argc, char **argv, void *opts) {
  summary_opts *o = opts;
  static const struct option longs[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    if (c != 'j')
      return ops_bad_option("summary_metrics", c, argv);
    o->json = 1;
  }
  if (optind < argc)
    return cli_usage_error("summary_metrics", "unexpected argument '%s'", argv[optind]);
  return -1;
}

static int run_summary(app *a, void *opts) {
  summary_opts *o = opts;
  summary s;
  int rc = summarize(a, &s);
  if (rc != CLI_EXIT_OK)
    return rc;
  return o->json ? print_summary_json(&s) : print_summary_text(&s);
}

int cmd_summary_metrics(int argc, char **argv) {
  static const ops_command c = {"summary_metrics", OPS_DB_READ, parse_summary, run_summary};
  summary_opts o = {0};
  return ops_run(&c, argc, argv, &o);
}
