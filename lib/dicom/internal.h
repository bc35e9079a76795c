/* Structures shared by the reader's source files; not part of the public API. */
#ifndef SENDIT_DICOM_INTERNAL_H
#define SENDIT_DICOM_INTERNAL_H

#include "arena.h"
#include "sendit/dicom.h"

struct si_dataset {
  si_element *elements;
  size_t count;
  size_t capacity;
  /* Enclosing data set for items (charset and private creators are inherited). */
  const si_dataset *parent;
  /* Raw Specific Character Set of this data set when it has one. */
  const uint8_t *charset;
  size_t charset_len;
  int sorted; /* tags strictly ascending: find may binary search */
};

struct si_file {
  si_arena arena;
  si_file_info info;
  si_dataset *meta;
  si_dataset *dataset;
};

/* Properties of a transfer syntax. */
typedef struct si_ts_props {
  const char *uid;
  const char *name;
  unsigned char explicit_vr;
  unsigned char big_endian;
  unsigned char deflated;
  unsigned char encapsulated;
} si_ts_props;

/* NULL when the UID is not a known transfer syntax. */
const si_ts_props *si_ts_lookup(const char *uid);

#endif
