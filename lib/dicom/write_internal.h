/* Shared by the files of the writer (private to lib/dicom): write_sink.c
 * is the output (an fd or memory, optionally deflated), write_meta.c builds
 * the file meta information, write.c encodes data sets (sendit/write.h). */
#ifndef SENDIT_DICOM_WRITE_INTERNAL_H
#define SENDIT_DICOM_WRITE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "internal.h"

#define STAGE_SIZE ((size_t)256 << 10) /* fd output buffer */

/* ---- output: an fd (buffered) or a growing memory buffer, optionally
 * through raw deflate ---- */

typedef struct sink {
  int fd; /* -1: memory */
  const char *name;
  si_error *err;
  uint8_t *buf;
  size_t used, cap;
  uint64_t offset; /* bytes of the uncompressed stream so far, for errors */
  int deflating;
  z_stream z;
  uint8_t *zbuf;
  uint64_t compressed; /* bytes of deflate output so far */
} sink;

/* An error at the output's current offset. */
si_status si_sink_error(sink *o, si_status code, uint32_t tag, const char *what);
/* Writes out what an fd sink holds. */
si_status si_sink_flush_fd(sink *o);
/* n bytes of the (uncompressed) stream, deflated when deflating. */
si_status si_sink_put(sink *o, const void *p, size_t n);
/* From here on, what is put is deflated (level 0: zlib's default). */
si_status si_sink_start_deflate(sink *o, int level);
/* Ends the deflate stream (PS3.5 A.5: an odd one gets a NUL). */
si_status si_sink_finish_deflate(sink *o);
/* Frees what the sink holds; a memory sink's buffer stays the caller's. */
void si_sink_release(sink *o);

/* ---- file meta information ---- */

typedef struct meta_buf {
  uint8_t b[4096];
  size_t n;
  int overflow;
} meta_buf;

/* A valid UID from the data set's ds_tag, else the source meta's meta_tag;
 * "" when neither holds one. */
void si_write_pick_uid(const si_file *file, uint32_t ds_tag, uint32_t meta_tag, char out[65]);
/* The file meta group for file in syntax ts into m (errors through o). */
si_status si_write_build_meta(const si_file *file, const si_ts_props *ts, meta_buf *m, sink *o);

#endif
