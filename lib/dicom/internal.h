/* Structures shared by the reader's source files; not part of the public API. */
#ifndef SENDIT_DICOM_INTERNAL_H
#define SENDIT_DICOM_INTERNAL_H

#include "arena.h"
#include "sendit/dicom.h"
#include "sendit/tsyntax.h"

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
  /* Items: the item was read with undefined length (FFFE,E00D ends it);
   * the writer keeps that form. */
  int undefined_length;
};

struct si_file {
  si_arena arena;
  si_file_info info;
  si_dataset *meta;
  si_dataset *dataset;
  /* Path the file was read from (arena copy), or NULL: values left in the
   * file (SI_ELEM_VALUE_IN_FILE) are copied from there by the writer. */
  const char *source_path;
};

/* Properties of a transfer syntax: the public table's entry. */
typedef si_transfer_syntax si_ts_props;

/* NULL when the UID is not a known transfer syntax. */
const si_ts_props *si_ts_lookup(const char *uid);

#endif
