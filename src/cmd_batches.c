/* `sendit batches`, `sendit batch show|retry` and `sendit batch_logs`: the
 * operator's view of batches, and the way back for one that failed. */
#include <sys/stat.h>

#include "ops.h"
#include "sendit/fs.h"
#include "sendit/ops_batch.h"
#include "sendit/store.h"
#include "sendit/batch_retry.h"
#include "sendit/cleanup.h"
#include "sendit/deid_release.h"
#include "sendit/ops_dest.h"
#include "sendit/store_ops.h"
#include "sendit/stages.h"

const char cmd_batches_usage[] =
    "Usage: sendit batches [--status S] [--limit N] [--offset N] [--json] [--config PATH]\n"
    "\n"
    "Lists batches, newest first: uid, status, images, size, whether errors were\n"
    "logged, start time and elapsed time.\n"
    "\n"
    "  --status S     only batches in status S (QUEUE, PROCESSING, DONEPROCESSING,\n"
    "                 DONE, EMPTY or ERROR; any case)\n"
    "  --limit N      at most N batches (default 100; 0 = all)\n"
    "  --offset N     skip the first N batches\n"
    "  --json         print a JSON array instead of a table\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 1 the database could not be read, 2 usage.\n";

const char cmd_batch_usage[] =
    "Usage: sendit batch show UID [--limit N] [--offset N] [--json] [--config PATH]\n"
    "       sendit batch retry UID [--config PATH]\n"
    "       sendit batch release UID [IMAGE_ID...] [--config PATH]\n"
    "       sendit batch resend UID [--to NAME] [--config PATH]\n"
    "\n"
    "show   prints one batch: its record, its metrics (counts and a StudyDate\n"
    "       histogram), the errors and warnings of its log with the files they are\n"
    "       about, and its images (uid, modality, patient id, size, storage path).\n"
    "         --limit N   images per page (default 50; 0 = all)\n"
    "         --offset N  skip the first N images\n"
    "         --json      print one JSON object instead of text\n"
    "\n"
    "retry  queues a failed batch (status ERROR, or errors logged; not one that\n"
    "       is QUEUE or PROCESSING) again. The newest failed job of the batch says\n"
    "       where its files were: the work folder when files are still left there,\n"
    "       else the original folder. The batch goes back to QUEUE; the watcher's\n"
    "       workers import it.\n"
    "\n"
    "release passes on images the deid stage held, after review (the copy and\n"
    "       its reason.txt are in quarantine/UID/deid/IMAGE_ID/): the given ones,\n"
    "       or every held image of the batch, and queues the batch's deid stage\n"
    "       again, which de-identifies them with the recipe's filters waived (the\n"
    "       leak scan still runs; BurnedInAnnotation YES still holds: fix the\n"
    "       stored original first).\n"
    "\n"
    "resend sends the batch again to every destination that takes its images\n"
    "       (or only to NAME): their ledger rows go back to pending and a send\n"
    "       job is queued for each; the batch is DONE again once all confirm.\n"
    "\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 1 no such batch, nothing to retry or a database failure,\n"
    "2 usage.\n";

const char cmd_batch_logs_usage[] =
    "Usage: sendit batch_logs UID [--json] [--config PATH]\n"
    "\n"
    "Prints the log of one batch, oldest first: time, level, file, message.\n"
    "\n"
    "  --json         print a JSON array instead of text\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 1 no such batch or a database failure, 2 usage.\n";

/* Options of every command in this file; each uses what it needs. */
typedef struct batch_opts {
  const char *cmd;
  const char *status; /* canonical spelling, or NULL */
  const char *uid;
  int64_t limit, offset;
  int json;
  int64_t *ids;   /* batch release IMAGE_ID... */
  const char *to; /* batch resend --to NAME */
  size_t nids;
} batch_opts;

enum { OPT_STATUS = 256, OPT_LIMIT, OPT_OFFSET, OPT_JSON, OPT_TO };

static const struct option batch_longs[] = {
    {"status", required_argument, NULL, OPT_STATUS}, {"limit", required_argument, NULL, OPT_LIMIT},
    {"offset", required_argument, NULL, OPT_OFFSET}, {"json", no_argument, NULL, OPT_JSON},
    {"to", required_argument, NULL, OPT_TO},         {NULL, 0, NULL, 0},
};

/* Which options each command accepts, as a set of OPT_* bits. */
#define ACCEPTS(opt) (1u << ((opt)-OPT_STATUS))

static int set_option(batch_opts *o, int c, const char *value) {
  int64_t *count = c == OPT_LIMIT ? &o->limit : &o->offset;
  switch (c) {
  case OPT_STATUS:
    o->status = ops_status_lookup(value);
    if (!o->status)
      return cli_usage_error(o->cmd,
                             "unknown status '%s' (QUEUE, PROCESSING, DONEPROCESSING, DONE, "
                             "EMPTY or ERROR)",
                             value);
    return -1;
  case OPT_LIMIT:
  case OPT_OFFSET:
    if (ops_parse_count(value, count) != 0)
      return cli_usage_error(o->cmd, "--%s needs a count (0 or more), not '%s'",
                             c == OPT_LIMIT ? "limit" : "offset", value);
    return -1;
  case OPT_TO:
    o->to = value;
    return -1;
  default:
    o->json = 1;
    return -1;
  }
}

static const char *option_name(int c) {
  for (const struct option *l = batch_longs; l->name; l++)
    if (l->val == c)
      return l->name;
  return "?";
}

/* Parses the options in `accepted` and `nargs` (0 or 1) positional UID. */
static int parse_batch_options(batch_opts *o, unsigned accepted, int nargs, int argc, char **argv) {
  int c;
  while ((c = getopt_long(argc, argv, ":", batch_longs, NULL)) != -1) {
    if (c < OPT_STATUS || c > OPT_TO)
      return ops_bad_option(o->cmd, c, argv);
    if (!(accepted & ACCEPTS(c)))
      return cli_usage_error(o->cmd, "option '--%s' does not apply here", option_name(c));
    int rc = set_option(o, c, optarg);
    if (rc >= 0)
      return rc;
  }
  if (argc - optind < nargs)
    return cli_usage_error(o->cmd, "which batch? Give its UID");
  if (argc - optind > nargs)
    return cli_usage_error(o->cmd, "unexpected argument '%s'", argv[optind + nargs]);
  if (nargs)
    o->uid = argv[optind];
  return -1;
}

/* Looks the batch up; prints "no batch 'X'" when it is not there. */
static int load_batch(app *a, const char *cmd, const char *uid, si_batch *b) {
  si_error err;
  int found = 0;
  if (si_store_batch_get(a->db, uid, b, &found, &err) != SI_OK)
    return ops_fail(cmd, &err);
  return found ? CLI_EXIT_OK : ops_not_found(cmd, "batch", uid);
}

static int is_finished(const si_batch *b) { return b->finished_at > 0; }

/* ---- batches ---- */

typedef struct batch_rows {
  ops_table table;
  json_t *array;
  si_db *db; /* borrowed: a qa too long for the record is read whole */
  int64_t seen, limit;
} batch_rows;

static void batch_table_row(ops_table *t, const si_batch *b) {
  char images[24], size[OPS_SIZE_MAX], started[OPS_TIME_MAX], elapsed[OPS_ELAPSED_MAX];
  snprintf(images, sizeof images, "%" PRId64, b->image_count);
  const char *row[] = {b->uid,
                       b->status,
                       images,
                       ops_size(size, b->size_bytes),
                       b->has_error ? "yes" : "",
                       ops_time(started, b->started_at, 0),
                       ops_elapsed(elapsed, b->elapsed_ms, is_finished(b))};
  ops_table_add(t, row);
}

static int batch_row(void *user, const si_batch *b) {
  batch_rows *r = user;
  /* One row more than asked for is fetched only to know there are more. */
  if (r->limit > 0 && ++r->seen > r->limit)
    return 1;
  if (r->array)
    json_array_append_new(r->array, ops_batch_json(r->db, b));
  else
    batch_table_row(&r->table, b);
  return 0;
}

static int parse_batches(int argc, char **argv, void *opts) {
  unsigned accepted =
      ACCEPTS(OPT_STATUS) | ACCEPTS(OPT_LIMIT) | ACCEPTS(OPT_OFFSET) | ACCEPTS(OPT_JSON);
  return parse_batch_options(opts, accepted, 0, argc, argv);
}

static int run_batches(app *a, void *opts) {
  batch_opts *o = opts;
  static const char *const header[] = {"UID",   "STATUS",  "IMAGES", "SIZE",
                                       "ERROR", "STARTED", "ELAPSED"};
  batch_rows r = {.limit = o->limit, .db = a->db};
  if (o->json)
    r.array = json_array();
  else
    ops_table_init(&r.table, "llrrlll", header);
  si_error err;
  si_status st = si_store_batch_list(a->db, o->status, o->limit ? o->limit + 1 : 0, o->offset,
                                     batch_row, &r, &err);
  if (st != SI_OK) {
    json_decref(r.array);
    ops_table_free(&r.table);
    return ops_fail("batches", &err);
  }
  if (o->json)
    return ops_print_json(r.array);
  int rc = CLI_EXIT_OK;
  if (r.table.rows > 1 && ops_table_print(&r.table, stdout, 0) != 0)
    rc = CLI_EXIT_FAILURE;
  if (r.table.rows == 1)
    printf("(no batches%s%s)\n", o->status ? " in status " : "", o->status ? o->status : "");
  else if (r.limit > 0 && r.seen > r.limit)
    printf("(first %" PRId64 " shown; more with --offset %" PRId64 ")\n", o->limit,
           o->offset + o->limit);
  ops_table_free(&r.table);
  return rc;
}

int cmd_batches(int argc, char **argv) {
  static const ops_command c = {"batches", OPS_DB_READ, parse_batches, run_batches};
  batch_opts o = {.cmd = "batches", .limit = 100};
  return ops_run(&c, argc, argv, &o);
}

/* ---- batch show ---- */

static void print_record(const si_batch *b) {
  char t[OPS_TIME_MAX], size[OPS_SIZE_MAX], el[OPS_ELAPSED_MAX];
  printf("batch        %s\n", cli_text(b->uid));
  printf("status       %s%s\n", cli_text(b->status), b->has_error ? " (errors logged)" : "");
  printf("reopened     %s\n", b->reopened ? "yes (more files arrived after it finished)" : "no");
  printf("created      %s\n", ops_time(t, b->created_at, 0));
  printf("started      %s\n", ops_time(t, b->started_at, 0));
  printf("finished     %s\n", ops_time(t, b->finished_at, 0));
  printf("elapsed      %s\n", ops_elapsed(el, b->elapsed_ms, is_finished(b)));
  printf("images       %" PRId64 " (%s, %" PRId64 " bytes)\n", b->image_count,
         ops_size(size, b->size_bytes), b->size_bytes);
  printf("skipped      %" PRId64 "\n", b->skipped_count);
  printf("quarantined  %" PRId64 "\n", b->quarantined_count);
}

/* The qa counters worth a line; the rest of qa repeats the record. */
static const struct {
  const char *key, *label;
} qa_counters[] = {
    {"files_seen", "files seen"},
    {"duplicates_ignored", "duplicates ignored"},
    {"quarantined", "quarantined (last run)"},
    {"skipped", "skipped (last run)"},
};

/* "20240131" reads better as "2024-01-31"; anything else is shown as is. */
static const char *study_date(char *buf, size_t size, const char *da) {
  if (strlen(da) == 8 && strspn(da, "0123456789") == 8)
    snprintf(buf, size, "%.4s-%.2s-%.2s", da, da + 4, da + 6);
  else
    snprintf(buf, size, "%s", da);
  return buf;
}

static void print_histogram(json_t *dates) {
  json_int_t max = 1;
  const char *key;
  json_t *v;
  json_object_foreach(dates, key, v) max =
      json_integer_value(v) > max ? json_integer_value(v) : max;
  printf("  StudyDate histogram:\n");
  json_object_foreach(dates, key, v) {
    char d[64];
    json_int_t n = json_integer_value(v);
    int bar = (int)((n * 40 + max - 1) / max);
    printf("    %-12s %8" JSON_INTEGER_FORMAT "  %.*s\n", cli_text(study_date(d, sizeof d, key)), n,
           bar, "########################################");
  }
}

static void print_metrics(app *a, const si_batch *b) {
  printf("\nmetrics\n");
  json_t *qa = ops_batch_qa(a->db, b);
  if (!json_is_object(qa)) {
    printf("  %s\n", b->qa[0] ? cli_text(b->qa) : "none yet (the batch has not finished)");
    json_decref(qa);
    return;
  }
  for (size_t i = 0; i < sizeof qa_counters / sizeof qa_counters[0]; i++) {
    json_t *v = json_object_get(qa, qa_counters[i].key);
    if (json_is_integer(v))
      printf("  %-24s %" JSON_INTEGER_FORMAT "\n", qa_counters[i].label, json_integer_value(v));
  }
  json_t *dates = json_object_get(qa, "study_dates");
  if (json_is_object(dates) && json_object_size(dates) > 0)
    print_histogram(dates);
  json_decref(qa);
}

typedef struct log_rows {
  ops_table table;
  json_t *array;
  int notable_only;
  int64_t skipped;
} log_rows;

static int log_row(void *user, int64_t at, const char *level, const char *file,
                   const char *message) {
  log_rows *r = user;
  if (r->notable_only && !ops_log_is_notable(level)) {
    r->skipped++;
    return 0;
  }
  char t[OPS_TIME_MAX];
  if (r->array) {
    json_array_append_new(r->array, json_pack("{s:o, s:s, s:o, s:o}", "time", ops_json_time(at),
                                              "level", level, "file", ops_json_text(file),
                                              "message", ops_json_text(message)));
    return 0;
  }
  const char *row[] = {ops_time(t, at, 0), level, file && file[0] ? file : "-", message};
  ops_table_add(&r->table, row);
  return 0;
}

static si_status collect_log(app *a, const si_batch *b, log_rows *r, si_error *err) {
  static const char *const header[] = {"TIME", "LEVEL", "FILE", "MESSAGE"};
  if (!r->array)
    ops_table_init(&r->table, "llll", header);
  return si_store_batch_logs(a->db, b->id, log_row, r, err);
}

typedef struct image_rows {
  ops_table table;
  json_t *array;
} image_rows;

static int image_row(void *user, const si_image *img) {
  image_rows *r = user;
  if (r->array) {
    json_array_append_new(
        r->array,
        json_pack("{s:s, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:s}", "uid", img->uid, "modality",
                  ops_json_text(img->modality), "patient_id", ops_json_text(img->patient_id),
                  "size_bytes", (json_int_t)img->size_bytes, "storage_path",
                  ops_json_text(img->storage_path), "original_name",
                  ops_json_text(img->original_name), "study_date", ops_json_text(img->study_date),
                  "study_uid", ops_json_text(img->study_uid), "status", img->status));
    return 0;
  }
  char size[OPS_SIZE_MAX];
  const char *row[] = {img->uid, img->modality, img->patient_id, ops_size(size, img->size_bytes),
                       img->storage_path};
  ops_table_add(&r->table, row);
  return 0;
}

/* The stage timeline (ops_batch_stages_json, what the web shows too). */
static int print_stages(app *a, const si_batch *b, si_error *err) {
  json_t *stages = ops_batch_stages_json(a->db, b->uid, err);
  if (!stages)
    return -1;
  printf("\nstages\n");
  static const char *const header[] = {"STAGE",   "STATE",    "ATTEMPTS",
                                       "STARTED", "FINISHED", "LAST ERROR"};
  ops_table t;
  ops_table_init(&t, "llrlll", header);
  size_t i;
  json_t *s;
  json_array_foreach(stages, i, s) {
    char attempts[24];
    snprintf(attempts, sizeof attempts, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(s, "attempts")));
    const char *started = json_string_value(json_object_get(s, "started"));
    const char *finished = json_string_value(json_object_get(s, "finished"));
    const char *error = json_string_value(json_object_get(s, "last_error"));
    const char *row[] = {json_string_value(json_object_get(s, "stage")),
                         json_string_value(json_object_get(s, "state")),
                         attempts,
                         started ? started : "-",
                         finished ? finished : "-",
                         error ? error : "-"};
    ops_table_add(&t, row);
  }
  if (t.rows > 1)
    ops_table_print(&t, stdout, 2);
  else
    printf("  none yet (the import has not ended)\n");
  ops_table_free(&t);
  json_decref(stages);
  return 0;
}

/* Per destination: the ledger's counts (ops_batch_destinations_json, as
 * the web shows them); nothing when the batch went nowhere. */
static int print_destinations(app *a, const si_batch *b, si_error *err) {
  json_t *list = ops_batch_destinations_json(a->db, b->id, err);
  if (!list)
    return -1;
  if (json_array_size(list)) {
    printf("\ndestinations\n");
    static const char *const header[] = {"DESTINATION", "SENT", "FAILED", "PENDING"};
    ops_table t;
    ops_table_init(&t, "lrrr", header);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
      char n[3][24];
      static const char *const keys[] = {"sent", "failed", "pending"};
      for (int k = 0; k < 3; k++)
        snprintf(n[k], sizeof n[k], "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(d, keys[k])));
      const char *row[] = {json_string_value(json_object_get(d, "name")), n[0], n[1], n[2]};
      ops_table_add(&t, row);
    }
    ops_table_print(&t, stdout, 2);
    ops_table_free(&t);
  }
  json_decref(list);
  return 0;
}

/* The de-identification state (ops_batch_deid_json, what the web shows
 * too); nothing when the stage is off and decided nothing. */
static int print_deid(app *a, const si_batch *b, si_error *err) {
  json_t *deid =
      ops_batch_deid_json(a->db, b, a->cfg.deid_dir, si_stage_enabled(&a->cfg, "deid"), err);
  if (!deid)
    return -1;
  if (json_is_object(deid)) {
    printf("\nde-identification: %" JSON_INTEGER_FORMAT " done, %" JSON_INTEGER_FORMAT
           " held, %" JSON_INTEGER_FORMAT " failed, %" JSON_INTEGER_FORMAT " pending; outputs in "
           "%s/<study code>/\n",
           json_integer_value(json_object_get(deid, "done")),
           json_integer_value(json_object_get(deid, "held")),
           json_integer_value(json_object_get(deid, "failed")),
           json_integer_value(json_object_get(deid, "pending")),
           cli_text(json_string_value(json_object_get(deid, "folder"))));
    json_t *problems = json_object_get(deid, "problems");
    if (json_array_size(problems)) {
      static const char *const header[] = {"IMAGE", "STATE", "FILE", "REASON", "QUARANTINED AS"};
      ops_table t;
      ops_table_init(&t, "rllll", header);
      size_t i;
      json_t *p;
      json_array_foreach(problems, i, p) {
        char id[24];
        snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(p, "image_id")));
        const char *q = json_string_value(json_object_get(p, "quarantine_path"));
        const char *reason = json_string_value(json_object_get(p, "reason"));
        const char *row[] = {id, json_string_value(json_object_get(p, "state")),
                             json_string_value(json_object_get(p, "file")), reason ? reason : "-",
                             q ? q : "-"};
        ops_table_add(&t, row);
      }
      ops_table_print(&t, stdout, 2);
      ops_table_free(&t);
    }
  }
  json_decref(deid);
  return 0;
}

/* The cleanup record (ops_batch_cleanup_json); nothing when none. */
static int print_cleanup(app *a, const si_batch *b, si_error *err) {
  json_t *rows = ops_batch_cleanup_json(a->db, b->id, err);
  if (!rows)
    return -1;
  if (json_array_size(rows)) {
    printf("\ncleanup\n");
    static const char *const header[] = {"WHAT", "FILES", "SIZE", "WHY", "REMOVED", "FROM"};
    ops_table t;
    ops_table_init(&t, "lrrlll", header);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
      char files[24], size[OPS_SIZE_MAX];
      snprintf(files, sizeof files, "%" JSON_INTEGER_FORMAT,
               json_integer_value(json_object_get(r, "files")));
      const char *removed = json_string_value(json_object_get(r, "removed"));
      const char *row[] = {json_string_value(json_object_get(r, "what")),
                           files,
                           ops_size(size, json_integer_value(json_object_get(r, "bytes"))),
                           json_string_value(json_object_get(r, "reason")),
                           removed ? removed : "(interrupted: the next pass finishes it)",
                           json_string_value(json_object_get(r, "path"))};
      ops_table_add(&t, row);
    }
    ops_table_print(&t, stdout, 2);
    ops_table_free(&t);
  }
  json_decref(rows);
  return 0;
}

static int show_text(app *a, const batch_opts *o, const si_batch *b, int64_t total) {
  si_error err;
  print_record(b);
  if (print_stages(a, b, &err) != 0 || print_deid(a, b, &err) != 0 ||
      print_cleanup(a, b, &err) != 0 || print_destinations(a, b, &err) != 0)
    return ops_fail("batch show", &err);
  print_metrics(a, b);
  log_rows logs = {.notable_only = 1};
  if (collect_log(a, b, &logs, &err) != SI_OK) {
    ops_table_free(&logs.table);
    return ops_fail("batch show", &err);
  }
  printf("\nlog: errors and warnings");
  if (logs.skipped)
    printf(" (and %" PRId64 " info line%s: sendit batch_logs %s)", logs.skipped,
           logs.skipped == 1 ? "" : "s", cli_text(b->uid));
  putchar('\n');
  if (logs.table.rows > 1)
    ops_table_print(&logs.table, stdout, 2);
  else
    printf("  none\n");
  ops_table_free(&logs.table);
  static const char *const header[] = {"UID", "MODALITY", "PATIENT ID", "SIZE", "STORAGE PATH"};
  image_rows imgs = {{0}, NULL};
  ops_table_init(&imgs.table, "lllrl", header);
  if (si_store_image_list(a->db, b->id, o->limit, o->offset, image_row, &imgs, &err) != SI_OK) {
    ops_table_free(&imgs.table);
    return ops_fail("batch show", &err);
  }
  int64_t shown = (int64_t)imgs.table.rows - 1;
  if (shown > 0) {
    printf("\nimages %" PRId64 "-%" PRId64 " of %" PRId64 "\n", o->offset + 1, o->offset + shown,
           total);
    ops_table_print(&imgs.table, stdout, 2);
  } else {
    printf("\nimages: none%s (%" PRId64 " in all)\n", o->offset ? " at this offset" : "", total);
  }
  if (o->offset + shown < total && shown > 0)
    printf("  (more with --offset %" PRId64 ")\n", o->offset + shown);
  int rc = imgs.table.oom ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
  ops_table_free(&imgs.table);
  return rc;
}

static int show_json(app *a, const batch_opts *o, const si_batch *b, int64_t total) {
  si_error err;
  log_rows logs = {.array = json_array(), .notable_only = 1};
  image_rows imgs = {{0}, json_array()};
  json_t *batch = ops_batch_json(a->db, b), *stages = NULL, *deid = NULL, *cleanup = NULL,
         *dests = NULL;
  si_status st = collect_log(a, b, &logs, &err);
  if (st == SI_OK)
    st = si_store_image_list(a->db, b->id, o->limit, o->offset, image_row, &imgs, &err);
  if (st == SI_OK && !(stages = ops_batch_stages_json(a->db, b->uid, &err)))
    st = err.code;
  if (st == SI_OK && !(deid = ops_batch_deid_json(a->db, b, a->cfg.deid_dir,
                                                  si_stage_enabled(&a->cfg, "deid"), &err)))
    st = err.code;
  if (st == SI_OK && !(cleanup = ops_batch_cleanup_json(a->db, b->id, &err)))
    st = err.code;
  if (st == SI_OK && !(dests = ops_batch_destinations_json(a->db, b->id, &err)))
    st = err.code;
  if (st != SI_OK) {
    json_decref(deid);
    json_decref(cleanup);
    json_decref(stages);
    json_decref(logs.array);
    json_decref(imgs.array);
    json_decref(batch);
    return ops_fail("batch show", &err);
  }
  json_object_set_new(batch, "stages", stages); /* as GET /api/batches/{uid} */
  json_object_set_new(batch, "deid", deid);
  json_object_set_new(batch, "cleanup", cleanup);
  json_object_set_new(batch, "destinations", dests); /* as GET /api/batches/{uid} */
  return ops_print_json(json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:o}}", "batch", batch, "log",
                                  logs.array, "images", "total", (json_int_t)total, "offset",
                                  (json_int_t)o->offset, "limit", (json_int_t)o->limit, "items",
                                  imgs.array));
}

static int parse_show(int argc, char **argv, void *opts) {
  unsigned accepted = ACCEPTS(OPT_LIMIT) | ACCEPTS(OPT_OFFSET) | ACCEPTS(OPT_JSON);
  return parse_batch_options(opts, accepted, 1, argc, argv);
}

static int run_show(app *a, void *opts) {
  batch_opts *o = opts;
  si_batch *b = malloc(sizeof *b); /* 4 KiB of qa: not for the stack */
  if (!b)
    return CLI_EXIT_FAILURE;
  int rc = load_batch(a, "batch show", o->uid, b);
  int64_t total = 0;
  si_error err;
  if (rc == CLI_EXIT_OK && si_store_image_count(a->db, b->id, &total, &err) != SI_OK)
    rc = ops_fail("batch show", &err);
  if (rc == CLI_EXIT_OK)
    rc = o->json ? show_json(a, o, b, total) : show_text(a, o, b, total);
  free(b);
  return rc;
}

/* ---- batch retry ---- */

static int parse_retry(int argc, char **argv, void *opts) {
  return parse_batch_options(opts, 0, 1, argc, argv);
}

/* The rule is the library's (sendit/batch_retry.h), shared with the web. */
static int run_retry(app *a, void *opts) {
  batch_opts *o = opts;
  si_batch *b = malloc(sizeof *b);
  si_batch_retry_result *r = malloc(sizeof *r);
  int rc = b && r ? load_batch(a, "batch retry", o->uid, b) : CLI_EXIT_FAILURE;
  si_error err;
  if (rc == CLI_EXIT_OK && si_batch_retry(a->db, o->uid, r, &err) != SI_OK)
    rc = ops_fail("batch retry", &err);
  if (rc == CLI_EXIT_OK && r->outcome != SI_RETRY_QUEUED) {
    fprintf(stderr, "sendit batch retry: %s\n", cli_text(r->message));
    rc = CLI_EXIT_FAILURE;
  }
  if (rc == CLI_EXIT_OK) {
    printf("%s\n", cli_text(r->message));
    if (!app_running_pid(&a->cfg))
      printf("the watcher is not running: 'sendit start_watcher' %s it\n",
             strcmp(r->stage, "import") == 0 ? "imports" : "runs");
  }
  free(r);
  free(b);
  return rc;
}

/* ---- batch release ---- */

static int parse_release(int argc, char **argv, void *opts) {
  batch_opts *o = opts;
  int c;
  if ((c = getopt_long(argc, argv, ":", batch_longs, NULL)) != -1)
    return c >= OPT_STATUS && c <= OPT_JSON
               ? cli_usage_error(o->cmd, "option '--%s' does not apply here", option_name(c))
               : ops_bad_option(o->cmd, c, argv);
  if (optind >= argc)
    return cli_usage_error(o->cmd, "which batch? Give its UID");
  o->uid = argv[optind++];
  o->nids = (size_t)(argc - optind);
  o->ids = o->nids ? calloc(o->nids, sizeof *o->ids) : NULL;
  if (o->nids && !o->ids)
    return CLI_EXIT_FAILURE;
  for (size_t i = 0; i < o->nids; i++)
    if (ops_parse_count(argv[optind + (int)i], &o->ids[i]) != 0)
      return cli_usage_error(o->cmd, "an image id is a whole number, not '%s'",
                             argv[optind + (int)i]);
  return -1;
}

static int run_release(app *a, void *opts) {
  batch_opts *o = opts;
  si_deid_release_result r;
  si_error err;
  int rc = CLI_EXIT_OK;
  if (si_deid_release(a->db, o->uid, o->ids, o->nids, &r, &err) != SI_OK)
    rc = ops_fail("batch release", &err);
  else if (!r.found)
    rc = (fprintf(stderr, "sendit batch release: no batch '%s'\n", cli_text(o->uid)),
          CLI_EXIT_FAILURE);
  else if (r.not_held)
    rc = (fprintf(stderr,
                  "sendit batch release: image %" PRId64 " is not a held image of batch '%s'%s\n",
                  r.first_not_held, cli_text(o->uid),
                  r.not_held > 1 ? " (nor are others given); nothing released"
                                 : "; nothing released"),
          CLI_EXIT_FAILURE);
  else if (!r.released)
    rc = (fprintf(stderr, "sendit batch release: batch '%s' has no held image\n", cli_text(o->uid)),
          CLI_EXIT_FAILURE);
  if (rc == CLI_EXIT_OK) {
    printf("released %zu image%s of batch %s; its deid stage is %s\n", r.released,
           r.released == 1 ? "" : "s", cli_text(o->uid),
           r.queued ? "queued again" : "queued already");
    if (!app_running_pid(&a->cfg))
      printf("the watcher is not running: 'sendit start_watcher' runs it\n");
  }
  free(o->ids);
  return rc;
}

/* ---- batch resend ---- */

static int parse_resend(int argc, char **argv, void *opts) {
  return parse_batch_options(opts, ACCEPTS(OPT_TO), 1, argc, argv);
}

/* The rule is the library's (sendit/ops_dest.h). */
static int run_resend(app *a, void *opts) {
  batch_opts *o = opts;
  si_resend_result r;
  si_error err;
  if (ops_batch_resend(a->db, &a->cfg, o->uid, o->to, &r, &err) != SI_OK)
    return ops_fail("batch resend", &err);
  if (r.unknown || !r.found || !r.queued) {
    fprintf(stderr, "sendit batch resend: %s\n", cli_text(r.message));
    return CLI_EXIT_FAILURE;
  }
  printf("%s\n", cli_text(r.message));
  if (!app_running_pid(&a->cfg))
    printf("the watcher is not running: 'sendit start_watcher' sends it\n");
  return CLI_EXIT_OK;
}

/* ---- batch (dispatch) ---- */

static const struct {
  const char *name;
  ops_command command;
} batch_subcommands[] = {
    {"show", {"batch show", OPS_DB_READ, parse_show, run_show}},
    {"retry", {"batch retry", OPS_DB_WRITE, parse_retry, run_retry}},
    {"release", {"batch release", OPS_DB_WRITE, parse_release, run_release}},
    {"resend", {"batch resend", OPS_DB_WRITE, parse_resend, run_resend}},
};

int cmd_batch(int argc, char **argv) {
  if (argc < 2)
    return cli_usage_error("batch", "show, retry, release or resend?");
  for (size_t i = 0; i < sizeof batch_subcommands / sizeof batch_subcommands[0]; i++) {
    if (strcmp(argv[1], batch_subcommands[i].name) == 0) {
      batch_opts o = {.cmd = batch_subcommands[i].command.name, .limit = 50};
      return ops_run(&batch_subcommands[i].command, argc - 1, argv + 1, &o);
    }
  }
  return cli_usage_error("batch", "unknown subcommand '%s' (show, retry, release or resend)",
                         argv[1]);
}

/* ---- batch_logs ---- */

static int parse_logs(int argc, char **argv, void *opts) {
  return parse_batch_options(opts, ACCEPTS(OPT_JSON), 1, argc, argv);
}

static int run_logs(app *a, void *opts) {
  batch_opts *o = opts;
  si_batch *b = malloc(sizeof *b);
  int rc = b ? load_batch(a, "batch_logs", o->uid, b) : CLI_EXIT_FAILURE;
  log_rows logs = {.array = o->json ? json_array() : NULL};
  si_error err;
  if (rc == CLI_EXIT_OK && collect_log(a, b, &logs, &err) != SI_OK)
    rc = ops_fail("batch_logs", &err);
  if (rc == CLI_EXIT_OK && o->json) {
    rc = ops_print_json(logs.array);
    logs.array = NULL;
  } else if (rc == CLI_EXIT_OK && logs.table.rows <= 1) {
    printf("(batch %s has no log lines)\n", cli_text(b->uid));
  } else if (rc == CLI_EXIT_OK) {
    rc = ops_table_print(&logs.table, stdout, 0) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
  }
  json_decref(logs.array);
  ops_table_free(&logs.table);
  free(b);
  return rc;
}

int cmd_batch_logs(int argc, char **argv) {
  static const ops_command c = {"batch_logs", OPS_DB_READ, parse_logs, run_logs};
  batch_opts o = {.cmd = "batch_logs"};
  return ops_run(&c, argc, argv, &o);
}
