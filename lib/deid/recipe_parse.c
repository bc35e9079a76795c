/* The deid recipe parser (pydicom/deid's format; sendit/deid_recipe.h):
 * line by line, each line stripped and cut at its first '#'. Unlike deid,
 * which skips what it does not recognise, every line must be one of the
 * forms below or the recipe is refused with the file, the line and what was
 * expected there (a recipe that silently drops a REMOVE leaks). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/recipe_internal.h"
#include "sendit/dict.h"

typedef struct parser {
  si_deid_recipe *r;
  const char *name;
  unsigned line;
  enum { SEC_NONE, SEC_HEADER, SEC_FILTER, SEC_FIELDS, SEC_VALUES, SEC_LABELS } section;
  recipe_filter *filter; /* current %filter */
  recipe_label *label;   /* current LABEL */
  recipe_group *group;   /* current %fields / %values */
  si_error *err;
} parser;

static si_status fail(parser *p, si_status code, const char *fmt, ...) SI_PRINTF(3, 4);
static si_status fail(parser *p, si_status code, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return si_error_set(p->err, code, p->name, SI_NO_OFFSET, SI_NO_TAG, "line %u: %s", p->line, msg);
}

static si_status nomem(parser *p) { return fail(p, SI_ERR_NOMEM, "out of memory"); }

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = 0;
  }
  return d;
}

static char *lower_dup(const char *s) {
  char *d = dup_n(s, strlen(s));
  for (char *q = d; q && *q; q++)
    *q = (char)tolower((unsigned char)*q);
  return d;
}

/* Grows *v (elements of size sz) to hold one more; 0 on failure. */
static int grow(void **v, size_t *cap, size_t count, size_t sz) {
  if (count < *cap)
    return 1;
  size_t n = *cap ? *cap * 2 : 8;
  void *nv = realloc(*v, n * sz);
  if (!nv)
    return 0;
  memset((char *)nv + *cap * sz, 0, (n - *cap) * sz);
  *v = nv;
  *cap = n;
  return 1;
}

/* ---- tokens: words separated by blanks; a double-quoted run (a private
 * creator) and a parenthesised tag stay inside their word ---- */

static const char *skip_blank(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

/* The word at *s into out (size bytes); advances *s. 0 when none, -1 when
 * too long or a quote is not closed. */
static int next_word(const char **s, char *out, size_t size) {
  const char *p = skip_blank(*s);
  size_t n = 0;
  if (size)
    out[0] = 0; /* callers may look at an empty word */
  int quoted = 0, paren = *p == '(';
  if (!*p)
    return 0;
  /* "(gggg, eeee)" (pydicom's spelling of a tag) is one word too */
  while (*p && (quoted || paren || (*p != ' ' && *p != '\t'))) {
    if (*p == '"')
      quoted = !quoted;
    else if (*p == ')' && !quoted)
      paren = 0;
    if (n + 1 >= size)
      return -1;
    out[n++] = *p++;
  }
  if (quoted || paren)
    return -1;
  out[n] = 0;
  *s = p;
  return 1;
}

static int ieq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

static int is_ident(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_')
      return 0;
  return 1;
}

/* ---- fields ---- */

void recipe_field_free(recipe_field *f) {
  free(f->text);
  free(f->creator);
  free(f->expr);
  recipe_pattern_free(&f->pat);
  memset(f, 0, sizeof *f);
}

static int hex_n(const char *s, size_t n, uint32_t *out) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (!isxdigit(c))
      return 0;
    v = v << 4 | (uint32_t)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
  }
  *out = v;
  return 1;
}

int recipe_field_parse_tag(const char *text, recipe_field *out) {
  const char *p = text;
  size_t len = strlen(text);
  uint32_t g, e;
  int paren = *p == '(';
  if (paren) {
    if (len < 2 || text[len - 1] != ')')
      return 0;
    p++;
    len -= 2;
  }
  /* ggggeeee */
  if (!paren && len == 8 && hex_n(p, 8, &g)) {
    out->has_tag = 1;
    out->tag = g;
    return 1;
  }
  if (len < 6 || !hex_n(p, 4, &g) || p[4] != ',')
    return 0;
  const char *q = p + 5;
  size_t rest = len - 5;
  if (*q == '"') {
    const char *end = memchr(q + 1, '"', rest - 1);
    if (!end || end == q + 1 || end - q - 1 > 64 || (size_t)(end - q) + 1 >= rest || end[1] != ',')
      return 0;
    size_t tail = rest - (size_t)(end - q) - 2;
    if (tail != 2 || !hex_n(end + 2, 2, &e) || !(g & 1))
      return 0;
    size_t cn = (size_t)(end - q - 1);
    while (cn && q[cn] == ' ')
      cn--;
    out->kind = FIELD_PRIVATE;
    out->creator = dup_n(q + 1, cn);
    out->group = (uint16_t)g;
    out->private_element = (uint8_t)e;
    return out->creator ? 1 : -1;
  }
  if (*q == ' ') {
    q++;
    rest--;
  }
  if (rest != 4 || !hex_n(q, 4, &e))
    return 0;
  out->has_tag = 1;
  out->tag = g << 16 | e;
  return 1;
}

static si_status compile(parser *p, recipe_pattern *pat, const char *expr, int anchor) {
  char why[160];
  if (strlen(expr) > RECIPE_MAX_REGEX)
    return fail(p, SI_ERR_LIMIT, "expression longer than %u characters", RECIPE_MAX_REGEX);
  if (!recipe_pattern_compile(pat, expr, anchor, why, sizeof why))
    return fail(p, SI_ERR_PARSE, "expected a regular expression, got '%.80s': %s", expr, why);
  return SI_OK;
}

static const struct {
  const char *name;
  recipe_field_kind kind;
} expanders[] = {
    {"startswith", FIELD_STARTSWITH}, {"endswith", FIELD_ENDSWITH},   {"contains", FIELD_CONTAINS},
    {"except", FIELD_EXCEPT},         {"select", FIELD_SELECT_GROUP}, {"fields", FIELD_FIELDS},
    {"values", FIELD_VALUES},
};

/* A field spec (the word after an action or FIELD). exact_only: ADD and
 * filter criteria, which name one element. */
static si_status parse_field(parser *p, const char *word, int exact_only, recipe_field *f) {
  memset(f, 0, sizeof *f);
  f->text = dup_n(word, strlen(word));
  if (!f->text)
    return nomem(p);
  int t = recipe_field_parse_tag(word, f);
  if (t < 0)
    return nomem(p);
  if (t > 0)
    return SI_OK;
  if (word[0] == '(' || strchr(word, '"'))
    return fail(p, SI_ERR_PARSE,
                "expected a tag (gggg,eeee), ggggeeee or (gggg,\"CREATOR\",ee), got '%.80s'", word);
  if (ieq(word, "ALL")) {
    if (exact_only)
      return fail(p, SI_ERR_PARSE, "expected one keyword or tag here, not ALL");
    f->kind = FIELD_ALL;
    return SI_OK;
  }
  const char *colon = strchr(word, ':');
  if (!colon) {
    if (!is_ident(word))
      return fail(p, SI_ERR_PARSE, "expected a keyword, tag or expander, got '%.80s'", word);
    f->kind = FIELD_EXACT;
    const si_dict_entry *d = si_dict_lookup_keyword(word);
    if (d && d->mask == 0xFFFFFFFFu) {
      f->has_keyword_tag = 1;
      f->keyword_tag = d->tag;
    }
    return SI_OK;
  }
  char prefix[16];
  size_t pn = (size_t)(colon - word);
  if (pn >= sizeof prefix)
    pn = sizeof prefix - 1;
  memcpy(prefix, word, pn);
  prefix[pn] = 0;
  size_t i;
  for (i = 0; i < sizeof expanders / sizeof expanders[0]; i++)
    if (ieq(prefix, expanders[i].name))
      break;
  if (i == sizeof expanders / sizeof expanders[0])
    return fail(p, SI_ERR_PARSE,
                "unknown expander '%.20s:' (expected startswith:, endswith:, contains:, except:, "
                "select:group:, select:VR:, fields:, values: or ALL)",
                prefix);
  if (exact_only)
    return fail(p, SI_ERR_PARSE, "expected one keyword or tag here, not the expander '%.20s:'",
                prefix);
  f->kind = expanders[i].kind;
  const char *arg = colon + 1;
  if (!*arg)
    return fail(p, SI_ERR_PARSE, "expected an expression after '%.20s:'", prefix);
  if (f->kind == FIELD_SELECT_GROUP) {
    const char *c2 = strchr(arg, ':');
    if (!c2 || !c2[1])
      return fail(p, SI_ERR_PARSE, "expected select:group:gggg or select:VR:XX, got '%.80s'", word);
    size_t an = (size_t)(c2 - arg);
    uint32_t g;
    if (an == 5 && strncasecmp(arg, "group", 5) == 0) {
      if (strlen(c2 + 1) > 4 || !hex_n(c2 + 1, strlen(c2 + 1), &g))
        return fail(p, SI_ERR_PARSE,
                    "expected a hexadecimal group after select:group:, got '%.20s'", c2 + 1);
      f->group = (uint16_t)g;
      return SI_OK;
    }
    if (an == 2 && strncasecmp(arg, "VR", 2) == 0) {
      const char *v = c2 + 1;
      /* deid compares the first two characters, upper-cased */
      si_vr vr = strlen(v) >= 2 ? si_vr_from_chars((char)toupper((unsigned char)v[0]),
                                                   (char)toupper((unsigned char)v[1]))
                                : SI_VR_NONE;
      if (vr == SI_VR_NONE)
        return fail(p, SI_ERR_PARSE, "expected a VR after select:VR:, got '%.20s'", v);
      f->kind = FIELD_SELECT_VR;
      f->vr = vr;
      return SI_OK;
    }
    return fail(p, SI_ERR_PARSE,
                "unknown selector 'select:%.*s:' (expected select:group: or select:VR:)",
                (int)(an > 20 ? 20 : an), arg);
  }
  if (f->kind == FIELD_FIELDS || f->kind == FIELD_VALUES) {
    f->expr = dup_n(arg, strlen(arg)); /* the group's name, resolved at the end */
    return f->expr ? SI_OK : nomem(p);
  }
  /* deid lower-cases the expression and anchors startswith / endswith; the
   * subjects are the lower-cased nested name and the tag's other spellings
   * (recipe_match.c). */
  f->expr = lower_dup(arg);
  if (!f->expr)
    return nomem(p);
  return compile(p, &f->pat, f->expr,
                 f->kind == FIELD_STARTSWITH ? 1
                 : f->kind == FIELD_ENDSWITH ? 2
                                             : 0);
}

/* ---- values ---- */

static const struct {
  const char *name;
  recipe_func func;
} funcs[] = {
    {"generate_uid", FUNC_GENERATE_UID},
    {"day_shift", FUNC_DAY_SHIFT},
    {"is_name", FUNC_IS_NAME},
};

static const struct {
  const char *name;
  recipe_deid_func func;
} deid_funcs[] = {
    {"jitter", DEID_FUNC_JITTER},         {"pydicom_uuid", DEID_FUNC_PYDICOM_UUID},
    {"dicom_uuid", DEID_FUNC_DICOM_UUID}, {"suffix_uuid", DEID_FUNC_SUFFIX_UUID},
    {"basic_uuid", DEID_FUNC_BASIC_UUID},
};

static const struct {
  const char *name;
  recipe_criterion_kind kind;
  int needs_value;
} criteria[] = {
    {"contains", CRIT_CONTAINS, 1}, {"notcontains", CRIT_NOTCONTAINS, 1},
    {"equals", CRIT_EQUALS, 1},     {"notequals", CRIT_NOTEQUALS, 1},
    {"missing", CRIT_MISSING, 0},   {"present", CRIT_PRESENT, 0},
    {"empty", CRIT_EMPTY, 0},
};
#define N_CRITERIA (sizeof criteria / sizeof criteria[0])

static void value_free(recipe_value *v) {
  free(v->text);
  free(v->prefix);
  free(v->org_root);
  recipe_pattern_free(&v->pat);
  memset(v, 0, sizeof *v);
}

static si_status parse_int(parser *p, const char *s, int32_t *out, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!*s || *end || errno || v < -1000000 || v > 1000000)
    return fail(p, SI_ERR_PARSE, "expected a whole number of days for %s, got '%.40s'", what, s);
  *out = (int32_t)v;
  return SI_OK;
}

/* deid_func:NAME key=value ...: deid's options per function. */
static si_status parse_deid_func(parser *p, recipe_value *v, const char *rest) {
  char word[RECIPE_MAX_LINE];
  int32_t days = 1, years = 0;
  const char *s = rest;
  int r;
  while ((r = next_word(&s, word, sizeof word)) > 0) {
    char *eq = strchr(word, '=');
    if (!eq || eq == word)
      return fail(p, SI_ERR_PARSE, "expected key=value after deid_func:%s, got '%.40s'", v->text,
                  word);
    *eq = 0;
    const char *key = word, *val = eq + 1;
    si_status st = SI_OK;
    if (v->func == DEID_FUNC_JITTER && strcmp(key, "days") == 0)
      st = parse_int(p, val, &days, "days=");
    else if (v->func == DEID_FUNC_JITTER && strcmp(key, "years") == 0)
      st = parse_int(p, val, &years, "years=");
    else if (v->func == DEID_FUNC_PYDICOM_UUID && strcmp(key, "prefix") == 0) {
      size_t n = strlen(val);
      if (n < 2 || n > 40 || val[n - 1] != '.' || !si_uid_is_valid(val, n - 1))
        return fail(p, SI_ERR_PARSE, "expected a UID root ending in '.' for prefix=, got '%.40s'",
                    val);
      free(v->prefix);
      v->prefix = dup_n(val, n);
    } else if (v->func == DEID_FUNC_PYDICOM_UUID && strcmp(key, "stable_remapping") == 0) {
      if (strcmp(val, "true") != 0)
        return fail(p, SI_ERR_PARSE,
                    "stable_remapping=%.10s: sendit's UIDs are always a keyed remapping "
                    "(expected true)",
                    val);
    } else if (v->func == DEID_FUNC_DICOM_UUID && strcmp(key, "org_root") == 0) {
      free(v->org_root);
      v->org_root = dup_n(val, strlen(val));
    } else
      return fail(p, SI_ERR_PARSE, "unknown option '%.40s' for deid_func:%s", key, v->text);
    if (st != SI_OK)
      return st;
  }
  if (r < 0)
    return fail(p, SI_ERR_PARSE, "expected key=value options, got an unclosed quote");
  if (years < -2700 || years > 2700)
    return fail(p, SI_ERR_PARSE, "years= out of range");
  v->days = days + years * 365;
  return SI_OK;
}

/* The value of an action: everything after the field (comment cut). */
static si_status parse_value(parser *p, recipe_action_kind action, const char *text,
                             recipe_value *v) {
  memset(v, 0, sizeof *v);
  const char *colon = strchr(text, ':');
  char type[16] = "";
  if (colon && (size_t)(colon - text) < sizeof type) {
    memcpy(type, text, (size_t)(colon - text));
    type[colon - text] = 0;
  }
  int typed = colon && is_ident(type) && !strchr(type, ' ');
  if (!typed) {
    if (action == RECIPE_REMOVE)
      return fail(p, SI_ERR_PARSE,
                  "expected nothing after REMOVE FIELD, or func:NAME or a value expander "
                  "(contains:, equals:, ...), got '%.80s'",
                  text);
    v->kind = VALUE_LITERAL;
    v->text = dup_n(text, strlen(text));
    if (!v->text)
      return nomem(p);
    if (action == RECIPE_JITTER) {
      int32_t days;
      return parse_int(p, text, &days, "JITTER");
    }
    return SI_OK;
  }
  const char *arg = colon + 1;
  if (ieq(type, "var")) {
    if (!is_ident(arg))
      return fail(p, SI_ERR_PARSE, "expected a variable name after var:, got '%.80s'", arg);
    if (action == RECIPE_REMOVE)
      return fail(p, SI_ERR_PARSE, "REMOVE takes func:NAME or a value expander, not var:");
    v->kind = VALUE_VAR;
    v->text = dup_n(arg, strlen(arg));
    return v->text ? SI_OK : nomem(p);
  }
  if (ieq(type, "func")) {
    size_t i;
    for (i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
      if (strcmp(arg, funcs[i].name) == 0)
        break;
    if (i == sizeof funcs / sizeof funcs[0])
      return fail(p, SI_ERR_PARSE,
                  "unknown func:%.60s (sendit runs no Python; built-ins: generate_uid, day_shift, "
                  "is_name)",
                  arg);
    int boolean = funcs[i].func == FUNC_IS_NAME;
    if (boolean != (action == RECIPE_REMOVE))
      return fail(p, SI_ERR_PARSE, "func:%s %s", arg,
                  boolean ? "decides a REMOVE; it gives no value"
                          : "gives a value; REMOVE needs a "
                            "func that decides (is_name)");
    v->kind = VALUE_FUNC;
    v->func = (int)funcs[i].func;
    v->text = dup_n(arg, strlen(arg));
    return v->text ? SI_OK : nomem(p);
  }
  if (ieq(type, "deid_func")) {
    const char *sp = arg;
    while (*sp && *sp != ' ' && *sp != '\t')
      sp++;
    v->text = dup_n(arg, (size_t)(sp - arg));
    if (!v->text)
      return nomem(p);
    size_t i;
    for (i = 0; i < sizeof deid_funcs / sizeof deid_funcs[0]; i++)
      if (strcmp(v->text, deid_funcs[i].name) == 0)
        break;
    if (i == sizeof deid_funcs / sizeof deid_funcs[0])
      return fail(p, SI_ERR_PARSE,
                  "unknown deid_func:%.60s (expected jitter, pydicom_uuid, dicom_uuid, "
                  "suffix_uuid or basic_uuid)",
                  v->text);
    if (action == RECIPE_REMOVE)
      return fail(p, SI_ERR_PARSE, "deid_func:%s gives a value; REMOVE cannot use it", v->text);
    v->kind = VALUE_DEID_FUNC;
    v->func = (int)deid_funcs[i].func;
    return parse_deid_func(p, v, sp);
  }
  size_t i;
  for (i = 0; i < N_CRITERIA; i++)
    if (ieq(type, criteria[i].name))
      break;
  if (i < N_CRITERIA && action == RECIPE_REMOVE) {
    v->kind = VALUE_EXPANDER;
    v->func = (int)criteria[i].kind;
    v->text = lower_dup(arg);
    if (!v->text)
      return nomem(p);
    if (v->func == CRIT_CONTAINS || v->func == CRIT_NOTCONTAINS)
      return compile(p, &v->pat, v->text, 0);
    return SI_OK;
  }
  return fail(p, SI_ERR_PARSE, "unknown value type '%.15s:' (expected var:, func: or deid_func:)",
              type);
}

/* ---- %header ---- */

static const struct {
  const char *name;
  recipe_action_kind kind;
} actions[] = {
    {"ADD", RECIPE_ADD},   {"BLANK", RECIPE_BLANK},     {"JITTER", RECIPE_JITTER},
    {"KEEP", RECIPE_KEEP}, {"REPLACE", RECIPE_REPLACE}, {"REMOVE", RECIPE_REMOVE},
};

static si_status header_line(parser *p, const char *line) {
  char word[RECIPE_MAX_LINE], field[RECIPE_MAX_LINE];
  const char *s = line;
  next_word(&s, word, sizeof word);
  size_t i;
  for (i = 0; i < sizeof actions / sizeof actions[0]; i++)
    if (ieq(word, actions[i].name))
      break;
  if (i == sizeof actions / sizeof actions[0])
    return fail(p, SI_ERR_PARSE,
                "expected an action (ADD, BLANK, JITTER, KEEP, REPLACE, REMOVE), got '%.40s'",
                word);
  recipe_action_kind kind = actions[i].kind;
  int r = next_word(&s, field, sizeof field);
  if (r <= 0)
    return fail(p, SI_ERR_PARSE, "expected a field after %s", actions[i].name);
  if (p->r->action_count >= RECIPE_MAX_ACTIONS)
    return fail(p, SI_ERR_LIMIT, "more than %u header actions", RECIPE_MAX_ACTIONS);
  if (!grow((void **)&p->r->actions, &p->r->action_capacity, p->r->action_count,
            sizeof *p->r->actions))
    return nomem(p);
  recipe_action *a = &p->r->actions[p->r->action_count++];
  memset(a, 0, sizeof *a);
  a->kind = kind;
  a->line = p->line;
  si_status st = parse_field(p, field, kind == RECIPE_ADD, &a->field);
  if (st != SI_OK)
    return st;
  if (kind == RECIPE_ADD && a->field.kind == FIELD_EXACT && !a->field.has_tag &&
      !si_dict_lookup_keyword(field))
    return fail(p, SI_ERR_PARSE, "expected a dictionary keyword or a tag after ADD, got '%.80s'",
                field);
  const char *rest = skip_blank(s);
  int needs = kind == RECIPE_ADD || kind == RECIPE_REPLACE || kind == RECIPE_JITTER;
  if (!*rest) {
    if (needs)
      return fail(p, SI_ERR_PARSE, "expected a value after %s %.80s", actions[i].name, field);
    return SI_OK;
  }
  if (kind == RECIPE_BLANK || kind == RECIPE_KEEP)
    return fail(p, SI_ERR_PARSE, "expected nothing after %s %.80s, got '%.40s'", actions[i].name,
                field, rest);
  return parse_value(p, kind, rest, &a->value);
}

/* ---- %fields / %values ---- */

static si_status group_line(parser *p, const char *line) {
  char word[RECIPE_MAX_LINE], field[RECIPE_MAX_LINE];
  const char *s = line;
  next_word(&s, word, sizeof word);
  int split = ieq(word, "SPLIT");
  if (!ieq(word, "FIELD") && !(split && p->group->is_values))
    return fail(p, SI_ERR_PARSE, "expected %s in %%%s %s, got '%.40s'",
                p->group->is_values ? "FIELD or SPLIT" : "FIELD",
                p->group->is_values ? "values" : "fields", p->group->name, word);
  if (next_word(&s, field, sizeof field) <= 0)
    return fail(p, SI_ERR_PARSE, "expected a field after %s", split ? "SPLIT" : "FIELD");
  recipe_group *g = p->group;
  if (g->count >= RECIPE_MAX_GROUP_ACTIONS)
    return fail(p, SI_ERR_LIMIT, "more than %u lines in one group", RECIPE_MAX_GROUP_ACTIONS);
  if (!grow((void **)&g->actions, &g->capacity, g->count, sizeof *g->actions))
    return nomem(p);
  recipe_group_action *a = &g->actions[g->count++];
  memset(a, 0, sizeof *a);
  a->split = split;
  a->line = p->line;
  a->minlength = 1;
  si_status st = parse_field(p, field, 0, &a->field);
  if (st != SI_OK)
    return st;
  if (a->field.kind == FIELD_FIELDS || a->field.kind == FIELD_VALUES)
    return fail(p, SI_ERR_PARSE, "a group cannot use another group (%.80s)", field);
  const char *rest = skip_blank(s);
  if (!split) {
    if (*rest)
      return fail(p, SI_ERR_PARSE, "expected nothing after FIELD %.80s, got '%.40s'", field, rest);
    return SI_OK;
  }
  /* SPLIT FIELD by=X;minlength=N (deid: ';'-separated, quotes around X) */
  while (*rest) {
    const char *end = strchr(rest, ';');
    size_t n = end ? (size_t)(end - rest) : strlen(rest);
    char opt[RECIPE_MAX_LINE];
    memcpy(opt, rest, n);
    opt[n] = 0;
    char *eq = strchr(opt, '=');
    if (!eq)
      return fail(p, SI_ERR_PARSE, "expected by=X or minlength=N after SPLIT, got '%.40s'", opt);
    *eq = 0;
    char *key = opt, *val = eq + 1;
    while (*key == ' ')
      key++;
    for (char *k = eq - 1; k >= key && *k == ' '; k--)
      *k = 0;
    val = (char *)skip_blank(val);
    for (size_t vn = strlen(val); vn && val[vn - 1] == ' ';)
      val[--vn] = 0;
    if (strcmp(key, "by") == 0) {
      size_t vn = strlen(val);
      if (vn >= 2 && (val[0] == '"' || val[0] == '\'') && val[vn - 1] == val[0]) {
        val[vn - 1] = 0;
        val++;
      }
      if (!*val)
        return fail(p, SI_ERR_PARSE, "expected a separator after by=");
      free(a->split_by);
      a->split_by = dup_n(val, strlen(val));
      if (!a->split_by)
        return nomem(p);
    } else if (strcmp(key, "minlength") == 0) {
      int32_t m;
      if (parse_int(p, val, &m, "minlength=") != SI_OK || m < 0)
        return fail(p, SI_ERR_PARSE, "expected a length after minlength=, got '%.20s'", val);
      a->minlength = (size_t)m;
    } else
      return fail(p, SI_ERR_PARSE, "unknown SPLIT option '%.40s' (expected by or minlength)", key);
    rest = end ? end + 1 : rest + n;
  }
  return SI_OK;
}

/* ---- %filter ---- */

static int has_criterion_word(const char *s) {
  for (size_t i = 0; i < N_CRITERIA; i++)
    if (strstr(s, criteria[i].name))
      return 1;
  return 0;
}

static void criterion_free(recipe_criterion *c) {
  recipe_field_free(&c->field);
  free(c->value);
  recipe_pattern_free(&c->pat);
}

/* One criterion "ACTION FIELD [VALUE]" of n bytes at s. */
static si_status parse_criterion(parser *p, const char *s, size_t n, recipe_criterion *c) {
  char text[RECIPE_MAX_LINE], word[RECIPE_MAX_LINE], field[RECIPE_MAX_LINE];
  memcpy(text, s, n);
  text[n] = 0;
  const char *q = text;
  if (next_word(&q, word, sizeof word) <= 0)
    return fail(p, SI_ERR_PARSE,
                "expected a criterion (contains, notcontains, equals, "
                "notequals, missing, present, empty) before or after + / ||");
  size_t i;
  for (i = 0; i < N_CRITERIA; i++)
    if (ieq(word, criteria[i].name))
      break;
  if (i == N_CRITERIA)
    return fail(p, SI_ERR_PARSE,
                "unknown criterion '%.40s' (expected contains, notcontains, equals, notequals, "
                "missing, present, empty, or coordinates)",
                word);
  c->kind = criteria[i].kind;
  int r = next_word(&q, field, sizeof field);
  if (r <= 0)
    return fail(p, SI_ERR_PARSE, "expected a field after %s", criteria[i].name);
  si_status st = parse_field(p, field, 1, &c->field);
  if (st != SI_OK)
    return st;
  const char *rest = skip_blank(q);
  size_t rn = strlen(rest);
  while (rn && (rest[rn - 1] == ' ' || rest[rn - 1] == '\t'))
    rn--;
  if (!criteria[i].needs_value) {
    if (rn)
      return fail(p, SI_ERR_PARSE, "expected only a field after %s, got '%.40s'", criteria[i].name,
                  rest);
    return SI_OK;
  }
  if (!rn)
    return fail(p, SI_ERR_PARSE, "expected a value after %s %.80s", criteria[i].name, field);
  /* deid compares lower-cased, stripped values */
  c->value = dup_n(rest, rn);
  if (!c->value)
    return nomem(p);
  for (char *v = c->value; *v; v++)
    *v = (char)tolower((unsigned char)*v);
  if (c->kind == CRIT_CONTAINS || c->kind == CRIT_NOTCONTAINS)
    return compile(p, &c->pat, c->value, 0);
  return SI_OK;
}

/* A criteria line, split as deid splits it: at the first "||" or "+" whose
 * rest still holds a criterion word; a "+" inside a value ("AS+") stays. */
static si_status criteria_line(parser *p, const char *line) {
  recipe_label *lab = p->label;
  if (lab->count >= RECIPE_MAX_LINES_PER_LABEL)
    return fail(p, SI_ERR_LIMIT, "more than %u lines in one LABEL", RECIPE_MAX_LINES_PER_LABEL);
  recipe_line *nl = realloc(lab->lines, (lab->count + 1) * sizeof *nl);
  if (!nl)
    return nomem(p);
  lab->lines = nl;
  recipe_line *ln = &lab->lines[lab->count++];
  memset(ln, 0, sizeof *ln);
  ln->line = p->line;
  const char *s = line;
  if (*s == '+') {
    ln->op = 1;
    s++;
  } else if (s[0] == '|' && s[1] == '|') {
    ln->op = 2;
    s += 2;
  }
  s = skip_blank(s);
  int op = 0;
  for (;;) {
    if (ln->count >= RECIPE_MAX_CRITERIA_PER_LINE)
      return fail(p, SI_ERR_LIMIT, "more than %u criteria on one line",
                  RECIPE_MAX_CRITERIA_PER_LINE);
    const char *o = strstr(s, "||"), *a = strchr(s, '+');
    const char *at = NULL;
    int next_op = 0;
    if (a && (!o || a <= o)) {
      at = a;
      next_op = 1;
    } else if (o) {
      at = o;
      next_op = 2;
    }
    const char *rest = at ? at + (next_op == 1 ? 1 : 2) : NULL;
    size_t n = strlen(s);
    if (at && has_criterion_word(rest))
      n = (size_t)(at - s);
    else
      rest = NULL;
    recipe_criterion *nc = realloc(ln->criteria, (ln->count + 1) * sizeof *nc);
    if (!nc)
      return nomem(p);
    ln->criteria = nc;
    recipe_criterion *c = &ln->criteria[ln->count++];
    memset(c, 0, sizeof *c);
    c->op = op;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
      n--;
    si_status st = parse_criterion(p, s, n, c);
    if (st != SI_OK)
      return st;
    if (!rest)
      return SI_OK;
    op = next_op;
    s = skip_blank(rest);
  }
}

static si_status filter_line(parser *p, const char *line) {
  char word[RECIPE_MAX_LINE];
  const char *s = line;
  next_word(&s, word, sizeof word);
  if (ieq(word, "LABEL")) {
    recipe_filter *f = p->filter;
    size_t total = 0;
    for (size_t i = 0; i < p->r->filter_count; i++)
      total += p->r->filters[i].count;
    if (total >= RECIPE_MAX_LABELS)
      return fail(p, SI_ERR_LIMIT, "more than %u LABELs", RECIPE_MAX_LABELS);
    if (!grow((void **)&f->labels, &f->capacity, f->count, sizeof *f->labels))
      return nomem(p);
    p->label = &f->labels[f->count++];
    memset(p->label, 0, sizeof *p->label);
    p->label->line = p->line;
    const char *name = skip_blank(s);
    if (!*name)
      return fail(p, SI_ERR_PARSE, "expected a name after LABEL");
    p->label->name = dup_n(name, strlen(name));
    return p->label->name ? SI_OK : nomem(p);
  }
  if (!p->label)
    return fail(p, SI_ERR_PARSE, "expected LABEL NAME to start a filter's criteria, got '%.40s'",
                word);
  static const char *const coords[] = {"coordinates", "ctpcoordinates", "keepcoordinates"};
  for (size_t i = 0; i < 3; i++)
    if (ieq(word, coords[i])) {
      recipe_label *lab = p->label;
      const char *v = skip_blank(s);
      if (!*v)
        return fail(p, SI_ERR_PARSE, "expected x,y,w,h, all or from:FIELD after %s", coords[i]);
      if (lab->coordinate_count >= RECIPE_MAX_COORDINATES)
        return fail(p, SI_ERR_LIMIT, "more than %u coordinates in one LABEL",
                    RECIPE_MAX_COORDINATES);
      recipe_coordinates *nc = realloc(lab->coordinates, (lab->coordinate_count + 1) * sizeof *nc);
      if (!nc)
        return nomem(p);
      lab->coordinates = nc;
      recipe_coordinates *c = &lab->coordinates[lab->coordinate_count++];
      c->kind = dup_n(coords[i], strlen(coords[i]));
      c->text = dup_n(v, strlen(v));
      return c->kind && c->text ? SI_OK : nomem(p);
    }
  return criteria_line(p, line);
}

/* ---- sections ---- */

static si_status section_line(parser *p, const char *line) {
  char word[RECIPE_MAX_LINE];
  const char *s = line + 1;
  if (next_word(&s, word, sizeof word) <= 0)
    return fail(p, SI_ERR_PARSE, "expected a section name after %%");
  const char *name = skip_blank(s);
  p->label = NULL;
  p->filter = NULL;
  p->group = NULL;
  if (ieq(word, "header")) {
    if (*name)
      return fail(p, SI_ERR_PARSE, "expected nothing after %%header, got '%.40s'", name);
    p->section = SEC_HEADER;
    p->r->has_header = 1;
    return SI_OK;
  }
  if (ieq(word, "labels")) {
    p->section = SEC_LABELS;
    return SI_OK;
  }
  int is_filter = ieq(word, "filter"), is_fields = ieq(word, "fields"),
      is_values = ieq(word, "values");
  if (!is_filter && !is_fields && !is_values)
    return fail(p, SI_ERR_PARSE,
                "unknown section '%%%.40s' (expected %%header, %%filter NAME, %%fields NAME, "
                "%%values NAME or %%labels)",
                word);
  if (!*name)
    return fail(p, SI_ERR_PARSE, "expected a name after %%%s", word);
  if (is_filter) {
    p->section = SEC_FILTER;
    for (size_t i = 0; i < p->r->filter_count; i++)
      if (strcmp(p->r->filters[i].name, name) == 0) {
        p->filter = &p->r->filters[i]; /* deid appends to a section named twice */
        return SI_OK;
      }
    if (p->r->filter_count >= RECIPE_MAX_SECTIONS)
      return fail(p, SI_ERR_LIMIT, "more than %u %%filter sections", RECIPE_MAX_SECTIONS);
    recipe_filter *nf = realloc(p->r->filters, (p->r->filter_count + 1) * sizeof *nf);
    if (!nf)
      return nomem(p);
    p->r->filters = nf;
    p->filter = &nf[p->r->filter_count++];
    memset(p->filter, 0, sizeof *p->filter);
    p->filter->name = dup_n(name, strlen(name));
    return p->filter->name ? SI_OK : nomem(p);
  }
  p->section = is_fields ? SEC_FIELDS : SEC_VALUES;
  if (!is_ident(name))
    return fail(p, SI_ERR_PARSE, "expected a group name (letters, digits, _), got '%.40s'", name);
  for (size_t i = 0; i < p->r->group_count; i++)
    if (strcmp(p->r->groups[i].name, name) == 0) {
      if (p->r->groups[i].is_values != is_values)
        return fail(p, SI_ERR_PARSE, "group %s is already a %%%s group", name,
                    is_values ? "fields" : "values");
      p->group = &p->r->groups[i];
      return SI_OK;
    }
  if (p->r->group_count >= RECIPE_MAX_GROUPS)
    return fail(p, SI_ERR_LIMIT, "more than %u groups", RECIPE_MAX_GROUPS);
  recipe_group *ng = realloc(p->r->groups, (p->r->group_count + 1) * sizeof *ng);
  if (!ng)
    return nomem(p);
  p->r->groups = ng;
  p->group = &ng[p->r->group_count++];
  memset(p->group, 0, sizeof *p->group);
  p->group->is_values = is_values;
  p->group->name = dup_n(name, strlen(name));
  return p->group->name ? SI_OK : nomem(p);
}

static si_status one_line(parser *p, char *line) {
  /* comments: from the first '#' (deid cuts values and names there too) */
  char *hash = strchr(line, '#');
  if (hash)
    *hash = 0;
  size_t n = strlen(line);
  while (n && isspace((unsigned char)line[n - 1]))
    line[--n] = 0;
  char *s = (char *)skip_blank(line);
  if (!*s)
    return SI_OK;
  for (char *q = s; *q; q++)
    if (*q == '\t')
      *q = ' ';
  char word[RECIPE_MAX_LINE];
  const char *w = s;
  next_word(&w, word, sizeof word);
  if (ieq(word, "FORMAT")) {
    char fmt[RECIPE_MAX_LINE];
    if (next_word(&w, fmt, sizeof fmt) <= 0 || !ieq(fmt, "dicom") || *skip_blank(w))
      return fail(p, SI_ERR_PARSE, "expected FORMAT dicom");
    p->r->has_format = 1;
    return SI_OK;
  }
  if (*s == '%')
    return section_line(p, s);
  switch (p->section) {
  case SEC_HEADER:
    return header_line(p, s);
  case SEC_FILTER:
    return filter_line(p, s);
  case SEC_FIELDS:
  case SEC_VALUES:
    return group_line(p, s);
  case SEC_LABELS:
    return SI_OK; /* metadata (key value), not used */
  case SEC_NONE:
    break;
  }
  return fail(p, SI_ERR_PARSE,
              "expected FORMAT dicom or a section (%%header, %%filter NAME, %%fields NAME, "
              "%%values NAME) before '%.40s'",
              word);
}

/* fields:NAME / values:NAME name groups of the right kind. */
static si_status resolve_groups(parser *p) {
  for (size_t i = 0; i < p->r->action_count; i++) {
    recipe_field *f = &p->r->actions[i].field;
    if (f->kind != FIELD_FIELDS && f->kind != FIELD_VALUES)
      continue;
    size_t g;
    for (g = 0; g < p->r->group_count; g++)
      if (strcmp(p->r->groups[g].name, f->expr) == 0 &&
          p->r->groups[g].is_values == (f->kind == FIELD_VALUES))
        break;
    if (g == p->r->group_count) {
      p->line = p->r->actions[i].line;
      return fail(p, SI_ERR_PARSE, "expected a %%%s %s group for %.80s",
                  f->kind == FIELD_VALUES ? "values" : "fields", f->expr, f->text);
    }
    f->group_ref = g;
  }
  return SI_OK;
}

si_status si_deid_recipe_parse(const char *text, size_t len, const char *name, si_deid_recipe **out,
                               si_error *err) {
  *out = NULL;
  if (!name)
    name = "recipe";
  if (!text && len)
    return si_error_set(err, SI_ERR_ARG, name, SI_NO_OFFSET, SI_NO_TAG, "no recipe text");
  if (len > RECIPE_MAX_BYTES)
    return si_error_set(err, SI_ERR_LIMIT, name, SI_NO_OFFSET, SI_NO_TAG,
                        "recipe larger than %u bytes", RECIPE_MAX_BYTES);
  si_deid_recipe *r = calloc(1, sizeof *r);
  parser p = {.r = r, .name = name, .err = err};
  if (!r)
    return si_error_set(err, SI_ERR_NOMEM, name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  r->name = dup_n(name, strlen(name));
  size_t rn = strlen(name) + 16;
  r->rules_name = malloc(rn);
  if (!r->name || !r->rules_name) {
    si_deid_recipe_free(r);
    return si_error_set(err, SI_ERR_NOMEM, name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  const char *base = strrchr(name, '/');
  snprintf(r->rules_name, rn, "deid recipe %s", base ? base + 1 : name);
  char line[RECIPE_MAX_LINE + 1];
  si_status st = SI_OK;
  size_t i = 0;
  while (i < len && st == SI_OK) {
    p.line++;
    const char *nl = memchr(text + i, '\n', len - i);
    size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
    if (n && text[i + n - 1] == '\r')
      n--;
    if (n > RECIPE_MAX_LINE) {
      st = fail(&p, SI_ERR_LIMIT, "line longer than %u bytes", RECIPE_MAX_LINE);
      break;
    }
    if (memchr(text + i, 0, n)) {
      st = fail(&p, SI_ERR_PARSE, "expected text, got a NUL byte");
      break;
    }
    memcpy(line, text + i, n);
    line[n] = 0;
    st = one_line(&p, line);
    i += (nl ? (size_t)(nl - (text + i)) + 1 : len - i);
  }
  if (st == SI_OK && !r->has_format) {
    p.line = 1;
    st = fail(&p, SI_ERR_PARSE, "expected FORMAT dicom (no FORMAT line in the recipe)");
  }
  if (st == SI_OK)
    st = resolve_groups(&p);
  if (st != SI_OK) {
    si_deid_recipe_free(r);
    return st;
  }
  *out = r;
  return SI_OK;
}

si_status si_deid_recipe_load(const char *path, si_deid_recipe **out, si_error *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s",
                        strerror(errno));
  char *buf = malloc(RECIPE_MAX_BYTES + 1);
  if (!buf) {
    fclose(f);
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  size_t n = fread(buf, 1, RECIPE_MAX_BYTES + 1, f);
  int bad = ferror(f);
  fclose(f);
  si_status st;
  if (bad)
    st = si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "read failed");
  else
    st = si_deid_recipe_parse(buf, n, path, out, err);
  free(buf);
  return st;
}

void si_deid_recipe_free(si_deid_recipe *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->action_count; i++) {
    recipe_field_free(&r->actions[i].field);
    value_free(&r->actions[i].value);
  }
  free(r->actions);
  for (size_t g = 0; g < r->group_count; g++) {
    for (size_t i = 0; i < r->groups[g].count; i++) {
      recipe_field_free(&r->groups[g].actions[i].field);
      free(r->groups[g].actions[i].split_by);
    }
    free(r->groups[g].actions);
    free(r->groups[g].name);
  }
  free(r->groups);
  for (size_t f = 0; f < r->filter_count; f++) {
    recipe_filter *fl = &r->filters[f];
    for (size_t l = 0; l < fl->count; l++) {
      recipe_label *lab = &fl->labels[l];
      for (size_t i = 0; i < lab->count; i++) {
        for (size_t c = 0; c < lab->lines[i].count; c++)
          criterion_free(&lab->lines[i].criteria[c]);
        free(lab->lines[i].criteria);
      }
      free(lab->lines);
      for (size_t c = 0; c < lab->coordinate_count; c++) {
        free(lab->coordinates[c].kind);
        free(lab->coordinates[c].text);
      }
      free(lab->coordinates);
      free(lab->name);
    }
    free(fl->labels);
    free(fl->name);
  }
  free(r->filters);
  free(r->name);
  free(r->rules_name);
  free(r);
}

int si_deid_recipe_has_header(const si_deid_recipe *r) { return r && r->action_count > 0; }

int si_deid_recipe_has_filters(const si_deid_recipe *r) {
  if (!r)
    return 0;
  for (size_t i = 0; i < r->filter_count; i++)
    if (r->filters[i].count)
      return 1;
  return 0;
}
