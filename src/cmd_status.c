/* `sendit status` (is the watcher up, how deep is the queue, how do the
 * batches stand) and `sendit config` (the effective configuration). */
#include "ops.h"
#include "sendit/ops_summary.h"
#include "sendit/store.h"
#include "sendit/workers.h"
#include "worker.h"

const char cmd_status_usage[] =
    "Usage: sendit status [--json] [--config PATH]\n"
    "\n"
    "Shows whether the watcher is running, the queue (jobs queued and running, in\n"
    "all and per stage of [pipeline] stages),\n"
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

typedef struct status_facts {
  ops_summary sum; /* what the web shows too (lib/ops) */
  json_t *workers; /* live workers, see below; owned */
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
  si_status st = ops_summary_gather(&a->cfg, a->db, &f->sum, err);
  if (st == SI_OK)
    st = gather_workers(a, f, err);
  return st;
}

static void print_counts(const ops_summary *c) {
  ops_table t;
  static const char *const header[] = {"STATUS", "BATCHES"};
  ops_table_init(&t, "lr", header);
  char n[24];
  for (int i = 0; i < OPS_STATUS_COUNT; i++) {
    snprintf(n, sizeof n, "%" PRId64, c->by_status[i]);
    ops_table_add(&t, (const char *const[]){ops_status_name(i), n});
  }
  for (int i = 0; i < c->nother; i++) {
    snprintf(n, sizeof n, "%" PRId64, c->other[i].n);
    ops_table_add(&t, (const char *const[]){c->other[i].name, n});
  }
  ops_table_print(&t, stdout, 2);
  ops_table_free(&t);
}

/* Per stage, the configured chain's stages even when idle (lib/ops). */
static void print_stages(const ops_summary *s) {
  ops_table t;
  static const char *const header[] = {"STAGE", "QUEUED", "RUNNING"};
  ops_table_init(&t, "lrr", header);
  for (int i = 0; i < s->nstages; i++) {
    char q[24], r[24];
    snprintf(q, sizeof q, "%" PRId64, s->stages[i].queued);
    snprintf(r, sizeof r, "%" PRId64, s->stages[i].running);
    ops_table_add(&t, (const char *const[]){s->stages[i].stage, q, r});
  }
  ops_table_print(&t, stdout, 2);
  ops_table_free(&t);
}

static int print_text(const si_config *cfg, const status_facts *f) {
  const ops_summary *s = &f->sum;
  char size[OPS_SIZE_MAX];
  if (s->pid)
    printf("watcher: running (pid %ld)\n", s->pid);
  else
    printf("watcher: not running\n");
  printf("queue:   queued %" PRId64 ", running %" PRId64 "\n", s->queued, s->running);
  print_stages(s);
  printf("batches: %" PRId64 "\n", s->batches);
  print_counts(s);
  printf("images:  %" PRId64 " (%s)\n", s->images, ops_size(size, s->bytes));
  if (s->free_mb >= 0)
    printf("storage: %s, %" PRId64 " MiB free (low-water mark %" PRId64 " MiB)\n",
           cli_text(cfg->storage_dir), s->free_mb, cfg->low_water_mb);
  else
    printf("storage: %s (not there yet)\n", cli_text(cfg->storage_dir));
  if (s->paused)
    printf("intake:  paused: %s\n", cli_text(s->pause_reason));
  print_workers(f);
  return CLI_EXIT_OK;
}

static int print_json(const si_config *cfg, const status_facts *f, int db_absent) {
  json_t *o = ops_summary_json(cfg, &f->sum);
  if (o) {
    json_object_set(o, "workers", f->workers);
    /* false: no database yet (nothing imported); every count above is 0. */
    json_object_set_new(o, "database_exists", json_boolean(!db_absent));
  }
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
