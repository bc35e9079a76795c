/* `sendit quarantine list|requeue`: files the import set aside, and the way
 * to put them back through the pipeline once the cause is fixed (a filter
 * changed, a sender resent a good copy, a bug got fixed). */
#include <errno.h>
#include <sys/stat.h>

#include "ops.h"
#include "sendit/fs.h"
#include "sendit/store.h"

const char cmd_quarantine_usage[] =
    "Usage: sendit quarantine list [--all] [--batch UID] [--json] [--config PATH]\n"
    "       sendit quarantine requeue (ID... | --batch UID | --all) [--config PATH]\n"
    "\n"
    "list     prints the quarantined files waiting for a decision: id, batch, time,\n"
    "         original name, where the file is now, and why it was set aside.\n"
    "           --all        also the entries already requeued (with when)\n"
    "           --batch UID  only the files of batch UID\n"
    "           --json       print a JSON array instead of a table\n"
    "\n"
    "requeue  moves the chosen files (by id, every file of one batch, or all) into\n"
    "         a fresh folder <work>/requeue-<batch>-<time>/ under their original\n"
    "         names, marks the entries requeued, and queues one job per batch, so\n"
    "         the watcher's workers import them into the same batch again. An\n"
    "         entry whose file is no longer there is reported and skipped.\n"
    "\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 1 some entry unknown, already requeued, gone or not\n"
    "moved (the others are still requeued), or a database failure, 2 usage.\n";

typedef struct quarantine_opts {
  const char *cmd;
  int all, json;
  const char *batch;
  int64_t *ids; /* requeue ID... */
  size_t nids;
} quarantine_opts;

/* ---- entries ---- */

typedef struct entries {
  si_quarantined *items;
  size_t count, cap;
  int oom;
} entries;

static int entries_push(entries *e, const si_quarantined *q) {
  if (e->count == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 16;
    si_quarantined *items = realloc(e->items, cap * sizeof *items);
    if (!items) {
      e->oom = 1;
      return -1;
    }
    e->items = items;
    e->cap = cap;
  }
  e->items[e->count++] = *q;
  return 0;
}

typedef struct list_filter {
  entries *out;
  const char *batch; /* NULL: every batch */
} list_filter;

static int keep_entry(void *user, const si_quarantined *q) {
  list_filter *f = user;
  if (f->batch && strcmp(q->batch_uid, f->batch) != 0)
    return 0;
  return entries_push(f->out, q) != 0;
}

static int load_entries(app *a, const char *cmd, int include_requeued, const char *batch,
                        entries *out) {
  memset(out, 0, sizeof *out);
  list_filter f = {out, batch};
  si_error err;
  if (si_store_quarantine_list(a->db, include_requeued, keep_entry, &f, &err) != SI_OK) {
    free(out->items);
    return ops_fail(cmd, &err);
  }
  if (out->oom) {
    free(out->items);
    fprintf(stderr, "sendit %s: out of memory\n", cmd);
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

/* ---- list ---- */

static json_t *entry_json(const si_quarantined *q) {
  return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)q->id, "batch",
                   ops_json_text(q->batch_uid), "original_name", ops_json_text(q->original_name),
                   "reason", ops_json_text(q->reason), "path", ops_json_text(q->path), "time",
                   ops_json_time(q->created_at), "requeued", ops_json_time(q->requeued_at));
}

static int print_list_text(const quarantine_opts *o, const entries *e) {
  static const char *const header[] = {"ID", "BATCH", "TIME", "REQUEUED", "NAME", "PATH", "REASON"};
  static const char *const header_waiting[] = {"ID", "BATCH", "TIME", "NAME", "PATH", "REASON"};
  ops_table t;
  ops_table_init(&t, o->all ? "rllllll" : "rlllll", o->all ? header : header_waiting);
  for (size_t i = 0; i < e->count; i++) {
    const si_quarantined *q = &e->items[i];
    char id[24], at[OPS_TIME_MAX], requeued[OPS_TIME_MAX];
    snprintf(id, sizeof id, "%" PRId64, q->id);
    ops_time(at, q->created_at, 0);
    ops_time(requeued, q->requeued_at, 0);
    const char *all[] = {id, q->batch_uid, at, requeued, q->original_name, q->path, q->reason};
    const char *waiting[] = {id, q->batch_uid, at, q->original_name, q->path, q->reason};
    ops_table_add(&t, o->all ? all : waiting);
  }
  int rc = CLI_EXIT_OK;
  if (e->count == 0)
    printf("(no quarantined files%s%s%s)\n", o->all ? "" : " waiting", o->batch ? " of batch " : "",
           o->batch ? cli_text(o->batch) : "");
  else if (ops_table_print(&t, stdout, 0) != 0)
    rc = CLI_EXIT_FAILURE;
  ops_table_free(&t);
  return rc;
}

static int run_list(app *a, void *opts) {
  quarantine_opts *o = opts;
  entries e;
  int rc = load_entries(a, o->cmd, o->all, o->batch, &e);
  if (rc != CLI_EXIT_OK)
    return rc;
  if (o->json) {
    json_t *array = json_array();
    for (size_t i = 0; i < e.count; i++)
      json_array_append_new(array, entry_json(&e.items[i]));
    rc = ops_print_json(array);
  } else {
    rc = print_list_text(o, &e);
  }
  free(e.items);
  return rc;
}

/* ---- requeue ---- */

typedef struct tally {
  size_t requeued, batches, skipped, failed;
} tally;

/* The name to give the file back: its original path inside the input
 * folder, unless that could climb out of the requeue folder. */
static const char *safe_name(const si_quarantined *q) {
  const char *n = q->original_name;
  while (n[0] == '.' && n[1] == '/')
    n += 2;
  int bad = !n[0] || n[0] == '/' || strcmp(n, "..") == 0 || strncmp(n, "../", 3) == 0 ||
            strstr(n, "/../") || (strlen(n) >= 3 && strcmp(n + strlen(n) - 3, "/..") == 0);
  if (!bad)
    return n;
  const char *base = strrchr(q->path, '/');
  return base ? base + 1 : q->path;
}

/* A new folder of our own, named so operators can tell what it is; mkdir
 * (not mkdir -p) on the last step so two requeues never share one. */
static si_status make_folder(const si_config *cfg, const char *batch, char *out, size_t size,
                             si_error *err) {
  si_status st = si_mkdir_p(cfg->work_dir, err);
  long now = (long)time(NULL);
  for (int n = 0; st == SI_OK; n++) {
    int len = n == 0 ? snprintf(out, size, "%s/requeue-%s-%ld", cfg->work_dir, batch, now)
                     : snprintf(out, size, "%s/requeue-%s-%ld-%d", cfg->work_dir, batch, now, n);
    if (len < 0 || (size_t)len >= size)
      return si_error_set(err, SI_ERR_ARG, cfg->work_dir, SI_NO_OFFSET, SI_NO_TAG,
                          "requeue folder name too long");
    if (mkdir(out, 0755) == 0)
      return SI_OK;
    if (errno != EEXIST || n > 1000)
      return si_error_set(err, SI_ERR_IO, out, SI_NO_OFFSET, SI_NO_TAG, "cannot create: %s",
                          strerror(errno));
  }
  return st;
}

/* Where the file goes: folder/name, with ".N" added should two entries
 * share a name (the same file quarantined twice). */
static si_status destination(const char *folder, const char *name, char *out, size_t size,
                             si_error *err) {
  int len = snprintf(out, size, "%s/%s", folder, name);
  struct stat sb;
  for (int n = 1; len >= 0 && (size_t)len < size && lstat(out, &sb) == 0; n++)
    len = snprintf(out, size, "%s/%s.%d", folder, name, n);
  if (len < 0 || (size_t)len >= size)
    return si_error_set(err, SI_ERR_ARG, name, SI_NO_OFFSET, SI_NO_TAG,
                        "the path in %s would be too long", folder);
  char *slash = strrchr(out, '/');
  *slash = 0;
  si_status st = si_mkdir_p(out, err);
  *slash = '/';
  return st;
}

/* Moves one entry's file; 1 when moved. */
static int move_back(const char *folder, const si_quarantined *q, tally *t) {
  struct stat sb;
  if (lstat(q->path, &sb) != 0) {
    printf("entry %" PRId64 ": %s is gone; skipped\n", q->id, cli_text(q->path));
    t->skipped++;
    return 0;
  }
  if (!S_ISREG(sb.st_mode)) {
    /* A symlink, FIFO, ... set aside by the import: it would only be set
     * aside again, so it stays where it is. */
    printf("entry %" PRId64 ": %s is not a regular file; left in quarantine\n", q->id,
           cli_text(q->path));
    t->skipped++;
    return 0;
  }
  char dst[SI_PATH_MAX];
  si_error err;
  if (destination(folder, safe_name(q), dst, sizeof dst, &err) != SI_OK ||
      si_move_file(q->path, dst, &err) != SI_OK) {
    cli_print_error("quarantine requeue", &err);
    t->failed++;
    return 0;
  }
  return 1;
}

/* Records the move and queues the folder in one transaction, so the
 * entries say "requeued" exactly when a job exists for their files. The
 * job is queued only after every file is in place: a worker could
 * otherwise claim a half-filled folder. */
static si_status record(app *a, const char *batch, const char *folder, const int64_t *ids, size_t n,
                        si_error *err) {
  char *abs = realpath(folder, NULL);
  si_status st = si_db_begin(a->db, err);
  for (size_t i = 0; st == SI_OK && i < n; i++)
    st = si_store_quarantine_mark_requeued(a->db, ids[i], err);
  if (st == SI_OK)
    st = si_store_enqueue(a->db, batch, abs ? abs : folder, NULL, err);
  if (st == SI_OK)
    st = si_db_commit(a->db, err);
  else
    si_db_rollback(a->db);
  free(abs);
  return st;
}

/* Requeues entries [0, n) of one batch. */
static void requeue_batch(app *a, const si_quarantined *group, size_t n, tally *t) {
  const char *batch = group[0].batch_uid;
  char folder[SI_PATH_MAX];
  si_error err;
  int64_t *moved = malloc(n * sizeof *moved);
  if (!moved || make_folder(&a->cfg, batch, folder, sizeof folder, &err) != SI_OK) {
    if (moved)
      cli_print_error("quarantine requeue", &err);
    else
      fprintf(stderr, "sendit quarantine requeue: out of memory\n");
    t->failed += n;
    free(moved);
    return;
  }
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    if (move_back(folder, &group[i], t))
      moved[count++] = group[i].id;
  if (count == 0) {
    si_remove_empty_dirs(folder);
  } else if (record(a, batch, folder, moved, count, &err) != SI_OK) {
    cli_print_error("quarantine requeue", &err);
    fprintf(stderr,
            "sendit quarantine requeue: %zu file(s) of batch '%s' are in %s but not queued; "
            "move that folder into the input folder to import them\n",
            count, cli_text(batch), cli_text(folder));
    t->failed += count;
  } else {
    printf("batch %s: %zu file(s) moved to %s and queued\n", cli_text(batch), count,
           cli_text(folder));
    t->requeued += count;
    t->batches++;
  }
  free(moved);
}

static int by_batch_then_id(const void *a, const void *b) {
  const si_quarantined *x = a, *y = b;
  int c = strcmp(x->batch_uid, y->batch_uid);
  return c ? c : (x->id > y->id) - (x->id < y->id);
}

static const si_quarantined *find_entry(const entries *e, int64_t id) {
  for (size_t i = 0; i < e->count; i++)
    if (e->items[i].id == id)
      return &e->items[i];
  return NULL;
}

/* The entries named by ID, each once; unknown or already requeued ones
 * count as failed. */
static int select_ids(const quarantine_opts *o, const entries *all, entries *out, tally *t) {
  for (size_t i = 0; i < o->nids; i++) {
    const si_quarantined *q = find_entry(all, o->ids[i]);
    char at[OPS_TIME_MAX];
    if (!q) {
      fprintf(stderr, "sendit quarantine requeue: no quarantine entry %" PRId64 "\n", o->ids[i]);
      t->failed++;
    } else if (q->requeued_at > 0) {
      fprintf(stderr, "sendit quarantine requeue: entry %" PRId64 " was already requeued at %s\n",
              q->id, ops_time(at, q->requeued_at, 0));
      t->failed++;
    } else if (!find_entry(out, q->id) && entries_push(out, q) != 0) {
      return -1;
    }
  }
  return 0;
}

static int select_entries(app *a, const quarantine_opts *o, entries *out, tally *t) {
  entries all;
  int rc = load_entries(a, o->cmd, o->nids > 0, o->batch, &all);
  if (rc != CLI_EXIT_OK)
    return rc;
  if (o->nids > 0) {
    memset(out, 0, sizeof *out);
    if (select_ids(o, &all, out, t) != 0)
      rc = CLI_EXIT_FAILURE;
    free(all.items);
  } else {
    *out = all;
  }
  return rc;
}

static int run_requeue(app *a, void *opts) {
  quarantine_opts *o = opts;
  tally t = {0};
  entries sel;
  int rc = select_entries(a, o, &sel, &t);
  if (rc != CLI_EXIT_OK)
    return rc;
  if (sel.count > 1)
    qsort(sel.items, sel.count, sizeof *sel.items, by_batch_then_id);
  for (size_t from = 0, to; from < sel.count; from = to) {
    for (to = from + 1; to < sel.count; to++)
      if (strcmp(sel.items[to].batch_uid, sel.items[from].batch_uid) != 0)
        break;
    requeue_batch(a, &sel.items[from], to - from, &t);
  }
  if (sel.count == 0 && t.failed == 0)
    printf("nothing to requeue\n");
  else
    printf("requeued %zu file(s) in %zu batch(es); %zu skipped (file gone), %zu failed\n",
           t.requeued, t.batches, t.skipped, t.failed);
  if (t.requeued > 0 && !app_running_pid(&a->cfg))
    printf("the watcher is not running: 'sendit start_watcher' imports the queued files\n");
  free(sel.items);
  return t.skipped || t.failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

/* ---- options and dispatch ---- */

enum { OPT_ALL = 256, OPT_BATCH, OPT_JSON };

static int parse_common(quarantine_opts *o, int with_json, int argc, char **argv) {
  static const struct option longs[] = {{"all", no_argument, NULL, OPT_ALL},
                                        {"batch", required_argument, NULL, OPT_BATCH},
                                        {"json", no_argument, NULL, OPT_JSON},
                                        {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    if (c == OPT_ALL)
      o->all = 1;
    else if (c == OPT_BATCH)
      o->batch = optarg;
    else if (c == OPT_JSON && with_json)
      o->json = 1;
    else if (c == OPT_JSON)
      return cli_usage_error(o->cmd, "option '--json' does not apply here");
    else
      return ops_bad_option(o->cmd, c, argv);
  }
  return -1;
}

static int parse_list(int argc, char **argv, void *opts) {
  quarantine_opts *o = opts;
  int rc = parse_common(o, 1, argc, argv);
  if (rc < 0 && optind < argc)
    rc = cli_usage_error(o->cmd, "unexpected argument '%s'", argv[optind]);
  return rc;
}

static int parse_requeue(int argc, char **argv, void *opts) {
  quarantine_opts *o = opts;
  int rc = parse_common(o, 0, argc, argv);
  if (rc >= 0)
    return rc;
  o->ids = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *o->ids);
  if (!o->ids)
    return CLI_EXIT_FAILURE;
  for (int i = optind; i < argc; i++) {
    int64_t id;
    if (ops_parse_count(argv[i], &id) != 0 || id == 0)
      return cli_usage_error(o->cmd, "'%s' is not a quarantine entry id", argv[i]);
    o->ids[o->nids++] = id;
  }
  int modes = (o->nids > 0) + (o->batch != NULL) + o->all;
  if (modes != 1)
    return cli_usage_error(o->cmd, modes ? "give IDs, --batch UID or --all: only one of them"
                                         : "which files? Give IDs, --batch UID or --all");
  return -1;
}

static const struct {
  const char *name;
  ops_command command;
} quarantine_subcommands[] = {
    {"list", {"quarantine list", OPS_DB_READ, parse_list, run_list}},
    {"requeue", {"quarantine requeue", OPS_DB_WRITE, parse_requeue, run_requeue}},
};

int cmd_quarantine(int argc, char **argv) {
  if (argc < 2)
    return cli_usage_error("quarantine", "list or requeue?");
  for (size_t i = 0; i < sizeof quarantine_subcommands / sizeof quarantine_subcommands[0]; i++) {
    if (strcmp(argv[1], quarantine_subcommands[i].name) == 0) {
      quarantine_opts o = {.cmd = quarantine_subcommands[i].command.name};
      int rc = ops_run(&quarantine_subcommands[i].command, argc - 1, argv + 1, &o);
      free(o.ids);
      return rc;
    }
  }
  return cli_usage_error("quarantine", "unknown subcommand '%s' (list or requeue)", argv[1]);
}
