/* The configuration's key table and its types (internal to lib/util/config*.c).
 *
 * config.c holds the one table of keys, si_config_keys; config_load.c reads
 * the sources into a si_config through it and config_print.c prints it. */
#ifndef SENDIT_UTIL_CONFIG_INTERNAL_H
#define SENDIT_UTIL_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sendit/config.h"

/* The bound of KT_MB values: sizes in MB must still fit in int64_t once
 * converted to bytes. */
#define MB_MAX (INT64_MAX / (1024 * 1024))

typedef enum key_type { KT_STRING, KT_INT, KT_BOOL, KT_MB, KT_ENUM } key_type;

/* Extra rule for a string value. It may normalise the value in place (never
 * growing it); returns NULL when the value is fine, else why it is not. */
typedef const char *(*string_check)(char *value);

typedef struct key_def {
  const char *section;
  const char *key;
  key_type type;
  size_t offset;              /* of the field in si_config */
  const char *def;            /* parsed like any other value, so defaults are checked too */
  const char *env;            /* SENDIT_<SECTION>_<KEY> */
  const char *alias;          /* short environment name, or NULL */
  int64_t min, max;           /* KT_INT, KT_MB */
  const char *const *choices; /* KT_ENUM: names in enum order; KT_STRING: allowed values */
  string_check check;
  const char *help;
} key_def;

typedef enum origin_kind { FROM_DEFAULT, FROM_FILE, FROM_ENV } origin_kind;

struct si_config_origin {
  origin_kind kind;
  int line;        /* FROM_FILE */
  const char *env; /* FROM_ENV: the variable that was used (static storage) */
  char *written;   /* a path as written, before resolve_paths; owned, or NULL */
};

/* ---- config.c: the table of keys, the checks and parsing of values ---- */

/* Every key, grouped by section in the order `sendit config` prints them. */
extern const key_def si_config_keys[];
extern const size_t si_config_nkeys;

/* The check of path keys (resolve_paths makes exactly those absolute). */
const char *si_config_check_path(char *value);
/* The same for a path that may be empty ("" = none). */
const char *si_config_check_optional_path(char *value);
/* Parses `text` into k's field of cfg. SI_ERR_CONFIG fills `why`. */
si_status si_config_set_value(si_config *cfg, const key_def *k, const char *text, char *why,
                              size_t cap);
/* The key [section] key (case-insensitive), or NULL. */
const key_def *si_config_find_key(const char *section, const char *key);
bool si_config_section_exists(const char *section);
/* "a, b, c": the keys of `section`, or every section when it is NULL. */
void si_config_list_names(const char *section, char *buf, size_t cap);
/* k's row in si_config_keys (and in si_config.origins). */
size_t si_config_key_index(const key_def *k);

/* ---- config_deid.c: the [deid] keys' combined rules ---- */
si_status si_config_check_deid(const si_config *cfg, si_error *err);

/* ---- config_dest.c: the [destination NAME] sections ---- */

/* Whether inih's section name is "destination ..." (then the pair is
 * si_config_dest_pair's). */
int si_config_dest_section(const char *section);
/* One key of a destination section, as read; SI_ERR_CONFIG fills why. */
si_status si_config_dest_pair(si_config *cfg, const char *section, const char *key,
                              const char *value, char *why, size_t cap);
/* Once every source is read: common keys parsed out of the settings, the
 * type's keys and check, and a chain with send has a destination. */
si_status si_config_check_dests(si_config *cfg, si_error *err);
void si_config_dest_free(si_config *cfg);
void si_config_dest_print(const si_config *cfg, FILE *out);

/* ---- config_load.c ---- */

/* The part of a [database] url that is a file path to resolve, or NULL. */
char *si_config_database_path_part(char *url);

/* ---- config_print.c ---- */

/* "default", "file PATH:LINE" or "env NAME" for key i of cfg. */
void si_config_describe_origin(const si_config *cfg, size_t i, char *buf, size_t cap);

#endif
