/* `sendit deid verify`: the leak scan on its own (sendit/deid_verify.h).
 * Collects the identifying values of the originals, scans every
 * de-identified file for them and prints one line per leak (or JSON). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "sendit/deid_verify.h"
#include "sendit/dict.h"
#include "sendit/fs.h"
#include "sendit/utf8.h"

const char cmd_deid_verify_usage[] =
    "Usage: sendit deid verify [OPTIONS] ORIGINAL... --against DEID...\n"
    "\n"
    "Collects the identifying values of the ORIGINAL files (names and their\n"
    "components, ids, birth date, accession number, addresses, telephone numbers,\n"
    "institution, physicians' and operators' names, station names, original UIDs)\n"
    "and looks for each of them in every DEID file: every element at every depth,\n"
    "private blocks and file meta, decoded with the file's character set, inside\n"
    "longer strings, and in the file's raw bytes. Folders are read recursively.\n"
    "\n"
    "Options:\n"
    "  --against DEID...   the de-identified files or folders (required)\n"
    "  --json              one JSON object on standard output\n"
    "  --mask              print each value as its first character and length,\n"
    "                      not in full (the default prints it: the report is for\n"
    "                      the operator)\n"
    "  --dates             also look for every date of the originals (DA, and the\n"
    "                      date of DT), for outputs whose dates were all shifted\n"
    "  --allow KIND|TAG    a value kept by design (a Retain option): a kind\n"
    "                      (patient-name, patient-id, birth-date, accession,\n"
    "                      address, telephone, institution, physician, operator,\n"
    "                      person, device, study-id, request-id, uid, date) or a\n"
    "                      tag (keyword or gggg,eeee); repeatable\n"
    "  --kept TAG          an element the outputs keep by design (Manufacturer,\n"
    "                      CodeMeaning...): not scanned, at any depth; repeatable\n"
    "  --help              show this help\n"
    "\n"
    "Exit status: 0 when no value was found, 1 when some leak was found or some\n"
    "file could not be read (an output that does not parse is still scanned\n"
    "byte by byte), 2 for a bad command line.\n";

typedef struct verify_job {
  si_verify *v;
  si_verify_hits hits;
  int json, mask;
  size_t originals, outputs, failed;
  json_t *errors;
} verify_job;

static int parse_tag(const char *s, uint32_t *tag) {
  const si_dict_entry *e = si_dict_lookup_keyword(s);
  if (e) {
    *tag = e->tag;
    return 0;
  }
  unsigned g, el;
  char end;
  if (sscanf(s, "(%4x,%4x%c", &g, &el, &end) == 3 && end == ')' && strlen(s) == 11) {
    *tag = SI_TAG(g, el);
    return 0;
  }
  if (sscanf(s, "%4x,%4x%c", &g, &el, &end) == 2 && strlen(s) == 9) {
    *tag = SI_TAG(g, el);
    return 0;
  }
  return -1;
}

/* A JSON string of any bytes: file names need not be UTF-8, and jansson
 * refuses what is not (the leak would be lost from the report). */
static json_t *jstr(const char *s) {
  char *fixed = si_utf8_repair(s ? s : "", strlen(s ? s : ""), NULL);
  json_t *j = fixed ? json_string(fixed) : NULL;
  free(fixed);
  return j ? j : json_string("");
}

static void file_error(verify_job *job, const si_error *err) {
  job->failed++;
  if (job->json) {
    char buf[1200];
    json_array_append_new(job->errors, json_pack("{s:s, s:s}", "file", err->file, "error",
                                                 si_error_format(err, buf, sizeof buf)));
  } else {
    cli_print_error("deid verify", err);
  }
}

/* Calls fn for every regular file named or below a named folder. */
static int each_file(verify_job *job, char **paths, size_t count,
                     si_status (*fn)(verify_job *, const char *, si_error *)) {
  for (size_t i = 0; i < count; i++) {
    struct stat st;
    si_error err;
    si_error_clear(&err);
    if (stat(paths[i], &st) != 0) {
      si_error_set(&err, SI_ERR_IO, paths[i], SI_NO_OFFSET, SI_NO_TAG, "no such file or folder");
      file_error(job, &err);
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (fn(job, paths[i], &err) == SI_ERR_NOMEM)
        return -1;
      continue;
    }
    si_file_list list;
    if (si_list_files(paths[i], &list, &err) != SI_OK) {
      file_error(job, &err);
      continue;
    }
    for (size_t k = 0; k < list.count; k++) {
      si_error_clear(&err);
      if (fn(job, list.items[k].path, &err) == SI_ERR_NOMEM) {
        si_file_list_free(&list);
        return -1;
      }
    }
    si_file_list_free(&list);
  }
  return 0;
}

static si_status collect_one(verify_job *job, const char *path, si_error *err) {
  si_status st = si_verify_collect_path(job->v, path, NULL, err);
  if (st == SI_OK)
    job->originals++;
  else
    file_error(job, err);
  return st;
}

static si_status scan_one(verify_job *job, const char *path, si_error *err) {
  job->outputs++;
  si_status st = si_verify_scan_path(job->v, path, &job->hits, err);
  if (st != SI_OK)
    file_error(job, err);
  return st;
}

static const char *shown(const verify_job *job, const char *value, char *buf, size_t size) {
  return job->mask ? si_verify_mask(value, buf, size) : value;
}

static void print_text(const verify_job *job) {
  for (size_t i = 0; i < job->hits.count; i++) {
    const si_verify_hit *h = &job->hits.items[i];
    char masked[64];
    printf("LEAK %s %s", cli_text(h->output), cli_text(h->path));
    if (h->creator)
      printf(" [%s]", cli_text(h->creator));
    if (h->raw)
      printf(" raw@%llu", (unsigned long long)h->offset);
    printf(" %s \"%s\"", h->kind, cli_text(shown(job, h->value, masked, sizeof masked)));
    if (h->original[0])
      printf(" from %s %s", cli_text(h->original), cli_text(h->original_path));
    putchar('\n');
  }
  printf("%zu leak(s) in %zu file(s) checked against %zu identifying value(s) of %zu "
         "original(s)%s\n",
         job->hits.count, job->outputs, si_verify_value_count(job->v), job->originals,
         job->failed ? "; some files could not be read" : "");
}

static void print_json(const verify_job *job) {
  json_t *leaks = json_array();
  for (size_t i = 0; i < job->hits.count; i++) {
    const si_verify_hit *h = &job->hits.items[i];
    char masked[64];
    json_t *o = json_object();
    json_object_set_new(o, "file", jstr(h->output));
    json_object_set_new(o, "path", jstr(h->path));
    if (h->creator)
      json_object_set_new(o, "private_creator", jstr(h->creator));
    json_object_set_new(o, "kind", json_string(h->kind));
    json_object_set_new(o, "raw", json_boolean(h->raw));
    json_object_set_new(o, "offset", json_integer((json_int_t)h->offset));
    json_object_set_new(o, "value", jstr(shown(job, h->value, masked, sizeof masked)));
    json_object_set_new(o, "original", jstr(h->original));
    json_object_set_new(o, "original_path", jstr(h->original_path));
    json_array_append_new(leaks, o);
  }
  json_t *root = json_object();
  json_object_set_new(root, "originals", json_integer((json_int_t)job->originals));
  json_object_set_new(root, "outputs", json_integer((json_int_t)job->outputs));
  json_object_set_new(root, "values", json_integer((json_int_t)si_verify_value_count(job->v)));
  json_object_set_new(root, "clean", json_boolean(job->hits.count == 0 && job->failed == 0));
  json_object_set_new(root, "leaks", leaks);
  json_object_set(root, "errors", job->errors);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
  if (text)
    puts(text);
  else
    fprintf(stderr, "sendit deid verify: out of memory\n");
  free(text);
  json_decref(root);
}

int cmd_deid_verify(int argc, char **argv) {
  const char *cmd = "deid verify";
  si_verify_options opts;
  si_verify_options_init(&opts);
  verify_job job = {0};
  char **originals = calloc((size_t)argc, sizeof *originals);
  char **outputs = calloc((size_t)argc, sizeof *outputs);
  const char **allows = calloc((size_t)argc, sizeof *allows);
  const char **kept = calloc((size_t)argc, sizeof *kept);
  size_t n_orig = 0, n_out = 0, n_allow = 0, n_kept = 0;
  int against = 0, rc = CLI_EXIT_USAGE;
  if (!originals || !outputs || !allows || !kept) {
    fprintf(stderr, "sendit %s: out of memory\n", cmd);
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--against") == 0)
      against = 1;
    else if (strcmp(a, "--json") == 0)
      job.json = 1;
    else if (strcmp(a, "--mask") == 0)
      job.mask = 1;
    else if (strcmp(a, "--dates") == 0)
      opts.event_dates = 1;
    else if (strcmp(a, "--allow") == 0) {
      if (++i >= argc) {
        cli_usage_error(cmd, "--allow needs a kind or a tag");
        goto done;
      }
      allows[n_allow++] = argv[i];
    } else if (strcmp(a, "--kept") == 0) {
      if (++i >= argc) {
        cli_usage_error(cmd, "--kept needs a tag");
        goto done;
      }
      kept[n_kept++] = argv[i];
    } else if (a[0] == '-' && a[1] != '\0') {
      cli_usage_error(cmd, "unknown option '%s'", a);
      goto done;
    } else if (against)
      outputs[n_out++] = argv[i];
    else
      originals[n_orig++] = argv[i];
  }
  if (!n_orig) {
    cli_usage_error(cmd, "name the original files or folders");
    goto done;
  }
  if (!n_out) {
    cli_usage_error(cmd, "name the de-identified files or folders after --against");
    goto done;
  }
  si_error err;
  si_error_clear(&err);
  if (si_verify_new(&opts, &job.v, &err) != SI_OK) {
    cli_print_error(cmd, &err);
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  for (size_t i = 0; i < n_allow; i++) {
    uint32_t tag;
    si_status st = si_verify_kind_valid(allows[i])   ? si_verify_allow_kind(job.v, allows[i], &err)
                   : parse_tag(allows[i], &tag) == 0 ? si_verify_allow_tag(job.v, tag, &err)
                                                     : SI_ERR_ARG;
    if (st != SI_OK) {
      cli_usage_error(cmd, "--allow: '%s' is neither a kind nor a tag", allows[i]);
      goto done;
    }
  }
  for (size_t i = 0; i < n_kept; i++) {
    uint32_t tag;
    if (parse_tag(kept[i], &tag) != 0 || si_verify_keep_tag(job.v, tag, &err) != SI_OK) {
      cli_usage_error(cmd, "--kept: '%s' is not a tag", kept[i]);
      goto done;
    }
  }
  job.errors = json_array();
  if (each_file(&job, originals, n_orig, collect_one) != 0 ||
      each_file(&job, outputs, n_out, scan_one) != 0) {
    fprintf(stderr, "sendit %s: out of memory\n", cmd);
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  if (job.json)
    print_json(&job);
  else
    print_text(&job);
  fflush(stdout);
  rc = job.hits.count || job.failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
done:
  si_verify_hits_free(&job.hits);
  si_verify_free(job.v);
  json_decref(job.errors);
  free(originals);
  free(outputs);
  free(allows);
  free(kept);
  return rc;
}
