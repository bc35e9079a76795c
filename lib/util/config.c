/* sendit's configuration: the one table of keys, the checks of their values and their parsing.
 *
 * sendit's configuration. One static table row per key drives the default, the
 * INI file, the environment, validation and `sendit config` output, so a new
 * key is one row and none of those paths can forget it. */
#include "sendit/config.h"
#include "sendit/stages.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

/* KT_ENUM fields are stored through an int. */
_Static_assert(sizeof(si_duplicate_policy) == sizeof(int), "enum fields are int-sized");

static const char *check_subfolders(char *value);
static const char *check_modalities(char *value);
static const char *check_listen(char *value);
static const char *check_web_hosts(char *value);
static const char *check_stages(char *value);
static const char *check_deid_options(char *value);
static const char *check_url(char *value);
static const char *check_dicom_listen(char *value);
static const char *check_ae_title(char *value);
static const char *check_dicom_allow(char *value);

static const char *const duplicate_names[] = {"keep-first", "keep-last", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const web_auth_names[] = {"password", "none", NULL};
static const char *const deid_profile_names[] = {"basic", "none", NULL};
static const char *const deid_identifier_names[] = {"local", "http", NULL};

#define F(field) offsetof(si_config, field)

const key_def si_config_keys[] = {
    {"input", "folder", KT_STRING, F(input_dir), "./data", "SENDIT_INPUT_FOLDER", "SENDIT_DATA", 0,
     0, NULL, si_config_check_path, "Folder where senders drop studies, one folder per study."},
    {"input", "subfolders", KT_STRING, F(input_subfolders), "", "SENDIT_INPUT_SUBFOLDERS", NULL, 0,
     0, NULL, check_subfolders,
     "Comma list of subfolders of the input folder to watch; empty watches the folder itself."},
    {"input", "rescan_seconds", KT_INT, F(rescan_seconds), "0", "SENDIT_INPUT_RESCAN_SECONDS", NULL,
     0, INT_MAX, NULL, NULL,
     "Rescan the input folder this often, in case an event was missed; 0 turns it off."},
    {"input", "stable_seconds", KT_INT, F(stable_seconds), "0", "SENDIT_INPUT_STABLE_SECONDS", NULL,
     0, INT_MAX, NULL, NULL,
     "Import a folder nobody renamed once it has been idle this long; 0 waits for the rename."},
    {"storage", "folder", KT_STRING, F(storage_dir), "./storage", "SENDIT_STORAGE_FOLDER", NULL, 0,
     0, NULL, si_config_check_path, "Folder that holds the imported images."},
    {"storage", "work", KT_STRING, F(work_dir), "./storage/.work", "SENDIT_STORAGE_WORK", NULL, 0,
     0, NULL, si_config_check_path,
     "Folder that holds claimed input folders while they are imported."},
    {"storage", "quarantine", KT_STRING, F(quarantine_dir), "./quarantine",
     "SENDIT_STORAGE_QUARANTINE", NULL, 0, 0, NULL, si_config_check_path,
     "Folder for files that were not imported, each with its reason."},
    {"storage", "low_water_mb", KT_MB, F(low_water_mb), "1024", "SENDIT_STORAGE_LOW_WATER_MB", NULL,
     0, MB_MAX, NULL, NULL, "Pause intake when free space in storage falls below this (MB)."},
    {"storage", "high_water_mb", KT_MB, F(high_water_mb), "2048", "SENDIT_STORAGE_HIGH_WATER_MB",
     NULL, 0, MB_MAX, NULL, NULL,
     "Resume intake once free space is above this again (MB); at least low_water_mb."},
    {"database", "url", KT_STRING, F(database), "./sendit.db", "SENDIT_DATABASE_URL",
     "SENDIT_DATABASE", 0, 0, NULL, si_config_check_path,
     "SQLite database file, or a postgresql:// connection URL."},
    {"queue", "workers", KT_INT, F(workers), "2", "SENDIT_QUEUE_WORKERS", "SENDIT_WORKERS", 1, 64,
     NULL, NULL, "Import workers running in parallel (1 to 64)."},
    {"queue", "lease_seconds", KT_INT, F(lease_seconds), "60", "SENDIT_QUEUE_LEASE_SECONDS", NULL,
     5, 3600, NULL, NULL,
     "A job whose worker sent no heartbeat for this long goes back to the queue (5 to 3600)."},
    {"queue", "poll_seconds", KT_INT, F(poll_seconds), "2", "SENDIT_QUEUE_POLL_SECONDS", NULL, 1,
     3600, NULL, NULL,
     "Idle workers look for jobs this often (1 to 3600): taken-over leases, and on SQLite jobs "
     "other processes queued. On PostgreSQL new jobs wake them at once."},
    {"queue", "max_attempts", KT_INT, F(max_attempts), "5", "SENDIT_QUEUE_MAX_ATTEMPTS", NULL, 1,
     INT_MAX, NULL, NULL, "Attempts per job before it is marked failed."},
    {"pipeline", "stages", KT_STRING, F(pipeline_stages), "import", "SENDIT_PIPELINE_STAGES", NULL,
     0, 0, NULL, check_stages,
     "Comma list of the stages each batch goes through, import first: import, deid, send, cleanup "
     "(cleanup only after send; send needs a [destination NAME])."},
    {"import", "duplicates", KT_ENUM, F(duplicate_policy), "keep-first", "SENDIT_IMPORT_DUPLICATES",
     NULL, 0, 0, duplicate_names, NULL,
     "An image already stored: keep-first quarantines the newcomer, keep-last replaces the old."},
    {"filters", "skip_burned_in", KT_BOOL, F(skip_burned_in), "false",
     "SENDIT_FILTERS_SKIP_BURNED_IN", NULL, 0, 0, NULL, NULL,
     "Skip images whose BurnedInAnnotation is YES (any other value is imported)."},
    {"filters", "modalities", KT_STRING, F(modalities), "", "SENDIT_FILTERS_MODALITIES", NULL, 0, 0,
     NULL, check_modalities, "Comma list of modalities to import, like CT,MR; empty imports all."},
    {"daemon", "logs", KT_STRING, F(log_dir), "./logs", "SENDIT_DAEMON_LOGS", NULL, 0, 0, NULL,
     si_config_check_path, "Folder for the log file."},
    {"daemon", "pidfile", KT_STRING, F(pidfile), "./sendit.pid", "SENDIT_DAEMON_PIDFILE", NULL, 0,
     0, NULL, si_config_check_path, "File that holds the process id of the running daemon."},
    {"daemon", "log_level", KT_STRING, F(log_level), "info", "SENDIT_DAEMON_LOG_LEVEL", NULL, 0, 0,
     level_names, NULL, "Lowest level written to the log: debug, info, warn or error."},
    {"web", "listen", KT_STRING, F(web_listen), "127.0.0.1:8000", "SENDIT_WEB_LISTEN", NULL, 0, 0,
     NULL, check_listen, "Address of the web dashboard and API, host:port ([::1]:8000 for IPv6)."},
    {"web", "auth", KT_STRING, F(web_auth), "password", "SENDIT_WEB_AUTH", NULL, 0, 0,
     web_auth_names, NULL,
     "password: every page and API route needs the password; none: open to anyone (a warning)."},
    {"web", "password_file", KT_STRING, F(web_password_file), "./sendit.passwd",
     "SENDIT_WEB_PASSWORD_FILE", NULL, 0, 0, NULL, si_config_check_path,
     "File with the argon2id hashes of the web password and API token (sendit set_password)."},
    {"web", "hosts", KT_STRING, F(web_hosts), "", "SENDIT_WEB_HOSTS", NULL, 0, 0, NULL,
     check_web_hosts,
     "Comma list of the host names (host or host:port) clients may use in the Host header; "
     "empty: the listen address (and localhost names on loopback). Others get 421."},
    {"web", "request_timeout", KT_INT, F(web_request_timeout), "10", "SENDIT_WEB_REQUEST_TIMEOUT",
     NULL, 1, 3600, NULL, NULL,
     "Seconds a client has to send a whole request (line, headers, body) after connecting or "
     "after the previous answer; slower ones are disconnected (1 to 3600)."},
    {"web", "connections_per_address", KT_INT, F(web_connections_per_address), "64",
     "SENDIT_WEB_CONNECTIONS_PER_ADDRESS", NULL, 1, 256, NULL, NULL,
     "Open connections one client address may hold at once (1 to 256, of 256 in all)."},
    /* [deid]: the deid stage (lib/pipeline/stage_deid.c); keep these rows together. */
    {"deid", "folder", KT_STRING, F(deid_dir), "./deid", "SENDIT_DEID_FOLDER", NULL, 0, 0, NULL,
     si_config_check_path,
     "Folder for the de-identified copies, one folder per coded study (the deid stage)."},
    {"deid", "recipe", KT_STRING, F(deid_recipe), "", "SENDIT_DEID_RECIPE", NULL, 0, 0, NULL,
     si_config_check_optional_path,
     "A deid recipe file applied before the profile; empty: none (the profile alone)."},
    {"deid", "profile", KT_STRING, F(deid_profile), "basic", "SENDIT_DEID_PROFILE", NULL, 0, 0,
     deid_profile_names, NULL,
     "basic: the PS3.15 Basic Application Level Confidentiality Profile with [deid] options; "
     "none: the recipe alone (then [deid] recipe is required)."},
    {"deid", "options", KT_STRING, F(deid_options), "retain-long-modified-dates",
     "SENDIT_DEID_OPTIONS", NULL, 0, 0, NULL, check_deid_options,
     "Comma list of the profile's options (PS3.15 Table E.1-1), like retain-safe-private; "
     "retain-long-modified-dates shifts dates per patient, as the original jittered them."},
    {"deid", "key_file", KT_STRING, F(deid_key_file), "./sendit.deid.key", "SENDIT_DEID_KEY_FILE",
     NULL, 0, 0, NULL, si_config_check_path,
     "The site's secret for the UID remapping: made on first use (32 random bytes, mode 0600); "
     "every host of one site must share it."},
    {"deid", "identifiers", KT_STRING, F(deid_identifiers), "local", "SENDIT_DEID_IDENTIFIERS",
     NULL, 0, 0, deid_identifier_names, NULL,
     "Who gives pseudonyms and day shifts: local (a table in the database) or http (an identifier "
     "service at [deid] url)."},
    {"deid", "url", KT_STRING, F(deid_url), "", "SENDIT_DEID_URL", NULL, 0, 0, NULL, check_url,
     "The identifier service's URL (http:// or https://), for identifiers = http."},
    {"deid", "token_file", KT_STRING, F(deid_token_file), "", "SENDIT_DEID_TOKEN_FILE", NULL, 0, 0,
     NULL, si_config_check_optional_path,
     "File holding the identifier service's bearer token; empty: none."},
    {"deid", "timeout_seconds", KT_INT, F(deid_timeout_seconds), "30",
     "SENDIT_DEID_TIMEOUT_SECONDS", NULL, 1, 3600, NULL, NULL,
     "Seconds one request to the identifier service may take (1 to 3600)."},
    {"deid", "name_pattern", KT_STRING, F(deid_name_pattern), "{study}_{series}_{instance}.dcm",
     "SENDIT_DEID_NAME_PATTERN", NULL, 0, 0, NULL, NULL,
     "How de-identified files are named in their study's folder: text with {study}, {patient}, "
     "{series}, {instance}, {sop} and {modality} (the de-identified values)."},
    {"deid", "keep_times", KT_BOOL, F(deid_keep_times), "true", "SENDIT_DEID_KEEP_TIMES", NULL, 0,
     0, NULL, NULL, "Keep TM values (times of day) when dates are shifted; false removes them."},
    /* [dicom]: the DICOM listener (issue 15). */
    {"dicom", "listen", KT_STRING, F(dicom_listen), "", "SENDIT_DICOM_LISTEN", NULL, 0, 0, NULL,
     check_dicom_listen,
     "Address the daemon receives DICOM on (C-STORE, C-ECHO), host:port ([::]:11112 for IPv6, "
     "*:11112 for every address); empty: no listener."},
    {"dicom", "ae_title", KT_STRING, F(dicom_ae_title), "SENDIT", "SENDIT_DICOM_AE_TITLE", NULL, 0,
     0, NULL, check_ae_title,
     "The AE title the listener answers to; associations calling another are rejected."},
    {"dicom", "allow", KT_STRING, F(dicom_allow), "", "SENDIT_DICOM_ALLOW", NULL, 0, 0, NULL,
     check_dicom_allow,
     "Comma list of the calling AE titles accepted, each optionally AE@address (an IPv4 or IPv6 "
     "address the association must come from); empty accepts any."},
    {"dicom", "max_associations", KT_INT, F(dicom_max_associations), "16",
     "SENDIT_DICOM_MAX_ASSOCIATIONS", NULL, 1, 1024, NULL, NULL,
     "Associations received at once (1 to 1024); more are rejected (transient, local limit)."},
    {"dicom", "timeout", KT_INT, F(dicom_timeout), "30", "SENDIT_DICOM_TIMEOUT", NULL, 1, 86400,
     NULL, NULL,
     "Seconds for an association request, a release, the rest of a PDU once begun and the "
     "sending of an answer (1 to 86400)."},
    {"dicom", "idle_timeout", KT_INT, F(dicom_idle_timeout), "300", "SENDIT_DICOM_IDLE_TIMEOUT",
     NULL, 1, 86400, NULL, NULL,
     "Seconds an established association may send nothing before it is aborted (1 to 86400)."},
    {"dicom", "max_pdu", KT_INT, F(dicom_max_pdu), "262144", "SENDIT_DICOM_MAX_PDU", NULL, 4096,
     16777216, NULL, NULL, "Largest PDU the listener receives, in bytes (4096 to 16777216)."},
    {"dicom", "tls_cert", KT_STRING, F(dicom_tls_cert), "", "SENDIT_DICOM_TLS_CERT", NULL, 0, 0,
     NULL, si_config_check_optional_path,
     "The listener's TLS certificate (PEM, with its chain); set: every association is TLS; "
     "empty: plain TCP."},
    {"dicom", "tls_key", KT_STRING, F(dicom_tls_key), "", "SENDIT_DICOM_TLS_KEY", NULL, 0, 0, NULL,
     si_config_check_optional_path, "The private key of tls_cert (PEM, unencrypted)."},
    {"dicom", "tls_ca", KT_STRING, F(dicom_tls_ca), "", "SENDIT_DICOM_TLS_CA", NULL, 0, 0, NULL,
     si_config_check_optional_path,
     "CA certificates (PEM) that sign the clients' certificates; set (with tls_verify_peer): "
     "every client must present one they sign. Empty: no client certificate asked for."},
    {"dicom", "tls_verify_peer", KT_BOOL, F(dicom_tls_verify_peer), "true",
     "SENDIT_DICOM_TLS_VERIFY_PEER", NULL, 0, 0, NULL, NULL,
     "With tls_ca: require and verify client certificates; false: do not ask for them."},
    {"dicom", "users_file", KT_STRING, F(dicom_users_file), "", "SENDIT_DICOM_USERS_FILE", NULL, 0,
     0, NULL, si_config_check_optional_path,
     "File of username:hash lines (sendit set_password --dicom-user NAME); set: associations "
     "need a username and passcode of one (user identity negotiation); empty: not required."},
    /* [cleanup]: the cleanup stage (lib/pipeline/stage_cleanup.c); keep these rows together. */
    {"cleanup", "keep_originals_days", KT_INT, F(cleanup_keep_originals_days), "0",
     "SENDIT_CLEANUP_KEEP_ORIGINALS_DAYS", NULL, 0, 36500, NULL, NULL,
     "Days the originals stay in storage after every destination confirmed their batch; 0 "
     "removes them at once (0 to 36500). Below [storage] low_water_mb they go sooner."},
    {"cleanup", "keep_deid_days", KT_INT, F(cleanup_keep_deid_days), "0",
     "SENDIT_CLEANUP_KEEP_DEID_DAYS", NULL, 0, 36500, NULL, NULL,
     "Days the de-identified copies stay after confirmation; 0 removes them at once (0 to "
     "36500)."},
    {"cleanup", "keep_errors", KT_BOOL, F(cleanup_keep_errors), "true",
     "SENDIT_CLEANUP_KEEP_ERRORS", NULL, 0, 0, NULL, NULL,
     "Never clean a batch with errors (its log has one, or it is ERROR), even below the low-water "
     "mark."},
    {"cleanup", "interval_seconds", KT_INT, F(cleanup_interval_seconds), "60",
     "SENDIT_CLEANUP_INTERVAL_SECONDS", NULL, 1, 86400, NULL, NULL,
     "How often the daemon looks for batches whose keep time ran out and for free space below "
     "[storage] low_water_mb (1 to 86400)."},
};

#undef F

const size_t si_config_nkeys = sizeof si_config_keys / sizeof si_config_keys[0];

/* --- value checks ------------------------------------------------------ */

const char *si_config_check_path(char *value) { return value[0] ? NULL : "must not be empty"; }
/* A path that may be empty (none); resolved like the others when given. */
const char *si_config_check_optional_path(char *value) {
  (void)value;
  return NULL;
}

static bool all_digits(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]))
      return false;
  return true;
}

static const char *check_listen(char *value) {
  const char *colon = strrchr(value, ':');
  if (!colon || colon == value)
    return "expected host:port, like 127.0.0.1:8000";
  const char *port = colon + 1;
  size_t port_len = strlen(port);
  if (!all_digits(port, port_len) || port_len > 5 || atoi(port) < 1 || atoi(port) > 65535)
    return "the port must be a number from 1 to 65535";
  size_t host_len = (size_t)(colon - value);
  if (value[0] == '[')
    return (host_len > 2 && colon[-1] == ']') ? NULL : "expected [IPv6 address]:port";
  if (memchr(value, ':', host_len))
    return "an IPv6 host needs brackets, like [::1]:8000";
  return NULL;
}

/* Checks one item of a comma list; NULL when fine, else why not. */
typedef const char *(*item_check)(const char *item, size_t len);

static const char *check_modality(const char *item, size_t len) {
  if (len > 16)
    return "a modality code has at most 16 characters";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)item[i];
    if (!(isupper(c) || isdigit(c) || c == '_'))
      return "modality codes are upper-case letters and digits, like CT or MR";
  }
  return NULL;
}

static const char *check_subfolder(const char *item, size_t len) {
  if (item[0] == '/')
    return "subfolders are relative to the input folder";
  for (size_t start = 0; start < len;) {
    size_t end = start;
    while (end < len && item[end] != '/')
      end++;
    if (end - start == 2 && item[start] == '.' && item[start + 1] == '.')
      return "\"..\" would leave the input folder";
    start = end + 1;
  }
  return NULL;
}

static bool is_blank(const char *s) {
  while (isspace((unsigned char)*s))
    s++;
  return *s == '\0';
}

/* Rewrites "CT , MR" as "CT,MR" so later users need not trim, checking each
 * item on the way. Output never outruns input, so this works in place. */
static const char *normalize_list(char *s, item_check check) {
  if (is_blank(s)) {
    s[0] = '\0';
    return NULL;
  }
  char *out = s;
  const char *p = s;
  for (;;) {
    const char *end = strchr(p, ',');
    if (!end)
      end = p + strlen(p);
    const char *a = p, *b = end;
    while (a < b && isspace((unsigned char)*a))
      a++;
    while (b > a && isspace((unsigned char)b[-1]))
      b--;
    if (a == b)
      return "the comma list has an empty item";
    const char *why = check(a, (size_t)(b - a));
    if (why)
      return why;
    if (out != s)
      *out++ = ',';
    memmove(out, a, (size_t)(b - a));
    out += b - a;
    if (*end == '\0')
      break;
    p = end + 1;
  }
  *out = '\0';
  return NULL;
}

/* A Host header value: a name or address, an optional :port, lower-cased
 * (host names are case-insensitive). */
static const char *check_web_host(const char *item, size_t len) {
  if (len > 255)
    return "a host has at most 255 characters";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)item[i];
    if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
      return "a host is a name or address with an optional :port, like dicom.example.org:8000";
  }
  return NULL;
}

static const char *check_web_hosts(char *value) {
  const char *why = normalize_list(value, check_web_host);
  for (char *p = value; !why && *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return why;
}

/* [dicom] listen: empty (off), or host:port as [web] listen, where the
 * host may also be "*" (every address, IPv6 and IPv4). */
static const char *check_dicom_listen(char *value) {
  if (!value[0])
    return NULL;
  if (value[0] == '*' && value[1] == ':') {
    char probe[16];
    snprintf(probe, sizeof probe, "h%.10s", value + 1);
    return strlen(value + 1) > 6 ? "the port must be a number from 1 to 65535"
                                 : check_listen(probe);
  }
  return check_listen(value);
}

/* A DICOM AE title (PS3.5 AE): 1 to 16 characters of the default
 * repertoire, no backslash, not only spaces. */
static const char *check_ae(const char *s, size_t n) {
  size_t spaces = 0;
  if (n == 0 || n > 16)
    return "an AE title has 1 to 16 characters";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c > 0x7e || c == '\\')
      return "an AE title is printable ASCII without a backslash";
    spaces += c == ' ';
  }
  return spaces == n ? "an AE title is not only spaces" : NULL;
}

static const char *check_ae_title(char *value) { return check_ae(value, strlen(value)); }

/* One [dicom] allow item: AE or AE@address, the address numeric (no name
 * lookups at each association; an IPv6 one without brackets). */
static const char *check_allow_item(const char *item, size_t len) {
  const char *at = memchr(item, '@', len);
  const char *why = check_ae(item, at ? (size_t)(at - item) : len);
  if (why || !at)
    return why;
  char host[64];
  size_t hl = len - (size_t)(at - item) - 1;
  if (hl == 0 || hl >= sizeof host)
    return "AE@address needs an IPv4 or IPv6 address after the @";
  memcpy(host, at + 1, hl);
  host[hl] = '\0';
  unsigned char bin[16];
  if (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1)
    return "AE@address needs an IPv4 or IPv6 address after the @, like CT1@10.0.0.5";
  return NULL;
}

static const char *check_dicom_allow(char *value) {
  return normalize_list(value, check_allow_item);
}

static const char *check_subfolders(char *value) { return normalize_list(value, check_subfolder); }
static const char *check_stage_name(const char *item, size_t len) {
  (void)item;
  return len ? NULL : "an empty stage name";
}
/* The names and their order are the stage table's (sendit/stages.h). */
static const char *check_stages(char *value) {
  const char *why = normalize_list(value, check_stage_name);
  return why ? why : si_stages_check(value);
}
static const char *check_modalities(char *value) { return normalize_list(value, check_modality); }

static const char *check_url(char *value) {
  if (!value[0] || strncasecmp(value, "http://", 7) == 0 || strncasecmp(value, "https://", 8) == 0)
    return NULL;
  return "expected an http:// or https:// URL";
}

static const char *check_deid_option(const char *item, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!(islower((unsigned char)item[i]) || item[i] == '-'))
      return "option names are lower-case words joined by '-', like retain-safe-private";
  return NULL;
}
/* The names themselves are the engine's (si_deid_profile_parse): checked
 * with the profile once every source is applied (config_load.c). */
static const char *check_deid_options(char *value) {
  return normalize_list(value, check_deid_option);
}

/* --- parsing one value into its field ---------------------------------- */

static bool parse_int64(const char *s, int64_t *out) {
  const char *digits = (*s == '-') ? s + 1 : s;
  if (!isdigit((unsigned char)*digits))
    return false;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno == ERANGE || *end != '\0')
    return false;
  *out = (int64_t)v;
  return true;
}

static int find_choice(const char *const *choices, const char *text) {
  for (int i = 0; choices[i]; i++)
    if (strcasecmp(choices[i], text) == 0)
      return i;
  return -1;
}

static void describe_choices(const char *const *choices, char *why, size_t cap) {
  size_t n = (size_t)snprintf(why, cap, "expected one of");
  for (int i = 0; choices[i] && n < cap; i++)
    n += (size_t)snprintf(why + n, cap - n, "%s %s", i ? "," : "", choices[i]);
}

static bool parse_bool(const char *text, int *out) {
  static const char *const yes[] = {"true", "yes", "on", "1", NULL};
  static const char *const no[] = {"false", "no", "off", "0", NULL};
  if (find_choice(yes, text) >= 0)
    *out = 1;
  else if (find_choice(no, text) >= 0)
    *out = 0;
  else
    return false;
  return true;
}

static bool has_control(const char *s) {
  for (; *s; s++)
    if (iscntrl((unsigned char)*s))
      return true;
  return false;
}

static si_status set_string(char **field, const key_def *k, const char *text, char *why,
                            size_t cap) {
  if (has_control(text)) {
    snprintf(why, cap, "control characters (newline, tab, ...) are not allowed");
    return SI_ERR_CONFIG;
  }
  if (k->choices) {
    int i = find_choice(k->choices, text);
    if (i < 0) {
      describe_choices(k->choices, why, cap);
      return SI_ERR_CONFIG;
    }
    text = k->choices[i]; /* store the canonical spelling */
  }
  char *copy = strdup(text);
  if (!copy)
    return SI_ERR_NOMEM;
  const char *reason = k->check ? k->check(copy) : NULL;
  if (reason) {
    snprintf(why, cap, "%s", reason);
    free(copy);
    return SI_ERR_CONFIG;
  }
  free(*field);
  *field = copy;
  return SI_OK;
}

static si_status set_number(void *field, const key_def *k, const char *text, char *why,
                            size_t cap) {
  int64_t v;
  if (!parse_int64(text, &v) || v < k->min || v > k->max) {
    const char *unit = k->type == KT_MB ? " (MB)" : "";
    if (k->max == INT_MAX || k->max == MB_MAX)
      snprintf(why, cap, "expected a whole number >= %" PRId64 "%s", k->min, unit);
    else
      snprintf(why, cap, "expected a whole number from %" PRId64 " to %" PRId64 "%s", k->min,
               k->max, unit);
    return SI_ERR_CONFIG;
  }
  if (k->type == KT_MB)
    *(int64_t *)field = v;
  else
    *(int *)field = (int)v;
  return SI_OK;
}

/* Parses `text` into k's field of cfg. SI_ERR_CONFIG fills `why`. */
si_status si_config_set_value(si_config *cfg, const key_def *k, const char *text, char *why,
                              size_t cap) {
  void *field = (char *)cfg + k->offset;
  switch (k->type) {
  case KT_STRING:
    return set_string(field, k, text, why, cap);
  case KT_INT:
  case KT_MB:
    return set_number(field, k, text, why, cap);
  case KT_BOOL:
    if (parse_bool(text, field))
      return SI_OK;
    snprintf(why, cap, "expected true/false, yes/no, on/off or 1/0");
    return SI_ERR_CONFIG;
  case KT_ENUM: {
    int i = find_choice(k->choices, text);
    if (i >= 0) {
      memcpy(field, &i, sizeof i);
      return SI_OK;
    }
    describe_choices(k->choices, why, cap);
    return SI_ERR_CONFIG;
  }
  }
  return SI_ERR_ARG;
}

/* --- key lookup -------------------------------------------------------- */

const key_def *si_config_find_key(const char *section, const char *key) {
  for (size_t i = 0; i < si_config_nkeys; i++)
    if (strcasecmp(si_config_keys[i].section, section) == 0 &&
        strcasecmp(si_config_keys[i].key, key) == 0)
      return &si_config_keys[i];
  return NULL;
}

bool si_config_section_exists(const char *section) {
  for (size_t i = 0; i < si_config_nkeys; i++)
    if (strcasecmp(si_config_keys[i].section, section) == 0)
      return true;
  return false;
}

/* "a, b, c": the keys of `section`, or every section when it is NULL, so an
 * error about a typo can show what was meant. */
void si_config_list_names(const char *section, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < si_config_nkeys && n < cap; i++) {
    const char *name;
    if (section) {
      if (strcasecmp(si_config_keys[i].section, section) != 0)
        continue;
      name = si_config_keys[i].key;
    } else {
      if (i > 0 && strcmp(si_config_keys[i - 1].section, si_config_keys[i].section) == 0)
        continue;
      name = si_config_keys[i].section;
    }
    n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
  }
}

size_t si_config_key_index(const key_def *k) { return (size_t)(k - si_config_keys); }
