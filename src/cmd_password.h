/* `sendit set_password` (src/cmd_password.c). */
#ifndef SENDIT_CMD_PASSWORD_H
#define SENDIT_CMD_PASSWORD_H

int cmd_set_password(int argc, char **argv);
extern const char cmd_set_password_usage[];

#endif
