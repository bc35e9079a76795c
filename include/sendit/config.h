/* sendit's configuration: built-in defaults, then an INI file (inih), then
 * SENDIT_* environment variables. Every key is one row of a static table in
 * lib/util/config.c (section, key, type, default, help); `sendit config`
 * prints the effective values from that table.
 *
 * Ownership: si_config_load fills a caller-owned struct whose strings it
 * allocates; release them with si_config_free. */
#ifndef SENDIT_CONFIG_H
#define SENDIT_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "sendit/error.h"

typedef enum si_duplicate_policy {
  SI_DUP_KEEP_FIRST, /* keep the stored image, quarantine the newcomer (default) */
  SI_DUP_KEEP_LAST   /* replace the stored image, quarantine the old one */
} si_duplicate_policy;

/* Where each key's value came from, for si_config_print (internal to
 * config.c). */
struct si_config_origin;

typedef struct si_config {
  char *input_dir;        /* [input] folder = ./data */
  char *input_subfolders; /* [input] subfolders = "" (comma list; "" = the folder itself) */
  int rescan_seconds;     /* [input] rescan_seconds = 0 (off) */
  int stable_seconds;   /* [input] stable_seconds = 0 (off): import unrenamed folders idle this long
                         */
  char *storage_dir;    /* [storage] folder = ./storage */
  char *work_dir;       /* [storage] work = ./storage/.work (claimed folders) */
  char *quarantine_dir; /* [storage] quarantine = ./quarantine */
  int64_t low_water_mb; /* [storage] low_water_mb = 1024: pause intake below this free space */
  int64_t high_water_mb;                /* [storage] high_water_mb = 2048: resume above this */
  char *database;                       /* [database] url = ./sendit.db (or postgresql://...) */
  int workers;                          /* [queue] workers = 2 */
  int lease_seconds;                    /* [queue] lease_seconds = 60 */
  int poll_seconds;                     /* [queue] poll_seconds = 2 */
  int max_attempts;                     /* [queue] max_attempts = 5 */
  si_duplicate_policy duplicate_policy; /* [import] duplicates = keep-first */
  int skip_burned_in;                   /* [filters] skip_burned_in = false */
  char *modalities;                     /* [filters] modalities = "" (comma allow-list; "" = all) */
  char *log_dir;                        /* [daemon] logs = ./logs */
  char *pidfile;                        /* [daemon] pidfile = ./sendit.pid */
  char *log_level;                      /* [daemon] log_level = info */
  char *web_listen;                     /* [web] listen = 127.0.0.1:8000 */
  char *web_auth;                       /* [web] auth = password (or none: open, warned) */
  char *web_password_file;              /* [web] password_file = ./sendit.passwd */
  char *web_hosts;                      /* [web] hosts = "" (comma list; "" = the listen address) */
  int web_request_timeout;              /* [web] request_timeout = 10 (seconds) */
  int web_connections_per_address;      /* [web] connections_per_address = 64 */
  char *source_path;                    /* the INI file read, or "" */
  struct si_config_origin *origins;     /* per key; owned, freed by si_config_free */
} si_config;

/* Loads defaults, then `path` (NULL: ./sendit.ini when it exists; a path
 * given explicitly must exist), then the environment. Every value is
 * validated here: a bad setting is an SI_ERR_CONFIG naming the key.
 * Environment variables are SENDIT_<SECTION>_<KEY> (e.g. SENDIT_QUEUE_WORKERS)
 * plus the aliases SENDIT_DATABASE, SENDIT_WEB_LISTEN, SENDIT_DATA (input
 * folder) and SENDIT_WORKERS; the long name wins when both are set. Unknown
 * sections or keys in the file are errors, as is a key given twice, and so
 * is a SENDIT_<SECTION>_* variable of a known section that names no key of
 * it (other SENDIT_* names are not configuration); file lines must fit
 * inih's line buffer (about 200 characters). Relative paths come back
 * absolute: a file's own values relative to the file's folder, defaults and
 * environment values relative to the current folder (si_config_print shows
 * the value as written). On failure cfg holds nothing to free
 * (si_config_free is still safe). */
si_status si_config_load(si_config *cfg, const char *path, si_error *err);
void si_config_free(si_config *cfg);

/* Writes the effective configuration as INI, each key with its source
 * (default, file, env) in a comment. */
void si_config_print(const si_config *cfg, FILE *out);

#endif
