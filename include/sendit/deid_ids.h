/* Pseudonyms and date shifts (issue 14): who gives a patient (the entity)
 * and a study (the item) their coded ids, and a patient their day shift.
 *
 * One small interface, two backends:
 * - local: a persistent table in sendit's database (store_deid.h), a code
 *   created on first sight and the same ever after, on every host; on
 *   PostgreSQL two workers meeting a new patient at once get one code.
 * - http: an identifier service over HTTP speaking the original sendit's
 *   contract (README, "Identifier service"): one request per batch naming
 *   the entity and its items, the answer giving coded ids and the jitter;
 *   answers are kept in the local table, so a restart asks nothing again.
 *
 * Ownership: a provider is made by its backend's constructor and freed with
 * si_deid_ids_free. The request borrows its strings during the call; the
 * answer's strings are owned by the answer (si_deid_ids_answer_free). */
#ifndef SENDIT_DEID_IDS_H
#define SENDIT_DEID_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One entity (a patient: PatientID with its issuer when present) and the
 * items (studies: StudyInstanceUID) of one batch that belong to it. */
typedef struct si_deid_ids_request {
  const char *entity_id;       /* the original PatientID ("" allowed: one code for "no id") */
  const char *entity_source;   /* "PatientID" (the issuer when given) */
  const char *const *item_ids; /* original StudyInstanceUIDs */
  size_t item_count;
  const char *batch_uid; /* for the service's log and the table's record; may be NULL */
  /* Optional, for the identifier service only (the local table ignores
   * them): the entity's id_timestamp (ISO 8601, "YYYY-MM-DDTHH:MM:SSZ" or
   * "YYYY-MM-DD"; NULL: a fixed reference, README "Identifier service") and
   * its custom_fields, entity_field_count key/value pairs. */
  const char *entity_timestamp;
  const char *const *entity_field_keys;
  const char *const *entity_field_values;
  size_t entity_field_count;
} si_deid_ids_request;

typedef struct si_deid_ids_answer {
  char *entity_code; /* the patient's coded id */
  int32_t day_shift; /* days to add to this patient's dates */
  char **item_codes; /* one per request item, same order */
  size_t item_count;
} si_deid_ids_answer;

void si_deid_ids_answer_free(si_deid_ids_answer *answer);

typedef struct si_deid_ids si_deid_ids;

typedef struct si_deid_ids_ops {
  const char *name; /* "local", "http", "file" */
  si_status (*lookup)(si_deid_ids *ids, const si_deid_ids_request *req, si_deid_ids_answer *out,
                      si_error *err);
  void (*free)(si_deid_ids *ids);
} si_deid_ids_ops;

struct si_deid_ids {
  const si_deid_ids_ops *ops;
};

/* Codes the entity and items of req (creating them on first sight). */
si_status si_deid_ids_lookup(si_deid_ids *ids, const si_deid_ids_request *req,
                             si_deid_ids_answer *out, si_error *err);
void si_deid_ids_free(si_deid_ids *ids);

/* ---- Providers of `sendit deid` (lib/deid/ids_file.c, ids_keyed.c) ---- */

/* A JSON file of pseudonyms, for the command line (README,
 * "De-identification"):
 *   {"PATIENTID": {"code": "P001", "day_shift": -12,
 *                  "studies": {"STUDYINSTANCEUID": "S001", ...}}, ...}
 * A patient or study the file does not list is SI_ERR_NOT_FOUND naming
 * it (never an invented code). day_shift defaults to 0. A file that is not
 * such JSON is SI_ERR_FORMAT with the line. */
si_status si_deid_ids_file_open(const char *path, si_deid_ids **out, si_error *err);

/* Pseudonyms derived from the site's key (no state): the patient's code
 * "P" + 10 base32 characters of a keyed BLAKE2b of "patient\0" + the id,
 * the study's "S" + 10 of "study\0" + the UID, the day shift in [-365, -1]
 * from the patient's hash. The same on every host holding the key. The key
 * is copied. */
si_status si_deid_ids_keyed_new(const uint8_t key[32], si_deid_ids **out, si_error *err);

#ifdef __cplusplus
}
#endif
#endif
