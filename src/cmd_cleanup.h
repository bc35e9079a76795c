/* `sendit cleanup` (src/cmd_cleanup.c). */
#ifndef SENDIT_CMD_CLEANUP_H
#define SENDIT_CMD_CLEANUP_H

int cmd_cleanup(int argc, char **argv);
extern const char cmd_cleanup_usage[];

#endif
