/* sendit's configuration: printing the effective values for `sendit config`. */
#include "sendit/config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

/* "default", "file PATH:LINE" or "env NAME". */
void si_config_describe_origin(const si_config *cfg, size_t i, char *buf, size_t cap) {
  if (!cfg->origins) {
    snprintf(buf, cap, "unknown");
    return;
  }
  const struct si_config_origin *o = &cfg->origins[i];
  if (o->kind == FROM_FILE)
    snprintf(buf, cap, "file %s:%d", cfg->source_path, o->line);
  else if (o->kind == FROM_ENV)
    snprintf(buf, cap, "env %s", o->env);
  else
    snprintf(buf, cap, "default");
}

/* --- printing ---------------------------------------------------------- */

static int count_choices(const char *const *choices) {
  int n = 0;
  while (choices[n])
    n++;
  return n;
}

static void print_value(const si_config *cfg, const key_def *k, FILE *out) {
  const void *field = (const char *)cfg + k->offset;
  int i;
  switch (k->type) {
  case KT_STRING: {
    const char *s = *(char *const *)field;
    if (s && s[0])
      fprintf(out, " %s", s);
    break;
  }
  case KT_INT:
    fprintf(out, " %d", *(const int *)field);
    break;
  case KT_MB:
    fprintf(out, " %" PRId64, *(const int64_t *)field);
    break;
  case KT_BOOL:
    fprintf(out, " %s", *(const int *)field ? "true" : "false");
    break;
  case KT_ENUM:
    memcpy(&i, field, sizeof i);
    fprintf(out, " %s", (i >= 0 && i < count_choices(k->choices)) ? k->choices[i] : "?");
    break;
  }
}

void si_config_print(const si_config *cfg, FILE *out) {
  fprintf(out, "; sendit configuration: the effective value of every key.\n");
  if (cfg->source_path && cfg->source_path[0])
    fprintf(out, "; Read from defaults, then %s, then the environment.\n", cfg->source_path);
  else
    fprintf(out, "; Read from defaults, then the environment (no file).\n");
  const char *section = "";
  for (size_t i = 0; i < si_config_nkeys; i++) {
    const key_def *k = &si_config_keys[i];
    if (strcmp(section, k->section) != 0) {
      section = k->section;
      fprintf(out, "\n[%s]\n", section);
    } else {
      fputc('\n', out);
    }
    char origin[600];
    si_config_describe_origin(cfg, i, origin, sizeof origin);
    fprintf(out, "; %s\n; env %s%s%s\n; source: %s\n", k->help, k->env, k->alias ? " or " : "",
            k->alias ? k->alias : "", origin);
    const char *written = cfg->origins ? cfg->origins[i].written : NULL;
    const char *db_part = written && k->offset == offsetof(si_config, database)
                              ? si_config_database_path_part((char *)written)
                              : written;
    if (written && db_part && db_part[0] == '/')
      fprintf(out, "; written: %s (cleaned)\n", written);
    else if (written)
      fprintf(out, "; written: %s (relative to the %s)\n", written,
              cfg->origins[i].kind == FROM_FILE ? "config file's folder" : "current folder");
    fprintf(out, "%s =", k->key);
    print_value(cfg, k, out);
    fputc('\n', out);
  }
  si_config_dest_print(cfg, out);
}
