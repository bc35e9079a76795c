/* `sendit deid [OPTIONS] --out DIR FILE|DIR...`: the de-identification
 * engine on its own (sendit/deid.h), as deid's command line is. This file
 * parses options, finds the files and writes the results; the engine, the
 * pseudonym providers and the naming rule live in lib/deid. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "sendit/deid_recipe.h"
#include "deid_out.h"
#include "sendit/deid.h"
#include "sendit/deid_ids.h"
#include "sendit/dicom.h"
#include "sendit/write.h"

#define DEFAULT_KEY_FILE "./sendit.deid.key"
#define TAG_PATIENT_ID SI_TAG(0x0010, 0x0020)
#define TAG_STUDY_UID SI_TAG(0x0020, 0x000D)
#define TAG_MEDIA_SOP_CLASS SI_TAG(0x0002, 0x0002)
#define DICOMDIR_CLASS "1.2.840.10008.1.3.10"

const char cmd_deid_run_usage[] =
    "Usage: sendit deid [--profile basic[,OPTION...]|none] [--recipe FILE] [--ids FILE.json]\n"
    "                   [--key FILE]\n"
    "                   [--keep-times] [--name PATTERN] [-q] --out DIR FILE|DIR...\n"
    "\n"
    "De-identifies DICOM files with the PS3.15 Basic Application Level\n"
    "Confidentiality Profile and its options, and writes each result to\n"
    "DIR/<coded study id>/<name> (README, \"De-identification\").\n"
    "\n"
    "Options:\n"
    "  --profile P     basic, followed by options separated by commas:\n"
    "                  retain-safe-private, retain-uids, retain-device-identity,\n"
    "                  retain-institution-identity, retain-patient-characteristics,\n"
    "                  retain-long-full-dates, retain-long-modified-dates,\n"
    "                  clean-descriptors, clean-structured-content, clean-graphics\n"
    "                  (default: basic); none: the recipe alone\n"
    "  --recipe FILE   a deid recipe (pydicom/deid's format) applied before the\n"
    "                  profile; its %filter sections flag images for review\n"
    "  --ids FILE      pseudonyms and day shifts from a JSON file:\n"
    "                  {\"PATIENTID\": {\"code\": \"P1\", \"day_shift\": -12,\n"
    "                                 \"studies\": {\"STUDYUID\": \"S1\"}}}\n"
    "                  a patient or study it does not list fails its files;\n"
    "                  default: codes derived from the key (P + 10 characters,\n"
    "                  S + 10 characters, a day shift from -365 to -1)\n"
    "  --key FILE      the site's 32-byte secret for UIDs and derived codes;\n"
    "                  created (mode 0600) when missing (default " DEFAULT_KEY_FILE ")\n"
    "  --keep-times    with retain-long-modified-dates: keep TM values\n"
    "                  (default: remove them)\n"
    "  --name PATTERN  file names: {study} {patient} {series} {instance} {sop}\n"
    "                  {modality} (default " SI_DEID_DEFAULT_NAME ")\n"
    "  --out DIR       where results go (created when missing)\n"
    "  -q, --quiet     print only errors and flagged files\n"
    "  --help          show this help\n"
    "\n"
    "An image with BurnedInAnnotation YES is flagged, not written: pixel data is\n"
    "not cleaned. Results are written to temporary names, made durable together\n"
    "(synced per batch of 256) and only then renamed to their final names: a\n"
    "failed or flagged file leaves nothing behind. Exit status: 0 when every\n"
    "file was written, 1 when some file failed or was flagged, 2 for a bad\n"
    "command line.\n";

typedef struct run_job {
  si_deid_options opts;
  uint8_t key[SI_DEID_KEY_BYTES];
  si_deid_ids *ids;
  si_deid_recipe *recipe; /* --recipe, owned; job->rules borrows it */
  si_deid_rules rules;
  deid_out *out; /* results waiting for their batch's sync */
  const char *out_dir, *name_pattern;
  int quiet;
  int have_out_id;
  dev_t out_dev;
  ino_t out_ino;
  size_t written, failed, flagged, skipped;
} run_job;

static void fail(run_job *job, const char *path, si_error *err) {
  if (!err->file[0])
    snprintf(err->file, sizeof err->file, "%s", path);
  cli_print_error("deid", err);
  job->failed++;
}

static int make_dirs(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s/", path) >= (int)sizeof buf)
    return -1;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  return 0;
}

static char *text_of(const si_dataset *ds, uint32_t tag) {
  char *s = NULL;
  si_error ignored;
  if (si_get_string(ds, tag, SIZE_MAX, &s, &ignored) != SI_OK)
    return strdup("");
  return s;
}

static int is_dicomdir(const si_file *f) {
  char uid[65];
  si_error ignored;
  return si_get_uid(si_file_meta(f), TAG_MEDIA_SOP_CLASS, uid, &ignored) == SI_OK &&
         strcmp(uid, DICOMDIR_CLASS) == 0;
}

/* Puts the waiting results on disk; when that fails they are reported
 * and counted as failed (their lines were printed when they were made). */
static int flush_batch(run_job *job) {
  size_t n = deid_out_count(job->out);
  si_error err;
  if (deid_out_commit(job->out, &err) == SI_OK)
    return 0;
  size_t len = strlen(err.message);
  snprintf(err.message + len, sizeof err.message - len, " (%zu results of this batch not written)",
           n);
  cli_print_error("deid", &err);
  job->written -= n;
  job->failed += n;
  return -1;
}

/* De-identifies one file and writes it; f is consumed. */
static si_status deid_file(run_job *job, const char *in, si_file *f, char *out, size_t size,
                           si_error *err) {
  const si_dataset *ds = si_file_dataset(f);
  char *patient = text_of(ds, TAG_PATIENT_ID);
  char *study = text_of(ds, TAG_STUDY_UID);
  if (!patient || !study) {
    free(patient);
    free(study);
    return si_error_set(err, SI_ERR_NOMEM, in, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  const char *items[1] = {study};
  si_deid_ids_request req = {
      .entity_id = patient, .entity_source = "PatientID", .item_ids = items, .item_count = 1};
  si_deid_ids_answer answer;
  si_status st = si_deid_ids_lookup(job->ids, &req, &answer, err);
  free(patient);
  free(study);
  if (st != SI_OK)
    return st;
  si_deid_subject subject = {answer.entity_code, answer.item_codes[0], answer.day_shift};
  si_deid_report report;
  st = si_deid_apply(f, &job->opts, &subject, &report, err);
  if (st == SI_OK && report.flagged) {
    job->flagged++;
    st = si_error_set(err, SI_ERR_STATE, in, SI_NO_OFFSET, SI_NO_TAG,
                      "flagged for review, not written: %s", report.flag_reason);
  }
  char folder[4096], name[1024];
  if (st == SI_OK)
    st = si_deid_output_name(f, "{study}", subject.study_code, subject.patient_code, name,
                             sizeof name, err);
  if (st == SI_OK &&
      snprintf(folder, sizeof folder, "%s/%s", job->out_dir, name) >= (int)sizeof folder)
    st = si_error_set(err, SI_ERR_ARG, in, SI_NO_OFFSET, SI_NO_TAG, "output path too long");
  if (st == SI_OK)
    st = si_deid_output_name(f, job->name_pattern, subject.study_code, subject.patient_code, name,
                             sizeof name, err);
  if (st == SI_OK && make_dirs(folder) != 0)
    st = si_error_set(err, SI_ERR_IO, folder, SI_NO_OFFSET, SI_NO_TAG,
                      "cannot create the output folder: %s", strerror(errno));
  if (st == SI_OK)
    st = si_deid_output_path(folder, name, f, out, size, err);
  if (st == SI_OK && (deid_out_full(job->out) || deid_out_pending(job->out, out))) {
    /* Full, or the name is taken in this batch: put the batch on disk, so
     * that the naming rule sees it and tells the two instances apart. */
    flush_batch(job);
    st = si_deid_output_path(folder, name, f, out, size, err);
  }
  if (st == SI_OK)
    st = deid_out_add(job->out, f, out, err);
  si_deid_report_free(&report);
  si_deid_ids_answer_free(&answer);
  return st;
}

static void run_one(run_job *job, const char *in) {
  si_read_options ro;
  si_read_options_init(&ro);
  /* Values over 64 KiB (pixel data above all) stay in the file and are
   * copied from it by the writer: memory stays flat in file size. */
  ro.leave_in_file = 65536;
  si_error err;
  si_error_clear(&err);
  si_file *f;
  if (si_read_file(in, &ro, &f, &err) != SI_OK) {
    fail(job, in, &err);
    return;
  }
  if (is_dicomdir(f)) {
    if (!job->quiet)
      printf("%s: a DICOMDIR, skipped\n", cli_text(in));
    job->skipped++;
    si_file_free(f);
    return;
  }
  char out[4096];
  si_status st = deid_file(job, in, f, out, sizeof out, &err);
  si_file_free(f);
  if (st != SI_OK) {
    if (strcmp(err.file, in) != 0 && err.file[0]) {
      size_t n = strlen(err.message);
      snprintf(err.message + n, sizeof err.message - n, " (from %s)", in);
    }
    fail(job, in, &err);
    return;
  }
  job->written++;
  if (!job->quiet)
    printf("%s -> %s\n", cli_text(in), cli_text(out));
}

static char *join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 2);
  if (s) {
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
  }
  return s;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file under dir, in name order (so names made unique come
 * out the same in every run); symbolic links are not followed. */
static void walk_dir(run_job *job, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    si_error err;
    si_error_set(&err, SI_ERR_IO, dir, SI_NO_OFFSET, SI_NO_TAG, "cannot open folder: %s",
                 strerror(errno));
    fail(job, dir, &err);
    return;
  }
  char **names = NULL;
  size_t count = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (e->d_name[0] == '.')
      continue; /* hidden files (a writer's temporary files above all) are not input */
    if (count == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown)
        break;
      names = grown;
    }
    if (!(names[count] = strdup(e->d_name)))
      break;
    count++;
  }
  closedir(d);
  if (count)
    qsort(names, count, sizeof *names, cmp_names);
  for (size_t i = 0; i < count; i++) {
    char *path = join(dir, names[i]);
    struct stat st;
    if (!path) {
      job->failed++;
    } else if (lstat(path, &st) != 0) {
      si_error err;
      si_error_set(&err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot stat: %s",
                   strerror(errno));
      fail(job, path, &err);
    } else if (S_ISDIR(st.st_mode)) {
      if (!(job->have_out_id && st.st_dev == job->out_dev && st.st_ino == job->out_ino))
        walk_dir(job, path);
    } else if (S_ISREG(st.st_mode)) {
      run_one(job, path);
    }
    free(path);
    free(names[i]);
  }
  free(names);
}

static void run_arg(run_job *job, const char *arg) {
  struct stat st;
  if (stat(arg, &st) != 0) {
    si_error err;
    si_error_set(&err, SI_ERR_IO, arg, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s", strerror(errno));
    fail(job, arg, &err);
    return;
  }
  if (S_ISDIR(st.st_mode))
    walk_dir(job, arg);
  else
    run_one(job, arg);
}

typedef struct args {
  const char *profile, *ids, *key, *recipe;
  int first;
} args;

static int parse_args(run_job *job, args *a, int argc, char **argv) {
  static const cli_option options[] = {
      {"--profile", 1, 0}, {"--ids", 1, 0},   {"--key", 1, 0},
      {"--name", 1, 0},    {"--out", 1, 0},   {"--keep-times", 0, 0},
      {"-q", 0, 0},        {"--quiet", 0, 0}, {"--recipe", 1, 0}};
  int i = 1;
  for (;;) {
    const char *v;
    int k =
        cli_next_option("deid", options, sizeof options / sizeof options[0], argc, argv, &i, &v);
    if (k == CLI_OPTIONS_END)
      break;
    if (k == CLI_OPTIONS_BAD)
      return CLI_EXIT_USAGE;
    const char *name = options[k].name;
    if (strcmp(name, "--profile") == 0)
      a->profile = v;
    else if (strcmp(name, "--recipe") == 0)
      a->recipe = v;
    else if (strcmp(name, "--ids") == 0)
      a->ids = v;
    else if (strcmp(name, "--key") == 0)
      a->key = v;
    else if (strcmp(name, "--name") == 0)
      job->name_pattern = v;
    else if (strcmp(name, "--out") == 0)
      job->out_dir = v;
    else if (strcmp(name, "--keep-times") == 0)
      job->opts.keep_times = 1;
    else
      job->quiet = 1;
  }
  if (!job->out_dir || !*job->out_dir)
    return cli_usage_error("deid", "--out DIR is required");
  if (i >= argc)
    return cli_usage_error("deid", "no FILE or DIR given");
  a->first = i;
  si_error err;
  if (si_deid_profile_parse(a->profile ? a->profile : "basic", &job->opts.profile, &err) != SI_OK)
    return cli_usage_error("deid", "--profile: %s", err.message);
  if (!job->opts.profile && !a->recipe)
    return cli_usage_error("deid", "--profile none needs --recipe FILE");
  if (a->recipe) {
    if (si_deid_recipe_load(a->recipe, &job->recipe, &err) != SI_OK) {
      cli_print_error("deid", &err);
      return CLI_EXIT_FAILURE;
    }
    si_deid_recipe_rules(job->recipe, &job->rules);
    job->opts.rules = &job->rules;
  }
  if (job->name_pattern) {
    si_file *probe;
    char name[256];
    if (si_file_new(&probe, &err) != SI_OK)
      return cli_usage_error("deid", "out of memory");
    si_status st = si_deid_output_name(probe, job->name_pattern, "S", "P", name, sizeof name, &err);
    si_file_free(probe);
    if (st != SI_OK)
      return cli_usage_error("deid", "--name: %s", err.message);
  }
  return 0;
}

/* Runs a parsed job; the caller frees what parse_args made. */
static int run_parsed(run_job *job, const args *a, int argc, char **argv) {
  si_error err;
  if (si_deid_key_load(a->key ? a->key : DEFAULT_KEY_FILE, job->key, &err) != SI_OK) {
    cli_print_error("deid", &err);
    return CLI_EXIT_FAILURE;
  }
  job->opts.key = job->key;
  si_status st = a->ids ? si_deid_ids_file_open(a->ids, &job->ids, &err)
                        : si_deid_ids_keyed_new(job->key, &job->ids, &err);
  if (st != SI_OK) {
    cli_print_error("deid", &err);
    return CLI_EXIT_FAILURE;
  }
  if (make_dirs(job->out_dir) != 0) {
    si_error_set(&err, SI_ERR_IO, job->out_dir, SI_NO_OFFSET, SI_NO_TAG,
                 "cannot create the output folder: %s", strerror(errno));
    cli_print_error("deid", &err);
    si_deid_ids_free(job->ids);
    return CLI_EXIT_FAILURE;
  }
  struct stat ost;
  if (stat(job->out_dir, &ost) == 0) {
    job->have_out_id = 1;
    job->out_dev = ost.st_dev;
    job->out_ino = ost.st_ino;
  }
  if (!(job->out = deid_out_new(256))) {
    si_error_set(&err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    cli_print_error("deid", &err);
    si_deid_ids_free(job->ids);
    return CLI_EXIT_FAILURE;
  }
  for (int i = a->first; i < argc; i++)
    run_arg(job, argv[i]);
  flush_batch(job);
  deid_out_free(job->out);
  si_deid_ids_free(job->ids);
  memset(job->key, 0, sizeof job->key);
  if (!job->quiet || job->failed)
    printf("%zu written, %zu failed (%zu flagged), %zu skipped\n", job->written, job->failed,
           job->flagged, job->skipped);
  return job->failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_deid_run(int argc, char **argv) {
  run_job job;
  memset(&job, 0, sizeof job);
  si_deid_options_init(&job.opts);
  args a = {0};
  int rc = parse_args(&job, &a, argc, argv);
  if (!rc)
    rc = run_parsed(&job, &a, argc, argv);
  /* The recipe is freed on every path, the early errors of parse_args
   * and run_parsed included. */
  si_deid_recipe_free(job.recipe);
  memset(job.key, 0, sizeof job.key);
  return rc;
}
