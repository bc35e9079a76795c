#include "app.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int app_init(app *a, const char *cmd, int *argc, char **argv) {
  memset(a, 0, sizeof *a);
  const char *path = NULL;
  int out = 0;
  for (int i = 0; i < *argc; i++) {
    if (strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= *argc)
        return cli_usage_error(cmd, "--config needs a file");
      path = argv[++i];
    } else if (strncmp(argv[i], "--config=", 9) == 0) {
      path = argv[i] + 9;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  argv[out] = NULL;
  si_error err;
  if (si_config_load(&a->cfg, path, &err) != SI_OK) {
    cli_print_error(cmd, &err);
    return CLI_EXIT_USAGE;
  }
  return CLI_EXIT_OK;
}

int app_open_db(app *a, const char *cmd) {
  si_error err;
  if (si_db_open(a->cfg.database, &a->db, &err) != SI_OK) {
    cli_print_error(cmd, &err);
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

void app_close(app *a) {
  si_db_close(a->db);
  a->db = NULL;
  si_config_free(&a->cfg);
}

long app_running_pid(const si_config *cfg) {
  FILE *f = fopen(cfg->pidfile, "r");
  if (!f)
    return 0;
  long pid = 0;
  if (fscanf(f, "%ld", &pid) != 1)
    pid = 0;
  fclose(f);
  if (pid <= 0)
    return 0;
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
    return 0;
  return pid;
}
