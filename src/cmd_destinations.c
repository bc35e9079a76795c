/* `sendit destinations`: each configured destination's state, breaker,
 * queue and counts (sendit/ops_dest.h builds the JSON, as GET
 * /api/destinations serves it). */
#include "ops.h"
#include "sendit/ops_dest.h"

const char cmd_destinations_usage[] =
    "Usage: sendit destinations [--json] [--config PATH]\n"
    "\n"
    "Lists the [destination NAME] sections with their delivery state: the\n"
    "circuit breaker (closed, open after breaker_failures consecutive failed\n"
    "attempts, half-open while one attempt probes), the send jobs queued and\n"
    "running, the images sent, failed (refused for good) and pending, the last\n"
    "success and the last error.\n"
    "\n"
    "  --json         print one JSON object instead of a table\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 1 a database failure, 2 usage.\n";

typedef struct dest_opts {
  int json;
} dest_opts;

static int parse_destinations(int argc, char **argv, void *opts) {
  dest_opts *o = opts;
  static const struct option longs[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    if (c != 'j')
      return ops_bad_option("destinations", c, argv);
    o->json = 1;
  }
  if (optind < argc)
    return cli_usage_error("destinations", "unexpected argument '%s'", argv[optind]);
  return -1;
}

static const char *text_of(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "-";
}

static const char *int_of(char *buf, size_t size, json_t *o, const char *key) {
  snprintf(buf, size, "%lld", (long long)json_integer_value(json_object_get(o, key)));
  return buf;
}

static int run_destinations(app *a, void *opts) {
  dest_opts *o = opts;
  si_error err;
  json_t *j = ops_destinations_json(a->db, &a->cfg, &err);
  if (!j)
    return ops_fail("destinations", &err);
  if (o->json)
    return ops_print_json(j);
  json_t *list = json_object_get(j, "destinations");
  if (!json_array_size(list)) {
    printf("(no [destination NAME] section is configured)\n");
    json_decref(j);
    return CLI_EXIT_OK;
  }
  static const char *const headers[] = {"NAME",    "TYPE",         "STATE",     "BREAKER",
                                        "QUEUED",  "RUNNING",      "SENT",      "FAILED",
                                        "PENDING", "LAST SUCCESS", "LAST ERROR"};
  ops_table t;
  ops_table_init(&t, "llllrrrrrll", headers);
  size_t i;
  json_t *d;
  json_array_foreach(list, i, d) {
    char q[24], r[24], s[24], f[24], p[24];
    json_t *queue = json_object_get(d, "queue");
    const char *row[] = {text_of(d, "name"),
                         text_of(d, "type"),
                         text_of(d, "state"),
                         text_of(d, "breaker"),
                         int_of(q, sizeof q, queue, "queued"),
                         int_of(r, sizeof r, queue, "running"),
                         int_of(s, sizeof s, d, "sent"),
                         int_of(f, sizeof f, d, "failed"),
                         int_of(p, sizeof p, d, "pending"),
                         text_of(d, "last_success"),
                         text_of(d, "last_error")};
    ops_table_add(&t, row);
  }
  int rc = ops_table_print(&t, stdout, 0) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
  ops_table_free(&t);
  json_decref(j);
  return rc;
}

int cmd_destinations(int argc, char **argv) {
  static const ops_command c = {"destinations", OPS_DB_READ, parse_destinations, run_destinations};
  dest_opts o = {0};
  return ops_run(&c, argc, argv, &o);
}
