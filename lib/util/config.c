/* sendit's configuration. One static table row per key drives the default, the
 * INI file, the environment, validation and `sendit config` output, so a new
 * key is one row and none of those paths can forget it. */
#include "sendit/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

extern char **environ;

#define DEFAULT_FILE "./sendit.ini"
/* Sizes in MB must still fit in int64_t once converted to bytes. */
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

/* KT_ENUM fields are stored through an int. */
_Static_assert(sizeof(si_duplicate_policy) == sizeof(int), "enum fields are int-sized");

static const char *check_path(char *value);
static const char *check_subfolders(char *value);
static const char *check_modalities(char *value);
static const char *check_listen(char *value);
static const char *check_web_hosts(char *value);

static const char *const duplicate_names[] = {"keep-first", "keep-last", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const web_auth_names[] = {"password", "none", NULL};

#define F(field) offsetof(si_config, field)

static const key_def keys[] = {
    {"input", "folder", KT_STRING, F(input_dir), "./data", "SENDIT_INPUT_FOLDER", "SENDIT_DATA", 0,
     0, NULL, check_path, "Folder where senders drop studies, one folder per study."},
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
     0, NULL, check_path, "Folder that holds the imported images."},
    {"storage", "work", KT_STRING, F(work_dir), "./storage/.work", "SENDIT_STORAGE_WORK", NULL, 0,
     0, NULL, check_path, "Folder that holds claimed input folders while they are imported."},
    {"storage", "quarantine", KT_STRING, F(quarantine_dir), "./quarantine",
     "SENDIT_STORAGE_QUARANTINE", NULL, 0, 0, NULL, check_path,
     "Folder for files that were not imported, each with its reason."},
    {"storage", "low_water_mb", KT_MB, F(low_water_mb), "1024", "SENDIT_STORAGE_LOW_WATER_MB", NULL,
     0, MB_MAX, NULL, NULL, "Pause intake when free space in storage falls below this (MB)."},
    {"storage", "high_water_mb", KT_MB, F(high_water_mb), "2048", "SENDIT_STORAGE_HIGH_WATER_MB",
     NULL, 0, MB_MAX, NULL, NULL,
     "Resume intake once free space is above this again (MB); at least low_water_mb."},
    {"database", "url", KT_STRING, F(database), "./sendit.db", "SENDIT_DATABASE_URL",
     "SENDIT_DATABASE", 0, 0, NULL, check_path,
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
    {"import", "duplicates", KT_ENUM, F(duplicate_policy), "keep-first", "SENDIT_IMPORT_DUPLICATES",
     NULL, 0, 0, duplicate_names, NULL,
     "An image already stored: keep-first quarantines the newcomer, keep-last replaces the old."},
    {"filters", "skip_burned_in", KT_BOOL, F(skip_burned_in), "false",
     "SENDIT_FILTERS_SKIP_BURNED_IN", NULL, 0, 0, NULL, NULL,
     "Skip images whose BurnedInAnnotation is YES (any other value is imported)."},
    {"filters", "modalities", KT_STRING, F(modalities), "", "SENDIT_FILTERS_MODALITIES", NULL, 0, 0,
     NULL, check_modalities, "Comma list of modalities to import, like CT,MR; empty imports all."},
    {"daemon", "logs", KT_STRING, F(log_dir), "./logs", "SENDIT_DAEMON_LOGS", NULL, 0, 0, NULL,
     check_path, "Folder for the log file."},
    {"daemon", "pidfile", KT_STRING, F(pidfile), "./sendit.pid", "SENDIT_DAEMON_PIDFILE", NULL, 0,
     0, NULL, check_path, "File that holds the process id of the running daemon."},
    {"daemon", "log_level", KT_STRING, F(log_level), "info", "SENDIT_DAEMON_LOG_LEVEL", NULL, 0, 0,
     level_names, NULL, "Lowest level written to the log: debug, info, warn or error."},
    {"web", "listen", KT_STRING, F(web_listen), "127.0.0.1:8000", "SENDIT_WEB_LISTEN", NULL, 0, 0,
     NULL, check_listen, "Address of the web dashboard and API, host:port ([::1]:8000 for IPv6)."},
    {"web", "auth", KT_STRING, F(web_auth), "password", "SENDIT_WEB_AUTH", NULL, 0, 0,
     web_auth_names, NULL,
     "password: every page and API route needs the password; none: open to anyone (a warning)."},
    {"web", "password_file", KT_STRING, F(web_password_file), "./sendit.passwd",
     "SENDIT_WEB_PASSWORD_FILE", NULL, 0, 0, NULL, check_path,
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
};

#undef F

#define KEY_COUNT (sizeof keys / sizeof keys[0])

/* --- value checks ------------------------------------------------------ */

static const char *check_path(char *value) { return value[0] ? NULL : "must not be empty"; }

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

static const char *check_subfolders(char *value) { return normalize_list(value, check_subfolder); }
static const char *check_modalities(char *value) { return normalize_list(value, check_modality); }

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
static si_status set_value(si_config *cfg, const key_def *k, const char *text, char *why,
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

static const key_def *find_key(const char *section, const char *key) {
  for (size_t i = 0; i < KEY_COUNT; i++)
    if (strcasecmp(keys[i].section, section) == 0 && strcasecmp(keys[i].key, key) == 0)
      return &keys[i];
  return NULL;
}

static bool section_exists(const char *section) {
  for (size_t i = 0; i < KEY_COUNT; i++)
    if (strcasecmp(keys[i].section, section) == 0)
      return true;
  return false;
}

/* "a, b, c": the keys of `section`, or every section when it is NULL, so an
 * error about a typo can show what was meant. */
static void list_names(const char *section, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < KEY_COUNT && n < cap; i++) {
    const char *name;
    if (section) {
      if (strcasecmp(keys[i].section, section) != 0)
        continue;
      name = keys[i].key;
    } else {
      if (i > 0 && strcmp(keys[i - 1].section, keys[i].section) == 0)
        continue;
      name = keys[i].section;
    }
    n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
  }
}

static size_t key_index(const key_def *k) { return (size_t)(k - keys); }

static si_status nomem(si_error *err) {
  return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
}

/* --- sources ----------------------------------------------------------- */

static si_status load_defaults(si_config *cfg, si_error *err) {
  for (size_t i = 0; i < KEY_COUNT; i++) {
    char why[200];
    si_status st = set_value(cfg, &keys[i], keys[i].def, why, sizeof why);
    if (st == SI_ERR_NOMEM)
      return nomem(err);
    if (st != SI_OK) /* a broken table row: caught by the first test run */
      return si_error_set(err, st, "", SI_NO_OFFSET, SI_NO_TAG, "built-in default [%s] %s: %s",
                          keys[i].section, keys[i].key, why);
  }
  return SI_OK;
}

typedef struct file_ctx {
  si_config *cfg;
  const char *path;
  FILE *f;
  int line; /* of the line inih is working on */
  si_status status;
  int error_line;
  si_error *err;
} file_ctx;

/* Records the first error of the file, prefixed with path:line. Returns 0,
 * inih's "handler failed". */
static int file_fail(file_ctx *c, si_status code, const char *fmt, ...) SI_PRINTF(3, 4);
static int file_fail(file_ctx *c, si_status code, const char *fmt, ...) {
  if (c->status != SI_OK)
    return 0;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  si_error_set(c->err, code, "", SI_NO_OFFSET, SI_NO_TAG, "%.200s:%d: %s", c->path, c->line, msg);
  c->status = code;
  c->error_line = c->line;
  return 0;
}

/* inih reads through this so that we know the line number (Debian's inih is
 * built without INI_HANDLER_LINENO) and so that an over-long line is an error
 * instead of being split into two lines. */
static char *read_line(char *buf, int size, void *stream) {
  file_ctx *c = stream;
  if (c->status != SI_OK || !fgets(buf, size, c->f))
    return NULL;
  c->line++;
  size_t n = strlen(buf);
  if (n > 0 && buf[n - 1] != '\n' && !feof(c->f)) {
    file_fail(c, SI_ERR_CONFIG, "line is longer than %d characters", size - 2);
    return NULL;
  }
  return buf;
}

static int unknown_name(file_ctx *c, const char *section, const char *name) {
  char known[300];
  if (!section[0])
    return file_fail(c, SI_ERR_CONFIG, "\"%s\" is outside any [section]", name);
  if (!section_exists(section)) {
    list_names(NULL, known, sizeof known);
    return file_fail(c, SI_ERR_CONFIG, "unknown section [%s] (known: %s)", section, known);
  }
  list_names(section, known, sizeof known);
  return file_fail(c, SI_ERR_CONFIG, "unknown key \"%s\" in [%s] (known: %s)", name, section,
                   known);
}

static int on_pair(void *user, const char *section, const char *name, const char *value) {
  file_ctx *c = user;
  if (c->status != SI_OK)
    return 0;
  const key_def *k = find_key(section, name);
  if (!k)
    return unknown_name(c, section, name);
  struct si_config_origin *o = &c->cfg->origins[key_index(k)];
  if (o->kind == FROM_FILE) /* also an indented line, which inih reads as a continuation */
    return file_fail(c, SI_ERR_CONFIG, "[%s] %s is set again (first on line %d)", k->section,
                     k->key, o->line);
  char why[200];
  si_status st = set_value(c->cfg, k, value, why, sizeof why);
  if (st == SI_ERR_NOMEM)
    return file_fail(c, st, "out of memory");
  if (st != SI_OK)
    return file_fail(c, st, "[%s] %s = \"%.200s\": %s", k->section, k->key, value, why);
  *o = (struct si_config_origin){FROM_FILE, c->line, NULL, NULL};
  return 1;
}

static si_status parse_file(si_config *cfg, const char *path, FILE *f, si_error *err) {
  file_ctx c = {cfg, path, f, 0, SI_OK, 0, err};
  int rc = ini_parse_stream(read_line, &c, on_pair, &c);
  /* inih returns the first failing line, which is a syntax error unless our
   * handler recorded a failure on that very line. */
  if (rc > 0 && (c.status == SI_OK || rc < c.error_line)) {
    c.status = SI_OK;
    c.line = rc;
    file_fail(&c, SI_ERR_CONFIG, "cannot parse this line: expected [section] or key = value");
  }
  if (c.status != SI_OK)
    return c.status;
  if (rc < 0)
    return nomem(err);
  if (ferror(f))
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "config file %s: read error", path);
  return SI_OK;
}

static si_status load_file(si_config *cfg, const char *path, si_error *err) {
  const char *chosen = path ? path : DEFAULT_FILE;
  struct stat st;
  if (stat(chosen, &st) != 0 && !path && errno == ENOENT)
    chosen = ""; /* no ./sendit.ini: defaults and environment only */
  cfg->source_path = strdup(chosen);
  if (!cfg->source_path)
    return nomem(err);
  if (!chosen[0])
    return SI_OK;
  FILE *f = fopen(chosen, "r");
  if (!f)
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "cannot read config file %s: %s", chosen, strerror(errno));
  si_status status;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
    status = si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                          "config file %s is a folder", chosen);
  else
    status = parse_file(cfg, chosen, f, err);
  fclose(f);
  return status;
}

/* Environment variables that are sendit's configuration: SENDIT_<SECTION>_...
 * for a known section, and the short aliases. Anything else named SENDIT_*
 * belongs to the tools around sendit (the test harness sets SENDIT_BIN,
 * SENDIT_TMP, SENDIT_TEST_*, SENDIT_PG_*, ...) and is not looked at, so a
 * typo can only hide in a section's name. */
static const key_def *key_of_variable(const char *name, size_t len) {
  for (size_t i = 0; i < KEY_COUNT; i++) {
    const char *alias = keys[i].alias;
    if ((strlen(keys[i].env) == len && strncmp(keys[i].env, name, len) == 0) ||
        (alias && strlen(alias) == len && strncmp(alias, name, len) == 0))
      return &keys[i];
  }
  return NULL;
}

/* The section that `name` (len bytes) names as SENDIT_<SECTION>_<KEY>, with
 * *key_at the offset of <KEY>; NULL when it is no such name. */
static const char *section_of_variable(const char *name, size_t len, size_t *key_at) {
  static const char prefix[] = "SENDIT_";
  const size_t plen = sizeof prefix - 1;
  if (len <= plen || strncmp(name, prefix, plen) != 0)
    return NULL;
  for (size_t i = 0; i < KEY_COUNT; i++) {
    size_t n = strlen(keys[i].section);
    if (len > plen + n + 1 && strncasecmp(name + plen, keys[i].section, n) == 0 &&
        name[plen + n] == '_') {
      *key_at = plen + n + 1;
      return keys[i].section;
    }
  }
  return NULL;
}

/* An unknown SENDIT_<SECTION>_<KEY> is an error like an unknown key in the
 * file: a misspelt variable would otherwise be ignored in silence. */
static si_status check_env_names(si_error *err) {
  for (char **e = environ; e && *e; e++) {
    const char *eq = strchr(*e, '=');
    size_t len = eq ? (size_t)(eq - *e) : strlen(*e), key_at = 0;
    const char *section = section_of_variable(*e, len, &key_at);
    if (!section || key_of_variable(*e, len))
      continue;
    char known[300];
    list_names(section, known, sizeof known);
    int shown = len > 120 ? 120 : (int)len;
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "env %.*s: [%s] has no key \"%.*s\" (known: %s; the variables are "
                        "SENDIT_<SECTION>_<KEY> in capitals)",
                        shown, *e, section, shown - (int)key_at > 0 ? shown - (int)key_at : 0,
                        *e + key_at, known);
  }
  return SI_OK;
}

static si_status load_env(si_config *cfg, si_error *err) {
  si_status names = check_env_names(err);
  if (names != SI_OK)
    return names;
  for (size_t i = 0; i < KEY_COUNT; i++) {
    const key_def *k = &keys[i];
    const char *name = k->env;
    const char *value = getenv(name);
    if (!value && k->alias) {
      name = k->alias;
      value = getenv(name);
    }
    if (!value)
      continue;
    char why[200];
    si_status st = set_value(cfg, k, value, why, sizeof why);
    if (st == SI_ERR_NOMEM)
      return nomem(err);
    if (st != SI_OK)
      return si_error_set(err, st, "", SI_NO_OFFSET, SI_NO_TAG, "env %s: [%s] %s = \"%.200s\": %s",
                          name, k->section, k->key, value, why);
    cfg->origins[i] = (struct si_config_origin){FROM_ENV, 0, name, NULL};
  }
  return SI_OK;
}

/* --- relative paths ---------------------------------------------------- */

/* `base`/`rel` with the "." and empty components of rel left out
 * ("./data" -> "BASE/data"). `base` is canonical (getcwd, realpath), so a
 * leading ".." of rel is its parent folder and is folded in ("../logs" ->
 * "PARENT/logs"); a later ".." stays, as a symlink before it makes it mean
 * what the file system says. NULL when out of memory. */
static char *join_clean(const char *base, const char *rel) {
  size_t blen = strlen(base);
  char *out = malloc(blen + strlen(rel) + 2);
  if (!out)
    return NULL;
  memcpy(out, base, blen + 1);
  while (blen > 1 && out[blen - 1] == '/')
    out[--blen] = '\0';
  bool appended = false;
  for (const char *p = rel; *p;) {
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (!appended && n == 2 && p[0] == '.' && p[1] == '.') {
      while (blen > 1 && out[blen - 1] != '/')
        blen--;
      if (blen > 1)
        blen--;
      out[blen] = '\0';
    } else if (n > 0 && !(n == 1 && p[0] == '.')) {
      appended = true;
      if (out[blen - 1] != '/')
        out[blen++] = '/';
      memcpy(out + blen, p, n);
      blen += n;
      out[blen] = '\0';
    }
    p += n + (end != NULL);
  }
  return out;
}

/* The folder relative paths of this origin are taken from: the config
 * file's folder for its own values, the current directory for defaults and
 * the environment (as every command line tool reads a path). */
static char *base_folder(const si_config *cfg, origin_kind kind, si_error *err) {
  char *cwd = getcwd(NULL, 0);
  if (!cwd) {
    si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                 "cannot resolve relative paths: the current folder is unknown (%s)",
                 strerror(errno));
    return NULL;
  }
  if (kind != FROM_FILE)
    return cwd;
  const char *file = cfg->source_path;
  const char *slash = strrchr(file, '/');
  char *dir = slash ? strndup(file, slash == file ? 1 : (size_t)(slash - file)) : strdup(".");
  /* The file was just read, so its folder exists: realpath makes it
   * canonical for join_clean. */
  char *base = dir ? realpath(dir, NULL) : NULL;
  if (dir && !base)
    base = dir[0] == '/' ? strdup(dir) : join_clean(cwd, dir);
  free(dir);
  free(cwd);
  if (!base)
    nomem(err);
  return base;
}

/* The part of a [database] url that is a file path to resolve, or NULL:
 * a plain path or sqlite://PATH; not postgresql:// URLs, "file:" URIs
 * (whose query SQLite reads) nor ":memory:". */
static char *database_path_part(char *url) {
  if (strncmp(url, "sqlite://", 9) == 0)
    return url + 9;
  if (strstr(url, "://") || strncmp(url, "file:", 5) == 0 || strcmp(url, ":memory:") == 0)
    return NULL;
  return url;
}

/* Makes every relative path absolute once all sources are applied, so the
 * daemon, its log lines and the rows it stores name the same files
 * whatever folder a later command runs in; the value as written is kept
 * for si_config_print. Absolute paths are cleaned alike ("/x/storage/" and
 * "/x//storage" become "/x/storage"): stored paths are built with "%s/%s"
 * while other code joins with si_path_join, and both must spell a file the
 * same (the sweep of interrupted copies compares them). */
static si_status resolve_paths(si_config *cfg, si_error *err) {
  for (size_t i = 0; i < KEY_COUNT; i++) {
    const key_def *k = &keys[i];
    if (k->check != check_path)
      continue;
    char **field = (char **)((char *)cfg + k->offset);
    bool is_db = k->offset == offsetof(si_config, database);
    char *path = is_db ? database_path_part(*field) : *field;
    if (!path || !path[0])
      continue;
    char *abs;
    if (path[0] == '/') {
      abs = join_clean("/", path + 1);
      if (abs && strcmp(abs, path) == 0) {
        free(abs);
        continue;
      }
    } else {
      char *base = base_folder(cfg, cfg->origins[i].kind, err);
      if (!base)
        return err->code;
      abs = join_clean(base, path);
      free(base);
    }
    size_t prefix = (size_t)(path - *field);
    char *value = abs ? malloc(prefix + strlen(abs) + 1) : NULL;
    if (!value) {
      free(abs);
      return nomem(err);
    }
    memcpy(value, *field, prefix);
    strcpy(value + prefix, abs);
    free(abs);
    cfg->origins[i].written = *field;
    *field = value;
  }
  return SI_OK;
}

/* "default", "file PATH:LINE" or "env NAME". */
static void describe_origin(const si_config *cfg, size_t i, char *buf, size_t cap) {
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

static size_t index_of_field(size_t offset) {
  size_t i = 0;
  while (i < KEY_COUNT && keys[i].offset != offset)
    i++;
  return i;
}

/* Rules that involve two keys, checked once every source is applied. */
static si_status check_combined(const si_config *cfg, si_error *err) {
  if (cfg->high_water_mb >= cfg->low_water_mb)
    return SI_OK;
  char high[300], low[300];
  describe_origin(cfg, index_of_field(offsetof(si_config, high_water_mb)), high, sizeof high);
  describe_origin(cfg, index_of_field(offsetof(si_config, low_water_mb)), low, sizeof low);
  return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                      "[storage] high_water_mb = \"%" PRId64 "\" (%s) is below [storage] "
                      "low_water_mb = \"%" PRId64 "\" (%s): it must be at least as high",
                      cfg->high_water_mb, high, cfg->low_water_mb, low);
}

static si_status load_all(si_config *cfg, const char *path, si_error *err) {
  cfg->origins = calloc(KEY_COUNT, sizeof *cfg->origins);
  if (!cfg->origins)
    return nomem(err);
  si_status st = load_defaults(cfg, err);
  if (st == SI_OK)
    st = load_file(cfg, path, err);
  if (st == SI_OK)
    st = load_env(cfg, err);
  if (st == SI_OK)
    st = resolve_paths(cfg, err);
  if (st == SI_OK)
    st = check_combined(cfg, err);
  return st;
}

si_status si_config_load(si_config *cfg, const char *path, si_error *err) {
  if (!cfg)
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "no config to fill");
  si_error_clear(err);
  memset(cfg, 0, sizeof *cfg);
  si_status st = load_all(cfg, path, err);
  if (st != SI_OK)
    si_config_free(cfg);
  return st;
}

void si_config_free(si_config *cfg) {
  if (!cfg)
    return;
  for (size_t i = 0; i < KEY_COUNT; i++)
    if (keys[i].type == KT_STRING)
      free(*(char **)((char *)cfg + keys[i].offset));
  free(cfg->source_path);
  for (size_t i = 0; cfg->origins && i < KEY_COUNT; i++)
    free(cfg->origins[i].written);
  free(cfg->origins);
  memset(cfg, 0, sizeof *cfg);
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
  for (size_t i = 0; i < KEY_COUNT; i++) {
    const key_def *k = &keys[i];
    if (strcmp(section, k->section) != 0) {
      section = k->section;
      fprintf(out, "\n[%s]\n", section);
    } else {
      fputc('\n', out);
    }
    char origin[600];
    describe_origin(cfg, i, origin, sizeof origin);
    fprintf(out, "; %s\n; env %s%s%s\n; source: %s\n", k->help, k->env, k->alias ? " or " : "",
            k->alias ? k->alias : "", origin);
    const char *written = cfg->origins ? cfg->origins[i].written : NULL;
    const char *db_part = written && k->offset == offsetof(si_config, database)
                              ? database_path_part((char *)written)
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
}
