/* `sendit status` (is the watcher up, how deep is the queue, how do the
 * batches stand) and `sendit config` (the effective configuration). */
#include "ops.h"
#include "sendit/pipeline.h"
#include "sendit/store.h"
#include "sendit/store_ops.h"
#include "sendit/workers.h"
#include "worker.h"

const char cmd_status_usage[] =
    "Usage: sendit status [--json] [--config PATH]\n"
    "\n"
    "Shows whether the watcher is running, the queue (jobs queued and running),\n"
    "the number of batches in each status, the images stored, and the free space\n"
    "in storage. When the free space is below [storage] low_water_mb, it says that\n"
    "intake is paused and why. It lists the live workers (`sendit worker` processes\n"
    "whose heartbeat is within three lease periods) and the jobs each holds.\n"
    "\n"
    "  --json         print one JSON object instead of text\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "With no database yet (no SQLite file, or no sendit tables in PostgreSQL) it\n"
    "says so on stderr and shows the counts of an empty one; it creates nothing.\n"
    "\n"
    "Exit status: 0 ok, 1 the database could not be read, 2 usage.\n";

const char cmd_config_usage[] =
    "Usage: sendit config [--config PATH]\n"
    "\n"
    "Prints the effective configuration as INI: every key with its value and where\n"
    "the value came from (default, file or environment variable). Relative paths are\n"
    "shown resolved: a file's own values against the file's folder, defaults and\n"
    "environment values against the current folder (and the value as written).\n"
    "\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 2 usage or invalid configuration.\n";

typedef struct status_opts {
  int json;
} status_opts;

/* Counts by status: the six known ones in life order, then any other value
 * found in the database (which would be a bug worth seeing, not hiding). */
typedef struct status_counts {
  int64_t known[OPS_STATUS_COUNT];
  char other_name[8][16];
  int64_t other[8];
  int nother;
  int64_t total;
} status_counts;

static int count_row(void *user, const char *status, int64_t n) {
  status_counts *c = user;
  int i = ops_status_index(status);
  c->total += n;
  if (i >= 0) {
    c->known[i] += n;
  } else if (c->nother < 8) {
    snprintf(c->other_name[c->nother], sizeof c->other_name[0], "%s", status);
    c->other[c->nother++] = n;
  }
  return 0;
}

typedef struct status_facts {
  long pid;
  int64_t queued, running;
  status_counts counts;
  int64_t images, bytes;
  int64_t free_mb; /* -1 when storage cannot be looked at */
  int paused;
  char waiting[SI_PATH_MAX + 512]; /* why intake waits for room ("" when it does not) */
  json_t *workers;                 /* live workers, see below; owned */
} status_facts;

/* ---- live workers (src/cmd_worker.c registers them) ---- */

static int worker_json(void *user, const worker_entry *w) {
  json_t *jobs = json_array();
  for (int i = 0; i < w->njobs; i++)
    json_array_append_new(jobs, json_pack("{s:I, s:o}", "id", (json_int_t)w->job_ids[i], "folder",
                                          ops_json_text(w->job_folders[i])));
  json_array_append_new(user,
                        json_pack("{s:o, s:o, s:I, s:o, s:o, s:o}", "id", ops_json_text(w->id),
                                  "host", ops_json_text(w->host), "pid", (json_int_t)w->pid,
                                  "started_at", ops_json_time(w->started_at), "heartbeat_at",
                                  ops_json_time(w->heartbeat_at), "jobs", jobs));
  return 0;
}

/* Live: a heartbeat within three lease periods (a worker beats every few
 * seconds, at most a third of a lease apart). */
static si_status gather_workers(app *a, status_facts *f, si_error *err) {
  f->workers = json_array();
  if (!f->workers)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  int64_t since = si_now_ms() - (int64_t)a->cfg.lease_seconds * 3 * 1000;
  return worker_registry_list(a->db, since, worker_json, f->workers, err);
}

static void print_workers(const status_facts *f) {
  printf("workers: %zu live\n", json_array_size(f->workers));
  if (!json_array_size(f->workers))
    return;
  ops_table t;
  static const char *const header[] = {"WORKER", "STARTED", "HEARTBEAT", "JOBS"};
  ops_table_init(&t, "llll", header);
  size_t i;
  json_t *w;
  json_array_foreach(f->workers, i, w) {
    char jobs[512] = "-";
    size_t n = 0, j;
    json_t *job;
    json_array_foreach(json_object_get(w, "jobs"), j, job) {
      const char *folder = json_string_value(json_object_get(job, "folder"));
      if (n + 1 >= sizeof jobs)
        break;
      n += (size_t)snprintf(jobs + n, sizeof jobs - n, "%s%" JSON_INTEGER_FORMAT " (%s)",
                            n ? ", " : "", json_integer_value(json_object_get(job, "id")),
                            folder ? folder : "");
    }
    const char *cells[] = {json_string_value(json_object_get(w, "id")),
                           json_string_value(json_object_get(w, "started_at")),
                           json_string_value(json_object_get(w, "heartbeat_at")), jobs};
    ops_table_add(&t, cells);
  }
  ops_table_print(&t, stdout, 2);
  ops_table_free(&t);
}

/* ---- the rest of status ---- */

static si_status gather(app *a, status_facts *f, si_error *err) {
  memset(f, 0, sizeof *f);
  f->pid = app_running_pid(&a->cfg);
  si_status st = si_store_queue_depth(a->db, &f->queued, &f->running, err);
  if (st == SI_OK)
    st = si_store_batch_counts(a->db, count_row, &f->counts, err);
  if (st == SI_OK)
    st = si_store_image_totals(a->db, &f->images, &f->bytes, err);
  if (st == SI_OK)
    st = gather_workers(a, f, err);
  /* Same test as the workers (lib/queue/workers.c), so status agrees with
   * what they do; storage that does not exist yet pauses nothing. */
  f->free_mb = si_free_space_mb(a->cfg.storage_dir);
  f->paused = f->free_mb >= 0 && f->free_mb < a->cfg.low_water_mb;
  /* Above the mark intake still waits when the next folder does not fit. */
  int waiting = 0;
  if (st == SI_OK && !f->paused)
    st = si_intake_space_check(&a->cfg, a->db, &waiting, f->waiting, sizeof f->waiting, err);
  f->paused = f->paused || waiting;
  return st;
}

static void pause_reason(const si_config *cfg, const status_facts *f, char *buf, size_t size) {
  if (f->waiting[0]) {
    snprintf(buf, size, "%s", f->waiting);
    return;
  }
  snprintf(buf, size,
           "storage %s has %" PRId64 " MiB free, below the low-water mark of %" PRId64
           " MiB; intake resumes above %" PRId64 " MiB",
           cfg->storage_dir, f->free_mb, cfg->low_water_mb, cfg->high_water_mb);
}

static void print_counts(const status_counts *c) {
  ops_table t;
  static const char *const header[] = {"STATUS", "BATCHES"};
  ops_table_init(&t, "lr", header);
  char n[24];
  for (int i = 0; i < OPS_STATUS_COUNT; i++) {
    snprintf(n, sizeof n, "%" PRId64, c->known[i]);
    ops_table_add(&t, (const char *const[]){ops_status_name(i), n});
  }
  for (int i = 0; i < c->nother; i++) {
    snprintf(n, sizeof n, "%" PRId64, c->other[i]);
    ops_table_add(&t, (const char *const[]){c->other_name[i], n});
  }
  ops_table_print(&t, stdout, 2);
  ops_table_free(&t);
}

static int print_text(const si_config *cfg, const status_facts *f) {
  char size[OPS_SIZE_MAX];
  if (f->pid)
    printf("watcher: running (pid %ld)\n", f->pid);
  else
    printf("watcher: not running\n");
  printf("queue:   queued %" PRId64 ", running %" PRId64 "\n", f->queued, f->running);
  printf("batches: %" PRId64 "\n", f->counts.total);
  print_counts(&f->counts);
  printf("images:  %" PRId64 " (%s)\n", f->images, ops_size(size, f->bytes));
  if (f->free_mb >= 0)
    printf("storage: %s, %" PRId64 " MiB free (low-water mark %" PRId64 " MiB)\n",
           cli_text(cfg->storage_dir), f->free_mb, cfg->low_water_mb);
  else
    printf("storage: %s (not there yet)\n", cli_text(cfg->storage_dir));
  if (f->paused) {
    char why[SI_PATH_MAX + 600];
    pause_reason(cfg, f, why, sizeof why);
    printf("intake:  paused: %s\n", cli_text(why));
  }
  print_workers(f);
  return CLI_EXIT_OK;
}

static json_t *counts_json(const status_counts *c) {
  json_t *o = json_object();
  for (int i = 0; i < OPS_STATUS_COUNT; i++)
    json_object_set_new(o, ops_status_name(i), json_integer(c->known[i]));
  for (int i = 0; i < c->nother; i++)
    json_object_set_new(o, c->other_name[i], json_integer(c->other[i]));
  return o;
}

static int print_json(const si_config *cfg, const status_facts *f, int db_absent) {
  char why[SI_PATH_MAX + 600];
  pause_reason(cfg, f, why, sizeof why);
  json_t *o = json_pack(
      "{s:{s:b, s:o}, s:{s:I, s:I}, s:I, s:o, s:I, s:I, s:{s:s, s:o, s:I, s:I}, s:b, s:o}",
      "watcher", "running", f->pid != 0, "pid", f->pid ? json_integer(f->pid) : json_null(),
      "queue", "queued", (json_int_t)f->queued, "running", (json_int_t)f->running, "batches_total",
      (json_int_t)f->counts.total, "batches", counts_json(&f->counts), "images",
      (json_int_t)f->images, "bytes", (json_int_t)f->bytes, "storage", "path", cfg->storage_dir,
      "free_mb", f->free_mb >= 0 ? json_integer(f->free_mb) : json_null(), "low_water_mb",
      (json_int_t)cfg->low_water_mb, "high_water_mb", (json_int_t)cfg->high_water_mb,
      "intake_paused", f->paused, "pause_reason", f->paused ? json_string(why) : json_null());
  json_object_set(o, "workers", f->workers);
  /* false: no database yet (nothing imported); every count above is 0. */
  json_object_set_new(o, "database_exists", json_boolean(!db_absent));
  return ops_print_json(o);
}

static int parse_status(int argc, char **argv, void *opts) {
  status_opts *o = opts;
  static const struct option longs[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    if (c != 'j')
      return ops_bad_option("status", c, argv);
    o->json = 1;
  }
  if (optind < argc)
    return cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
  return -1;
}

static int run_status(app *a, void *opts) {
  status_opts *o = opts;
  status_facts f;
  si_error err;
  int rc = gather(a, &f, &err) != SI_OK ? ops_fail("status", &err)
           : o->json                    ? print_json(&a->cfg, &f, a->db_absent)
                                        : print_text(&a->cfg, &f);
  json_decref(f.workers);
  return rc;
}

int cmd_status(int argc, char **argv) {
  static const ops_command c = {"status", OPS_DB_READ, parse_status, run_status};
  status_opts o = {0};
  return ops_run(&c, argc, argv, &o);
}

static int parse_config(int argc, char **argv, void *opts) {
  (void)opts;
  if (argc > 1)
    return argv[1][0] == '-' ? cli_usage_error("config", "unknown option '%s'", argv[1])
                             : cli_usage_error("config", "unexpected argument '%s'", argv[1]);
  return -1;
}

static int run_config(app *a, void *opts) {
  (void)opts;
  si_config_print(&a->cfg, stdout);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "sendit config: cannot write the configuration\n");
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

int cmd_config(int argc, char **argv) {
  static const ops_command c = {"config", OPS_DB_NONE, parse_config, run_config};
  return ops_run(&c, argc, argv, NULL);
}
