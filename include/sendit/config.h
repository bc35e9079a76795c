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

#include "sendit/destination.h"
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
  int64_t high_water_mb; /* [storage] high_water_mb = 2048: resume above this */
  char *database;        /* [database] url = ./sendit.db (or postgresql://...) */
  int workers;           /* [queue] workers = 2 */
  int lease_seconds;     /* [queue] lease_seconds = 60 */
  int poll_seconds;      /* [queue] poll_seconds = 2 */
  int max_attempts;      /* [queue] max_attempts = 5 */
  char *pipeline_stages; /* [pipeline] stages = import (comma chain, import first; stages.h) */
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
  /* [deid]: the deid stage (README, "The deid stage"). */
  char *deid_dir;           /* [deid] folder = ./deid (one folder per coded study) */
  char *deid_recipe;        /* [deid] recipe = "" (a deid recipe file; "" = none) */
  char *deid_profile;       /* [deid] profile = basic (or none: the recipe alone) */
  char *deid_options;       /* [deid] options = retain-long-modified-dates (comma list) */
  char *deid_key_file;      /* [deid] key_file = ./sendit.deid.key (the UID remapping's key) */
  char *deid_identifiers;   /* [deid] identifiers = local (or http) */
  char *deid_url;           /* [deid] url = "" (the identifier service, for http) */
  char *deid_token_file;    /* [deid] token_file = "" (its bearer token; "" = none) */
  int deid_timeout_seconds; /* [deid] timeout_seconds = 30 */
  char *deid_name_pattern;  /* [deid] name_pattern = {study}_{series}_{instance}.dcm */
  int deid_keep_times;      /* [deid] keep_times = true */
  /* [dicom]: the daemon's DICOM listener (storage SCP, sendit/net.h). */
  char *dicom_listen;         /* [dicom] listen = "" (off), host:port, [v6]:port or *:port */
  char *dicom_ae_title;       /* [dicom] ae_title = SENDIT */
  char *dicom_allow;          /* [dicom] allow = "" (any): comma list of AE or AE@address */
  int dicom_max_associations; /* [dicom] max_associations = 16 */
  int dicom_timeout;          /* [dicom] timeout = 30 (seconds: ARTIM, a PDU once begun, answers) */
  int dicom_idle_timeout; /* [dicom] idle_timeout = 300 (seconds an association may be silent) */
  int dicom_max_pdu;      /* [dicom] max_pdu = 262144 (largest PDU received, bytes) */

  /* [dicom] TLS and user identity of the listener. */
  char *dicom_tls_cert;      /* [dicom] tls_cert = "" (plain TCP): the listener's PEM certificate */
  char *dicom_tls_key;       /* [dicom] tls_key = "": its private key */
  char *dicom_tls_ca;        /* [dicom] tls_ca = "": CAs of required client certificates */
  int dicom_tls_verify_peer; /* [dicom] tls_verify_peer = true */
  char *dicom_users_file;    /* [dicom] users_file = "" (no user identity required) */

  /* [cleanup]: the cleanup stage (README, "Cleanup"); on when the chain names it. */
  int cleanup_keep_originals_days; /* [cleanup] keep_originals_days = 0 (remove once confirmed) */
  int cleanup_keep_deid_days;      /* [cleanup] keep_deid_days = 0 */
  int cleanup_keep_errors;      /* [cleanup] keep_errors = true (never clean a batch with errors) */
  int cleanup_interval_seconds; /* [cleanup] interval_seconds = 60 (the daemon's sweep) */
  /* [destination NAME] sections (config_dest.c; sendit/destination.h), in
   * file order; owned. */
  si_dest_config *destinations;
  size_t destination_count;
  char *source_path;                /* the INI file read, or "" */
  struct si_config_origin *origins; /* per key; owned, freed by si_config_free */
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

/* The installed configuration file that si_config_load reads when it is
 * given no path and the current folder has no sendit.ini (the build's
 * sysconfdir: /etc/sendit/sendit.ini in the Debian package). A static
 * string; "" when the build names none. */
const char *si_config_system_path(void);

/* Writes the effective configuration as INI, each key with its source
 * (default, file, env) in a comment. */
void si_config_print(const si_config *cfg, FILE *out);

/* The table of keys, for documentation (`sendit manpage 5` writes
 * sendit.ini(5) from it, so the page and the program cannot disagree). */
typedef struct si_config_key_info {
  const char *section; /* "input", ...; "destination" for the common keys below */
  const char *key;
  const char *type;  /* "string", "integer", "boolean", "size in MB" or "choice" */
  const char *def;   /* the default as written in a file ("" = empty), or NULL */
  const char *env;   /* SENDIT_<SECTION>_<KEY>, or NULL */
  const char *alias; /* the short environment name, or NULL */
  int ranged;        /* numbers: min is set, and max unless open_max */
  int open_max;      /* no upper bound other than the type's */
  int64_t min, max;
  const char *const *choices; /* NULL-terminated allowed values, or NULL */
  const char *help;           /* one or more sentences */
} si_config_key_info;

/* Row i of the table of keys (grouped by section, in `sendit config`'s
 * order): 0 and *out filled (strings static), or -1 past the end. */
int si_config_key_at(size_t i, si_config_key_info *out);
/* Row i of the keys common to every [destination NAME] section (the
 * type's own keys are the type's table: si_dest_types, destination.h). */
int si_config_dest_key_at(size_t i, si_config_key_info *out);

#endif
