/* The answer to a STOW-RS request (PS3.18 10.5.3), read per instance: the
 * Store Instances Response Module in the DICOM JSON Model, with its
 * ReferencedSOPSequence (0008,1199: stored, maybe with a WarningReason
 * 0008,1196) and FailedSOPSequence (0008,1198: refused, with a
 * FailureReason 0008,1197). The bytes come from another host and are read
 * as hostile: every shape, type, length and number is checked. Jansson
 * only, so that the fuzzer (fuzz/fuzz_stow_response.c) links it alone.
 * Internal to the library. */
#ifndef SENDIT_DELIVER_STOW_RESPONSE_H
#define SENDIT_DELIVER_STOW_RESPONSE_H

#include <stddef.h>

#include "sendit/error.h"

#define SI_STOW_RESPONSE_MAX (16 * 1024 * 1024) /* bytes of an answer read at most */
#define SI_STOW_ANSWER_MAX 200
#define SI_STOW_MAX_ITEMS 1000000 /* items of a sequence looked at, at most */

/* What the response says about one instance of the request. */
typedef struct si_stow_outcome {
  int sent;      /* 1: in ReferencedSOPSequence (and not in FailedSOPSequence) */
  int retryable; /* when !sent: a FailureReason A7xx or 0110, or not mentioned at all */
  char answer[SI_STOW_ANSWER_MAX]; /* "HTTP 200: ReferencedSOP", "0xA900: ... (HTTP 409)" */
} si_stow_outcome;

/* Reads body[len] (not NUL-terminated), the answer with HTTP status
 * `status` to a request for the instances uids[count] (their SOP Instance
 * UIDs), into out[count], one outcome per instance: an instance the
 * response does not mention is failed, retryable ("not confirmed by the
 * response"). Returns an error, filling no outcome, when the body is not a
 * DICOM JSON object holding at least one of the two sequences, each of
 * the model's shape (an XML answer included: sendit asks for JSON and does
 * not guess). */
si_status si_stow_response_parse(const char *body, size_t len, long status, const char *const *uids,
                                 size_t count, si_stow_outcome *out, si_error *err);

/* Whether a FailureReason may succeed later: A7xx (out of resources) and
 * 0110 (processing failure); everything else (A9xx, Cxxx, 0122, ...) is
 * final. */
int si_stow_reason_retryable(unsigned reason);
/* The Standard's name of a status ("out of resources"), or "". */
const char *si_stow_reason_name(unsigned reason);

#endif
