/* PDU encoding and decoding (PS3.8 section 9.3): pure functions over
 * buffers, no I/O. Every length read is checked against the bytes present
 * and against the limits the caller gives; errors are si_error values that
 * name the PDU type and the byte offset in the PDU (header included).
 *
 * Ownership: decoded structures are filled by value (UIDs and AE titles are
 * copied into fixed fields whose size is the standard's maximum, and a longer
 * value is an error, never cut). net_pdv values borrow the PDU buffer. */
#ifndef SENDIT_NET_PDU_H
#define SENDIT_NET_PDU_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"

enum {
  NET_PDU_ASSOCIATE_RQ = 0x01,
  NET_PDU_ASSOCIATE_AC = 0x02,
  NET_PDU_ASSOCIATE_RJ = 0x03,
  NET_PDU_DATA_TF = 0x04,
  NET_PDU_RELEASE_RQ = 0x05,
  NET_PDU_RELEASE_RP = 0x06,
  NET_PDU_ABORT = 0x07
};

#define NET_PDU_HEADER 6
/* Odd presentation context ids 1-255: at most 128 in one association. */
#define NET_MAX_PC 128
/* Transfer syntaxes kept per proposed context; more is an error (named). */
#define NET_MAX_TS 32
/* Largest A-ASSOCIATE PDU accepted: 128 contexts of 32 syntaxes fit. */
#define NET_MAX_ASSOC_PDU (256u * 1024u)
#define NET_APP_CONTEXT "1.2.840.10008.3.1.1.1"
/* Longest username or passcode kept from a user identity sub-item; a
 * longer one is an error (named), never cut. */
#define NET_MAX_USER_FIELD 1024

/* User identity types (PS3.7 Table D.3-14). */
enum {
  NET_USER_USERNAME = 1,
  NET_USER_PASSCODE = 2, /* username and passcode */
  NET_USER_KERBEROS = 3,
  NET_USER_SAML = 4,
  NET_USER_JWT = 5
};

/* Presentation context results (PS3.8 Table 9-18). */
enum {
  NET_PC_ACCEPT = 0,
  NET_PC_USER_REJECT = 1,
  NET_PC_NO_REASON = 2,
  NET_PC_ABSTRACT_NOT_SUPPORTED = 3,
  NET_PC_TS_NOT_SUPPORTED = 4
};

typedef struct net_pc {
  uint8_t id;
  uint8_t result;           /* AC only: NET_PC_* */
  char abstract_syntax[65]; /* RQ only (an AC does not repeat it) */
  uint8_t ts_count;         /* RQ: proposed; AC: 1 when accepted */
  char ts[NET_MAX_TS][65];
} net_pc;

/* A-ASSOCIATE-RQ and -AC. AE titles are trimmed of their space padding. */
typedef struct net_assoc_pdu {
  uint16_t protocol_version;
  char called_ae[17];
  char calling_ae[17];
  char app_context[65];
  size_t pc_count;
  net_pc pc[NET_MAX_PC];
  uint32_t max_pdu; /* 0 = no limit (PS3.8 D.1) */
  char impl_class_uid[65];
  char impl_version[17];
  /* What was proposed and is declined by leaving it out of the answer. */
  int async_ops, role_selections, ext_negotiations, user_identity;
  /* User identity negotiation (PS3.7 D.3.3.7). RQ: sub-item 0x58, encoded
   * when user_type is 1 or 2 and username_len > 0; user_type 0 when none
   * came. Types 3-5 (tickets, assertions, tokens) are recorded by type
   * only. The fields are bytes (NUL-terminated for convenience). */
  uint8_t user_type;
  uint8_t user_response_requested;
  size_t username_len, passcode_len;
  char username[NET_MAX_USER_FIELD + 1];
  char passcode[NET_MAX_USER_FIELD + 1];
  /* AC: sub-item 0x59 (a positive answer; its server response is empty
   * for types 1 and 2), encoded when set. */
  int user_response;
} net_assoc_pdu;

/* A-ASSOCIATE-RJ results, sources and reasons (PS3.8 Table 9-21). */
enum { NET_RJ_PERMANENT = 1, NET_RJ_TRANSIENT = 2 };
enum { NET_RJ_USER = 1, NET_RJ_ACSE = 2, NET_RJ_PRESENTATION = 3 };
enum {
  NET_RJ_USER_NO_REASON = 1,
  NET_RJ_USER_APP_CONTEXT = 2,
  NET_RJ_USER_CALLING_AE = 3,
  NET_RJ_USER_CALLED_AE = 7,
  NET_RJ_ACSE_PROTOCOL_VERSION = 2,
  NET_RJ_PRES_CONGESTION = 1,
  NET_RJ_PRES_LOCAL_LIMIT = 2
};

typedef struct net_reject {
  uint8_t result, source, reason;
} net_reject;

/* A-ABORT sources and reasons (PS3.8 Table 9-26). */
enum { NET_ABORT_USER = 0, NET_ABORT_PROVIDER = 2 };
enum {
  NET_ABORT_NOT_SPECIFIED = 0,
  NET_ABORT_UNRECOGNIZED_PDU = 1,
  NET_ABORT_UNEXPECTED_PDU = 2,
  NET_ABORT_UNRECOGNIZED_PARAM = 4,
  NET_ABORT_UNEXPECTED_PARAM = 5,
  NET_ABORT_INVALID_PARAM = 6
};

/* One presentation data value of a P-DATA-TF PDU; data borrows the PDU. */
typedef struct net_pdv {
  uint8_t pc_id;
  uint8_t command; /* 1: command set fragment, 0: data set fragment */
  uint8_t last;    /* 1: last fragment of its message */
  const uint8_t *data;
  size_t len;
} net_pdv;

/* Name of a PDU type for messages ("A-ASSOCIATE-RQ"; "unknown PDU"). Static. */
const char *net_pdu_name(uint8_t type);

/* Reads the 6-byte header: type and length (of the bytes after it). */
void net_pdu_header(const uint8_t hdr[NET_PDU_HEADER], uint8_t *type, uint32_t *length);

/* Decodes a whole A-ASSOCIATE-RQ (type 1) or -AC (type 2) PDU, header
 * included (len bytes at buf). */
si_status net_decode_assoc(const uint8_t *buf, size_t len, net_assoc_pdu *out, si_error *err);
/* Encodes one; *out is malloc'd (caller frees). type is 1 or 2. For an AC,
 * pc[i].result and, when accepted, ts[0] are written; max_pdu, the class UID
 * and the version name always. */
si_status net_encode_assoc(uint8_t type, const net_assoc_pdu *in, uint8_t **out, size_t *out_len,
                           si_error *err);

si_status net_decode_reject(const uint8_t *buf, size_t len, net_reject *out, si_error *err);
void net_encode_reject(const net_reject *rj, uint8_t out[10]);
si_status net_decode_abort(const uint8_t *buf, size_t len, uint8_t *source, uint8_t *reason,
                           si_error *err);
void net_encode_abort(uint8_t source, uint8_t reason, uint8_t out[10]);
/* A-RELEASE-RQ (type 5) or -RP (type 6): checks the fixed length. */
si_status net_decode_release(const uint8_t *buf, size_t len, si_error *err);
void net_encode_release(uint8_t type, uint8_t out[10]);

/* Iterates the PDVs of a P-DATA-TF PDU (header included): *pos starts at
 * NET_PDU_HEADER; returns SI_OK with *pdv filled, SI_ERR_NOT_FOUND after the
 * last, or an error for a PDV that does not fit. A PDU without PDVs is an
 * error (PS3.8 9.3.5: one or more). */
si_status net_pdata_next(const uint8_t *buf, size_t len, size_t *pos, net_pdv *pdv, si_error *err);
/* The 12 header bytes of a P-DATA-TF holding one PDV of data_len bytes. */
void net_encode_pdata_header(uint8_t pc_id, int command, int last, uint32_t data_len,
                             uint8_t out[12]);

#endif
