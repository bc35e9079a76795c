#include "daemon.h"

#include "sendit/log.h"

int daemon_start(const daemon_service *rows, size_t n, void *ctx, int *up) {
  for (size_t i = 0; i < n; i++)
    up[i] = 0;
  for (size_t i = 0; i < n; i++) {
    si_error err;
    char buf[1200];
    if (rows[i].wanted && !rows[i].wanted(ctx))
      continue;
    if (rows[i].start(ctx, &err) == SI_OK) {
      up[i] = 1;
      si_log(SI_LOG_INFO, "service %s started", rows[i].name);
      continue;
    }
    si_error_format(&err, buf, sizeof buf);
    if (rows[i].optional) {
      si_log(SI_LOG_ERROR, "service %s not started: %s; running without it", rows[i].name, buf);
      continue;
    }
    si_log(SI_LOG_ERROR, "service %s failed to start: %s", rows[i].name, buf);
    daemon_stop(rows, i, ctx, up);
    return -1;
  }
  return (int)n;
}

void daemon_stop(const daemon_service *rows, size_t n, void *ctx, int *up) {
  for (size_t i = n; i-- > 0;) {
    if (!up[i])
      continue;
    rows[i].stop(ctx);
    up[i] = 0;
    si_log(SI_LOG_INFO, "service %s stopped", rows[i].name);
  }
}
