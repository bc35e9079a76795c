/* `sendit deid`: the de-identification engine on its own, as deid's command
 * line is. One table of subcommands; each row's handler lives in its own
 * file: the engine's run (cmd_deid_run.c), `deid verify` (cmd_deid_verify.c,
 * the leak scan) and `deid map` (cmd_deid_map.c, the pseudonym table). The
 * first row without a name is the default: `sendit deid [OPTIONS] --out DIR
 * FILE|DIR...`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct deid_subcommand {
  const char *name; /* NULL: the default (no subcommand word) */
  cli_handler run;
  const char *usage;
} deid_subcommand;

static const deid_subcommand subcommands[] = {
    /* rows: {"verify", cmd_deid_verify, cmd_deid_verify_usage}, ... */
    {"verify", cmd_deid_verify, cmd_deid_verify_usage},
    {"map", cmd_deid_map, cmd_deid_map_usage},
    {NULL, cmd_deid_run, cmd_deid_run_usage},
};

const char cmd_deid_usage[] = "Usage: sendit deid [OPTIONS] --out DIR FILE|DIR...\n"
                              "       sendit deid verify ORIGINAL... --against DEID...\n"
                              "       sendit deid map export\n"
                              "\n"
                              "De-identifies DICOM files (README, \"De-identification\").\n"
                              "Run 'sendit deid SUBCOMMAND --help' for a subcommand's options.\n";

int cmd_deid_subcommand_at(size_t i, const char **name, const char **usage) {
  if (i >= sizeof subcommands / sizeof subcommands[0])
    return -1;
  *name = subcommands[i].name;
  *usage = subcommands[i].usage;
  return 0;
}

int cmd_deid(int argc, char **argv) {
  const char *word = argc > 1 ? argv[1] : "";
  const deid_subcommand *fallback = NULL;
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
    const deid_subcommand *s = &subcommands[i];
    if (!s->run)
      continue;
    if (!s->name) {
      fallback = s;
      continue;
    }
    if (strcmp(s->name, word) == 0) {
      if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(s->usage, stdout);
        return CLI_EXIT_OK;
      }
      return s->run(argc - 1, argv + 1);
    }
  }
  if (!fallback)
    return cli_usage_error("deid", "unknown subcommand '%s'", word);
  if (cli_wants_help(argc, argv)) {
    fputs(fallback->usage, stdout);
    return CLI_EXIT_OK;
  }
  return fallback->run(argc, argv);
}
