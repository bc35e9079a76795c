/* Files set aside in quarantine/<batch uid>/ and the entries that name them.
 *
 * A file is moved into quarantine inside the transaction that records its
 * entry, and the move cannot be undone with the transaction: a kill between
 * the two leaves a file that no entry names. Rather than write an entry
 * ahead of the move (which would need a second, committed transaction in
 * the middle of the import's, impossible on SQLite's single writer), the
 * folder is reconciled: every file in it that no waiting entry names gets
 * one, with a line in the batch's log. That happens when an import of the
 * batch begins (a crashed job always runs again, so a crash of its own
 * import is found then), when an import replaces one of the batch's images
 * whose stored copy is gone (keep-last after a crash), and for every folder
 * when a worker pool starts.
 *
 * Why it is safe while other imports run: an import moves a file into
 * quarantine/<uid>/ only while its transaction holds batch <uid>'s row
 * (si_store_batch_begin for its own batch, si_store_batch_lock_id for a
 * batch whose image it replaces), and reconciling takes that lock first:
 * a file moved by an import still running is committed, with its entry,
 * before the reconciling transaction looks at the folder.
 *
 * Ownership: everything is borrowed for the call. */
#ifndef SENDIT_QUARANTINE_H
#define SENDIT_QUARANTINE_H

#include <stdint.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/error.h"

/* The reason an entry found this way gets. */
#define SI_QUARANTINE_FOUND_REASON                                                                 \
  "found in quarantine without a record: an import stopped between setting the file aside and "    \
  "recording why (look at the batch log and the file)"

/* Reconciles quarantine/<batch_uid>/ inside the caller's transaction, which
 * must hold the batch's row (see above). batch_id < 0: the batch has no row
 * (entries only, no log line). *found (may be NULL) counts the new entries. */
si_status si_quarantine_reconcile(si_db *db, const si_config *cfg, const char *batch_uid,
                                  int64_t batch_id, int64_t *found, si_error *err);

/* Every folder of the quarantine, each in a transaction of its own. A
 * folder whose batch has no row yet is left to the batch's import when a
 * job for it is pending; with none pending, a batch is made for what is
 * found, in ERROR, whose log says what was found (a killed
 * `import_dicomdir`; running it again reopens the batch). *found (may be
 * NULL) counts the new entries. */
si_status si_quarantine_reconcile_all(si_db *db, const si_config *cfg, int64_t *found,
                                      si_error *err);

#endif
