/* DICOM JSON Model (PS3.18 Annex F) from a read data set; the mapping is
 * described in include/sendit/json.h. */
#include "sendit/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv {
  const si_json_options *opts;
  si_error *err;
} conv;

static si_status nomem(const conv *c, const si_element *el) {
  return si_error_set(c->err, SI_ERR_NOMEM, NULL, el ? el->offset : SI_NO_OFFSET,
                      el ? el->tag : SI_NO_TAG, "out of memory building JSON");
}

void si_json_options_init(si_json_options *opts) { memset(opts, 0, sizeof *opts); }

/* ---- strings ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  unsigned char b = s[0];
  size_t len;
  unsigned min;
  unsigned cp;
  if (b < 0x80)
    return 1;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2, cp = b & 0x1F, min = 0x80;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3, cp = b & 0x0F, min = 0x800;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4, cp = b & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

/* jansson refuses invalid UTF-8, and values of the default-repertoire VRs
 * (CS, UI, DA...) come straight from the file: broken bytes become U+FFFD
 * rather than losing the whole element. */
static json_t *make_string(const char *s, size_t n) {
  json_t *j = json_stringn(s, n);
  if (j)
    return j;
  char *fixed = malloc(n * 3 + 1);
  if (!fixed)
    return NULL;
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    size_t len = utf8_sequence((const unsigned char *)s + i, n - i);
    if (len == 0) {
      memcpy(fixed + w, "\xEF\xBF\xBD", 3);
      w += 3;
      i++;
    } else {
      memcpy(fixed + w, s + i, len);
      w += len;
      i += len;
    }
  }
  j = json_stringn(fixed, w);
  free(fixed);
  return j;
}

/* IS and DS: integers stay integers, so "512" is 512 and not 512.0. Text
 * that is no number is kept as a string (F.2.3 allows strings here). */
static json_t *make_number_string(const char *s, size_t n) {
  char buf[64];
  if (n == 0 || n >= sizeof buf)
    return make_string(s, n);
  memcpy(buf, s, n);
  buf[n] = 0;
  char *end;
  errno = 0;
  long long i = strtoll(buf, &end, 10);
  if (!errno && *end == 0)
    return json_integer(i);
  errno = 0;
  double d = strtod(buf, &end);
  if (!errno && *end == 0 && isfinite(d))
    return json_real(d);
  return make_string(s, n);
}

static json_t *make_value(si_vr vr, const char *s, size_t n) {
  if (n == 0)
    return json_null();
  if (vr == SI_VR_IS || vr == SI_VR_DS)
    return make_number_string(s, n);
  return make_string(s, n);
}

/* Padding rules of PS3.5 6.2, as si_get_string applies them. */
static void trim(si_vr vr, const char **s, size_t *n) {
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == 0))
    (*n)--;
  if (vr == SI_VR_LT || vr == SI_VR_ST || vr == SI_VR_UT || vr == SI_VR_UR)
    return;
  while (*n && **s == ' ') {
    (*s)++;
    (*n)--;
  }
}

/* Default-repertoire VRs need no decoding: split the bytes in one pass, which
 * matters for values with thousands of numbers (contours, LUT descriptors). */
static si_status raw_string_values(const si_element *el, json_t *values, const conv *c) {
  const char *v = (const char *)el->value;
  size_t n = el->value_len;
  int multi = si_vr_is_multivalued_string(el->vr);
  size_t begin = 0;
  for (size_t k = 0; k <= n; k++) {
    if (k < n && !(multi && v[k] == '\\'))
      continue;
    const char *s = v + begin;
    size_t len = k - begin;
    trim(el->vr, &s, &len);
    if (json_array_append_new(values, make_value(el->vr, s, len)) != 0)
      return nomem(c, el);
    begin = k + 1;
  }
  return SI_OK;
}

/* Text VRs go through si_get_string, which applies the Specific Character Set
 * in force for ds. Each value is decoded on its own: PS3.18 F.2.4 says 0x5C
 * separates values even where the character set shows it as a yen sign. */
typedef json_t *(*text_maker)(const char *s, size_t n);

static si_status text_values(const si_dataset *ds, const si_element *el, text_maker make,
                             json_t *values, const conv *c) {
  size_t count = si_element_vm(el);
  for (size_t i = 0; i < count; i++) {
    char *text = NULL;
    size_t len = 0;
    si_error scratch;
    /* With its length: NUL bytes inside a value are kept (as \u0000). */
    si_status st = si_get_string_n(ds, el->tag, i, &text, &len, &scratch);
    if (st != SI_OK) {
      if (c->err)
        *c->err = scratch;
      return st;
    }
    json_t *value = len ? make(text, len) : json_null();
    free(text);
    if (json_array_append_new(values, value) != 0)
      return nomem(c, el);
  }
  return SI_OK;
}

static json_t *make_person_name(const char *s, size_t n) {
  static const char *const groups[3] = {"Alphabetic", "Ideographic", "Phonetic"};
  json_t *pn = json_object();
  if (!pn)
    return NULL;
  const char *end = s + n;
  for (int g = 0; g < 3 && s <= end; g++) {
    const char *eq = memchr(s, '=', (size_t)(end - s));
    size_t len = eq ? (size_t)(eq - s) : (size_t)(end - s);
    if (len && json_object_set_new(pn, groups[g], make_string(s, len)) != 0) {
      json_decref(pn);
      return NULL;
    }
    if (!eq)
      break;
    s = eq + 1;
  }
  return pn;
}

/* ---- binary numbers ---- */

static int host_is_big_endian(void) {
  const uint16_t one = 1;
  uint8_t first;
  memcpy(&first, &one, 1);
  return first == 0;
}

static json_t *make_float(double d) {
  if (isnan(d))
    return json_string("NaN");
  if (isinf(d))
    return json_string(d > 0 ? "Infinity" : "-Infinity");
  return json_real(d);
}

/* An FL value as the double of its shortest decimal form: 10.60061f is
 * written 10.60061, which reads back as the same float, rather than as the
 * 17 digits of (double)10.60061f. */
static double float_as_decimal(float f) {
  char buf[32];
  for (int digits = 6; digits <= 9; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
    double d = strtod(buf, NULL);
    if ((float)d == f)
      return d;
  }
  return f;
}

static json_t *make_unsigned64(uint64_t u) {
  if (u <= (uint64_t)INT64_MAX)
    return json_integer((json_int_t)u);
  char buf[24];
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)u);
  return json_string(buf);
}

/* Value i of a binary number element; values are in host order. */
static json_t *binary_number(si_vr vr, const uint8_t *p) {
  union {
    uint16_t u16[2];
    int16_t s16;
    uint32_t u32;
    int32_t s32;
    uint64_t u64;
    int64_t s64;
    float f32;
    double f64;
  } u;
  memcpy(&u, p, si_vr_unit_size(vr));
  switch (vr) {
  case SI_VR_US:
    return json_integer(u.u16[0]);
  case SI_VR_SS:
    return json_integer(u.s16);
  case SI_VR_UL:
    return json_integer(u.u32);
  case SI_VR_SL:
    return json_integer(u.s32);
  case SI_VR_SV:
    return json_integer(u.s64);
  case SI_VR_UV:
    return make_unsigned64(u.u64);
  case SI_VR_FL:
    return isfinite(u.f32) ? json_real(float_as_decimal(u.f32)) : make_float(u.f32);
  case SI_VR_FD:
    return make_float(u.f64);
  case SI_VR_AT: {
    char buf[9];
    snprintf(buf, sizeof buf, "%04X%04X", u.u16[0], u.u16[1]);
    return json_string(buf);
  }
  default:
    return NULL;
  }
}

static si_status number_values(const si_element *el, json_t *values, const conv *c) {
  size_t unit = si_vr_unit_size(el->vr);
  size_t count = unit ? el->value_len / unit : 0;
  for (size_t i = 0; i < count; i++)
    if (json_array_append_new(values, binary_number(el->vr, el->value + i * unit)) != 0)
      return nomem(c, el);
  return SI_OK;
}

/* ---- inline binary ---- */

/* Standard base64 with padding (RFC 4648 section 4), what F.2.7 asks for;
 * written here so the toolkit needs no crypto library. out holds
 * 4 * ceil(n / 3) + 1 bytes. */
static void base64_encode(char *out, const uint8_t *in, size_t n) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *out++ = alphabet[v >> 18];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = alphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    *out++ = alphabet[v >> 18];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
    *out++ = '=';
  }
  *out = '\0';
}

static si_status set_base64(json_t *obj, const si_element *el, const uint8_t *bytes, size_t n,
                            const conv *c) {
  if (n / 3 >= (SIZE_MAX - 5) / 4)
    return nomem(c, el);
  char *b64 = malloc((n + 2) / 3 * 4 + 1);
  if (!b64)
    return nomem(c, el);
  base64_encode(b64, bytes, n);
  int rc = json_object_set_new(obj, "InlineBinary", json_string_nocheck(b64));
  free(b64);
  return rc == 0 ? SI_OK : nomem(c, el);
}

static void swap_units(uint8_t *p, size_t n, size_t unit) {
  for (size_t i = 0; i + unit <= n; i += unit)
    for (size_t a = 0, b = unit - 1; a < b; a++, b--) {
      uint8_t t = p[i + a];
      p[i + a] = p[i + b];
      p[i + b] = t;
    }
}

/* F.2.7 wants the little endian bytes; the reader keeps host order. */
static si_status inline_binary(json_t *obj, const si_element *el, const conv *c) {
  size_t unit = si_vr_unit_size(el->vr);
  if (!host_is_big_endian() || unit < 2)
    return set_base64(obj, el, el->value, el->value_len, c);
  uint8_t *copy = malloc(el->value_len);
  if (!copy)
    return nomem(c, el);
  memcpy(copy, el->value, el->value_len);
  swap_units(copy, el->value_len, unit);
  si_status st = set_base64(obj, el, copy, el->value_len, c);
  free(copy);
  return st;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* The encapsulated value field rebuilt from the fragments: item tag, length
 * and bytes of each, the way pydicom exposes it. */
static si_status encapsulated_binary(json_t *obj, const si_element *el, const conv *c) {
  /* Fragments a header-only read passed over have no bytes: no value, as
   * for other skipped values. */
  for (size_t i = 0; i < el->fragment_count; i++)
    if (el->fragments[i].length && !el->fragments[i].bytes)
      return SI_OK;
  size_t total = 0;
  for (size_t i = 0; i < el->fragment_count; i++)
    total += 8 + (size_t)el->fragments[i].length;
  uint8_t *buf = malloc(total ? total : 1);
  if (!buf)
    return nomem(c, el);
  uint8_t *p = buf;
  for (size_t i = 0; i < el->fragment_count; i++) {
    const si_fragment *f = &el->fragments[i];
    put_le32(p, 0xE000FFFEu); /* (FFFE,E000) as two little endian uint16 */
    put_le32(p + 4, f->length);
    if (f->length)
      memcpy(p + 8, f->bytes, f->length);
    p += 8 + f->length;
  }
  si_status st = set_base64(obj, el, buf, total, c);
  free(buf);
  return st;
}

/* ---- elements and data sets ---- */

static si_status dataset_members(const si_dataset *ds, json_t *obj, const conv *c);

static si_status sequence_items(const si_element *el, json_t *values, const conv *c) {
  for (size_t i = 0; i < el->item_count; i++) {
    json_t *item = json_object();
    if (json_array_append_new(values, item) != 0)
      return nomem(c, el);
    si_status st = dataset_members(el->items[i], item, c);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}

static int is_binary_vr(si_vr vr) {
  switch (vr) {
  case SI_VR_OB:
  case SI_VR_OD:
  case SI_VR_OF:
  case SI_VR_OL:
  case SI_VR_OV:
  case SI_VR_OW:
  case SI_VR_UN:
  case SI_VR_NONE:
    return 1;
  default:
    return 0;
  }
}

static si_status fill_values(const si_dataset *ds, const si_element *el, json_t *values,
                             const conv *c) {
  if (el->vr == SI_VR_SQ)
    return sequence_items(el, values, c);
  if (el->vr == SI_VR_PN)
    return text_values(ds, el, make_person_name, values, c);
  if (si_vr_is_text(el->vr))
    return text_values(ds, el, make_string, values, c);
  if (si_vr_is_string(el->vr))
    return raw_string_values(el, values, c);
  return number_values(el, values, c);
}

static int all_null(const json_t *values) {
  for (size_t i = 0; i < json_array_size(values); i++)
    if (!json_is_null(json_array_get(values, i)))
      return 0;
  return 1;
}

/* The value part of one element: "Value", "InlineBinary" or nothing. */
static si_status element_value(const si_dataset *ds, const si_element *el, json_t *obj,
                               const conv *c) {
  if (el->flags & SI_ELEM_ENCAPSULATED)
    return c->opts->omit_encapsulated ? SI_OK : encapsulated_binary(obj, el, c);
  if (is_binary_vr(el->vr))
    return el->value_len ? inline_binary(obj, el, c) : SI_OK;
  if (el->vr == SI_VR_SQ ? el->item_count == 0 : el->value_len == 0)
    return SI_OK;
  json_t *values = json_array();
  if (json_object_set_new(obj, "Value", values) != 0)
    return nomem(c, el);
  si_status st = fill_values(ds, el, values, c);
  if (st == SI_OK && all_null(values))
    json_object_del(obj, "Value"); /* only padding: an empty value (F.2.5) */
  return st;
}

static si_status add_element(const si_dataset *ds, const si_element *el, json_t *parent,
                             const conv *c) {
  si_vr vr = el->vr == SI_VR_NONE ? SI_VR_UN : el->vr;
  json_t *obj = json_object();
  char key[9];
  snprintf(key, sizeof key, "%08X", (unsigned)el->tag);
  if (json_object_set_new(parent, key, obj) != 0 ||
      json_object_set_new(obj, "vr", json_string(si_vr_name(vr))) != 0)
    return nomem(c, el);
  return element_value(ds, el, obj, c);
}

typedef struct tag_index {
  uint32_t tag;
  size_t index;
} tag_index;

static int compare_tag_index(const void *a, const void *b) {
  const tag_index *x = a, *y = b;
  if (x->tag != y->tag)
    return x->tag < y->tag ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

static int is_ascending(const si_dataset *ds) {
  size_t n = si_dataset_count(ds);
  for (size_t i = 1; i < n; i++)
    if (si_dataset_at(ds, i)->tag <= si_dataset_at(ds, i - 1)->tag)
      return 0;
  return 1;
}

static int is_group_length(uint32_t tag) { return SI_TAG_ELEMENT(tag) == 0; }

/* Files with tags out of order or repeated are rare: only they pay for a
 * sorted copy of the element order. */
static si_status unordered_members(const si_dataset *ds, json_t *obj, const conv *c) {
  size_t n = si_dataset_count(ds);
  tag_index *order = malloc(n * sizeof *order);
  if (!order)
    return nomem(c, NULL);
  for (size_t i = 0; i < n; i++)
    order[i] = (tag_index){si_dataset_at(ds, i)->tag, i};
  qsort(order, n, sizeof *order, compare_tag_index);
  si_status st = SI_OK;
  for (size_t i = 0; i < n && st == SI_OK; i++) {
    if (is_group_length(order[i].tag) || (i > 0 && order[i].tag == order[i - 1].tag))
      continue;
    st = add_element(ds, si_dataset_at(ds, order[i].index), obj, c);
  }
  free(order);
  return st;
}

static si_status dataset_members(const si_dataset *ds, json_t *obj, const conv *c) {
  if (!obj)
    return nomem(c, NULL);
  if (!is_ascending(ds))
    return unordered_members(ds, obj, c);
  size_t n = si_dataset_count(ds);
  for (size_t i = 0; i < n; i++) {
    const si_element *el = si_dataset_at(ds, i);
    if (is_group_length(el->tag))
      continue;
    si_status st = add_element(ds, el, obj, c);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}

si_status si_dataset_to_json(const si_dataset *ds, const si_json_options *opts, json_t **out,
                             si_error *err) {
  si_json_options defaults;
  if (!opts) {
    si_json_options_init(&defaults);
    opts = &defaults;
  }
  *out = NULL;
  if (!ds)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG, "no data set");
  conv c = {opts, err};
  json_t *obj = json_object();
  si_status st = dataset_members(ds, obj, &c);
  if (st != SI_OK) {
    json_decref(obj);
    return st;
  }
  *out = obj;
  return SI_OK;
}

si_status si_file_to_json(const si_file *file, const si_json_options *opts, json_t **out,
                          si_error *err) {
  *out = NULL;
  if (!file)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG, "no file");
  json_t *obj;
  si_status st = si_dataset_to_json(si_file_dataset(file), opts, &obj, err);
  if (st != SI_OK || !opts || !opts->include_meta) {
    *out = obj;
    return st;
  }
  json_t *all;
  st = si_dataset_to_json(si_file_meta(file), opts, &all, err);
  /* Meta first keeps the members in ascending tag order. */
  if (st == SI_OK && json_object_update(all, obj) != 0) {
    json_decref(all);
    all = NULL;
    st = si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  json_decref(obj);
  *out = all;
  return st;
}

/* ---- writing ---- */

/* Fewest significant digits (15..17) that print d so it reads back equal. */
static int digits_for(double d) {
  char buf[40];
  for (int digits = 15; digits < 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, d);
    if (strtod(buf, NULL) == d)
      return digits;
  }
  return 17;
}

static int max_digits(json_t *json, int best) {
  size_t i;
  const char *key;
  json_t *value;
  switch (json_typeof(json)) {
  case JSON_REAL:
    if (best < 17) {
      int digits = digits_for(json_real_value(json));
      best = digits > best ? digits : best;
    }
    return best;
  case JSON_ARRAY:
    json_array_foreach(json, i, value) { best = max_digits(value, best); }
    return best;
  case JSON_OBJECT:
    json_object_foreach(json, key, value) { best = max_digits(value, best); }
    return best;
  default:
    return best;
  }
}

int si_json_real_precision(const json_t *json) {
  /* jansson's iteration macros take non-const pointers; nothing is changed. */
  return json ? max_digits((json_t *)json, 15) : 15;
}

si_status si_json_write(FILE *out, const json_t *json, size_t flags, si_error *err) {
  flags |= JSON_REAL_PRECISION(si_json_real_precision(json));
  if (json_dumpf(json, out, flags) != 0 || ferror(out))
    return si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG, "cannot write JSON");
  return SI_OK;
}
