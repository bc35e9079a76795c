/* sendit(1), as `sendit manpage 1` prints it (src/manpage.h): the NAME and
 * DESCRIPTION from the overview, one COMMANDS subsection per listed row of
 * main.c's command table with its usage text converted (deid's subcommands
 * from their own table), the ENVIRONMENT and FILES from the configuration's
 * key table. Only the sentences that tie these together are written here. */
#include <string.h>

#include "manpage.h"
#include "sendit/config.h"

static void command_section(FILE *out, const char *title, const char *summary, const char *usage) {
  roff_macro(out, "SS", title);
  if (summary) {
    fputs(".PP\n", out);
    roff_line(out, summary, strlen(summary));
  }
  if (usage) {
    man_usage_synopsis(out, usage);
    man_usage_body(out, usage);
  } else {
    fputs(".PP\n", out);
    roff_words(out, title, strlen(title), 1);
    fputc('\n', out);
  }
}

static void deid_subcommands(FILE *out) {
  const char *name, *usage;
  for (size_t i = 0; cmd_deid_subcommand_at(i, &name, &usage) == 0; i++) {
    char title[80];
    if (name)
      snprintf(title, sizeof title, "sendit deid %s", name);
    else
      snprintf(title, sizeof title, "sendit deid (de-identifying files)");
    command_section(out, title, NULL, usage);
  }
}

static void environment(FILE *out) {
  fputs(".SH ENVIRONMENT\n"
        ".PP\n"
        "Every key of the configuration can be set by an environment variable,\n"
        "which wins over the file; see\n"
        ".BR sendit.ini (5)\n"
        "for the values.\n",
        out);
  si_config_key_info k;
  for (size_t i = 0; si_config_key_at(i, &k) == 0; i++) {
    char what[160];
    snprintf(what, sizeof what, "[%s] %s.", k.section, k.key);
    fputs(".TP\n.B ", out);
    roff_text(out, k.env, strlen(k.env));
    fputc('\n', out);
    roff_line(out, what, strlen(what));
    if (k.alias) {
      fputs(".TP\n.B ", out);
      roff_text(out, k.alias, strlen(k.alias));
      fputs("\nThe short name of\n.BR ", out);
      roff_text(out, k.env, strlen(k.env));
      fputs(" ;\nthe long name wins when both are set.\n", out);
    }
  }
}

static void files(FILE *out) {
  fputs(".SH FILES\n"
        ".TP\n"
        ".I ./sendit.ini\n"
        "The configuration file read when no\n"
        ".B \\-\\-config\n"
        "option is given and the file exists.\n",
        out);
  const char *installed = si_config_system_path();
  if (installed[0]) {
    fputs(".TP\n.I ", out);
    roff_text(out, installed, strlen(installed));
    fputs("\nThe installed configuration file, read when no\n"
          ".B \\-\\-config\n"
          "option is given and the current folder has no\n"
          ".IR sendit.ini .\n",
          out);
  }
  si_config_key_info k;
  for (size_t i = 0; si_config_key_at(i, &k) == 0; i++) {
    if (!k.def || strncmp(k.def, "./", 2) != 0)
      continue;
    char what[160];
    snprintf(what, sizeof what, "[%s] %s: ", k.section, k.key);
    fputs(".TP\n.I ", out);
    roff_text(out, k.def, strlen(k.def));
    fputc('\n', out);
    roff_text(out, what, strlen(what));
    fputc('\n', out);
    roff_line(out, k.help, strlen(k.help));
  }
  fputs(".PP\n"
        "Relative paths are relative to the configuration file's folder, or to the\n"
        "current folder for defaults and environment variables.\n",
        out);
}

int manpage_write_1(FILE *out, const man_info *info, const cli_command *commands, size_t count) {
  fputs(".\\\" sendit(1), written by `sendit manpage 1` from the program's command table\n"
        ".\\\" and usage texts (src/cmd_*.c) and its configuration keys. Do not edit.\n",
        out);
  fprintf(out, ".TH SENDIT 1 \"%s\" \"sendit %s\" \"User Commands\"\n", info->date, info->version);
  fputs(".nh\n.ad l\n.SH NAME\nsendit \\- ", out);
  roff_line(out, info->about, strlen(info->about));
  fputs(".SH SYNOPSIS\n"
        ".B sendit\n.I COMMAND\n.RI [ ARGS ...]\n"
        ".PP\n.B sendit\n.I COMMAND\n.B \\-\\-help\n"
        ".PP\n.B sendit help\n.RI [ COMMAND ]\n"
        ".PP\n.B sendit \\-\\-version\n"
        ".SH DESCRIPTION\n.B sendit\n",
        out);
  roff_text(out, info->about, strlen(info->about));
  fputs(".\n", out);
  fputs(".PP\n"
        "Its commands follow; each prints its own usage with\n"
        ".BR \\-\\-help .\n"
        "The commands that work on a site read its configuration: the built-in\n"
        "defaults, then the configuration file (\\fI./sendit.ini\\fR, or the file given\n"
        "with \\fB\\-\\-config\\fR \\fIPATH\\fR), then the environment; see\n"
        ".BR sendit.ini (5).\n"
        ".SH COMMANDS\n",
        out);
  for (size_t i = 0; i < count; i++) {
    const cli_command *c = &commands[i];
    if (!c->summary)
      continue;
    char title[80];
    snprintf(title, sizeof title, "sendit %s", c->name);
    command_section(out, title, c->summary, c->usage);
    if (c->run == cmd_deid)
      deid_subcommands(out);
  }
  environment(out);
  files(out);
  fprintf(out,
          ".SH \"EXIT STATUS\"\n"
          ".TP\n.B %d\nSuccess.\n"
          ".TP\n.B %d\nThe command ran but some of its work failed (each command's\n"
          "section says which).\n"
          ".TP\n.B %d\nA bad command line or configuration: nothing was done.\n",
          CLI_EXIT_OK, CLI_EXIT_FAILURE, CLI_EXIT_USAGE);
  fputs(".SH \"SEE ALSO\"\n"
        ".BR sendit.ini (5),\n"
        ".BR dcmodify (1),\n"
        ".BR echoscu (1),\n"
        ".BR storescu (1),\n"
        ".BR storescp (1)\n",
        out);
  return ferror(out) ? -1 : 0;
}
