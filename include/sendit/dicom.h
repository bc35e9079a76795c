/* DICOM Part 10 reader: files, memory buffers or any stream behind si_io.
 *
 * Model: an si_file owns everything read from one stream: the file meta
 * information (group 0002), the data set, and facts about the encoding
 * (si_file_info). Data sets hold elements in stream order; sequences hold
 * items, each a data set of its own. All memory of one si_file lives in one
 * arena and goes away with si_file_free: every pointer obtained from an
 * si_file (elements, values, items, info) borrows from it and must not be
 * freed or used after si_file_free.
 *
 * Numbers in binary values (US, SS, UL, SL, FL, FD, AT, OW, OF, OD, OL, OV, SV,
 * UV) are stored in host byte order whatever the transfer syntax. String
 * values are kept as the bytes of the file; si_get_string decodes them. */
#ifndef SENDIT_DICOM_H
#define SENDIT_DICOM_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"
#include "sendit/io.h"
#include "sendit/vr.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SI_TAG(group, element) (((uint32_t)(group) << 16) | (uint32_t)(element))
#define SI_TAG_GROUP(tag) ((uint16_t)((tag) >> 16))
#define SI_TAG_ELEMENT(tag) ((uint16_t)((tag)&0xFFFF))

#define SI_TAG_ITEM SI_TAG(0xFFFE, 0xE000)
#define SI_TAG_ITEM_DELIM SI_TAG(0xFFFE, 0xE00D)
#define SI_TAG_SEQ_DELIM SI_TAG(0xFFFE, 0xE0DD)
#define SI_TAG_PIXEL_DATA SI_TAG(0x7FE0, 0x0010)
#define SI_TAG_TRANSFER_SYNTAX SI_TAG(0x0002, 0x0010)
#define SI_TAG_SPECIFIC_CHARSET SI_TAG(0x0008, 0x0005)
#define SI_UNDEFINED_LENGTH 0xFFFFFFFFu

/* Well-known transfer syntax UIDs. */
#define SI_TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define SI_TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define SI_TS_DEFLATED_LE "1.2.840.10008.1.2.1.99"
#define SI_TS_EXPLICIT_BE "1.2.840.10008.1.2.2"

typedef struct si_file si_file;
typedef struct si_dataset si_dataset;

/* Element flags. */
enum {
  SI_ELEM_UNDEFINED_LENGTH = 1u << 0, /* length was 0xFFFFFFFF in the stream */
  SI_ELEM_ODD_LENGTH = 1u << 1,       /* value length was odd (tolerated) */
  SI_ELEM_ENCAPSULATED = 1u << 2,     /* pixel data as fragments, see fragments */
  SI_ELEM_IMPLICIT_VR = 1u << 3,      /* VR came from the dictionary, not the stream */
  SI_ELEM_UN_AS_IMPLICIT = 1u << 4,   /* UN of undefined length, read as implicit SQ */
  SI_ELEM_VR_CORRECTED = 1u << 5,     /* invalid explicit VR replaced by the dictionary's */
  /* Header-only read: the value was longer than max_kept_value and was
   * skipped, not read: value is NULL, value_len 0, length says its size. */
  SI_ELEM_VALUE_SKIPPED = 1u << 6,
  /* Explicit UN of a known (non-private) tag, decoded with the dictionary's
   * VR (PS3.5 6.2.2); vr is that VR; an SQ's items were read as implicit LE. */
  SI_ELEM_UN_DECODED = 1u << 7,
  /* With SI_ELEM_VALUE_SKIPPED: the skipped bytes were big endian in the
   * stream (the writer swaps them when it copies them to little endian). */
  SI_ELEM_SOURCE_BIG_ENDIAN = 1u << 8
};

typedef struct si_fragment {
  uint64_t offset; /* offset of the item header in the stream */
  uint32_t length; /* bytes in this fragment */
  /* Borrowed from the si_file; NULL with length > 0 when the read left the
   * fragment in the file (leave_in_file): its bytes are at offset + 8. */
  const uint8_t *bytes;
} si_fragment;

typedef struct si_element {
  uint32_t tag;
  si_vr vr;
  uint32_t flags;  /* SI_ELEM_* */
  uint32_t length; /* value length as written (SI_UNDEFINED_LENGTH possible) */
  uint64_t offset; /* offset of the element header in the stream */
  /* Offset of the value in the stream (in the inflated stream for deflated
   * data sets); for a skipped value, where its `length` bytes are. */
  uint64_t value_offset;
  const uint8_t *value; /* value bytes (host order for numbers); NULL when empty */
  size_t value_len;     /* bytes at value; for SQ and encapsulated data: 0 */
  si_dataset **items;   /* SQ: the items, in order */
  size_t item_count;
  si_fragment *fragments; /* encapsulated pixel data: basic offset table first */
  size_t fragment_count;
} si_element;

/* Warnings found while reading: not fatal, kept in si_file_info.warnings. */
enum {
  SI_WARN_ODD_LENGTH = 1u << 0,     /* some value had an odd length */
  SI_WARN_NO_PREAMBLE = 1u << 1,    /* no 128-byte preamble + DICM */
  SI_WARN_NO_META = 1u << 2,        /* no file meta group */
  SI_WARN_NO_TS = 1u << 3,          /* meta without (0002,0010): guessed */
  SI_WARN_BAD_VR = 1u << 4,         /* invalid explicit VR replaced */
  SI_WARN_TRAILING_BYTES = 1u << 5, /* zero padding (or stray delimiters) after the last element */
  SI_WARN_UNKNOWN_TS = 1u << 6,     /* unknown TS UID: read as explicit LE */
  SI_WARN_OUT_OF_ORDER = 1u << 7,   /* tags not ascending somewhere */
  SI_WARN_META_GROUP_LENGTH = 1u << 8, /* (0002,0000) missing or wrong */
  SI_WARN_LENGTH_MISMATCH = 1u << 9    /* a sequence shorter than its items: items trusted */
};

typedef struct si_file_info {
  char transfer_syntax[65]; /* UID as read from the meta, or the one detected */
  int has_preamble;         /* 128 bytes + "DICM" present */
  int has_meta;             /* group 0002 present */
  int explicit_vr;          /* data set encoding */
  int big_endian;
  int deflated;
  int encapsulated;        /* transfer syntax with encapsulated pixel data */
  int stopped_early;       /* header-only read stopped before pixel data */
  uint64_t data_offset;    /* offset where the data set (after meta) starts */
  uint64_t end_offset;     /* offset where reading stopped */
  uint32_t warnings;       /* SI_WARN_* */
  uint32_t max_depth_seen; /* deepest sequence nesting met (0 = none) */
} si_file_info;

typedef struct si_read_options {
  /* Stop at the first top-level element with tag >= (7FE0,0008) (Float Pixel
   * Data, Double Float Pixel Data, Pixel Data) without reading its value: the
   * import hot path. */
  int stop_before_pixels;
  /* More general: stop before the first top-level tag >= this (0 = never). */
  uint32_t stop_before_tag;
  /* Deepest sequence nesting accepted; deeper is SI_ERR_LIMIT (0 = 64). */
  uint32_t max_depth;
  /* Largest single value kept in memory; larger is SI_ERR_LIMIT
   * (0 = 2 GiB). Values are never allocated beyond the bytes really present. */
  uint64_t max_value_length;
  /* Header-only reads (stop_before_pixels or stop_before_tag): values longer
   * than this are not read but skipped (seeked over; inflated and discarded
   * in deflated data sets), flagged SI_ELEM_VALUE_SKIPPED (0 = 64 KiB). */
  uint64_t max_kept_value;
  /* Header-only reads: most memory one file's parse may take (elements,
   * values, buffers); more is SI_ERR_LIMIT (0 = 32 MiB). Full reads are
   * bounded by max_value_length per value and the file's size instead. */
  uint64_t max_header_memory;
  /* Bytes to ask for in the first read: header-only reads of typical files
   * then need one read call (0 = 8 KiB). */
  size_t initial_read;
  /* Full reads by si_read_file: values and pixel fragments longer than this
   * are not loaded but left in the file (SI_ELEM_VALUE_SKIPPED with
   * value_offset; fragments with bytes NULL), and the si_file remembers the
   * path so the writer (sendit/write.h) copies them from there: rewriting a
   * 1 GB multi-frame file takes little memory. 0 = load everything. Ignored
   * inside deflated data sets (their offsets are not the file's). */
  uint64_t leave_in_file;
  /* Reads a bare data set (no preamble, no file meta) in this transfer
   * syntax (UID; see sendit/tsyntax.h), as the DICOM network carries them.
   * NULL = a Part 10 file (or a data set whose encoding is detected). */
  const char *transfer_syntax;
} si_read_options;

/* Fills opts with the defaults (read everything, depth 64). */
void si_read_options_init(si_read_options *opts);

/* Reads a file. On success *out is a new si_file the caller frees with
 * si_file_free. On failure *out is NULL and err names the file, offset, tag
 * and reason. opts may be NULL (defaults). */
si_status si_read_file(const char *path, const si_read_options *opts, si_file **out, si_error *err);

/* Same from memory; `data` is borrowed only during the call (values are
 * copied). `name` is used in error messages (may be NULL). */
si_status si_read_memory(const void *data, size_t size, const char *name,
                         const si_read_options *opts, si_file **out, si_error *err);

/* Same from any stream; `io` is borrowed and not closed. */
si_status si_read_io(si_io *io, const si_read_options *opts, si_file **out, si_error *err);

void si_file_free(si_file *file);

/* A new empty si_file (no meta, empty data set, Explicit VR Little Endian)
 * to build a data set from scratch with sendit/edit.h; caller frees. */
si_status si_file_new(si_file **out, si_error *err);

/* All borrowed from file. si_file_meta never returns NULL (an empty data set
 * when the stream had no meta). */
const si_file_info *si_file_get_info(const si_file *file);
const si_dataset *si_file_meta(const si_file *file);
const si_dataset *si_file_dataset(const si_file *file);

/* Data set access (borrowed pointers). */
size_t si_dataset_count(const si_dataset *ds);
const si_element *si_dataset_at(const si_dataset *ds, size_t index);
/* Element with this tag in ds (not searching nested items), or NULL. */
const si_element *si_dataset_find(const si_dataset *ds, uint32_t tag);
/* Raw Specific Character Set in force for ds (inherited by items); "" when
 * none. Borrowed. */
const char *si_dataset_charset_raw(const si_dataset *ds, size_t *len);
/* Private creator string (trailing spaces removed) that reserves the block of
 * private tag `tag` in ds (or an enclosing data set), or NULL. Borrowed. */
const char *si_dataset_private_creator(const si_dataset *ds, uint32_t tag, size_t *len);

/* Number of values in an element: backslash-separated for multi-valued
 * strings, value_len / unit size for binary numbers, items for SQ. */
size_t si_element_vm(const si_element *el);

/* ---- Typed getters. Absent element or index out of range: SI_ERR_NOT_FOUND.
 * A value that does not convert: SI_ERR_VALUE. ---- */

/* Value `index` of a string element, decoded to UTF-8 with the data set's
 * Specific Character Set, leading/trailing padding removed as PS3.5 says
 * (trailing spaces/NULs; leading spaces except for LT/ST/UT/UR). Pass
 * index = SIZE_MAX for the whole value unsplit. *out is malloc'd; caller frees. */
si_status si_get_string(const si_dataset *ds, uint32_t tag, size_t index, char **out,
                        si_error *err);
/* The same with the length of *out: a value may hold NUL bytes, which are
 * kept (only trailing padding is removed), so strlen may be shorter. */
si_status si_get_string_n(const si_dataset *ds, uint32_t tag, size_t index, char **out, size_t *len,
                          si_error *err);
/* IS, SS, US, SL, UL, SV, UV (and AT as its 32-bit tag). */
si_status si_get_int(const si_dataset *ds, uint32_t tag, size_t index, int64_t *out, si_error *err);
/* DS, FL, FD, OF, OD, and any integer VR. */
si_status si_get_float(const si_dataset *ds, uint32_t tag, size_t index, double *out,
                       si_error *err);
/* UI value into a caller buffer of at least 65 bytes, padding removed.
 * Longer than 64 characters: SI_ERR_VALUE. The syntax is not checked: see
 * si_uid_is_valid and si_get_valid_uid. */
si_status si_get_uid(const si_dataset *ds, uint32_t tag, char out[65], si_error *err);
/* 1 when the len bytes at uid are a valid UID (PS3.5 9.1) once trailing NUL
 * and space padding is removed: 1 to 64 characters, components of digits
 * separated by single dots, no component empty or (when longer than one
 * digit) starting with 0. 0 otherwise (also for NULL). */
int si_uid_is_valid(const char *uid, size_t len);
/* si_get_uid that also checks the value with si_uid_is_valid: an invalid
 * one is SI_ERR_VALUE, err saying why (out then empty). */
si_status si_get_valid_uid(const si_dataset *ds, uint32_t tag, char out[65], si_error *err);

typedef struct si_date {
  int year, month, day; /* month/day 0 when the value gives only a year/month */
} si_date;
/* DA "YYYYMMDD" (and the retired "YYYY.MM.DD"). */
si_status si_get_date(const si_dataset *ds, uint32_t tag, size_t index, si_date *out,
                      si_error *err);

typedef struct si_person_name {
  /* Three component groups: [0] alphabetic, [1] ideographic, [2] phonetic;
   * five components each: family, given, middle, prefix, suffix. All
   * NUL-terminated UTF-8 (possibly ""), owned by the struct. */
  char *group[3];
  char *component[3][5];
} si_person_name;
/* PN value `index`; free with si_person_name_free. */
si_status si_get_person_name(const si_dataset *ds, uint32_t tag, size_t index, si_person_name *out,
                             si_error *err);
void si_person_name_free(si_person_name *pn);

/* Name of a transfer syntax UID ("Explicit VR Little Endian", "JPEG 2000
 * Image Compression (Lossless Only)", ...), or NULL when unknown. Static. */
const char *si_transfer_syntax_name(const char *uid);

#ifdef __cplusplus
}
#endif
#endif
