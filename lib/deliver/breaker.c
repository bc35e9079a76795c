/* The circuit breaker's rules (sendit/deliver.h). Pure: the engine reads
 * the destination's row under its lock, applies these, and writes it back
 * in the same transaction. */
#include <stdio.h>
#include <string.h>

#include "sendit/deliver.h"

si_breaker_verdict si_breaker_admit(si_dest_state *s, int64_t now_ms, int probe_seconds,
                                    int64_t lease_ms, int64_t *until_ms) {
  int64_t probe_ms = (int64_t)probe_seconds * 1000;
  *until_ms = now_ms;
  if (strcmp(s->state, SI_BREAKER_OPEN) == 0) {
    if (now_ms < s->opened_at + probe_ms) {
      *until_ms = s->opened_at + probe_ms;
      return SI_BREAKER_WAIT;
    }
  } else if (strcmp(s->state, SI_BREAKER_HALF_OPEN) == 0) {
    /* One probe at a time; a probe's worker that died lets go with its
     * lease. */
    if (now_ms < s->opened_at + lease_ms) {
      *until_ms = now_ms + (probe_ms < lease_ms ? probe_ms : lease_ms);
      return SI_BREAKER_WAIT;
    }
  } else {
    return SI_BREAKER_RUN;
  }
  snprintf(s->state, sizeof s->state, "%s", SI_BREAKER_HALF_OPEN);
  s->opened_at = now_ms;
  return SI_BREAKER_PROBE;
}

int si_breaker_record(si_dest_state *s, int ok, const char *error, int64_t now_ms, int threshold) {
  s->attempts++;
  if (ok) {
    s->failures = 0;
    s->last_success_at = now_ms;
    snprintf(s->state, sizeof s->state, "%s", SI_BREAKER_CLOSED);
    s->opened_at = 0;
    return 0;
  }
  s->failed_attempts++;
  s->failures++;
  s->last_error_at = now_ms;
  snprintf(s->last_error, sizeof s->last_error, "%s", error && error[0] ? error : "failed");
  int was_open = strcmp(s->state, SI_BREAKER_CLOSED) != 0;
  if (was_open || s->failures >= (threshold > 0 ? threshold : 1)) {
    /* A failed probe opens it again for another wait; so does the
     * threshold reached. */
    snprintf(s->state, sizeof s->state, "%s", SI_BREAKER_OPEN);
    s->opened_at = now_ms;
    return 1;
  }
  return 0;
}
