/* `sendit send`: C-STORE of files and folders to a DICOM peer (like
 * DCMTK's storescu). The protocol and the choice of transfer syntax are the
 * library's (si_net_send); this file walks the arguments and reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "net_cli.h"
#include "progress.h"
#include "sendit/fs.h"

const char cmd_send_usage[] =
    "Usage: sendit send [--aet AE] [--aec AE] [--timeout S] [--max-pdu N] [-q]\n"
    "                   [--no-progress]\n"
    "                   [--tls [--tls-ca F] [--tls-cert F --tls-key F] [--tls-no-verify]]\n"
    "                   [--user NAME [--password-file F]]\n"
    "                   HOST PORT FILE|DIR...\n"
    "\n"
    "Sends DICOM files to the peer at HOST PORT with C-STORE: each FILE, and every\n"
    "regular file below each DIR (sorted by path). Each SOP class is proposed with\n"
    "the file's transfer syntax plus Explicit and Implicit VR Little Endian; when the\n"
    "peer accepts only another uncompressed syntax the file is converted on the way\n"
    "(the data set is re-encoded; the file is untouched); a compressed file whose\n"
    "syntax the peer refuses fails with the reason. Data sets are cut to the peer's\n"
    "maximum PDU.\n"
    "\n"
    "Options:\n"
    "  --aet AE        our (calling) AE title; default SENDIT\n"
    "  --aec AE        the peer's (called) AE title; default ANY-SCP\n"
    "  --timeout S     seconds for connecting, the association and each answer\n"
    "                  (default 30 / 30 / 60)\n"
    "  --max-pdu N     largest PDU we receive, 4096-16777216 (default "
    "262144)\n" NET_CLI_SECURITY_HELP
    "  -q, --quiet     print only failures and the summary (and no progress bar)\n"
    "  --no-progress   no progress bar (one is drawn on stderr when it is a terminal)\n"
    "  --help          show this help\n"
    "\n"
    "One line per file: its status (0000 success, the warning codes, failures with\n"
    "the peer's error comment) and the transfer syntax sent; a summary at the end.\n"
    "Exit status: 0 when every file was stored (success or warning), 1 when some\n"
    "file failed, 2 for a bad command line.\n";

typedef struct send_report {
  int quiet;
  size_t ok, warned, failed;
  progress bar;
  const uint64_t *sizes; /* of each path, in order: results come in that order */
  size_t next;
} send_report;

static void report_line(send_report *rep, const si_net_send_result *r);

static void on_result(void *user, const si_net_send_result *r) {
  send_report *rep = user;
  progress_clear(&rep->bar);
  report_line(rep, r);
  progress_step(&rep->bar, rep->sizes ? rep->sizes[rep->next] : 0);
  rep->next++;
}

static void report_line(send_report *rep, const si_net_send_result *r) {
  char buf[1200];
  if (r->sent) {
    si_net_status_class c = si_net_status_classify(r->status);
    if (c == SI_NET_SUCCESS)
      rep->ok++;
    else if (c == SI_NET_WARNING)
      rep->warned++;
    else
      rep->failed++;
    if (c != SI_NET_SUCCESS || !rep->quiet) {
      FILE *out = c == SI_NET_FAILURE ? stderr : stdout;
      fflush(stdout);
      fprintf(out, "%s %s: 0x%04x %s (%s)%s%s\n", c == SI_NET_FAILURE ? "FAILED" : "stored",
              cli_text(r->path), r->status, si_net_status_text(r->status), r->ts_sent,
              r->err ? ": " : "", r->err ? cli_text(r->err->message) : "");
      fflush(out);
    }
    return;
  }
  rep->failed++;
  fflush(stdout);
  fprintf(stderr, "FAILED %s: %s\n", cli_text(r->path),
          r->err ? cli_text(si_error_format(r->err, buf, sizeof buf)) : "not sent");
}

static int add_path(char ***list, size_t *n, const char *p) {
  char **g = realloc(*list, (*n + 1) * sizeof *g);
  if (!g)
    return -1;
  *list = g;
  if (!(g[*n] = strdup(p)))
    return -1;
  (*n)++;
  return 0;
}

int cmd_send(int argc, char **argv) {
  si_net_peer peer = {0};
  si_net_timeouts_init(&peer.timeouts);
  send_report rep = {0};
  const char *host = NULL, *port = NULL;
  char **paths = NULL;
  size_t count = 0;
  int status = CLI_EXIT_OK, only_files = 0, no_progress = 0;
  uint64_t *sizes = NULL, bytes = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!only_files) {
      int r = net_cli_option("send", argc, argv, &i, &peer);
      if (r == CLI_EXIT_USAGE) {
        status = r;
        goto out;
      }
      if (r)
        continue;
      if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
        rep.quiet = 1;
        continue;
      }
      if (strcmp(a, "--no-progress") == 0) {
        no_progress = 1;
        continue;
      }
      if (strcmp(a, "--") == 0) {
        only_files = 1;
        continue;
      }
      if (a[0] == '-' && a[1]) {
        status = cli_usage_error("send", "unknown option '%s'", cli_text(a));
        goto out;
      }
    }
    if (!host) {
      host = a;
      continue;
    }
    if (!port) {
      port = a;
      continue;
    }
    struct stat sb;
    if (stat(a, &sb) == 0 && S_ISDIR(sb.st_mode)) {
      si_file_list list;
      si_error err;
      if (si_list_files(a, &list, &err) != SI_OK) {
        cli_print_error("send", &err);
        rep.failed++;
        continue;
      }
      for (size_t k = 0; k < list.count; k++)
        if (add_path(&paths, &count, list.items[k].path) < 0) {
          si_file_list_free(&list);
          status = cli_usage_error("send", "out of memory");
          goto out;
        }
      si_file_list_free(&list);
    } else if (add_path(&paths, &count, a) < 0) {
      status = cli_usage_error("send", "out of memory");
      goto out;
    }
  }
  if (!host || !port || (count == 0 && rep.failed == 0)) {
    status = cli_usage_error("send", "HOST, PORT and at least one FILE or DIR are needed");
    goto out;
  }
  if (net_cli_finish("send", &peer) != 0) {
    status = CLI_EXIT_USAGE;
    goto out;
  }
  peer.host = host;
  peer.port = port;
  /* The bar counts bytes too; a file that cannot be looked at counts 0
   * (si_net_send reports it). */
  if ((sizes = calloc(count, sizeof *sizes)) != NULL)
    for (size_t k = 0; k < count; k++) {
      struct stat sb;
      if (stat(paths[k], &sb) == 0 && S_ISREG(sb.st_mode))
        bytes += (sizes[k] = (uint64_t)sb.st_size);
    }
  rep.sizes = sizes;
  progress_init(&rep.bar, !rep.quiet && !no_progress, count, bytes);
  si_error err;
  size_t failed = 0;
  si_status st =
      si_net_send(&peer, (const char *const *)paths, count, on_result, &rep, &failed, &err);
  progress_end(&rep.bar);
  if (st != SI_OK && failed == 0)
    cli_print_error("send", &err);
  printf("%zu sent: %zu stored, %zu with a warning, %zu failed\n", count, rep.ok, rep.warned,
         rep.failed);
  status = (st != SI_OK || rep.failed) ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
out:
  net_cli_forget();
  free(sizes);
  for (size_t k = 0; k < count; k++)
    free(paths[k]);
  free(paths);
  return status;
}
