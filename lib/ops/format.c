/* The operator's formats; see sendit/ops_format.h. */
#include "sendit/ops_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sendit/utf8.h"

const char *ops_time(char buf[OPS_TIME_MAX], int64_t ms, int millis) {
  if (ms <= 0)
    return strcpy(buf, "-");
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(buf, OPS_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
  if (millis)
    snprintf(buf + n, OPS_TIME_MAX - n, ".%03dZ", (int)(ms % 1000));
  else
    snprintf(buf + n, OPS_TIME_MAX - n, "Z");
  return buf;
}

const char *ops_size(char buf[OPS_SIZE_MAX], int64_t bytes) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) {
    snprintf(buf, OPS_SIZE_MAX, "%" PRId64 " B", bytes);
    return buf;
  }
  double v = (double)bytes / 1024.0;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024.0;
    u++;
  }
  snprintf(buf, OPS_SIZE_MAX, "%.1f %s", v, units[u]);
  return buf;
}

const char *ops_elapsed(char buf[OPS_ELAPSED_MAX], int64_t ms, int known) {
  if (!known || ms < 0)
    snprintf(buf, OPS_ELAPSED_MAX, "-");
  else if (ms < 60 * 1000)
    snprintf(buf, OPS_ELAPSED_MAX, "%.3f s", (double)ms / 1000.0);
  else if (ms < 3600 * 1000)
    snprintf(buf, OPS_ELAPSED_MAX, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms / 1000 % 60);
  else
    snprintf(buf, OPS_ELAPSED_MAX, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
  return buf;
}

json_t *ops_json_time(int64_t ms) {
  char buf[OPS_TIME_MAX];
  return ms > 0 ? json_string(ops_time(buf, ms, 1)) : json_null();
}

json_t *ops_json_text(const char *s) {
  if (!s)
    return json_null();
  size_t n = strlen(s);
  if (si_utf8_valid(s, n))
    return json_stringn(s, n);
  char *fixed = si_utf8_repair(s, n, &n);
  json_t *j = fixed ? json_stringn(fixed, n) : NULL;
  free(fixed);
  return j ? j : json_null();
}
