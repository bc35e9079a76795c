/* The `dicom` destination type: C-STORE of a batch's files to one peer over
 * one association (more only when the batch needs over 128 presentation
 * contexts), through si_net_send (sendit/net.h). Each instance's C-STORE
 * status is its answer: success and warning are sent; A7xx (out of
 * resources) and a lost connection may pass, so they are retryable; any
 * other failure status is the peer's refusal of that instance, final. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/types.h"
#include "sendit/net.h"

static const si_dest_key keys[] = {
    {"host", 1, NULL, "the peer's host name or address"},
    {"port", 1, NULL, "the peer's port"},
    {"called_ae", 0, "ANY-SCP", "the peer's AE title"},
    {"calling_ae", 0, "SENDIT", "our AE title"},
    {"max_pdu", 0, "262144", "largest PDU we receive (bytes)"},
    {"timeout", 0, "30", "seconds for connecting, the association's PDUs and each answer"},
    {"tls", 0, "false", "true: the association runs over TLS"},
    {"tls_cert", 0, NULL, "our certificate (PEM), if the peer asks for one"},
    {"tls_key", 0, NULL, "its private key (PEM)"},
    {"tls_ca", 0, NULL, "trusted CA certificates (PEM) for the peer's; none: the system's"},
    {"tls_verify_peer", 0, "true", "false: accept any peer certificate (warned)"},
    {"username", 0, NULL, "user identity proposed to the peer (PS3.7 D.3.3.7)"},
    {"password_file", 0, NULL, "a file holding its passcode (first line)"},
};

static int is_true(const char *v) {
  return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0);
}

static int is_bool(const char *v) {
  return v && (is_true(v) || strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
               strcasecmp(v, "no") == 0);
}

static int parse_range(const char *v, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long n = v ? strtol(v, &end, 10) : 0;
  if (!v || errno || end == v || *end || n < min || n > max)
    return -1;
  *out = n;
  return 0;
}

static si_status bad(const si_dest_config *d, const char *key, const char *why, si_error *err) {
  const char *v = si_dest_get(d, key);
  return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                      "[destination %s] %s = \"%.100s\": %s", d->name, key, v ? v : "", why);
}

static si_status check(const si_dest_config *d, si_error *err) {
  long n = 0;
  if (parse_range(si_dest_get(d, "port"), 1, 65535, &n) != 0)
    return bad(d, "port", "expected a port number from 1 to 65535", err);
  if (parse_range(si_dest_get(d, "max_pdu"), 4096, 16777216, &n) != 0)
    return bad(d, "max_pdu", "expected bytes from 4096 to 16777216", err);
  if (parse_range(si_dest_get(d, "timeout"), 1, 3600, &n) != 0)
    return bad(d, "timeout", "expected seconds from 1 to 3600", err);
  static const char *const aes[] = {"called_ae", "calling_ae"};
  for (size_t i = 0; i < 2; i++) {
    const char *ae = si_dest_get(d, aes[i]);
    if (!ae || !ae[0] || strlen(ae) > 16)
      return bad(d, aes[i], "an AE title has 1 to 16 characters", err);
  }
  static const char *const bools[] = {"tls", "tls_verify_peer"};
  for (size_t i = 0; i < 2; i++)
    if (!is_bool(si_dest_get(d, bools[i])))
      return bad(d, bools[i], "expected true or false", err);
  static const char *const files[] = {"tls_cert", "tls_key", "tls_ca", "password_file"};
  for (size_t i = 0; i < 4; i++) {
    const char *p = si_dest_get(d, files[i]);
    if (!p)
      continue;
    FILE *f = fopen(p, "r");
    if (!f)
      return bad(d, files[i], strerror(errno), err);
    fclose(f);
  }
  if (!si_dest_get(d, "tls_cert") != !si_dest_get(d, "tls_key"))
    return bad(d, si_dest_get(d, "tls_cert") ? "tls_key" : "tls_cert",
               "tls_cert and tls_key go together", err);
  if (si_dest_get(d, "password_file") && !si_dest_get(d, "username"))
    return bad(d, "password_file", "a passcode needs a username", err);
  return SI_OK;
}

typedef struct send_state {
  const si_dest_batch *batch;
  const char *const *paths;
  si_dest_report_fn report;
  void *user;
  unsigned char *reported;
} send_state;

/* Whether a file si_net_send could not store may go through later: the
 * connection or association failed (IO, STATE), not the file itself. */
static int retryable_unsent(const si_error *e) {
  return !e || e->code == SI_ERR_IO || e->code == SI_ERR_STATE || e->code == SI_ERR_NOMEM;
}

static void on_sent(void *user, const si_net_send_result *r) {
  send_state *s = user;
  size_t index = s->batch->count;
  for (size_t i = 0; i < s->batch->count; i++)
    if (s->paths[i] == r->path && !s->reported[i]) {
      index = i;
      break;
    }
  if (index == s->batch->count)
    return;
  s->reported[index] = 1;
  char answer[700];
  si_dest_result res = {.index = index, .answer = answer};
  if (r->sent) {
    si_net_status_class c = si_net_status_classify(r->status);
    res.sent = c != SI_NET_FAILURE;
    res.retryable = !res.sent && (r->status & 0xF000) == 0xA000 && (r->status & 0x0F00) == 0x0700;
    snprintf(answer, sizeof answer, "%04X %s", r->status, si_net_status_text(r->status));
  } else {
    char buf[600];
    res.retryable = retryable_unsent(r->err);
    snprintf(answer, sizeof answer, "not stored: %s",
             r->err ? si_error_format(r->err, buf, sizeof buf) : "no answer");
  }
  s->report(s->user, &res);
}

/* The passcode: the file's first line. */
static char *read_passcode(const char *path, si_error *err) {
  FILE *f = fopen(path, "r");
  char line[512] = "";
  if (!f) {
    si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot read: %s", strerror(errno));
    return NULL;
  }
  if (!fgets(line, sizeof line, f))
    line[0] = 0;
  fclose(f);
  line[strcspn(line, "\r\n")] = 0;
  char *out = strdup(line);
  if (!out)
    si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  return out;
}

static si_status deliver(const si_dest_config *d, const si_dest_batch *b, const atomic_int *cancel,
                         si_dest_report_fn report, void *user, si_error *err) {
  (void)cancel; /* an association is short; the engine's lease covers it */
  si_net_peer peer = {0};
  peer.host = si_dest_get(d, "host");
  peer.port = si_dest_get(d, "port");
  peer.called_ae = si_dest_get(d, "called_ae");
  peer.calling_ae = si_dest_get(d, "calling_ae");
  peer.max_pdu = (uint32_t)strtoul(si_dest_get(d, "max_pdu"), NULL, 10);
  si_net_timeouts_init(&peer.timeouts);
  int timeout_ms = atoi(si_dest_get(d, "timeout")) * 1000;
  peer.timeouts.connect_ms = peer.timeouts.artim_ms = peer.timeouts.dimse_ms = timeout_ms;
  peer.tls.enabled = is_true(si_dest_get(d, "tls"));
  peer.tls.cert = si_dest_get(d, "tls_cert");
  peer.tls.key = si_dest_get(d, "tls_key");
  peer.tls.ca = si_dest_get(d, "tls_ca");
  peer.tls.no_verify = !is_true(si_dest_get(d, "tls_verify_peer"));
  peer.user.username = si_dest_get(d, "username");
  char *passcode = NULL;
  const char *pw = si_dest_get(d, "password_file");
  if (pw && !(passcode = read_passcode(pw, err)))
    return err->code;
  peer.user.passcode = passcode;
  const char **paths = calloc(b->count ? b->count : 1, sizeof *paths);
  unsigned char *reported = calloc(b->count ? b->count : 1, 1);
  if (!paths || !reported) {
    free(paths);
    free(reported);
    free(passcode);
    return si_error_set(err, SI_ERR_NOMEM, d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  for (size_t i = 0; i < b->count; i++)
    paths[i] = b->items[i].path;
  send_state s = {b, paths, report, user, reported};
  size_t failed = 0;
  si_status st = si_net_send(&peer, paths, b->count, on_sent, &s, &failed, err);
  free(paths);
  free(reported);
  free(passcode);
  return st;
}

const si_dest_type si_dest_type_dicom = {
    .name = "dicom",
    .keys = keys,
    .key_count = sizeof keys / sizeof keys[0],
    .check = check,
    .deliver = deliver,
};
