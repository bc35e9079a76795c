#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/log.h"

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  si_log_sanitize(msg, strlen(msg)); /* messages echo the command line */
  fflush(stdout);
  fprintf(stderr, "sendit %s: %s\nTry 'sendit %s --help'.\n", cmd, msg, cmd);
  return CLI_EXIT_USAGE;
}

void cli_print_error(const char *cmd, const si_error *err) {
  char buf[1200];
  fflush(stdout);
  si_error_format(err, buf, sizeof buf);
  si_log_sanitize(buf, strlen(buf)); /* errors quote file names and values */
  fprintf(stderr, "sendit %s: %s\n", cmd, buf);
}

int cli_parse_number(const char *s, long long min, long long max, long long *out) {
  if (!s || !*s)
    return -1;
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p))
      return -1;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno == ERANGE || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

int cli_bad_number(const char *cmd, const char *option, const char *s, long long min,
                   long long max) {
  if (max == CLI_NO_MAX)
    return cli_usage_error(cmd, "%s needs a whole number, %lld or more, not '%s'", option, min, s);
  return cli_usage_error(cmd, "%s needs a whole number from %lld to %lld, not '%s'", option, min,
                         max, s);
}

enum { TEXT_SLOTS = 8 };

const char *cli_text(const char *s) {
  static char *slot[TEXT_SLOTS];
  static size_t cap[TEXT_SLOTS];
  static unsigned next;
  if (!s)
    return "";
  unsigned i = next++ % TEXT_SLOTS;
  size_t n = strlen(s);
  if (cap[i] < n + 1) {
    char *grown = realloc(slot[i], n + 1);
    if (!grown)
      return "";
    slot[i] = grown;
    cap[i] = n + 1;
  }
  memcpy(slot[i], s, n + 1);
  si_log_sanitize(slot[i], n);
  return slot[i];
}

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      return 0;
    if (strcmp(argv[i], "--help") == 0)
      return 1;
  }
  return 0;
}

/* An exact name, or a long one followed by '=' and its value. */
static int option_matches(const char *arg, const char *name, const char **inline_value) {
  size_t len = strlen(name);
  if (strncmp(arg, name, len) != 0)
    return 0;
  if (arg[len] == 0) {
    *inline_value = NULL;
    return 1;
  }
  if (arg[len] == '=' && len > 2) {
    *inline_value = arg + len + 1;
    return 1;
  }
  return 0;
}

int cli_next_option(const char *cmd, const cli_option *options, size_t count, int argc, char **argv,
                    int *i, const char **value) {
  *value = NULL;
  if (*i >= argc)
    return CLI_OPTIONS_END;
  const char *arg = argv[*i];
  if (strcmp(arg, "--") == 0) {
    ++*i;
    return CLI_OPTIONS_END;
  }
  if (arg[0] != '-' || !arg[1])
    return CLI_OPTIONS_END;
  const char *inline_value = NULL;
  size_t k = 0;
  while (k < count && !option_matches(arg, options[k].name, &inline_value))
    k++;
  if (k == count) {
    cli_usage_error(cmd, "unknown option '%s'", arg);
    return CLI_OPTIONS_BAD;
  }
  ++*i;
  if (!options[k].takes_value) {
    if (inline_value) {
      cli_usage_error(cmd, "%s takes no value", options[k].name);
      return CLI_OPTIONS_BAD;
    }
    return (int)k;
  }
  if (!inline_value) {
    if (*i >= argc) {
      cli_usage_error(cmd, "%s needs a value", options[k].name);
      return CLI_OPTIONS_BAD;
    }
    inline_value = argv[(*i)++];
  }
  *value = inline_value;
  return (int)k;
}
