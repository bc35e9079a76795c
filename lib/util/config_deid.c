/* The [deid] keys' rules that involve more than one key, checked once every
 * source is applied (config_load.c's check_combined): the profile and its
 * options as the engine reads them, a profile or a recipe at all, and a URL
 * for the http identifier service. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "sendit/deid.h"

static size_t index_of(size_t offset) {
  size_t i = 0;
  while (i < si_config_nkeys && si_config_keys[i].offset != offset)
    i++;
  return i;
}

static si_status fail_key(const si_config *cfg, size_t offset, const char *value, const char *why,
                          si_error *err) {
  size_t i = index_of(offset);
  char origin[600];
  si_config_describe_origin(cfg, i, origin, sizeof origin);
  return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                      "[deid] %s = \"%s\" (%s): %s", si_config_keys[i].key, value, origin, why);
}

si_status si_config_check_deid(const si_config *cfg, si_error *err) {
  if (strcmp(cfg->deid_profile, "basic") == 0) {
    /* The engine's parser is the one list of option names. */
    size_t len = strlen(cfg->deid_options) + 8;
    char *text = malloc(len);
    if (!text)
      return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    snprintf(text, len, "basic%s%s", cfg->deid_options[0] ? "," : "", cfg->deid_options);
    unsigned bits = 0;
    si_error perr;
    si_error_clear(&perr);
    si_status st = si_deid_profile_parse(text, &bits, &perr);
    free(text);
    if (st != SI_OK)
      return fail_key(cfg, offsetof(si_config, deid_options), cfg->deid_options, perr.message, err);
  } else if (!cfg->deid_recipe[0]) {
    return fail_key(cfg, offsetof(si_config, deid_profile), cfg->deid_profile,
                    "with no profile, [deid] recipe must name a recipe (else nothing would be "
                    "de-identified)",
                    err);
  }
  /* The pattern's fields, on an empty data set (the engine's rule). */
  si_file *probe = NULL;
  char name[256];
  si_error perr;
  si_error_clear(&perr);
  si_status st = si_file_new(&probe, &perr);
  if (st == SI_OK)
    st = si_deid_output_name(probe, cfg->deid_name_pattern, "STUDY", "PATIENT", name, sizeof name,
                             &perr);
  si_file_free(probe);
  if (st == SI_ERR_NOMEM)
    return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (st != SI_OK)
    return fail_key(cfg, offsetof(si_config, deid_name_pattern), cfg->deid_name_pattern,
                    perr.message, err);
  if (strcmp(cfg->deid_identifiers, "http") == 0 && !cfg->deid_url[0])
    return fail_key(cfg, offsetof(si_config, deid_identifiers), cfg->deid_identifiers,
                    "the identifier service needs [deid] url", err);
  return SI_OK;
}
