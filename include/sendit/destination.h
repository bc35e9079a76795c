/* Delivery destinations (issue 16): where the send stage passes each batch
 * on. A destination is one `[destination NAME]` section of the
 * configuration; its `type` picks one row of the table of types
 * (si_dest_types): dicom (C-STORE), dicomweb (STOW-RS), folder (a tar
 * package and its manifest) and s3 (objects in an S3-compatible store).
 *
 * The contract between the engine (lib/deliver/engine*.c: the send stage,
 * the per-image ledger image_destination, retries and the circuit
 * breaker) and a type:
 *   - the engine hands a type one batch's items (the files to deliver, the
 *     de-identified copies or the stored originals per the destination's
 *     `source`), never an item already confirmed by this destination;
 *   - the type reports each item exactly once: sent (the destination
 *     confirmed it: a C-STORE-RSP success or warning, a STOW-RS response's
 *     ReferencedSOPSequence entry, an archive fsynced and renamed, an
 *     object whose checksum the store confirmed), or failed with the
 *     reason, saying whether a later attempt may succeed (a connection
 *     lost, HTTP 5xx, status A7xx) or not (the destination refused this
 *     instance for good: a C-STORE failure status, a FailedSOPSequence
 *     reason);
 *   - a type returns an error only when the destination could not be
 *     reached or used at all (no connection, bad credentials, disk full);
 *     items it has not reported by then count as failed, retryable, with
 *     that error; the engine's breaker counts such errors;
 *   - delivery is idempotent: delivering an item again (after a crash
 *     between the destination's confirmation and the ledger's commit)
 *     overwrites or repeats the same thing, never makes a second copy
 *     (same object keys, same archive name, same SOP Instance UID).
 *
 * Ownership: si_dest_config is owned by the si_config that loaded it
 * (si_config_free frees it); everything a type receives is borrowed for
 * the call; strings in a reported si_dest_result are borrowed for the
 * report callback only. Types keep no global state and are called from
 * several worker threads at once (each call with its own batch). */
#ifndef SENDIT_DESTINATION_H
#define SENDIT_DESTINATION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A key of a section, as written (after environment overrides). */
typedef struct si_dest_setting {
  char *key, *value;
} si_dest_setting;

/* One `[destination NAME]` section. The common keys are parsed by the
 * configuration (lib/util/config_dest.c); every other key is the type's
 * own and is kept as written in `settings`, checked by the type's
 * `check`. */
typedef struct si_dest_config {
  char *name;   /* NAME: letters, digits, '-', '_' (it names jobs, rows, files) */
  char *type;   /* dicom | dicomweb | folder | s3 */
  char *source; /* deid | original; default deid when the deid stage runs, else original */
  /* Filters (all must match; "" = any): comma lists. */
  char *filter_modalities;   /* Modality of the image */
  char *filter_calling_ae;   /* the calling AE title that sent it (SourceApplicationEntityTitle) */
  char *filter_labels;       /* a deid recipe LABEL that matched it */
  int concurrency;           /* batches delivered at once to it; default 2 */
  int max_attempts;          /* attempts of a batch's send before ERROR; default 10 */
  int64_t max_age_seconds;   /* and no retry after this long since the first; default 86400 */
  int breaker_failures;      /* consecutive failed attempts that open the breaker; default 5 */
  int breaker_probe_seconds; /* an open breaker lets one attempt through after this; default 30 */
  si_dest_setting *settings; /* the type's keys, in file order */
  size_t setting_count;
} si_dest_config;

/* The value of the type's key `key` for destination d: as set, else the
 * key's default from the type's table, else NULL. */
const char *si_dest_get(const si_dest_config *d, const char *key);

/* One file to deliver. */
typedef struct si_dest_item {
  int64_t image_id; /* the image's row (0 when there is none, for tools) */
  const char *path; /* the Part 10 file to deliver */
  const char *sop_class_uid;
  const char *sop_instance_uid; /* as in the file delivered (the coded one for deid) */
  const char *study_uid, *series_uid;
  int64_t size; /* bytes of the file */
} si_dest_item;

/* One batch's delivery to one destination. */
typedef struct si_dest_batch {
  const char *batch_uid;
  const char *source; /* "deid" or "original" */
  const si_dest_item *items;
  size_t count;
} si_dest_batch;

/* What happened to one item. */
typedef struct si_dest_result {
  size_t index;       /* into batch->items */
  int sent;           /* 1: confirmed by the destination */
  int retryable;      /* when !sent: a later attempt may succeed */
  const char *answer; /* the destination's answer ("0000", "HTTP 200: ReferencedSOP", "sha256 ..."),
                         or why it failed ("0xA900: data set does not match SOP class") */
} si_dest_result;
typedef void (*si_dest_report_fn)(void *user, const si_dest_result *result);

/* A type's own configuration key. */
typedef struct si_dest_key {
  const char *key;
  int required;
  const char *default_value; /* NULL: none */
  const char *help;          /* one line, for `sendit config` and the man page */
} si_dest_key;

typedef struct si_dest_type {
  const char *name;
  const si_dest_key *keys; /* the type's keys; a setting not in it is a configuration error */
  size_t key_count;
  /* Checks d's settings when the configuration loads (paths exist or can
   * be made, numbers parse, the URL's scheme is known): SI_ERR_CONFIG
   * naming the destination and the key. Reaches no peer. */
  si_status (*check)(const si_dest_config *d, si_error *err);
  /* Delivers batch b to d, calling report once per item it settles (see
   * the contract above). *cancel (may be NULL) set: stop soon, returning
   * an error. */
  si_status (*deliver)(const si_dest_config *d, const si_dest_batch *b, const atomic_int *cancel,
                       si_dest_report_fn report, void *user, si_error *err);
} si_dest_type;

/* The table of types (lib/deliver/types.c), NULL-terminated. */
extern const si_dest_type *const si_dest_types[];
/* The type named `name`, or NULL. */
const si_dest_type *si_dest_type_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif
