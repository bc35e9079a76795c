/* Editing data sets read by the reader (or made with si_file_new).
 *
 * Elements are addressed by a path: components separated by '.', each a
 * keyword ("PatientName"), a tag "(gggg,eeee)" or "gggg,eeee", or a private
 * tag by creator "(gggg,\"CREATOR\",ee)" (the element ee in the block that
 * CREATOR reserves in group gggg). Every component but the last names a
 * sequence and selects items: "[N]" (0-based) or "[*]" (every item), e.g.
 * "RequestAttributesSequence[0].AccessionNumber" or
 * "(0040,0275)[*].(0008,0050)". A path whose last component has an index
 * ("ReferencedSeriesSequence[1]") names an item (si_edit_erase,
 * si_edit_insert_item).
 *
 * Ownership and lifetime: edits change the si_file in place. Values read
 * from the file stay borrowed from it until changed; an edit copies the new
 * value into the si_file's memory (freed with si_file_free), so the caller's
 * strings are only borrowed for the call. Any edit of a data set invalidates
 * the si_element pointers obtained from it before (arrays move); the
 * si_dataset pointers of items stay valid until their item is removed.
 *
 * Values are given as UTF-8 text and checked against the element's VR
 * (the existing element's, else the dictionary's; LO for an unknown private
 * element, LO for a private creator): length per value (AE 16, AS 4, CS 16,
 * DA 8, DS 16, DT 26, IS 12, LO 64, LT 10240, PN 64 per group, SH 16,
 * ST 1024, TM 16, UI 64, UC/UR/UT unbounded but < 4 GiB), allowed characters
 * (CS: upper case, digits, space, '_'; DA/TM/DT/DS/IS: their digits and
 * signs; UI: a valid UID; AE/CS/...: no control characters), and numbers for
 * US SS UL SL UV SV FL FD (backslash-separated lists) and AT ("(gggg,eeee)"
 * or "ggggeeee"). Even padding is left to the writer. OB, OW, OF, OD, OL,
 * OV, UN and SQ cannot be set from text (SI_ERR_VALUE); UN elements that
 * already exist take the bytes of the text as they are.
 *
 * Character sets: text that is not plain ASCII, for a VR that Specific
 * Character Set governs (LO LT PN SH ST UC UT), is stored as UTF-8. When the
 * data set's character set is the default repertoire (none given), (0008,0005)
 * becomes "ISO_IR 192"; when it is another one, the whole data set is
 * re-encoded to UTF-8 first (every text value decoded with its character set,
 * nested (0008,0005) removed, the top one set to "ISO_IR 192"); a text value
 * left in the file by the read cannot be re-encoded and the edit fails with
 * SI_ERR_CHARSET. Non-ASCII text for other VRs is SI_ERR_VALUE. */
#ifndef SENDIT_EDIT_H
#define SENDIT_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/dicom.h"

#ifdef __cplusplus
extern "C" {
#endif

/* si_edit_set flags. */
enum {
  /* Create the element when absent, and the sequences and items on its
   * path ("[N]" creates items up to N; "[*]" selects only existing ones).
   * Without it an absent element is SI_ERR_NOT_FOUND (dcmodify -m). */
  SI_EDIT_CREATE = 1u << 0,
  /* Only create: an existing element is left alone (and counted 0). */
  SI_EDIT_ONLY_NEW = 1u << 1
};

/* Sets the element(s) at path to `value` (UTF-8). *changed (may be NULL)
 * gets the number of elements set. */
si_status si_edit_set(si_file *file, const char *path, const char *value, unsigned flags,
                      size_t *changed, si_error *err);

/* Sets a binary value (host byte order for numbers) with an explicit VR,
 * creating the element when absent; `value` is copied. */
si_status si_edit_set_bytes(si_file *file, const char *path, si_vr vr, const void *value,
                            size_t len, si_error *err);

/* Removes the element(s) at path, or the item(s) when the path ends in
 * "[N]" / "[*]". *removed (may be NULL) counts them; nothing there is
 * SI_ERR_NOT_FOUND. */
si_status si_edit_erase(si_file *file, const char *path, size_t *removed, si_error *err);

/* Inserts an empty item at `index` (SIZE_MAX: at the end) of the sequence at
 * seq_path, creating the sequence when absent. *item (may be NULL) gets the
 * new item, to fill with paths relative to it via si_edit_set_in. */
si_status si_edit_insert_item(si_file *file, const char *seq_path, size_t index, si_dataset **item,
                              si_error *err);

/* si_edit_set on a path relative to one data set of file (an item). */
si_status si_edit_set_in(si_file *file, si_dataset *ds, const char *path, const char *value,
                         unsigned flags, size_t *changed, si_error *err);

/* Removes every private element (odd groups), in items too. */
si_status si_edit_erase_private(si_file *file, size_t *removed, si_error *err);

/* Removes every element whose group matches `pattern`: four hex digits
 * where 'x' matches any digit ("60xx" overlays, "50xx" curves), in items
 * too. A bad pattern is SI_ERR_ARG. */
si_status si_edit_erase_groups(si_file *file, const char *pattern, size_t *removed, si_error *err);

/* Mutable top-level data set of file (same object as si_file_dataset). */
si_dataset *si_file_dataset_mut(si_file *file);

/* Checks a path's syntax and keywords without a file (command lines). */
si_status si_edit_check_path(const char *path, si_error *err);

#ifdef __cplusplus
}
#endif
#endif
