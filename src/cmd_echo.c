/* `sendit echo`: a C-ECHO to a DICOM peer (like DCMTK's echoscu). The
 * protocol is the library's (sendit/net.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "net_cli.h"

const char cmd_echo_usage[] =
    "Usage: sendit echo [--aet AE] [--aec AE] [--timeout S] [--max-pdu N]\n"
    "                   [--tls [--tls-ca F] [--tls-cert F --tls-key F] [--tls-no-verify]]\n"
    "                   [--user NAME [--password-file F]] HOST PORT\n"
    "\n"
    "Opens an association with the DICOM peer at HOST PORT (a name, an IPv4 or an\n"
    "IPv6 address), sends a C-ECHO (Verification) and releases it.\n"
    "\n"
    "Options:\n"
    "  --aet AE        our (calling) AE title; default SENDIT\n"
    "  --aec AE        the peer's (called) AE title; default ANY-SCP\n"
    "  --timeout S     seconds for connecting, the association and the answer\n"
    "                  (default 30 / 30 / 60)\n"
    "  --max-pdu N     largest PDU we receive, 4096-16777216 (default "
    "262144)\n" NET_CLI_SECURITY_HELP "  --help          show this help\n"
    "\n"
    "Prints the status answered. Exit status: 0 when the peer answered Success, 1\n"
    "when it did not (refused, rejected, unreachable, timeout), 2 for a bad command\n"
    "line.\n";

int cmd_echo(int argc, char **argv) {
  si_net_peer peer = {0};
  si_net_timeouts_init(&peer.timeouts);
  const char *pos[2];
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    int r = net_cli_option("echo", argc, argv, &i, &peer);
    if (r == CLI_EXIT_USAGE)
      return r;
    if (r)
      continue;
    if (argv[i][0] == '-' && argv[i][1])
      return cli_usage_error("echo", "unknown option '%s'", cli_text(argv[i]));
    if (npos == 2)
      return cli_usage_error("echo", "too many arguments");
    pos[npos++] = argv[i];
  }
  if (npos != 2)
    return cli_usage_error("echo", "HOST and PORT are needed");
  if (net_cli_finish("echo", &peer) != 0)
    return CLI_EXIT_USAGE;
  peer.host = pos[0];
  peer.port = pos[1];
  uint16_t status;
  si_error err;
  si_status st = si_net_echo(&peer, &status, &err);
  net_cli_forget();
  if (st != SI_OK) {
    cli_print_error("echo", &err);
    return CLI_EXIT_FAILURE;
  }
  printf("C-ECHO %s:%s: status 0x%04x (%s)\n", cli_text(peer.host), cli_text(peer.port), status,
         si_net_status_text(status));
  return status == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
