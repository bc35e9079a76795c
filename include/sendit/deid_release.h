/* Releasing images the deid stage held (README, "The deid stage"): an
 * operator who reviewed a held image (its copy and reason.txt in
 * quarantine/<batch>/deid/<image id>/) passes it on. The image's outcome
 * becomes "released" and the batch's deid job is queued again (the failed
 * one, when the stage failed for the batch because every image was held);
 * that run de-identifies the released images with the recipe's filters
 * waived. The leak scan still runs, and BurnedInAnnotation YES still holds
 * (pixel data is not cleaned): fix the stored original first (clean the
 * pixels, set BurnedInAnnotation to NO) and then release it.
 *
 * Ownership: everything is borrowed for the call; the result is the
 * caller's. */
#ifndef SENDIT_DEID_RELEASE_H
#define SENDIT_DEID_RELEASE_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"

typedef struct si_deid_release_result {
  int found;       /* 0: no batch of that uid (nothing changed) */
  size_t released; /* images released */
  size_t not_held; /* ids given that were not held images of the batch */
  int64_t first_not_held;
  int queued; /* 1 when a deid job was queued (0: one was queued already) */
} si_deid_release_result;

/* Releases the held images `ids[n]` of batch `uid` (n 0: every held image
 * of it) and queues its deid job, in one transaction. */
si_status si_deid_release(si_db *db, const char *uid, const int64_t *ids, size_t n,
                          si_deid_release_result *out, si_error *err);

#endif
