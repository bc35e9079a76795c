/* Shared pieces of the `sendit` program: the subcommand table entry, exit
 * codes and message helpers. Only the program uses these; the library never
 * prints. */
#ifndef SENDIT_CLI_H
#define SENDIT_CLI_H

#include <limits.h>
#include <stdio.h>

#include "sendit/error.h"

/* Exit statuses shared by every subcommand. */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_FAILURE = 1, /* the command ran but some work failed */
  CLI_EXIT_USAGE = 2    /* bad command line: nothing was done */
};

/* A subcommand gets argv with argv[0] = its own name. */
typedef int (*cli_handler)(int argc, char **argv);

typedef struct cli_command {
  const char *name;
  cli_handler run;
  const char *summary; /* one line for `sendit --help` */
  const char *usage;   /* full text for `sendit NAME --help` (NULL: summary) */
  int own_help;        /* answers --help itself (help; deid: its subcommands' usage) */
} cli_command;

/* Prints "sendit CMD: message" and a hint to run --help on stderr; returns
 * CLI_EXIT_USAGE so callers can `return cli_usage_error(...)`. */
int cli_usage_error(const char *cmd, const char *fmt, ...) SI_PRINTF(2, 3);

/* Prints one error line "sendit CMD: <si_error_format>" on stderr, after
 * flushing stdout so messages and output stay in order. */
void cli_print_error(const char *cmd, const si_error *err);

/* The one parser of numeric option values (--limit, --offset, --number,
 * --timeout, ids): plain decimal digits only (no sign, blank, "0x" or
 * exponent) whose value lies in [min, max]. 0 and *out set when it does,
 * else -1 and *out untouched; the caller names the option in its usage
 * error. */
#define CLI_NO_MAX LLONG_MAX
int cli_parse_number(const char *s, long long min, long long max, long long *out);

/* Prints "sendit CMD: --OPTION needs a whole number from MIN to MAX, not 'S'"
 * (or "MIN or more" when max is CLI_NO_MAX) as a usage error; returns
 * CLI_EXIT_USAGE. */
int cli_bad_number(const char *cmd, const char *option, const char *s, long long min,
                   long long max);

/* Untrusted text (names from the database or the file system) made safe
 * for a terminal by si_log_sanitize's rule. The copy lives in one of a few
 * buffers that the program reuses in turn: valid until eight more calls,
 * for one printf's arguments. Never NULL ("" for NULL or no memory). */
const char *cli_text(const char *s);

/* 1 when "--help" appears among the arguments before any "--". */
int cli_wants_help(int argc, char **argv);

/* One option of a command's table, for cli_next_option: "--name" or "-x";
 * a long option's value may also come as --name=VALUE. */
typedef struct cli_option {
  const char *name;
  int takes_value;
  int tag; /* the caller's own: what the option does */
} cli_option;

enum { CLI_OPTIONS_END = -1, CLI_OPTIONS_BAD = -2 };

/* Reads the option at argv[*i] and its value, moving *i past both. Returns
 * its index in options with *value its value (NULL for an option without
 * one); CLI_OPTIONS_END when argv[*i] is not an option (an operand, "-",
 * the end, or "--", which is skipped): *i is then the first operand;
 * CLI_OPTIONS_BAD after printing a usage error that names cmd (an unknown
 * option, a missing value, a value given to an option without one).
 * *value borrows from argv. */
int cli_next_option(const char *cmd, const cli_option *options, size_t count, int argc, char **argv,
                    int *i, const char **value);

/* Subcommand handlers and their usage texts (one cmd_*.c each). */
int cmd_dump(int argc, char **argv);
extern const char cmd_dump_usage[];
int cmd_modify(int argc, char **argv);
extern const char cmd_modify_usage[];
int cmd_echo(int argc, char **argv);
extern const char cmd_echo_usage[];
int cmd_send(int argc, char **argv);
extern const char cmd_send_usage[];
int cmd_listen(int argc, char **argv);
extern const char cmd_listen_usage[];
/* `sendit deid` (cmd_deid.c) and its subcommands `deid verify`
 * (cmd_deid_verify.c) and `deid map` (cmd_deid_map.c); argv[0] is the
 * subcommand's name. */
int cmd_deid(int argc, char **argv);
extern const char cmd_deid_usage[];
/* The default form, `sendit deid [OPTIONS] --out DIR FILE|DIR...`
 * (cmd_deid_run.c). */
int cmd_deid_run(int argc, char **argv);
extern const char cmd_deid_run_usage[];
int cmd_deid_verify(int argc, char **argv);
extern const char cmd_deid_verify_usage[];
int cmd_deid_map(int argc, char **argv);
extern const char cmd_deid_map_usage[];
/* Row i of deid's table of subcommands, for the man page: 0 with its name
 * (NULL for the default form) and usage, or -1 past the end. */
int cmd_deid_subcommand_at(size_t i, const char **name, const char **usage);

#endif
