/* The [destination NAME] sections of the configuration (sendit/destination.h).
 *
 * While the file is read every key of a section is kept as a setting, so
 * that a key given twice is found like any other; once every source is
 * read (si_config_check_dests) the common keys are parsed out of the
 * settings into their fields and what is left is the type's, checked
 * against the type's table of keys and by its check. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

#define PREFIX "destination"

/* The common keys: where each goes, its default (NULL: none; numbers are
 * parsed from it by take_common) and its bounds. */
typedef enum common_kind { CK_TEXT, CK_INT, CK_I64 } common_kind;
typedef struct common_key {
  const char *key;
  common_kind kind;
  size_t offset;
  const char *def;
  int64_t min, max;
  const char *help;
} common_key;

static const common_key common_keys[] = {
    {"type", CK_TEXT, offsetof(si_dest_config, type), NULL, 0, 0,
     "dicom | dicomweb | folder | s3 (required)"},
    {"source", CK_TEXT, offsetof(si_dest_config, source), NULL, 0, 0,
     "deid | original (default deid when the deid stage runs, else original)"},
    {"filter_modalities", CK_TEXT, offsetof(si_dest_config, filter_modalities), "", 0, 0,
     "comma list of modalities sent there (\"\" = any)"},
    {"filter_calling_ae", CK_TEXT, offsetof(si_dest_config, filter_calling_ae), "", 0, 0,
     "comma list of calling AE titles whose images go there (\"\" = any)"},
    {"filter_labels", CK_TEXT, offsetof(si_dest_config, filter_labels), "", 0, 0,
     "comma list of deid recipe LABELs (\"\" = any)"},
    {"concurrency", CK_INT, offsetof(si_dest_config, concurrency), "2", 1, 64,
     "batches delivered to it at once (default 2)"},
    {"max_attempts", CK_INT, offsetof(si_dest_config, max_attempts), "10", 1, 1000,
     "attempts of a batch's send before it is given up (default 10)"},
    {"max_age_seconds", CK_I64, offsetof(si_dest_config, max_age_seconds), "86400", 1,
     INT64_MAX / 1000, "no retry once this long since the first attempt (default 86400)"},
    {"breaker_failures", CK_INT, offsetof(si_dest_config, breaker_failures), "5", 1, 1000,
     "consecutive failed attempts that open the circuit breaker (default 5)"},
    {"breaker_probe_seconds", CK_INT, offsetof(si_dest_config, breaker_probe_seconds), "30", 1,
     86400, "an open breaker lets one attempt through after this (default 30)"},
};
#define NCOMMON (sizeof common_keys / sizeof common_keys[0])

int si_config_dest_section(const char *section) {
  size_t n = strlen(PREFIX);
  return strncasecmp(section, PREFIX, n) == 0 && (section[n] == ' ' || section[n] == '\t');
}

/* The NAME of "destination NAME", blanks trimmed, into out[size]; why on a
 * bad name. */
static const char *section_name(const char *section, char *out, size_t size) {
  const char *p = section + strlen(PREFIX);
  while (*p == ' ' || *p == '\t')
    p++;
  size_t len = strlen(p);
  while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
    len--;
  if (!len)
    return "a destination needs a name: [destination NAME]";
  if (len >= size || len > 64)
    return "the destination's name is longer than 64 characters";
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_'))
      return "a destination's name has only letters, digits, '-' and '_' (it names jobs, rows "
             "and files)";
  }
  memcpy(out, p, len);
  out[len] = 0;
  return NULL;
}

static si_dest_config *find_dest(si_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->destination_count; i++)
    if (strcmp(cfg->destinations[i].name, name) == 0)
      return &cfg->destinations[i];
  return NULL;
}

static si_dest_config *add_dest(si_config *cfg, const char *name) {
  si_dest_config *grown =
      realloc(cfg->destinations, (cfg->destination_count + 1) * sizeof *cfg->destinations);
  if (!grown)
    return NULL;
  cfg->destinations = grown;
  si_dest_config *d = &grown[cfg->destination_count];
  memset(d, 0, sizeof *d);
  d->name = strdup(name);
  if (!d->name)
    return NULL;
  cfg->destination_count++;
  return d;
}

si_status si_config_dest_pair(si_config *cfg, const char *section, const char *key,
                              const char *value, char *why, size_t cap) {
  char name[80];
  const char *bad = section_name(section, name, sizeof name);
  if (bad) {
    snprintf(why, cap, "[%.100s]: %s", section, bad);
    return SI_ERR_CONFIG;
  }
  si_dest_config *d = find_dest(cfg, name);
  if (!d && !(d = add_dest(cfg, name))) {
    snprintf(why, cap, "out of memory");
    return SI_ERR_NOMEM;
  }
  for (size_t i = 0; i < d->setting_count; i++)
    if (strcasecmp(d->settings[i].key, key) == 0) {
      snprintf(why, cap, "[destination %s] %.60s is set twice", name, key);
      return SI_ERR_CONFIG;
    }
  si_dest_setting *grown = realloc(d->settings, (d->setting_count + 1) * sizeof *d->settings);
  if (!grown) {
    snprintf(why, cap, "out of memory");
    return SI_ERR_NOMEM;
  }
  d->settings = grown;
  si_dest_setting *s = &grown[d->setting_count];
  s->key = strdup(key);
  s->value = strdup(value ? value : "");
  if (!s->key || !s->value) {
    free(s->key);
    free(s->value);
    snprintf(why, cap, "out of memory");
    return SI_ERR_NOMEM;
  }
  for (char *c = s->key; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  d->setting_count++;
  return SI_OK;
}

static si_status config_error(si_error *err, const char *fmt, ...) SI_PRINTF(2, 3);
static si_status config_error(si_error *err, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG, "%s", msg);
}

/* Removes the blanks around the items of a comma list ("CT, MR" ->
 * "CT,MR"), in place, keeping those inside an item (a LABEL may have
 * several words) and dropping empty items. */
static void tidy_list(char *s) {
  char *w = s;
  for (char *r = s; *r;) {
    while (*r == ' ' || *r == '\t')
      r++;
    char *start = r;
    while (*r && *r != ',')
      r++;
    char *end = r;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    if (end > start) {
      if (w != s)
        *w++ = ',';
      memmove(w, start, (size_t)(end - start));
      w += end - start;
    }
    if (*r == ',')
      r++;
  }
  *w = 0;
}

static si_status set_common(si_dest_config *d, const common_key *k, char *value, si_error *err) {
  char *field = (char *)d + k->offset;
  if (k->kind == CK_TEXT) {
    if (strncmp(k->key, "filter_", 7) == 0)
      tidy_list(value);
    free(*(char **)field);
    *(char **)field = value;
    return SI_OK;
  }
  errno = 0;
  char *end = NULL;
  long long v = strtoll(value, &end, 10);
  si_status st = SI_OK;
  if (errno || end == value || *end || v < k->min || v > k->max)
    st = config_error(err,
                      "[destination %s] %s = \"%.80s\": expected a whole number from %" PRId64
                      " to %" PRId64,
                      d->name, k->key, value, k->min, k->max);
  else if (k->kind == CK_INT)
    *(int *)field = (int)v;
  else
    *(int64_t *)field = (int64_t)v;
  free(value);
  return st;
}

/* The defaults of the common keys' table, then the common keys out of
 * settings. */
static si_status take_common(si_dest_config *d, si_error *err) {
  for (size_t c = 0; c < NCOMMON; c++) {
    char *field = (char *)d + common_keys[c].offset;
    if (common_keys[c].kind == CK_INT)
      *(int *)field = (int)strtoll(common_keys[c].def, NULL, 10);
    else if (common_keys[c].kind == CK_I64)
      *(int64_t *)field = (int64_t)strtoll(common_keys[c].def, NULL, 10);
  }
  size_t kept = 0;
  si_status st = SI_OK;
  for (size_t i = 0; i < d->setting_count; i++) {
    const common_key *k = NULL;
    for (size_t c = 0; c < NCOMMON && !k; c++)
      if (strcmp(common_keys[c].key, d->settings[i].key) == 0)
        k = &common_keys[c];
    if (!k) {
      d->settings[kept++] = d->settings[i];
      continue;
    }
    free(d->settings[i].key);
    if (st == SI_OK)
      st = set_common(d, k, d->settings[i].value, err);
    else
      free(d->settings[i].value);
  }
  d->setting_count = kept;
  static const char *const texts[] = {"filter_modalities", "filter_calling_ae", "filter_labels"};
  for (size_t i = 0; st == SI_OK && i < sizeof texts / sizeof texts[0]; i++)
    for (size_t c = 0; c < NCOMMON; c++)
      if (strcmp(common_keys[c].key, texts[i]) == 0) {
        char **f = (char **)((char *)d + common_keys[c].offset);
        if (!*f && !(*f = strdup("")))
          st = si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
      }
  return st;
}

/* Whether the comma list `chain` names `stage`. */
static int chain_has(const char *chain, const char *stage) {
  size_t n = strlen(stage);
  for (const char *p = chain ? chain : ""; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == n && strncmp(p, stage, n) == 0)
      return 1;
    p += len + (comma ? 1 : 0);
  }
  return 0;
}

static si_status check_type_keys(const si_dest_config *d, const si_dest_type *t, si_error *err) {
  for (size_t i = 0; i < d->setting_count; i++) {
    int known = 0;
    for (size_t k = 0; k < t->key_count && !known; k++)
      known = strcmp(t->keys[k].key, d->settings[i].key) == 0;
    if (known)
      continue;
    char names[400] = "";
    size_t n = 0;
    for (size_t c = 0; c < NCOMMON && n < sizeof names; c++)
      n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", common_keys[c].key);
    for (size_t k = 0; k < t->key_count && n < sizeof names; k++)
      n += (size_t)snprintf(names + n, sizeof names - n, ", %s", t->keys[k].key);
    return config_error(err, "[destination %s] unknown key \"%s\" for type %s (known: %s)", d->name,
                        d->settings[i].key, t->name, names);
  }
  for (size_t k = 0; k < t->key_count; k++)
    if (t->keys[k].required && !si_dest_get(d, t->keys[k].key))
      return config_error(err, "[destination %s] %s is required for type %s (%s)", d->name,
                          t->keys[k].key, t->name, t->keys[k].help);
  return t->check ? t->check(d, err) : SI_OK;
}

static si_status check_one(si_config *cfg, si_dest_config *d, si_error *err) {
  si_status st = take_common(d, err);
  if (st != SI_OK)
    return st;
  if (!d->type || !d->type[0])
    return config_error(err, "[destination %s] type is required (one of the types built)", d->name);
  const si_dest_type *t = si_dest_type_find(d->type);
  if (!t) {
    char names[200] = "";
    size_t n = 0;
    for (size_t i = 0; si_dest_types[i] && n < sizeof names; i++)
      n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "",
                            si_dest_types[i]->name);
    return config_error(err, "[destination %s] type = \"%.60s\": unknown type (built: %s)", d->name,
                        d->type, n ? names : "none");
  }
  int deid = chain_has(cfg->pipeline_stages, "deid");
  /* Only the deid stage's recipe gives images a LABEL: without it such a
   * destination would never receive anything, which is a mistake to say
   * now rather than a silence to find later. */
  if (d->filter_labels[0] && !deid)
    return config_error(err,
                        "[destination %s] filter_labels = \"%.80s\": [pipeline] stages has no "
                        "deid stage, so no image has a recipe LABEL and nothing would go there",
                        d->name, d->filter_labels);
  if (d->filter_labels[0] && (!cfg->deid_recipe || !cfg->deid_recipe[0]))
    return config_error(err,
                        "[destination %s] filter_labels = \"%.80s\": [deid] recipe is not set, "
                        "so no image has a recipe LABEL and nothing would go there",
                        d->name, d->filter_labels);
  if (!d->source) {
    d->source = strdup(deid ? "deid" : "original");
    if (!d->source)
      return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  if (strcmp(d->source, "deid") != 0 && strcmp(d->source, "original") != 0)
    return config_error(err, "[destination %s] source = \"%.60s\": expected deid or original",
                        d->name, d->source);
  if (strcmp(d->source, "deid") == 0 && !deid)
    return config_error(err,
                        "[destination %s] source = deid, but [pipeline] stages has no deid "
                        "stage (add it, or say source = original)",
                        d->name);
  return check_type_keys(d, t, err);
}

si_status si_config_check_dests(si_config *cfg, si_error *err) {
  for (size_t i = 0; i < cfg->destination_count; i++) {
    si_status st = check_one(cfg, &cfg->destinations[i], err);
    if (st != SI_OK)
      return st;
  }
  if (chain_has(cfg->pipeline_stages, "send") && cfg->destination_count == 0)
    return config_error(err,
                        "[pipeline] stages = \"%s\" has send, but no [destination NAME] "
                        "section says where to",
                        cfg->pipeline_stages);
  return SI_OK;
}

void si_config_dest_free(si_config *cfg) {
  for (size_t i = 0; i < cfg->destination_count; i++) {
    si_dest_config *d = &cfg->destinations[i];
    free(d->name);
    for (size_t c = 0; c < NCOMMON; c++)
      if (common_keys[c].kind == CK_TEXT)
        free(*(char **)((char *)d + common_keys[c].offset));
    for (size_t s = 0; s < d->setting_count; s++) {
      free(d->settings[s].key);
      free(d->settings[s].value);
    }
    free(d->settings);
  }
  free(cfg->destinations);
  cfg->destinations = NULL;
  cfg->destination_count = 0;
}

static void print_common(const si_dest_config *d, const common_key *k, FILE *out) {
  const char *field = (const char *)d + k->offset;
  fprintf(out, "\n; %s\n%s =", k->help, k->key);
  if (k->kind == CK_TEXT) {
    const char *s = *(char *const *)field;
    if (s && s[0])
      fprintf(out, " %s", s);
  } else if (k->kind == CK_INT) {
    fprintf(out, " %d", *(const int *)field);
  } else {
    fprintf(out, " %" PRId64, *(const int64_t *)field);
  }
  fputc('\n', out);
}

/* Secrets never appear in the keys printed: only files holding them do. */
void si_config_dest_print(const si_config *cfg, FILE *out) {
  for (size_t i = 0; i < cfg->destination_count; i++) {
    const si_dest_config *d = &cfg->destinations[i];
    fprintf(out, "\n[destination %s]\n; source: file %s", d->name,
            cfg->source_path ? cfg->source_path : "");
    for (size_t c = 0; c < NCOMMON; c++)
      print_common(d, &common_keys[c], out);
    const si_dest_type *t = si_dest_type_find(d->type);
    for (size_t k = 0; t && k < t->key_count; k++) {
      const char *v = si_dest_get(d, t->keys[k].key);
      int set = 0;
      for (size_t s = 0; s < d->setting_count; s++)
        set |= strcmp(d->settings[s].key, t->keys[k].key) == 0;
      fprintf(out, "\n; %s (%s)\n%s =", t->keys[k].help, set ? "set" : "default", t->keys[k].key);
      if (v && v[0])
        fprintf(out, " %s", v);
      fputc('\n', out);
    }
  }
}

int si_config_dest_key_at(size_t i, si_config_key_info *out) {
  if (i >= NCOMMON || !out)
    return -1;
  const common_key *k = &common_keys[i];
  memset(out, 0, sizeof *out);
  out->section = PREFIX;
  out->key = k->key;
  out->type = k->kind == CK_TEXT ? "string" : "integer";
  out->def = k->def;
  out->ranged = k->kind != CK_TEXT;
  out->open_max = k->max >= INT_MAX; /* only the type's bound */
  out->min = k->min;
  out->max = k->max;
  out->help = k->help;
  return 0;
}
