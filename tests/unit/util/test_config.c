/* Configuration: defaults, file, environment, one failing case per rule (the
 * message must point at the key, the source and the value), and print output
 * that loads back to the same values. */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/config.h"

/* Every variable si_config_load reads, so a test starts from a clean slate
 * whatever the caller's environment holds. */
static const char *const env_names[] = {
    "SENDIT_INPUT_FOLDER",         "SENDIT_DATA",
    "SENDIT_INPUT_SUBFOLDERS",     "SENDIT_INPUT_RESCAN_SECONDS",
    "SENDIT_INPUT_STABLE_SECONDS", "SENDIT_STORAGE_FOLDER",
    "SENDIT_STORAGE_WORK",         "SENDIT_STORAGE_QUARANTINE",
    "SENDIT_STORAGE_LOW_WATER_MB", "SENDIT_STORAGE_HIGH_WATER_MB",
    "SENDIT_DATABASE_URL",         "SENDIT_DATABASE",
    "SENDIT_QUEUE_WORKERS",        "SENDIT_WORKERS",
    "SENDIT_QUEUE_LEASE_SECONDS",  "SENDIT_QUEUE_MAX_ATTEMPTS",
    "SENDIT_IMPORT_DUPLICATES",    "SENDIT_FILTERS_SKIP_BURNED_IN",
    "SENDIT_FILTERS_MODALITIES",   "SENDIT_DAEMON_LOGS",
    "SENDIT_DAEMON_PIDFILE",       "SENDIT_DAEMON_LOG_LEVEL",
    "SENDIT_WEB_LISTEN",           "SENDIT_DEID_FOLDER",
    "SENDIT_DEID_RECIPE",          "SENDIT_DEID_PROFILE",
    "SENDIT_DEID_OPTIONS",         "SENDIT_DEID_KEY_FILE",
    "SENDIT_DEID_IDENTIFIERS",     "SENDIT_DEID_URL",
    "SENDIT_DEID_TOKEN_FILE",      "SENDIT_DEID_TIMEOUT_SECONDS",
    "SENDIT_DEID_NAME_PATTERN",    "SENDIT_DEID_KEEP_TIMES",
    "SENDIT_DICOM_LISTEN",         "SENDIT_DICOM_AE_TITLE",
    "SENDIT_DICOM_ALLOW",          "SENDIT_DICOM_MAX_ASSOCIATIONS",
    "SENDIT_DICOM_TIMEOUT",        "SENDIT_DICOM_IDLE_TIMEOUT",
    "SENDIT_DICOM_MAX_PDU",
};

static char start_dir[PATH_MAX];
static char example_path[PATH_MAX];

static void clear_env(void) {
  for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
    unsetenv(env_names[i]);
}

static int setup(void **state) {
  (void)state;
  clear_env();
  if (!getcwd(start_dir, sizeof start_dir))
    return -1;
  char guess[PATH_MAX];
  snprintf(guess, sizeof guess, "%s/../../etc/sendit.ini", tu_test_data_dir());
  if (!realpath(guess, example_path))
    snprintf(example_path, sizeof example_path, "%s", guess);
  return 0;
}

static int before_each(void **state) {
  (void)state;
  clear_env();
  return chdir(start_dir);
}

/* Writes `text` to a file named `name` in the scratch folder; returns its
 * path (static buffer, valid until the next call). */
static const char *write_ini(const char *name, const char *text) {
  static char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", tu_tmp_dir(), name);
  assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
  return path;
}

/* A fresh folder under the scratch folder, made the current directory. */
static void enter_dir(const char *name) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", tu_tmp_dir(), name);
  mkdir(path, 0755);
  assert_int_equal(chdir(path), 0);
}

static void assert_contains(const char *haystack, const char *needle) {
  if (!strstr(haystack, needle))
    fail_msg("expected \"%s\" in \"%s\"", needle, haystack);
}

/* `base`/`rel`, as the relative paths of the configuration resolve. */
static const char *under(const char *base, const char *rel) {
  static char buf[4][PATH_MAX + 64];
  static int next;
  char *out = buf[next++ % 4];
  snprintf(out, sizeof buf[0], "%s/%s", base, rel);
  return out;
}

/* The defaults, their relative paths resolved against `base` (NULL: the
 * current folder). */
static void assert_defaults_at(const si_config *c, const char *base) {
  char cwd[PATH_MAX];
  if (!base)
    base = getcwd(cwd, sizeof cwd);
  assert_non_null(base);
  assert_string_equal(c->input_dir, under(base, "data"));
  assert_string_equal(c->input_subfolders, "");
  assert_int_equal(c->rescan_seconds, 0);
  assert_int_equal(c->stable_seconds, 0);
  assert_string_equal(c->storage_dir, under(base, "storage"));
  assert_string_equal(c->work_dir, under(base, "storage/.work"));
  assert_string_equal(c->quarantine_dir, under(base, "quarantine"));
  assert_int_equal(c->low_water_mb, 1024);
  assert_int_equal(c->high_water_mb, 2048);
  assert_string_equal(c->database, under(base, "sendit.db"));
  assert_int_equal(c->workers, 2);
  assert_int_equal(c->lease_seconds, 60);
  assert_int_equal(c->poll_seconds, 2);
  assert_int_equal(c->max_attempts, 5);
  assert_int_equal(c->duplicate_policy, SI_DUP_KEEP_FIRST);
  assert_int_equal(c->skip_burned_in, 0);
  assert_string_equal(c->modalities, "");
  assert_string_equal(c->log_dir, under(base, "logs"));
  assert_string_equal(c->pidfile, under(base, "sendit.pid"));
  assert_string_equal(c->log_level, "info");
  assert_string_equal(c->web_listen, "127.0.0.1:8000");
  assert_string_equal(c->deid_dir, under(base, "deid"));
  assert_string_equal(c->deid_recipe, "");
  assert_string_equal(c->deid_profile, "basic");
  assert_string_equal(c->deid_options, "retain-long-modified-dates");
  assert_string_equal(c->deid_key_file, under(base, "sendit.deid.key"));
  assert_string_equal(c->deid_identifiers, "local");
  assert_string_equal(c->deid_url, "");
  assert_string_equal(c->deid_token_file, "");
  assert_int_equal(c->deid_timeout_seconds, 30);
  assert_string_equal(c->deid_name_pattern, "{study}_{series}_{instance}.dcm");
  assert_int_equal(c->deid_keep_times, 1);
  assert_string_equal(c->dicom_listen, "");
  assert_string_equal(c->dicom_ae_title, "SENDIT");
  assert_string_equal(c->dicom_allow, "");
  assert_int_equal(c->dicom_max_associations, 16);
  assert_int_equal(c->dicom_timeout, 30);
  assert_int_equal(c->dicom_idle_timeout, 300);
  assert_int_equal(c->dicom_max_pdu, 262144);
}

static void assert_defaults(const si_config *c) { assert_defaults_at(c, NULL); }

static void assert_same_values(const si_config *a, const si_config *b) {
  assert_string_equal(a->input_dir, b->input_dir);
  assert_string_equal(a->input_subfolders, b->input_subfolders);
  assert_int_equal(a->rescan_seconds, b->rescan_seconds);
  assert_int_equal(a->stable_seconds, b->stable_seconds);
  assert_string_equal(a->storage_dir, b->storage_dir);
  assert_string_equal(a->work_dir, b->work_dir);
  assert_string_equal(a->quarantine_dir, b->quarantine_dir);
  assert_int_equal(a->low_water_mb, b->low_water_mb);
  assert_int_equal(a->high_water_mb, b->high_water_mb);
  assert_string_equal(a->database, b->database);
  assert_int_equal(a->workers, b->workers);
  assert_int_equal(a->lease_seconds, b->lease_seconds);
  assert_int_equal(a->poll_seconds, b->poll_seconds);
  assert_int_equal(a->max_attempts, b->max_attempts);
  assert_int_equal(a->duplicate_policy, b->duplicate_policy);
  assert_int_equal(a->skip_burned_in, b->skip_burned_in);
  assert_string_equal(a->modalities, b->modalities);
  assert_string_equal(a->log_dir, b->log_dir);
  assert_string_equal(a->pidfile, b->pidfile);
  assert_string_equal(a->log_level, b->log_level);
  assert_string_equal(a->web_listen, b->web_listen);
  assert_string_equal(a->deid_dir, b->deid_dir);
  assert_string_equal(a->deid_recipe, b->deid_recipe);
  assert_string_equal(a->deid_profile, b->deid_profile);
  assert_string_equal(a->deid_options, b->deid_options);
  assert_string_equal(a->deid_key_file, b->deid_key_file);
  assert_string_equal(a->deid_identifiers, b->deid_identifiers);
  assert_string_equal(a->deid_url, b->deid_url);
  assert_string_equal(a->deid_token_file, b->deid_token_file);
  assert_int_equal(a->deid_timeout_seconds, b->deid_timeout_seconds);
  assert_string_equal(a->deid_name_pattern, b->deid_name_pattern);
  assert_int_equal(a->deid_keep_times, b->deid_keep_times);
  assert_string_equal(a->dicom_listen, b->dicom_listen);
  assert_string_equal(a->dicom_ae_title, b->dicom_ae_title);
  assert_string_equal(a->dicom_allow, b->dicom_allow);
  assert_int_equal(a->dicom_max_associations, b->dicom_max_associations);
  assert_int_equal(a->dicom_timeout, b->dicom_timeout);
  assert_int_equal(a->dicom_idle_timeout, b->dicom_idle_timeout);
  assert_int_equal(a->dicom_max_pdu, b->dicom_max_pdu);
}

static void test_defaults_without_file(void **state) {
  (void)state;
  enter_dir("no-ini");
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_OK);
  assert_defaults(&cfg);
  assert_string_equal(cfg.source_path, "");
  si_config_free(&cfg);
}

static void test_default_file_in_cwd(void **state) {
  (void)state;
  enter_dir("with-ini");
  assert_int_equal(tu_write_file("sendit.ini", "[queue]\nworkers = 7\n", 20), 0);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_OK);
  assert_int_equal(cfg.workers, 7);
  assert_string_equal(cfg.source_path, "./sendit.ini");
  si_config_free(&cfg);
}

static void test_explicit_file_must_exist(void **state) {
  (void)state;
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, "/nonexistent/sendit.ini", &err), SI_ERR_CONFIG);
  assert_contains(err.message, "/nonexistent/sendit.ini");
  assert_null(cfg.input_dir);
  assert_int_equal(si_config_load(&cfg, tu_tmp_dir(), &err), SI_ERR_CONFIG);
  assert_contains(err.message, "folder");
  /* NULL err is allowed everywhere */
  assert_int_equal(si_config_load(&cfg, "/nonexistent/sendit.ini", NULL), SI_ERR_CONFIG);
}

static const char full_file[] = "; every key, none at its default\n"
                                "[input]\n"
                                "folder = /srv/in\n"
                                "subfolders = site a , site-b/inbox\n"
                                "rescan_seconds = 300\n"
                                "stable_seconds = 120\n"
                                "[storage]\n"
                                "folder = /srv/store\n"
                                "work = /srv/store/.claimed\n"
                                "quarantine = /srv/quarantine ; inline comment\n"
                                "low_water_mb = 0\n"
                                "high_water_mb = 99999999\n"
                                "[Database]\n"
                                "URL = postgresql://sendit@localhost/sendit\n"
                                "[queue]\n"
                                "workers = 64\n"
                                "lease_seconds = 3600\n"
                                "max_attempts = 1\n"
                                "[import]\n"
                                "duplicates = Keep-Last\n"
                                "[filters]\n"
                                "skip_burned_in = yes\n"
                                "modalities = CT, MR ,RTSTRUCT\n"
                                "[daemon]\n"
                                "logs = /var/log/sendit\n"
                                "pidfile = /run/sendit.pid\n"
                                "log_level = DEBUG\n"
                                "[web]\n"
                                "listen = [::1]:65535\n";

static void test_file_overrides_defaults(void **state) {
  (void)state;
  const char *path = write_ini("full.ini", full_file);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_string_equal(cfg.source_path, path);
  assert_string_equal(cfg.input_dir, "/srv/in");
  assert_string_equal(cfg.input_subfolders, "site a,site-b/inbox");
  assert_int_equal(cfg.rescan_seconds, 300);
  assert_int_equal(cfg.stable_seconds, 120);
  assert_string_equal(cfg.storage_dir, "/srv/store");
  assert_string_equal(cfg.work_dir, "/srv/store/.claimed");
  assert_string_equal(cfg.quarantine_dir, "/srv/quarantine");
  assert_int_equal(cfg.low_water_mb, 0);
  assert_int_equal(cfg.high_water_mb, 99999999);
  assert_string_equal(cfg.database, "postgresql://sendit@localhost/sendit");
  assert_int_equal(cfg.workers, 64);
  assert_int_equal(cfg.lease_seconds, 3600);
  assert_int_equal(cfg.max_attempts, 1);
  assert_int_equal(cfg.duplicate_policy, SI_DUP_KEEP_LAST);
  assert_int_equal(cfg.skip_burned_in, 1);
  assert_string_equal(cfg.modalities, "CT,MR,RTSTRUCT");
  assert_string_equal(cfg.log_dir, "/var/log/sendit");
  assert_string_equal(cfg.pidfile, "/run/sendit.pid");
  assert_string_equal(cfg.log_level, "debug");
  assert_string_equal(cfg.web_listen, "[::1]:65535");
  si_config_free(&cfg);
}

static void test_booleans(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int value;
  } cases[] = {{"true", 1},  {"yes", 1}, {"on", 1},  {"1", 1}, {"TRUE", 1},
               {"false", 0}, {"no", 0},  {"off", 0}, {"0", 0}, {"Off", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[100];
    snprintf(text, sizeof text, "[filters]\nskip_burned_in = %s\n", cases[i].text);
    si_config cfg;
    si_error err;
    assert_int_equal(si_config_load(&cfg, write_ini("bool.ini", text), &err), SI_OK);
    assert_int_equal(cfg.skip_burned_in, cases[i].value);
    si_config_free(&cfg);
  }
}

static void test_env_overrides_file(void **state) {
  (void)state;
  const char *path = write_ini("env.ini", "[queue]\nworkers = 3\nmax_attempts = 9\n"
                                          "[database]\nurl = /from/file.db\n");
  setenv("SENDIT_QUEUE_WORKERS", "12", 1);
  setenv("SENDIT_WORKERS", "4", 1); /* the long name wins */
  setenv("SENDIT_DATABASE", "postgresql://db/sendit", 1);
  setenv("SENDIT_DATA", "/env/in", 1);
  setenv("SENDIT_WEB_LISTEN", "0.0.0.0:9000", 1);
  setenv("SENDIT_FILTERS_SKIP_BURNED_IN", "on", 1);
  setenv("SENDIT_STORAGE_HIGH_WATER_MB", "5000", 1);
  setenv("SENDIT_FILTERS_MODALITIES", "", 1); /* empty is a value: all modalities */
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_int_equal(cfg.workers, 12);
  assert_int_equal(cfg.max_attempts, 9);
  assert_string_equal(cfg.database, "postgresql://db/sendit");
  assert_string_equal(cfg.input_dir, "/env/in");
  assert_string_equal(cfg.web_listen, "0.0.0.0:9000");
  assert_int_equal(cfg.skip_burned_in, 1);
  assert_int_equal(cfg.high_water_mb, 5000);
  assert_string_equal(cfg.modalities, "");
  si_config_free(&cfg);

  unsetenv("SENDIT_QUEUE_WORKERS");
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_int_equal(cfg.workers, 4);
  si_config_free(&cfg);
}

typedef struct bad_case {
  const char *section, *key, *value, *reason;
} bad_case;

static const bad_case bad_cases[] = {
    {"queue", "workers", "0", "from 1 to 64"},
    {"queue", "workers", "65", "from 1 to 64"},
    {"queue", "workers", "two", "whole number"},
    {"queue", "workers", "2.5", "whole number"},
    {"queue", "workers", "", "whole number"},
    {"queue", "workers", "99999999999999999999", "whole number"},
    {"queue", "lease_seconds", "4", "from 5 to 3600"},
    {"queue", "lease_seconds", "3601", "from 5 to 3600"},
    {"queue", "poll_seconds", "0", "from 1 to 3600"},
    {"queue", "max_attempts", "0", ">= 1"},
    {"input", "rescan_seconds", "-1", ">= 0"},
    {"input", "stable_seconds", "-5", ">= 0"},
    {"storage", "low_water_mb", "-1", ">= 0"},
    {"storage", "high_water_mb", "lots", "whole number"},
    {"filters", "skip_burned_in", "maybe", "true/false"},
    {"import", "duplicates", "keep-both", "keep-first, keep-last"},
    {"daemon", "log_level", "verbose", "debug, info, warn, error"},
    {"web", "listen", "8000", "host:port"},
    {"web", "listen", ":8000", "host:port"},
    {"web", "listen", "localhost:0", "1 to 65535"},
    {"web", "listen", "localhost:65536", "1 to 65535"},
    {"web", "listen", "localhost:80a", "1 to 65535"},
    {"web", "listen", "::1:8000", "brackets"},
    {"web", "listen", "[]:8000", "[IPv6 address]:port"},
    {"filters", "modalities", "ct", "upper-case"},
    {"filters", "modalities", "CT,,MR", "empty item"},
    {"filters", "modalities", "CT,", "empty item"},
    {"filters", "modalities", "ABCDEFGHIJKLMNOPQ", "16 characters"},
    {"input", "subfolders", "../elsewhere", "\"..\""},
    {"input", "subfolders", "a/../../b", "\"..\""},
    {"input", "subfolders", "ok,..", "\"..\""},
    {"input", "subfolders", "/abs", "relative"},
    {"input", "folder", "", "must not be empty"},
    {"storage", "folder", "", "must not be empty"},
    {"storage", "work", "", "must not be empty"},
    {"storage", "quarantine", "", "must not be empty"},
    {"database", "url", "", "must not be empty"},
    {"dicom", "listen", "11112", "host:port"},
    {"dicom", "listen", "*:0", "1 to 65535"},
    {"dicom", "listen", "*:123456", "1 to 65535"},
    {"dicom", "listen", "::1:11112", "brackets"},
    {"dicom", "ae_title", "ABCDEFGHIJKLMNOPQ", "1 to 16 characters"},
    {"dicom", "ae_title", "A\\B", "without a backslash"},
    {"dicom", "allow", "CT1,,MR", "empty item"},
    {"dicom", "allow", "CT1@", "address after the @"},
    {"dicom", "allow", "CT1@pacs.example", "IPv4 or IPv6 address"},
    {"dicom", "allow", "@10.0.0.5", "1 to 16 characters"},
    {"dicom", "max_associations", "0", "from 1 to 1024"},
    {"dicom", "timeout", "0", "from 1 to 86400"},
    {"dicom", "idle_timeout", "86401", "from 1 to 86400"},
    {"dicom", "max_pdu", "4095", "from 4096 to 16777216"},
};

static void test_file_validation_errors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    char text[300], where[PATH_MAX + 20], key[100], value[200];
    snprintf(text, sizeof text, "; line 1\n[%s]\n%s = %s\n", c->section, c->key, c->value);
    const char *path = write_ini("bad.ini", text);
    snprintf(where, sizeof where, "%s:3:", path);
    snprintf(key, sizeof key, "[%s] %s", c->section, c->key);
    snprintf(value, sizeof value, "\"%s\"", c->value);
    si_config cfg;
    si_error err;
    assert_int_equal(si_config_load(&cfg, path, &err), SI_ERR_CONFIG);
    assert_int_equal(err.code, SI_ERR_CONFIG);
    assert_contains(err.message, where);
    assert_contains(err.message, key);
    assert_contains(err.message, value);
    assert_contains(err.message, c->reason);
    assert_null(cfg.input_dir); /* nothing left to free */
  }
}

static void test_env_validation_errors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    char name[100], key[100], value[200];
    snprintf(name, sizeof name, "SENDIT_%s_%s", c->section, c->key);
    for (char *p = name; *p; p++)
      *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    snprintf(key, sizeof key, "[%s] %s", c->section, c->key);
    snprintf(value, sizeof value, "\"%s\"", c->value);
    setenv(name, c->value, 1);
    enter_dir("no-ini");
    si_config cfg;
    si_error err;
    assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
    assert_contains(err.message, name);
    assert_contains(err.message, key);
    assert_contains(err.message, value);
    assert_contains(err.message, c->reason);
    unsetenv(name);
  }
}

static void test_env_alias_and_control_chars(void **state) {
  (void)state;
  si_config cfg;
  si_error err;
  enter_dir("no-ini");
  setenv("SENDIT_WORKERS", "0", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "env SENDIT_WORKERS");
  unsetenv("SENDIT_WORKERS");
  setenv("SENDIT_DATA", "/in\nbox", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "SENDIT_DATA");
  assert_contains(err.message, "control characters");
}

static void test_water_marks_in_order(void **state) {
  (void)state;
  const char *path = write_ini("water.ini", "[storage]\nlow_water_mb = 300\n");
  setenv("SENDIT_STORAGE_HIGH_WATER_MB", "200", 1);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, path, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "high_water_mb = \"200\" (env SENDIT_STORAGE_HIGH_WATER_MB)");
  char where[PATH_MAX + 40];
  snprintf(where, sizeof where, "low_water_mb = \"300\" (file %s:2)", path);
  assert_contains(err.message, where);
  setenv("SENDIT_STORAGE_HIGH_WATER_MB", "300", 1); /* equal is fine */
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  si_config_free(&cfg);
}

/* The [deid] keys: values from the file and the environment, paths
 * resolved (an empty recipe stays empty), and one failing case per rule,
 * each message naming the key, where it came from and why. */
static void test_deid_keys(void **state) {
  (void)state;
  enter_dir("deid-keys");
  si_config cfg;
  si_error err;
  const char *path = write_ini("deid.ini", "[deid]\nfolder = out\nrecipe = my.recipe\n"
                                           "options = retain-safe-private , retain-uids\n"
                                           "identifiers = http\nurl = http://127.0.0.1:9/ids\n"
                                           "keep_times = no\n");
  setenv("SENDIT_DEID_TIMEOUT_SECONDS", "5", 1);
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  char folder[PATH_MAX];
  snprintf(folder, sizeof folder, "%s", path);
  *strrchr(folder, '/') = '\0';
  assert_string_equal(cfg.deid_dir, under(folder, "out"));
  assert_string_equal(cfg.deid_recipe, under(folder, "my.recipe"));
  assert_string_equal(cfg.deid_options, "retain-safe-private,retain-uids");
  assert_string_equal(cfg.deid_identifiers, "http");
  assert_string_equal(cfg.deid_token_file, "");
  assert_int_equal(cfg.deid_timeout_seconds, 5);
  assert_int_equal(cfg.deid_keep_times, 0);
  si_config_free(&cfg);
  unsetenv("SENDIT_DEID_TIMEOUT_SECONDS");

  /* An option the engine does not know, named with where it came from. */
  setenv("SENDIT_DEID_OPTIONS", "retain-long-modified-dates,retain-everything", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "[deid] options");
  assert_contains(err.message, "env SENDIT_DEID_OPTIONS");
  assert_contains(err.message, "retain-everything");
  setenv("SENDIT_DEID_OPTIONS", "Retain_UIDs", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "SENDIT_DEID_OPTIONS");
  setenv("SENDIT_DEID_OPTIONS", "", 1); /* the bare profile */
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_OK);
  si_config_free(&cfg);
  unsetenv("SENDIT_DEID_OPTIONS");

  /* http without a URL; a URL that is not http(s). */
  setenv("SENDIT_DEID_IDENTIFIERS", "http", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "[deid] identifiers = \"http\" (env SENDIT_DEID_IDENTIFIERS)");
  assert_contains(err.message, "[deid] url");
  setenv("SENDIT_DEID_URL", "ftp://ids", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "SENDIT_DEID_URL");
  assert_contains(err.message, "http://");
  unsetenv("SENDIT_DEID_URL");
  setenv("SENDIT_DEID_IDENTIFIERS", "dasher", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "local, http");
  unsetenv("SENDIT_DEID_IDENTIFIERS");

  /* No profile and no recipe would de-identify nothing. */
  setenv("SENDIT_DEID_PROFILE", "none", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "[deid] profile = \"none\"");
  assert_contains(err.message, "[deid] recipe");
  setenv("SENDIT_DEID_RECIPE", "deid.dicom", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_OK);
  assert_string_equal(cfg.deid_recipe, under(getcwd(folder, sizeof folder), "deid.dicom"));
  si_config_free(&cfg);
  unsetenv("SENDIT_DEID_RECIPE");
  unsetenv("SENDIT_DEID_PROFILE");
  /* The engine's naming rule checks the pattern. */
  setenv("SENDIT_DEID_NAME_PATTERN", "{study}/{sop}.dcm", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "[deid] name_pattern");
  setenv("SENDIT_DEID_NAME_PATTERN", "{study}_{bogus}.dcm", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "SENDIT_DEID_NAME_PATTERN");
  setenv("SENDIT_DEID_NAME_PATTERN", "{patient}-{sop}.dcm", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_OK);
  si_config_free(&cfg);
  unsetenv("SENDIT_DEID_NAME_PATTERN");
  setenv("SENDIT_DEID_TIMEOUT_SECONDS", "0", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
  assert_contains(err.message, "SENDIT_DEID_TIMEOUT_SECONDS");
  unsetenv("SENDIT_DEID_TIMEOUT_SECONDS");
}

/* Loads `text`, expects SI_ERR_CONFIG, and checks the message has
 * "path:line:" and each of the NULL-terminated fragments. */
static void expect_file_error(const char *text, int line, ...) {
  const char *path = write_ini("broken.ini", text);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, path, &err), SI_ERR_CONFIG);
  char where[PATH_MAX + 20];
  snprintf(where, sizeof where, "%s:%d:", path, line);
  assert_contains(err.message, where);
  va_list ap;
  va_start(ap, line);
  for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
    assert_contains(err.message, s);
  va_end(ap);
}

static void test_unknown_names_are_errors(void **state) {
  (void)state;
  expect_file_error("[queue]\nworkers = 2\nworkrs = 3\n", 3, "unknown key \"workrs\"", "[queue]",
                    "workers, lease_seconds, poll_seconds, max_attempts", NULL);
  expect_file_error("\n[queu]\nworkers = 2\n", 3, "unknown section [queu]", "queue", NULL);
  expect_file_error("workers = 2\n", 1, "outside any [section]", NULL);
  expect_file_error("[queue]\nworkers = 2\n\n[queue]\nWorkers = 3\n", 5, "[queue] workers", "again",
                    "line 2", NULL);
  expect_file_error("[queue]\nworkers = 2\n  3\n", 3, "again", NULL);
}

static void test_syntax_errors(void **state) {
  (void)state;
  expect_file_error("[queue\nworkers = 2\n", 1, "cannot parse", NULL);
  expect_file_error("[queue]\nworkers 2\n", 2, "cannot parse", NULL);
  /* the earlier syntax error wins over a later bad value */
  expect_file_error("[queue]\nworkers 2\nlease_seconds = 1\n", 2, "cannot parse", NULL);
  char text[400];
  snprintf(text, sizeof text, "[input]\nfolder = /%0250d\n[queue]\nworkers = 2\n", 0);
  expect_file_error(text, 2, "longer than", NULL);
}

static void test_crlf_and_bom(void **state) {
  (void)state;
  const char *path =
      write_ini("crlf.ini", "\xEF\xBB\xBF[queue]\r\nworkers = 3\r\n# hash comment\r\n");
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_int_equal(cfg.workers, 3);
  si_config_free(&cfg);
}

/* Prints cfg into a file and returns its contents (malloc'd). */
static char *print_to_file(const si_config *cfg, const char *name, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", tu_tmp_dir(), name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  si_config_print(cfg, f);
  assert_int_equal(fclose(f), 0);
  size_t size;
  char *text = (char *)tu_read_file(path, &size);
  assert_non_null(text);
  char *copy = realloc(text, size + 1);
  assert_non_null(copy);
  copy[size] = '\0';
  return copy;
}

static void test_print_round_trips(void **state) {
  (void)state;
  const char *path = write_ini("print.ini", full_file);
  char source[PATH_MAX];
  snprintf(source, sizeof source, "%s", path);
  setenv("SENDIT_WORKERS", "17", 1);
  setenv("SENDIT_FILTERS_MODALITIES", "US", 1);
  si_config first, second;
  si_error err;
  assert_int_equal(si_config_load(&first, source, &err), SI_OK);
  char printed[PATH_MAX];
  char *text = print_to_file(&first, "printed.ini", printed, sizeof printed);
  assert_contains(text, "\n[queue]\n");
  assert_contains(text, "; source: env SENDIT_WORKERS\nworkers = 17\n");
  assert_contains(text, "; env SENDIT_QUEUE_WORKERS or SENDIT_WORKERS\n");
  char from_file[PATH_MAX + 60];
  snprintf(from_file, sizeof from_file, "; source: file %s:3\nfolder = /srv/in\n", source);
  assert_contains(text, from_file);
  assert_contains(text, "Import workers running in parallel");
  free(text);

  clear_env();
  assert_int_equal(si_config_load(&second, printed, &err), SI_OK);
  assert_same_values(&first, &second);
  si_config_free(&first);
  si_config_free(&second);
}

static void test_print_defaults_round_trips(void **state) {
  (void)state;
  enter_dir("no-ini");
  si_config first, second;
  si_error err;
  assert_int_equal(si_config_load(&first, NULL, &err), SI_OK);
  char printed[PATH_MAX];
  char *text = print_to_file(&first, "defaults.ini", printed, sizeof printed);
  assert_contains(text, "; source: default\nsubfolders =\n");
  assert_null(strstr(text, "source: file"));
  free(text);
  assert_int_equal(si_config_load(&second, printed, &err), SI_OK);
  assert_same_values(&first, &second);
  assert_defaults(&second);
  si_config_free(&first);
  si_config_free(&second);
}

/* etc/sendit.ini documents every key with its default: it must load, set
 * every key, and change nothing. */
static void test_example_config_is_the_defaults(void **state) {
  (void)state;
  si_config cfg;
  si_error err;
  char buf[600];
  if (!getenv("SENDIT_TEST_DATA") && access(example_path, F_OK) != 0)
    skip(); /* run by hand outside the source tree; ctest always sets the variable */
  if (si_config_load(&cfg, example_path, &err) != SI_OK)
    fail_msg("%s", si_error_format(&err, buf, sizeof buf));
  /* Its relative paths are relative to its own folder, etc/. */
  char folder[PATH_MAX];
  snprintf(folder, sizeof folder, "%s", example_path);
  *strrchr(folder, '/') = '\0';
  assert_defaults_at(&cfg, folder);
  char printed[PATH_MAX];
  char *text = print_to_file(&cfg, "example.ini", printed, sizeof printed);
  assert_null(strstr(text, "source: default"));
  free(text);
  si_config_free(&cfg);
}

/* A relative path in a file is relative to the file's folder (as most
 * daemons read theirs), one from a default or the environment to the
 * current folder; either way the configuration holds it absolute, and
 * `sendit config` says what was written. URLs and absolute paths stay. */
static void test_relative_paths_resolve(void **state) {
  (void)state;
  char dir[PATH_MAX], cwd[PATH_MAX], path[PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/rel-site", tu_tmp_dir());
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/sendit.ini", dir);
  static const char text[] = "[input]\nfolder = data\n"
                             "[storage]\nfolder = ./store//imgs/.\nwork = /abs/work\n"
                             "quarantine = ../q\n"
                             "[database]\nurl = sqlite://db/s.db\n"
                             "[daemon]\nlogs = .\n";
  assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
  char canon[PATH_MAX], parent[PATH_MAX];
  assert_non_null(realpath(dir, canon));
  snprintf(parent, sizeof parent, "%s", canon);
  *strrchr(parent, '/') = '\0';
  enter_dir("rel-cwd");
  assert_non_null(getcwd(cwd, sizeof cwd));
  setenv("SENDIT_DAEMON_PIDFILE", "run/sendit.pid", 1);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_string_equal(cfg.input_dir, under(canon, "data"));
  assert_string_equal(cfg.storage_dir, under(canon, "store/imgs"));
  assert_string_equal(cfg.work_dir, "/abs/work");
  assert_string_equal(cfg.quarantine_dir, under(parent, "q")); /* a leading .. is the parent */
  char url[PATH_MAX + 32];
  snprintf(url, sizeof url, "sqlite://%s/db/s.db", canon);
  assert_string_equal(cfg.database, url);
  assert_string_equal(cfg.log_dir, canon);
  assert_string_equal(cfg.pidfile, under(cwd, "run/sendit.pid"));
  assert_string_equal(cfg.web_password_file, under(cwd, "sendit.passwd"));
  char printed[PATH_MAX];
  char *shown = print_to_file(&cfg, "resolved.ini", printed, sizeof printed);
  char expect[PATH_MAX + 128];
  snprintf(expect, sizeof expect,
           "; written: data (relative to the config file's folder)\nfolder = %s/data\n", canon);
  assert_contains(shown, expect);
  assert_contains(shown, "; written: run/sendit.pid (relative to the current folder)\n");
  free(shown);
  si_config_free(&cfg);
  /* A relative --config path: the folder is taken from where we are. */
  assert_int_equal(chdir(dir), 0);
  assert_int_equal(si_config_load(&cfg, "./sendit.ini", &err), SI_OK);
  assert_string_equal(cfg.input_dir, under(canon, "data"));
  si_config_free(&cfg);
  /* URLs are not paths. */
  setenv("SENDIT_DATABASE", "postgresql://u@h/db?sslmode=disable", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_OK);
  assert_string_equal(cfg.database, "postgresql://u@h/db?sslmode=disable");
  si_config_free(&cfg);
  setenv("SENDIT_DATABASE", "file:x.db?mode=ro", 1);
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_OK);
  assert_string_equal(cfg.database, "file:x.db?mode=ro");
  si_config_free(&cfg);
}

/* SENDIT_<SECTION>_<KEY> of a known section must name a key, like a key
 * in the file; other SENDIT_* names (the test harness's) are not sendit's. */
static void test_unknown_env_names(void **state) {
  (void)state;
  enter_dir("no-ini");
  static const char *const bad[][2] = {
      {"SENDIT_QUEUE_WORKERZ", "workers"},
      {"SENDIT_WEB_LISTN", "listen"},
      {"SENDIT_DATABASE_URI", "url"},
      {"SENDIT_input_folder", "folder"},
  };
  si_config cfg;
  si_error err;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv(bad[i][0], "1", 1);
    assert_int_equal(si_config_load(&cfg, NULL, &err), SI_ERR_CONFIG);
    assert_contains(err.message, bad[i][0]);
    assert_contains(err.message, bad[i][1]);
    assert_null(cfg.input_dir);
    unsetenv(bad[i][0]);
  }
  /* Not the harness's own SENDIT_TMP and SENDIT_TEST_*: this very test reads them. */
  static const char *const fine[] = {"SENDIT_BIN",         "SENDIT_TEST_XYZ",     "SENDIT_PG_DIR",
                                     "SENDIT_INPUT",       "SENDIT_FUZZ_SECONDS", "SENDIT_QUEUE",
                                     "SENDIT_CONFIG_FILE", "SENDIT_WORKERS",      "SENDIT_DATA"};
  for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
    setenv(fine[i], "3", 1);
  if (si_config_load(&cfg, NULL, &err) != SI_OK)
    fail_msg("%s", err.message);
  assert_int_equal(cfg.workers, 3);
  si_config_free(&cfg);
  for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
    unsetenv(fine[i]);
}

/* [dicom]: the listener's keys, their lists normalised as the others. */
static void test_dicom_keys(void **state) {
  (void)state;
  const char *path = write_ini("dicom.ini", "[dicom]\nlisten = [::]:11112\n"
                                            "ae_title = RECEIVER\n"
                                            "allow = CT1 , MR2@10.0.0.5,US3@::1\n"
                                            "max_associations = 4\ntimeout = 5\n");
  setenv("SENDIT_DICOM_IDLE_TIMEOUT", "60", 1);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_string_equal(cfg.dicom_listen, "[::]:11112");
  assert_string_equal(cfg.dicom_ae_title, "RECEIVER");
  assert_string_equal(cfg.dicom_allow, "CT1,MR2@10.0.0.5,US3@::1");
  assert_int_equal(cfg.dicom_max_associations, 4);
  assert_int_equal(cfg.dicom_timeout, 5);
  assert_int_equal(cfg.dicom_idle_timeout, 60);
  assert_int_equal(cfg.dicom_max_pdu, 262144);
  si_config_free(&cfg);
  setenv("SENDIT_DICOM_LISTEN", "*:104", 1);
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_string_equal(cfg.dicom_listen, "*:104");
  si_config_free(&cfg);
  setenv("SENDIT_DICOM_LISTEN", "127.0.0.1:11112", 1);
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_string_equal(cfg.dicom_listen, "127.0.0.1:11112");
  si_config_free(&cfg);
}

static void test_free_is_idempotent(void **state) {
  (void)state;
  si_config cfg;
  memset(&cfg, 0, sizeof cfg);
  si_config_free(&cfg);
  si_config_free(NULL);
  si_error err;
  enter_dir("no-ini");
  assert_int_equal(si_config_load(&cfg, NULL, &err), SI_OK);
  si_config_free(&cfg);
  si_config_free(&cfg);
  assert_null(cfg.input_dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_defaults_without_file, before_each),
      cmocka_unit_test_setup(test_default_file_in_cwd, before_each),
      cmocka_unit_test_setup(test_explicit_file_must_exist, before_each),
      cmocka_unit_test_setup(test_file_overrides_defaults, before_each),
      cmocka_unit_test_setup(test_booleans, before_each),
      cmocka_unit_test_setup(test_env_overrides_file, before_each),
      cmocka_unit_test_setup(test_file_validation_errors, before_each),
      cmocka_unit_test_setup(test_env_validation_errors, before_each),
      cmocka_unit_test_setup(test_env_alias_and_control_chars, before_each),
      cmocka_unit_test_setup(test_water_marks_in_order, before_each),
      cmocka_unit_test_setup(test_deid_keys, before_each),
      cmocka_unit_test_setup(test_unknown_names_are_errors, before_each),
      cmocka_unit_test_setup(test_syntax_errors, before_each),
      cmocka_unit_test_setup(test_crlf_and_bom, before_each),
      cmocka_unit_test_setup(test_print_round_trips, before_each),
      cmocka_unit_test_setup(test_print_defaults_round_trips, before_each),
      cmocka_unit_test_setup(test_example_config_is_the_defaults, before_each),
      cmocka_unit_test_setup(test_relative_paths_resolve, before_each),
      cmocka_unit_test_setup(test_unknown_env_names, before_each),
      cmocka_unit_test_setup(test_dicom_keys, before_each),
      cmocka_unit_test_setup(test_free_is_idempotent, before_each),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
