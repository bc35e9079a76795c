/* Editing data sets in place: paths, element insertion and removal, private
 * blocks, value checks against the VR, and the UTF-8 fallback for text the
 * character set cannot hold. Behaviour: include/sendit/edit.h. */
#include "sendit/edit.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sendit/charset.h"
#include "sendit/dict.h"
#include "sendit/utf8.h"

#define MAX_COMPONENTS 16
#define UTF8_CHARSET "ISO_IR 192"

/* ---- paths ---- */

typedef struct component {
  uint32_t tag;       /* plain tag; for a private tag by creator: (gggg,00ee) */
  char creator[65];   /* "" unless addressed by creator */
  int has_index, all; /* "[N]" / "[*]" */
  size_t index;
} component;

typedef struct path {
  component c[MAX_COMPONENTS];
  size_t n;
  const char *text;
} path;

static si_status bad_path(const char *text, const char *why, si_error *err) {
  return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG, "bad tag path '%.200s': %s",
                      text, why);
}

static int hex_digits(const char *s, int n, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < n; i++) {
    if (!isxdigit((unsigned char)s[i]))
      return 0;
    v = v << 4 | (uint32_t)(isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower(s[i]) - 'a' + 10));
  }
  *out = v;
  return 1;
}

/* One tag spec at *s; advances *s. */
static si_status parse_tag(const char **s, component *c, const char *text, si_error *err) {
  const char *p = *s;
  uint32_t g, e;
  int paren = *p == '(';
  if (paren)
    p++;
  if (hex_digits(p, 4, &g) && p[4] == ',') {
    p += 5;
    if (paren && *p == '"') {
      const char *end = strchr(p + 1, '"');
      if (!end || end - p - 1 > 64 || end == p + 1)
        return bad_path(text, "a private creator must be 1 to 64 characters in quotes", err);
      memcpy(c->creator, p + 1, (size_t)(end - p - 1));
      c->creator[end - p - 1] = 0;
      p = end + 1;
      if (*p != ',' || !hex_digits(p + 1, 2, &e) || p[3] != ')')
        return bad_path(text, "expected (gggg,\"CREATOR\",ee)", err);
      if (!(g & 1))
        return bad_path(text, "a private creator needs an odd group", err);
      c->tag = SI_TAG(g, e);
      *s = p + 4;
      return SI_OK;
    }
    if (!hex_digits(p, 4, &e))
      return bad_path(text, "expected four hex digits for the element", err);
    p += 4;
    if (paren && *p++ != ')')
      return bad_path(text, "missing ')'", err);
    c->tag = SI_TAG(g, e);
    *s = p;
    return SI_OK;
  }
  if (paren)
    return bad_path(text, "expected (gggg,eeee)", err);
  char kw[80];
  size_t n = 0;
  while (isalnum((unsigned char)p[n]) && n < sizeof kw - 1) {
    kw[n] = p[n];
    n++;
  }
  kw[n] = 0;
  if (!n)
    return bad_path(text, "expected a keyword or (gggg,eeee)", err);
  const si_dict_entry *d = si_dict_lookup_keyword(kw);
  if (!d)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "bad tag path '%.200s': unknown keyword '%s'", text, kw);
  c->tag = d->tag;
  *s = p + n;
  return SI_OK;
}

static si_status parse_path(const char *text, path *out, si_error *err) {
  memset(out, 0, sizeof *out);
  out->text = text;
  if (!text || !*text)
    return bad_path(text ? text : "", "empty", err);
  const char *s = text;
  for (;;) {
    if (out->n == MAX_COMPONENTS)
      return bad_path(text, "more than 16 components", err);
    component *c = &out->c[out->n++];
    si_status st = parse_tag(&s, c, text, err);
    if (st != SI_OK)
      return st;
    if (SI_TAG_GROUP(c->tag) == 0x0002 || SI_TAG_GROUP(c->tag) == 0xFFFE)
      return bad_path(text,
                      "group 0002 (the file meta, regenerated on writing) and item tags "
                      "cannot be edited",
                      err);
    if (*s == '[') {
      c->has_index = 1;
      if (s[1] == '*' && s[2] == ']') {
        c->all = 1;
        s += 3;
      } else {
        char *end;
        errno = 0;
        if (!isdigit((unsigned char)s[1]))
          return bad_path(text, "expected [N] or [*]", err);
        unsigned long long v = strtoull(s + 1, &end, 10);
        if (errno || *end != ']' || v > 1000000)
          return bad_path(text, "expected [N] or [*] (N at most 1000000)", err);
        c->index = (size_t)v;
        s = end + 1;
      }
    }
    if (!*s)
      break;
    if (*s != '.' || !c->has_index)
      return bad_path(
          text, *s == '.' ? "a sequence in a path needs [N] or [*]" : "unexpected character", err);
    s++;
  }
  return SI_OK;
}

si_status si_edit_check_path(const char *text, si_error *err) {
  path p;
  return parse_path(text, &p, err);
}

/* ---- elements ---- */

si_dataset *si_file_dataset_mut(si_file *file) { return file->dataset; }

static si_status nomem(si_error *err, uint32_t tag) {
  return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
}

static si_element *find_mut(si_dataset *ds, uint32_t tag) {
  return (si_element *)si_dataset_find(ds, tag);
}

/* New element `tag` at its place in ascending order (after equal tags). */
static si_element *insert_element(si_file *f, si_dataset *ds, uint32_t tag, si_vr vr) {
  if (ds->count == ds->capacity) {
    size_t cap = ds->capacity ? ds->capacity * 2 : 8;
    si_element *grown = si_arena_alloc(&f->arena, cap * sizeof *grown, 0);
    if (!grown)
      return NULL;
    if (ds->count)
      memcpy(grown, ds->elements, ds->count * sizeof *grown);
    ds->elements = grown;
    ds->capacity = cap;
  }
  size_t at = ds->count;
  while (at > 0 && ds->elements[at - 1].tag > tag)
    at--;
  memmove(ds->elements + at + 1, ds->elements + at, (ds->count - at) * sizeof *ds->elements);
  ds->count++;
  si_element *el = &ds->elements[at];
  *el = (si_element){.tag = tag, .vr = vr, .offset = SI_NO_OFFSET, .value_offset = SI_NO_OFFSET};
  if (vr == SI_VR_SQ)
    el->flags = SI_ELEM_UNDEFINED_LENGTH;
  return el;
}

static void remove_at(si_dataset *ds, size_t i) {
  if (ds->elements[i].tag == SI_TAG_SPECIFIC_CHARSET) {
    ds->charset = NULL;
    ds->charset_len = 0;
  }
  memmove(ds->elements + i, ds->elements + i + 1, (ds->count - i - 1) * sizeof *ds->elements);
  ds->count--;
}

static si_status store_value(si_file *f, si_dataset *ds, si_element *el, const void *v, size_t len,
                             si_error *err) {
  uint8_t *copy = NULL;
  if (len) {
    copy = si_arena_alloc(&f->arena, len, 0);
    if (!copy)
      return nomem(err, el->tag);
    memcpy(copy, v, len);
  }
  el->value = copy;
  el->value_len = len;
  el->length = (uint32_t)len;
  el->flags = 0;
  el->items = NULL;
  el->item_count = 0;
  el->fragments = NULL;
  el->fragment_count = 0;
  if (el->tag == SI_TAG_SPECIFIC_CHARSET) {
    ds->charset = copy;
    ds->charset_len = len;
  }
  return SI_OK;
}

static si_dataset *new_item(si_file *f, si_dataset *parent) {
  si_dataset *item = si_arena_alloc(&f->arena, sizeof *item, 1);
  if (item) {
    item->parent = parent;
    item->sorted = 1;
    item->undefined_length = 1;
  }
  return item;
}

static si_status add_item(si_file *f, si_dataset *ds, si_element *seq, size_t at, si_dataset **out,
                          si_error *err) {
  si_dataset **items = si_arena_alloc(&f->arena, (seq->item_count + 1) * sizeof *items, 0);
  si_dataset *item = new_item(f, ds);
  if (!items || !item)
    return nomem(err, seq->tag);
  if (at > seq->item_count)
    at = seq->item_count;
  if (seq->item_count)
    memcpy(items, seq->items, seq->item_count * sizeof *items);
  memmove(items + at + 1, items + at, (seq->item_count - at) * sizeof *items);
  items[at] = item;
  seq->items = items;
  seq->item_count++;
  if (out)
    *out = item;
  return SI_OK;
}

/* The creator string of a private creator element, trailing padding removed. */
static int creator_is(const si_element *el, const char *creator) {
  if (!el->value)
    return 0;
  size_t n = el->value_len;
  while (n && (el->value[n - 1] == ' ' || el->value[n - 1] == 0))
    n--;
  const uint8_t *v = el->value;
  while (n && *v == ' ')
    v++, n--;
  return n == strlen(creator) && memcmp(v, creator, n) == 0;
}

/* Tag of component c in ds: private tags by creator find the creator's
 * block, or reserve the lowest free one when `create` (PS3.5 7.8.1). 0 when
 * the block is absent. */
static si_status resolve_tag(si_file *f, si_dataset *ds, const component *c, int create,
                             uint32_t *tag, si_error *err) {
  *tag = 0;
  if (!c->creator[0]) {
    *tag = c->tag;
    return SI_OK;
  }
  uint16_t g = SI_TAG_GROUP(c->tag);
  uint32_t low = SI_TAG_ELEMENT(c->tag) & 0xFF;
  int free_block = 0;
  for (uint32_t b = 0x10; b <= 0xFF; b++) {
    const si_element *el = si_dataset_find(ds, SI_TAG(g, b));
    if (!el) {
      if (!free_block)
        free_block = (int)b;
      continue;
    }
    if (creator_is(el, c->creator)) {
      *tag = SI_TAG(g, b << 8 | low);
      return SI_OK;
    }
  }
  if (!create)
    return SI_OK;
  if (!free_block)
    return si_error_set(err, SI_ERR_LIMIT, NULL, SI_NO_OFFSET, SI_TAG(g, 0x0010),
                        "no free private block in group %04X for creator '%s'", g, c->creator);
  si_element *el = insert_element(f, ds, SI_TAG(g, (uint32_t)free_block), SI_VR_LO);
  if (!el)
    return nomem(err, SI_TAG(g, (uint32_t)free_block));
  si_status st = store_value(f, ds, el, c->creator, strlen(c->creator), err);
  if (st != SI_OK)
    return st;
  el->vr = SI_VR_LO;
  *tag = SI_TAG(g, (uint32_t)free_block << 8 | low);
  return SI_OK;
}

/* ---- values: text to bytes, checked against the VR ---- */

typedef struct vr_rule {
  si_vr vr;
  uint32_t max;      /* characters per value; 0 = unbounded */
  const char *chars; /* allowed characters, or NULL: any but control */
} vr_rule;

static const vr_rule rules[] = {
    {SI_VR_AE, 16, NULL},
    {SI_VR_AS, 4, "0123456789DWMY"},
    {SI_VR_CS, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _"},
    {SI_VR_DA, 8, "0123456789"},
    {SI_VR_DS, 16, "0123456789+-eE. "},
    {SI_VR_DT, 26, "0123456789+-. "},
    {SI_VR_IS, 12, "0123456789+- "},
    {SI_VR_LO, 64, NULL},
    {SI_VR_LT, 10240, NULL},
    {SI_VR_PN, 64, NULL},
    {SI_VR_SH, 16, NULL},
    {SI_VR_ST, 1024, NULL},
    {SI_VR_TM, 16, "0123456789.: "},
    {SI_VR_UC, 0, NULL},
    {SI_VR_UI, 64, "0123456789."},
    {SI_VR_UR, 0, NULL},
    {SI_VR_UT, 0, NULL},
};

static const vr_rule *rule_for(si_vr vr) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (rules[i].vr == vr)
      return &rules[i];
  return NULL;
}

static size_t utf8_chars(const char *s, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    count += ((unsigned char)s[i] & 0xC0) != 0x80;
  return count;
}

static si_status bad_value(uint32_t tag, si_vr vr, const char *why, const char *v, size_t n,
                           si_error *err) {
  return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag,
                      "value '%.*s' is not valid for VR %s: %s", (int)(n > 64 ? 64 : n), v,
                      si_vr_name(vr), why);
}

/* One value (between backslashes) of a string VR. */
static si_status check_one(uint32_t tag, const vr_rule *r, const char *v, size_t n, si_error *err) {
  int text = si_vr_is_text(r->vr);
  int free_text = r->vr == SI_VR_LT || r->vr == SI_VR_ST || r->vr == SI_VR_UT;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (ch >= 0x80 && !text)
      return bad_value(tag, r->vr, "only ASCII is allowed", v, n, err);
    if (ch < 0x20 && !(free_text && (ch == '\r' || ch == '\n' || ch == '\f' || ch == '\t')))
      return bad_value(tag, r->vr, "control characters are not allowed", v, n, err);
    if (r->chars && !strchr(r->chars, ch))
      return bad_value(tag, r->vr, "a character outside the VR's repertoire", v, n, err);
  }
  if (r->vr == SI_VR_PN) {
    size_t groups = 1, start = 0;
    for (size_t i = 0; i <= n; i++)
      if (i == n || v[i] == '=') {
        if (utf8_chars(v + start, i - start) > 64)
          return bad_value(tag, r->vr, "a component group longer than 64 characters", v, n, err);
        groups += i < n;
        start = i + 1;
      }
    if (groups > 3)
      return bad_value(tag, r->vr, "more than three component groups", v, n, err);
  } else if (r->max && utf8_chars(v, n) > r->max) {
    char why[64];
    snprintf(why, sizeof why, "longer than %u characters", r->max);
    return bad_value(tag, r->vr, why, v, n, err);
  }
  if (r->vr == SI_VR_UI && n && !si_uid_is_valid(v, n))
    return bad_value(tag, r->vr, "not a valid UID", v, n, err);
  if (r->vr == SI_VR_AS && n &&
      !(n == 4 && isdigit((unsigned char)v[0]) && isdigit((unsigned char)v[1]) &&
        isdigit((unsigned char)v[2]) && strchr("DWMY", v[3])))
    return bad_value(tag, r->vr, "expected nnnD, nnnW, nnnM or nnnY", v, n, err);
  if (r->vr == SI_VR_DA && n && n != 8)
    return bad_value(tag, r->vr, "expected YYYYMMDD", v, n, err);
  return SI_OK;
}

static si_status check_string(uint32_t tag, si_vr vr, const char *v, size_t n, si_error *err) {
  const vr_rule *r = rule_for(vr);
  if (!r)
    return SI_OK;
  if (!si_utf8_valid(v, n))
    return bad_value(tag, vr, "not valid UTF-8", v, n, err);
  if (n >= 0xFFFFFFFEu)
    return bad_value(tag, vr, "longer than 4 GiB", v, n, err);
  if (!si_vr_is_multivalued_string(vr))
    return check_one(tag, r, v, n, err);
  size_t start = 0;
  for (size_t i = 0; i <= n; i++)
    if (i == n || v[i] == '\\') {
      si_status st = check_one(tag, r, v + start, i - start, err);
      if (st != SI_OK)
        return st;
      start = i + 1;
    }
  return SI_OK;
}

/* Backslash-separated numbers of a binary VR into host-order bytes. */
static si_status parse_numbers(uint32_t tag, si_vr vr, const char *text, uint8_t **out, size_t *len,
                               si_error *err) {
  size_t unit = vr == SI_VR_AT ? 4 : si_vr_unit_size(vr);
  size_t count = *text ? 1 : 0;
  for (const char *p = text; *p; p++)
    count += *p == '\\';
  *out = malloc(count * unit + 1);
  if (!*out)
    return nomem(err, tag);
  *len = count * unit;
  const char *p = text;
  for (size_t i = 0; i < count; i++) {
    const char *end = strchr(p, '\\');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char buf[64];
    if (n == 0 || n >= sizeof buf) {
      free(*out);
      return bad_value(tag, vr, "expected a number", p, n, err);
    }
    memcpy(buf, p, n);
    buf[n] = 0;
    char *stop;
    errno = 0;
    uint8_t *dst = *out + i * unit;
    int ok = 1;
    if (vr == SI_VR_FL || vr == SI_VR_FD) {
      double d = strtod(buf, &stop);
      ok = !*stop && !errno && isfinite(d);
      if (vr == SI_VR_FL) {
        float x = (float)d;
        memcpy(dst, &x, 4);
      } else {
        memcpy(dst, &d, 8);
      }
    } else if (vr == SI_VR_AT) {
      /* "(gggg,eeee)", "gggg,eeee" or "ggggeeee". */
      uint32_t g = 0, e = 0;
      int paren = buf[0] == '(';
      const char *b = buf + paren;
      size_t body = n - (size_t)paren - (size_t)(paren && buf[n - 1] == ')');
      if (paren && buf[n - 1] != ')')
        ok = 0;
      else if (body == 9 && b[4] == ',')
        ok = hex_digits(b, 4, &g) && hex_digits(b + 5, 4, &e);
      else
        ok = body == 8 && !paren && hex_digits(b, 4, &g) && hex_digits(b + 4, 4, &e);
      uint16_t pair[2] = {(uint16_t)g, (uint16_t)e};
      memcpy(dst, pair, 4);
    } else if (vr == SI_VR_UL || vr == SI_VR_US || vr == SI_VR_UV) {
      unsigned long long x = strtoull(buf, &stop, 10);
      ok = !*stop && !errno && buf[0] != '-' &&
           (vr == SI_VR_UV || x <= (vr == SI_VR_US ? 0xFFFFull : 0xFFFFFFFFull));
      uint16_t x16 = (uint16_t)x;
      uint32_t x32 = (uint32_t)x;
      uint64_t x64 = x;
      memcpy(dst,
             vr == SI_VR_US   ? (void *)&x16
             : vr == SI_VR_UL ? (void *)&x32
                              : (void *)&x64,
             unit);
    } else {
      long long x = strtoll(buf, &stop, 10);
      ok = !*stop && !errno &&
           (vr == SI_VR_SV ||
            (vr == SI_VR_SS ? x >= -32768 && x <= 32767 : x >= INT32_MIN && x <= INT32_MAX));
      int16_t x16 = (int16_t)x;
      int32_t x32 = (int32_t)x;
      int64_t x64 = x;
      memcpy(dst,
             vr == SI_VR_SS   ? (void *)&x16
             : vr == SI_VR_SL ? (void *)&x32
                              : (void *)&x64,
             unit);
    }
    if (!ok) {
      free(*out);
      return bad_value(tag, vr,
                       vr == SI_VR_AT ? "expected (gggg,eeee) or ggggeeee"
                                      : "not a number in the VR's range",
                       p, n, err);
    }
    p = end ? end + 1 : p + n;
  }
  return SI_OK;
}

static int is_binary_number(si_vr vr) {
  switch (vr) {
  case SI_VR_US:
  case SI_VR_SS:
  case SI_VR_UL:
  case SI_VR_SL:
  case SI_VR_UV:
  case SI_VR_SV:
  case SI_VR_FL:
  case SI_VR_FD:
  case SI_VR_AT:
    return 1;
  default:
    return 0;
  }
}

static int has_non_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return 1;
  return 0;
}

/* ---- character sets ---- */

static int charset_is_utf8(const si_dataset *ds) {
  size_t n;
  const char *cs = si_dataset_charset_raw(ds, &n);
  while (n && (cs[n - 1] == ' ' || cs[n - 1] == 0))
    n--;
  return n == strlen(UTF8_CHARSET) && memcmp(cs, UTF8_CHARSET, n) == 0;
}

static si_status set_root_utf8(si_file *f, si_error *err) {
  si_dataset *root = f->dataset;
  si_element *el = find_mut(root, SI_TAG_SPECIFIC_CHARSET);
  if (!el && !(el = insert_element(f, root, SI_TAG_SPECIFIC_CHARSET, SI_VR_CS)))
    return nomem(err, SI_TAG_SPECIFIC_CHARSET);
  si_status st = store_value(f, root, el, UTF8_CHARSET, strlen(UTF8_CHARSET), err);
  el->vr = SI_VR_CS;
  return st;
}

/* Decodes every text value of ds (and its items) to UTF-8 in place. */
static si_status reencode(si_file *f, si_dataset *ds, si_error *err) {
  size_t cs_len;
  const char *cs_raw = si_dataset_charset_raw(ds, &cs_len);
  si_charset *cs = NULL;
  si_status st = si_charset_open(cs_raw, cs_len, &cs, err);
  if (st != SI_OK)
    return si_error_set(err, SI_ERR_CHARSET, NULL, SI_NO_OFFSET, SI_TAG_SPECIFIC_CHARSET,
                        "cannot re-encode the data set as UTF-8: its character set '%.*s' is "
                        "unknown",
                        (int)(cs_len > 64 ? 64 : cs_len), cs_raw);
  for (size_t i = 0; i < ds->count && st == SI_OK; i++) {
    si_element *el = &ds->elements[i];
    if (el->vr == SI_VR_SQ) {
      for (size_t k = 0; k < el->item_count && st == SI_OK; k++)
        st = reencode(f, el->items[k], err);
      continue;
    }
    if (!si_vr_is_text(el->vr))
      continue;
    if (el->flags & SI_ELEM_VALUE_SKIPPED) {
      st = si_error_set(err, SI_ERR_CHARSET, NULL, el->offset, el->tag,
                        "cannot re-encode the data set as UTF-8: a text value of %u bytes was "
                        "left in the file",
                        el->length);
      break;
    }
    if (!el->value)
      continue;
    char *utf8;
    size_t n;
    st = si_charset_decode(cs, el->vr, el->value, el->value_len, &utf8, &n, err);
    if (st == SI_OK) {
      si_vr vr = el->vr;
      st = store_value(f, ds, el, utf8, n, err);
      el->vr = vr;
      free(utf8);
    }
  }
  si_charset_close(cs);
  return st;
}

static void drop_nested_charsets(si_dataset *ds, int top) {
  for (size_t i = 0; i < ds->count; i++) {
    si_element *el = &ds->elements[i];
    if (!top && el->tag == SI_TAG_SPECIFIC_CHARSET) {
      remove_at(ds, i--);
      continue;
    }
    for (size_t k = 0; k < el->item_count; k++)
      drop_nested_charsets(el->items[k], 0);
  }
}

/* Non-ASCII text is about to go into ds: make the data set UTF-8. */
static si_status ensure_utf8(si_file *f, si_dataset *ds, si_error *err) {
  if (charset_is_utf8(ds))
    return SI_OK;
  size_t n;
  si_dataset_charset_raw(ds, &n);
  int needs_reencode = n > 0;
  /* Items may declare their own set: any one anywhere means re-encoding. */
  if (!needs_reencode) {
    si_status st = set_root_utf8(f, err);
    if (st != SI_OK || charset_is_utf8(ds))
      return st;
  }
  si_status st = reencode(f, f->dataset, err);
  if (st != SI_OK)
    return st;
  drop_nested_charsets(f->dataset, 1);
  return set_root_utf8(f, err);
}

/* ---- operations ---- */

enum { OP_SET, OP_ERASE };

typedef struct op {
  int kind;
  unsigned flags;
  const char *text;  /* OP_SET from text */
  const void *bytes; /* OP_SET from bytes (text NULL) */
  size_t len;
  si_vr vr; /* with bytes */
  size_t count;
} op;

static si_vr vr_for_new(uint32_t tag) {
  si_vr vr = si_dict_implicit_vr(tag);
  return vr == SI_VR_UN || vr == SI_VR_NONE ? SI_VR_LO : vr;
}

static si_status set_text(si_file *f, si_dataset *ds, si_element *el, const char *text,
                          si_error *err) {
  si_vr vr = el->vr;
  size_t n = strlen(text);
  if (vr == SI_VR_UN || vr == SI_VR_NONE)
    return store_value(f, ds, el, text, n, err) == SI_OK ? (el->vr = vr, SI_OK) : SI_ERR_NOMEM;
  si_status st;
  if (is_binary_number(vr)) {
    uint8_t *bytes;
    size_t len;
    st = parse_numbers(el->tag, vr, text, &bytes, &len, err);
    if (st != SI_OK)
      return st;
    st = store_value(f, ds, el, bytes, len, err);
    free(bytes);
    el->vr = vr;
    return st;
  }
  if (!si_vr_is_string(vr))
    return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, el->tag,
                        "a value of VR %s cannot be set from text", si_vr_name(vr));
  st = check_string(el->tag, vr, text, n, err);
  if (st != SI_OK)
    return st;
  if (si_vr_is_text(vr) && has_non_ascii(text)) {
    uint32_t tag = el->tag;
    size_t index = (size_t)(el - ds->elements);
    st = ensure_utf8(f, ds, err);
    if (st != SI_OK)
      return st;
    /* ensure_utf8 may have inserted (0008,0005) before el: find it again. */
    el = &ds->elements[index];
    if (el->tag != tag)
      el = find_mut(ds, tag);
  }
  st = store_value(f, ds, el, text, n, err);
  el->vr = vr;
  return st;
}

static void drop_empty(si_dataset *ds, uint32_t tag) {
  for (size_t i = 0; i < ds->count; i++)
    if (ds->elements[i].tag == tag && !ds->elements[i].value && !ds->elements[i].item_count) {
      remove_at(ds, i);
      return;
    }
}

static si_status apply_set(si_file *f, si_dataset *ds, uint32_t tag, op *o, si_error *err) {
  si_element *el = find_mut(ds, tag);
  int created = !el;
  if (el && (o->flags & SI_EDIT_ONLY_NEW))
    return SI_OK;
  if (!el) {
    if (!(o->flags & SI_EDIT_CREATE))
      return SI_OK;
    el = insert_element(f, ds, tag, o->text ? vr_for_new(tag) : o->vr);
    if (!el)
      return nomem(err, tag);
    if (el->vr == SI_VR_SQ && o->text) {
      el->vr = SI_VR_SQ;
      if (!*o->text) { /* an empty sequence */
        o->count++;
        return SI_OK;
      }
      drop_empty(ds, tag);
      return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag,
                          "a sequence cannot be set from text (use a path into its items)");
    }
  }
  if (el->vr == SI_VR_SQ && o->text)
    return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag,
                        "a sequence cannot be set from text (use a path into its items)");
  si_status st;
  if (o->text) {
    st = set_text(f, ds, el, o->text, err);
  } else {
    st = store_value(f, ds, el, o->bytes, o->len, err);
    el->vr = o->vr;
  }
  if (st == SI_OK)
    o->count++;
  else if (created)
    drop_empty(ds, tag); /* a refused value leaves no empty element behind */
  return st;
}

static void apply_erase(si_dataset *ds, uint32_t tag, op *o) {
  for (size_t i = 0; i < ds->count; i++)
    if (ds->elements[i].tag == tag) {
      remove_at(ds, i--);
      o->count++;
    }
}

static si_status walk(si_file *f, si_dataset *ds, const path *p, size_t i, op *o, si_error *err) {
  const component *c = &p->c[i];
  int last = i + 1 == p->n;
  int create = o->kind == OP_SET && (o->flags & SI_EDIT_CREATE);
  uint32_t tag;
  si_status st = resolve_tag(f, ds, c, create, &tag, err);
  if (st != SI_OK || !tag)
    return st;
  if (last && !c->has_index) {
    if (o->kind == OP_ERASE) {
      apply_erase(ds, tag, o);
      return SI_OK;
    }
    return apply_set(f, ds, tag, o, err);
  }
  si_element *seq = find_mut(ds, tag);
  if (!seq) {
    if (!create)
      return SI_OK;
    if (!(seq = insert_element(f, ds, tag, SI_VR_SQ)))
      return nomem(err, tag);
  }
  if (seq->vr != SI_VR_SQ)
    return si_error_set(err, SI_ERR_VALUE, NULL, seq->offset, tag,
                        "'%.200s': the element is not a sequence (VR %s)", p->text,
                        si_vr_name(seq->vr));
  if (last) { /* items themselves: only erase reaches here */
    if (c->all) {
      o->count += seq->item_count;
      seq->item_count = 0;
    } else if (c->index < seq->item_count) {
      memmove(seq->items + c->index, seq->items + c->index + 1,
              (seq->item_count - c->index - 1) * sizeof *seq->items);
      seq->item_count--;
      o->count++;
    }
    return SI_OK;
  }
  if (c->all) {
    /* A set may add (0008,0005) to the top data set and move its elements
     * (seq with them): the items array itself stays where it is. */
    si_dataset **items = seq->items;
    size_t count = seq->item_count;
    for (size_t k = 0; k < count && st == SI_OK; k++)
      st = walk(f, items[k], p, i + 1, o, err);
    return st;
  }
  while (create && seq->item_count <= c->index && st == SI_OK)
    st = add_item(f, ds, seq, SIZE_MAX, NULL, err);
  if (st != SI_OK || c->index >= seq->item_count)
    return st;
  return walk(f, seq->items[c->index], p, i + 1, o, err);
}

static si_status run(si_file *f, si_dataset *ds, const char *text, op *o, si_error *err) {
  path p;
  si_status st = parse_path(text, &p, err);
  if (st != SI_OK)
    return st;
  if (o->kind == OP_SET && p.c[p.n - 1].has_index)
    return bad_path(text, "a value goes into an element, not an item", err);
  st = walk(f, ds, &p, 0, o, err);
  if (st == SI_OK && o->count == 0 && !(o->flags & SI_EDIT_ONLY_NEW))
    return si_error_set(err, SI_ERR_NOT_FOUND, NULL, SI_NO_OFFSET, p.c[p.n - 1].tag,
                        "'%.200s': no such element%s", text,
                        o->kind == OP_SET ? " (use insert to create it)" : "");
  return st;
}

si_status si_edit_set_in(si_file *file, si_dataset *ds, const char *path_text, const char *value,
                         unsigned flags, size_t *changed, si_error *err) {
  op o = {.kind = OP_SET, .flags = flags, .text = value ? value : ""};
  si_status st = run(file, ds, path_text, &o, err);
  if (changed)
    *changed = o.count;
  return st;
}

si_status si_edit_set(si_file *file, const char *path_text, const char *value, unsigned flags,
                      size_t *changed, si_error *err) {
  return si_edit_set_in(file, file->dataset, path_text, value, flags, changed, err);
}

si_status si_edit_set_bytes(si_file *file, const char *path_text, si_vr vr, const void *value,
                            size_t len, si_error *err) {
  if (vr == SI_VR_SQ || vr == SI_VR_NONE || vr >= SI_VR_COUNT || len >= 0xFFFFFFFEu)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "set_bytes needs a non-sequence VR and a value under 4 GiB");
  op o = {.kind = OP_SET, .flags = SI_EDIT_CREATE, .bytes = value, .len = len, .vr = vr};
  return run(file, file->dataset, path_text, &o, err);
}

si_status si_edit_erase(si_file *file, const char *path_text, size_t *removed, si_error *err) {
  op o = {.kind = OP_ERASE};
  si_status st = run(file, file->dataset, path_text, &o, err);
  if (removed)
    *removed = o.count;
  return st;
}

si_status si_edit_insert_item(si_file *file, const char *seq_path, size_t index, si_dataset **item,
                              si_error *err) {
  path p;
  si_status st = parse_path(seq_path, &p, err);
  if (st != SI_OK)
    return st;
  if (p.c[p.n - 1].has_index)
    return bad_path(seq_path, "name the sequence without [N]; the index is an argument", err);
  /* Walk to the data set holding the sequence, creating what is missing. */
  si_dataset *ds = file->dataset;
  for (size_t i = 0; i + 1 < p.n; i++) {
    const component *c = &p.c[i];
    if (c->all)
      return bad_path(seq_path, "[*] cannot name one place to insert", err);
    uint32_t tag;
    if ((st = resolve_tag(file, ds, c, 1, &tag, err)) != SI_OK)
      return st;
    si_element *seq = find_mut(ds, tag);
    if (!seq && !(seq = insert_element(file, ds, tag, SI_VR_SQ)))
      return nomem(err, tag);
    if (seq->vr != SI_VR_SQ)
      return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag, "not a sequence");
    while (seq->item_count <= c->index)
      if ((st = add_item(file, ds, seq, SIZE_MAX, NULL, err)) != SI_OK)
        return st;
    ds = seq->items[c->index];
  }
  uint32_t tag;
  if ((st = resolve_tag(file, ds, &p.c[p.n - 1], 1, &tag, err)) != SI_OK)
    return st;
  si_element *seq = find_mut(ds, tag);
  if (!seq && !(seq = insert_element(file, ds, tag, SI_VR_SQ)))
    return nomem(err, tag);
  if (seq->vr != SI_VR_SQ)
    return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag, "not a sequence");
  return add_item(file, ds, seq, index, item, err);
}

typedef int (*element_filter)(uint32_t tag, const void *arg);

static size_t erase_matching(si_dataset *ds, element_filter keep_out, const void *arg) {
  size_t removed = 0;
  for (size_t i = 0; i < ds->count; i++) {
    si_element *el = &ds->elements[i];
    if (keep_out(el->tag, arg)) {
      remove_at(ds, i--);
      removed++;
      continue;
    }
    for (size_t k = 0; k < el->item_count; k++)
      removed += erase_matching(el->items[k], keep_out, arg);
  }
  return removed;
}

static int is_private(uint32_t tag, const void *arg) {
  (void)arg;
  return SI_TAG_GROUP(tag) & 1;
}

si_status si_edit_erase_private(si_file *file, size_t *removed, si_error *err) {
  (void)err;
  size_t n = erase_matching(file->dataset, is_private, NULL);
  if (removed)
    *removed = n;
  return SI_OK;
}

typedef struct group_pattern {
  uint16_t value, mask;
} group_pattern;

static int group_matches(uint32_t tag, const void *arg) {
  const group_pattern *g = arg;
  return (SI_TAG_GROUP(tag) & g->mask) == g->value;
}

si_status si_edit_erase_groups(si_file *file, const char *pattern, size_t *removed, si_error *err) {
  group_pattern g = {0, 0};
  if (!pattern || strlen(pattern) != 4)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "bad group pattern '%.32s': four hex digits or 'x'",
                        pattern ? pattern : "");
  for (int i = 0; i < 4; i++) {
    char ch = pattern[i];
    uint32_t d;
    g.value <<= 4;
    g.mask <<= 4;
    if (ch == 'x' || ch == 'X')
      continue;
    if (!hex_digits(&pattern[i], 1, &d))
      return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                          "bad group pattern '%.32s': four hex digits or 'x'", pattern);
    g.value |= (uint16_t)d;
    g.mask |= 0xF;
  }
  if ((0x0002 & g.mask) == g.value)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "group pattern '%s' matches the file meta group 0002", pattern);
  size_t n = erase_matching(file->dataset, group_matches, &g);
  if (removed)
    *removed = n;
  return SI_OK;
}
