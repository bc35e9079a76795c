#include "cli.h"

#include <stdarg.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  fflush(stdout);
  fprintf(stderr, "sendit %s: ", cmd);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'sendit %s --help'.\n", cmd);
  return CLI_EXIT_USAGE;
}

void cli_print_error(const char *cmd, const si_error *err) {
  char buf[1200];
  fflush(stdout);
  fprintf(stderr, "sendit %s: %s\n", cmd, si_error_format(err, buf, sizeof buf));
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
