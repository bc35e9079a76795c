#include "util/curl_body.h"

#include <stdlib.h>
#include <string.h>

size_t si_curl_body_write(char *ptr, size_t size, size_t nmemb, void *user) {
  si_curl_body *b = user;
  size_t n = size * nmemb;
  if (b->len > b->max || n > b->max - b->len) {
    b->too_big = 1;
    return 0; /* libcurl stops with CURLE_WRITE_ERROR */
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
      return 0;
    b->data = data;
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}
