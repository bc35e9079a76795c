/* `sendit deid map lookup` (ask a pseudonym provider, as the deid stage
 * would: operators check the identifier service with it) and `sendit deid
 * map export` (the pseudonym table, for authorised re-identification). */
#include <unistd.h>

#include "ops.h"
#include "sendit/deid_ids.h"
#include "sendit/deid_ids_http.h"
#include "sendit/deid_ids_local.h"
#include "sendit/store_deid.h"

const char cmd_deid_map_usage[] =
    "Usage: sendit deid map lookup [--identifiers local|http] [--url URL] [--token-file FILE]\n"
    "                              [--timeout MS] [--connect-timeout MS] [--attempts N]\n"
    "                              [--source SOURCE] [--batch UID] [--config PATH]\n"
    "                              PATIENTID [STUDYUID...]\n"
    "       sendit deid map export [--format csv|json] [--config PATH]\n"
    "\n"
    "lookup  prints the codes of one patient and its studies, creating them on\n"
    "        first sight, exactly as the deid stage gets them:\n"
    "          patient CODE DAY_SHIFT\n"
    "          study STUDYUID CODE        (one line per study)\n"
    "        --identifiers local   sendit's own table (the default)\n"
    "        --identifiers http    the identifier service at --url (README,\n"
    "                              \"Pseudonyms and the identifier service\"), with\n"
    "                              the bearer token in --token-file; its answers\n"
    "                              are kept in the table and never asked again\n"
    "        --timeout MS          the whole request (default 60000)\n"
    "        --connect-timeout MS  connecting (default 10000)\n"
    "        --attempts N          tries on connection errors, timeouts and HTTP\n"
    "                              5xx, with backoff (default 4)\n"
    "        --source SOURCE       the patient id's source (default PatientID)\n"
    "        --batch UID           recorded with new rows\n"
    "\n"
    "export  prints the whole table: each patient's original id, code and day\n"
    "        shift, and each study's original StudyInstanceUID and code. It holds\n"
    "        the identifiers: for authorised re-identification only.\n"
    "        --format csv   one line per study (a patient without studies has one\n"
    "                       line with empty study fields); RFC 4180 quoting; the\n"
    "                       ids byte for byte (on a terminal, control characters\n"
    "                       show as '?')\n"
    "        --format json  a list of patients, each with its studies\n"
    "\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 ok, 1 the provider or the database failed, 2 usage.\n";

/* ---- lookup ---- */

typedef struct lookup_opts {
  const char *identifiers, *url, *token_file, *source, *batch;
  long long timeout_ms, connect_timeout_ms, attempts;
  const char *patient;
  const char *const *studies;
  size_t nstudies;
} lookup_opts;

enum {
  OPT_IDENTIFIERS = 256,
  OPT_URL,
  OPT_TOKEN_FILE,
  OPT_TIMEOUT,
  OPT_CONNECT_TIMEOUT,
  OPT_ATTEMPTS,
  OPT_SOURCE,
  OPT_BATCH,
  OPT_FORMAT
};

static const struct option lookup_longs[] = {
    {"identifiers", required_argument, NULL, OPT_IDENTIFIERS},
    {"url", required_argument, NULL, OPT_URL},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"attempts", required_argument, NULL, OPT_ATTEMPTS},
    {"source", required_argument, NULL, OPT_SOURCE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {NULL, 0, NULL, 0},
};

static int number(const char *opt, const char *s, long long min, long long max, long long *out) {
  if (cli_parse_number(s, min, max, out) != 0)
    return cli_bad_number("deid map lookup", opt, s, min, max);
  return -1;
}

static int parse_lookup(int argc, char **argv, void *opts) {
  lookup_opts *o = opts;
  int c, rc = -1;
  while (rc < 0 && (c = getopt_long(argc, argv, ":", lookup_longs, NULL)) != -1) {
    switch (c) {
    case OPT_IDENTIFIERS:
      o->identifiers = optarg;
      break;
    case OPT_URL:
      o->url = optarg;
      break;
    case OPT_TOKEN_FILE:
      o->token_file = optarg;
      break;
    case OPT_SOURCE:
      o->source = optarg;
      break;
    case OPT_BATCH:
      o->batch = optarg;
      break;
    case OPT_TIMEOUT:
      rc = number("--timeout", optarg, 1, 3600000, &o->timeout_ms);
      break;
    case OPT_CONNECT_TIMEOUT:
      rc = number("--connect-timeout", optarg, 1, 3600000, &o->connect_timeout_ms);
      break;
    case OPT_ATTEMPTS:
      rc = number("--attempts", optarg, 1, 100, &o->attempts);
      break;
    default:
      return ops_bad_option("deid map lookup", c, argv);
    }
  }
  if (rc >= 0)
    return rc;
  if (strcmp(o->identifiers, "local") != 0 && strcmp(o->identifiers, "http") != 0)
    return cli_usage_error("deid map lookup", "--identifiers is local or http, not '%s'",
                           o->identifiers);
  int http = strcmp(o->identifiers, "http") == 0;
  if (http && !o->url)
    return cli_usage_error("deid map lookup", "--identifiers http needs --url");
  if (!http && (o->url || o->token_file))
    return cli_usage_error("deid map lookup", "--url and --token-file are for --identifiers http");
  if (optind >= argc)
    return cli_usage_error("deid map lookup", "which patient? Give its PatientID");
  o->patient = argv[optind];
  o->studies = (const char *const *)argv + optind + 1;
  o->nstudies = (size_t)(argc - optind - 1);
  return -1;
}

static int run_lookup(app *a, void *opts) {
  lookup_opts *o = opts;
  si_deid_ids *ids = NULL;
  si_error err;
  si_status st =
      strcmp(o->identifiers, "http") == 0
          ? si_deid_ids_http_new(a->db, o->url, o->token_file, (long)o->connect_timeout_ms,
                                 (long)o->timeout_ms, (int)o->attempts, &ids, &err)
          : si_deid_ids_local_new(a->db, SI_DEID_SHIFT_MIN_DEFAULT, SI_DEID_SHIFT_MAX_DEFAULT, &ids,
                                  &err);
  if (st != SI_OK)
    return ops_fail("deid map lookup", &err);
  si_deid_ids_request req = {.entity_id = o->patient,
                             .entity_source = o->source,
                             .item_ids = o->studies,
                             .item_count = o->nstudies,
                             .batch_uid = o->batch};
  si_deid_ids_answer ans;
  st = si_deid_ids_lookup(ids, &req, &ans, &err);
  si_deid_ids_free(ids);
  if (st != SI_OK)
    return ops_fail("deid map lookup", &err);
  printf("patient %s %" PRId32 "\n", cli_text(ans.entity_code), ans.day_shift);
  for (size_t i = 0; i < ans.item_count; i++)
    printf("study %s %s\n", cli_text(o->studies[i]), cli_text(ans.item_codes[i]));
  si_deid_ids_answer_free(&ans);
  return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* ---- export ---- */

typedef struct export_opts {
  int json;
} export_opts;

static const struct option export_longs[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {NULL, 0, NULL, 0},
};

static int parse_export(int argc, char **argv, void *opts) {
  export_opts *o = opts;
  int c;
  while ((c = getopt_long(argc, argv, ":", export_longs, NULL)) != -1) {
    if (c != OPT_FORMAT)
      return ops_bad_option("deid map export", c, argv);
    if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "json") != 0)
      return cli_usage_error("deid map export", "--format is csv or json, not '%s'", optarg);
    o->json = strcmp(optarg, "json") == 0;
  }
  if (optind < argc)
    return cli_usage_error("deid map export", "unexpected argument '%s'", argv[optind]);
  return -1;
}

typedef struct export_out {
  int tty;
  json_t *list, *patient; /* JSON: the list, the patient being filled */
  int64_t patient_id;
} export_out;

/* RFC 4180; the bytes as stored, but for a terminal's sake. */
static void csv_field(const export_out *x, const char *s, int last) {
  s = s ? s : "";
  if (x->tty)
    s = cli_text(s);
  if (strpbrk(s, ",\"\r\n")) {
    putchar('"');
    for (; *s; s++) {
      if (*s == '"')
        putchar('"');
      putchar(*s);
    }
    putchar('"');
  } else {
    fputs(s, stdout);
  }
  putchar(last ? '\n' : ',');
}

static const char *const csv_header[] = {"patient_source",  "patient_id",     "patient_code",
                                         "day_shift",       "patient_origin", "patient_batch",
                                         "patient_created", "study_uid",      "study_code",
                                         "study_origin",    "study_batch",    "study_created"};
enum { CSV_COLS = sizeof csv_header / sizeof csv_header[0] };

static void csv_row(export_out *x, const si_deid_export_row *r) {
  char shift[16], created[OPS_TIME_MAX], item_created[OPS_TIME_MAX];
  snprintf(shift, sizeof shift, "%" PRId32, r->day_shift);
  int item = r->item_code != NULL;
  const char *cols[CSV_COLS] = {r->source,
                                r->original,
                                r->code,
                                shift,
                                r->origin,
                                r->batch_uid,
                                ops_time(created, r->created_at, 1),
                                r->item_original,
                                r->item_code,
                                r->item_origin,
                                r->item_batch_uid,
                                item ? ops_time(item_created, r->item_created_at, 1) : ""};
  for (int c = 0; c < CSV_COLS; c++)
    csv_field(x, cols[c], c + 1 == CSV_COLS);
}

static void json_row(export_out *x, const si_deid_export_row *r) {
  if (!x->patient || x->patient_id != r->entity_id) {
    x->patient =
        json_pack("{s:o,s:o,s:o,s:i,s:o,s:o,s:o,s:[]}", "source", ops_json_text(r->source),
                  "patient_id", ops_json_text(r->original), "code", ops_json_text(r->code),
                  "day_shift", (json_int_t)r->day_shift, "origin", ops_json_text(r->origin),
                  "batch", r->batch_uid ? ops_json_text(r->batch_uid) : json_null(), "created",
                  ops_json_time(r->created_at), "studies");
    x->patient_id = r->entity_id;
    json_array_append_new(x->list, x->patient);
  }
  if (r->item_code && x->patient)
    json_array_append_new(
        json_object_get(x->patient, "studies"),
        json_pack("{s:o,s:o,s:o,s:o,s:o}", "study_uid", ops_json_text(r->item_original), "code",
                  ops_json_text(r->item_code), "origin", ops_json_text(r->item_origin), "batch",
                  r->item_batch_uid ? ops_json_text(r->item_batch_uid) : json_null(), "created",
                  ops_json_time(r->item_created_at)));
}

static int export_row(void *user, const si_deid_export_row *r) {
  export_out *x = user;
  if (x->list)
    json_row(x, r);
  else
    csv_row(x, r);
  return 0;
}

static int run_export(app *a, void *opts) {
  export_opts *o = opts;
  fflush(stdout);
  fprintf(stderr, "sendit deid map export: this output holds patients' identifiers beside their "
                  "codes; keep it as you keep the originals, and only for authorised "
                  "re-identification\n");
  export_out x = {.tty = isatty(STDOUT_FILENO), .patient_id = -1};
  if (o->json)
    x.list = json_array();
  else
    for (int c = 0; c < CSV_COLS; c++)
      csv_field(&x, csv_header[c], c + 1 == CSV_COLS);
  si_error err;
  si_status st = a->db_absent ? SI_OK : si_store_deid_export(a->db, export_row, &x, &err);
  if (st != SI_OK) {
    json_decref(x.list);
    return ops_fail("deid map export", &err);
  }
  if (o->json)
    return ops_print_json(x.list);
  return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* ---- the subcommands of `deid map` ---- */

int cmd_deid_map(int argc, char **argv) {
  static const ops_command lookup = {"deid map lookup", OPS_DB_WRITE, parse_lookup, run_lookup};
  static const ops_command export = {"deid map export", OPS_DB_READ, parse_export, run_export};
  const char *word = argc > 1 ? argv[1] : "";
  if (strcmp(word, "lookup") == 0) {
    lookup_opts o = {.identifiers = "local"};
    return ops_run(&lookup, argc - 1, argv + 1, &o);
  }
  if (strcmp(word, "export") == 0) {
    export_opts o = {0};
    return ops_run(&export, argc - 1, argv + 1, &o);
  }
  return cli_usage_error("deid map", "%s '%s' (lookup or export)",
                         word[0] ? "unknown subcommand" : "which subcommand?", word);
}
