/* A recipe's %header actions on one file (the engine's si_deid_rules.apply),
 * as deid's DicomParser.parse runs them: %values / %fields groups are
 * collected from the original file first, then the actions run in recipe
 * order on every element they select, at every depth and in the file meta,
 * so a later action on the same element wins (ADD then REMOVE removes),
 * except that
 *  - KEEP protects what it selects, wherever it stands, from BLANK, JITTER,
 *    REPLACE and REMOVE (an ADD still sets the value: deid's tests);
 *  - REMOVE leaves what a REPLACE or JITTER selects (deid's
 *    "excluded_from_deletion"), so JITTER then REMOVE keeps the shifted date.
 * Each element an action changed or kept is marked decided, so the PS3.15
 * profile leaves it alone; replaced and removed identifying values are
 * recorded for the leak scan. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/profile_internal.h"
#include "deid/recipe_internal.h"
#include "sendit/dict.h"
#include "sendit/edit.h"

#define TAG_PATIENT_NAME SI_TAG(0x0010, 0x0010)
#define TAG_BIRTH_DATE SI_TAG(0x0010, 0x0030)
#define TAG_STUDY_DATE SI_TAG(0x0008, 0x0020)
#define TAG_STUDY_UID SI_TAG(0x0020, 0x000D)

typedef struct applier {
  const si_deid_recipe *r;
  si_deid_run *run;
  si_file *file;
  recipe_elems e;
  char **var_text;    /* per action: var:NAME's value from the original file (or NULL) */
  char *patient_name; /* original values some values need */
  char *study_uid;
  char *entity_ts, *item_ts; /* var:entity_timestamp / var:item_timestamp */
  char ***values;            /* per %values group: the values collected */
  size_t *value_count;
  uint32_t **field_tags; /* per %fields group: the tags selected */
  size_t *field_count;
  si_error *err;
} applier;

static si_status nomem(applier *a) {
  return si_error_set(a->err, SI_ERR_NOMEM, a->r->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
}

static si_status action_error(applier *a, const recipe_action *act, uint32_t tag, si_status code,
                              const char *why) {
  static const char *const names[] = {"ADD", "BLANK", "JITTER", "KEEP", "REPLACE", "REMOVE"};
  char tagtext[16] = "";
  if (tag != SI_NO_TAG)
    snprintf(tagtext, sizeof tagtext, " (%04X,%04X)", SI_TAG_GROUP(tag), SI_TAG_ELEMENT(tag));
  char why_copy[400];
  snprintf(why_copy, sizeof why_copy, "%s", why);
  return si_error_set(a->err, code, a->r->name, SI_NO_OFFSET, tag, "line %u: %s %.80s%s: %s",
                      act->line, names[act->kind], act->field.text, tagtext, why_copy);
}

/* Text of (ds, tag) now, or NULL (absent or no comparable text). */
static char *text_of(const si_dataset *ds, uint32_t tag) {
  const si_element *el = si_dataset_find(ds, tag);
  char *t = NULL;
  int none;
  if (el && recipe_elem_text(ds, el, &t, &none) != SI_OK)
    return NULL;
  return t;
}

static int is_string_vr(si_vr vr) { return si_vr_is_string(vr); }

/* Numbers sendit/edit.h sets from text ("" gives an empty value). */
static int is_number_vr(si_vr vr) {
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

/* Records (ds, tag)'s value before it is removed or replaced, when it can
 * identify someone: an identifying tag (the profile's list), or a name,
 * date, UID or free text of 4 characters or more (shorter codes would make
 * the leak scan find them everywhere). */
static si_status record(applier *a, const si_dataset *ds, uint32_t tag) {
  const si_element *el = si_dataset_find(ds, tag);
  if (!el || !el->value_len || !is_string_vr(el->vr) || !a->run->report)
    return SI_OK;
  int always = deid_is_identifying_tag(tag) || el->vr == SI_VR_PN;
  switch (el->vr) {
  case SI_VR_PN:
  case SI_VR_DA:
  case SI_VR_DT:
  case SI_VR_UI:
  case SI_VR_LO:
  case SI_VR_SH:
  case SI_VR_LT:
  case SI_VR_ST:
  case SI_VR_UT:
  case SI_VR_UC:
    break;
  default:
    if (!always)
      return SI_OK;
  }
  char *t = text_of(ds, tag);
  if (!t)
    return SI_OK;
  si_status st = SI_OK;
  size_t start = 0, n = strlen(t);
  for (size_t i = 0; i <= n && st == SI_OK; i++)
    if (i == n || t[i] == '\\') {
      if (always || i - start >= 4)
        st = deid_record_value(a->run, tag, t + start, i - start, a->err);
      start = i + 1;
    }
  free(t);
  return st;
}

/* ---- values ---- */

/* The 128-bit number of a "2.25.N" UID, as a UUID's hex form. */
static void uuid_from_remap(const char *uid, char out[37]) {
  unsigned __int128 v = 0;
  for (const char *p = uid + 5; *p >= '0' && *p <= '9'; p++)
    v = v * 10 + (unsigned)(*p - '0');
  uint8_t b[16];
  for (int i = 15; i >= 0; i--, v >>= 8)
    b[i] = (uint8_t)v;
  b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4, as uuid.uuid4() */
  b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
}

/* The keyed remap of the element's value, or (absent) of the study's UID and
 * the field, so that an ADDed UID is the same for every file of a study. */
static si_status remap(applier *a, const recipe_action *act, const char *current, uint32_t tag,
                       char out[65]) {
  if (!a->run->opts || !a->run->opts->key)
    return action_error(a, act, tag, SI_ERR_STATE, "a UID function needs the site's key");
  char seed[200];
  if (current && *current)
    snprintf(seed, sizeof seed, "%s", current);
  else
    snprintf(seed, sizeof seed, "%s/%s", a->study_uid ? a->study_uid : "", act->field.text);
  si_deid_uid_remap(a->run->opts->key, seed, strlen(seed), out);
  if (a->run->report)
    a->run->report->uids_remapped++;
  return SI_OK;
}

static int32_t subject_shift(const applier *a, int *ok) {
  *ok = a->run->subject != NULL;
  return a->run->subject ? a->run->subject->day_shift : 0;
}

/* The text an action's value gives for the element (current: its value
 * now, NULL when absent; name: its nested name). *out NULL: undefined (a
 * var: deid cannot resolve), which ADD skips and REPLACE refuses. */
static si_status value_text(applier *a, size_t ai, const recipe_elem *x, const char *current,
                            uint32_t tag, char **out) {
  const recipe_action *act = &a->r->actions[ai];
  const recipe_value *v = &act->value;
  char buf[128];
  *out = NULL;
  switch (v->kind) {
  case VALUE_LITERAL:
    *out = strdup(v->text);
    return *out ? SI_OK : nomem(a);
  case VALUE_VAR:
    if (a->var_text[ai])
      *out = strdup(a->var_text[ai]);
    return !a->var_text[ai] || *out ? SI_OK : nomem(a);
  case VALUE_FUNC:
    if (v->func == FUNC_GENERATE_UID) {
      char uid[65];
      si_status st = remap(a, act, current, tag, uid);
      if (st != SI_OK)
        return st;
      *out = strdup(uid);
    } else if (v->func == FUNC_DAY_SHIFT) {
      int ok;
      int32_t d = subject_shift(a, &ok);
      if (!ok)
        return SI_OK;
      snprintf(buf, sizeof buf, "%d", (int)d);
      *out = strdup(buf);
    } else
      return SI_OK;
    return *out ? SI_OK : nomem(a);
  case VALUE_DEID_FUNC: {
    char uid[65], uuid[37];
    si_status st;
    switch ((recipe_deid_func)v->func) {
    case DEID_FUNC_JITTER: {
      const si_element *el = x ? si_dataset_find(x->ds, x->tag) : NULL;
      if (!el || !current || !*current || (el->vr != SI_VR_DA && el->vr != SI_VR_DT))
        return SI_OK;
      char shifted[1024];
      si_error e;
      if (deid_shift_date(el->vr, current, strlen(current), v->days, shifted, sizeof shifted, &e) !=
          SI_OK)
        return action_error(a, act, tag, SI_ERR_VALUE, e.message);
      *out = strdup(shifted);
      break;
    }
    case DEID_FUNC_PYDICOM_UUID:
      if ((st = remap(a, act, current, tag, uid)) != SI_OK)
        return st;
      if (v->prefix && strcmp(v->prefix, "2.25.") != 0) {
        snprintf(buf, sizeof buf, "%s%s", v->prefix, uid + 5);
        buf[64] = 0;
        while (strlen(buf) > 1 && buf[strlen(buf) - 1] == '.')
          buf[strlen(buf) - 1] = 0;
        *out = strdup(buf);
      } else
        *out = strdup(uid);
      break;
    case DEID_FUNC_DICOM_UUID:
      if ((st = remap(a, act, current, tag, uid)) != SI_OK)
        return st;
      snprintf(buf, sizeof buf, "%s.%s", v->org_root ? v->org_root : "anonymous-organization",
               uid + 5);
      buf[64] = 0;
      *out = strdup(buf);
      break;
    case DEID_FUNC_SUFFIX_UUID: {
      if ((st = remap(a, act, current, tag, uid)) != SI_OK)
        return st;
      uuid_from_remap(uid, uuid);
      char *lname = x ? x->lname : NULL;
      char lower[128];
      if (!lname) {
        snprintf(lower, sizeof lower, "%s", act->field.text);
        for (char *p = lower; *p; p++)
          *p = (char)tolower((unsigned char)*p);
        lname = lower;
      }
      size_t n = strlen(lname) + 40;
      *out = malloc(n);
      if (*out)
        snprintf(*out, n, "%s-%s", lname, uuid);
      break;
    }
    case DEID_FUNC_BASIC_UUID:
      if ((st = remap(a, act, current, tag, uid)) != SI_OK)
        return st;
      uuid_from_remap(uid, uuid);
      *out = strdup(uuid);
      break;
    }
    return *out ? SI_OK : nomem(a);
  }
  case VALUE_NONE:
  case VALUE_EXPANDER:
    break;
  }
  return SI_OK;
}

/* JITTER's days. */
static si_status jitter_days(applier *a, size_t ai, int32_t *days, int *ok) {
  const recipe_action *act = &a->r->actions[ai];
  const recipe_value *v = &act->value;
  *ok = 1;
  const char *text = NULL;
  if (v->kind == VALUE_DEID_FUNC && v->func == DEID_FUNC_JITTER) {
    *days = v->days;
    return SI_OK;
  }
  if (v->kind == VALUE_FUNC && v->func == FUNC_DAY_SHIFT) {
    *days = subject_shift(a, ok);
    return SI_OK;
  }
  if (v->kind == VALUE_LITERAL)
    text = v->text;
  else if (v->kind == VALUE_VAR)
    text = a->var_text[ai];
  if (!text) {
    *ok = 0;
    return SI_OK;
  }
  char *end;
  long d = strtol(text, &end, 10);
  if (!*text || *end || d < -1000000 || d > 1000000)
    return action_error(a, act, SI_NO_TAG, SI_ERR_VALUE, "the value is not a whole number of days");
  *days = (int32_t)d;
  return SI_OK;
}

/* ---- preparing: var: values, groups, KEEP and REPLACE/JITTER selections ---- */

static char *shifted_original(applier *a, uint32_t tag) {
  const si_dataset *top = si_file_dataset(a->file);
  char *t = text_of(top, tag);
  int ok;
  int32_t d = subject_shift(a, &ok);
  if (!t || !*t || !ok) {
    free(t);
    return NULL;
  }
  char out[256];
  si_error e;
  const si_element *el = si_dataset_find(top, tag);
  si_status st = deid_shift_date(el->vr, t, strlen(t), d, out, sizeof out, &e);
  free(t);
  return st == SI_OK ? strdup(out) : NULL;
}

/* var:NAME: the subject's identifiers, then the image's own field. */
static si_status resolve_var(applier *a, const char *name, char **out) {
  const si_deid_subject *s = a->run->subject;
  const char *v = NULL;
  char buf[32];
  *out = NULL;
  if (strcmp(name, "entity_id") == 0)
    v = s ? s->patient_code : NULL;
  else if (strcmp(name, "item_id") == 0)
    v = s ? s->study_code : NULL;
  else if (strcmp(name, "jitter") == 0 && s) {
    snprintf(buf, sizeof buf, "%d", (int)s->day_shift);
    v = buf;
  } else if (strcmp(name, "entity_timestamp") == 0) {
    *out = a->entity_ts ? strdup(a->entity_ts) : NULL;
    return !a->entity_ts || *out ? SI_OK : nomem(a);
  } else if (strcmp(name, "item_timestamp") == 0) {
    *out = a->item_ts ? strdup(a->item_ts) : NULL;
    return !a->item_ts || *out ? SI_OK : nomem(a);
  } else {
    const si_dict_entry *d = si_dict_lookup_keyword(name);
    if (d && d->mask == 0xFFFFFFFFu)
      *out = text_of(si_file_dataset(a->file), d->tag);
    return SI_OK;
  }
  if (v) {
    *out = strdup(v);
    if (!*out)
      return nomem(a);
  }
  return SI_OK;
}

/* Whether elems[i] is selected by field (groups included). */
static int selects(applier *a, const recipe_field *f, size_t i) {
  const recipe_elem *x = &a->e.v[i];
  if (!recipe_elem_alive(&a->e, i))
    return 0;
  if (f->kind == FIELD_FIELDS) {
    for (size_t k = 0; k < a->field_count[f->group_ref]; k++)
      if (a->field_tags[f->group_ref][k] == x->tag)
        return 1;
    return 0;
  }
  if (f->kind == FIELD_VALUES) {
    size_t n = a->value_count[f->group_ref];
    if (!n)
      return 0;
    const si_element *el = si_dataset_find(x->ds, x->tag);
    char *t = NULL;
    int none;
    if (!el || recipe_elem_text(x->ds, el, &t, &none) != SI_OK || !t)
      return 0;
    for (char *p = t; *p; p++)
      *p = (char)tolower((unsigned char)*p);
    int hit = 0;
    for (size_t k = 0; k < n && !hit; k++)
      hit = strstr(t, a->values[f->group_ref][k]) != NULL;
    free(t);
    return hit;
  }
  return recipe_field_matches(f, x);
}

static si_status add_value(applier *a, size_t g, const char *s, size_t n) {
  if (!n)
    return SI_OK;
  char *low = malloc(n + 1);
  if (!low)
    return nomem(a);
  for (size_t i = 0; i < n; i++)
    low[i] = (char)tolower((unsigned char)s[i]);
  low[n] = 0;
  for (size_t k = 0; k < a->value_count[g]; k++)
    if (strcmp(a->values[g][k], low) == 0) {
      free(low);
      return SI_OK;
    }
  char **nv = realloc(a->values[g], (a->value_count[g] + 1) * sizeof *nv);
  if (!nv) {
    free(low);
    return nomem(a);
  }
  a->values[g] = nv;
  nv[a->value_count[g]++] = low;
  return SI_OK;
}

/* deid's extract_values_list / extract_fields_list, on the original file. */
static si_status collect_groups(applier *a) {
  const si_deid_recipe *r = a->r;
  size_t ng = r->group_count;
  a->values = calloc(ng + 1, sizeof *a->values);
  a->value_count = calloc(ng + 1, sizeof *a->value_count);
  a->field_tags = calloc(ng + 1, sizeof *a->field_tags);
  a->field_count = calloc(ng + 1, sizeof *a->field_count);
  if (!a->values || !a->value_count || !a->field_tags || !a->field_count)
    return nomem(a);
  for (size_t g = 0; g < ng; g++) {
    const recipe_group *grp = &r->groups[g];
    for (size_t k = 0; k < grp->count; k++) {
      const recipe_group_action *ga = &grp->actions[k];
      for (size_t i = 0; i < a->e.count; i++) {
        if (!recipe_field_matches(&ga->field, &a->e.v[i]))
          continue;
        const recipe_elem *x = &a->e.v[i];
        if (!grp->is_values) {
          uint32_t *nt = realloc(a->field_tags[g], (a->field_count[g] + 1) * sizeof *nt);
          if (!nt)
            return nomem(a);
          a->field_tags[g] = nt;
          nt[a->field_count[g]++] = x->tag;
          continue;
        }
        const si_element *el = si_dataset_find(x->ds, x->tag);
        char *t = NULL;
        int none;
        if (!el || recipe_elem_text(x->ds, el, &t, &none) != SI_OK || !t)
          continue;
        const char *sep = ga->split ? (ga->split_by ? ga->split_by : " ") : "\\";
        size_t sl = strlen(sep), start = 0, n = strlen(t);
        si_status st = SI_OK;
        for (size_t p = 0; p <= n && st == SI_OK;) {
          if (p == n || strncmp(t + p, sep, sl) == 0) {
            if (p - start >= (ga->split ? ga->minlength : 1))
              st = add_value(a, g, t + start, p - start);
            p += p == n ? 1 : sl;
            start = p;
          } else
            p++;
        }
        free(t);
        if (st != SI_OK)
          return st;
      }
    }
  }
  return SI_OK;
}

static si_status prepare(applier *a) {
  const si_deid_recipe *r = a->r;
  si_status st = recipe_elems_collect(a->file, &a->e, a->err);
  if (st != SI_OK)
    return st;
  const si_dataset *top = si_file_dataset(a->file);
  a->patient_name = text_of(top, TAG_PATIENT_NAME);
  a->study_uid = text_of(top, TAG_STUDY_UID);
  a->entity_ts = shifted_original(a, TAG_BIRTH_DATE);
  a->item_ts = shifted_original(a, TAG_STUDY_DATE);
  a->var_text = calloc(r->action_count + 1, sizeof *a->var_text);
  if (!a->var_text)
    return nomem(a);
  for (size_t i = 0; i < r->action_count; i++)
    if (r->actions[i].value.kind == VALUE_VAR &&
        (st = resolve_var(a, r->actions[i].value.text, &a->var_text[i])) != SI_OK)
      return st;
  if ((st = collect_groups(a)) != SI_OK)
    return st;
  /* KEEP and REPLACE / JITTER selections, on the original file; a kept
   * sequence keeps what it holds (deid does not look inside it) */
  for (size_t i = 0; i < a->e.count; i++) {
    recipe_elem *x = &a->e.v[i];
    if (x->parent != SIZE_MAX && (a->e.v[x->parent].flags & RECIPE_ELEM_KEEP))
      x->flags |= RECIPE_ELEM_KEEP | RECIPE_ELEM_DECIDED;
    for (size_t k = 0; k < r->action_count; k++) {
      recipe_action_kind kind = r->actions[k].kind;
      if (kind != RECIPE_KEEP && kind != RECIPE_REPLACE && kind != RECIPE_JITTER)
        continue;
      if (!selects(a, &r->actions[k].field, i))
        continue;
      x->flags |=
          kind == RECIPE_KEEP ? RECIPE_ELEM_KEEP | RECIPE_ELEM_DECIDED : RECIPE_ELEM_NOREMOVE;
    }
  }
  return SI_OK;
}

/* ---- the actions ---- */

/* ADD: sets the element at the top (or in the meta for group 0002),
 * creating it; a KEEP does not stop it (deid's tests). */
static si_status do_add(applier *a, size_t ai) {
  const recipe_action *act = &a->r->actions[ai];
  const recipe_field *f = &act->field;
  uint32_t tag;
  si_dataset *top = si_file_dataset_mut(a->file);
  if (f->kind == FIELD_PRIVATE) {
    const si_element *el = recipe_field_find(top, f);
    if (!el)
      return action_error(a, act, SI_NO_TAG, SI_ERR_VALUE,
                          "the data set does not reserve that private block");
    tag = el->tag;
  } else if (f->has_tag)
    tag = f->tag;
  else
    tag = si_dict_lookup_keyword(f->text)->tag;
  int meta = SI_TAG_GROUP(tag) == 0x0002;
  si_dataset *ds = meta ? si_file_meta_mut(a->file) : top;
  size_t at = SIZE_MAX;
  for (size_t i = 0; i < a->e.count; i++)
    if (a->e.v[i].ds == ds && a->e.v[i].tag == tag && recipe_elem_alive(&a->e, i))
      at = i;
  char *current = text_of(ds, tag);
  char *value = NULL;
  si_status st = value_text(a, ai, at == SIZE_MAX ? NULL : &a->e.v[at], current, tag, &value);
  if (st == SI_OK && value) {
    if (si_dataset_find(ds, tag) && (st = record(a, ds, tag)) == SI_OK && a->run->report)
      a->run->report->replaced++;
    si_error e;
    if (st == SI_OK && si_ds_set_text(a->file, ds, tag, value, &e) != SI_OK)
      st = action_error(a, act, tag, e.code, e.message);
  }
  free(current);
  free(value);
  if (st != SI_OK || !si_dataset_find(ds, tag))
    return st;
  if (at == SIZE_MAX) {
    if ((st = recipe_elems_add(&a->e, ds, si_dataset_find(ds, tag), SIZE_MAX, meta, a->err)) !=
        SI_OK)
      return st;
    at = a->e.count - 1;
  }
  a->e.v[at].flags |= RECIPE_ELEM_DECIDED;
  return SI_OK;
}

/* is_name: the value holds a part (3 characters or more) of PatientName. */
static int holds_name(const applier *a, const char *value) {
  if (!a->patient_name || !value)
    return 0;
  char *name = strdup(a->patient_name), *low = strdup(value);
  int hit = 0;
  if (name && low) {
    for (char *p = low; *p; p++)
      *p = (char)tolower((unsigned char)*p);
    for (char *p = name; *p; p++)
      *p = (char)tolower((unsigned char)*p);
    char *save = NULL;
    for (char *part = strtok_r(name, "^=\\ ", &save); part && !hit;
         part = strtok_r(NULL, "^=\\ ", &save))
      hit = strlen(part) >= 3 && strstr(low, part) != NULL;
  }
  free(name);
  free(low);
  return hit;
}

/* REMOVE's condition on the element's value now. */
static int remove_condition(applier *a, const recipe_value *v, const recipe_elem *x) {
  if (v->kind == VALUE_NONE)
    return 1;
  const si_element *el = si_dataset_find(x->ds, x->tag);
  char *t = NULL;
  int none = 0;
  if (el && recipe_elem_text(x->ds, el, &t, &none) != SI_OK)
    return 1; /* out of memory: remove rather than keep */
  int result = 0;
  if (v->kind == VALUE_FUNC)
    result = holds_name(a, t);
  else if (v->kind == VALUE_EXPANDER) {
    if (t)
      for (char *p = t; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    switch ((recipe_criterion_kind)v->func) {
    case CRIT_CONTAINS:
      result = t && recipe_pattern_search(&v->pat, t);
      break;
    case CRIT_NOTCONTAINS:
      result = !(t && recipe_pattern_search(&v->pat, t));
      break;
    case CRIT_EQUALS:
      result = t && strcmp(t, v->text) == 0;
      break;
    case CRIT_NOTEQUALS:
      result = !(t && strcmp(t, v->text) == 0);
      break;
    case CRIT_MISSING:
      result = none;
      break;
    case CRIT_PRESENT:
      result = !none;
      break;
    case CRIT_EMPTY:
      result = t && !*t;
      break;
    }
  }
  free(t);
  return result;
}

static si_status on_element(applier *a, size_t ai, size_t i) {
  const recipe_action *act = &a->r->actions[ai];
  recipe_elem *x = &a->e.v[i];
  if (x->flags & RECIPE_ELEM_KEEP)
    return SI_OK;
  si_deid_report *rep = a->run->report;
  si_error e;
  si_status st = SI_OK;
  const si_element *el = si_dataset_find(x->ds, x->tag);
  if (!el)
    return SI_OK;
  switch (act->kind) {
  case RECIPE_REMOVE:
    if ((x->flags & RECIPE_ELEM_NOREMOVE) || !remove_condition(a, &act->value, x))
      return SI_OK;
    if ((st = record(a, x->ds, x->tag)) != SI_OK)
      return st;
    si_ds_remove(a->file, x->ds, x->tag);
    x->gone = 1;
    if (rep)
      rep->removed++;
    return SI_OK;
  case RECIPE_BLANK:
    if ((st = record(a, x->ds, x->tag)) != SI_OK)
      return st;
    if (el->vr == SI_VR_SQ || el->item_count) {
      st = si_ds_set_sequence(a->file, x->ds, x->tag, 0, NULL, &e);
      x->flags |= RECIPE_ELEM_CLEARED;
    } else if (is_string_vr(el->vr) || is_number_vr(el->vr))
      st = si_ds_set_text(a->file, x->ds, x->tag, "", &e);
    else
      st = si_ds_set_bytes(a->file, x->ds, x->tag, el->vr, "", 0, &e);
    if (st != SI_OK)
      return action_error(a, act, x->tag, e.code, e.message);
    if (rep)
      rep->emptied++;
    break;
  case RECIPE_REPLACE:
  case RECIPE_JITTER: {
    if (el->vr == SI_VR_SQ || el->item_count)
      return SI_OK; /* a sequence has no value to replace */
    char *current = text_of(x->ds, x->tag);
    char *value = NULL;
    if (act->kind == RECIPE_REPLACE) {
      st = value_text(a, ai, x, current, x->tag, &value);
      if (st == SI_OK && !value)
        st = action_error(a, act, x->tag, SI_ERR_VALUE,
                          "the value is undefined here (a var: without a value): the element "
                          "would keep its original");
    } else {
      int32_t days = 0;
      int ok;
      st = jitter_days(a, ai, &days, &ok);
      if (st == SI_OK && !ok)
        st = action_error(a, act, x->tag, SI_ERR_VALUE, "the number of days is undefined here");
      if (st == SI_OK && (el->vr != SI_VR_DA && el->vr != SI_VR_DT)) {
        free(current);
        return SI_OK; /* deid jitters dates and date-times only */
      }
      if (st == SI_OK && current && *current) {
        char shifted[1024];
        if (deid_shift_date(el->vr, current, strlen(current), days, shifted, sizeof shifted, &e) !=
            SI_OK)
          st = action_error(a, act, x->tag, SI_ERR_VALUE, e.message);
        else if (!(value = strdup(shifted)))
          st = nomem(a);
      }
    }
    if (st == SI_OK && value) {
      /* JITTER after REPLACE combines: record only what the file held */
      if (!(x->flags & RECIPE_ELEM_DECIDED))
        st = record(a, x->ds, x->tag);
      if (st == SI_OK && si_ds_set_text(a->file, x->ds, x->tag, value, &e) != SI_OK)
        st = action_error(a, act, x->tag, e.code, e.message);
      if (st == SI_OK && rep) {
        if (act->kind == RECIPE_JITTER)
          rep->dates_shifted++;
        else
          rep->replaced++;
      }
    }
    free(current);
    free(value);
    if (st != SI_OK)
      return st;
    break;
  }
  case RECIPE_ADD:
  case RECIPE_KEEP:
    return SI_OK;
  }
  x->flags |= RECIPE_ELEM_DECIDED;
  return SI_OK;
}

static si_status run_actions(applier *a) {
  for (size_t ai = 0; ai < a->r->action_count; ai++) {
    const recipe_action *act = &a->r->actions[ai];
    si_status st = SI_OK;
    if (act->kind == RECIPE_KEEP)
      continue;
    if (act->kind == RECIPE_ADD) {
      if ((st = do_add(a, ai)) != SI_OK)
        return st;
      continue;
    }
    size_t count = a->e.count;
    for (size_t i = 0; i < count && st == SI_OK; i++)
      if (selects(a, &act->field, i))
        st = on_element(a, ai, i);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}

static void applier_free(applier *a) {
  if (a->var_text)
    for (size_t i = 0; i < a->r->action_count; i++)
      free(a->var_text[i]);
  free(a->var_text);
  for (size_t g = 0; a->values && g < a->r->group_count; g++) {
    for (size_t k = 0; k < a->value_count[g]; k++)
      free(a->values[g][k]);
    free(a->values[g]);
    free(a->field_tags[g]);
  }
  free(a->values);
  free(a->value_count);
  free(a->field_tags);
  free(a->field_count);
  free(a->patient_name);
  free(a->study_uid);
  free(a->entity_ts);
  free(a->item_ts);
  recipe_elems_free(&a->e);
}

static si_status rules_apply(const void *self, si_deid_run *run, si_error *err) {
  const si_deid_recipe *r = self;
  if (!r->action_count)
    return SI_OK;
  applier a = {.r = r, .run = run, .file = run->file, .err = err};
  si_status st = prepare(&a);
  if (st == SI_OK)
    st = run_actions(&a);
  /* the profile leaves what the recipe decided (kept sequences' contents too) */
  for (size_t i = 0; st == SI_OK && i < a.e.count; i++)
    if ((a.e.v[i].flags & RECIPE_ELEM_DECIDED) && recipe_elem_alive(&a.e, i))
      st = deid_decided_mark(run, a.e.v[i].ds, a.e.v[i].tag, err);
  applier_free(&a);
  return st;
}

static si_status rules_filter(const void *self, const si_file *file, int *flagged, char *reason,
                              size_t size, si_error *err) {
  return si_deid_recipe_filter(self, file, flagged, reason, size, err);
}

void si_deid_recipe_rules(const si_deid_recipe *recipe, si_deid_rules *rules) {
  memset(rules, 0, sizeof *rules);
  rules->name = recipe->rules_name;
  rules->self = recipe;
  rules->filter = rules_filter;
  rules->apply = rules_apply;
}
