/* Edit paths: "(gggg,eeee)", keywords, private tags by creator, "[N]" and
 * "[*]" items, dotted into sequences (syntax: include/sendit/edit.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "edit_internal.h"
#include "sendit/dict.h"
#include "sendit/edit.h"

si_status si_edit_bad_path(const char *text, const char *why, si_error *err) {
  return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG, "bad tag path '%.200s': %s",
                      text, why);
}

int si_edit_hex_digits(const char *s, int n, uint32_t *out) {
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
  if (si_edit_hex_digits(p, 4, &g) && p[4] == ',') {
    p += 5;
    if (paren && *p == '"') {
      const char *end = strchr(p + 1, '"');
      if (!end || end - p - 1 > 64 || end == p + 1)
        return si_edit_bad_path(text, "a private creator must be 1 to 64 characters in quotes",
                                err);
      memcpy(c->creator, p + 1, (size_t)(end - p - 1));
      c->creator[end - p - 1] = 0;
      p = end + 1;
      if (*p != ',' || !si_edit_hex_digits(p + 1, 2, &e) || p[3] != ')')
        return si_edit_bad_path(text, "expected (gggg,\"CREATOR\",ee)", err);
      if (!(g & 1))
        return si_edit_bad_path(text, "a private creator needs an odd group", err);
      c->tag = SI_TAG(g, e);
      *s = p + 4;
      return SI_OK;
    }
    if (!si_edit_hex_digits(p, 4, &e))
      return si_edit_bad_path(text, "expected four hex digits for the element", err);
    p += 4;
    if (paren && *p++ != ')')
      return si_edit_bad_path(text, "missing ')'", err);
    c->tag = SI_TAG(g, e);
    *s = p;
    return SI_OK;
  }
  if (paren)
    return si_edit_bad_path(text, "expected (gggg,eeee)", err);
  char kw[80];
  size_t n = 0;
  while (isalnum((unsigned char)p[n]) && n < sizeof kw - 1) {
    kw[n] = p[n];
    n++;
  }
  kw[n] = 0;
  if (!n)
    return si_edit_bad_path(text, "expected a keyword or (gggg,eeee)", err);
  const si_dict_entry *d = si_dict_lookup_keyword(kw);
  if (!d)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "bad tag path '%.200s': unknown keyword '%s'", text, kw);
  c->tag = d->tag;
  *s = p + n;
  return SI_OK;
}

si_status si_edit_parse_path(const char *text, path *out, si_error *err) {
  memset(out, 0, sizeof *out);
  out->text = text;
  if (!text || !*text)
    return si_edit_bad_path(text ? text : "", "empty", err);
  const char *s = text;
  for (;;) {
    if (out->n == MAX_COMPONENTS)
      return si_edit_bad_path(text, "more than 16 components", err);
    component *c = &out->c[out->n++];
    si_status st = parse_tag(&s, c, text, err);
    if (st != SI_OK)
      return st;
    if (SI_TAG_GROUP(c->tag) == 0x0002 || SI_TAG_GROUP(c->tag) == 0xFFFE)
      return si_edit_bad_path(text,
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
          return si_edit_bad_path(text, "expected [N] or [*]", err);
        unsigned long long v = strtoull(s + 1, &end, 10);
        if (errno || *end != ']' || v > 1000000)
          return si_edit_bad_path(text, "expected [N] or [*] (N at most 1000000)", err);
        c->index = (size_t)v;
        s = end + 1;
      }
    }
    if (!*s)
      break;
    if (*s != '.' || !c->has_index)
      return si_edit_bad_path(
          text, *s == '.' ? "a sequence in a path needs [N] or [*]" : "unexpected character", err);
    s++;
  }
  return SI_OK;
}

si_status si_edit_check_path(const char *text, si_error *err) {
  path p;
  return si_edit_parse_path(text, &p, err);
}
