/* sendit's configuration: loading the sources (defaults, file, environment), paths, and freeing. */
#include "sendit/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config_internal.h"

extern char **environ;

#define DEFAULT_FILE "./sendit.ini"

/* The installed configuration (cmake's sysconfdir: /etc/sendit/sendit.ini in
 * the Debian package), read when there is no ./sendit.ini, so that operators
 * of an installed sendit need no --config. Set at build time; "" turns it off. */
#ifndef SENDIT_SYSTEM_CONFIG
#define SENDIT_SYSTEM_CONFIG ""
#endif

static si_status nomem(si_error *err) {
  return si_error_set(err, SI_ERR_NOMEM, "", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
}

/* --- sources ----------------------------------------------------------- */

static si_status load_defaults(si_config *cfg, si_error *err) {
  for (size_t i = 0; i < si_config_nkeys; i++) {
    char why[200];
    si_status st =
        si_config_set_value(cfg, &si_config_keys[i], si_config_keys[i].def, why, sizeof why);
    if (st == SI_ERR_NOMEM)
      return nomem(err);
    if (st != SI_OK) /* a broken table row: caught by the first test run */
      return si_error_set(err, st, "", SI_NO_OFFSET, SI_NO_TAG, "built-in default [%s] %s: %s",
                          si_config_keys[i].section, si_config_keys[i].key, why);
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
  if (!si_config_section_exists(section)) {
    si_config_list_names(NULL, known, sizeof known);
    return file_fail(c, SI_ERR_CONFIG, "unknown section [%s] (known: %s)", section, known);
  }
  si_config_list_names(section, known, sizeof known);
  return file_fail(c, SI_ERR_CONFIG, "unknown key \"%s\" in [%s] (known: %s)", name, section,
                   known);
}

static int on_pair(void *user, const char *section, const char *name, const char *value) {
  file_ctx *c = user;
  if (c->status != SI_OK)
    return 0;
  if (si_config_dest_section(section)) {
    char why[300];
    si_status st = si_config_dest_pair(c->cfg, section, name, value, why, sizeof why);
    return st == SI_OK ? 1 : file_fail(c, st, "%s", why);
  }
  const key_def *k = si_config_find_key(section, name);
  if (!k)
    return unknown_name(c, section, name);
  struct si_config_origin *o = &c->cfg->origins[si_config_key_index(k)];
  if (o->kind == FROM_FILE) /* also an indented line, which inih reads as a continuation */
    return file_fail(c, SI_ERR_CONFIG, "[%s] %s is set again (first on line %d)", k->section,
                     k->key, o->line);
  char why[200];
  si_status st = si_config_set_value(c->cfg, k, value, why, sizeof why);
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

const char *si_config_system_path(void) { return SENDIT_SYSTEM_CONFIG; }

static si_status load_file(si_config *cfg, const char *path, si_error *err) {
  const char *chosen = path ? path : DEFAULT_FILE;
  struct stat st;
  if (!path && stat(chosen, &st) != 0 && errno == ENOENT) {
    chosen = SENDIT_SYSTEM_CONFIG; /* no ./sendit.ini: the installed one, */
    if (chosen[0] && stat(chosen, &st) != 0 && errno == ENOENT)
      chosen = ""; /* or defaults and environment only */
  }
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
  for (size_t i = 0; i < si_config_nkeys; i++) {
    const char *alias = si_config_keys[i].alias;
    if ((strlen(si_config_keys[i].env) == len && strncmp(si_config_keys[i].env, name, len) == 0) ||
        (alias && strlen(alias) == len && strncmp(alias, name, len) == 0))
      return &si_config_keys[i];
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
  for (size_t i = 0; i < si_config_nkeys; i++) {
    size_t n = strlen(si_config_keys[i].section);
    if (len > plen + n + 1 && strncasecmp(name + plen, si_config_keys[i].section, n) == 0 &&
        name[plen + n] == '_') {
      *key_at = plen + n + 1;
      return si_config_keys[i].section;
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
    si_config_list_names(section, known, sizeof known);
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
  for (size_t i = 0; i < si_config_nkeys; i++) {
    const key_def *k = &si_config_keys[i];
    const char *name = k->env;
    const char *value = getenv(name);
    if (!value && k->alias) {
      name = k->alias;
      value = getenv(name);
    }
    if (!value)
      continue;
    char why[200];
    si_status st = si_config_set_value(cfg, k, value, why, sizeof why);
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
char *si_config_database_path_part(char *url) {
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
  for (size_t i = 0; i < si_config_nkeys; i++) {
    const key_def *k = &si_config_keys[i];
    if (k->check != si_config_check_path && k->check != si_config_check_optional_path)
      continue;
    char **field = (char **)((char *)cfg + k->offset);
    bool is_db = k->offset == offsetof(si_config, database);
    char *path = is_db ? si_config_database_path_part(*field) : *field;
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

static size_t index_of_field(size_t offset) {
  size_t i = 0;
  while (i < si_config_nkeys && si_config_keys[i].offset != offset)
    i++;
  return i;
}

/* Rules that involve two keys, checked once every source is applied. */
static si_status check_combined(const si_config *cfg, si_error *err) {
  if (cfg->high_water_mb >= cfg->low_water_mb)
    return SI_OK;
  char high[300], low[300];
  si_config_describe_origin(cfg, index_of_field(offsetof(si_config, high_water_mb)), high,
                            sizeof high);
  si_config_describe_origin(cfg, index_of_field(offsetof(si_config, low_water_mb)), low,
                            sizeof low);
  return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                      "[storage] high_water_mb = \"%" PRId64 "\" (%s) is below [storage] "
                      "low_water_mb = \"%" PRId64 "\" (%s): it must be at least as high",
                      cfg->high_water_mb, high, cfg->low_water_mb, low);
}

static si_status load_all(si_config *cfg, const char *path, si_error *err) {
  cfg->origins = calloc(si_config_nkeys, sizeof *cfg->origins);
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
  if (st == SI_OK)
    st = si_config_check_deid(cfg, err);
  if (st == SI_OK)
    st = si_config_check_dests(cfg, err);
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
  for (size_t i = 0; i < si_config_nkeys; i++)
    if (si_config_keys[i].type == KT_STRING)
      free(*(char **)((char *)cfg + si_config_keys[i].offset));
  free(cfg->source_path);
  for (size_t i = 0; cfg->origins && i < si_config_nkeys; i++)
    free(cfg->origins[i].written);
  free(cfg->origins);
  si_config_dest_free(cfg);
  memset(cfg, 0, sizeof *cfg);
}
