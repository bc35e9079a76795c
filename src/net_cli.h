/* Options shared by the network commands (echo, send, listen). */
#ifndef SENDIT_NET_CLI_H
#define SENDIT_NET_CLI_H

#include "sendit/net.h"

/* Parses one option of the network commands at argv[*i] (--aet, --aec,
 * --timeout, --max-pdu; for echo and send also --tls, --tls-cert,
 * --tls-key, --tls-ca, --tls-no-verify, --user, --password-file),
 * advancing *i past its value. Returns 1 when it was one, 0 when not, or
 * CLI_EXIT_USAGE (printed) when its value is bad. The passcode read from
 * --password-file is kept in static storage until net_cli_forget. */
int net_cli_option(const char *cmd, int argc, char **argv, int *i, si_net_peer *peer);

/* After the options: checks their combinations (a key with its
 * certificate, --password-file with --user), warns of --tls-no-verify.
 * 0, or CLI_EXIT_USAGE (printed). */
int net_cli_finish(const char *cmd, si_net_peer *peer);

/* Wipes the passcode read from --password-file. */
void net_cli_forget(void);

/* The options' help lines shared by echo and send. */
#define NET_CLI_SECURITY_HELP                                                                      \
                                                                                                   \
  "  --tls           TLS (1.2 or later); the peer's certificate is verified\n"                     \
  "                  against --tls-ca (else the system's CAs) and must name HOST\n"                \
  "  --tls-ca F      CA certificates (PEM) trusted for the peer's certificate\n"                   \
  "  --tls-cert F    our certificate (PEM), for peers that require one; with\n"                    \
  "  --tls-key F     its private key (PEM, unencrypted)\n"                                         \
  "  --tls-no-verify accept any peer certificate (warned; tests only)\n"                           \
  "  --user NAME     propose user identity NAME (PS3.7 D.3.3.7)\n"                                 \
  "  --password-file F  the passcode for --user: the first line of file F (never\n"                \
  "                  on the command line, where ps shows it)\n"

#endif
