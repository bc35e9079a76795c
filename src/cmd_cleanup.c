/* `sendit cleanup [--dry-run] [--json]`: what the cleanup stage's rule
 * says may go now (the [cleanup] policy, and below the low water the
 * oldest confirmed batches), listed or removed at once: ops_cleanup_json,
 * the rule the stage and the daemon's sweep use. */
#include "cmd_cleanup.h"

#include "ops.h"
#include "sendit/cleanup.h"

const char cmd_cleanup_usage[] =
    "Usage: sendit cleanup [--dry-run] [--json] [--config PATH]\n\n"
    "Removes now what the cleanup stage would: the originals (storage) and the\n"
    "de-identified copies (deid) of the batches every destination confirmed, once\n"
    "their [cleanup] keep_originals_days / keep_deid_days have passed, and, while\n"
    "free space in storage is below [storage] low_water_mb, the oldest confirmed\n"
    "batches' files until it is above high_water_mb. Nothing unconfirmed goes; a\n"
    "batch with errors stays while [cleanup] keep_errors is true. Each removal is\n"
    "recorded with the batch (sendit batch show).\n\n"
    "  --dry-run      list what would go (batch, what, files, bytes, why); remove nothing\n"
    "  --json         print JSON instead of a table\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n\n"
    "Exit status: 0 ok, 1 a file could not be removed (the rest still are) or a\n"
    "database failure, 2 usage.\n";

typedef struct cleanup_opts {
  int dry_run, json;
} cleanup_opts;

enum { OPT_DRY_RUN = 1000, OPT_JSON };

static int parse_cleanup(int argc, char **argv, void *opts) {
  cleanup_opts *o = opts;
  static const struct option longs[] = {{"dry-run", no_argument, NULL, OPT_DRY_RUN},
                                        {"json", no_argument, NULL, OPT_JSON},
                                        {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    if (c == OPT_DRY_RUN)
      o->dry_run = 1;
    else if (c == OPT_JSON)
      o->json = 1;
    else
      return ops_bad_option("cleanup", c, argv);
  }
  if (optind < argc)
    return cli_usage_error("cleanup", "unexpected argument '%s'", argv[optind]);
  return -1;
}

static void print_text(const json_t *out, int dry_run) {
  static const char *const header[] = {"BATCH", "WHAT", "FILES", "SIZE", "WHY", "CONFIRMED"};
  ops_table t;
  ops_table_init(&t, "llrrll", header);
  size_t i;
  json_t *it;
  int64_t files = 0, bytes = 0;
  json_array_foreach(json_object_get(out, "items"), i, it) {
    char n[24], size[OPS_SIZE_MAX];
    int64_t f = json_integer_value(json_object_get(it, dry_run ? "files" : "removed"));
    int64_t b = json_integer_value(json_object_get(it, dry_run ? "bytes" : "removed_bytes"));
    files += f;
    bytes += b;
    snprintf(n, sizeof n, "%" PRId64, f);
    const char *row[] = {json_string_value(json_object_get(it, "batch")),
                         json_string_value(json_object_get(it, "what")),
                         n,
                         ops_size(size, b),
                         json_string_value(json_object_get(it, "reason")),
                         json_string_value(json_object_get(it, "confirmed"))};
    ops_table_add(&t, row);
  }
  json_t *free_mb = json_object_get(out, "free_mb");
  char total[OPS_SIZE_MAX];
  if (t.rows > 1) {
    ops_table_print(&t, stdout, 0);
    printf("%s %" PRId64 " files, %s\n", dry_run ? "would remove" : "removed", files,
           ops_size(total, bytes));
  } else {
    printf("nothing to remove\n");
  }
  if (json_is_integer(free_mb))
    printf("free space in storage: %" JSON_INTEGER_FORMAT " MB (low water %" JSON_INTEGER_FORMAT
           " MB)\n",
           json_integer_value(free_mb), json_integer_value(json_object_get(out, "low_water_mb")));
  ops_table_free(&t);
}

static int run_cleanup(app *a, void *opts) {
  cleanup_opts *o = opts;
  si_error err;
  si_status st = SI_OK;
  json_t *out = ops_cleanup_json(a->db, &a->cfg, o->dry_run, &st, &err);
  if (!out)
    return ops_fail("cleanup", &err);
  if (st != SI_OK)
    cli_print_error("cleanup", &err);
  int rc;
  if (o->json) {
    rc = ops_print_json(out);
  } else {
    print_text(out, o->dry_run);
    json_decref(out);
    rc = CLI_EXIT_OK;
  }
  return st != SI_OK ? CLI_EXIT_FAILURE : rc;
}

int cmd_cleanup(int argc, char **argv) {
  static const ops_command c = {"cleanup", OPS_DB_WRITE, parse_cleanup, run_cleanup};
  cleanup_opts o = {0};
  return ops_run(&c, argc, argv, &o);
}
