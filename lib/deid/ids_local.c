/* The "local" pseudonym provider: sendit's own table (store_deid.h). Also
 * the two helpers both providers share to speak to the table
 * (ids_answer.h). */
#include "sendit/deid_ids_local.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ids_answer.h"
#include "sendit/store_deid.h"

typedef struct local_ids {
  si_deid_ids base;
  si_db *db;
  int32_t shift_min, shift_max;
} local_ids;

si_deid_key si_ids_key(const si_deid_ids_request *req) {
  si_deid_key key = {.source = req->entity_source,
                     .original = req->entity_id ? req->entity_id : "",
                     .items = req->item_ids,
                     .item_count = req->item_count,
                     .batch_uid = req->batch_uid};
  return key;
}

static si_status no_memory(si_error *err) {
  return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "pseudonyms: out of memory");
}

si_status si_ids_answer_from_codes(const si_deid_ids_request *req, const si_deid_codes *codes,
                                   si_deid_ids_answer *out, si_error *err) {
  memset(out, 0, sizeof *out);
  out->entity_code = strdup(codes->entity_code);
  out->item_codes = calloc(req->item_count ? req->item_count : 1, sizeof *out->item_codes);
  if (!out->entity_code || !out->item_codes) {
    si_deid_ids_answer_free(out);
    return no_memory(err);
  }
  out->item_count = req->item_count;
  out->day_shift = codes->day_shift;
  for (size_t i = 0; i < req->item_count; i++)
    if (!(out->item_codes[i] = strdup(codes->item_codes[i]))) {
      si_deid_ids_answer_free(out);
      return no_memory(err);
    }
  return SI_OK;
}

static si_status local_lookup(si_deid_ids *ids, const si_deid_ids_request *req,
                              si_deid_ids_answer *out, si_error *err) {
  local_ids *l = (local_ids *)ids;
  memset(out, 0, sizeof *out);
  si_deid_codes codes = {0};
  codes.item_codes = calloc(req->item_count ? req->item_count : 1, sizeof *codes.item_codes);
  if (!codes.item_codes)
    return no_memory(err);
  si_deid_key key = si_ids_key(req);
  si_status st = si_store_deid_get_or_create(l->db, &key, l->shift_min, l->shift_max, &codes, err);
  if (st == SI_OK)
    st = si_ids_answer_from_codes(req, &codes, out, err);
  free(codes.item_codes);
  return st;
}

static void local_free(si_deid_ids *ids) { free(ids); }

static const si_deid_ids_ops local_ops = {"local", local_lookup, local_free};

si_status si_deid_ids_local_new(si_db *db, int32_t shift_min_days, int32_t shift_max_days,
                                si_deid_ids **out, si_error *err) {
  *out = NULL;
  if (!db)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "pseudonyms: the local table needs a database");
  if (shift_min_days > shift_max_days || shift_min_days < -SI_DEID_SHIFT_LIMIT ||
      shift_max_days > SI_DEID_SHIFT_LIMIT)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "pseudonyms: day shift range %" PRId32 "..%" PRId32
                        " is not a range within -%d..%d days",
                        shift_min_days, shift_max_days, SI_DEID_SHIFT_LIMIT, SI_DEID_SHIFT_LIMIT);
  local_ids *l = calloc(1, sizeof *l);
  if (!l)
    return no_memory(err);
  l->base.ops = &local_ops;
  l->db = db;
  l->shift_min = shift_min_days;
  l->shift_max = shift_max_days;
  *out = &l->base;
  return SI_OK;
}
