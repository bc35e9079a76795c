/* DIMSE statuses, rejection and abort reasons as text (PS3.7 Annex C,
 * PS3.4 B.2.3, PS3.8 Tables 9-21 and 9-26), and the association identity
 * sendit presents. */
#include <stdio.h>
#include <string.h>

#include "net/common.h"
#include "sendit/write.h"

static const struct {
  uint16_t status, mask; /* status & mask == status */
  si_net_status_class cls;
  const char *text;
} statuses[] = {
    {0x0000, 0xFFFF, SI_NET_SUCCESS, "Success"},
    {0x0001, 0xFFFF, SI_NET_WARNING, "Warning: requested optional attributes not supported"},
    {0x0107, 0xFFFF, SI_NET_WARNING, "Warning: attribute list error"},
    {0x0116, 0xFFFF, SI_NET_WARNING, "Warning: attribute value out of range"},
    {0xB000, 0xFFFF, SI_NET_WARNING, "Warning: coercion of data elements"},
    {0xB006, 0xFFFF, SI_NET_WARNING, "Warning: elements discarded"},
    {0xB007, 0xFFFF, SI_NET_WARNING, "Warning: data set does not match SOP class"},
    {0xB000, 0xF000, SI_NET_WARNING, "Warning"},
    {0xA700, 0xFF00, SI_NET_FAILURE, "Refused: out of resources"},
    {0xA900, 0xFF00, SI_NET_FAILURE, "Error: data set does not match SOP class"},
    {0xC000, 0xF000, SI_NET_FAILURE, "Error: cannot understand"},
    {0x0122, 0xFFFF, SI_NET_FAILURE, "Refused: SOP class not supported"},
    {0x0124, 0xFFFF, SI_NET_FAILURE, "Refused: not authorized"},
    {0x0110, 0xFFFF, SI_NET_FAILURE, "Failure: processing failure"},
    {0x0111, 0xFFFF, SI_NET_FAILURE, "Failure: duplicate SOP instance"},
    {0x0117, 0xFFFF, SI_NET_FAILURE, "Failure: invalid object instance"},
    {0x0211, 0xFFFF, SI_NET_FAILURE, "Failure: unrecognized operation"},
    {0x0212, 0xFFFF, SI_NET_FAILURE, "Failure: mistyped argument"},
    {0x0213, 0xFFFF, SI_NET_FAILURE, "Failure: resource limitation"},
};

static int status_row(uint16_t status) {
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
    if ((status & statuses[i].mask) == statuses[i].status)
      return (int)i;
  return -1;
}

si_net_status_class si_net_status_classify(uint16_t status) {
  int r = status_row(status);
  return r < 0 ? SI_NET_FAILURE : statuses[r].cls;
}

const char *si_net_status_text(uint16_t status) {
  int r = status_row(status);
  return r < 0 ? "Failure" : statuses[r].text;
}

void net_fill_identity(net_assoc_pdu *p, const char *called, const char *calling,
                       uint32_t max_pdu) {
  p->protocol_version = 1;
  snprintf(p->called_ae, sizeof p->called_ae, "%s", called);
  snprintf(p->calling_ae, sizeof p->calling_ae, "%s", calling);
  snprintf(p->app_context, sizeof p->app_context, "%s", NET_APP_CONTEXT);
  p->max_pdu = max_pdu;
  snprintf(p->impl_class_uid, sizeof p->impl_class_uid, "%s", SI_IMPLEMENTATION_CLASS_UID);
  snprintf(p->impl_version, sizeof p->impl_version, "%s", si_implementation_version_name());
}

static const struct {
  uint8_t source, reason;
  const char *text;
} reject_reasons[] = {
    {NET_RJ_USER, NET_RJ_USER_NO_REASON, "no reason given"},
    {NET_RJ_USER, NET_RJ_USER_APP_CONTEXT, "application context name not supported"},
    {NET_RJ_USER, NET_RJ_USER_CALLING_AE, "calling AE title not recognized"},
    {NET_RJ_USER, NET_RJ_USER_CALLED_AE, "called AE title not recognized"},
    {NET_RJ_ACSE, 1, "no reason given (ACSE)"},
    {NET_RJ_ACSE, NET_RJ_ACSE_PROTOCOL_VERSION, "protocol version not supported"},
    {NET_RJ_PRESENTATION, NET_RJ_PRES_CONGESTION, "temporary congestion"},
    {NET_RJ_PRESENTATION, NET_RJ_PRES_LOCAL_LIMIT, "local limit exceeded"},
};

void net_reject_text(const net_reject *rj, char *out, size_t size) {
  const char *why = "unknown reason";
  for (size_t i = 0; i < sizeof reject_reasons / sizeof reject_reasons[0]; i++)
    if (reject_reasons[i].source == rj->source && reject_reasons[i].reason == rj->reason)
      why = reject_reasons[i].text;
  snprintf(out, size, "%s, %s (result %u, source %u, reason %u)",
           rj->result == NET_RJ_PERMANENT ? "permanent" : "transient", why, rj->result, rj->source,
           rj->reason);
}

void net_abort_text(uint8_t source, uint8_t reason, char *out, size_t size) {
  static const char *const reasons[] = {"reason not specified",
                                        "unrecognized PDU",
                                        "unexpected PDU",
                                        "reserved",
                                        "unrecognized PDU parameter",
                                        "unexpected PDU parameter",
                                        "invalid PDU parameter value"};
  snprintf(out, size, "%s, %s", source == NET_ABORT_USER ? "by the peer" : "by the peer's provider",
           reason < sizeof reasons / sizeof reasons[0] ? reasons[reason] : "unknown reason");
}
