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

const char cmd_start_queue_usage[] =
    "Usage: sendit start_queue [--number N] [--subfolder S] [--config PATH]\n\n"
    "Queues the finished folders already in the input folder (the 'cached queue'):\n"
    "the running watcher's workers import them. Folders that already have a pending\n"
    "job are not queued twice; unfinished (NAME.tmpXXXX) folders are never touched.\n\n"
    "  --number N     queue at most N folders\n"
    "  --subfolder S  look in <input>/S instead of <input>\n\n"
    "Exit status: 0 done, 1 failure, 2 usage.\n";

const char cmd_import_dicomdir_usage[] =
    "Usage: sendit import_dicomdir DIR [DIR...] [--config PATH]\n\n"
    "Imports each folder DIR now, in this process, as the batch named after it; the\n"
    "files move into storage (bad files into quarantine) like the watcher's imports.\n"
    "Several small folders are imported together, in shared transactions.\n\n"
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
  char *root = sub ? si_path_join(a.cfg.input_dir, sub) : strdup(a.cfg.input_dir);
  DIR *d = root ? opendir(root) : NULL;
  if (!d) {
    fprintf(stderr, "sendit start_queue: cannot read %s\n", root ? root : a.cfg.input_dir);
    free(root);
    app_close(&a);
    return CLI_EXIT_FAILURE;
  }
  long queued = 0, skipped = 0, pending = 0;
  int tty = isatty(STDERR_FILENO);
  struct dirent *de;
  rc = CLI_EXIT_OK;
  while ((de = readdir(d)) != NULL && (limit < 0 || queued < limit)) {
    char *path = si_path_join(root, de->d_name);
    char *abs = path ? realpath(path, NULL) : NULL;
    struct stat st;
    if (abs && de->d_name[0] != '.' && stat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
      if (!si_folder_is_finished(de->d_name)) {
        skipped++;
      } else {
        si_error err;
        int created = 0;
        if (si_store_enqueue(a.db, de->d_name, abs, &created, &err) != SI_OK) {
          cli_print_error("start_queue", &err);
          rc = CLI_EXIT_FAILURE;
        }
        created ? queued++ : pending++;
        if (tty)
          fprintf(stderr, "\rqueued %ld folders", queued);
      }
    }
    free(abs);
    free(path);
  }
  closedir(d);
  if (tty && queued)
    fputc('\n', stderr);
  printf("queued %ld folders from %s (%ld already pending, %ld unfinished left alone)\n", queued,
         root, pending, skipped);
  if (!app_running_pid(&a.cfg))
    printf("note: no watcher is running; start it with 'sendit start_watcher' to import them\n");
  free(root);
  app_close(&a);
  return rc;
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
    struct stat st;
    if (stat(argv[i + 1], &st) != 0 || !S_ISDIR(st.st_mode) ||
        (abs[i] = realpath(argv[i + 1], NULL)) == NULL) {
      fprintf(stderr, "sendit import_dicomdir: %s is not a folder\n", cli_text(argv[i + 1]));
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
