/* Entry of the `sendit` program: finds the subcommand in one table and hands
 * it the rest of the command line. Adding a command is one row below plus its
 * cmd_*.c file. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "cmd_cleanup.h"
#include "cmd_password.h"
#include "manpage.h"
#include "ops.h"
#include "worker.h"

#ifndef SENDIT_VERSION
#define SENDIT_VERSION "0.1.0"
#endif

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_manpage(int argc, char **argv);

/* What sendit is, for the overview and the man page's NAME. */
static const char about[] = "receives DICOM studies and sends them on";

static const char cmd_manpage_usage[] =
    "Usage: sendit manpage 1|5 [--date DATE]\n"
    "\n"
    "Prints the man page sendit(1) (1) or sendit.ini(5) (5) in man(7) roff, made\n"
    "from the program's command and configuration tables; DATE goes on the title\n"
    "line (the build gives a fixed one, so the pages are reproducible).\n";

/* Rows without a summary are aliases, accepted but not listed. */
static const cli_command commands[] = {
    {"start_watcher", cmd_start_watcher, "start the daemon that watches the input and imports",
     cmd_start_watcher_usage, 0},
    {"stop_watcher", cmd_stop_watcher, "stop the daemon (running imports stop safely)",
     cmd_stop_watcher_usage, 0},
    {"start_queue", cmd_start_queue, "queue the finished folders already in the input",
     cmd_start_queue_usage, 0},
    {"worker", cmd_worker, "run only import workers (scale out: any number, any host)",
     cmd_worker_usage, 0},
    {"import_dicomdir", cmd_import_dicomdir, "import folders now, in this process",
     cmd_import_dicomdir_usage, 0},
    {"status", cmd_status, "watcher state, queue depth and batch counts", cmd_status_usage, 0},
    {"config", cmd_config, "print the effective configuration", cmd_config_usage, 0},
    {"batches", cmd_batches, "list batches, optionally by status", cmd_batches_usage, 0},
    {"batch", cmd_batch, "show one batch, or retry a failed one", cmd_batch_usage, 0},
    {"batch_logs", cmd_batch_logs, "print the log of one batch", cmd_batch_logs_usage, 0},
    {"destinations", cmd_destinations, "delivery: each destination's breaker, queue and counts",
     cmd_destinations_usage, 0},
    {"export_metrics", cmd_export_metrics, "per-batch metrics as CSV or JSON",
     cmd_export_metrics_usage, 0},
    {"summary_metrics", cmd_summary_metrics, "totals and timing over all batches",
     cmd_summary_metrics_usage, 0},
    {"quarantine", cmd_quarantine, "list quarantined files, or requeue them", cmd_quarantine_usage,
     0},
    {"set_password", cmd_set_password, "set the web password (or make a new API token)",
     cmd_set_password_usage, 0},
    {"dump", cmd_dump, "print the elements of DICOM files, as text or DICOM JSON", cmd_dump_usage,
     0},
    {"modify", cmd_modify, "edit DICOM files and write them again (like dcmodify)",
     cmd_modify_usage, 0},
    {"echo", cmd_echo, "send a C-ECHO to a DICOM peer (like echoscu)", cmd_echo_usage, 0},
    {"send", cmd_send, "send DICOM files to a peer with C-STORE (like storescu)", cmd_send_usage,
     0},
    {"listen", cmd_listen, "receive DICOM instances into the input folder (a storage SCP)",
     cmd_listen_usage, 0},
    {"deid", cmd_deid, "de-identify DICOM files; verify them; export the pseudonyms",
     cmd_deid_usage, 1},
    {"cleanup", cmd_cleanup, "remove the confirmed batches' files now, or list them (--dry-run)",
     cmd_cleanup_usage, 0},
    {"help", cmd_help, "list the commands, or show one command's usage",
     "Usage: sendit help [COMMAND]\n", 1},
    {"--help", cmd_help, NULL, NULL, 1},
    {"-h", cmd_help, NULL, NULL, 1},
    {"--version", cmd_version, "print the version", NULL, 0},
    {"manpage", cmd_manpage, NULL, cmd_manpage_usage, 0},
};

static const size_t command_count = sizeof commands / sizeof commands[0];

static const cli_command *find_command(const char *name) {
  for (size_t i = 0; i < command_count; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static void print_overview(FILE *out) {
  fprintf(out, "Usage: sendit COMMAND [ARGS...]\n\nsendit %s.\n\nCommands:\n", about);
  int width = 0;
  for (size_t i = 0; i < command_count; i++)
    if (commands[i].summary && (int)strlen(commands[i].name) > width)
      width = (int)strlen(commands[i].name);
  for (size_t i = 0; i < command_count; i++)
    if (commands[i].summary)
      fprintf(out, "  %-*s  %s\n", width, commands[i].name, commands[i].summary);
  fputs("\nRun 'sendit COMMAND --help' for the options of a command.\n", out);
}

static void print_usage(const cli_command *c) {
  if (c->usage)
    fputs(c->usage, stdout);
  else
    printf("Usage: sendit %s\n\n%s\n", c->name, c->summary ? c->summary : "");
}

static int cmd_help(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[0], "help") != 0) {
    print_overview(stdout);
    return CLI_EXIT_OK;
  }
  const cli_command *c = find_command(argv[1]);
  if (!c)
    return cli_usage_error("help", "unknown command '%s'", argv[1]);
  if (c->summary)
    print_usage(c);
  else
    print_overview(stdout);
  return CLI_EXIT_OK;
}

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("sendit %s\n", SENDIT_VERSION);
  return CLI_EXIT_OK;
}

/* `sendit manpage 1|5 [--date DATE]` (manpage.c, manpage_ini.c). */
static int cmd_manpage(int argc, char **argv) {
  const char *date = "";
  if (argc == 4 && strcmp(argv[2], "--date") == 0)
    date = argv[3];
  else if (argc != 2)
    return cli_usage_error("manpage", "expected 1 or 5, then optionally --date DATE");
  if (strchr(date, '"') || strchr(date, '\\') || strchr(date, '\n'))
    return cli_usage_error("manpage", "--date: no quotes, backslashes or newlines");
  man_info info = {SENDIT_VERSION, date, about};
  int rc;
  if (strcmp(argv[1], "1") == 0)
    rc = manpage_write_1(stdout, &info, commands, command_count);
  else if (strcmp(argv[1], "5") == 0)
    rc = manpage_write_5(stdout, &info);
  else
    return cli_usage_error("manpage", "unknown page '%s' (1 or 5)", cli_text(argv[1]));
  if (fflush(stdout) != 0 || rc != 0) {
    perror("sendit manpage: writing the page");
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_overview(stderr);
    return CLI_EXIT_USAGE;
  }
  const cli_command *c = find_command(argv[1]);
  if (!c) {
    fprintf(stderr, "sendit: unknown command '%s'\nRun 'sendit --help' for the list.\n",
            cli_text(argv[1]));
    return CLI_EXIT_USAGE;
  }
  if (!c->own_help && cli_wants_help(argc - 1, argv + 1)) {
    print_usage(c);
    return CLI_EXIT_OK;
  }
  return c->run(argc - 1, argv + 1);
}
