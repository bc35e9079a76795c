/* The Retry button: the rule of `sendit batch retry` (sendit/batch_retry.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sendit/batch_retry.h"

/* Only a failed batch is retried, and never while a worker may be
 * importing it (sendit/batch_retry.h holds the rule). */
const char *web_not_retryable(const si_batch *b) { return si_batch_not_retryable(b); }

unsigned web_retry_batch(si_db *db, const char *uid, char *why, size_t size, si_error *err) {
  si_batch_retry_result *r = malloc(sizeof *r);
  if (!r) {
    si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    return 500;
  }
  unsigned code = 500;
  if (si_batch_retry(db, uid, r, err) == SI_OK) {
    code = r->outcome == SI_RETRY_NO_BATCH ? 404 : r->outcome == SI_RETRY_REFUSED ? 409 : 202;
    if (code != 202)
      snprintf(why, size, "%.400s", r->message);
    else if (strcmp(r->stage, "import") == 0)
      snprintf(why, size, "batch '%.200s' queued again from %s", uid,
               r->from && strcmp(r->from, "the original folder") == 0
                   ? "the original folder"
                   : "the files left in the work area");
    else
      snprintf(why, size, "batch '%.200s': stage %s queued again", uid, r->stage);
  }
  free(r);
  return code;
}
