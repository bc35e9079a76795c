/* A destination's settings with its type's defaults. */
#include <string.h>

#include "sendit/destination.h"

const char *si_dest_get(const si_dest_config *d, const char *key) {
  if (!d || !key)
    return NULL;
  for (size_t i = 0; i < d->setting_count; i++)
    if (strcmp(d->settings[i].key, key) == 0)
      return d->settings[i].value;
  const si_dest_type *type = si_dest_type_find(d->type);
  if (!type)
    return NULL;
  for (size_t i = 0; i < type->key_count; i++)
    if (strcmp(type->keys[i].key, key) == 0)
      return type->keys[i].default_value;
  return NULL;
}
