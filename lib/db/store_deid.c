/* The pseudonym table; see sendit/store_deid.h. One SQL text per query
 * serves every backend. */
#include "sendit/store_deid.h"

#include "rows.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "sendit/store.h"

/* RFC 4648's base32 alphabet: no 0/1/8/9, so no O/0 or I/1 confusion when
 * a code is read out over the phone. */
static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int si_store_deid_is_local_code(const char *code) {
  size_t prefix = strlen(SI_DEID_CODE_PREFIX);
  if (!code || strncmp(code, SI_DEID_CODE_PREFIX, prefix) != 0 ||
      strlen(code) != prefix + SI_DEID_CODE_RANDOM)
    return 0;
  for (const char *p = code + prefix; *p; p++)
    if (!strchr(base32, *p))
      return 0;
  return 1;
}

static si_status random_ready(si_error *err) {
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "libsodium could not be initialised (no source of randomness)");
  return SI_OK;
}

/* 60 random bits as 12 base32 characters after the prefix. */
static void new_code(char out[SI_DEID_CODE_MAX]) {
  unsigned char bytes[8];
  randombytes_buf(bytes, sizeof bytes);
  uint64_t bits = 0;
  for (size_t i = 0; i < sizeof bytes; i++)
    bits = bits << 8 | bytes[i];
  size_t n = strlen(SI_DEID_CODE_PREFIX);
  memcpy(out, SI_DEID_CODE_PREFIX, n);
  for (int i = 0; i < SI_DEID_CODE_RANDOM; i++, bits >>= 5)
    out[n + (size_t)i] = base32[bits & 31];
  out[n + SI_DEID_CODE_RANDOM] = '\0';
  sodium_memzero(bytes, sizeof bytes);
}

static int32_t new_shift(int32_t lo, int32_t hi) {
  uint32_t span = (uint32_t)((int64_t)hi - lo + 1);
  return (int32_t)((int64_t)lo + (int64_t)randombytes_uniform(span));
}

static const char *source_of(const si_deid_key *key) {
  return key->source && key->source[0] ? key->source : "PatientID";
}

typedef struct entity_row {
  int64_t id;
  si_deid_codes *out;
} entity_row;

static int read_entity(void *user, int ncols, const char *const *v) {
  entity_row *r = user;
  if (ncols < 4)
    return 1;
  r->id = si_rows_i64(v[0]);
  SI_ROWS_TEXT(r->out->entity_code, v[1]);
  r->out->day_shift = (int32_t)si_rows_i64(v[2]);
  SI_ROWS_TEXT(r->out->origin, v[3]);
  return 1;
}

static si_status select_entity(si_db *db, const si_deid_key *key, entity_row *r, si_error *err) {
  const char *p[] = {source_of(key), key->original ? key->original : ""};
  r->id = -1;
  return si_db_exec(db,
                    "SELECT id, code, day_shift, origin FROM deid_entity WHERE source = $1 AND "
                    "original = $2",
                    2, p, read_entity, r, NULL, err);
}

static int read_code(void *user, int ncols, const char *const *v) {
  if (ncols > 0)
    si_rows_text(user, SI_DEID_CODE_MAX, v[0]);
  return 1;
}

static si_status select_item(si_db *db, int64_t entity, const char *original, char *code,
                             si_error *err) {
  char id_s[24];
  const char *p[] = {si_rows_param_i64(id_s, entity), original ? original : ""};
  code[0] = '\0';
  return si_db_exec(db, "SELECT code FROM deid_item WHERE entity_id = $1 AND original = $2", 2, p,
                    read_code, code, NULL, err);
}

static void reset(const si_deid_key *key, si_deid_codes *out) {
  out->entity_code[0] = '\0';
  out->origin[0] = '\0';
  out->day_shift = 0;
  out->entity_found = 0;
  out->item_found = 0;
  for (size_t i = 0; i < key->item_count; i++)
    out->item_codes[i][0] = '\0';
}

si_status si_store_deid_find(si_db *db, const si_deid_key *key, si_deid_codes *out, si_error *err) {
  reset(key, out);
  entity_row r = {.out = out};
  si_status st = select_entity(db, key, &r, err);
  if (st != SI_OK || r.id < 0)
    return st;
  out->entity_found = 1;
  for (size_t i = 0; i < key->item_count && st == SI_OK; i++) {
    st = select_item(db, r.id, key->items[i], out->item_codes[i], err);
    out->item_found += out->item_codes[i][0] != '\0';
  }
  return st;
}

/* INSERT ... ON CONFLICT DO NOTHING of one entity with `code`, then the
 * row as stored: ours, or the one another writer committed first. r->id
 * stays -1 when the insert did nothing and no row has the key: the code was
 * another entity's. */
static si_status put_entity(si_db *db, const si_deid_key *key, const char *code, int32_t shift,
                            const char *origin, entity_row *r, si_error *err) {
  char shift_s[24], now_s[24];
  const char *p[] = {source_of(key),
                     key->original ? key->original : "",
                     code,
                     si_rows_param_i64(shift_s, shift),
                     origin,
                     key->batch_uid,
                     si_rows_param_i64(now_s, si_now_ms())};
  si_status st = si_db_exec(db,
                            "INSERT INTO deid_entity (source, original, code, day_shift, origin, "
                            "batch_uid, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON "
                            "CONFLICT DO NOTHING",
                            7, p, NULL, NULL, NULL, err);
  return st == SI_OK ? select_entity(db, key, r, err) : st;
}

static si_status put_item(si_db *db, const si_deid_key *key, int64_t entity, const char *original,
                          const char *code, const char *origin, char *stored, si_error *err) {
  char id_s[24], now_s[24];
  const char *p[] = {
      si_rows_param_i64(id_s, entity),      original ? original : "", code, origin, key->batch_uid,
      si_rows_param_i64(now_s, si_now_ms())};
  si_status st = si_db_exec(db,
                            "INSERT INTO deid_item (entity_id, original, code, origin, batch_uid, "
                            "created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                            6, p, NULL, NULL, NULL, err);
  return st == SI_OK ? select_item(db, entity, original, stored, err) : st;
}

static si_status no_free_code(const char *what, si_error *err) {
  return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "pseudonyms: %d random %s codes in a row were already taken; is the "
                      "source of randomness broken?",
                      SI_DEID_CODE_TRIES, what);
}

static si_status create_all(si_db *db, const si_deid_key *key, int32_t lo, int32_t hi,
                            si_deid_codes *out, si_error *err) {
  entity_row r = {.id = -1, .out = out};
  char code[SI_DEID_CODE_MAX];
  si_status st = SI_OK;
  for (int t = 0; t < SI_DEID_CODE_TRIES && st == SI_OK && r.id < 0; t++) {
    new_code(code);
    st = put_entity(db, key, code, new_shift(lo, hi), SI_DEID_ORIGIN_LOCAL, &r, err);
  }
  if (st == SI_OK && r.id < 0)
    return no_free_code("patient", err);
  out->entity_found = st == SI_OK;
  for (size_t i = 0; i < key->item_count && st == SI_OK; i++) {
    char *stored = out->item_codes[i];
    stored[0] = '\0';
    for (int t = 0; t < SI_DEID_CODE_TRIES && st == SI_OK && !stored[0]; t++) {
      new_code(code);
      st = put_item(db, key, r.id, key->items[i], code, SI_DEID_ORIGIN_LOCAL, stored, err);
    }
    if (st == SI_OK && !stored[0])
      return no_free_code("study", err);
    out->item_found++;
  }
  return st;
}

static si_status check_key(const si_deid_key *key, const si_deid_codes *out, si_error *err) {
  if (!key || !out || (key->item_count && (!key->items || !out->item_codes)))
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "pseudonyms: no key, or items without room for their codes");
  return SI_OK;
}

si_status si_store_deid_get_or_create(si_db *db, const si_deid_key *key, int32_t shift_min,
                                      int32_t shift_max, si_deid_codes *out, si_error *err) {
  si_status st = check_key(key, out, err);
  if (st != SI_OK)
    return st;
  if (shift_min > shift_max)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "pseudonyms: day shift range %" PRId32 "..%" PRId32 " is empty", shift_min,
                        shift_max);
  /* Known codes never change: a plain read settles the common case
   * without taking the write lock. */
  st = si_store_deid_find(db, key, out, err);
  if (st != SI_OK || (out->entity_found && out->item_found == key->item_count))
    return st;
  if ((st = random_ready(err)) != SI_OK)
    return st;
  reset(key, out);
  st = si_db_begin(db, err);
  if (st == SI_OK)
    st = create_all(db, key, shift_min, shift_max, out, err);
  return st == SI_OK ? si_db_commit(db, err) : (si_db_rollback(db), st);
}

static si_status taken(const char *what, const char *code, si_error *err) {
  return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "pseudonyms: the identifier service gave %s code '%s', which the table "
                      "holds for another %s already; two of them would share one pseudonym",
                      what, code, what);
}

static si_status record_all(si_db *db, const si_deid_key *key, const char *entity_code,
                            int32_t day_shift, const char *const *item_codes, si_deid_codes *out,
                            si_error *err) {
  entity_row r = {.id = -1, .out = out};
  si_status st = put_entity(db, key, entity_code, day_shift, SI_DEID_ORIGIN_HTTP, &r, err);
  if (st == SI_OK && r.id < 0)
    return taken("patient", entity_code, err);
  out->entity_found = st == SI_OK;
  for (size_t i = 0; i < key->item_count && st == SI_OK; i++) {
    st = put_item(db, key, r.id, key->items[i], item_codes[i], SI_DEID_ORIGIN_HTTP,
                  out->item_codes[i], err);
    if (st == SI_OK && !out->item_codes[i][0])
      return taken("study", item_codes[i], err);
    out->item_found++;
  }
  return st;
}

si_status si_store_deid_record(si_db *db, const si_deid_key *key, const char *entity_code,
                               int32_t day_shift, const char *const *item_codes, si_deid_codes *out,
                               si_error *err) {
  si_status st = check_key(key, out, err);
  if (st == SI_OK && (!entity_code || !entity_code[0] || (key->item_count && !item_codes)))
    st = si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "pseudonyms: nothing to record (no patient code or no study codes)");
  for (size_t i = 0; st == SI_OK && i < key->item_count; i++)
    if (!item_codes[i] || !item_codes[i][0])
      st = si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "pseudonyms: study %zu has no code to record", i + 1);
  if (st != SI_OK)
    return st;
  reset(key, out);
  st = si_db_begin(db, err);
  if (st == SI_OK)
    st = record_all(db, key, entity_code, day_shift, item_codes, out, err);
  return st == SI_OK ? si_db_commit(db, err) : (si_db_rollback(db), st);
}

typedef struct export_ctx {
  si_deid_export_fn fn;
  void *user;
} export_ctx;

static int export_row(void *user, int ncols, const char *const *v) {
  export_ctx *c = user;
  if (ncols < 13)
    return 1;
  si_deid_export_row row = {
      .entity_id = si_rows_i64(v[0]),
      .source = v[1] ? v[1] : "",
      .original = v[2] ? v[2] : "",
      .code = v[3] ? v[3] : "",
      .day_shift = (int32_t)si_rows_i64(v[4]),
      .origin = v[5] ? v[5] : "",
      .batch_uid = v[6],
      .created_at = si_rows_i64(v[7]),
      .item_original = v[8],
      .item_code = v[9],
      .item_origin = v[10],
      .item_batch_uid = v[11],
      .item_created_at = si_rows_i64(v[12]),
  };
  return c->fn(c->user, &row);
}

si_status si_store_deid_export(si_db *db, si_deid_export_fn fn, void *user, si_error *err) {
  export_ctx c = {fn, user};
  return si_db_exec(db,
                    "SELECT e.id, e.source, e.original, e.code, e.day_shift, e.origin, "
                    "e.batch_uid, e.created_at, i.original, i.code, i.origin, i.batch_uid, "
                    "i.created_at FROM deid_entity e LEFT JOIN deid_item i ON i.entity_id = e.id "
                    "ORDER BY e.id, i.id",
                    0, NULL, export_row, &c, NULL, err);
}
