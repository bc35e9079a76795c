/* The dicomweb destination's secrets (password_file, token_file): one line
 * read from a file only its owner's group may read. Internal. */
#ifndef SENDIT_DELIVER_STOW_SECRET_H
#define SENDIT_DELIVER_STOW_SECRET_H

#include "sendit/error.h"

#define SI_STOW_SECRET_MAX 4096

/* The first line of path, without its line end, in sodium_malloc'd memory
 * (free with sodium_free): at least one character, printable ASCII (a
 * space too unless token: a bearer token goes into a header line as one
 * word). SI_ERR_CONFIG naming the destination `dest` and `key` otherwise,
 * or when anyone may read the file. */
si_status si_stow_secret_read(const char *dest, const char *key, const char *path, int token,
                              char **out, si_error *err);

#endif
