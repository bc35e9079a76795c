/* Association primitives over the state machine (fsm.c): reading PDUs
 * into events, and the local requests and responses. See assoc.h. */
#include "net/assoc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/transport.h"

void si_net_timeouts_init(si_net_timeouts *t) {
  t->connect_ms = 30000;
  t->artim_ms = 30000;
  t->dimse_ms = 60000;
  t->idle_ms = 300000;
}

int net_assoc_init(net_assoc *a, const si_net_timeouts *t, uint32_t our_max_pdu) {
  memset(a, 0, sizeof *a);
  a->fd = -1;
  a->state = STA1;
  a->artim_deadline = -1;
  if (t)
    a->timeouts = *t;
  else
    si_net_timeouts_init(&a->timeouts);
  a->our_max_pdu = our_max_pdu ? our_max_pdu : SI_NET_DEFAULT_MAX_PDU;
  si_error_clear(&a->err);
  a->rq = calloc(1, sizeof *a->rq);
  a->ac = calloc(1, sizeof *a->ac);
  if (!a->rq || !a->ac) {
    free(a->rq);
    free(a->ac);
    a->rq = a->ac = NULL;
    return -1;
  }
  return 0;
}

void net_assoc_close(net_assoc *a) {
  /* Sta13: the peer closes first (PS3.8 9.1.6), within ARTIM. */
  if (a->fd >= 0 && a->state == STA13) {
    if (a->artim_deadline < 0)
      a->artim_deadline = net_now_ms() + a->timeouts.artim_ms;
    for (int i = 0; i < 64 && a->fd >= 0 && a->state == STA13; i++) {
      net_ind ind = net_assoc_wait(a, -1);
      if (ind == IND_TIMEOUT)
        break;
    }
  }
  net_link_close(&a->fd, &a->sec);
  free(a->buf);
  free(a->rq);
  free(a->ac);
  a->buf = NULL;
  a->rq = a->ac = NULL;
}

/* Largest body accepted per PDU type, before reading it. */
static uint32_t max_body(const net_assoc *a, uint8_t type) {
  switch (type) {
  case NET_PDU_ASSOCIATE_RQ:
  case NET_PDU_ASSOCIATE_AC:
    return NET_MAX_ASSOC_PDU;
  case NET_PDU_DATA_TF:
    return a->our_max_pdu;
  default:
    return 4;
  }
}

static net_ind fire(net_assoc *a, net_event e) {
  net_fsm(a, e);
  return a->ind;
}

static net_ind invalid(net_assoc *a, uint8_t reason) {
  a->provider_reason = reason;
  return fire(a, EVT19);
}

/* A PDU begun and not whole within ARTIM (a peer that stalls, or dribbles
 * it byte by byte): what follows cannot be found in the byte stream again,
 * so the association ends here, whatever the caller's own wait was. An
 * established one is aborted (A-ABORT); one still awaiting its request is
 * closed as ARTIM's expiry closes it. The caller sees IND_TIMEOUT and the
 * reason in a->err. */
static net_ind partial_timeout(net_assoc *a) {
  si_error why = a->err;
  if (a->state == STA2)
    net_fsm(a, EVT18);
  else
    net_assoc_abort(a);
  a->err = why;
  return IND_TIMEOUT;
}

net_ind net_assoc_wait(net_assoc *a, int timeout_ms) {
  a->ind = IND_NONE;
  if (a->fd < 0)
    return IND_CLOSED;
  int64_t deadline = timeout_ms >= 0 ? net_now_ms() + timeout_ms : -1;
  int artim_bound = 0;
  if (a->artim_deadline >= 0 && (deadline < 0 || a->artim_deadline <= deadline)) {
    deadline = a->artim_deadline;
    artim_bound = 1;
  }
  uint8_t hdr[NET_PDU_HEADER];
  size_t got = 0;
  net_io io = net_link_read(a->fd, &a->sec, hdr, sizeof hdr, deadline, &got, &a->err);
  if (io == NET_IO_TIMEOUT && got > 0 &&
      !artim_bound) { /* a PDU has begun: ARTIM bounds the rest */
    size_t more = 0;
    io = net_link_read(a->fd, &a->sec, hdr + got, sizeof hdr - got,
                       net_now_ms() + a->timeouts.artim_ms, &more, &a->err);
    got += more;
  }
  if (io == NET_IO_TIMEOUT) {
    if (got == 0 && artim_bound && (a->state == STA2 || a->state == STA13)) {
      si_error_set(&a->err, SI_ERR_IO, "association", SI_NO_OFFSET, SI_NO_TAG,
                   "ARTIM expired in %s", net_state_name(a->state));
      fire(a, EVT18);
    } else if (got > 0) {
      si_error_set(&a->err, SI_ERR_IO, "association", SI_NO_OFFSET, SI_NO_TAG,
                   "the peer stopped after %zu bytes of a PDU header", got);
      return partial_timeout(a);
    }
    return IND_TIMEOUT;
  }
  if (io != NET_IO_OK)
    return fire(a, EVT17);
  uint8_t type;
  uint32_t body;
  net_pdu_header(hdr, &type, &body);
  if (type < NET_PDU_ASSOCIATE_RQ || type > NET_PDU_ABORT) {
    si_error_set(&a->err, SI_ERR_FORMAT, "PDU", 0, SI_NO_TAG, "unknown PDU type 0x%02x", type);
    return invalid(a, NET_ABORT_UNRECOGNIZED_PDU);
  }
  if (body > max_body(a, type)) {
    si_error_set(&a->err, SI_ERR_LIMIT, net_pdu_name(type), 2, SI_NO_TAG,
                 "%s: length %u beyond the maximum %u", net_pdu_name(type), body,
                 max_body(a, type));
    return invalid(a, NET_ABORT_INVALID_PARAM);
  }
  size_t total = NET_PDU_HEADER + (size_t)body;
  if (total > a->cap) {
    uint8_t *g = realloc(a->buf, total);
    if (!g) {
      si_error_set(&a->err, SI_ERR_NOMEM, net_pdu_name(type), SI_NO_OFFSET, SI_NO_TAG,
                   "out of memory for a PDU of %zu bytes", total);
      return invalid(a, NET_ABORT_NOT_SPECIFIED);
    }
    a->buf = g;
    a->cap = total;
  }
  memcpy(a->buf, hdr, sizeof hdr);
  io = net_link_read(a->fd, &a->sec, a->buf + NET_PDU_HEADER, body,
                     net_now_ms() + a->timeouts.artim_ms, &got, &a->err);
  if (io == NET_IO_TIMEOUT) {
    si_error_set(&a->err, SI_ERR_IO, net_pdu_name(type), NET_PDU_HEADER + got, SI_NO_TAG,
                 "%s: the peer stopped after %zu of %u bytes", net_pdu_name(type), got, body);
    return partial_timeout(a);
  }
  if (io != NET_IO_OK)
    return fire(a, EVT17);
  a->len = total;
  si_status st = SI_OK;
  net_event e = EVT19;
  switch (type) {
  case NET_PDU_ASSOCIATE_RQ:
    e = EVT6;
    if (a->state == STA2)
      st = net_decode_assoc(a->buf, total, a->rq, &a->err);
    break;
  case NET_PDU_ASSOCIATE_AC:
    e = EVT3;
    if (a->state == STA5)
      st = net_decode_assoc(a->buf, total, a->ac, &a->err);
    break;
  case NET_PDU_ASSOCIATE_RJ:
    e = EVT4;
    st = net_decode_reject(a->buf, total, &a->rj, &a->err);
    break;
  case NET_PDU_DATA_TF:
    e = EVT10;
    break;
  case NET_PDU_RELEASE_RQ:
    e = EVT12;
    st = net_decode_release(a->buf, total, &a->err);
    break;
  case NET_PDU_RELEASE_RP:
    e = EVT13;
    st = net_decode_release(a->buf, total, &a->err);
    break;
  case NET_PDU_ABORT:
    e = EVT16;
    st = net_decode_abort(a->buf, total, &a->abort_source, &a->abort_reason, &a->err);
    break;
  }
  if (st != SI_OK)
    return invalid(a, NET_ABORT_INVALID_PARAM);
  net_ind ind = fire(a, e);
  a->pdata_open = ind == IND_PDATA;
  return ind;
}

void net_assoc_invalid_pdu(net_assoc *a, uint8_t reason) {
  a->pdata_open = 0;
  invalid(a, reason);
}

si_status net_assoc_next_pdv(net_assoc *a, net_pdv *pdv, si_error *err) {
  si_status st = net_pdata_next(a->buf, a->len, &a->pdv_pos, pdv, err);
  if (st == SI_OK && pdv->pc_id % 2 == 0)
    return si_error_set(err, SI_ERR_FORMAT, "P-DATA-TF", a->pdv_pos, SI_NO_TAG,
                        "P-DATA-TF: presentation context id %u is even", pdv->pc_id);
  return st;
}

net_ind net_assoc_request(net_assoc *a, const char *host, const char *port) {
  a->requestor = 1;
  a->host = host;
  a->port = port;
  a->ind = IND_NONE;
  net_fsm(a, EVT1);
  if (a->state != STA4)
    return a->ind;
  net_fsm(a, EVT2);
  if (a->state != STA5)
    return a->ind;
  a->request_sent = 1;
  for (;;) {
    net_ind ind = net_assoc_wait(a, -1);
    if (ind == IND_TIMEOUT) {
      si_error_set(&a->err, SI_ERR_IO, "association", SI_NO_OFFSET, SI_NO_TAG,
                   "no answer to the A-ASSOCIATE-RQ within %d ms", a->timeouts.artim_ms);
      net_assoc_abort(a);
      return IND_TIMEOUT;
    }
    if (ind != IND_NONE)
      return ind;
  }
}

net_ind net_assoc_accept_connection(net_assoc *a, int fd, const atomic_int *stop) {
  /* Every wait is a poll with a deadline: a blocking socket would hang. */
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK))
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  a->requestor = 0;
  a->fd = fd;
  if (a->secure && a->secure(a->secure_user, fd, NULL, net_now_ms() + a->timeouts.artim_ms, stop,
                             &a->sec, &a->err) != SI_OK) {
    net_link_close(&a->fd, &a->sec);
    return IND_CLOSED;
  }
  net_fsm(a, EVT5);
  for (;;) {
    /* In slices, so that a stopping listener is not held for ARTIM. */
    net_ind ind = net_assoc_wait(a, 200);
    if (ind == IND_TIMEOUT && a->state == STA2 && !(stop && *stop))
      continue;
    if (ind != IND_NONE)
      return ind;
  }
}

si_status net_assoc_accept(net_assoc *a, si_error *err) {
  net_fsm(a, EVT7);
  if (a->state != STA6) {
    if (err)
      *err = a->err;
    return SI_ERR_IO;
  }
  return SI_OK;
}

void net_assoc_reject(net_assoc *a, const net_reject *rj) {
  a->rj = *rj;
  net_fsm(a, EVT8);
}

size_t net_assoc_max_pdv(const net_assoc *a) {
  /* PDU body = 6 bytes of PDV header + data; 0 = no limit: stay modest. */
  uint32_t m = a->peer_max_pdu ? a->peer_max_pdu : SI_NET_DEFAULT_MAX_PDU;
  if (m < 16)
    m = 16; /* PS3.8 sets no minimum; below a few bytes of data no PDU could carry any */
  return (size_t)m - 6;
}

si_status net_assoc_send_pdv(net_assoc *a, uint8_t pc_id, int command, int last,
                             const uint8_t *data, size_t len, si_error *err) {
  a->out_pc = pc_id;
  a->out_command = (uint8_t)command;
  a->out_last = (uint8_t)last;
  a->out_data = data;
  a->out_len = len;
  net_state before = a->state;
  si_error_clear(&a->err);
  net_fsm(a, EVT9);
  if (a->fd < 0 || a->err.code != SI_OK || (before != STA6 && before != STA8)) {
    if (err)
      *err = a->err;
    return a->err.code != SI_OK ? a->err.code : SI_ERR_STATE;
  }
  return SI_OK;
}

net_ind net_assoc_release(net_assoc *a) {
  net_fsm(a, EVT11);
  while (a->fd >= 0) {
    net_ind ind = net_assoc_wait(a, -1);
    if (ind == IND_TIMEOUT) {
      net_assoc_abort(a);
      return IND_TIMEOUT;
    }
    if (ind == IND_RELEASE_RQ) { /* collision (Sta9): answer, then await our RP */
      net_fsm(a, EVT14);
      continue;
    }
    if (ind == IND_PDATA)
      continue; /* AR-6: late data is dropped: nothing is outstanding */
    if (ind != IND_NONE)
      return ind;
  }
  return a->ind == IND_NONE ? IND_CLOSED : a->ind;
}

void net_assoc_release_reply(net_assoc *a) { net_fsm(a, EVT14); }

void net_assoc_abort(net_assoc *a) {
  if (a->fd >= 0 && a->state != STA1 && a->state != STA13)
    net_fsm(a, EVT15);
}
