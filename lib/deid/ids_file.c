/* Pseudonyms from a JSON file (sendit/deid_ids.h), for `sendit deid
 * --ids FILE.json`: a research team's own table of codes. Whatever the file
 * does not list is an error, never a code made up on the spot, so that a
 * mistyped table cannot give one patient two identities. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/deid_ids.h"

typedef struct file_ids {
  si_deid_ids base;
  json_t *doc;
  char path[512];
} file_ids;

static si_status bad(const file_ids *f, const char *key, const char *why, si_error *err) {
  return si_error_set(err, SI_ERR_FORMAT, f->path, SI_NO_OFFSET, SI_NO_TAG, "patient '%.64s': %s",
                      key, why);
}

static si_status lookup(si_deid_ids *ids, const si_deid_ids_request *req, si_deid_ids_answer *out,
                        si_error *err) {
  const file_ids *f = (const file_ids *)ids;
  const char *entity = req->entity_id ? req->entity_id : "";
  json_t *patient = json_object_get(f->doc, entity);
  if (!patient)
    return si_error_set(err, SI_ERR_NOT_FOUND, f->path, SI_NO_OFFSET, SI_NO_TAG,
                        "the identifier file has no patient '%.64s'", entity);
  const char *code = json_string_value(json_object_get(patient, "code"));
  json_t *shift = json_object_get(patient, "day_shift");
  json_t *studies = json_object_get(patient, "studies");
  if (!code || !*code)
    return bad(f, entity, "\"code\" must be a non-empty string", err);
  if (shift && (!json_is_integer(shift) || json_integer_value(shift) < -36500 ||
                json_integer_value(shift) > 36500))
    return bad(f, entity, "\"day_shift\" must be a whole number of days within 100 years", err);
  out->entity_code = strdup(code);
  out->day_shift = shift ? (int32_t)json_integer_value(shift) : 0;
  out->item_codes = calloc(req->item_count ? req->item_count : 1, sizeof *out->item_codes);
  if (!out->entity_code || !out->item_codes)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  for (size_t i = 0; i < req->item_count; i++) {
    const char *uid = req->item_ids[i] ? req->item_ids[i] : "";
    const char *item = json_string_value(json_object_get(studies, uid));
    if (!item || !*item)
      return si_error_set(err, SI_ERR_NOT_FOUND, f->path, SI_NO_OFFSET, SI_NO_TAG,
                          "the identifier file has no study '%.64s' for patient '%.64s'", uid,
                          entity);
    out->item_codes[i] = strdup(item);
    out->item_count = i + 1;
    if (!out->item_codes[i])
      return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  return SI_OK;
}

static void file_free(si_deid_ids *ids) {
  file_ids *f = (file_ids *)ids;
  json_decref(f->doc);
  free(f);
}

static const si_deid_ids_ops ops = {"file", lookup, file_free};

si_status si_deid_ids_file_open(const char *path, si_deid_ids **out, si_error *err) {
  *out = NULL;
  json_error_t je;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!doc)
    return si_error_set(err, SI_ERR_FORMAT, path, SI_NO_OFFSET, SI_NO_TAG, "line %d: %s", je.line,
                        je.text);
  if (!json_is_object(doc)) {
    json_decref(doc);
    return si_error_set(err, SI_ERR_FORMAT, path, SI_NO_OFFSET, SI_NO_TAG,
                        "expected an object of patients: {\"PATIENTID\": {\"code\": ...}}");
  }
  file_ids *f = calloc(1, sizeof *f);
  if (!f) {
    json_decref(doc);
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  f->base.ops = &ops;
  f->doc = doc;
  snprintf(f->path, sizeof f->path, "%s", path);
  *out = &f->base;
  return SI_OK;
}
