/* Loading an optional shared library when it is first needed (libpq for
 * PostgreSQL, libmicrohttpd for the dashboard), so that commands which do
 * not need it do not pay for loading it and its dependencies at start-up.
 * Internal to the library. */
#ifndef SENDIT_UTIL_DL_H
#define SENDIT_UTIL_DL_H

#include <stddef.h>

/* Opens `soname` and stores the address of names[i] in *slots[i] for each
 * of the n names. Returns 1 when all were found; else 0 with the reason in
 * `problem` (the library is left loaded: nothing unloads it). */
int si_dl_resolve(const char *soname, const char *const *names, void **const *slots, size_t n,
                  char *problem, size_t size);

#endif
