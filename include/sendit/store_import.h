/* The import's own queries (lib/pipeline/import*.c): the statements that
 * find a chunk's known uids, settle or reset a batch's image rows after its
 * files moved, tally its StudyDates, write its final record with its qa,
 * and tell whether a path is recorded. One SQL text per query serves every
 * backend.
 *
 * Transactions: none of these begins, commits or waits for the disk; each
 * runs in the caller's transaction (or, outside one, as its own statement,
 * committed as the connection commits lone statements). Which of the
 * import's commits wait for the disk is pipeline.h's matter.
 *
 * Ownership: every string passed in is borrowed for the call; the strings
 * a callback receives are valid only during that call (copy what is kept).
 * Nothing returned needs freeing. */
#ifndef SENDIT_STORE_IMPORT_H
#define SENDIT_STORE_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store.h"

/* The most uids si_store_import_known_uids takes in one call. */
#define SI_STORE_KNOWN_UIDS_MAX 256

/* Calls fn(user, uid) for each of uids[0..n) that has an image row (in no
 * particular order; fn returns non-zero to stop). One query for them all:
 * a lookup per uid would cost a round trip each on PostgreSQL. The
 * statement always has SI_STORE_KNOWN_UIDS_MAX parameters (the last uid
 * repeats), so it is prepared once. n must be at most
 * SI_STORE_KNOWN_UIDS_MAX (SI_ERR_ARG otherwise); n 0 asks nothing. */
si_status si_store_import_known_uids(si_db *db, const char *const *uids, size_t n,
                                     int (*fn)(void *user, const char *uid), void *user,
                                     si_error *err);

/* Calls fn(user, uid, storage_path) for each image row of batch `batch_id`
 * with status `status`, and, when `under` is not NULL, whose storage path
 * begins with `under` (a folder followed by "/"). fn returns non-zero to
 * stop; it must not run statements on db (collect, then act). */
si_status si_store_import_rows(si_db *db, int64_t batch_id, const char *status, const char *under,
                               int (*fn)(void *user, const char *uid, const char *storage_path),
                               void *user, si_error *err);

/* Sets the status of image `uid`. */
si_status si_store_image_set_status(si_db *db, const char *uid, const char *status, si_error *err);

/* Every NEW row of batch `batch_id` whose storage path begins with `under`
 * (a folder followed by "/") becomes DONE; *changed (may be NULL) counts
 * them. For a folder that went to storage in one rename. */
si_status si_store_import_mark_done_under(si_db *db, int64_t batch_id, const char *under,
                                          int64_t *changed, si_error *err);

/* Calls fn once per StudyDate of batch `batch_id` (NULL for rows without
 * one) with the number of its image rows, of those not NEW (stored) and the
 * sum of their sizes. fn returns non-zero to stop. */
si_status si_store_import_study_dates(si_db *db, int64_t batch_id,
                                      int (*fn)(void *user, const char *study_date, int64_t images,
                                                int64_t stored, int64_t stored_bytes),
                                      void *user, si_error *err);

/* si_store_batch_finish with the qa JSON given as text of any length
 * (NULL or "" for none) instead of b->qa, whose fixed size would cut a
 * batch's qa (a StudyDate histogram of many dates). */
si_status si_store_batch_finish_qa(si_db *db, const si_batch *b, const char *qa, si_error *err);

/* Sets *recorded when a row names `path`: an image's storage path or a
 * quarantine entry's path (with folders_only, a quarantine entry only: a
 * folder set aside whole). Paths are compared with runs of '/' folded (up to
 * four), as rows of older versions may spell a configured folder
 * "/x/storage/" + "/" + ... */
si_status si_store_path_recorded(si_db *db, const char *path, int folders_only, int *recorded,
                                 si_error *err);

#endif
