/* What every pipeline command needs before it starts: the configuration
 * (`--config PATH` anywhere on its command line, else ./sendit.ini, then
 * SENDIT_* variables) and, when asked, the database. */
#ifndef SENDIT_APP_H
#define SENDIT_APP_H

#include "sendit/config.h"
#include "sendit/db.h"

typedef struct app {
  si_config cfg;
  si_db *db;     /* NULL until app_open_db */
  int db_absent; /* app_open_db_readonly found no database: db is an empty one in memory */
} app;

/* Removes "--config PATH" / "--config=PATH" from argv (updating *argc) and
 * loads the configuration. Prints the error and returns non-zero (the exit
 * status to use) on failure. */
int app_init(app *a, const char *cmd, int *argc, char **argv);
/* Opens (and migrates) the database; prints the error on failure. */
int app_open_db(app *a, const char *cmd);
/* For commands that only look: opens the database without creating or
 * migrating anything (si_db_open_readonly). When there is none yet (no
 * SQLite file, no sendit tables in PostgreSQL), it says so on stderr and
 * gives an empty database in memory instead, so the command answers as it
 * would on a new site without leaving a file behind; a->db_absent is set. */
int app_open_db_readonly(app *a, const char *cmd);
void app_close(app *a);

/* The pid in the pidfile when that process is alive, else 0 (a stale
 * pidfile is left for the caller to replace): ops_running_pid's rule. */
long app_running_pid(const si_config *cfg);

/* Commands over the pipeline (one cmd_*.c each). */
int cmd_start_watcher(int argc, char **argv);
int cmd_stop_watcher(int argc, char **argv);
int cmd_start_queue(int argc, char **argv);
int cmd_import_dicomdir(int argc, char **argv);
extern const char cmd_start_watcher_usage[];
extern const char cmd_stop_watcher_usage[];
extern const char cmd_start_queue_usage[];
extern const char cmd_import_dicomdir_usage[];

#endif
