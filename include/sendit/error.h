/* Errors are values: every fallible function returns an si_status and, when it
 * fails, fills a caller-provided si_error with what failed and where.
 *
 * Ownership: si_error is a plain struct owned by the caller (usually on the
 * stack); it holds no heap memory and needs no cleanup. Passing NULL for the
 * error pointer is allowed everywhere: the status still tells what happened. */
#ifndef SENDIT_ERROR_H
#define SENDIT_ERROR_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* glibc's <signal.h> defines si_status as a macro for a siginfo_t field,
 * which would rewrite our type name wherever signals are used. Including it
 * first and dropping the macro keeps one name for the library's status;
 * sendit reads child statuses with waitpid, never through siginfo_t. */
#undef si_status

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SI_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define SI_PRINTF(fmt_index, first_arg)
#endif

typedef enum si_status {
  SI_OK = 0,
  SI_ERR_IO,          /* open/read/write failed; errno-derived message */
  SI_ERR_NOT_DICOM,   /* the bytes are not a DICOM stream at all */
  SI_ERR_FORMAT,      /* DICOM structure is invalid (bad VR, bad item, ...) */
  SI_ERR_TRUNCATED,   /* the stream ends inside an element */
  SI_ERR_LIMIT,       /* a safety limit was hit (depth, value size, ...) */
  SI_ERR_UNSUPPORTED, /* valid but not supported (unknown charset, ...) */
  SI_ERR_NOMEM,       /* allocation failed */
  SI_ERR_NOT_FOUND,   /* the requested element/value is absent */
  SI_ERR_VALUE,       /* a value cannot be converted to the requested type */
  SI_ERR_ARG,         /* caller passed an invalid argument */
  SI_ERR_CHARSET,     /* text could not be decoded to UTF-8 */
  SI_ERR_DB,          /* database backend failure */
  SI_ERR_CONFIG,      /* invalid configuration */
  SI_ERR_STATE,       /* operation not valid in the current state */
  SI_ERR_PARSE        /* a text input (a deid recipe) is malformed: file, line, what was expected */
} si_status;

/* Marker for "no tag is involved in this error". */
#define SI_NO_TAG 0xFFFFFFFFu
/* Marker for "no byte offset is known". */
#define SI_NO_OFFSET UINT64_MAX

typedef struct si_error {
  si_status code;
  char file[512];    /* file or stream name, "" when unknown */
  uint64_t offset;   /* byte offset in the stream, SI_NO_OFFSET when unknown */
  uint32_t tag;      /* (gggg,eeee) as 0xggggeeee, SI_NO_TAG when none */
  char message[512]; /* human-readable reason */
} si_error;

/* Resets err to "no error". */
void si_error_clear(si_error *err);

/* Fills err (when not NULL) and returns code, so callers can write
 * `return si_error_set(err, SI_ERR_FORMAT, name, off, tag, "bad VR %s", vr);` */
si_status si_error_set(si_error *err, si_status code, const char *file, uint64_t offset,
                       uint32_t tag, const char *fmt, ...) SI_PRINTF(6, 7);
si_status si_error_setv(si_error *err, si_status code, const char *file, uint64_t offset,
                        uint32_t tag, const char *fmt, va_list ap) SI_PRINTF(6, 0);

/* Short stable name of a status, e.g. "truncated". Never NULL; static storage. */
const char *si_status_name(si_status code);

/* Writes "file: offset N: tag (gggg,eeee): message [status]" into buf
 * (always NUL-terminated when size > 0). Returns buf. */
char *si_error_format(const si_error *err, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
