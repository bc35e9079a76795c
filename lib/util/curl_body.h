/* The body of an HTTP answer, collected by libcurl's write callback with a
 * cap: the identifier service's, STOW-RS's (and any other client's) one rule
 * for reading an answer of a size the peer chooses. Internal to the library.
 *
 * Set max before the transfer and pass &body as CURLOPT_WRITEDATA with
 * si_curl_body_write as CURLOPT_WRITEFUNCTION. A body that would pass max
 * stops the transfer (libcurl's CURLE_WRITE_ERROR) with too_big set;
 * running out of memory stops it too. data is NUL-terminated once anything
 * came (NULL before); the caller frees it with free(). To reuse the buffer
 * for a retry, set len and too_big to 0. */
#ifndef SENDIT_UTIL_CURL_BODY_H
#define SENDIT_UTIL_CURL_BODY_H

#include <stddef.h>

typedef struct si_curl_body {
  char *data;
  size_t len, cap;
  size_t max; /* the most bytes kept; longer answers are refused */
  int too_big;
} si_curl_body;

size_t si_curl_body_write(char *ptr, size_t size, size_t nmemb, void *user);

#endif
