/* `sendit start_queue` (enqueue the finished folders already present) and
 * `sendit import_dicomdir DIR` (import one folder now, for scripts). */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/pipeline.h"
#include "sendit/store.h"
#include "sendit/watch.h"

const char cmd_start_queue_usage[] =
    "Usage: sendit start_queue [--number N] [--subfolder S] [--config PATH]\n\n"
    "Queues the finished folders already in the input folder (the 'cached queue'):\n"
    "the running watcher's workers import them. Folders that already have a pending\n"
    "job are not queued twice; unfinished (NAME.tmpXXXX) folders are never touched.\n"
    "Symbolic links, files and other entries that are not folders are skipped (a\n"
    "SKIPPED line on stderr says which and why); links are never followed.\n\n"
    "  --number N     queue at most N folders\n"
    "  --subfolder S  look in <input>/S instead of <input>\n\n"
    "Exit status: 0 done, 1 failure, 2 usage.\n";

const char cmd_import_dicomdir_usage[] =
    "Usage: sendit import_dicomdir DIR [DIR...] [--config PATH]\n\n"
    "Imports each folder DIR now, in this process, as the batch named after it; the\n"
    "files move into storage (bad files into quarantine) like the watcher's imports.\n"
    "Several small folders are imported together, in shared transactions. A DIR that\n"
    "is a symbolic link, or inside sendit's storage, work area or quarantine, is\n"
    "refused.\n\n"
    "Exit status: 0 every batch is DONE (or EMPTY), 1 one has errors or failed, 2 usage.\n";

static void progress_line(void *user, int64_t done, int64_t total) {
  const char *what = user;
  fprintf(stderr, "\r%s: %" PRId64 "/%" PRId64 " files", cli_text(what), done, total);
  if (done >= total)
    fputc('\n', stderr);
  fflush(stderr);
}

int cmd_start_queue(int argc, char **argv) {
  app a;
  int rc = app_init(&a, "start_queue", &argc, argv);
  if (rc)
    return rc;
  long long limit = -1;
  const char *sub = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--number") == 0 && i + 1 < argc) {
      if (cli_parse_number(argv[++i], 0, CLI_NO_MAX, &limit) != 0) {
        app_close(&a);
        return cli_bad_number("start_queue", "--number", argv[i], 0, CLI_NO_MAX);
      }
    } else if (strcmp(argv[i], "--subfolder") == 0 && i + 1 < argc) {
      sub = argv[++i];
    } else {
      app_close(&a);
      return cli_usage_error("start_queue", "unknown option '%s'", argv[i]);
    }
  }
  if (sub && (strstr(sub, "..") || sub[0] == '/')) {
    app_close(&a);
    return cli_usage_error("start_queue", "--subfolder must be a folder below the input");
  }
  rc = app_open_db(&a, "start_queue");
  if (rc) {
    app_close(&a);
    return rc;
  }
  /* The input folder is resolved (the operator chose it); a --subfolder
   * must be a real folder in it, and its entries are never resolved. */
  char *named = sub ? si_path_join(a.cfg.input_dir, sub) : strdup(a.cfg.input_dir);
  const char *refusal = sub && named ? si_watch_entry_refusal(named) : NULL;
  if (refusal && !strcmp(refusal, "gone"))
    refusal = "no such folder";
  char *root = named && !refusal ? realpath(named, NULL) : NULL;
  DIR *d = root ? opendir(root) : NULL;
  if (!d) {
    fprintf(stderr, "sendit start_queue: cannot read %s%s%s\n", named ? named : a.cfg.input_dir,
            refusal ? ": " : "", refusal ? refusal : "");
    free(root);
    free(named);
    app_close(&a);
    return CLI_EXIT_FAILURE;
  }
  si_error err;
  si_log_open(NULL, SI_LOG_WARN, &err); /* SKIPPED lines, escaped as in the log file */
  long queued = 0, skipped = 0, pending = 0, refused = 0;
  int tty = isatty(STDERR_FILENO);
  struct dirent *de;
  rc = CLI_EXIT_OK;
  while ((de = readdir(d)) != NULL && (limit < 0 || queued < limit)) {
    if (de->d_name[0] == '.')
      continue;
    char *path = si_path_join(root, de->d_name);
    const char *why = path ? si_watch_entry_refusal(path) : NULL;
    if (!path || (why && !strcmp(why, "gone"))) {
      /* renamed or claimed while we read the folder */
    } else if (why) {
      si_log(SI_LOG_WARN, "SKIPPED %s: %s", path, why);
      refused++;
    } else if (!si_folder_is_finished(de->d_name)) {
      skipped++;
    } else {
      int created = 0;
      if (si_store_enqueue(a.db, de->d_name, path, &created, &err) != SI_OK) {
        cli_print_error("start_queue", &err);
        rc = CLI_EXIT_FAILURE;
      }
      created ? queued++ : pending++;
      if (tty)
        fprintf(stderr, "\rqueued %ld folders", queued);
    }
    free(path);
  }
  closedir(d);
  if (tty && queued)
    fputc('\n', stderr);
  printf("queued %ld folders from %s (%ld already pending, %ld unfinished left alone, %ld links or "
         "non-folders skipped)\n",
         queued, root, pending, skipped, refused);
  if (!app_running_pid(&a.cfg))
    printf("note: no watcher is running; start it with 'sendit start_watcher' to import them\n");
  free(root);
  free(named);
  app_close(&a);
  si_log_close();
  return rc;
}

/* Whether `abs` is `dir` or below it (dir resolved; absent = never). */
static int is_inside(const char *abs, const char *dir) {
  char *real = realpath(dir, NULL);
  size_t n = real ? strlen(real) : 0;
  int inside = real && !strncmp(abs, real, n) && (abs[n] == '\0' || abs[n] == '/' || n == 1);
  free(real);
  return inside;
}

/* An argument is the operator's, but often a script's glob over the input
 * (import_dicomdir over every entry of data/): it is taken only as a real folder, never
 * through a link, and never from sendit's own storage, work area or
 * quarantine, whose files it would import again and move. Returns why not,
 * or NULL with *abs set (the folder's absolute path, the caller frees). */
static const char *refuse_argument(const si_config *cfg, const char *arg, char **abs) {
  *abs = NULL;
  const char *why = si_watch_entry_refusal(arg);
  if (why)
    return strcmp(why, "gone") ? why : "not a folder";
  if ((*abs = realpath(arg, NULL)) == NULL)
    return "not a folder";
  const char *const dirs[] = {cfg->storage_dir, cfg->work_dir, cfg->quarantine_dir};
  static const char *const what[] = {"inside sendit's storage", "inside sendit's work area",
                                     "inside the quarantine (use 'sendit quarantine requeue')"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (dirs[i] && is_inside(*abs, dirs[i])) {
      free(*abs);
      *abs = NULL;
      return what[i];
    }
  return NULL;
}

int cmd_import_dicomdir(int argc, char **argv) {
  app a;
  int rc = app_init(&a, "import_dicomdir", &argc, argv);
  if (rc)
    return rc;
  if (argc < 2) {
    app_close(&a);
    return cli_usage_error("import_dicomdir", "expected one folder or more");
  }
  size_t n = (size_t)argc - 1;
  char **abs = calloc(n, sizeof *abs);
  si_import_item *items = calloc(n, sizeof *items);
  si_import_result *results = calloc(n, sizeof *results);
  if (!abs || !items || !results) {
    fprintf(stderr, "sendit import_dicomdir: out of memory\n");
    rc = CLI_EXIT_FAILURE;
  }
  for (size_t i = 0; rc == CLI_EXIT_OK && i < n; i++) {
    const char *why = refuse_argument(&a.cfg, argv[i + 1], &abs[i]);
    if (why) {
      fprintf(stderr, "sendit import_dicomdir: %s is %s: not imported\n", cli_text(argv[i + 1]),
              why);
      rc = CLI_EXIT_FAILURE;
      break;
    }
    const char *base = strrchr(abs[i], '/');
    base = base && base[1] ? base + 1 : abs[i];
    items[i] = (si_import_item){abs[i], base, -1, &results[i]};
    for (size_t k = 0; k < i; k++)
      if (!strcmp(items[k].batch_uid, base)) {
        fprintf(stderr,
                "sendit import_dicomdir: %s and %s would both be batch %s: import them one "
                "after the other\n",
                cli_text(items[k].folder), cli_text(abs[i]), cli_text(base));
        rc = CLI_EXIT_USAGE;
      }
  }
  si_error err;
  if (rc == CLI_EXIT_OK) {
    si_log_open(NULL, SI_LOG_WARN, &err);
    rc = app_open_db(&a, "import_dicomdir");
  }
  if (rc == CLI_EXIT_OK && si_mkdir_p(a.cfg.storage_dir, &err) != SI_OK) {
    cli_print_error("import_dicomdir", &err);
    rc = CLI_EXIT_FAILURE;
  }
  if (rc == CLI_EXIT_OK) {
    si_import_context ctx = {.cfg = &a.cfg, .db = a.db, .worker = "import_dicomdir", .job_id = -1};
    if (isatty(STDERR_FILENO) && n == 1) {
      ctx.progress = progress_line;
      ctx.progress_user = (void *)items[0].batch_uid;
    }
    if (si_import_folders(&ctx, items, n, &err) != SI_OK) {
      cli_print_error("import_dicomdir", &err);
      rc = CLI_EXIT_FAILURE;
    }
    for (size_t i = 0; rc == CLI_EXIT_OK && i < n; i++) {
      const si_import_result *res = &results[i];
      printf("batch %s: %s, %" PRId64 " images imported, %" PRId64 " quarantined, %" PRId64
             " skipped, %" PRId64 " duplicates ignored, %.3f s\n",
             cli_text(items[i].batch_uid), res->batch.status, res->imported, res->quarantined,
             res->skipped, res->duplicates_ignored, (double)res->batch.elapsed_ms / 1000.0);
    }
    for (size_t i = 0; rc == CLI_EXIT_OK && i < n; i++)
      if (results[i].fatal || results[i].batch.has_error)
        rc = CLI_EXIT_FAILURE;
  }
  for (size_t i = 0; abs && i < n; i++)
    free(abs[i]);
  free(abs);
  free(items);
  free(results);
  app_close(&a);
  si_log_close();
  return rc;
}
