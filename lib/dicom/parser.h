/* The parser's state, shared by the files of the reader (private to
 * lib/dicom): parse.c reads data sets (elements, values, sequences,
 * fragments), part10.c the Part 10 framing around them (preamble, file meta,
 * transfer syntax, deflate), read.c the public entry points (sendit/dicom.h). */
#ifndef SENDIT_DICOM_PARSER_H
#define SENDIT_DICOM_PARSER_H

#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "stream.h"

#define DEFAULT_MAX_DEPTH 64
#define DEFAULT_MAX_VALUE ((uint64_t)2 << 30)
/* Header-only reads: values above this are skipped, and one file's parse may
 * take at most DEFAULT_MAX_HEADER_MEMORY (README: "Reading DICOM"). */
#define DEFAULT_MAX_KEPT_VALUE ((uint64_t)64 << 10)
#define DEFAULT_MAX_HEADER_MEMORY ((uint64_t)32 << 20)
/* Fragments of unread pixel data whose item headers a header-only read
 * checks against the file's end; beyond, the check gives up (not an error). */
#define MAX_CHECKED_FRAGMENTS 65536
#define NO_END UINT64_MAX

typedef struct encoding {
  int explicit_vr;
  int big_endian;
} encoding;

typedef struct parser {
  si_stream *s;
  si_file *file;
  si_error *err;
  const char *name;
  uint32_t stop_tag; /* 0: never stop early */
  uint32_t max_depth;
  uint64_t max_value;
  int header_only;         /* a stop tag is set: values over max_kept are skipped */
  uint64_t max_kept;       /* header-only: longest value read into memory */
  uint64_t max_memory;     /* header-only: arena bytes allowed (0: no bound) */
  uint64_t stop_offset;    /* header-only: where the element stopped at starts */
  uint64_t leave;          /* full reads from a file: longer values stay in it (0: none) */
  const si_ts_props *bare; /* bare data set in this syntax, or NULL: Part 10 */
} parser;

/* Loads then swaps when needed: one load each, and a branch the predictor
 * learns at once since a stream has one byte order. */
static inline uint16_t rd16(const uint8_t *b, int big_endian) {
  uint16_t v;
  memcpy(&v, b, sizeof v);
  return big_endian ? __builtin_bswap16(v) : v;
}

static inline uint32_t rd32(const uint8_t *b, int big_endian) {
  uint32_t v;
  memcpy(&v, b, sizeof v);
  return big_endian ? __builtin_bswap32(v) : v;
}

typedef struct element_header {
  uint32_t tag;
  si_vr vr;
  uint32_t length;
  uint32_t flags;
  size_t size;
} element_header;

/* Error helpers: fill p->err and return the code. */
si_status si_parse_fail(parser *p, si_status code, uint64_t offset, uint32_t tag, const char *what);
si_status si_parse_nomem(parser *p, uint32_t tag);

/* A new empty data set in the file's arena (NULL when out of memory). */
si_dataset *si_parse_new_dataset(parser *p, const si_dataset *parent);
/* Room for one more element at the end of ds (NULL when out of memory). */
si_element *si_parse_append_element(parser *p, si_dataset *ds);
/* Reads the element header at the stream position (consumes nothing). */
si_status si_parse_element_header(parser *p, encoding enc, element_header *h);
/* Reads (or skips, or leaves in the file) el's value at the stream position. */
si_status si_parse_value(parser *p, si_dataset *ds, si_element *el, encoding enc, uint32_t depth);
/* Reads elements into ds up to end (NO_END: the stream's end or a delimiter). */
si_status si_parse_dataset(parser *p, si_dataset *ds, encoding enc, uint64_t end, uint32_t depth,
                           int *ended_by_delimiter);
/* The whole stream: preamble, file meta, then the data set (part10.c). */
si_status si_parse_part10(parser *p);

#endif
