/* The table of configuration keys as plain descriptions (sendit/config.h,
 * si_config_key_at), for the documentation the program writes about itself:
 * `sendit manpage 5` turns these rows into sendit.ini(5), so the page lists
 * exactly the keys, defaults and bounds that the loader uses. */
#include <limits.h>
#include <string.h>

#include "config_internal.h"

static const char *type_name(const key_def *k) {
  if (k->choices)
    return "choice";
  switch (k->type) {
  case KT_INT:
    return "integer";
  case KT_BOOL:
    return "boolean";
  case KT_MB:
    return "size in MB";
  case KT_ENUM:
    return "choice";
  case KT_STRING:
    break;
  }
  return "string";
}

int si_config_key_at(size_t i, si_config_key_info *out) {
  if (i >= si_config_nkeys || !out)
    return -1;
  const key_def *k = &si_config_keys[i];
  memset(out, 0, sizeof *out);
  out->section = k->section;
  out->key = k->key;
  out->type = type_name(k);
  out->def = k->def;
  out->env = k->env;
  out->alias = k->alias;
  out->ranged = k->type == KT_INT || k->type == KT_MB;
  out->open_max = k->max == INT_MAX || k->max == MB_MAX; /* only the type's bound */
  out->min = k->min;
  out->max = k->max;
  out->choices = k->choices;
  out->help = k->help;
  return 0;
}
