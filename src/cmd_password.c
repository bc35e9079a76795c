/* `sendit set_password`: the web dashboard's password (user admin) or a new
 * API token. Only argon2id hashes are stored, in [web] password_file. */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "cmd_password.h"
#include "sendit/http.h"
#include "sendit/net.h"

const char cmd_set_password_usage[] =
    "Usage: sendit set_password [--token | --dicom-user NAME] [--config PATH]\n"
    "\n"
    "Sets the password of the web dashboard and API (user admin). The new password\n"
    "is the first line of standard input, or is asked for twice on a terminal. It\n"
    "needs at least 8 characters. Only its argon2id hash is stored, in [web]\n"
    "password_file (mode 0600). A running daemon uses the new password within a\n"
    "second, and everyone logged in must log in again.\n"
    "\n"
    "  --token        make a new API token instead and print it once on standard\n"
    "                 output; clients send it as \"Authorization: Bearer TOKEN\".\n"
    "                 The previous token stops working.\n"
    "  --dicom-user NAME  print a line NAME:HASH for the DICOM listener's [dicom]\n"
    "                 users_file (user identity) instead; add it to that file (a\n"
    "                 line for NAME already there: replace it) and restart the\n"
    "                 listener. Nothing is written.\n"
    "  --config PATH  configuration file (default ./sendit.ini when present)\n"
    "\n"
    "Exit status: 0 set, 1 failed (too short, mismatch, cannot write), 2 usage.\n";

enum { LINE_MAX_CHARS = 4096 };

/* One line of input without its line ending; -1 at end of input. */
static int read_line(char *buf, size_t size) {
  if (!fgets(buf, (int)size, stdin))
    return -1;
  buf[strcspn(buf, "\r\n")] = '\0';
  return 0;
}

/* Asks on the terminal with echo off, restoring it whatever happens. */
static int prompt(const char *question, char *buf, size_t size) {
  struct termios old, quiet;
  int have_tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (have_tty) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  fputs(question, stderr);
  fflush(stderr);
  int rc = read_line(buf, size);
  if (have_tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  return rc;
}

static int get_password(const char *question, char *buf, size_t size) {
  if (!isatty(STDIN_FILENO)) {
    if (read_line(buf, size) != 0 || !buf[0]) {
      fprintf(stderr, "sendit set_password: no password on standard input\n");
      return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
  }
  char again[LINE_MAX_CHARS];
  if (prompt(question, buf, size) != 0 ||
      prompt("Same password again: ", again, sizeof again) != 0) {
    fprintf(stderr, "sendit set_password: no password given\n");
    return CLI_EXIT_FAILURE;
  }
  int same = strcmp(buf, again) == 0;
  memset(again, 0, sizeof again);
  if (!same) {
    fprintf(stderr, "sendit set_password: the two passwords differ; nothing changed\n");
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

/* --dicom-user: the users_file line of a DICOM user, on standard output. */
static int dicom_user_line(app *a, const char *name, char *secret, size_t size) {
  int rc = get_password("New DICOM passcode: ", secret, size);
  char line[SI_NET_USER_LINE_SIZE];
  si_error err;
  if (rc == CLI_EXIT_OK && strlen(secret) < SI_WEB_PASSWORD_MIN) {
    fprintf(stderr, "sendit set_password: the passcode needs at least %d characters\n",
            SI_WEB_PASSWORD_MIN);
    rc = CLI_EXIT_FAILURE;
  }
  if (rc == CLI_EXIT_OK && si_net_user_line(name, secret, line, &err) != SI_OK) {
    cli_print_error("set_password", &err);
    rc = CLI_EXIT_FAILURE;
  }
  if (rc == CLI_EXIT_OK) {
    printf("%s\n", line);
    fprintf(stderr, "add this line to the [dicom] users_file%s%s\n",
            a->cfg.dicom_users_file[0] ? " " : "", a->cfg.dicom_users_file);
  }
  memset(secret, 0, size);
  memset(line, 0, sizeof line);
  app_close(a);
  return rc;
}

int cmd_set_password(int argc, char **argv) {
  app a;
  int rc = app_init(&a, "set_password", &argc, argv);
  if (rc)
    return rc;
  int token = 0;
  const char *dicom_user = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--token") == 0) {
      token = 1;
    } else if (strcmp(argv[i], "--dicom-user") == 0 && i + 1 < argc && !dicom_user) {
      dicom_user = argv[++i];
    } else {
      app_close(&a);
      return cli_usage_error("set_password", "unknown option '%s'", argv[i]);
    }
  }
  if (token && dicom_user) {
    app_close(&a);
    return cli_usage_error("set_password", "--token and --dicom-user exclude each other");
  }
  char secret[LINE_MAX_CHARS];
  si_error err;
  si_status st = SI_OK;
  if (dicom_user)
    return dicom_user_line(&a, dicom_user, secret, sizeof secret);
  if (token)
    st = si_web_new_token(secret, &err);
  else
    rc = get_password("New web password: ", secret, sizeof secret);
  if (rc == CLI_EXIT_OK && st == SI_OK)
    st = si_web_set_secret(a.cfg.web_password_file, token ? SI_WEB_TOKEN : SI_WEB_PASSWORD, secret,
                           &err);
  if (st != SI_OK) {
    cli_print_error("set_password", &err);
    rc = CLI_EXIT_FAILURE;
  }
  if (rc == CLI_EXIT_OK && token) {
    printf("%s\n", secret);
    fprintf(stderr, "new API token set in %s; it is shown only this once\n",
            a.cfg.web_password_file);
  } else if (rc == CLI_EXIT_OK) {
    fprintf(stderr, "password set for user %s in %s\n", SI_WEB_USER, a.cfg.web_password_file);
  }
  memset(secret, 0, sizeof secret);
  app_close(&a);
  return rc;
}
