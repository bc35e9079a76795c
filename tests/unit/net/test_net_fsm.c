/* The upper-layer state machine (lib/net/fsm.c, PS3.8 Table 9-10) driven
 * by scripted PDUs over a socketpair: each row puts the association in a
 * state, has the peer send bytes (or nothing, or close), and checks the
 * indication, the next state and what the machine sent back. */
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/assoc.h"

/* Scripted PDUs. */
static const uint8_t pdata[] = {4, 0, 0, 0, 0, 8, 0, 0, 0, 4, 1, 3, 'x', 'y'};
static const uint8_t release_rq[] = {5, 0, 0, 0, 0, 4, 0, 0, 0, 0};
static const uint8_t release_rp[] = {6, 0, 0, 0, 0, 4, 0, 0, 0, 0};
static const uint8_t abort_pdu[] = {7, 0, 0, 0, 0, 4, 0, 0, 0, 0};
static const uint8_t reject_pdu[] = {3, 0, 0, 0, 0, 4, 0, 1, 1, 7};
static const uint8_t unknown_pdu[] = {9, 0, 0, 0, 0, 4, 0, 0, 0, 0};
static const uint8_t pdata_too_long[] = {4, 0, 0, 0x10, 0, 0};
static const uint8_t release_bad_len[] = {5, 0, 0, 0, 0, 2, 0, 0};
static const uint8_t half_header[] = {4, 0, 0};
static const uint8_t cut_pdata[] = {4, 0, 0, 0, 0, 8, 0, 0};

static uint8_t rq_buf[4096], ac_buf[4096];
static size_t rq_len, ac_len;

static void make_assoc_pdus(void) {
  net_assoc_pdu *p = calloc(1, sizeof *p);
  p->protocol_version = 1;
  strcpy(p->called_ae, "SENDIT");
  strcpy(p->calling_ae, "PEER");
  strcpy(p->app_context, NET_APP_CONTEXT);
  strcpy(p->impl_class_uid, "1.2.3");
  p->max_pdu = 32768;
  p->pc_count = 1;
  p->pc[0].id = 1;
  strcpy(p->pc[0].abstract_syntax, "1.2.840.10008.1.1");
  strcpy(p->pc[0].ts[0], "1.2.840.10008.1.2");
  p->pc[0].ts_count = 1;
  uint8_t *b;
  si_error err;
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_RQ, p, &b, &rq_len, &err), SI_OK);
  memcpy(rq_buf, b, rq_len);
  free(b);
  assert_int_equal(net_encode_assoc(NET_PDU_ASSOCIATE_AC, p, &b, &ac_len, &err), SI_OK);
  memcpy(ac_buf, b, ac_len);
  free(b);
  free(p);
}

typedef struct row {
  const char *name;
  net_state start;
  int requestor;
  const uint8_t *send; /* what the peer sends; NULL = nothing */
  size_t send_len;
  int close_after;  /* the peer closes after sending */
  net_ind ind;      /* expected indication */
  net_state next;   /* expected state */
  int reply_type;   /* PDU type the machine sends back; 0 none */
  int reply_reason; /* A-ABORT reason byte, or -1 */
} row;

#define PDU(x) x, sizeof x

/* A socketpair whose first end is non-blocking, as the transport's sockets are. */
static void make_pair(int sv[2]) {
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
}

/* The first PDU the machine sent, or 0 when none came within 200 ms. */
static int read_reply(int fd, uint8_t *reason) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 200) <= 0)
    return 0;
  uint8_t buf[8192];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 6)
    return n == 0 ? -1 : 0;
  *reason = n >= 10 ? buf[9] : 0;
  return buf[0];
}

static void run_row(const row *r) {
  int sv[2];
  make_pair(sv);
  si_net_timeouts t;
  si_net_timeouts_init(&t);
  t.artim_ms = 300;
  net_assoc a;
  assert_int_equal(net_assoc_init(&a, &t, 16384), 0);
  a.fd = sv[0];
  a.state = r->start;
  a.requestor = r->requestor;
  if (r->start == STA2 || r->start == STA13)
    a.artim_deadline = -1; /* set below by the wait's ARTIM when the row wants it */
  if (r->send)
    assert_int_equal(write(sv[1], r->send, r->send_len), (ssize_t)r->send_len);
  if (r->close_after)
    shutdown(sv[1], SHUT_WR);
  if (!r->send && !r->close_after)
    a.artim_deadline = 0; /* ARTIM already expired */
  net_ind ind = net_assoc_wait(&a, 1000);
  if (ind != r->ind || a.state != r->next)
    fail_msg("%s: indication %d state %d, expected %d and %d (%s)", r->name, ind, a.state, r->ind,
             r->next, a.err.message);
  uint8_t reason = 0;
  int reply = read_reply(sv[1], &reason);
  if (r->reply_type && reply != r->reply_type)
    fail_msg("%s: reply PDU %d, expected %d", r->name, reply, r->reply_type);
  if (!r->reply_type && reply > 0)
    fail_msg("%s: unexpected reply PDU %d", r->name, reply);
  if (r->reply_reason >= 0 && reason != r->reply_reason)
    fail_msg("%s: A-ABORT reason %d, expected %d", r->name, reason, r->reply_reason);
  if (a.fd < 0)
    a.state = STA1;
  a.state = STA1; /* close without the Sta13 wait */
  net_assoc_close(&a);
  close(sv[1]);
}

static void test_table_rows(void **state) {
  (void)state;
  make_assoc_pdus();
  const row rows[] = {
      {"Sta2 + A-ASSOCIATE-RQ: AE-6 indication", STA2, 0, rq_buf, rq_len, 0, IND_ASSOC_RQ, STA3, 0,
       -1},
      {"Sta2 + P-DATA-TF: AA-1 abort", STA2, 0, PDU(pdata), 0, IND_PROVIDER_ABORT, STA13, 7, -1},
      {"Sta2 + A-RELEASE-RQ: AA-1", STA2, 0, PDU(release_rq), 0, IND_PROVIDER_ABORT, STA13, 7, -1},
      {"Sta2 + A-ABORT: AA-2 close", STA2, 0, PDU(abort_pdu), 0, IND_CLOSED, STA1, 0, -1},
      {"Sta2 + close: AA-5", STA2, 0, NULL, 0, 1, IND_CLOSED, STA1, 0, -1},
      {"Sta2 + ARTIM: AA-2", STA2, 0, NULL, 0, 0, IND_TIMEOUT, STA1, 0, -1},
      {"Sta2 + unknown PDU: Evt19 AA-1", STA2, 0, PDU(unknown_pdu), 0, IND_PROVIDER_ABORT, STA13, 7,
       1},
      {"Sta5 + A-ASSOCIATE-AC: AE-3", STA5, 1, ac_buf, ac_len, 0, IND_ACCEPTED, STA6, 0, -1},
      {"Sta5 + A-ASSOCIATE-RJ: AE-4", STA5, 1, PDU(reject_pdu), 0, IND_REJECTED, STA1, 0, -1},
      {"Sta5 + P-DATA-TF: AA-8", STA5, 1, PDU(pdata), 0, IND_PROVIDER_ABORT, STA13, 7, 2},
      {"Sta6 + P-DATA-TF: DT-2", STA6, 0, PDU(pdata), 0, IND_PDATA, STA6, 0, -1},
      {"Sta6 + A-RELEASE-RQ: AR-2", STA6, 0, PDU(release_rq), 0, IND_RELEASE_RQ, STA8, 0, -1},
      {"Sta6 + A-RELEASE-RP: AA-8", STA6, 0, PDU(release_rp), 0, IND_PROVIDER_ABORT, STA13, 7, 2},
      {"Sta6 + A-ASSOCIATE-RQ: AA-8", STA6, 0, rq_buf, rq_len, 0, IND_PROVIDER_ABORT, STA13, 7, 2},
      {"Sta6 + A-ASSOCIATE-AC: AA-8", STA6, 0, ac_buf, ac_len, 0, IND_PROVIDER_ABORT, STA13, 7, 2},
      {"Sta6 + A-ABORT: AA-3", STA6, 0, PDU(abort_pdu), 0, IND_ABORTED, STA1, 0, -1},
      {"Sta6 + close: AA-4", STA6, 0, NULL, 0, 1, IND_CLOSED, STA1, 0, -1},
      {"Sta6 + P-DATA beyond the max: Evt19 AA-8", STA6, 0, PDU(pdata_too_long), 0,
       IND_PROVIDER_ABORT, STA13, 7, 6},
      {"Sta6 + A-RELEASE-RQ of a bad length: Evt19", STA6, 0, PDU(release_bad_len), 0,
       IND_PROVIDER_ABORT, STA13, 7, 6},
      /* A PDU begun and not whole within ARTIM: the stream is lost, A-ABORT. */
      {"Sta6 + half a PDU header, then silence: aborted", STA6, 0, PDU(half_header), 0, IND_TIMEOUT,
       STA13, 7, -1},
      {"Sta6 + a PDU cut short, then silence: aborted", STA6, 0, PDU(cut_pdata), 0, IND_TIMEOUT,
       STA13, 7, -1},
      {"Sta7 + P-DATA-TF: AR-6", STA7, 1, PDU(pdata), 0, IND_PDATA, STA7, 0, -1},
      {"Sta7 + A-RELEASE-RP: AR-3", STA7, 1, PDU(release_rp), 0, IND_RELEASED, STA1, 0, -1},
      {"Sta7 + A-RELEASE-RQ, requestor: AR-8 to Sta9", STA7, 1, PDU(release_rq), 0, IND_RELEASE_RQ,
       STA9, 0, -1},
      {"Sta7 + A-RELEASE-RQ, acceptor: AR-8 to Sta10", STA7, 0, PDU(release_rq), 0, IND_RELEASE_RQ,
       STA10, 0, -1},
      {"Sta10 + A-RELEASE-RP: AR-10", STA10, 0, PDU(release_rp), 0, IND_RELEASED, STA12, 0, -1},
      {"Sta11 + A-RELEASE-RP: AR-3", STA11, 1, PDU(release_rp), 0, IND_RELEASED, STA1, 0, -1},
      {"Sta8 + P-DATA-TF: AA-8", STA8, 0, PDU(pdata), 0, IND_PROVIDER_ABORT, STA13, 7, 2},
      {"Sta13 + P-DATA-TF: AA-6 ignored", STA13, 0, PDU(pdata), 0, IND_NONE, STA13, 0, -1},
      {"Sta13 + A-ASSOCIATE-RQ: AA-7", STA13, 0, rq_buf, rq_len, 0, IND_NONE, STA13, 7, -1},
      {"Sta13 + close: AR-5", STA13, 0, NULL, 0, 1, IND_CLOSED, STA1, 0, -1},
      {"Sta13 + ARTIM: AA-2", STA13, 0, NULL, 0, 0, IND_TIMEOUT, STA1, 0, -1},
      {"Sta13 + A-ABORT: AA-2", STA13, 0, PDU(abort_pdu), 0, IND_CLOSED, STA1, 0, -1},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    run_row(&rows[i]);
}

/* Local primitives: each allowed one sends its PDU and moves on; one
 * PS3.8 does not allow in the state changes nothing. */
static void test_local_primitives(void **state) {
  (void)state;
  make_assoc_pdus();
  int sv[2];
  make_pair(sv);
  net_assoc a;
  assert_int_equal(net_assoc_init(&a, NULL, 0), 0);
  a.fd = sv[0];
  a.requestor = 1;
  a.state = STA4;
  a.rq->pc_count = 1;
  strcpy(a.rq->app_context, NET_APP_CONTEXT);
  strcpy(a.rq->pc[0].abstract_syntax, "1.2.840.10008.1.1");
  strcpy(a.rq->pc[0].ts[0], "1.2.840.10008.1.2");
  a.rq->pc[0].ts_count = 1;
  a.rq->pc[0].id = 1;
  uint8_t reason;
  net_fsm(&a, EVT2); /* AE-2 */
  assert_int_equal(a.state, STA5);
  assert_int_equal(read_reply(sv[1], &reason), NET_PDU_ASSOCIATE_RQ);
  net_fsm(&a, EVT11); /* release in Sta5: not allowed */
  assert_int_equal(a.state, STA5);
  assert_int_equal(a.err.code, SI_ERR_STATE);
  assert_int_equal(read_reply(sv[1], &reason), 0);
  assert_int_equal(write(sv[1], ac_buf, ac_len), (ssize_t)ac_len);
  assert_int_equal(net_assoc_wait(&a, 1000), IND_ACCEPTED);
  assert_int_equal(a.peer_max_pdu, 32768);
  si_error err;
  assert_int_equal(net_assoc_send_pdv(&a, 1, 1, 1, (const uint8_t *)"ab", 2, &err), SI_OK);
  assert_int_equal(read_reply(sv[1], &reason), NET_PDU_DATA_TF);
  net_fsm(&a, EVT11); /* AR-1 */
  assert_int_equal(a.state, STA7);
  assert_int_equal(read_reply(sv[1], &reason), NET_PDU_RELEASE_RQ);
  /* Release collision on the requestor side: Sta9, AR-9, Sta11, AR-3. */
  assert_int_equal(write(sv[1], release_rq, sizeof release_rq), (ssize_t)sizeof release_rq);
  assert_int_equal(net_assoc_wait(&a, 1000), IND_RELEASE_RQ);
  assert_int_equal(a.state, STA9);
  net_fsm(&a, EVT14);
  assert_int_equal(a.state, STA11);
  assert_int_equal(read_reply(sv[1], &reason), NET_PDU_RELEASE_RP);
  assert_int_equal(write(sv[1], release_rp, sizeof release_rp), (ssize_t)sizeof release_rp);
  assert_int_equal(net_assoc_wait(&a, 1000), IND_RELEASED);
  assert_int_equal(a.state, STA1);
  assert_int_equal(a.fd, -1);
  net_assoc_close(&a);
  close(sv[1]);

  /* Acceptor: Sta3 + reject (AE-8) sends the RJ and waits in Sta13. */
  make_pair(sv);
  assert_int_equal(net_assoc_init(&a, NULL, 0), 0);
  a.fd = sv[0];
  a.state = STA3;
  net_reject rj = {NET_RJ_PERMANENT, NET_RJ_USER, NET_RJ_USER_CALLING_AE};
  net_assoc_reject(&a, &rj);
  assert_int_equal(a.state, STA13);
  assert_int_equal(read_reply(sv[1], &reason), NET_PDU_ASSOCIATE_RJ);
  assert_int_equal(reason, 3);
  close(sv[1]); /* the peer closes: AR-5 inside close */
  net_assoc_close(&a);
  assert_int_equal(a.state, STA1);

  /* A local abort in Sta6 (AA-1) sends an A-ABORT from the user. */
  make_pair(sv);
  assert_int_equal(net_assoc_init(&a, NULL, 0), 0);
  a.fd = sv[0];
  a.state = STA6;
  net_assoc_abort(&a);
  assert_int_equal(a.state, STA13);
  assert_int_equal(read_reply(sv[1], &reason), NET_PDU_ABORT);
  close(sv[1]);
  net_assoc_close(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_rows),
      cmocka_unit_test(test_local_primitives),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
