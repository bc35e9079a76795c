/* The identifier service's JSON; see ids_answer.h. The answer comes from
 * another host and is read as hostile: duplicate keys are refused, every
 * field is checked for its type, codes for their form and length, the
 * jitter for its range, and an answer about another patient or missing a
 * study is an error, never a partial success. */
#include "ids_answer.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/deid_ids_local.h"
#include "sendit/utf8.h"

/* ---- text ---- */

/* s as UTF-8: itself when valid, else each byte as a Latin-1 character. */
static char *as_unicode(const char *s) {
  size_t n = strlen(s);
  if (si_utf8_valid(s, n))
    return strdup(s);
  char *out = malloc(2 * n + 1), *w = out;
  if (!out)
    return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x80) {
      *w++ = (char)*p;
    } else {
      *w++ = (char)(0xC0 | (*p >> 6));
      *w++ = (char)(0x80 | (*p & 0x3F));
    }
  }
  *w = '\0';
  return out;
}

static json_t *text(const char *s) {
  char *u = as_unicode(s ? s : "");
  json_t *j = u ? json_string(u) : NULL;
  free(u);
  return j;
}

/* ---- the request ---- */

static const char *reference(const si_deid_ids_request *req) {
  return req->entity_timestamp && req->entity_timestamp[0] ? req->entity_timestamp
                                                           : SI_IDS_REFERENCE_TIMESTAMP;
}

static const char *entity_source(const si_deid_ids_request *req) {
  return req->entity_source && req->entity_source[0] ? req->entity_source : "PatientID";
}

static json_t *custom_fields(const si_deid_ids_request *req) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < req->entity_field_count; i++)
    if (json_array_append_new(a, json_pack("{s:o?,s:o?}", "key", text(req->entity_field_keys[i]),
                                           "value", text(req->entity_field_values[i]))) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

char *si_ids_json_request(const si_deid_ids_request *req, const size_t *which, size_t n,
                          si_error *err) {
  json_t *items = json_array();
  for (size_t i = 0; items && i < n; i++)
    if (json_array_append_new(
            items, json_pack("{s:o?,s:s,s:s}", "id", text(req->item_ids[which[i]]), "id_source",
                             SI_IDS_ITEM_SOURCE, "id_timestamp", reference(req))) != 0) {
      json_decref(items);
      items = NULL;
    }
  json_t *entity =
      items ? json_pack("{s:o?,s:o?,s:s,s:o?,s:o}", "id", text(req->entity_id), "id_source",
                        text(entity_source(req)), "id_timestamp", reference(req), "custom_fields",
                        custom_fields(req), "items", items)
            : NULL;
  json_t *root = entity ? json_pack("{s:[o]}", "identifiers", entity) : NULL;
  char *body = root ? json_dumps(root, JSON_COMPACT) : NULL;
  json_decref(root);
  if (!body)
    si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG,
                 "identifier service: out of memory writing the request");
  return body;
}

/* ---- timestamps ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* n decimal digits at *p into *v, advancing *p. */
static int digits(const char **p, int n, int *v) {
  *v = 0;
  for (int i = 0; i < n; i++, (*p)++) {
    if (**p < '0' || **p > '9')
      return -1;
    *v = *v * 10 + (**p - '0');
  }
  return 0;
}

static int month_days(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return days[m - 1] + (m == 2 && leap);
}

static int zone(const char *p, int64_t *offset) {
  *offset = 0;
  if (*p == '\0' || (p[0] == 'Z' && p[1] == '\0'))
    return 0;
  int sign = *p == '+' ? 1 : *p == '-' ? -1 : 0, hh, mm;
  if (!sign)
    return -1;
  p++;
  if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mm) || *p || hh > 23 || mm > 59)
    return -1;
  *offset = sign * (hh * 3600 + mm * 60);
  return 0;
}

int si_ids_timestamp(const char *s, int64_t *seconds) {
  const char *p = s;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
      digits(&p, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
    return -1;
  if (*p == 'T' || *p == ' ') {
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec) || h > 23 || mi > 59 || sec > 60)
      return -1;
    if (*p == '.') {
      const char *f = ++p;
      while (*p >= '0' && *p <= '9')
        p++;
      if (p == f)
        return -1;
    }
  }
  int64_t offset;
  if (zone(p, &offset))
    return -1;
  *seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  return 0;
}

/* ---- the answer ---- */

static si_status bad(si_error *err, const char *fmt, ...) SI_PRINTF(2, 3);
static si_status bad(si_error *err, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return si_error_set(err, SI_ERR_FORMAT, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "the identifier service's answer %s (README, \"Pseudonyms and the "
                      "identifier service\")",
                      msg);
}

/* A code the tables and file names can hold: 1 to SI_IDS_CODE_LEN of
 * A-Z a-z 0-9 . _ - (the coded study names the output folder). */
static int good_code(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > SI_IDS_CODE_LEN)
    return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '.' || *p == '_' || *p == '-'))
      return 0;
  return !(n == 1 && s[0] == '.') && strcmp(s, "..") != 0;
}

static si_status read_code(const json_t *o, const char *what, char out[SI_DEID_CODE_MAX],
                           si_error *err) {
  const json_t *suid = json_object_get(o, "suid");
  if (!json_is_string(suid))
    return bad(err, "gives %s no \"suid\" string", what);
  if (!good_code(json_string_value(suid)))
    return bad(err, "gives %s a \"suid\" that is not 1 to %d of A-Z a-z 0-9 . _ -", what,
               SI_IDS_CODE_LEN);
  snprintf(out, SI_DEID_CODE_MAX, "%s", json_string_value(suid));
  return SI_OK;
}

/* Whether the answer's "id" (a string, or an integer as DASHER's examples
 * have it) is `sent`. */
static int same_id(const json_t *id, const char *sent) {
  if (json_is_string(id))
    return strcmp(json_string_value(id), sent) == 0;
  if (json_is_integer(id)) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    return strcmp(buf, sent) == 0;
  }
  return 0;
}

static si_status read_jitter(const json_t *e, const char *sent_ts, int32_t *shift, si_error *err) {
  const json_t *jitter = json_object_get(e, "jitter");
  int64_t days;
  if (jitter) {
    if (!json_is_integer(jitter))
      return bad(err, "has a \"jitter\" that is not a whole number of days");
    days = json_integer_value(jitter);
  } else {
    const json_t *ts = json_object_get(e, "jittered_timestamp");
    int64_t sent = 0, got = 0;
    if (!json_is_string(ts))
      return bad(err, "gives the patient neither \"jitter\" nor a \"jittered_timestamp\" string");
    if (si_ids_timestamp(json_string_value(ts), &got) || si_ids_timestamp(sent_ts, &sent))
      return bad(err, "has a \"jittered_timestamp\" that is not an ISO 8601 date or time");
    int64_t diff = got - sent;
    days = (diff >= 0 ? diff + 43200 : diff - 43200) / 86400;
  }
  if (days < -SI_DEID_SHIFT_LIMIT || days > SI_DEID_SHIFT_LIMIT)
    return bad(err, "shifts dates by %" PRId64 " days, beyond the %d days sendit takes", days,
               SI_DEID_SHIFT_LIMIT);
  *shift = (int32_t)days;
  return SI_OK;
}

typedef struct parse_ctx {
  const si_deid_ids_request *req;
  const size_t *which;
  size_t n;
  char **sent_items; /* the item ids as sent (UTF-8) */
  char *sent_entity;
} parse_ctx;

static si_status read_items(const parse_ctx *c, const json_t *e, char (*codes)[SI_DEID_CODE_MAX],
                            si_error *err) {
  const json_t *items = json_object_get(e, "items");
  if (c->n && !json_is_array(items))
    return bad(err, "has no \"items\" list for the patient");
  for (size_t i = 0; i < c->n; i++)
    codes[i][0] = '\0';
  size_t k;
  const json_t *it;
  json_array_foreach(items, k, it) {
    if (!json_is_object(it))
      return bad(err, "has item %zu that is not an object", k + 1);
    const json_t *id = json_object_get(it, "id");
    for (size_t i = 0; i < c->n; i++) {
      if (!same_id(id, c->sent_items[i]))
        continue;
      char code[SI_DEID_CODE_MAX];
      char what[48];
      snprintf(what, sizeof what, "study %zu", c->which[i] + 1);
      si_status st = read_code(it, what, code, err);
      if (st != SI_OK)
        return st;
      if (codes[i][0] && strcmp(codes[i], code) != 0)
        return bad(err, "gives %s two different codes", what);
      memcpy(codes[i], code, sizeof code);
    }
  }
  for (size_t i = 0; i < c->n; i++)
    if (!codes[i][0])
      return bad(err, "has no code for study %zu of the request", c->which[i] + 1);
  return SI_OK;
}

static si_status read_answer(const parse_ctx *c, const json_t *root, char *entity_code,
                             int32_t *shift, char (*codes)[SI_DEID_CODE_MAX], si_error *err) {
  const json_t *results = json_is_object(root) ? json_object_get(root, "results") : root;
  if (!json_is_array(results))
    return bad(err, "is neither a list nor an object with a \"results\" list");
  const json_t *entity = NULL, *e;
  size_t k;
  json_array_foreach(results, k, e) {
    if (!json_is_object(e))
      return bad(err, "has result %zu that is not an object", k + 1);
    if (!same_id(json_object_get(e, "id"), c->sent_entity))
      continue;
    const json_t *src = json_object_get(e, "id_source");
    char *sent_src = as_unicode(entity_source(c->req));
    int other =
        src && (!json_is_string(src) || !sent_src || strcmp(json_string_value(src), sent_src) != 0);
    free(sent_src);
    if (other)
      continue;
    if (entity)
      return bad(err, "has two results for the patient");
    entity = e;
  }
  if (!entity)
    return bad(err, "has no result whose \"id\" is the patient's id");
  si_status st = read_code(entity, "the patient", entity_code, err);
  if (st == SI_OK)
    st = read_jitter(entity, reference(c->req), shift, err);
  return st == SI_OK ? read_items(c, entity, codes, err) : st;
}

si_status si_ids_json_parse(const char *body, size_t len, const si_deid_ids_request *req,
                            const size_t *which, size_t n, char entity_code[SI_DEID_CODE_MAX],
                            int32_t *day_shift, char (*item_codes)[SI_DEID_CODE_MAX],
                            si_error *err) {
  json_error_t jerr;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return bad(err, "is not JSON: %s at line %d, column %d", jerr.text, jerr.line, jerr.column);
  parse_ctx c = {.req = req, .which = which, .n = n};
  si_status st = SI_OK;
  c.sent_entity = as_unicode(req->entity_id ? req->entity_id : "");
  c.sent_items = calloc(n ? n : 1, sizeof *c.sent_items);
  if (!c.sent_entity || !c.sent_items)
    st = SI_ERR_NOMEM;
  for (size_t i = 0; st == SI_OK && i < n; i++)
    if (!(c.sent_items[i] = as_unicode(req->item_ids[which[i]])))
      st = SI_ERR_NOMEM;
  if (st != SI_OK)
    si_error_set(err, st, NULL, SI_NO_OFFSET, SI_NO_TAG,
                 "identifier service: out of memory reading the answer");
  else
    st = read_answer(&c, root, entity_code, day_shift, item_codes, err);
  for (size_t i = 0; c.sent_items && i < n; i++)
    free(c.sent_items[i]);
  free(c.sent_items);
  free(c.sent_entity);
  json_decref(root);
  return st;
}
