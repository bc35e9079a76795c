/* Data set access and typed getters over parsed elements. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sendit/charset.h"

size_t si_dataset_count(const si_dataset *ds) { return ds ? ds->count : 0; }

const si_element *si_dataset_at(const si_dataset *ds, size_t index) {
  return ds && index < ds->count ? &ds->elements[index] : NULL;
}

const si_element *si_dataset_find(const si_dataset *ds, uint32_t tag) {
  if (!ds)
    return NULL;
  if (ds->sorted) {
    size_t lo = 0, hi = ds->count;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      uint32_t t = ds->elements[mid].tag;
      if (t == tag)
        return &ds->elements[mid];
      if (t < tag)
        lo = mid + 1;
      else
        hi = mid;
    }
    return NULL;
  }
  for (size_t i = 0; i < ds->count; i++)
    if (ds->elements[i].tag == tag)
      return &ds->elements[i];
  return NULL;
}

const char *si_dataset_charset_raw(const si_dataset *ds, size_t *len) {
  for (; ds; ds = ds->parent)
    if (ds->charset) {
      if (len)
        *len = ds->charset_len;
      return (const char *)ds->charset;
    }
  if (len)
    *len = 0;
  return "";
}

const char *si_dataset_private_creator(const si_dataset *ds, uint32_t tag, size_t *len) {
  uint16_t group = SI_TAG_GROUP(tag), element = SI_TAG_ELEMENT(tag);
  if (!(group & 1) || element < 0x1000)
    return NULL;
  uint32_t creator_tag = SI_TAG(group, element >> 8);
  for (; ds; ds = ds->parent) {
    const si_element *el = si_dataset_find(ds, creator_tag);
    if (el && el->value) {
      size_t n = el->value_len;
      while (n && (el->value[n - 1] == ' ' || el->value[n - 1] == 0))
        n--;
      if (len)
        *len = n;
      return (const char *)el->value;
    }
  }
  return NULL;
}

size_t si_element_vm(const si_element *el) {
  if (!el)
    return 0;
  if (el->vr == SI_VR_SQ)
    return el->item_count;
  if (el->flags & SI_ELEM_ENCAPSULATED)
    return 1;
  if (el->value_len == 0)
    return 0;
  if (si_vr_is_string(el->vr)) {
    if (!si_vr_is_multivalued_string(el->vr))
      return 1;
    size_t n = 1;
    for (size_t i = 0; i < el->value_len; i++)
      n += el->value[i] == '\\';
    return n;
  }
  size_t unit = si_vr_unit_size(el->vr);
  if (el->vr == SI_VR_OB || el->vr == SI_VR_UN || el->vr == SI_VR_NONE || unit == 0)
    return 1;
  return el->value_len / unit;
}

static si_status not_found(uint32_t tag, si_error *err) {
  return si_error_set(err, SI_ERR_NOT_FOUND, NULL, SI_NO_OFFSET, tag, "element not present");
}

static int trims_leading_spaces(si_vr vr) {
  return vr != SI_VR_LT && vr != SI_VR_ST && vr != SI_VR_UT && vr != SI_VR_UR;
}

/* Byte range of value `index` of a string element, padding removed. */
static si_status string_slice(const si_element *el, size_t index, const uint8_t **start,
                              size_t *len, si_error *err) {
  const uint8_t *v = el->value ? el->value : (const uint8_t *)"";
  size_t n = el->value_len;
  if (index != SIZE_MAX && si_vr_is_multivalued_string(el->vr)) {
    size_t i = 0, begin = 0;
    for (size_t k = 0; k <= n; k++) {
      if (k == n || v[k] == '\\') {
        if (i == index) {
          v += begin;
          n = k - begin;
          goto trim;
        }
        i++;
        begin = k + 1;
      }
    }
    return si_error_set(err, SI_ERR_NOT_FOUND, NULL, el->offset, el->tag,
                        "value %zu requested, element has %zu", index, i);
  } else if (index != SIZE_MAX && index > 0) {
    return si_error_set(err, SI_ERR_NOT_FOUND, NULL, el->offset, el->tag,
                        "value %zu requested, element has 1", index);
  }
trim:
  while (n && (v[n - 1] == ' ' || v[n - 1] == 0))
    n--;
  if (trims_leading_spaces(el->vr))
    while (n && *v == ' ') {
      v++;
      n--;
    }
  *start = v;
  *len = n;
  return SI_OK;
}

static const si_element *find_string_element(const si_dataset *ds, uint32_t tag, si_error *err,
                                             si_status *st) {
  const si_element *el = si_dataset_find(ds, tag);
  if (!el) {
    *st = not_found(tag, err);
    return NULL;
  }
  if (!si_vr_is_string(el->vr) && el->vr != SI_VR_UN && el->vr != SI_VR_NONE) {
    *st = si_error_set(err, SI_ERR_VALUE, NULL, el->offset, tag, "VR %s is not a string",
                       si_vr_name(el->vr));
    return NULL;
  }
  *st = SI_OK;
  return el;
}

si_status si_get_string_n(const si_dataset *ds, uint32_t tag, size_t index, char **out, size_t *len,
                          si_error *err) {
  *out = NULL;
  if (len)
    *len = 0;
  si_status st;
  const si_element *el = find_string_element(ds, tag, err, &st);
  if (!el)
    return st;
  const uint8_t *v;
  size_t n;
  st = string_slice(el, index, &v, &n, err);
  if (st != SI_OK)
    return st;
  if (!si_vr_is_text(el->vr)) {
    /* AE CS DA DS ... UI: the default repertoire, no decoding needed. */
    char *s = malloc(n + 1);
    if (!s)
      return si_error_set(err, SI_ERR_NOMEM, NULL, el->offset, tag, "out of memory");
    if (n)
      memcpy(s, v, n);
    s[n] = 0;
    *out = s;
    if (len)
      *len = n;
    return SI_OK;
  }
  size_t cs_len;
  const char *cs_raw = si_dataset_charset_raw(ds, &cs_len);
  si_charset *cs = NULL;
  st = si_charset_open(cs_raw, cs_len, &cs, err);
  if (st != SI_OK) {
    /* An unknown charset must not hide the value: fall back to Latin-1
     * decoding, which maps every byte, and tell the caller through err. */
    si_charset_open("ISO_IR 100", 10, &cs, NULL);
  }
  size_t out_len = 0;
  si_status dst = si_charset_decode(cs, el->vr, v, n, out, &out_len, err);
  si_charset_close(cs);
  if (dst != SI_OK && err && !err->file[0] && err->tag == SI_NO_TAG)
    err->tag = tag;
  if (len)
    *len = out_len;
  return dst;
}

si_status si_get_string(const si_dataset *ds, uint32_t tag, size_t index, char **out,
                        si_error *err) {
  return si_get_string_n(ds, tag, index, out, NULL, err);
}

static si_status parse_decimal_int(const si_element *el, const uint8_t *v, size_t n, int64_t *out,
                                   si_error *err) {
  char buf[32];
  if (n == 0 || n >= sizeof buf)
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, el->tag, "not an integer string");
  memcpy(buf, v, n);
  buf[n] = 0;
  char *end;
  errno = 0;
  long long x = strtoll(buf, &end, 10);
  if (errno || *end || end == buf)
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, el->tag, "'%s' is not an integer",
                        buf);
  *out = x;
  return SI_OK;
}

static si_status binary_number(const si_element *el, size_t index, int64_t *as_int,
                               double *as_float, si_error *err) {
  size_t unit = el->vr == SI_VR_AT ? 4 : si_vr_unit_size(el->vr);
  if (unit < 2 || el->vr == SI_VR_OB || el->vr == SI_VR_UN)
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, el->tag, "VR %s is not a number",
                        si_vr_name(el->vr));
  if (index >= el->value_len / unit) /* no multiplication: huge indexes must not wrap */
    return si_error_set(err, SI_ERR_NOT_FOUND, NULL, el->offset, el->tag,
                        "value %zu requested, element has %zu", index, el->value_len / unit);
  const uint8_t *p = el->value + index * unit;
  union {
    uint16_t u16[4];
    int16_t s16;
    uint32_t u32;
    int32_t s32;
    uint64_t u64;
    int64_t s64;
    float f32;
    double f64;
  } u;
  memcpy(&u, p, unit);
  switch (el->vr) {
  case SI_VR_US:
  case SI_VR_OW:
    *as_int = u.u16[0];
    break;
  case SI_VR_SS:
    *as_int = u.s16;
    break;
  case SI_VR_UL:
  case SI_VR_OL:
    *as_int = u.u32;
    break;
  case SI_VR_SL:
    *as_int = u.s32;
    break;
  case SI_VR_AT:
    *as_int = (int64_t)((uint32_t)u.u16[0] << 16 | u.u16[1]);
    break;
  case SI_VR_UV:
  case SI_VR_OV:
    *as_int = (int64_t)u.u64;
    break;
  case SI_VR_SV:
    *as_int = u.s64;
    break;
  case SI_VR_FL:
  case SI_VR_OF:
    *as_float = u.f32;
    return SI_OK;
  case SI_VR_FD:
  case SI_VR_OD:
    *as_float = u.f64;
    return SI_OK;
  default:
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, el->tag, "VR %s is not a number",
                        si_vr_name(el->vr));
  }
  *as_float = (double)*as_int;
  return SI_OK;
}

static int is_float_vr(si_vr vr) {
  return vr == SI_VR_FL || vr == SI_VR_FD || vr == SI_VR_OF || vr == SI_VR_OD;
}

si_status si_get_int(const si_dataset *ds, uint32_t tag, size_t index, int64_t *out,
                     si_error *err) {
  const si_element *el = si_dataset_find(ds, tag);
  if (!el)
    return not_found(tag, err);
  if (el->vr == SI_VR_IS || el->vr == SI_VR_UN) {
    const uint8_t *v;
    size_t n;
    si_status st = string_slice(el, index, &v, &n, err);
    return st != SI_OK ? st : parse_decimal_int(el, v, n, out, err);
  }
  if (is_float_vr(el->vr) || el->vr == SI_VR_DS)
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, tag, "VR %s is not an integer",
                        si_vr_name(el->vr));
  double ignored;
  return binary_number(el, index, out, &ignored, err);
}

si_status si_get_float(const si_dataset *ds, uint32_t tag, size_t index, double *out,
                       si_error *err) {
  const si_element *el = si_dataset_find(ds, tag);
  if (!el)
    return not_found(tag, err);
  if (el->vr == SI_VR_DS || el->vr == SI_VR_IS) {
    const uint8_t *v;
    size_t n;
    si_status st = string_slice(el, index, &v, &n, err);
    if (st != SI_OK)
      return st;
    char buf[64];
    if (n == 0 || n >= sizeof buf)
      return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, tag, "not a decimal string");
    memcpy(buf, v, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (errno || *end || end == buf || !isfinite(x))
      return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, tag, "'%s' is not a number", buf);
    *out = x;
    return SI_OK;
  }
  int64_t ignored;
  return binary_number(el, index, &ignored, out, err);
}

si_status si_get_uid(const si_dataset *ds, uint32_t tag, char out[65], si_error *err) {
  out[0] = 0;
  si_status st;
  const si_element *el = find_string_element(ds, tag, err, &st);
  if (!el)
    return st;
  const uint8_t *v;
  size_t n;
  st = string_slice(el, SIZE_MAX, &v, &n, err);
  if (st != SI_OK)
    return st;
  if (n > 64)
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, tag, "UID of %zu characters", n);
  memcpy(out, v, n);
  out[n] = 0;
  return SI_OK;
}

/* Why the bytes are not a UID, or NULL when they are one (PS3.5 9.1). */
static const char *uid_problem(const char *uid, size_t len) {
  if (!uid)
    return "no value";
  while (len && (uid[len - 1] == 0 || uid[len - 1] == ' '))
    len--;
  if (len == 0)
    return "empty";
  if (len > 64)
    return "longer than 64 characters";
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && uid[i] >= '0' && uid[i] <= '9')
      continue;
    if (i < len && uid[i] != '.')
      return "a character other than a digit or '.'";
    if (i == start)
      return "an empty component";
    if (uid[start] == '0' && i - start > 1)
      return "a component with a leading zero";
    start = i + 1;
  }
  return NULL;
}

int si_uid_is_valid(const char *uid, size_t len) { return uid_problem(uid, len) == NULL; }

si_status si_get_valid_uid(const si_dataset *ds, uint32_t tag, char out[65], si_error *err) {
  out[0] = 0;
  si_status st;
  const si_element *el = find_string_element(ds, tag, err, &st);
  if (!el)
    return st;
  /* A header-only read skips values of kilobytes: far too long for a UID. */
  const char *problem = el->flags & SI_ELEM_VALUE_SKIPPED
                            ? "longer than 64 characters"
                            : uid_problem(el->value ? (const char *)el->value : "", el->value_len);
  if (problem)
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, tag, "not a valid UID: %s", problem);
  /* Valid, so padding is all si_get_uid removes. */
  return si_get_uid(ds, tag, out, err);
}

static int digits(const uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] < '0' || v[i] > '9')
      return 0;
  return 1;
}

static int num(const uint8_t *v, size_t n) {
  int x = 0;
  for (size_t i = 0; i < n; i++)
    x = x * 10 + (v[i] - '0');
  return x;
}

si_status si_get_date(const si_dataset *ds, uint32_t tag, size_t index, si_date *out,
                      si_error *err) {
  si_status st;
  const si_element *el = find_string_element(ds, tag, err, &st);
  if (!el)
    return st;
  const uint8_t *v;
  size_t n;
  st = string_slice(el, index, &v, &n, err);
  if (st != SI_OK)
    return st;
  si_date d = {0, 0, 0};
  if (n == 8 && digits(v, 8)) {
    d = (si_date){num(v, 4), num(v + 4, 2), num(v + 6, 2)};
  } else if (n == 10 && v[4] == '.' && v[7] == '.' && digits(v, 4) && digits(v + 5, 2) &&
             digits(v + 8, 2)) {
    d = (si_date){num(v, 4), num(v + 5, 2), num(v + 8, 2)}; /* ACR-NEMA style */
  } else if ((n == 4 || n == 6) && digits(v, n)) {
    d = (si_date){num(v, 4), n == 6 ? num(v + 4, 2) : 0, 0};
  } else {
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, tag, "'%.*s' is not a date",
                        (int)(n > 32 ? 32 : n), (const char *)v);
  }
  if (d.month > 12 || d.day > 31 || (n == 8 && (d.month == 0 || d.day == 0)))
    return si_error_set(err, SI_ERR_VALUE, NULL, el->offset, tag, "'%.*s' is not a valid date",
                        (int)n, (const char *)v);
  *out = d;
  return SI_OK;
}

static char *dup_range(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (r) {
    memcpy(r, s, n);
    r[n] = 0;
  }
  return r;
}

void si_person_name_free(si_person_name *pn) {
  if (!pn)
    return;
  for (int g = 0; g < 3; g++) {
    free(pn->group[g]);
    pn->group[g] = NULL;
    for (int c = 0; c < 5; c++) {
      free(pn->component[g][c]);
      pn->component[g][c] = NULL;
    }
  }
}

si_status si_get_person_name(const si_dataset *ds, uint32_t tag, size_t index, si_person_name *out,
                             si_error *err) {
  memset(out, 0, sizeof *out);
  char *text;
  si_status st = si_get_string(ds, tag, index, &text, err);
  if (st != SI_OK)
    return st;
  const char *p = text;
  int ok = 1;
  for (int g = 0; g < 3; g++) {
    const char *group_end = strchr(p, '=');
    size_t glen = group_end ? (size_t)(group_end - p) : strlen(p);
    ok = ok && (out->group[g] = dup_range(p, glen)) != NULL;
    const char *c = p;
    for (int k = 0; k < 5; k++) {
      const char *cend = memchr(c, '^', (size_t)(p + glen - c));
      size_t clen = cend ? (size_t)(cend - c) : (size_t)(p + glen - c);
      ok = ok && (out->component[g][k] = dup_range(c, clen)) != NULL;
      c = cend ? cend + 1 : p + glen;
    }
    p = group_end ? group_end + 1 : p + glen;
  }
  free(text);
  if (!ok) {
    si_person_name_free(out);
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
  }
  return SI_OK;
}
