/* Shared by the files of the editor (private to lib/dicom): edit_path.c
 * parses paths, edit_value.c turns text into values checked against the VR,
 * edit.c applies edits to data sets (sendit/edit.h). */
#ifndef SENDIT_DICOM_EDIT_INTERNAL_H
#define SENDIT_DICOM_EDIT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define MAX_COMPONENTS 16

typedef struct component {
  uint32_t tag;       /* plain tag; for a private tag by creator: (gggg,00ee) */
  char creator[65];   /* "" unless addressed by creator */
  int has_index, all; /* "[N]" / "[*]" */
  size_t index;
} component;

typedef struct path {
  component c[MAX_COMPONENTS];
  size_t n;
  const char *text;
} path;

/* SI_ERR_ARG "bad tag path 'text': why". */
si_status si_edit_bad_path(const char *text, const char *why, si_error *err);
/* The n hex digits at s into *out; 0 when one is not a hex digit. */
int si_edit_hex_digits(const char *s, int n, uint32_t *out);
/* Parses text into out, which borrows text. SI_ERR_ARG names what is wrong. */
si_status si_edit_parse_path(const char *text, path *out, si_error *err);

/* Checks backslash-separated values of a string VR (characters, lengths). */
si_status si_edit_check_string(uint32_t tag, si_vr vr, const char *v, size_t n, si_error *err);
/* Backslash-separated numbers of a binary VR into host-order bytes in *out
 * (malloc'ed, the caller frees; *len bytes). */
si_status si_edit_parse_numbers(uint32_t tag, si_vr vr, const char *text, uint8_t **out,
                                size_t *len, si_error *err);
/* US SS UL SL UV SV FL FD AT: values written as binary numbers. */
int si_edit_is_binary_number(si_vr vr);
/* s holds a byte above 0x7F. */
int si_edit_has_non_ascii(const char *s);

/* Data set surgery shared by edit.c (paths) and edit_ds.c (elements).
 * New element `tag` at its place in ascending order (after equal tags);
 * NULL when out of memory. Moves ds's elements. */
si_element *si_edit_insert_element(si_file *f, si_dataset *ds, uint32_t tag, si_vr vr);
/* Removes element i of ds (forgetting ds's charset when it was (0008,0005)). */
void si_edit_remove_at(si_dataset *ds, size_t i);
/* Copies len bytes at v into f's arena as el's value (el becomes a plain
 * element: items and fragments dropped; the VR is kept). */
si_status si_edit_store_value(si_file *f, si_dataset *ds, si_element *el, const void *v, size_t len,
                              si_error *err);
/* Sets el from UTF-8 text, checked against el's VR (sendit/edit.h); may
 * re-encode the data set to UTF-8 and insert (0008,0005) (elements move). */
si_status si_edit_set_text(si_file *f, si_dataset *ds, si_element *el, const char *text,
                           si_error *err);
/* A new empty item at `at` (SIZE_MAX: the end) of sequence seq of ds. */
si_status si_edit_add_item(si_file *f, si_dataset *ds, si_element *seq, size_t at, si_dataset **out,
                           si_error *err);
/* The VR a new element gets: the dictionary's, LO when unknown. */
si_vr si_edit_vr_for_new(uint32_t tag);

#endif
