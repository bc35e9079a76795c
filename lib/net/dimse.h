/* DIMSE (PS3.7): command sets in Implicit VR Little Endian (group 0000),
 * and messages carried as PDVs: command and data set fragmented to the
 * peer's maximum PDU, and reassembled within bounds (a command set of at
 * most NET_MAX_COMMAND bytes in memory; data set fragments handed to a
 * sink as they come, so a data set never has to fit in memory).
 *
 * Ownership: net_cmd is a plain value; sinks and sources are the caller's. */
#ifndef SENDIT_NET_DIMSE_H
#define SENDIT_NET_DIMSE_H

#include <stddef.h>
#include <stdint.h>

#include "assoc.h"

#define NET_MAX_COMMAND 65536

enum {
  NET_C_STORE_RQ = 0x0001,
  NET_C_STORE_RSP = 0x8001,
  NET_C_ECHO_RQ = 0x0030,
  NET_C_ECHO_RSP = 0x8030,
  NET_NO_DATA_SET = 0x0101
};

/* Statuses sendit answers with (PS3.4 B.2.3). */
enum {
  NET_STATUS_SUCCESS = 0x0000,
  NET_STATUS_OUT_OF_RESOURCES = 0xA700,
  NET_STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122,
  NET_STATUS_DATA_SET_MISMATCH = 0xA900,
  NET_STATUS_CANNOT_UNDERSTAND = 0xC000,
  NET_STATUS_PROCESSING_FAILURE = 0x0110
};

/* Fields present in a net_cmd (has). */
enum {
  NET_CMD_SOP_CLASS = 1u << 0,
  NET_CMD_MESSAGE_ID = 1u << 1,
  NET_CMD_RESPONDED_TO = 1u << 2,
  NET_CMD_PRIORITY = 1u << 3,
  NET_CMD_STATUS = 1u << 4,
  NET_CMD_SOP_INSTANCE = 1u << 5,
  NET_CMD_ERROR_COMMENT = 1u << 6,
  NET_CMD_MOVE_AE = 1u << 7,
  NET_CMD_MOVE_ID = 1u << 8,
  NET_CMD_FIELD = 1u << 9,
  NET_CMD_DATA_SET_TYPE = 1u << 10
};

typedef struct net_cmd {
  uint32_t has; /* NET_CMD_* */
  uint16_t field, message_id, responded_to, priority, data_set_type, status, move_id;
  char sop_class[65];
  char sop_instance[65];
  char move_ae[17];
  char error_comment[65];
} net_cmd;

/* Decodes a command set (Implicit VR LE, group 0000 only): every element
 * checked against the bytes present; UIDs over 64 bytes, US values not 2
 * bytes, other groups and a missing CommandField are errors. An error
 * comment longer than 64 bytes is kept cut with "..." (it is only shown). */
si_status net_cmd_decode(const uint8_t *buf, size_t len, net_cmd *out, si_error *err);
/* Encodes the fields in `has` (plus the group length and CommandField and
 * CommandDataSetType, always) into *out (malloc'd, caller frees). */
si_status net_cmd_encode(const net_cmd *c, uint8_t **out, size_t *out_len, si_error *err);

/* Waits (timeout_ms) for the next whole command set. SI_OK: *cmd and
 * *pc_id filled. Otherwise *ind says what came instead (release request,
 * abort, close, timeout) and err why; a broken PDV or command set aborts
 * the association (IND_PROVIDER_ABORT). */
si_status net_dimse_recv_command(net_assoc *a, int timeout_ms, net_cmd *cmd, uint8_t *pc_id,
                                 net_ind *ind, si_error *err);
/* Receives the data set following a command on pc_id: each fragment goes
 * to sink (which returns 0, or -1 to stop: the rest is still read and
 * dropped so the association stays usable, and *sink_failed is set).
 * Fragments on another context, or a command fragment, abort. */
typedef int (*net_data_sink)(void *ctx, const uint8_t *data, size_t len);
si_status net_dimse_recv_data(net_assoc *a, int timeout_ms, uint8_t pc_id, net_data_sink sink,
                              void *ctx, int *sink_failed, net_ind *ind, si_error *err);

/* A data set to send: len bytes from memory, or from fd at offset. */
typedef struct net_data_source {
  const uint8_t *mem;
  int fd;
  uint64_t offset, len;
} net_data_source;

/* Sends a command (and the data set, when data is not NULL) on pc_id. */
si_status net_dimse_send(net_assoc *a, uint8_t pc_id, const net_cmd *cmd,
                         const net_data_source *data, si_error *err);

#endif
