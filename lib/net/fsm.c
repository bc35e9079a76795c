/* The upper-layer state machine: PS3.8 Table 9-10 as one table of
 * (event, state) -> (action, next state), and the actions of Tables 9-6 to
 * 9-9. An action may decide the next state itself (AE-6 and AR-8 branch,
 * and any action whose send fails ends in Sta1); elsewhere the table's
 * next state holds. A cell left empty is a local primitive issued in a
 * state where PS3.8 does not allow it: the caller's bug, reported as
 * SI_ERR_STATE in a->err and otherwise ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/assoc.h"
#include "net/transport.h"

typedef net_state (*net_action)(net_assoc *a, net_event e);

typedef struct net_cell {
  net_action action;
  net_state next; /* 0: the action returns it */
} net_cell;

static const char *const state_names[NET_STATE_COUNT] = {
    [STA1] = "Sta1 idle",
    [STA2] = "Sta2 awaiting A-ASSOCIATE-RQ",
    [STA3] = "Sta3 awaiting local A-ASSOCIATE response",
    [STA4] = "Sta4 awaiting transport connection",
    [STA5] = "Sta5 awaiting A-ASSOCIATE-AC or -RJ",
    [STA6] = "Sta6 established",
    [STA7] = "Sta7 awaiting A-RELEASE-RP",
    [STA8] = "Sta8 awaiting local A-RELEASE response",
    [STA9] = "Sta9 release collision (requestor)",
    [STA10] = "Sta10 release collision (acceptor)",
    [STA11] = "Sta11 release collision, awaiting A-RELEASE-RP",
    [STA12] = "Sta12 release collision, awaiting local response",
    [STA13] = "Sta13 awaiting transport close",
};

const char *net_state_name(net_state s) {
  return s > 0 && s < NET_STATE_COUNT ? state_names[s] : "unknown state";
}

static void start_artim(net_assoc *a) { a->artim_deadline = net_now_ms() + a->timeouts.artim_ms; }
static void stop_artim(net_assoc *a) { a->artim_deadline = -1; }
static void close_transport(net_assoc *a) { net_link_close(&a->fd, &a->sec); }

/* Sends bytes; a failed send closes the transport (the caller sees
 * IND_CLOSED and the reason in a->err). */
static int send_bytes(net_assoc *a, const void *p1, size_t n1, const void *p2, size_t n2) {
  struct iovec iov[2] = {{(void *)p1, n1}, {(void *)p2, n2}};
  int64_t deadline = net_now_ms() + a->timeouts.dimse_ms;
  if (a->fd >= 0 && net_link_write(a->fd, &a->sec, iov, n2 ? 2 : 1, deadline, &a->err) == NET_IO_OK)
    return 0;
  close_transport(a);
  a->ind = IND_CLOSED;
  return -1;
}

static int send_fixed(net_assoc *a, const uint8_t pdu[10]) {
  return send_bytes(a, pdu, 10, NULL, 0);
}

static int send_assoc(net_assoc *a, uint8_t type, const net_assoc_pdu *p) {
  uint8_t *buf;
  size_t len;
  if (net_encode_assoc(type, p, &buf, &len, &a->err) != SI_OK) {
    close_transport(a);
    a->ind = IND_CLOSED;
    return -1;
  }
  int r = send_bytes(a, buf, len, NULL, 0);
  free(buf);
  return r;
}

/* ---- Association establishment (Table 9-6) ---- */
static net_state ae1(net_assoc *a, net_event e) {
  (void)e;
  if (net_tcp_connect(a->host, a->port, a->timeouts.connect_ms, &a->fd, &a->err) != SI_OK) {
    a->ind = IND_CLOSED;
    return STA1;
  }
  /* TLS before the A-ASSOCIATE-RQ, within ARTIM as the answer would be. */
  if (a->secure && a->secure(a->secure_user, a->fd, a->host, net_now_ms() + a->timeouts.artim_ms,
                             NULL, &a->sec, &a->err) != SI_OK) {
    close_transport(a);
    a->ind = IND_CLOSED;
    return STA1;
  }
  return STA4;
}
static net_state ae2(net_assoc *a, net_event e) {
  (void)e;
  if (send_assoc(a, NET_PDU_ASSOCIATE_RQ, a->rq) < 0)
    return STA1;
  start_artim(a);
  return STA5;
}
static net_state ae3(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  a->peer_max_pdu = a->ac->max_pdu;
  a->ind = IND_ACCEPTED;
  return STA6;
}
static net_state ae4(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  close_transport(a);
  a->ind = IND_REJECTED;
  return STA1;
}
static net_state ae5(net_assoc *a, net_event e) {
  (void)e;
  start_artim(a);
  return STA2;
}
/* PS3.8 9.3.2: bit 0 of the protocol version must be set; the rest of the
 * request is judged by the local user (Sta3). */
static net_state ae6(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  if (a->rq->protocol_version & 1) {
    a->ind = IND_ASSOC_RQ;
    return STA3;
  }
  net_reject rj = {NET_RJ_PERMANENT, NET_RJ_ACSE, NET_RJ_ACSE_PROTOCOL_VERSION};
  a->rj = rj;
  uint8_t pdu[10];
  net_encode_reject(&rj, pdu);
  si_error_set(&a->err, SI_ERR_UNSUPPORTED, "A-ASSOCIATE-RQ", 6, SI_NO_TAG,
               "protocol version %u not supported", a->rq->protocol_version);
  if (send_fixed(a, pdu) < 0)
    return STA1;
  a->ind = IND_REJECTED;
  start_artim(a);
  return STA13;
}
static net_state ae7(net_assoc *a, net_event e) {
  (void)e;
  if (send_assoc(a, NET_PDU_ASSOCIATE_AC, a->ac) < 0)
    return STA1;
  a->peer_max_pdu = a->rq->max_pdu;
  return STA6;
}
static net_state ae8(net_assoc *a, net_event e) {
  (void)e;
  uint8_t pdu[10];
  net_encode_reject(&a->rj, pdu);
  if (send_fixed(a, pdu) < 0)
    return STA1;
  start_artim(a);
  return STA13;
}

/* ---- Data transfer (Table 9-7) ---- */
static net_state send_pdata(net_assoc *a) {
  uint8_t hdr[12];
  net_encode_pdata_header(a->out_pc, a->out_command, a->out_last, (uint32_t)a->out_len, hdr);
  if (send_bytes(a, hdr, sizeof hdr, a->out_data, a->out_len) < 0)
    return STA1;
  return a->state;
}
static net_state dt1(net_assoc *a, net_event e) {
  (void)e;
  return send_pdata(a);
}
static net_state dt2(net_assoc *a, net_event e) {
  (void)e;
  a->pdv_pos = NET_PDU_HEADER;
  a->ind = IND_PDATA;
  return a->state;
}

/* ---- Release (Table 9-8) ---- */
static net_state ar1(net_assoc *a, net_event e) {
  (void)e;
  uint8_t pdu[10];
  net_encode_release(NET_PDU_RELEASE_RQ, pdu);
  if (send_fixed(a, pdu) < 0)
    return STA1;
  start_artim(a); /* bounds the wait for the RP */
  return STA7;
}
static net_state ar2(net_assoc *a, net_event e) {
  (void)e;
  a->ind = IND_RELEASE_RQ;
  return STA8;
}
static net_state ar3(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  close_transport(a);
  a->ind = IND_RELEASED;
  return STA1;
}
static net_state ar4(net_assoc *a, net_event e) {
  (void)e;
  uint8_t pdu[10];
  net_encode_release(NET_PDU_RELEASE_RP, pdu);
  if (send_fixed(a, pdu) < 0)
    return STA1;
  start_artim(a);
  return STA13;
}
static net_state ar5(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  close_transport(a);
  a->ind = IND_CLOSED;
  return STA1;
}
static net_state ar6(net_assoc *a, net_event e) {
  (void)e;
  a->pdv_pos = NET_PDU_HEADER;
  a->ind = IND_PDATA;
  return STA7;
}
static net_state ar7(net_assoc *a, net_event e) {
  (void)e;
  return send_pdata(a);
}
static net_state ar8(net_assoc *a, net_event e) {
  (void)e;
  a->ind = IND_RELEASE_RQ;
  return a->requestor ? STA9 : STA10;
}
static net_state ar9(net_assoc *a, net_event e) {
  (void)e;
  uint8_t pdu[10];
  net_encode_release(NET_PDU_RELEASE_RP, pdu);
  if (send_fixed(a, pdu) < 0)
    return STA1;
  return STA11;
}
static net_state ar10(net_assoc *a, net_event e) {
  (void)e;
  a->ind = IND_RELEASED;
  return STA12;
}

/* ---- Abort (Table 9-9) ---- */
static net_state aa1(net_assoc *a, net_event e) {
  uint8_t pdu[10];
  if (e == EVT15)
    net_encode_abort(NET_ABORT_USER, NET_ABORT_NOT_SPECIFIED, pdu);
  else
    net_encode_abort(NET_ABORT_PROVIDER, a->provider_reason, pdu);
  if (e != EVT15)
    a->ind = IND_PROVIDER_ABORT;
  if (send_fixed(a, pdu) < 0)
    return STA1;
  start_artim(a);
  return STA13;
}
static net_state aa2(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  close_transport(a);
  if (a->ind == IND_NONE)
    a->ind = IND_CLOSED;
  return STA1;
}
static net_state aa3(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  close_transport(a);
  a->ind = IND_ABORTED;
  return STA1;
}
static net_state aa4(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  close_transport(a);
  a->ind = IND_CLOSED;
  return STA1;
}
static net_state aa5(net_assoc *a, net_event e) {
  (void)e;
  stop_artim(a);
  close_transport(a);
  a->ind = IND_CLOSED;
  return STA1;
}
static net_state aa6(net_assoc *a, net_event e) {
  (void)a;
  (void)e;
  return STA13; /* ignore the PDU */
}
static net_state aa7(net_assoc *a, net_event e) {
  (void)e;
  uint8_t pdu[10];
  net_encode_abort(NET_ABORT_PROVIDER, a->provider_reason, pdu);
  if (send_fixed(a, pdu) < 0)
    return STA1;
  return STA13;
}
static net_state aa8(net_assoc *a, net_event e) {
  (void)e;
  uint8_t pdu[10];
  if (a->provider_reason == NET_ABORT_NOT_SPECIFIED)
    a->provider_reason = NET_ABORT_UNEXPECTED_PDU;
  net_encode_abort(NET_ABORT_PROVIDER, a->provider_reason, pdu);
  a->ind = IND_PROVIDER_ABORT;
  if (send_fixed(a, pdu) < 0)
    return STA1;
  a->ind = IND_PROVIDER_ABORT;
  start_artim(a);
  return STA13;
}

/* PS3.8 Table 9-10. Rows are events, columns states. */
#define ALL_ASSOC(act, nxt)                                                                        \
  [STA6] = {act, nxt}, [STA7] = {act, nxt}, [STA8] = {act, nxt}, [STA9] = {act, nxt},              \
  [STA10] = {act, nxt}, [STA11] = {act, nxt}, [STA12] = {act, nxt}
static const net_cell table[NET_EVENT_COUNT][NET_STATE_COUNT] = {
    [EVT1] = {[STA1] = {ae1, STA4}},
    [EVT2] = {[STA4] = {ae2, STA5}},
    [EVT3] = {[STA2] = {aa1, STA13},
              [STA3] = {aa8, STA13},
              [STA5] = {ae3, STA6},
              ALL_ASSOC(aa8, STA13),
              [STA13] = {aa6, STA13}},
    [EVT4] = {[STA2] = {aa1, STA13},
              [STA3] = {aa8, STA13},
              [STA5] = {ae4, STA1},
              ALL_ASSOC(aa8, STA13),
              [STA13] = {aa6, STA13}},
    [EVT5] = {[STA1] = {ae5, STA2}},
    [EVT6] = {[STA2] = {ae6, 0},
              [STA3] = {aa8, STA13},
              [STA5] = {aa8, STA13},
              ALL_ASSOC(aa8, STA13),
              [STA13] = {aa7, STA13}},
    [EVT7] = {[STA3] = {ae7, STA6}},
    [EVT8] = {[STA3] = {ae8, STA13}},
    [EVT9] = {[STA6] = {dt1, STA6}, [STA8] = {ar7, STA8}},
    [EVT10] = {[STA2] = {aa1, STA13},
               [STA3] = {aa8, STA13},
               [STA5] = {aa8, STA13},
               [STA6] = {dt2, STA6},
               [STA7] = {ar6, STA7},
               [STA8] = {aa8, STA13},
               [STA9] = {aa8, STA13},
               [STA10] = {aa8, STA13},
               [STA11] = {aa8, STA13},
               [STA12] = {aa8, STA13},
               [STA13] = {aa6, STA13}},
    [EVT11] = {[STA6] = {ar1, STA7}},
    [EVT12] = {[STA2] = {aa1, STA13},
               [STA3] = {aa8, STA13},
               [STA5] = {aa8, STA13},
               [STA6] = {ar2, STA8},
               [STA7] = {ar8, 0},
               [STA8] = {aa8, STA13},
               [STA9] = {aa8, STA13},
               [STA10] = {aa8, STA13},
               [STA11] = {aa8, STA13},
               [STA12] = {aa8, STA13},
               [STA13] = {aa6, STA13}},
    [EVT13] = {[STA2] = {aa1, STA13},
               [STA3] = {aa8, STA13},
               [STA5] = {aa8, STA13},
               [STA6] = {aa8, STA13},
               [STA7] = {ar3, STA1},
               [STA8] = {aa8, STA13},
               [STA9] = {aa8, STA13},
               [STA10] = {ar10, STA12},
               [STA11] = {ar3, STA1},
               [STA12] = {aa8, STA13},
               [STA13] = {aa6, STA13}},
    [EVT14] = {[STA8] = {ar4, STA13}, [STA9] = {ar9, STA11}, [STA12] = {ar4, STA13}},
    [EVT15] =
        {[STA3] = {aa1, STA13}, [STA4] = {aa2, STA1}, [STA5] = {aa1, STA13}, ALL_ASSOC(aa1, STA13)},
    [EVT16] = {[STA2] = {aa2, STA1},
               [STA3] = {aa3, STA1},
               [STA5] = {aa3, STA1},
               ALL_ASSOC(aa3, STA1),
               [STA13] = {aa2, STA1}},
    [EVT17] = {[STA2] = {aa5, STA1},
               [STA3] = {aa4, STA1},
               [STA4] = {aa4, STA1},
               [STA5] = {aa4, STA1},
               ALL_ASSOC(aa4, STA1),
               [STA13] = {ar5, STA1}},
    [EVT18] = {[STA2] = {aa2, STA1}, [STA13] = {aa2, STA1}},
    [EVT19] = {[STA2] = {aa1, STA13},
               [STA3] = {aa8, STA13},
               [STA5] = {aa8, STA13},
               ALL_ASSOC(aa8, STA13),
               [STA13] = {aa7, STA13}},
};

void net_fsm(net_assoc *a, net_event e) {
  if (e <= 0 || e >= NET_EVENT_COUNT || a->state <= 0 || a->state >= NET_STATE_COUNT) {
    si_error_set(&a->err, SI_ERR_STATE, "association", SI_NO_OFFSET, SI_NO_TAG,
                 "event %d in state %d is out of range", (int)e, (int)a->state);
    return;
  }
  const net_cell *c = &table[e][a->state];
  if (!c->action) {
    si_error_set(&a->err, SI_ERR_STATE, "association", SI_NO_OFFSET, SI_NO_TAG,
                 "Evt%d is not allowed in %s", (int)e, net_state_name(a->state));
    return;
  }
  net_state decided = c->action(a, e);
  /* A failed send closed the transport: Sta1 whatever the table says. */
  a->state = (c->next == 0 || decided == STA1) ? decided : c->next;
}
