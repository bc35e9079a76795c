/* Which elements a recipe's field spec selects, as deid's fields.py decides:
 * every element at every depth of sequences and in the file meta is a
 * contender, named by its nested keyword path ("Seq__Child"); an exact name
 * matches that path, the keyword (at any depth), the dictionary name or the
 * tag; an expander searches its lower-cased expression in the lower-cased
 * path, the keyword, the dictionary name, the tag as ggggeeee, and a private
 * element's gggg,"CREATOR",ee. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/recipe_internal.h"
#include "sendit/dict.h"

/* ---- regular expressions: deid's Python ones, as POSIX ERE ---- */

typedef struct weigh {
  size_t sum[RECIPE_MAX_REGEX + 2], last[RECIPE_MAX_REGEX + 2];
  size_t depth;
} weigh;

/* Weight bounds what glibc's compiler expands bounded repetitions into. */
#define REGEX_MAX_WEIGHT 20000

static void atom(weigh *w, size_t n) {
  w->last[w->depth] = n;
  w->sum[w->depth] += n;
}

int recipe_regex_compile(regex_t *re, const char *expr, int icase, char *why, size_t why_size) {
  size_t n = strlen(expr);
  if (n > RECIPE_MAX_REGEX) {
    snprintf(why, why_size, "longer than %u characters", RECIPE_MAX_REGEX);
    return 0;
  }
  char *out = malloc(n * 12 + 1);
  weigh *w = calloc(1, sizeof *w);
  if (!out || !w) {
    free(out);
    free(w);
    snprintf(why, why_size, "out of memory");
    return 0;
  }
  size_t o = 0;
  int ok = 1, in_bracket = 0, after_repeat = 0;
  for (size_t i = 0; i < n && ok; i++) {
    char c = expr[i];
    if (in_bracket) {
      if (c == '\\' && i + 1 < n) {
        char e = expr[++i];
        const char *rep = e == 'd'   ? "0-9"
                          : e == 's' ? "[:space:]"
                          : e == 'w' ? "[:alnum:]_"
                                     : NULL;
        if (rep) {
          memcpy(out + o, rep, strlen(rep));
          o += strlen(rep);
        } else
          out[o++] = e == 't' ? '\t' : e == 'n' ? '\n' : e;
        continue;
      }
      if (c == ']' && !(o && out[o - 1] == '[') &&
          !(o > 1 && out[o - 1] == '^' && out[o - 2] == '['))
        in_bracket = 0;
      out[o++] = c;
      continue;
    }
    int repeat = 0;
    switch (c) {
    case '[':
      in_bracket = 1;
      out[o++] = c;
      atom(w, 1);
      break;
    case '\\':
      if (i + 1 >= n) {
        snprintf(why, why_size, "ends in a backslash");
        ok = 0;
        break;
      }
      c = expr[++i];
      if (c >= '1' && c <= '9') {
        snprintf(why, why_size, "back-references are not supported");
        ok = 0;
      } else if (c == 'd' || c == 'D') {
        const char *rep = c == 'd' ? "[0-9]" : "[^0-9]";
        memcpy(out + o, rep, 5 + (c == 'D'));
        o += 5 + (c == 'D');
      } else if (c == 't' || c == 'n') {
        out[o++] = c == 't' ? '\t' : '\n';
      } else {
        out[o++] = '\\';
        out[o++] = c;
      }
      atom(w, 1);
      break;
    case '(':
      if (i + 1 < n && expr[i + 1] == '?') {
        if (i + 2 < n && expr[i + 2] == ':')
          i += 2; /* (?:...) groups without capturing: the same for a search */
        else {
          snprintf(why, why_size, "(?...) extensions are not supported");
          ok = 0;
          break;
        }
      }
      if (w->depth + 1 >= sizeof w->sum / sizeof w->sum[0]) {
        ok = 0;
        break;
      }
      w->depth++;
      w->sum[w->depth] = w->last[w->depth] = 0;
      out[o++] = '(';
      break;
    case ')':
      if (!w->depth) {
        snprintf(why, why_size, "unbalanced )");
        ok = 0;
        break;
      }
      {
        size_t inner = w->sum[w->depth] ? w->sum[w->depth] : 1;
        w->depth--;
        atom(w, inner);
      }
      out[o++] = ')';
      break;
    case '*':
    case '+':
    case '?':
      if (after_repeat == 1 && c == '?') {
        repeat = 2; /* lazy: the same answer for a search */
        break;
      }
      if (after_repeat) {
        /* glibc expands "a++" into nested copies (exponential) */
        snprintf(why, why_size, "multiple repeat");
        ok = 0;
        break;
      }
      if (c == '+') { /* glibc compiles a+ as a a* */
        w->sum[w->depth] += w->last[w->depth];
        w->last[w->depth] *= 2;
      }
      out[o++] = c;
      repeat = 1;
      break;
    case '{': {
      const char *end = strchr(expr + i, '}');
      unsigned long lo = 0, hi = 0;
      char *q;
      if (end && after_repeat) {
        snprintf(why, why_size, "multiple repeat");
        ok = 0;
        break;
      }
      if (!end) {
        out[o++] = '\\';
        out[o++] = '{';
        atom(w, 1);
        break;
      }
      lo = strtoul(expr + i + 1, &q, 10);
      hi = lo;
      if (*q == ',')
        hi = q[1] == '}' ? lo : strtoul(q + 1, &q, 10);
      else if (q != end) {
        snprintf(why, why_size, "bad repetition");
        ok = 0;
        break;
      }
      if (lo > RECIPE_MAX_REPEAT || hi > RECIPE_MAX_REPEAT) {
        snprintf(why, why_size, "repetition counts above %u are not supported", RECIPE_MAX_REPEAT);
        ok = 0;
        break;
      }
      size_t f = hi > lo ? hi : lo;
      if (f > 1) {
        w->sum[w->depth] += w->last[w->depth] * (f - 1);
        w->last[w->depth] *= f;
      }
      memcpy(out + o, expr + i, (size_t)(end - (expr + i)) + 1);
      o += (size_t)(end - (expr + i)) + 1;
      i = (size_t)(end - expr);
      repeat = 1;
      break;
    }
    default:
      out[o++] = c;
      if (c != '|' && c != '^' && c != '$')
        atom(w, 1);
    }
    after_repeat = repeat;
    if (w->sum[w->depth] > REGEX_MAX_WEIGHT || w->last[w->depth] > REGEX_MAX_WEIGHT) {
      snprintf(why, why_size, "too many repetitions");
      ok = 0;
    }
  }
  if (ok && (in_bracket || w->depth)) {
    snprintf(why, why_size, in_bracket ? "unclosed [" : "unbalanced (");
    ok = 0;
  }
  free(w);
  out[o] = 0;
  if (ok) {
    int rc = regcomp(re, out, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
    if (rc) {
      regerror(rc, re, why, why_size);
      ok = 0;
    }
  }
  free(out);
  return ok;
}

/* ---- patterns ---- */

static int is_literal(const char *s) {
  for (; *s; s++)
    if (strchr(".^$*+?()[]{}\\", *s))
      return 0;
  return 1;
}

int recipe_pattern_compile(recipe_pattern *p, const char *expr, int anchor, char *why,
                           size_t why_size) {
  memset(p, 0, sizeof *p);
  p->anchor = anchor;
  if (is_literal(expr)) {
    size_t n = strlen(expr), count = 1;
    for (size_t i = 0; i < n; i++)
      count += expr[i] == '|';
    p->alts_buf = malloc(n + 1);
    p->alts = malloc(count * sizeof *p->alts);
    if (!p->alts_buf || !p->alts) {
      recipe_pattern_free(p);
      snprintf(why, why_size, "out of memory");
      return 0;
    }
    memcpy(p->alts_buf, expr, n + 1);
    char *q = p->alts_buf;
    p->alts[p->alt_count++] = q;
    for (; *q; q++)
      if (*q == '|') {
        *q = 0;
        p->alts[p->alt_count++] = q + 1;
      }
    return 1;
  }
  size_t n = strlen(expr) + 8;
  char *wrapped = malloc(n);
  if (!wrapped) {
    snprintf(why, why_size, "out of memory");
    return 0;
  }
  snprintf(wrapped, n, anchor == 1 ? "^(%s)" : anchor == 2 ? "(%s)$" : "%s", expr);
  p->has_re = recipe_regex_compile(&p->re, wrapped, 0, why, why_size);
  free(wrapped);
  return p->has_re;
}

int recipe_pattern_search(const recipe_pattern *p, const char *s) {
  if (p->has_re)
    return regexec(&p->re, s, 0, NULL, 0) == 0;
  size_t n = p->anchor == 2 ? strlen(s) : 0;
  for (size_t i = 0; i < p->alt_count; i++) {
    const char *a = p->alts[i];
    if (p->anchor == 1) {
      if (strncmp(s, a, strlen(a)) == 0)
        return 1;
    } else if (p->anchor == 2) {
      size_t an = strlen(a);
      if (an <= n && memcmp(s + n - an, a, an) == 0)
        return 1;
    } else if (strstr(s, a))
      return 1;
  }
  return 0;
}

void recipe_pattern_free(recipe_pattern *p) {
  if (p->has_re)
    regfree(&p->re);
  free(p->alts_buf);
  free(p->alts);
  memset(p, 0, sizeof *p);
}

/* ---- the contenders ---- */

/* deid's protected fields (its config.json "skip"), and the float pixel data. */
static const uint32_t protected_tags[] = {
    SI_TAG(0x0002, 0x0000), SI_TAG(0x0002, 0x0001), SI_TAG(0x0002, 0x0010), SI_TAG(0x0002, 0x0012),
    SI_TAG(0x0028, 0x1201), SI_TAG(0x0028, 0x1202), SI_TAG(0x0028, 0x1203), SI_TAG(0x0028, 0x3010),
    SI_TAG(0x7FE0, 0x0008), SI_TAG(0x7FE0, 0x0009), SI_TAG(0x7FE0, 0x0010),
};

static int is_protected(uint32_t tag) {
  for (size_t i = 0; i < sizeof protected_tags / sizeof protected_tags[0]; i++)
    if (protected_tags[i] == tag)
      return 1;
  return 0;
}

static int is_private_creator(uint32_t tag) {
  return (SI_TAG_GROUP(tag) & 1) && SI_TAG_ELEMENT(tag) >= 0x10 && SI_TAG_ELEMENT(tag) <= 0xFF;
}

si_status recipe_elems_add(recipe_elems *e, si_dataset *ds, const si_element *el, size_t parent,
                           int is_meta, si_error *err) {
  if (e->count == e->capacity) {
    size_t n = e->capacity ? e->capacity * 2 : 256;
    recipe_elem *nv = realloc(e->v, n * sizeof *nv);
    if (!nv)
      return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, el->tag, "out of memory");
    e->v = nv;
    e->capacity = n;
  }
  recipe_elem *x = &e->v[e->count];
  memset(x, 0, sizeof *x);
  x->ds = ds;
  x->tag = el->tag;
  x->vr = el->vr;
  x->parent = parent;
  x->is_meta = is_meta;
  int priv = SI_TAG_GROUP(el->tag) & 1;
  const si_dict_entry *d = priv ? NULL : si_dict_lookup(el->tag);
  x->keyword = d ? d->keyword : "";
  x->dictname = d      ? d->name
                : priv ? (is_private_creator(el->tag) ? "Private Creator" : "Private tag data")
                       : "";
  const char *pname = parent == SIZE_MAX ? NULL : e->v[parent].name;
  size_t n = strlen(x->keyword) + (pname ? strlen(pname) + 2 : 0) + 1;
  x->name = malloc(n);
  x->lname = malloc(n);
  if (priv && !is_private_creator(el->tag) && SI_TAG_ELEMENT(el->tag) >= 0x1000) {
    size_t cl;
    const char *c = si_dataset_private_creator(ds, el->tag, &cl);
    if (c) {
      x->creator = malloc(cl + 1);
      if (x->creator) {
        memcpy(x->creator, c, cl);
        x->creator[cl] = 0;
      }
    }
  }
  snprintf(x->tag8, sizeof x->tag8, "%04X%04X", SI_TAG_GROUP(el->tag), SI_TAG_ELEMENT(el->tag));
  snprintf(x->paren, sizeof x->paren, "(%04x,%04x)", SI_TAG_GROUP(el->tag),
           SI_TAG_ELEMENT(el->tag));
  if (x->creator) {
    size_t pn = strlen(x->creator) + 16;
    x->lprivate = malloc(pn);
    if (x->lprivate) {
      snprintf(x->lprivate, pn, "%04x,\"%s\",%02x", SI_TAG_GROUP(el->tag), x->creator,
               SI_TAG_ELEMENT(el->tag) & 0xFF);
      for (char *p = x->lprivate; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    }
  }
  if (!x->name || !x->lname || (x->creator && !x->lprivate)) {
    free(x->name);
    free(x->lname);
    free(x->creator);
    free(x->lprivate);
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, el->tag, "out of memory");
  }
  if (pname)
    snprintf(x->name, n, "%s__%s", pname, x->keyword);
  else
    snprintf(x->name, n, "%s", x->keyword);
  for (size_t i = 0; i < n; i++)
    x->lname[i] = (char)tolower((unsigned char)x->name[i]);
  e->count++;
  return SI_OK;
}

static si_status collect(recipe_elems *e, si_dataset *ds, size_t parent, int is_meta,
                         unsigned depth, si_error *err) {
  if (depth > 64)
    return si_error_set(err, SI_ERR_LIMIT, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "sequences nested deeper than 64");
  size_t count = si_dataset_count(ds);
  for (size_t i = 0; i < count; i++) {
    const si_element *el = si_dataset_at(ds, i);
    if (is_protected(el->tag))
      continue;
    si_status st = recipe_elems_add(e, ds, el, parent, is_meta, err);
    if (st != SI_OK)
      return st;
    size_t me = e->count - 1;
    /* a sequence, or a UN of undefined length read as one: its items too */
    if (el->vr == SI_VR_SQ || el->item_count)
      for (size_t k = 0; k < el->item_count; k++) {
        st = collect(e, el->items[k], me, is_meta, depth + 1, err);
        if (st != SI_OK)
          return st;
      }
  }
  return SI_OK;
}

si_status recipe_elems_collect(si_file *file, recipe_elems *e, si_error *err) {
  memset(e, 0, sizeof *e);
  /* the same objects as si_file_dataset / si_file_meta, edited in place */
  si_status st = collect(e, (si_dataset *)si_file_dataset(file), SIZE_MAX, 0, 0, err);
  if (st == SI_OK)
    st = collect(e, (si_dataset *)si_file_meta(file), SIZE_MAX, 1, 0, err);
  if (st != SI_OK)
    recipe_elems_free(e);
  return st;
}

void recipe_elems_free(recipe_elems *e) {
  for (size_t i = 0; i < e->count; i++) {
    free(e->v[i].name);
    free(e->v[i].lname);
    free(e->v[i].creator);
    free(e->v[i].lprivate);
  }
  free(e->v);
  memset(e, 0, sizeof *e);
}

int recipe_elem_alive(const recipe_elems *e, size_t i) {
  if (e->v[i].gone)
    return 0;
  for (i = e->v[i].parent; i != SIZE_MAX; i = e->v[i].parent)
    if (e->v[i].gone || (e->v[i].flags & RECIPE_ELEM_CLEARED))
      return 0;
  return 1;
}

/* ---- matching ---- */

/* deid's DicomField.name_contains for an expander's expression. */
static int name_contains(const recipe_field *f, const recipe_elem *x) {
  const recipe_pattern *p = &f->pat;
  if (recipe_pattern_search(p, x->lname) || recipe_pattern_search(p, x->tag8) ||
      recipe_pattern_search(p, x->dictname) || recipe_pattern_search(p, x->keyword))
    return 1;
  if (f->kind == FIELD_CONTAINS && strcmp(f->expr, x->paren) == 0)
    return 1;
  return x->lprivate && recipe_pattern_search(p, x->lprivate);
}

int recipe_field_matches(const recipe_field *f, const recipe_elem *x) {
  switch (f->kind) {
  case FIELD_EXACT:
    if (f->has_tag)
      return x->tag == f->tag;
    /* a keyword names its tag at any depth (a nested name holds "__", a
     * dictionary name that is one word is its keyword) */
    if (f->has_keyword_tag)
      return x->tag == f->keyword_tag;
    return strcmp(x->name, f->text) == 0 || (x->keyword[0] && strcmp(x->keyword, f->text) == 0) ||
           (x->dictname[0] && strcmp(x->dictname, f->text) == 0);
  case FIELD_PRIVATE:
    return x->creator && SI_TAG_GROUP(x->tag) == f->group &&
           (SI_TAG_ELEMENT(x->tag) & 0xFF) == f->private_element &&
           strcasecmp(x->creator, f->creator) == 0;
  case FIELD_STARTSWITH:
  case FIELD_ENDSWITH:
  case FIELD_CONTAINS:
    return name_contains(f, x);
  case FIELD_EXCEPT:
    return !name_contains(f, x);
  case FIELD_SELECT_GROUP:
    return SI_TAG_GROUP(x->tag) == f->group;
  case FIELD_SELECT_VR:
    return x->vr == f->vr;
  case FIELD_ALL:
    return 1;
  case FIELD_FIELDS:
  case FIELD_VALUES:
    break;
  }
  return 0;
}

/* ---- values as text ---- */

static void fmt_double(char *buf, size_t size, double v) {
  /* the shortest text that reads back the same, as Python's str(float) */
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  if (!strchr(buf, '.') && !strchr(buf, 'e') && !strchr(buf, 'n') && !strchr(buf, 'i') &&
      strlen(buf) + 3 < size)
    strcat(buf, ".0");
}

static si_status numbers_text(const si_element *el, char **text) {
  size_t unit = si_vr_unit_size(el->vr);
  size_t count = unit ? el->value_len / unit : 0;
  size_t cap = count * 28 + 1, o = 0;
  char *out = malloc(cap);
  if (!out)
    return SI_ERR_NOMEM;
  out[0] = 0;
  for (size_t i = 0; i < count; i++) {
    const uint8_t *p = el->value + i * unit;
    char one[40];
    switch (el->vr) {
    case SI_VR_US: {
      uint16_t v;
      memcpy(&v, p, 2);
      snprintf(one, sizeof one, "%u", v);
      break;
    }
    case SI_VR_SS: {
      int16_t v;
      memcpy(&v, p, 2);
      snprintf(one, sizeof one, "%d", v);
      break;
    }
    case SI_VR_UL: {
      uint32_t v;
      memcpy(&v, p, 4);
      snprintf(one, sizeof one, "%lu", (unsigned long)v);
      break;
    }
    case SI_VR_SL: {
      int32_t v;
      memcpy(&v, p, 4);
      snprintf(one, sizeof one, "%ld", (long)v);
      break;
    }
    case SI_VR_UV: {
      uint64_t v;
      memcpy(&v, p, 8);
      snprintf(one, sizeof one, "%llu", (unsigned long long)v);
      break;
    }
    case SI_VR_SV: {
      int64_t v;
      memcpy(&v, p, 8);
      snprintf(one, sizeof one, "%lld", (long long)v);
      break;
    }
    case SI_VR_FL: {
      float v;
      memcpy(&v, p, 4);
      fmt_double(one, sizeof one, (double)v);
      break;
    }
    case SI_VR_FD: {
      double v;
      memcpy(&v, p, 8);
      fmt_double(one, sizeof one, v);
      break;
    }
    case SI_VR_AT: {
      uint32_t v;
      memcpy(&v, p, 4);
      snprintf(one, sizeof one, "(%04X, %04X)", SI_TAG_GROUP(v), SI_TAG_ELEMENT(v));
      break;
    }
    default:
      one[0] = 0;
    }
    size_t l = strlen(one);
    if (o + l + 2 > cap)
      break;
    if (i)
      out[o++] = '\\';
    memcpy(out + o, one, l + 1);
    o += l;
  }
  *text = out;
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

si_status recipe_elem_text(const si_dataset *ds, const si_element *el, char **text, int *none) {
  *text = NULL;
  *none = 0;
  if (el->vr == SI_VR_SQ || el->item_count || (el->flags & SI_ELEM_VALUE_SKIPPED))
    return SI_OK;
  if (is_binary_number(el->vr)) {
    if (!el->value_len) {
      *none = 1; /* pydicom reads an empty number as None */
      return SI_OK;
    }
    return numbers_text(el, text);
  }
  if (!si_vr_is_string(el->vr) && el->vr != SI_VR_NONE && el->vr != SI_VR_UN)
    return SI_OK; /* bulk data */
  char *s = NULL;
  size_t n = 0;
  si_error e;
  if (si_get_string_n(ds, el->tag, SIZE_MAX, &s, &n, &e) != SI_OK) {
    if (e.code == SI_ERR_NOMEM)
      return SI_ERR_NOMEM;
    /* undecodable: compare the bytes as they are */
    n = el->value_len;
    s = malloc(n + 1);
    if (!s)
      return SI_ERR_NOMEM;
    if (n)
      memcpy(s, el->value, n);
    s[n] = 0;
  }
  /* NUL bytes end the text (deid works on Python str; C needs one end) */
  (void)n;
  /* deid strips the contender before comparing */
  size_t len = strlen(s), b = 0;
  while (b < len && isspace((unsigned char)s[b]))
    b++;
  while (len > b && isspace((unsigned char)s[len - 1]))
    len--;
  memmove(s, s + b, len - b);
  s[len - b] = 0;
  *text = s;
  return SI_OK;
}

const si_element *recipe_field_find(const si_dataset *ds, const recipe_field *f) {
  if (f->kind == FIELD_EXACT) {
    uint32_t tag;
    if (f->has_tag)
      tag = f->tag;
    else {
      const si_dict_entry *d = si_dict_lookup_keyword(f->text);
      if (!d || d->mask != 0xFFFFFFFFu)
        return NULL;
      tag = d->tag;
    }
    return si_dataset_find(ds, tag);
  }
  if (f->kind == FIELD_PRIVATE) {
    size_t count = si_dataset_count(ds);
    for (size_t i = 0; i < count; i++) {
      const si_element *el = si_dataset_at(ds, i);
      if (SI_TAG_GROUP(el->tag) != f->group ||
          (SI_TAG_ELEMENT(el->tag) & 0xFF) != f->private_element ||
          SI_TAG_ELEMENT(el->tag) < 0x1000)
        continue;
      size_t cl;
      const char *c = si_dataset_private_creator(ds, el->tag, &cl);
      if (c && cl == strlen(f->creator) && strncasecmp(c, f->creator, cl) == 0)
        return el;
    }
  }
  return NULL;
}
