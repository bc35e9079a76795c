#include "sendit/error.h"

#include <stdio.h>
#include <string.h>

void si_error_clear(si_error *err) {
  if (!err)
    return;
  err->code = SI_OK;
  err->file[0] = '\0';
  err->offset = SI_NO_OFFSET;
  err->tag = SI_NO_TAG;
  err->message[0] = '\0';
}

si_status si_error_setv(si_error *err, si_status code, const char *file, uint64_t offset,
                        uint32_t tag, const char *fmt, va_list ap) {
  if (!err)
    return code;
  err->code = code;
  snprintf(err->file, sizeof err->file, "%s", file ? file : "");
  err->offset = offset;
  err->tag = tag;
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  return code;
}

si_status si_error_set(si_error *err, si_status code, const char *file, uint64_t offset,
                       uint32_t tag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  si_error_setv(err, code, file, offset, tag, fmt, ap);
  va_end(ap);
  return code;
}

const char *si_status_name(si_status code) {
  static const char *const names[] = {
      [SI_OK] = "ok",
      [SI_ERR_IO] = "io",
      [SI_ERR_NOT_DICOM] = "not-dicom",
      [SI_ERR_FORMAT] = "format",
      [SI_ERR_TRUNCATED] = "truncated",
      [SI_ERR_LIMIT] = "limit",
      [SI_ERR_UNSUPPORTED] = "unsupported",
      [SI_ERR_NOMEM] = "out-of-memory",
      [SI_ERR_NOT_FOUND] = "not-found",
      [SI_ERR_VALUE] = "value",
      [SI_ERR_ARG] = "argument",
      [SI_ERR_CHARSET] = "charset",
      [SI_ERR_DB] = "database",
      [SI_ERR_CONFIG] = "config",
      [SI_ERR_STATE] = "state",
      [SI_ERR_PARSE] = "parse",
  };
  if ((unsigned)code < sizeof names / sizeof names[0] && names[code])
    return names[code];
  return "unknown";
}

char *si_error_format(const si_error *err, char *buf, size_t size) {
  if (!buf || size == 0)
    return buf;
  if (!err) {
    snprintf(buf, size, "unknown error");
    return buf;
  }
  size_t n = 0;
  int w;
#define APPEND(...)                                                                                \
  do {                                                                                             \
    w = snprintf(buf + n, size - n, __VA_ARGS__);                                                  \
    if (w < 0 || (size_t)w >= size - n)                                                            \
      return buf;                                                                                  \
    n += (size_t)w;                                                                                \
  } while (0)
  buf[0] = '\0';
  if (err->file[0])
    APPEND("%s: ", err->file);
  if (err->offset != SI_NO_OFFSET)
    APPEND("offset %llu: ", (unsigned long long)err->offset);
  if (err->tag != SI_NO_TAG)
    APPEND("tag (%04X,%04X): ", (unsigned)(err->tag >> 16), (unsigned)(err->tag & 0xFFFF));
  APPEND("%s [%s]", err->message[0] ? err->message : "error", si_status_name(err->code));
#undef APPEND
  return buf;
}
