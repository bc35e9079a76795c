/* sendit.ini(5), as `sendit manpage 5` prints it (src/manpage.h): one
 * section per INI section of the configuration's key table
 * (si_config_key_at), each key with its type, default, bounds or values,
 * environment variables and help; then [destination NAME] with the keys
 * common to every destination (si_config_dest_key_at) and each type's own
 * (si_dest_types). The loader reads the same rows, so the page lists what
 * sendit accepts. */
#include <inttypes.h>
#include <string.h>

#include "manpage.h"
#include "sendit/config.h"
#include "sendit/destination.h"

/* ".br" and one "Label: value" line, the value in bold. */
static void fact(FILE *out, const char *label, const char *value) {
  fprintf(out, ".br\n%s: \\fB", label);
  roff_text(out, value, strlen(value));
  fputs("\\fR\n", out);
}

/* One key: its help, then a line per fact. A type's own keys have no type
 * of their own (the type's check reads them) and may be required. */
static void key_entry(FILE *out, const si_config_key_info *k, int required) {
  fputs(".TP\n.B ", out);
  roff_text(out, k->key, strlen(k->key));
  fputc('\n', out);
  roff_line(out, k->help, strlen(k->help));
  if (k->type)
    fprintf(out, ".br\nType: %s\n", k->type);
  if (required)
    fputs(".br\nRequired (no default)\n", out);
  else if (!k->def)
    fputs(".br\nDefault: none\n", out);
  else if (!k->def[0])
    fputs(".br\nDefault: empty\n", out);
  else
    fact(out, "Default", k->def);
  if (k->ranged && k->open_max)
    fprintf(out, ".br\nRange: %" PRId64 " or more\n", k->min);
  else if (k->ranged)
    fprintf(out, ".br\nRange: %" PRId64 " to %" PRId64 "\n", k->min, k->max);
  if (k->choices) {
    fputs(".br\nValues:", out);
    for (size_t i = 0; k->choices[i]; i++) {
      fputs(i ? ", \\fB" : " \\fB", out);
      roff_text(out, k->choices[i], strlen(k->choices[i]));
      fputs("\\fR", out);
    }
    fputc('\n', out);
  }
  if (k->env) {
    fputs(".br\nEnvironment: \\fB", out);
    roff_text(out, k->env, strlen(k->env));
    if (k->alias) {
      fputs("\\fR or \\fB", out);
      roff_text(out, k->alias, strlen(k->alias));
    }
    fputs("\\fR\n", out);
  }
}

static void sections(FILE *out) {
  si_config_key_info k;
  const char *section = NULL;
  for (size_t i = 0; si_config_key_at(i, &k) == 0; i++) {
    if (!section || strcmp(section, k.section) != 0) {
      char title[80];
      snprintf(title, sizeof title, "[%s]", k.section);
      roff_macro(out, "SH", title);
      section = k.section;
    }
    key_entry(out, &k, 0);
  }
}

static void destinations(FILE *out) {
  fputs(".SH \"[destination NAME]\"\n"
        ".PP\n"
        "One section per destination that the send stage delivers to; NAME has\n"
        "letters, digits, \\(aq\\-\\(aq and \\(aq_\\(aq. Its keys are read from the\n"
        "file only. Every destination has the keys below; its\n"
        ".B type\n"
        "adds the type's own, listed after them. A key the type does not know is\n"
        "an error.\n"
        ".SS \"Keys of every destination\"\n",
        out);
  si_config_key_info k;
  for (size_t i = 0; si_config_dest_key_at(i, &k) == 0; i++)
    key_entry(out, &k, 0);
  for (size_t t = 0; si_dest_types[t]; t++) {
    const si_dest_type *type = si_dest_types[t];
    char title[80];
    snprintf(title, sizeof title, "type = %s", type->name);
    roff_macro(out, "SS", title);
    for (size_t i = 0; i < type->key_count; i++) {
      const si_dest_key *dk = &type->keys[i];
      memset(&k, 0, sizeof k);
      k.key = dk->key;
      k.def = dk->default_value;
      k.help = dk->help ? dk->help : "";
      key_entry(out, &k, dk->required);
    }
  }
}

int manpage_write_5(FILE *out, const man_info *info) {
  fputs(".\\\" sendit.ini(5), written by `sendit manpage 5` from the configuration's\n"
        ".\\\" tables of keys (lib/util/config.c, config_dest.c, lib/deliver). Do not edit.\n",
        out);
  fprintf(out, ".TH SENDIT.INI 5 \"%s\" \"sendit %s\" \"File Formats\"\n", info->date,
          info->version);
  fputs(".nh\n.ad l\n"
        ".SH NAME\n"
        "sendit.ini \\- the configuration of sendit\n"
        ".SH SYNOPSIS\n"
        ".I ./sendit.ini\n"
        ".PP\n"
        ".B sendit\n.I COMMAND\n.B \\-\\-config\n.I PATH\n"
        ".SH DESCRIPTION\n"
        "The configuration of a\n"
        ".B sendit\n"
        "site: the built-in defaults, then this INI file, then the environment\n"
        "variables named below (an environment variable wins over the file).\n"
        "A file is read from\n"
        ".I ./sendit.ini\n"
        "when it exists, or from the path given with\n"
        ".BR \\-\\-config ,\n"
        "which must exist.\n",
        out);
  const char *installed = si_config_system_path();
  if (installed[0]) {
    fputs("Without either, the installed file\n.I ", out);
    roff_text(out, installed, strlen(installed));
    fputs("\nis read when it exists.\n", out);
  }
  fputs(".PP\n"
        "The file has\n"
        ".B [section]\n"
        "lines and\n"
        ".B key = value\n"
        "lines below them; lines starting with\n"
        ".B ;\n"
        "are comments. Unknown sections or keys are errors, and so is a key given\n"
        "twice; every value is checked when the configuration loads, and a bad one\n"
        "is an error naming the key. Relative paths in the file are relative to\n"
        "the file\\(aqs folder; those of defaults and environment variables to the\n"
        "current folder. Booleans are true, yes, on or 1, and false, no, off or 0.\n"
        ".PP\n"
        ".B sendit config\n"
        "prints the effective configuration: every key, its value and where the\n"
        "value came from.\n",
        out);
  sections(out);
  destinations(out);
  fputs(".SH \"SEE ALSO\"\n.BR sendit (1)\n", out);
  return ferror(out) ? -1 : 0;
}
