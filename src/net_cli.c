/* Options shared by the network commands: see net_cli.h. */
#include "net_cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The passcode of --password-file: CLI commands run one at a time. */
static char passcode[1025];

void net_cli_forget(void) {
  volatile char *p = passcode;
  for (size_t i = 0; i < sizeof passcode; i++)
    p[i] = 0;
}

static int read_passcode(const char *cmd, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return cli_usage_error(cmd, "--password-file %s: %s", cli_text(path), strerror(errno));
  char line[sizeof passcode + 2];
  int got = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  line[got ? strcspn(line, "\r\n") : 0] = '\0';
  size_t n = strlen(line);
  int ok = got && n > 0 && n < sizeof passcode;
  if (ok)
    memcpy(passcode, line, n + 1);
  volatile char *p = line;
  for (size_t i = 0; i < sizeof line; i++)
    p[i] = 0;
  if (!ok)
    return cli_usage_error(
        cmd, "--password-file %s: no passcode (1 to 1024 bytes) on its first line", cli_text(path));
  return 1;
}

/* The options that take no value or are only for echo and send. */
static int security_option(const char *cmd, int argc, char **argv, int *i, si_net_peer *peer) {
  const char *a = argv[*i];
  if (strcmp(a, "--tls") == 0) {
    peer->tls.enabled = 1;
    return 1;
  }
  if (strcmp(a, "--tls-no-verify") == 0) {
    peer->tls.no_verify = 1;
    return 1;
  }
  static const char *const with_value[] = {"--tls-cert", "--tls-key", "--tls-ca", "--user",
                                           "--password-file"};
  size_t k = 0, n = sizeof with_value / sizeof with_value[0];
  while (k < n && strcmp(a, with_value[k]) != 0)
    k++;
  if (k == n)
    return 0;
  if (*i + 1 >= argc)
    return cli_usage_error(cmd, "%s needs a value", a);
  const char *v = argv[++*i];
  if (!v[0])
    return cli_usage_error(cmd, "%s needs a value", a);
  switch (k) {
  case 0:
    peer->tls.cert = v;
    return 1;
  case 1:
    peer->tls.key = v;
    return 1;
  case 2:
    peer->tls.ca = v;
    return 1;
  case 3:
    if (strlen(v) > 1024)
      return cli_usage_error(cmd, "--user needs a name of 1 to 1024 bytes");
    peer->user.username = v;
    return 1;
  default: {
    int r = read_passcode(cmd, v);
    if (r == 1)
      peer->user.passcode = passcode;
    return r;
  }
  }
}

int net_cli_finish(const char *cmd, si_net_peer *peer) {
  si_net_tls *t = &peer->tls;
  if (!t->enabled && (t->cert || t->key || t->ca || t->no_verify))
    return cli_usage_error(cmd, "--tls-cert, --tls-key, --tls-ca and --tls-no-verify need --tls");
  if (!t->cert != !t->key)
    return cli_usage_error(cmd, "--tls-cert and --tls-key go together");
  if (peer->user.passcode && !peer->user.username)
    return cli_usage_error(cmd, "--password-file needs --user");
  if (t->enabled && t->no_verify)
    fprintf(stderr,
            "sendit %s: warning: --tls-no-verify: the peer's certificate is not checked; "
            "anyone in the path can read and change what is sent\n",
            cmd);
  return 0;
}

/* DICOM AE titles: 1 to 16 characters of the default repertoire, no
 * backslash or control characters, not all spaces. */
static int valid_ae(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 16 || strspn(s, " ") == n)
    return 0;
  for (const char *c = s; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e || *c == '\\')
      return 0;
  return 1;
}

int net_cli_option(const char *cmd, int argc, char **argv, int *i, si_net_peer *peer) {
  const char *a = argv[*i];
  if (strcmp(cmd, "listen") != 0) {
    int r = security_option(cmd, argc, argv, i, peer);
    if (r)
      return r;
  }
  int is_aet = strcmp(a, "--aet") == 0, is_aec = strcmp(a, "--aec") == 0;
  int is_timeout = strcmp(a, "--timeout") == 0, is_pdu = strcmp(a, "--max-pdu") == 0;
  if (!is_aet && !is_aec && !is_timeout && !is_pdu)
    return 0;
  if (*i + 1 >= argc)
    return cli_usage_error(cmd, "%s needs a value", a);
  const char *v = argv[++*i];
  if (is_aet || is_aec) {
    if (!valid_ae(v))
      return cli_usage_error(cmd, "%s needs an AE title of 1 to 16 printable characters, not '%s'",
                             a, cli_text(v));
    if (is_aet)
      peer->calling_ae = v;
    else
      peer->called_ae = v;
    return 1;
  }
  long long n;
  if (is_timeout) {
    if (cli_parse_number(v, 1, 86400, &n) != 0)
      return cli_bad_number(cmd, a, v, 1, 86400);
    peer->timeouts.connect_ms = peer->timeouts.artim_ms = peer->timeouts.dimse_ms = (int)(n * 1000);
    return 1;
  }
  if (cli_parse_number(v, 4096, 16777216, &n) != 0)
    return cli_bad_number(cmd, a, v, 4096, 16777216);
  peer->max_pdu = (uint32_t)n;
  return 1;
}
