/* `sendit dump`: reads DICOM files and prints them as text or DICOM JSON.
 * The formatting lives in the library (sendit/dump.h, sendit/json.h); this
 * file only parses options and walks the list of files. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sendit/dicom.h"
#include "sendit/dump.h"
#include "sendit/json.h"

const char cmd_dump_usage[] =
    "Usage: sendit dump [OPTIONS] FILE...\n"
    "\n"
    "Prints the elements of DICOM files: a header with the transfer syntax, the\n"
    "file meta information, then the data set, one line per element with tag, VR,\n"
    "value, length, value multiplicity and keyword. Items and pixel fragments are\n"
    "indented under their element.\n"
    "\n"
    "Options:\n"
    "  --json             print each data set in the DICOM JSON Model (PS3.18\n"
    "                     Annex F) instead: one compact JSON document per line and\n"
    "                     per file, in order (JSON Lines); a file that cannot be\n"
    "                     read gives the line 'null'. The file meta group is not\n"
    "                     part of a data set and is left out; binary values and\n"
    "                     encapsulated pixel data (its items, as stored) are\n"
    "                     \"InlineBinary\" base64\n"
    "  --headers-only     stop reading before the pixel data (as the import does):\n"
    "                     values over 64 KiB are skipped, not read, and shown as\n"
    "                     '(not read: header-only)'; a file whose header needs\n"
    "                     more than 32 MiB fails; Pixel Data is not read but a\n"
    "                     file cut inside it still fails\n"
    "  -q, --quiet        only parse the files; print nothing but errors\n"
    "  --files-from LIST  also read the paths listed in LIST, one per line\n"
    "                     ('-' reads the list from standard input)\n"
    "  --full             print long values whole (text output cuts them at 64\n"
    "                     characters and ends them in '...')\n"
    "  --help             show this help\n"
    "\n"
    "Cut files fail (a partial element or a sequence shorter than declared);\n"
    "zero bytes after the last element are padding.\n"
    "\n"
    "A file that cannot be read gets one line on standard error and the next file\n"
    "is read. Exit status: 0 when every file was read, 1 when some file failed,\n"
    "2 for a bad command line.\n";

typedef enum output { OUTPUT_TEXT, OUTPUT_JSON, OUTPUT_NONE } output;

typedef struct dump_job {
  output out;
  const char *list; /* --files-from, or NULL */
  si_read_options read;
  si_dump_options dump;
  si_json_options json;
  size_t printed; /* files shown so far (text output separates them) */
  size_t failed;  /* files that could not be read or printed */
} dump_job;

/* The reader names the file in its errors; make sure of it for the message. */
static void report(const char *path, si_error *err) {
  if (!err->file[0])
    snprintf(err->file, sizeof err->file, "%s", path);
  cli_print_error("dump", err);
}

static si_status print_text(dump_job *job, const char *path, const si_file *f, si_error *err) {
  if (job->printed++)
    putchar('\n');
  return si_dump_file(stdout, path, f, &job->dump, err);
}

static si_status print_json(dump_job *job, const si_file *f, si_error *err) {
  json_t *obj;
  si_status st = si_file_to_json(f, &job->json, &obj, err);
  if (st != SI_OK) {
    puts("null");
    return st;
  }
  st = si_json_write(stdout, obj, JSON_COMPACT, err);
  json_decref(obj);
  putchar('\n');
  return st;
}

/* --quiet is what benchmarks time: read and free, nothing else. */
static void parse_only(dump_job *job, const char *path) {
  si_file *f;
  si_error err;
  if (si_read_file(path, &job->read, &f, &err) != SI_OK) {
    job->failed++;
    report(path, &err);
    return;
  }
  si_file_free(f);
}

static void dump_path(dump_job *job, const char *path) {
  if (job->out == OUTPUT_NONE) {
    parse_only(job, path);
    return;
  }
  si_file *f;
  si_error err;
  si_status st = si_read_file(path, &job->read, &f, &err);
  if (st == SI_OK) {
    st = job->out == OUTPUT_JSON ? print_json(job, f, &err) : print_text(job, path, f, &err);
    si_file_free(f);
  } else if (job->out == OUTPUT_JSON) {
    puts("null"); /* keeps line N for file N */
  }
  if (st != SI_OK) {
    job->failed++;
    report(path, &err);
  }
}

static void dump_list(dump_job *job, FILE *list) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, list)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = 0;
    if (n > 0)
      dump_path(job, line);
  }
  free(line);
}

enum { OPT_JSON = 256, OPT_HEADERS_ONLY, OPT_FILES_FROM, OPT_FULL, OPT_HELP };

static const struct option long_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"headers-only", no_argument, NULL, OPT_HEADERS_ONLY},
    {"quiet", no_argument, NULL, 'q'},
    {"files-from", required_argument, NULL, OPT_FILES_FROM},
    {"full", no_argument, NULL, OPT_FULL},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Returns -1 when the options are fine, else the exit status. */
static int parse_options(dump_job *job, int argc, char **argv) {
  int quiet = 0, json = 0, c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":q", long_options, NULL)) != -1) {
    switch (c) {
    case OPT_JSON:
      json = 1;
      break;
    case OPT_HEADERS_ONLY:
      job->read.stop_before_pixels = 1;
      break;
    case 'q':
      quiet = 1;
      break;
    case OPT_FILES_FROM:
      job->list = optarg;
      break;
    case OPT_FULL:
      job->dump.max_value_chars = 0;
      break;
    case OPT_HELP:
      fputs(cmd_dump_usage, stdout);
      return CLI_EXIT_OK;
    case ':':
      return cli_usage_error("dump", "option '%s' needs an argument", argv[optind - 1]);
    default:
      return cli_usage_error("dump", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (quiet && json)
    return cli_usage_error("dump", "--quiet and --json exclude each other");
  job->out = quiet ? OUTPUT_NONE : json ? OUTPUT_JSON : OUTPUT_TEXT;
  if (optind >= argc && !job->list)
    return cli_usage_error("dump", "no input files");
  return -1;
}

static FILE *open_list(const char *list) {
  if (strcmp(list, "-") == 0)
    return stdin;
  return fopen(list, "r");
}

int cmd_dump(int argc, char **argv) {
  dump_job job = {0};
  si_read_options_init(&job.read);
  si_dump_options_init(&job.dump);
  si_json_options_init(&job.json);
  int status = parse_options(&job, argc, argv);
  if (status >= 0)
    return status;
  /* Open the list first: a wrong list name is a usage error, found before
   * any output. */
  FILE *list = job.list ? open_list(job.list) : NULL;
  if (job.list && !list)
    return cli_usage_error("dump", "cannot open list '%s': %s", job.list, strerror(errno));
  for (int i = optind; i < argc; i++)
    dump_path(&job, argv[i]);
  if (list) {
    dump_list(&job, list);
    if (list != stdin)
      fclose(list);
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "sendit dump: cannot write the output: %m\n");
    return CLI_EXIT_FAILURE;
  }
  return job.failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
