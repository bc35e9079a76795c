/* Values from text, checked against the VR: the characters and lengths of
 * string VRs (PS3.5 6.2), and numbers of binary VRs into bytes. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edit_internal.h"
#include "sendit/utf8.h"

static si_status nomem(si_error *err, uint32_t tag) {
  return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
}

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

si_status si_edit_check_string(uint32_t tag, si_vr vr, const char *v, size_t n, si_error *err) {
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
si_status si_edit_parse_numbers(uint32_t tag, si_vr vr, const char *text, uint8_t **out,
                                size_t *len, si_error *err) {
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
        ok = si_edit_hex_digits(b, 4, &g) && si_edit_hex_digits(b + 5, 4, &e);
      else
        ok =
            body == 8 && !paren && si_edit_hex_digits(b, 4, &g) && si_edit_hex_digits(b + 4, 4, &e);
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

int si_edit_is_binary_number(si_vr vr) {
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

int si_edit_has_non_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return 1;
  return 0;
}
