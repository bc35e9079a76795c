/* `sendit modify`: edits DICOM files and writes them again, like DCMTK's
 * dcmodify. The editing and writing live in the library (sendit/edit.h,
 * sendit/write.h); this file parses options and walks the files. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "sendit/dicom.h"
#include "sendit/edit.h"
#include "sendit/tsyntax.h"
#include "sendit/write.h"

const char cmd_modify_usage[] =
    "Usage: sendit modify [--set TAG=VALUE]... [--insert TAG=VALUE]... [--erase TAG]...\n"
    "                     [--erase-private] [--transfer-syntax implicit|explicit|big|deflated]\n"
    "                     (--out DIR | --in-place) FILE|DIR...\n"
    "\n"
    "Edits DICOM files and writes them again, as Part 10 files with a regenerated\n"
    "file meta group. Edits apply in the order given.\n"
    "\n"
    "TAG is a keyword (PatientName), (gggg,eeee) or gggg,eeee, a private tag by\n"
    "its creator (0009,\"GEMS_IDEN_01\",01), or a path into sequence items:\n"
    "RequestAttributesSequence[0].AccessionNumber, with [*] for every item.\n"
    "\n"
    "Options:\n"
    "  --set TAG=VALUE, -m    change an existing element; a file without it fails\n"
    "                         (dcmodify -m)\n"
    "  --insert TAG=VALUE, -i set the element, creating it (and the sequences,\n"
    "                         items and private block on its path) when absent\n"
    "  --erase TAG, -e        remove the element(s), or the item(s) when TAG ends\n"
    "                         in [N] or [*]; a file without it fails (dcmodify -e)\n"
    "  --erase-private, -ep   remove every private element, in items too\n"
    "  --erase-group GGGG     remove every element of the groups matching GGGG,\n"
    "                         where x matches any hex digit (60xx, 50xx)\n"
    "  --transfer-syntax TS   write as implicit (Implicit VR Little Endian),\n"
    "                         explicit (Explicit VR Little Endian), big (Explicit\n"
    "                         VR Big Endian) or deflated (Deflated Explicit VR LE);\n"
    "                         default: the file's own. Compressed pixel data\n"
    "                         cannot be converted (the file fails)\n"
    "  --out DIR              write the results under DIR (created when missing):\n"
    "                         FILE as DIR/NAME, a DIR argument's files at their\n"
    "                         path relative to it\n"
    "  --in-place             replace each file with its result\n"
    "  -q, --quiet            print only errors\n"
    "  --help                 show this help\n"
    "\n"
    "Values are UTF-8 text, checked against the element's VR (length,\n"
    "characters, numbers); non-ASCII text makes the data set UTF-8 (ISO_IR 192).\n"
    "Each result is written to a temporary name beside its target, fsynced and\n"
    "renamed, so a failure never leaves a partial file. Per file one line tells\n"
    "what changed; a file that cannot be read, edited or written is reported\n"
    "with the reason on standard error and left untouched.\n"
    "\n"
    "Exit status: 0 when every file was written, 1 when some file failed, 2 for a\n"
    "bad command line.\n";

typedef enum edit_kind { EDIT_SET, EDIT_INSERT, EDIT_ERASE, EDIT_PRIVATE, EDIT_GROUP } edit_kind;

typedef struct edit {
  edit_kind kind;
  char *path;        /* TAG (owned copy, '=' cut off) */
  const char *value; /* points into argv */
} edit;

typedef struct modify_job {
  edit *edits;
  size_t count;
  const char *out_dir;
  int in_place, quiet;
  int have_out_id; /* --out exists: its device/inode, never walked as input */
  dev_t out_dev;
  ino_t out_ino;
  const char *ts_uid;
  size_t failed, written;
} modify_job;

static const char *const kind_names[] = {"set", "insert", "erase", "erase-private", "erase-group"};

/* Long options and dcmodify's letters, with the kind they add. */
/* tag: the edit_kind an option adds, or -1 for the others. */
static const cli_option options[] = {
    {"--set", 1, EDIT_SET},
    {"-m", 1, EDIT_SET},
    {"--insert", 1, EDIT_INSERT},
    {"-i", 1, EDIT_INSERT},
    {"--erase", 1, EDIT_ERASE},
    {"-e", 1, EDIT_ERASE},
    {"--erase-private", 0, EDIT_PRIVATE},
    {"-ep", 0, EDIT_PRIVATE},
    {"--erase-group", 1, EDIT_GROUP},
    {"--transfer-syntax", 1, -1},
    {"--out", 1, -1},
    {"--in-place", 0, -1},
    {"-q", 0, -1},
    {"--quiet", 0, -1},
};

static int add_edit(modify_job *job, edit_kind kind, const char *arg) {
  edit *grown = realloc(job->edits, (job->count + 1) * sizeof *grown);
  if (!grown)
    return cli_usage_error("modify", "out of memory");
  job->edits = grown;
  edit *e = &job->edits[job->count];
  *e = (edit){kind, NULL, NULL};
  si_error err;
  if (kind == EDIT_SET || kind == EDIT_INSERT) {
    const char *eq = strchr(arg, '=');
    /* A creator in quotes may hold '=': the value starts after the tag. */
    const char *quote = strchr(arg, '"');
    if (quote && eq && quote < eq) {
      const char *close = strchr(quote + 1, '"');
      eq = close ? strchr(close, '=') : NULL;
    }
    if (!eq)
      return cli_usage_error("modify", "--%s needs TAG=VALUE, not '%s'", kind_names[kind], arg);
    e->path = strndup(arg, (size_t)(eq - arg));
    e->value = eq + 1;
  } else if (kind != EDIT_PRIVATE) {
    e->path = strdup(arg);
  }
  if (kind != EDIT_PRIVATE && !e->path)
    return cli_usage_error("modify", "out of memory");
  job->count++;
  if (kind == EDIT_GROUP) {
    si_file *probe;
    if (si_file_new(&probe, &err) != SI_OK)
      return cli_usage_error("modify", "out of memory");
    si_status st = si_edit_erase_groups(probe, arg, NULL, &err);
    si_file_free(probe);
    if (st != SI_OK)
      return cli_usage_error("modify", "%s", err.message);
  } else if (kind != EDIT_PRIVATE && si_edit_check_path(e->path, &err) != SI_OK) {
    return cli_usage_error("modify", "%s", err.message);
  }
  return 0;
}

static int parse_args(modify_job *job, int argc, char **argv, int *first_file) {
  int i = 1;
  for (;;) {
    const char *arg;
    int k = cli_next_option("modify", options, sizeof options / sizeof options[0], argc, argv, &i,
                            &arg);
    if (k == CLI_OPTIONS_END)
      break;
    if (k == CLI_OPTIONS_BAD)
      return CLI_EXIT_USAGE;
    const char *name = options[k].name;
    int rc = 0;
    if (options[k].tag >= 0) {
      rc = add_edit(job, (edit_kind)options[k].tag, arg ? arg : "");
    } else if (strcmp(name, "--transfer-syntax") == 0) {
      const si_transfer_syntax *ts = si_ts_by_name(arg);
      if (!ts)
        return cli_usage_error("modify",
                               "--transfer-syntax is implicit, explicit, big or deflated, not "
                               "'%s'",
                               arg);
      job->ts_uid = ts->uid;
    } else if (strcmp(name, "--out") == 0) {
      job->out_dir = arg;
    } else if (strcmp(name, "--in-place") == 0) {
      job->in_place = 1;
    } else {
      job->quiet = 1;
    }
    if (rc)
      return rc;
  }
  if (!job->out_dir == !job->in_place)
    return cli_usage_error("modify", "give exactly one of --out DIR and --in-place");
  if (i >= argc)
    return cli_usage_error("modify", "no FILE or DIR given");
  *first_file = i;
  return 0;
}

/* mkdir -p for the folders above a result. */
static int make_parents(const char *file_path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", file_path) >= (int)sizeof buf)
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

static void report_failure(modify_job *job, const char *path, si_error *err) {
  if (!err->file[0])
    snprintf(err->file, sizeof err->file, "%s", path);
  cli_print_error("modify", err);
  job->failed++;
}

/* Applies the edits; appends what changed to `changes`. */
static si_status apply_edits(modify_job *job, si_file *f, char *changes, size_t size,
                             si_error *err) {
  size_t used = 0;
  changes[0] = 0;
  for (size_t i = 0; i < job->count; i++) {
    const edit *e = &job->edits[i];
    size_t n = 0;
    si_status st;
    switch (e->kind) {
    case EDIT_SET:
      st = si_edit_set(f, e->path, e->value, 0, &n, err);
      break;
    case EDIT_INSERT:
      st = si_edit_set(f, e->path, e->value, SI_EDIT_CREATE, &n, err);
      break;
    case EDIT_ERASE:
      st = si_edit_erase(f, e->path, &n, err);
      break;
    case EDIT_PRIVATE:
      st = si_edit_erase_private(f, &n, err);
      break;
    default:
      st = si_edit_erase_groups(f, e->path, &n, err);
      break;
    }
    if (st != SI_OK) {
      /* Say which edit failed: the library's message names the element. */
      char msg[sizeof err->message];
      snprintf(msg, sizeof msg, "--%s %s: %s", kind_names[e->kind], e->path ? e->path : "",
               err->message);
      memcpy(err->message, msg, sizeof msg);
      return st;
    }
    int w = snprintf(changes + used, size - used, "%s%s%s%s (%zu)", used ? "; " : "",
                     kind_names[e->kind], e->path ? " " : "", e->path ? e->path : "", n);
    if (w > 0 && (size_t)w < size - used)
      used += (size_t)w;
  }
  return SI_OK;
}

static void modify_one(modify_job *job, const char *in, const char *out) {
  si_read_options ro;
  si_read_options_init(&ro);
  /* Values over 64 KiB (pixel data above all) stay in the file and are
   * copied from it: memory stays small whatever the file's size. */
  ro.leave_in_file = 65536;
  si_error err;
  si_file *f;
  if (si_read_file(in, &ro, &f, &err) != SI_OK) {
    report_failure(job, in, &err);
    return;
  }
  char changes[2048];
  const char *from_ts = si_file_get_info(f)->transfer_syntax;
  si_status st = apply_edits(job, f, changes, sizeof changes, &err);
  si_write_options wo;
  si_write_options_init(&wo);
  wo.transfer_syntax = job->ts_uid;
  if (st == SI_OK && !job->in_place && make_parents(out) != 0)
    st = si_error_set(&err, SI_ERR_IO, out, SI_NO_OFFSET, SI_NO_TAG,
                      "cannot create the output folder: %s", strerror(errno));
  if (st == SI_OK && (st = si_write_part10_file(f, out, &wo, &err)) != SI_OK &&
      strcmp(err.file, in) != 0) {
    /* The error names the output: say which input it was for. */
    size_t n = strlen(err.message);
    snprintf(err.message + n, sizeof err.message - n, " (from %s, left untouched)", in);
  }
  if (st != SI_OK) {
    report_failure(job, in, &err);
    si_file_free(f);
    return;
  }
  job->written++;
  if (!job->quiet) {
    const si_transfer_syntax *ts = si_ts_by_uid(job->ts_uid ? job->ts_uid : from_ts);
    printf("%s -> %s: %s%s%s%s\n", cli_text(in), cli_text(out), changes,
           changes[0] && job->ts_uid ? "; " : "", job->ts_uid ? "as " : "",
           job->ts_uid  ? (ts ? ts->name : job->ts_uid)
           : changes[0] ? ""
                        : "rewritten");
  }
  si_file_free(f);
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

/* Every regular file under dir (symbolic links are not followed: input must
 * not lead out of its folder); rel is the path below the argument. */
static void walk_dir(modify_job *job, const char *dir, const char *rel) {
  DIR *d = opendir(dir);
  if (!d) {
    si_error err;
    si_error_set(&err, SI_ERR_IO, dir, SI_NO_OFFSET, SI_NO_TAG, "cannot open folder: %s",
                 strerror(errno));
    report_failure(job, dir, &err);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    /* Temporary files of a writer that was interrupted are not input. */
    if (e->d_name[0] == '.' && strstr(e->d_name, ".sendit-tmp-"))
      continue;
    char *path = join(dir, e->d_name);
    char *sub = rel[0] ? join(rel, e->d_name) : strdup(e->d_name);
    struct stat st;
    if (!path || !sub) {
      job->failed++;
    } else if (lstat(path, &st) != 0) {
      si_error err;
      si_error_set(&err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot stat: %s",
                   strerror(errno));
      report_failure(job, path, &err);
    } else if (S_ISDIR(st.st_mode)) {
      /* --out inside an input folder: its results are not input again. */
      if (!(job->have_out_id && st.st_dev == job->out_dev && st.st_ino == job->out_ino))
        walk_dir(job, path, sub);
    } else if (S_ISREG(st.st_mode)) {
      char *out = job->in_place ? strdup(path) : join(job->out_dir, sub);
      if (out)
        modify_one(job, path, out);
      else
        job->failed++;
      free(out);
    }
    free(path);
    free(sub);
  }
  closedir(d);
}

static void modify_arg(modify_job *job, const char *arg) {
  struct stat st;
  if (stat(arg, &st) != 0) {
    si_error err;
    si_error_set(&err, SI_ERR_IO, arg, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s", strerror(errno));
    report_failure(job, arg, &err);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    walk_dir(job, arg, "");
    return;
  }
  const char *base = strrchr(arg, '/');
  base = base ? base + 1 : arg;
  char *out = job->in_place ? strdup(arg) : join(job->out_dir, base);
  if (!out) {
    job->failed++;
    return;
  }
  modify_one(job, arg, out);
  free(out);
}

int cmd_modify(int argc, char **argv) {
  modify_job job = {0};
  int first = 0;
  int rc = parse_args(&job, argc, argv, &first);
  if (rc == 0 && job.out_dir) {
    char probe[4096];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/x", job.out_dir);
    if (make_parents(probe) == 0 && stat(job.out_dir, &st) == 0) {
      job.have_out_id = 1;
      job.out_dev = st.st_dev;
      job.out_ino = st.st_ino;
    }
  }
  if (rc == 0) {
    for (int i = first; i < argc; i++)
      modify_arg(&job, argv[i]);
    fflush(stdout);
    rc = job.failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
  }
  for (size_t i = 0; i < job.count; i++)
    free(job.edits[i].path);
  free(job.edits);
  return rc;
}
