/* Pieces shared by the SCU (scu.c) and the SCP (scp.c). */
#ifndef SENDIT_NET_COMMON_H
#define SENDIT_NET_COMMON_H

#include "assoc.h"
#include "dimse.h"

#define NET_VERIFICATION_UID "1.2.840.10008.1.1"

/* Fills the parts of an A-ASSOCIATE-RQ/AC that do not depend on the
 * contexts: titles, application context, max PDU, implementation. */
void net_fill_identity(net_assoc_pdu *p, const char *called, const char *calling, uint32_t max_pdu);
/* Text of an A-ASSOCIATE-RJ ("permanent, called AE title not recognized"). */
void net_reject_text(const net_reject *rj, char *out, size_t size);
/* Text of an A-ABORT source and reason. */
void net_abort_text(uint8_t source, uint8_t reason, char *out, size_t size);

#endif
