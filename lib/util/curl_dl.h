/* libcurl, loaded with its first user (the identifier service, STOW-RS,
 * S3), so that commands and sites that never speak HTTP do not pay for
 * loading it and its TLS libraries. Internal to the library.
 *
 * Include this instead of <curl/curl.h>: it declares curl's functions as
 * plain declarations (CURL_DISABLE_TYPECHECK), whose addresses the table
 * takes. Call through the table: `si_curl()->curl_easy_setopt(...)`. */
#ifndef SENDIT_UTIL_CURL_DL_H
#define SENDIT_UTIL_CURL_DL_H

#include <stddef.h>

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

/* clang-format off */
#define SI_CURL_FUNCTIONS(X) \
  X(curl_global_init) \
  X(curl_easy_init) \
  X(curl_easy_setopt) \
  X(curl_easy_perform) \
  X(curl_easy_getinfo) \
  X(curl_easy_reset) \
  X(curl_easy_cleanup) \
  X(curl_easy_strerror) \
  X(curl_easy_escape) \
  X(curl_free) \
  X(curl_slist_append) \
  X(curl_slist_free_all)
/* clang-format on */

typedef struct si_curl_api {
#define SI_CURL_DECLARE(name) __typeof__(name) *name;
  SI_CURL_FUNCTIONS(SI_CURL_DECLARE)
#undef SI_CURL_DECLARE
} si_curl_api;

/* The functions, loaded (and curl_global_init run) once per process on the
 * first call, thread-safely. NULL when libcurl cannot be loaded, with why
 * in problem[size] (may be NULL). */
const si_curl_api *si_curl(char *problem, size_t size);

#endif
