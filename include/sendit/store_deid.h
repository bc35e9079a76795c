/* The pseudonym table (issue 14) over si_db: a patient (entity: its
 * original id and that id's source, such as "PatientID") has one code and
 * one day shift, created on first sight and the same ever after on every
 * host; each of its studies (items: original StudyInstanceUIDs) has one code
 * too. Tables deid_entity and deid_item (schema.c, migration 5).
 *
 * Codes made here are SI_DEID_CODE_PREFIX followed by SI_DEID_CODE_RANDOM
 * characters of RFC 4648's base32 alphabet (A-Z, 2-7) drawn from libsodium's
 * randombytes: 60 random bits, so unguessable; a code that collides with one
 * already stored is drawn again. Day shifts are drawn uniformly from the
 * caller's [min, max] days. Codes that came from the identifier service are
 * stored as given (origin "http"); a code is unique within its table
 * whatever its origin, so two patients can never share one.
 *
 * Concurrency: get-or-create runs in one write transaction of INSERT ... ON
 * CONFLICT DO NOTHING then SELECT per row, so workers of many processes and
 * hosts meeting one new patient at once all get the one code that the first
 * commit wrote (PostgreSQL makes the later INSERTs wait for that commit;
 * SQLite's writers take turns). Call outside any transaction of the caller's.
 *
 * Ownership: every string is borrowed for the call; results are written
 * into caller-owned fixed-size buffers. */
#ifndef SENDIT_STORE_DEID_H
#define SENDIT_STORE_DEID_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"

#define SI_DEID_CODE_PREFIX "SI"
#define SI_DEID_CODE_RANDOM 12
/* Longest code stored, from sendit or from the service, plus the NUL. */
#define SI_DEID_CODE_MAX 65
/* How often a colliding random code is drawn again before giving up. */
#define SI_DEID_CODE_TRIES 8

#define SI_DEID_ORIGIN_LOCAL "local"
#define SI_DEID_ORIGIN_HTTP "http"

/* One entity and its items, as asked (borrowed). */
typedef struct si_deid_key {
  const char *source;   /* "PatientID" or the issuer; NULL: "PatientID" */
  const char *original; /* the original id ("" allowed) */
  const char *const *items;
  size_t item_count;
  const char *batch_uid; /* recorded with new rows; may be NULL */
} si_deid_key;

/* What the table holds for a key: filled by the calls below. */
typedef struct si_deid_codes {
  char entity_code[SI_DEID_CODE_MAX];
  int32_t day_shift;
  char origin[8];    /* the entity's: "local" or "http" */
  int entity_found;  /* si_store_deid_find: 1 when the entity is stored */
  size_t item_found; /* si_store_deid_find: how many items are stored */
  /* Caller's array of key.item_count codes, same order ("" when absent). */
  char (*item_codes)[SI_DEID_CODE_MAX];
} si_deid_codes;

/* Whether `code` has the form of a code that sendit makes. */
int si_store_deid_is_local_code(const char *code);

/* Reads what is stored for key without writing anything (a lookup in the
 * common case where everything is known). */
si_status si_store_deid_find(si_db *db, const si_deid_key *key, si_deid_codes *out, si_error *err);

/* Gets or creates the entity's code and day shift (drawn from
 * [shift_min, shift_max], shift_min <= shift_max) and every item's code,
 * in one transaction (see above). */
si_status si_store_deid_get_or_create(si_db *db, const si_deid_key *key, int32_t shift_min,
                                      int32_t shift_max, si_deid_codes *out, si_error *err);

/* Records what the identifier service answered for key (origin "http"):
 * entity_code and day_shift, and item_codes[i] for key->items[i]. Rows
 * already stored keep what they hold (the first answer is the one every
 * output used) and out gets the stored values, so the caller can tell when
 * the service now says something else. SI_ERR_STATE when a code the
 * service gave is already another patient's (or another study's). One
 * transaction. */
si_status si_store_deid_record(si_db *db, const si_deid_key *key, const char *entity_code,
                               int32_t day_shift, const char *const *item_codes, si_deid_codes *out,
                               si_error *err);

/* One row of the export: an entity, and one of its items (item_original and
 * item_code NULL for an entity without items). All borrowed for the call. */
typedef struct si_deid_export_row {
  int64_t entity_id;
  const char *source, *original, *code;
  int32_t day_shift;
  const char *origin, *batch_uid; /* batch_uid may be NULL */
  int64_t created_at;
  const char *item_original, *item_code, *item_origin, *item_batch_uid;
  int64_t item_created_at;
} si_deid_export_row;

/* Calls fn for every row, ordered by entity then item (rows of one entity
 * are consecutive); fn returns non-zero to stop. For authorised
 * re-identification only: these are the identifiers. */
typedef int (*si_deid_export_fn)(void *user, const si_deid_export_row *row);
si_status si_store_deid_export(si_db *db, si_deid_export_fn fn, void *user, si_error *err);

#endif
