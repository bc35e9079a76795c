/* %filter sections (deid's filter.py and detect.py): each LABEL's lines are
 * evaluated on the top-level data set left to right, without precedence, as
 * deid does it: a line's criteria joined by their inner + and ||, then the
 * lines joined by their leading + (and) or || (or), a line without one
 * joining by and. Sections and LABELs are tried in recipe order and the
 * first LABEL that matches decides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/recipe_internal.h"

/* deid's evaluate_group over [flag, op, flag, ...], starting from False. */
typedef struct folding {
  int flagged, first;
} folding;

static void fold(folding *f, int op, int flag) {
  if (op == 1)
    f->flagged = flag && f->flagged;
  else if (op == 2)
    f->flagged = flag || f->flagged;
  else if (f->first)
    f->flagged = flag;
  else
    f->flagged = f->flagged && flag;
  f->first = 0;
}

static void lower(char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z')
      *s = (char)(*s - 'A' + 'a');
}

int recipe_criterion_eval(const recipe_criterion *c, const si_dataset *ds) {
  const si_element *el = recipe_field_find(ds, &c->field);
  char *text = NULL;
  int none = 0;
  if (el && recipe_elem_text(ds, el, &text, &none) != SI_OK)
    return 1; /* out of memory: flag the image rather than pass it */
  int result = 0;
  switch (c->kind) {
  case CRIT_MISSING:
    result = !el || none;
    break;
  case CRIT_PRESENT:
    result = el && !none;
    break;
  case CRIT_EMPTY:
    /* deid: the value is "" (a string element without characters) */
    result = el && text && !text[0] && (si_vr_is_string(el->vr) || el->vr == SI_VR_UN);
    break;
  case CRIT_CONTAINS:
  case CRIT_NOTCONTAINS:
  case CRIT_EQUALS:
  case CRIT_NOTEQUALS: {
    int hit = 0;
    if (text) {
      lower(text);
      if (c->kind == CRIT_CONTAINS || c->kind == CRIT_NOTCONTAINS)
        hit = recipe_pattern_search(&c->pat, text);
      else
        hit = strcmp(text, c->value) == 0;
    }
    result = (c->kind == CRIT_CONTAINS || c->kind == CRIT_EQUALS) ? hit : !hit;
    break;
  }
  }
  free(text);
  return result;
}

/* Whether folding op into f can still change it (deid evaluates every
 * criterion; the answer is the same without the ones that cannot). */
static int matters(const folding *f, int op) {
  if (f->first && op == 0)
    return 1;
  if (op == 2)
    return !f->flagged;
  return f->flagged; /* and: a false stays false */
}

int recipe_label_matches(const recipe_label *label, const si_dataset *ds) {
  folding lines = {0, 1};
  for (size_t i = 0; i < label->count; i++) {
    const recipe_line *ln = &label->lines[i];
    if (!matters(&lines, ln->op)) {
      lines.first = 0;
      continue;
    }
    folding inner = {0, 1};
    for (size_t k = 0; k < ln->count; k++) {
      if (!matters(&inner, ln->criteria[k].op)) {
        inner.first = 0;
        continue;
      }
      fold(&inner, ln->criteria[k].op, recipe_criterion_eval(&ln->criteria[k], ds));
    }
    fold(&lines, ln->op, inner.flagged);
  }
  return lines.flagged;
}

/* deid's documented meaning of a whitelist: images that match it are known
 * to be clean and pass without review. */
static int is_whitelist(const char *name) { return strcasecmp(name, "whitelist") == 0; }

si_status si_deid_recipe_filter(const si_deid_recipe *r, const si_file *file, int *flagged,
                                char *reason, size_t size, si_error *err) {
  (void)err;
  *flagged = 0;
  if (size)
    reason[0] = 0;
  if (!r)
    return SI_OK;
  const si_dataset *ds = si_file_dataset(file);
  for (size_t f = 0; f < r->filter_count; f++) {
    const recipe_filter *fl = &r->filters[f];
    for (size_t l = 0; l < fl->count; l++)
      if (recipe_label_matches(&fl->labels[l], ds)) {
        *flagged = !is_whitelist(fl->name);
        if (size)
          snprintf(reason, size, "filter %s: %s", fl->name, fl->labels[l].name);
        return SI_OK;
      }
  }
  return SI_OK;
}
