/* Process-wide logging: one line per event, "2026-11-24T18:00:00.123Z LEVEL msg"
 * (UTC, milliseconds; newlines and control characters in msg are replaced,
 * see si_log_sanitize).
 * Thread-safe. The level is checked before any formatting happens.
 * Ownership: nothing to free but si_log_close at exit. */
#ifndef SENDIT_LOG_H
#define SENDIT_LOG_H

#include "sendit/error.h"

typedef enum si_log_level { SI_LOG_DEBUG, SI_LOG_INFO, SI_LOG_WARN, SI_LOG_ERROR } si_log_level;

/* Logs to `path` (appending; created with its folder) or to stderr when path
 * is NULL. May be called again to switch, e.g. to reopen after rotation; it is
 * not async-signal-safe, so a SIGHUP handler should only set a flag. The file
 * is opened O_APPEND, so several processes may share it. */
si_status si_log_open(const char *path, si_log_level min_level, si_error *err);
void si_log_close(void);
si_log_level si_log_min_level(void);
/* "debug", "info", "warn", "error" -> level; -1 when unknown. */
int si_log_level_parse(const char *name);

/* The one rule for showing untrusted text (file names, DICOM values, batch
 * uids) in a log line or on an operator's terminal, in place and keeping
 * the length: CR and LF become a blank, every other control character (C0
 * but tab, DEL, and the C1 controls U+0080..U+009F) and every byte that is
 * not part of well-formed UTF-8 becomes '?'. The CLI's tables use it too. */
void si_log_sanitize(char *text, size_t len);

void si_log_write(si_log_level level, const char *fmt, ...) SI_PRINTF(2, 3);

#define si_log(level, ...)                                                                         \
  do {                                                                                             \
    if ((level) >= si_log_min_level())                                                             \
      si_log_write((level), __VA_ARGS__);                                                          \
  } while (0)

#endif
