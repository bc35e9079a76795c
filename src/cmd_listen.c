/* `sendit listen`: the storage SCP in the foreground (si_net_scp_run);
 * what the daemon's [dicom] listen will run as one of its services. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "net_cli.h"
#include "sendit/log.h"

const char cmd_listen_usage[] =
    "Usage: sendit listen [--host H] [--port P] [--aet AE] [--allow AE[@ADDR]]...\n"
    "                     [--max-associations N] [--timeout S] [--idle-timeout S]\n"
    "                     [--max-pdu N] [--tls-cert F --tls-key F [--tls-ca F]\n"
    "                     [--tls-no-verify]] [--users-file F] DIR\n"
    "\n"
    "Receives DICOM instances (C-STORE, and C-ECHO) until SIGTERM or SIGINT, and\n"
    "writes them into DIR by the sender protocol, for the watcher to import: each\n"
    "instance as a Part 10 file DIR/<study>.tmp<id>/<SOPInstanceUID>.dcm (study =\n"
    "AccessionNumber, else StudyInstanceUID; names sanitised), with\n"
    "SourceApplicationEntityTitle = the calling AE, fsynced before the answer 0000;\n"
    "each study folder renamed to DIR/<study> when its association ends. Every\n"
    "storage SOP class of the dictionary is accepted in every transfer syntax sendit\n"
    "knows, stored as sent (no transcoding).\n"
    "\n"
    "Options:\n"
    "  --host H              address to listen on (default: every address, IPv6 and IPv4)\n"
    "  --port P              TCP port (default 11112; 0 = any, printed)\n"
    "  --aet AE              the AE title answered (default SENDIT); another called\n"
    "                        AE title is rejected\n"
    "  --allow AE[@ADDR]     a calling AE title allowed (repeat), with @ADDR only from\n"
    "                        that IPv4 or IPv6 address; when given, others are rejected\n"
    "  --max-associations N  concurrent associations (default 16); more are rejected\n"
    "                        (transient, local limit)\n"
    "  --timeout S           seconds for an association request, a release and the\n"
    "                        rest of a PDU once begun (default 30)\n"
    "  --idle-timeout S      seconds an association may send nothing (default 300)\n"
    "  --max-pdu N           largest PDU we receive, 4096-16777216 (default 262144)\n"
    "  --tls-cert F          TLS (1.2 or later) with this certificate (PEM); every\n"
    "  --tls-key F           association must be TLS; F: its private key (PEM)\n"
    "  --tls-ca F            CA certificates (PEM): clients must present a\n"
    "                        certificate they sign\n"
    "  --tls-no-verify       with --tls-ca: do not ask clients for certificates\n"
    "  --users-file F        require user identity: username:hash lines (sendit\n"
    "                        set_password --dicom-user NAME); others are rejected\n"
    "  --help                show this help\n"
    "\n"
    "Logs one line per association on stderr. Exit status: 0 after a signal, 1 when\n"
    "it cannot listen, 2 for a bad command line.\n";

/* Lock-free, so the handler may store to it; the association threads poll it. */
#if ATOMIC_INT_LOCK_FREE != 2
#error "atomic_int must be lock-free to be set from a signal handler"
#endif
static atomic_int stop_flag;
static void on_signal(int sig) {
  (void)sig;
  atomic_store(&stop_flag, 1);
}

static void log_line(void *user, si_net_log_level level, const char *msg) {
  (void)user;
  static const char *const names[] = {"INFO", "WARN", "ERROR"};
  time_t now = time(NULL);
  struct tm tm;
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
  /* Association threads log at once: a copy of their own, not cli_text's
   * shared slots. */
  char *text = strdup(msg ? msg : "");
  if (text)
    si_log_sanitize(text, strlen(text));
  fprintf(stderr, "%s %s %s\n", when, names[level], text ? text : "(out of memory)");
  free(text);
}

static void on_ready(void *user, int port) {
  (void)user;
  printf("listening on port %d\n", port);
  fflush(stdout);
}

int cmd_listen(int argc, char **argv) {
  si_net_scp_options o = {0};
  si_net_timeouts_init(&o.timeouts);
  o.port = "11112";
  const char **allow = NULL;
  size_t allow_count = 0;
  const char *dir = NULL;
  int status = CLI_EXIT_USAGE;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    long long n;
    int has_value = i + 1 < argc;
    if (strcmp(a, "--host") == 0 && has_value) {
      o.host = argv[++i];
    } else if (strcmp(a, "--port") == 0 && has_value) {
      if (cli_parse_number(argv[i + 1], 0, 65535, &n) != 0) {
        cli_bad_number("listen", a, argv[i + 1], 0, 65535);
        goto out;
      }
      o.port = argv[++i];
    } else if (strcmp(a, "--allow") == 0 && has_value) {
      /* AE or AE@address: the title checked as --aet is, the address numeric. */
      char ae[17] = "";
      const char *at = strchr(argv[i + 1], '@');
      size_t ae_len = at ? (size_t)(at - argv[i + 1]) : strlen(argv[i + 1]);
      snprintf(ae, sizeof ae, "%.*s", (int)(ae_len < 17 ? ae_len : 17), argv[i + 1]);
      si_net_peer probe = {0};
      char *args[] = {"--aet", ae_len < 17 ? ae : argv[i + 1]};
      int k = 0;
      if (net_cli_option("listen", 2, args, &k, &probe) != 1)
        goto out;
      unsigned char bin[16];
      if (at && inet_pton(AF_INET, at + 1, bin) != 1 && inet_pton(AF_INET6, at + 1, bin) != 1) {
        cli_usage_error("listen", "--allow AE@ADDRESS needs an IPv4 or IPv6 address, not '%s'",
                        cli_text(at + 1));
        goto out;
      }
      const char **g = realloc(allow, (allow_count + 1) * sizeof *g);
      if (!g)
        goto out;
      allow = g;
      allow[allow_count++] = argv[++i];
    } else if ((strcmp(a, "--tls-cert") == 0 || strcmp(a, "--tls-key") == 0 ||
                strcmp(a, "--tls-ca") == 0 || strcmp(a, "--users-file") == 0) &&
               has_value) {
      const char *v = argv[++i];
      if (a[2] == 'u')
        o.users_file = v;
      else if (a[6] == 'c' && a[7] == 'e')
        o.tls.cert = v;
      else if (a[6] == 'k')
        o.tls.key = v;
      else
        o.tls.ca = v;
    } else if (strcmp(a, "--tls-no-verify") == 0) {
      o.tls.no_verify = 1;
    } else if (strcmp(a, "--max-associations") == 0 && has_value) {
      if (cli_parse_number(argv[i + 1], 1, 1024, &n) != 0) {
        cli_bad_number("listen", a, argv[i + 1], 1, 1024);
        goto out;
      }
      o.max_associations = (int)n;
      i++;
    } else if (strcmp(a, "--idle-timeout") == 0 && has_value) {
      if (cli_parse_number(argv[i + 1], 1, 86400, &n) != 0) {
        cli_bad_number("listen", a, argv[i + 1], 1, 86400);
        goto out;
      }
      o.timeouts.idle_ms = (int)(n * 1000);
      i++;
    } else if (strcmp(a, "--aet") == 0 || strcmp(a, "--timeout") == 0 ||
               strcmp(a, "--max-pdu") == 0) {
      si_net_peer p = {0};
      p.timeouts = o.timeouts;
      int r = net_cli_option("listen", argc, argv, &i, &p);
      if (r != 1)
        goto out;
      if (p.calling_ae)
        o.ae_title = p.calling_ae;
      if (p.max_pdu)
        o.max_pdu = p.max_pdu;
      o.timeouts.artim_ms = p.timeouts.artim_ms;
    } else if (a[0] == '-' && a[1]) {
      cli_usage_error("listen", "unknown option '%s' (or it needs a value)", cli_text(a));
      goto out;
    } else if (dir) {
      cli_usage_error("listen", "only one DIR");
      goto out;
    } else {
      dir = a;
    }
  }
  if (!dir) {
    cli_usage_error("listen", "DIR is needed");
    goto out;
  }
  if (!o.tls.cert != !o.tls.key || ((o.tls.ca || o.tls.no_verify) && !o.tls.cert)) {
    cli_usage_error("listen", "--tls-cert and --tls-key go together, and --tls-ca and "
                              "--tls-no-verify need them");
    goto out;
  }
  o.tls.enabled = o.tls.cert != NULL;
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "sendit listen: %s is not a folder\n", cli_text(dir));
    status = CLI_EXIT_FAILURE;
    goto out;
  }
  o.dir = dir;
  o.allow = allow;
  o.allow_count = allow_count;
  o.log = log_line;
  o.ready = on_ready;
  o.stop = &stop_flag;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  si_error err;
  if (si_net_scp_run(&o, &err) != SI_OK) {
    cli_print_error("listen", &err);
    status = CLI_EXIT_FAILURE;
    goto out;
  }
  status = CLI_EXIT_OK;
out:
  free(allow);
  return status;
}
