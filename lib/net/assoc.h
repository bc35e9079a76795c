/* The upper layer of PS3.8: one association over one TCP connection, run by
 * the state machine of PS3.8 Table 9-10 (fsm.c holds that table). Users
 * drive it with the primitives below (requests and responses) and read what
 * the peer did from net_assoc_wait's indications.
 *
 * Ownership: a net_assoc owns its socket, its PDU buffer and both
 * negotiation records; net_assoc_close frees them. Not thread-safe: one
 * thread per association. */
#ifndef SENDIT_NET_ASSOC_H
#define SENDIT_NET_ASSOC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "pdu.h"
#include "sendit/net.h"
#include "transport.h"

/* Makes a connected socket secure (TLS, tls.c) before any PDU: as client
 * when host is not NULL. Called with ARTIM's deadline; fills *out. */
typedef si_status (*net_secure_fn)(void *user, int fd, const char *host, int64_t deadline,
                                   const atomic_int *stop, net_secure *out, si_error *err);

/* PS3.8 Table 9-10's states (Sta1-Sta13). */
typedef enum net_state {
  STA1 = 1, /* idle */
  STA2,     /* transport open, awaiting A-ASSOCIATE-RQ */
  STA3,     /* awaiting local A-ASSOCIATE response */
  STA4,     /* awaiting transport connection */
  STA5,     /* awaiting A-ASSOCIATE-AC or -RJ */
  STA6,     /* established */
  STA7,     /* awaiting A-RELEASE-RP */
  STA8,     /* awaiting local A-RELEASE response */
  STA9,     /* collision, requestor: awaiting local release response */
  STA10,    /* collision, acceptor: awaiting A-RELEASE-RP */
  STA11,    /* collision, requestor: awaiting A-RELEASE-RP */
  STA12,    /* collision, acceptor: awaiting local release response */
  STA13,    /* awaiting transport close */
  NET_STATE_COUNT
} net_state;

/* PS3.8's events (Evt1-Evt19). */
typedef enum net_event {
  EVT1 = 1, /* A-ASSOCIATE request (local) */
  EVT2,     /* transport connect confirmation */
  EVT3,     /* A-ASSOCIATE-AC received */
  EVT4,     /* A-ASSOCIATE-RJ received */
  EVT5,     /* transport connection indication */
  EVT6,     /* A-ASSOCIATE-RQ received */
  EVT7,     /* A-ASSOCIATE response: accept (local) */
  EVT8,     /* A-ASSOCIATE response: reject (local) */
  EVT9,     /* P-DATA request (local) */
  EVT10,    /* P-DATA-TF received */
  EVT11,    /* A-RELEASE request (local) */
  EVT12,    /* A-RELEASE-RQ received */
  EVT13,    /* A-RELEASE-RP received */
  EVT14,    /* A-RELEASE response (local) */
  EVT15,    /* A-ABORT request (local) */
  EVT16,    /* A-ABORT received */
  EVT17,    /* transport closed */
  EVT18,    /* ARTIM expired */
  EVT19,    /* unrecognised or invalid PDU */
  NET_EVENT_COUNT
} net_event;

/* What the peer (or the provider) told the local user. */
typedef enum net_ind {
  IND_NONE = 0,
  IND_ASSOC_RQ,       /* an A-ASSOCIATE-RQ to answer (a->rq) */
  IND_ACCEPTED,       /* our request was accepted (a->ac) */
  IND_REJECTED,       /* our request was rejected (a->rj) */
  IND_PDATA,          /* a P-DATA-TF is in the buffer: read it with net_assoc_next_pdv */
  IND_RELEASE_RQ,     /* the peer asks to release: answer net_assoc_release_reply */
  IND_RELEASED,       /* our release was confirmed; the connection is closed */
  IND_ABORTED,        /* the peer aborted (a->abort_source, abort_reason) */
  IND_PROVIDER_ABORT, /* the protocol broke (a->err says how); an A-ABORT was sent */
  IND_CLOSED,         /* the connection closed */
  IND_TIMEOUT         /* nothing within the timeout: the caller aborts */
} net_ind;

typedef struct net_assoc {
  int fd;
  net_secure sec;       /* TLS session over fd; none: plain TCP */
  net_secure_fn secure; /* set before the request or the connection: TLS is wanted */
  void *secure_user;    /* its first argument (the net_tls_ctx) */
  net_state state;
  int requestor;
  int request_sent; /* requestor: the A-ASSOCIATE-RQ went out on a connection */
  si_net_timeouts timeouts;
  int64_t artim_deadline; /* -1: ARTIM not running */
  uint32_t our_max_pdu;   /* largest P-DATA-TF we take */
  uint32_t peer_max_pdu;  /* largest the peer takes; 0 = no limit */
  net_assoc_pdu *rq;      /* the request (ours or the peer's) */
  net_assoc_pdu *ac;      /* the answer */
  net_reject rj;
  uint8_t abort_source, abort_reason;
  uint8_t provider_reason; /* A-ABORT reason when the provider aborts (AA-8) */
  /* Connect parameters (AE-1). */
  const char *host, *port;
  /* The PDU received last. */
  uint8_t *buf;
  size_t cap, len, pdv_pos;
  /* A P-DATA to send (Evt9). */
  uint8_t out_pc, out_command, out_last;
  const uint8_t *out_data;
  size_t out_len;
  int pdata_open; /* PDVs of the P-DATA-TF in buf are left to read */
  net_ind ind;
  si_error err;
} net_assoc;

/* A fresh association record in Sta1; 0 on success, -1 out of memory. */
int net_assoc_init(net_assoc *a, const si_net_timeouts *t, uint32_t our_max_pdu);
/* Closes the socket (waiting up to ARTIM for the peer to close first when
 * the state machine says so) and frees everything. */
void net_assoc_close(net_assoc *a);

/* Runs one event through the table (fsm.c). Tests call it directly. */
void net_fsm(net_assoc *a, net_event e);
/* Name of a state / event for messages. Static. */
const char *net_state_name(net_state s);

/* Requestor: connects to a->host:a->port and sends a->rq (Evt1, Evt2),
 * then waits for the answer: IND_ACCEPTED, IND_REJECTED or an abort. */
net_ind net_assoc_request(net_assoc *a, const char *host, const char *port);
/* Acceptor: takes a connected socket (Evt5) and waits for the
 * A-ASSOCIATE-RQ (ARTIM): IND_ASSOC_RQ when one came and was decoded.
 * Gives up early (IND_TIMEOUT) once *stop (may be NULL) is set. */
net_ind net_assoc_accept_connection(net_assoc *a, int fd, const atomic_int *stop);
/* The local answer to IND_ASSOC_RQ: a->ac filled (Evt7), or a->rj (Evt8). */
si_status net_assoc_accept(net_assoc *a, si_error *err);
void net_assoc_reject(net_assoc *a, const net_reject *rj);

/* Waits for the next PDU (at most timeout_ms; -1 = the state's own:
 * ARTIM where PS3.8 runs it) and runs its event. */
net_ind net_assoc_wait(net_assoc *a, int timeout_ms);
/* Next PDV of the P-DATA-TF in the buffer: SI_OK, SI_ERR_NOT_FOUND when
 * none is left, else an invalid PDU (the caller aborts). */
si_status net_assoc_next_pdv(net_assoc *a, net_pdv *pdv, si_error *err);

/* Sends one PDV in one P-DATA-TF (Evt9); len must fit the peer's max. */
si_status net_assoc_send_pdv(net_assoc *a, uint8_t pc_id, int command, int last,
                             const uint8_t *data, size_t len, si_error *err);
/* Largest PDV data the peer takes in one PDU. */
size_t net_assoc_max_pdv(const net_assoc *a);

/* Requestor: A-RELEASE-RQ and wait for the RP: IND_RELEASED on success. */
net_ind net_assoc_release(net_assoc *a);
/* Acceptor: answers IND_RELEASE_RQ (Evt14) and waits for the close. */
void net_assoc_release_reply(net_assoc *a);
/* Local abort (Evt15). */
void net_assoc_abort(net_assoc *a);
/* The PDU in the buffer turned out invalid (a bad PDV, a broken command
 * set): Evt19, an A-ABORT with this reason (NET_ABORT_*). */
void net_assoc_invalid_pdu(net_assoc *a, uint8_t reason);

#endif
