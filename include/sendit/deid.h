/* De-identification (issue 14): the engine that turns one DICOM file into its
 * de-identified copy, consistently across files, batches, restarts and hosts.
 *
 * What decides an element's fate, in this order (README, "De-identification"):
 * 1. A recipe's %filter sections (sendit/deid_recipe.h) and BurnedInAnnotation
 *    YES flag the image: si_deid_apply then changes nothing and reports the
 *    flag; the caller quarantines the image for review.
 * 2. A recipe's %header actions (deid's format and priorities), when a recipe
 *    is given: KEEP protects an element from everything after it.
 * 3. The PS3.15 Basic Application Level Confidentiality Profile with its
 *    options (Table E.1-1), when a profile is given, for every element the
 *    recipe did not decide: at every depth of sequences, private elements,
 *    curves and overlays; then PatientIdentityRemoved, DeidentificationMethod
 *    and DeidentificationMethodCodeSequence (CID 7050) are written.
 * UIDs are remapped with a keyed hash (si_deid_uid_remap), dates shifted by
 * the subject's day shift, the patient and study get their pseudonyms.
 *
 * Ownership: an si_deid_options borrows everything it points at for as long as
 * it is used; the caller keeps the recipe, the key and the provider alive.
 * si_deid_apply edits the si_file in place (sendit/edit.h's rules). Reports
 * are plain structs owned by the caller; si_deid_report_free frees what a
 * report holds (not the struct). No function here logs a key. */
#ifndef SENDIT_DEID_H
#define SENDIT_DEID_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/dicom.h"
#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a run of si_deid_apply carries (lib/deid's own). */
typedef struct si_deid_run si_deid_run;

/* A source of rules applied before the profile: a deid recipe
 * (si_deid_recipe_rules in sendit/deid_recipe.h) behind two functions, so
 * that the engine does not depend on the recipe's format. `self` is
 * borrowed. filter: *flagged 1 and why in reason when the image is to be
 * held for review. apply: decides elements (deid_decided_mark in
 * lib/deid/deid_internal.h) before the profile runs. */
typedef struct si_deid_rules {
  const char *name; /* for DeidentificationMethod, e.g. "deid recipe deid.dicom" */
  const void *self;
  si_status (*filter)(const void *self, const si_file *file, int *flagged, char *reason,
                      size_t size, si_error *err);
  si_status (*apply)(const void *self, si_deid_run *run, si_error *err);
} si_deid_rules;

/* The profile's options (PS3.15 Table E.1-1's columns), as bits. */
enum {
  SI_DEID_PROFILE_BASIC = 1u << 0, /* the basic profile applies at all */
  SI_DEID_RETAIN_SAFE_PRIVATE = 1u << 1,
  SI_DEID_RETAIN_UIDS = 1u << 2,
  SI_DEID_RETAIN_DEVICE_IDENTITY = 1u << 3,
  SI_DEID_RETAIN_INSTITUTION_IDENTITY = 1u << 4,
  SI_DEID_RETAIN_PATIENT_CHARACTERISTICS = 1u << 5,
  SI_DEID_RETAIN_LONG_FULL_DATES = 1u << 6,     /* Retain Longitudinal ... Full Dates */
  SI_DEID_RETAIN_LONG_MODIFIED_DATES = 1u << 7, /* ... Modified Dates: the day shift */
  SI_DEID_CLEAN_DESCRIPTORS = 1u << 8,
  SI_DEID_CLEAN_STRUCTURED_CONTENT = 1u << 9,
  SI_DEID_CLEAN_GRAPHICS = 1u << 10
};

/* Parses "basic[,OPTION...]" (option names as the README lists them:
 * retain-safe-private, retain-uids, retain-device-identity,
 * retain-institution-identity, retain-patient-characteristics,
 * retain-long-full-dates, retain-long-modified-dates, clean-descriptors,
 * clean-structured-content, clean-graphics) into *bits. "none" is 0 (no
 * profile: a recipe alone). An unknown name is SI_ERR_ARG naming it. */
si_status si_deid_profile_parse(const char *text, unsigned *bits, si_error *err);

/* The keyed UID remapping: "2.25." followed by the decimal form of a
 * 128-bit keyed BLAKE2b hash (libsodium crypto_generichash with a 16-byte
 * output, big-endian; Python's hashlib.blake2b(uid, digest_size=16,
 * key=key) gives the same) of the original UID (padding removed), the key
 * being the site's 32-byte secret.
 * The same UID and key give the same result on every host; out gets at most
 * 44 characters and a NUL. */
#define SI_DEID_KEY_BYTES 32
void si_deid_uid_remap(const uint8_t key[SI_DEID_KEY_BYTES], const char *uid, size_t len,
                       char out[65]);

/* The site's key file: read when it exists (exactly 32 bytes, owner-only
 * mode, else SI_ERR_STATE saying why), else created with 32 random bytes,
 * mode 0600, with O_EXCL so two processes starting together agree. The key
 * is never logged or printed. */
si_status si_deid_key_load(const char *path, uint8_t key[SI_DEID_KEY_BYTES], si_error *err);

/* The identifiers one image is de-identified with: the subject's pseudonyms
 * and date shift, as the pseudonym provider (sendit/deid_ids.h) gave them.
 * All borrowed. */
typedef struct si_deid_subject {
  const char *patient_code; /* replaces PatientID and PatientName (the entity's coded id) */
  const char *study_code;   /* replaces AccessionNumber and StudyID (the item's coded id) */
  int32_t day_shift;        /* days added to every DA / DT (negative: earlier) */
} si_deid_subject;

typedef struct si_deid_options {
  unsigned profile;           /* SI_DEID_* bits; 0: no profile */
  const si_deid_rules *rules; /* NULL: none (a recipe: si_deid_recipe_rules) */
  const uint8_t *key;         /* SI_DEID_KEY_BYTES; required when UIDs are remapped */
  int keep_times;             /* TM values kept (1) or removed (0) when dates are shifted */
  const char *method;         /* DeidentificationMethod text; NULL: one naming profile/recipe */
} si_deid_options;

void si_deid_options_init(si_deid_options *opts);

/* One value the engine removed or replaced that identified someone: what the
 * leak scan (si_deid_verify) must not find again in the output. */
typedef struct si_deid_value {
  uint32_t tag;
  char *text; /* UTF-8, malloc'd */
} si_deid_value;

typedef struct si_deid_report {
  int flagged;           /* a filter or BurnedInAnnotation: nothing was changed */
  char flag_reason[256]; /* "filter blacklist: LABEL" / "BurnedInAnnotation is YES" */
  size_t removed, emptied, replaced, uids_remapped, dates_shifted;
  char study_uid[65], series_uid[65], sop_uid[65]; /* the new ones ("" when absent) */
  si_deid_value *values;                           /* replaced or removed identifying values */
  size_t value_count, value_capacity;
} si_deid_report;

void si_deid_report_free(si_deid_report *report);

/* De-identifies file in place (data set and file meta). err names the tag
 * and the rule when an action cannot be applied (a recipe's value that does
 * not fit the VR, a missing key); the file is then in an undefined state and
 * must not be written. */
si_status si_deid_apply(si_file *file, const si_deid_options *opts, const si_deid_subject *subject,
                        si_deid_report *report, si_error *err);

/* ---- Output names (lib/deid/naming.c), shared by `sendit deid` and the
 * deid stage ---- */

/* The default name pattern: the coded study id, SeriesNumber and
 * InstanceNumber, as the original sendit named its output. */
#define SI_DEID_DEFAULT_NAME "{study}_{series}_{instance}.dcm"

/* The file name for a de-identified file from pattern (NULL: the default):
 * text with fields {study} (study_code), {patient} (patient_code),
 * {series} (SeriesNumber), {instance} (InstanceNumber), {sop}
 * (SOPInstanceUID), {modality}; a field's value is sanitised (characters
 * outside A-Z a-z 0-9 . - _ become '_'; absent: "x"); a name starting with
 * '.' gets a '_' in front. A pattern with '/', an unknown field or a result
 * longer than size is SI_ERR_ARG. */
si_status si_deid_output_name(const si_file *deid, const char *pattern, const char *study_code,
                              const char *patient_code, char *out, size_t size, si_error *err);

/* dir + "/" + name, made unique: when that path exists and holds another
 * instance (its SOPInstanceUID differs from deid's), "_2", "_3", ... go
 * before the extension; the same instance keeps its path, so writing it
 * again replaces it (idempotent). Two writers racing for one new name are
 * not told apart: callers that run concurrently serialise per folder. */
si_status si_deid_output_path(const char *dir, const char *name, const si_file *deid, char *out,
                              size_t size, si_error *err);

#ifdef __cplusplus
}
#endif
#endif
