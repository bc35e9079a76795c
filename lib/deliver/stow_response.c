/* The STOW-RS answer, per instance; see stow_response.h. A malformed
 * entry (not an object, no readable SOP Instance UID) confirms nothing: the
 * instance it may have meant stays "not confirmed" and is sent again. A
 * malformed document refuses the whole answer. */
#include "stow_response.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_REFERENCED "00081199"
#define TAG_FAILED "00081198"
#define TAG_SOP_INSTANCE "00081155"
#define TAG_WARNING "00081196"
#define TAG_FAILURE "00081197"

#define NONE (-1)       /* no such element */
#define UNREADABLE (-2) /* the element is there but not one US value */

/* ---- statuses (PS3.4 Annex B.2, PS3.18 Table 10.5.3-1) ---- */

static const struct {
  unsigned value, mask;
  const char *name;
} reasons[] = {
    {0x0110, 0xFFFF, "processing failure"},
    {0x0111, 0xFFFF, "duplicate SOP instance"},
    {0x0117, 0xFFFF, "invalid SOP instance"},
    {0x0122, 0xFFFF, "SOP class not supported"},
    {0x0124, 0xFFFF, "not authorized"},
    {0x0211, 0xFFFF, "unrecognized operation"},
    {0x0212, 0xFFFF, "mistyped argument"},
    {0x0213, 0xFFFF, "resource limitation"},
    {0xB000, 0xFFFF, "coercion of data elements"},
    {0xB006, 0xFFFF, "elements discarded"},
    {0xB007, 0xFFFF, "data set does not match SOP class"},
    {0xA700, 0xFF00, "out of resources"},
    {0xA900, 0xFF00, "data set does not match SOP class"},
    {0xC000, 0xF000, "cannot understand"},
};

const char *si_stow_reason_name(unsigned reason) {
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if ((reason & reasons[i].mask) == reasons[i].value)
      return reasons[i].name;
  return "";
}

/* A7xx and 0213 say the peer lacked room or memory, 0110 that it failed
 * while processing: another attempt may find it better. */
int si_stow_reason_retryable(unsigned reason) {
  return (reason & 0xFF00) == 0xA700 || reason == 0x0110 || reason == 0x0213;
}

/* ---- the DICOM JSON Model, checked ---- */

/* item[key]'s Value array when the element has VR vr (or says none):
 * NULL when the element is absent or has no Value; *bad set when it is
 * there but malformed. */
static json_t *value_of(json_t *item, const char *key, const char *vr, int *bad) {
  json_t *el = json_object_get(item, key);
  *bad = 0;
  if (!el)
    return NULL;
  json_t *v = json_is_object(el) ? json_object_get(el, "vr") : NULL;
  if (!json_is_object(el) || (v && (!json_is_string(v) || strcmp(json_string_value(v), vr) != 0))) {
    *bad = 1;
    return NULL;
  }
  json_t *value = json_object_get(el, "Value");
  if (value && !json_is_array(value)) {
    *bad = 1;
    return NULL;
  }
  return value;
}

/* The one UID of item[key], or NULL. */
static const char *one_uid(json_t *item, const char *key) {
  int bad;
  json_t *value = value_of(item, key, "UI", &bad);
  if (!value || json_array_size(value) != 1 || !json_is_string(json_array_get(value, 0)))
    return NULL;
  const char *uid = json_string_value(json_array_get(value, 0));
  size_t n = strlen(uid);
  if (n == 0 || n > 64 || strspn(uid, "0123456789.") != n ||
      json_string_length(json_array_get(value, 0)) != n)
    return NULL;
  return uid;
}

/* The one US value of item[key]: 0..65535, NONE or UNREADABLE. */
static long one_us(json_t *item, const char *key) {
  int bad;
  json_t *value = value_of(item, key, "US", &bad);
  if (bad)
    return UNREADABLE;
  if (!value)
    return NONE;
  json_t *v = json_array_get(value, 0);
  if (json_array_size(value) != 1 || !json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) > 0xFFFF)
    return UNREADABLE;
  return (long)json_integer_value(v);
}

/* The items of root[key] (NULL: none); an error when it is not a sequence. */
static si_status sequence(json_t *root, const char *key, json_t **items, si_error *err) {
  int bad;
  *items = value_of(root, key, "SQ", &bad);
  if (bad)
    return si_error_set(err, SI_ERR_FORMAT, "", SI_NO_OFFSET, SI_NO_TAG,
                        "(%.4s,%.4s) is not a sequence of the DICOM JSON Model", key, key + 4);
  if (*items && json_array_size(*items) > SI_STOW_MAX_ITEMS)
    return si_error_set(err, SI_ERR_LIMIT, "", SI_NO_OFFSET, SI_NO_TAG,
                        "(%.4s,%.4s) has more than %d items", key, key + 4, SI_STOW_MAX_ITEMS);
  return SI_OK;
}

/* ---- the instances of the request, by UID ---- */

typedef struct state {
  const char *uid;
  size_t index;
  int referenced, failed;
  long warning, reason;
} state;

static int by_uid(const void *a, const void *b) {
  return strcmp(((const state *)a)->uid, ((const state *)b)->uid);
}

/* The first state of uid in s[n] (sorted), or NULL. */
static state *find(state *s, size_t n, const char *uid) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(s[mid].uid, uid) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && strcmp(s[lo].uid, uid) == 0 ? &s[lo] : NULL;
}

/* Marks every instance an item of the sequence names. */
static void mark(state *s, size_t n, json_t *items, int failed) {
  for (size_t k = 0; k < json_array_size(items); k++) {
    json_t *item = json_array_get(items, k);
    const char *uid = json_is_object(item) ? one_uid(item, TAG_SOP_INSTANCE) : NULL;
    state *hit = uid ? find(s, n, uid) : NULL;
    for (; hit && hit < s + n && strcmp(hit->uid, uid) == 0; hit++) {
      if (failed && !hit->failed) {
        hit->failed = 1;
        hit->reason = one_us(item, TAG_FAILURE);
      } else if (!failed && !hit->referenced) {
        hit->referenced = 1;
        hit->warning = one_us(item, TAG_WARNING);
      }
    }
  }
}

static void describe(const state *st, long status, si_stow_outcome *o) {
  o->sent = 0;
  o->retryable = 1;
  if (st->failed && st->referenced) {
    snprintf(o->answer, sizeof o->answer,
             "the response both confirms and refuses it (HTTP %ld: ReferencedSOP and FailedSOP)",
             status);
  } else if (st->failed && st->reason >= 0) {
    unsigned r = (unsigned)st->reason;
    const char *name = si_stow_reason_name(r);
    o->retryable = si_stow_reason_retryable(r);
    snprintf(o->answer, sizeof o->answer, "0x%04X%s%s (HTTP %ld: FailedSOP)", r, *name ? ": " : "",
             name, status);
  } else if (st->failed) {
    snprintf(o->answer, sizeof o->answer,
             "refused without a readable FailureReason (HTTP %ld: FailedSOP)", status);
  } else if (st->referenced) {
    o->sent = 1;
    o->retryable = 0;
    if (st->warning >= 0) {
      const char *name = si_stow_reason_name((unsigned)st->warning);
      snprintf(o->answer, sizeof o->answer, "HTTP %ld: ReferencedSOP, WarningReason 0x%04lX%s%s",
               status, st->warning, *name ? ": " : "", name);
    } else {
      snprintf(o->answer, sizeof o->answer, "HTTP %ld: ReferencedSOP%s", status,
               st->warning == UNREADABLE ? ", WarningReason unreadable" : "");
    }
  } else {
    snprintf(o->answer, sizeof o->answer, "not confirmed by the response (HTTP %ld)", status);
  }
}

si_status si_stow_response_parse(const char *body, size_t len, long status, const char *const *uids,
                                 size_t count, si_stow_outcome *out, si_error *err) {
  if (len > SI_STOW_RESPONSE_MAX)
    return si_error_set(err, SI_ERR_LIMIT, "", SI_NO_OFFSET, SI_NO_TAG,
                        "the answer has more than %d bytes", SI_STOW_RESPONSE_MAX);
  size_t lead = 0;
  while (lead < len && strchr(" \t\r\n", body[lead]) && body[lead])
    lead++;
  if (lead == len)
    return si_error_set(err, SI_ERR_FORMAT, "", SI_NO_OFFSET, SI_NO_TAG, "the answer is empty");
  if (body[lead] == '<')
    return si_error_set(err, SI_ERR_UNSUPPORTED, "", SI_NO_OFFSET, SI_NO_TAG,
                        "the answer is XML (application/dicom+xml?), not the "
                        "application/dicom+json asked for");
  json_error_t jerr;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return si_error_set(err, SI_ERR_PARSE, "", (uint64_t)jerr.position, SI_NO_TAG,
                        "the answer is not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                        jerr.column);
  si_status rc = SI_OK;
  json_t *referenced = NULL, *failed = NULL;
  state *s = NULL;
  if (!json_is_object(root))
    rc = si_error_set(err, SI_ERR_FORMAT, "", SI_NO_OFFSET, SI_NO_TAG,
                      "the answer is JSON but not an object of the DICOM JSON Model");
  if (rc == SI_OK)
    rc = sequence(root, TAG_REFERENCED, &referenced, err);
  if (rc == SI_OK)
    rc = sequence(root, TAG_FAILED, &failed, err);
  /* An object with neither sequence is no Store Instances Response (an
   * error document of the server's own, or {}): nothing to read per
   * instance, the caller decides by the status. */
  if (rc == SI_OK && !json_object_get(root, TAG_REFERENCED) && !json_object_get(root, TAG_FAILED))
    rc = si_error_set(err, SI_ERR_FORMAT, "", SI_NO_OFFSET, SI_NO_TAG,
                      "the answer has neither ReferencedSOPSequence nor FailedSOPSequence");
  if (rc == SI_OK && count && !(s = calloc(count, sizeof *s)))
    rc = si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (rc == SI_OK) {
    for (size_t i = 0; i < count; i++)
      s[i] = (state){.uid = uids[i] ? uids[i] : "", .index = i, .warning = NONE, .reason = NONE};
    qsort(s, count, sizeof *s, by_uid);
    mark(s, count, referenced, 0);
    mark(s, count, failed, 1);
    for (size_t i = 0; i < count; i++)
      describe(&s[i], status, &out[s[i].index]);
  }
  free(s);
  json_decref(root);
  return rc;
}
