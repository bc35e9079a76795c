/* C-ECHO and C-STORE as service class user: see sendit/net.h. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/common.h"
#include "net/tls.h"
#include "sendit/dicom.h"
#include "sendit/tsyntax.h"
#include "sendit/write.h"

static const char *or_default(const char *s, const char *d) { return s && s[0] ? s : d; }

/* Opens the association; on failure err says why (rejection text etc). */
static si_status open_assoc(net_assoc *a, const si_net_peer *peer, si_error *err) {
  net_ind ind = net_assoc_request(a, peer->host, peer->port);
  if (ind == IND_ACCEPTED)
    return SI_OK;
  char why[200] = "";
  if (ind == IND_REJECTED) {
    net_reject_text(&a->rj, why, sizeof why);
    return si_error_set(err, SI_ERR_STATE, peer->host, SI_NO_OFFSET, SI_NO_TAG,
                        "association rejected: %s", why);
  }
  if (ind == IND_ABORTED) {
    net_abort_text(a->abort_source, a->abort_reason, why, sizeof why);
    return si_error_set(err, SI_ERR_IO, peer->host, SI_NO_OFFSET, SI_NO_TAG,
                        "association aborted %s", why);
  }
  if (err)
    *err = a->err;
  if (!err || err->code == SI_OK)
    return si_error_set(err, SI_ERR_IO, peer->host, SI_NO_OFFSET, SI_NO_TAG, "no association (%s)",
                        net_state_name(a->state));
  /* A TLS port reads the request as a broken handshake and hangs up (or
   * answers with a TLS alert): say what the bare "connection reset" hides. */
  if (a->request_sent && !a->secure && (ind == IND_CLOSED || ind == IND_PROVIDER_ABORT)) {
    size_t n = strlen(err->message);
    snprintf(err->message + n, sizeof err->message - n,
             " (before any answer to the association request: if this port expects TLS, "
             "turn TLS on)");
  }
  return err->code;
}

/* The user identity proposed (PS3.7 D.3.3.7): type 2 with a passcode,
 * else type 1; a positive answer is asked for but not required (most
 * SCPs that do not check identities send none). */
static void propose_user(net_assoc_pdu *rq, const si_net_user *user) {
  if (!user->username || !user->username[0])
    return;
  size_t n = strlen(user->username), p = user->passcode ? strlen(user->passcode) : 0;
  if (n > NET_MAX_USER_FIELD || p > NET_MAX_USER_FIELD)
    return; /* refused by peer_setup */
  rq->user_type = p ? NET_USER_PASSCODE : NET_USER_USERNAME;
  rq->user_response_requested = 1;
  memcpy(rq->username, user->username, n + 1);
  rq->username_len = n;
  if (p)
    memcpy(rq->passcode, user->passcode, p + 1);
  rq->passcode_len = p;
}

static int init_assoc(net_assoc *a, const si_net_peer *peer, net_tls_ctx *tls, si_error *err) {
  if (net_assoc_init(a, &peer->timeouts, peer->max_pdu) < 0) {
    si_error_set(err, SI_ERR_NOMEM, "association", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    return -1;
  }
  net_fill_identity(a->rq, or_default(peer->called_ae, "ANY-SCP"),
                    or_default(peer->calling_ae, "SENDIT"), a->our_max_pdu);
  propose_user(a->rq, &peer->user);
  if (tls) {
    a->secure = net_tls_secure;
    a->secure_user = tls;
  }
  return 0;
}

/* Checks the user identity and makes the TLS context of the peer's
 * configuration; *tls NULL (and SI_OK) for plain TCP. */
static si_status peer_tls(const si_net_peer *peer, net_tls_ctx **tls, si_error *err) {
  *tls = NULL;
  const si_net_user *u = &peer->user;
  if ((u->username && strlen(u->username) > NET_MAX_USER_FIELD) ||
      (u->passcode && strlen(u->passcode) > NET_MAX_USER_FIELD))
    return si_error_set(err, SI_ERR_ARG, "user identity", SI_NO_OFFSET, SI_NO_TAG,
                        "a username or passcode is longer than %d bytes", NET_MAX_USER_FIELD);
  if (!peer->tls.enabled)
    return SI_OK;
  return net_tls_ctx_new(&peer->tls, 0, tls, err);
}

static int drop(void *ctx, const uint8_t *data, size_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  return 0;
}

/* Waits for the response to message id; drops a data set it may carry. */
static si_status await_response(net_assoc *a, uint16_t field, uint16_t id, net_cmd *rsp,
                                si_error *err) {
  for (;;) {
    uint8_t pc;
    net_ind ind;
    si_status st = net_dimse_recv_command(a, a->timeouts.dimse_ms, rsp, &pc, &ind, err);
    if (st != SI_OK) {
      if (ind == IND_TIMEOUT)
        net_assoc_abort(a);
      return st;
    }
    if (rsp->data_set_type != NET_NO_DATA_SET) {
      int failed;
      st = net_dimse_recv_data(a, a->timeouts.dimse_ms, pc, drop, NULL, &failed, &ind, err);
      if (st != SI_OK)
        return st;
    }
    if (rsp->field == field && rsp->responded_to == id)
      return SI_OK;
    net_assoc_invalid_pdu(a, NET_ABORT_UNEXPECTED_PARAM);
    return si_error_set(err, SI_ERR_FORMAT, "association", SI_NO_OFFSET, SI_NO_TAG,
                        "unexpected DIMSE message 0x%04x (answering %u) while waiting for 0x%04x "
                        "to message %u",
                        rsp->field, rsp->responded_to, field, id);
  }
}

static void finish_assoc(net_assoc *a) {
  if (a->state == STA6)
    net_assoc_release(a);
  else
    net_assoc_abort(a);
  net_assoc_close(a);
}

si_status si_net_echo(const si_net_peer *peer, uint16_t *status, si_error *err) {
  si_error_clear(err);
  *status = 0xFFFF;
  net_assoc a;
  net_tls_ctx *tls;
  si_status tst = peer_tls(peer, &tls, err);
  if (tst != SI_OK)
    return tst;
  if (init_assoc(&a, peer, tls, err) < 0) {
    net_tls_ctx_free(tls);
    return err ? err->code : SI_ERR_NOMEM;
  }
  net_pc *pc = &a.rq->pc[0];
  a.rq->pc_count = 1;
  pc->id = 1;
  snprintf(pc->abstract_syntax, sizeof pc->abstract_syntax, "%s", NET_VERIFICATION_UID);
  snprintf(pc->ts[0], sizeof pc->ts[0], "%s", SI_TS_EXPLICIT_LE);
  snprintf(pc->ts[1], sizeof pc->ts[1], "%s", SI_TS_IMPLICIT_LE);
  pc->ts_count = 2;
  si_status st = open_assoc(&a, peer, err);
  if (st == SI_OK && (a.ac->pc_count < 1 || a.ac->pc[0].result != NET_PC_ACCEPT))
    st = si_error_set(err, SI_ERR_UNSUPPORTED, peer->host, SI_NO_OFFSET, SI_NO_TAG,
                      "the peer refused the Verification SOP class");
  if (st == SI_OK) {
    net_cmd rq = {
        .has = NET_CMD_SOP_CLASS | NET_CMD_MESSAGE_ID, .field = NET_C_ECHO_RQ, .message_id = 1};
    snprintf(rq.sop_class, sizeof rq.sop_class, "%s", NET_VERIFICATION_UID);
    net_cmd rsp;
    st = net_dimse_send(&a, a.ac->pc[0].id, &rq, NULL, err);
    if (st == SI_OK)
      st = await_response(&a, NET_C_ECHO_RSP, 1, &rsp, err);
    if (st == SI_OK)
      *status = rsp.status;
  }
  finish_assoc(&a);
  net_tls_ctx_free(tls);
  return st;
}

/* ---- C-STORE ---- */

typedef struct send_file {
  const char *path;
  char sop_class[65], sop_instance[65], ts[65];
  uint64_t data_offset;
  int encapsulated;
  int ctx; /* index of its proposed context */
  si_error err;
  int readable;
} send_file;

static void probe_file(send_file *f) {
  si_read_options o;
  si_read_options_init(&o);
  o.stop_before_pixels = 1;
  si_file *file = NULL;
  si_error_clear(&f->err);
  if (si_read_file(f->path, &o, &file, &f->err) != SI_OK)
    return;
  const si_dataset *meta = si_file_meta(file), *ds = si_file_dataset(file);
  si_error e;
  if (si_get_valid_uid(ds, SI_TAG(0x0008, 0x0016), f->sop_class, &e) != SI_OK &&
      si_get_valid_uid(meta, SI_TAG(0x0002, 0x0002), f->sop_class, &e) != SI_OK) {
    si_error_set(&f->err, SI_ERR_VALUE, f->path, SI_NO_OFFSET, SI_TAG(0x0008, 0x0016),
                 "no valid SOPClassUID");
  } else if (si_get_valid_uid(ds, SI_TAG(0x0008, 0x0018), f->sop_instance, &e) != SI_OK &&
             si_get_valid_uid(meta, SI_TAG(0x0002, 0x0003), f->sop_instance, &e) != SI_OK) {
    si_error_set(&f->err, SI_ERR_VALUE, f->path, SI_NO_OFFSET, SI_TAG(0x0008, 0x0018),
                 "no valid SOPInstanceUID");
  } else {
    const si_file_info *info = si_file_get_info(file);
    snprintf(f->ts, sizeof f->ts, "%s", info->transfer_syntax);
    f->data_offset = info->data_offset;
    f->encapsulated = info->encapsulated;
    f->readable = 1;
  }
  si_file_free(file);
}

typedef struct send_job {
  const si_net_peer *peer;
  send_file *files;
  size_t count;
  si_net_send_report report;
  void *user;
  size_t failed;
} send_job;

static void report(send_job *job, send_file *f, const char *ts_sent, int sent, uint16_t status,
                   const si_error *err) {
  if (!sent || si_net_status_classify(status) == SI_NET_FAILURE)
    job->failed++;
  if (!job->report)
    return;
  si_net_send_result r = {
      f->path, f->readable ? f->sop_instance : "", ts_sent, sent, sent ? status : 0xFFFF, err};
  job->report(job->user, &r);
}

/* The proposed context for f: one per (SOP class, file syntax), with the
 * file's syntax first and the two uncompressed little endian ones. */
static int find_or_add_context(net_assoc_pdu *rq, const send_file *f) {
  for (size_t i = 0; i < rq->pc_count; i++)
    if (strcmp(rq->pc[i].abstract_syntax, f->sop_class) == 0 && strcmp(rq->pc[i].ts[0], f->ts) == 0)
      return (int)i;
  if (rq->pc_count >= NET_MAX_PC)
    return -1;
  net_pc *pc = &rq->pc[rq->pc_count];
  memset(pc, 0, sizeof *pc);
  pc->id = (uint8_t)(2 * rq->pc_count + 1);
  snprintf(pc->abstract_syntax, sizeof pc->abstract_syntax, "%s", f->sop_class);
  static const char *const plain[] = {SI_TS_EXPLICIT_LE, SI_TS_IMPLICIT_LE};
  snprintf(pc->ts[pc->ts_count++], sizeof pc->ts[0], "%s", f->ts);
  for (size_t i = 0; i < 2; i++)
    if (strcmp(f->ts, plain[i]) != 0)
      snprintf(pc->ts[pc->ts_count++], sizeof pc->ts[0], "%s", plain[i]);
  return (int)rq->pc_count++;
}

/* The accepted result for the context with this id, or NULL. */
static const net_pc *accepted(const net_assoc *a, uint8_t id) {
  for (size_t i = 0; i < a->ac->pc_count; i++)
    if (a->ac->pc[i].id == id)
      return a->ac->pc[i].result == NET_PC_ACCEPT ? &a->ac->pc[i] : NULL;
  return NULL;
}

/* Picks the context for f: its own syntax if any context of its class was
 * accepted with it, else an uncompressed one to convert to. */
static const net_pc *choose_context(const net_assoc *a, const send_file *f, int *convert) {
  const net_pc *fallback = NULL;
  for (size_t i = 0; i < a->rq->pc_count; i++) {
    if (strcmp(a->rq->pc[i].abstract_syntax, f->sop_class) != 0)
      continue;
    const net_pc *r = accepted(a, a->rq->pc[i].id);
    if (!r)
      continue;
    if (strcmp(r->ts[0], f->ts) == 0) {
      *convert = 0;
      return r;
    }
    if (!fallback &&
        (strcmp(r->ts[0], SI_TS_EXPLICIT_LE) == 0 || strcmp(r->ts[0], SI_TS_IMPLICIT_LE) == 0))
      fallback = r;
  }
  *convert = 1;
  return fallback;
}

/* Stores one file; SI_OK with *status when a response came. A non-OK
 * return with the association still in Sta6 is this file's failure only. */
static si_status store_one(net_assoc *a, send_file *f, uint16_t msg_id, const char **ts_sent,
                           uint16_t *status, si_error *err) {
  int convert;
  const net_pc *pc = choose_context(a, f, &convert);
  *ts_sent = "";
  if (!pc) {
    const char *name = si_transfer_syntax_name(f->ts);
    return si_error_set(err, SI_ERR_UNSUPPORTED, f->path, SI_NO_OFFSET, SI_NO_TAG,
                        "the peer accepted SOP class %s in no transfer syntax sendit can send "
                        "(the file's is %s, %s)",
                        f->sop_class, name ? name : f->ts, f->ts);
  }
  if (convert && f->encapsulated) {
    const char *name = si_transfer_syntax_name(f->ts);
    return si_error_set(err, SI_ERR_UNSUPPORTED, f->path, SI_NO_OFFSET, SI_NO_TAG,
                        "the peer refused the file's compressed transfer syntax %s (%s); sendit "
                        "cannot decompress it",
                        name ? name : f->ts, f->ts);
  }
  net_data_source src = {.fd = -1};
  uint8_t *converted = NULL;
  si_status st = SI_OK;
  if (!convert) {
    src.fd = open(f->path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (src.fd < 0 || fstat(src.fd, &sb) != 0 || (uint64_t)sb.st_size < f->data_offset)
      st = si_error_set(err, SI_ERR_IO, f->path, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %m");
    else {
      src.offset = f->data_offset;
      src.len = (uint64_t)sb.st_size - f->data_offset;
    }
  } else {
    si_file *file = NULL;
    size_t len = 0;
    si_write_options wo;
    si_write_options_init(&wo);
    wo.transfer_syntax = pc->ts[0];
    st = si_read_file(f->path, NULL, &file, err);
    if (st == SI_OK)
      st = si_write_dataset_memory(file, &wo, &converted, &len, err);
    si_file_free(file);
    src.mem = converted;
    src.len = len;
  }
  if (st == SI_OK) {
    net_cmd rq = {.has = NET_CMD_SOP_CLASS | NET_CMD_MESSAGE_ID | NET_CMD_PRIORITY |
                         NET_CMD_SOP_INSTANCE,
                  .field = NET_C_STORE_RQ,
                  .message_id = msg_id};
    snprintf(rq.sop_class, sizeof rq.sop_class, "%s", f->sop_class);
    snprintf(rq.sop_instance, sizeof rq.sop_instance, "%s", f->sop_instance);
    *ts_sent = pc->ts[0];
    st = net_dimse_send(a, pc->id, &rq, &src, err);
    net_cmd rsp;
    if (st == SI_OK)
      st = await_response(a, NET_C_STORE_RSP, msg_id, &rsp, err);
    if (st == SI_OK) {
      *status = rsp.status;
      if (rsp.has & NET_CMD_ERROR_COMMENT && rsp.error_comment[0])
        si_error_set(err, SI_ERR_STATE, f->path, SI_NO_OFFSET, SI_NO_TAG, "%s", rsp.error_comment);
    }
  }
  if (src.fd >= 0)
    close(src.fd);
  free(converted);
  return st;
}

/* One association for files [from, to): their contexts were proposed. */
static si_status run_association(send_job *job, net_assoc *a, size_t from, size_t to) {
  si_error aerr;
  si_error_clear(&aerr);
  si_status ast = open_assoc(a, job->peer, &aerr);
  uint16_t msg_id = 0;
  for (size_t i = from; i < to; i++) {
    send_file *f = &job->files[i];
    if (!f->readable) {
      report(job, f, "", 0, 0xFFFF, &f->err);
      continue;
    }
    if (ast != SI_OK || a->state != STA6) {
      if (ast == SI_OK) {
        ast = aerr.code != SI_OK ? aerr.code : SI_ERR_IO;
        if (aerr.code == SI_OK)
          si_error_set(&aerr, SI_ERR_IO, job->peer->host, SI_NO_OFFSET, SI_NO_TAG,
                       "the association ended before this file");
      }
      report(job, f, "", 0, 0xFFFF, &aerr);
      continue;
    }
    si_error ferr;
    si_error_clear(&ferr);
    uint16_t status = 0xFFFF;
    const char *ts_sent = "";
    si_status st = store_one(a, f, ++msg_id, &ts_sent, &status, &ferr);
    if (st == SI_OK) {
      report(job, f, ts_sent, 1, status, ferr.code != SI_OK ? &ferr : NULL);
    } else {
      report(job, f, ts_sent, 0, 0xFFFF, &ferr);
      if (a->state != STA6) /* the association is gone: the rest fail with why */
        aerr = ferr;
    }
  }
  finish_assoc(a);
  return ast;
}

si_status si_net_send(const si_net_peer *peer, const char *const *paths, size_t count,
                      si_net_send_report report_fn, void *user, size_t *failed, si_error *err) {
  si_error_clear(err);
  net_tls_ctx *tls;
  si_status tst = peer_tls(peer, &tls, err);
  if (tst != SI_OK)
    return tst;
  send_job job = {peer, calloc(count ? count : 1, sizeof(send_file)), count, report_fn, user, 0};
  if (!job.files) {
    net_tls_ctx_free(tls);
    return si_error_set(err, SI_ERR_NOMEM, "send", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  si_status result = SI_OK;
  size_t from = 0;
  net_assoc a;
  int open = 0;
  for (size_t i = 0; i < count && result != SI_ERR_NOMEM; i++) {
    send_file *f = &job.files[i];
    f->path = paths[i];
    probe_file(f);
    if (!f->readable)
      continue;
    if (open && find_or_add_context(a.rq, f) >= 0)
      continue;
    if (open) { /* 128 contexts: send what they cover, then go on */
      si_status st = run_association(&job, &a, from, i);
      if (st != SI_OK)
        result = st;
      from = i;
    }
    open = init_assoc(&a, peer, tls, err) == 0;
    if (!open)
      result = SI_ERR_NOMEM;
    else
      find_or_add_context(a.rq, f);
  }
  if (open) {
    si_status st = run_association(&job, &a, from, count);
    if (st != SI_OK)
      result = st;
  } else {
    for (size_t k = from; k < count; k++)
      if (!job.files[k].readable)
        report(&job, &job.files[k], "", 0, 0xFFFF, &job.files[k].err);
  }
  if (result != SI_OK && err && err->code == SI_OK)
    si_error_set(err, result, peer->host, SI_NO_OFFSET, SI_NO_TAG,
                 "an association failed (see each file)");
  if (failed)
    *failed = job.failed;
  free(job.files);
  net_tls_ctx_free(tls);
  return result;
}
