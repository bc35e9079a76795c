#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sendit/log.h"
#include "sendit/ops_summary.h"

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

int app_open_db_readonly(app *a, const char *cmd) {
  si_error err;
  si_status st = si_db_open_readonly(a->cfg.database, &a->db, &err);
  if (st == SI_ERR_NOT_FOUND) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s%s%s; showing an empty one", err.file, err.file[0] ? ": " : "",
             err.message);
    si_log_sanitize(buf, strlen(buf));
    fflush(stdout);
    fprintf(stderr, "sendit %s: %s\n", cmd, buf);
    a->db_absent = 1;
    st = si_db_open(":memory:", &a->db, &err);
  }
  if (st != SI_OK) {
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

long app_running_pid(const si_config *cfg) { return ops_running_pid(cfg->pidfile); }
