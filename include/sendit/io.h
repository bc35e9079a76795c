/* Byte streams behind a small table of functions, so one parser reads files,
 * memory (fuzzers, tests) and, later, network streams.
 *
 * Ownership: si_io_open_* return a new si_io that the caller closes with
 * si_io_close. A memory stream borrows its buffer, which must outlive it. */
#ifndef SENDIT_IO_H
#define SENDIT_IO_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct si_io si_io;

typedef struct si_io_methods {
  /* Reads up to n bytes; returns bytes read (0 at end of stream) or -1 with
   * err filled. */
  int64_t (*read)(void *ctx, void *buf, size_t n, si_error *err);
  /* Skips n bytes forward; returns bytes skipped (less at end of stream) or -1.
   * May be NULL: then skipping reads and discards. */
  int64_t (*skip)(void *ctx, uint64_t n, si_error *err);
  /* Bytes left in the stream, or -1 when unknown (pipes, inflate). May be NULL. */
  int64_t (*remaining)(void *ctx);
  void (*close)(void *ctx);
} si_io_methods;

/* Wraps ctx with methods; takes ownership of ctx (closed by si_io_close). */
si_status si_io_create(const si_io_methods *methods, void *ctx, const char *name, si_io **out,
                       si_error *err);
si_status si_io_open_file(const char *path, si_io **out, si_error *err);
si_status si_io_open_memory(const void *data, size_t size, const char *name, si_io **out,
                            si_error *err);
void si_io_close(si_io *io);

int64_t si_io_read(si_io *io, void *buf, size_t n, si_error *err);
int64_t si_io_skip(si_io *io, uint64_t n, si_error *err);
int64_t si_io_remaining(si_io *io);
/* Name given at open (path for files); borrowed. */
const char *si_io_name(const si_io *io);

#ifdef __cplusplus
}
#endif
#endif
