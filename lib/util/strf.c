#include "sendit/strf.h"

#include <stdio.h>
#include <stdlib.h>

char *si_vstrf(const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && vsnprintf(s, (size_t)n + 1, fmt, again) != n) {
    free(s);
    s = NULL;
  }
  va_end(again);
  return s;
}

char *si_strf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = si_vstrf(fmt, ap);
  va_end(ap);
  return s;
}
