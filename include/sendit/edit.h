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

/* ---- Element-level editing (lib/dicom/edit_ds.c) ----
 * For engines that decide every element (de-identification): elements are
 * addressed by (data set, tag), no path is parsed. `ds` is a data set of
 * `file`: its top data set (si_file_dataset_mut), its file meta
 * (si_file_meta_mut) or an item reached through si_element_item_mut. The
 * ownership rules above hold: values are copied into the file's memory, and
 * an edit of ds invalidates si_element pointers into ds (not items). Values
 * from text are checked as si_edit_set checks them (VR of the existing
 * element, else the dictionary's). */

/* Mutable file meta (group 0002) of file; never NULL. The writer
 * regenerates most of it (sendit/write.h) but keeps later elements. */
si_dataset *si_file_meta_mut(si_file *file);

/* Mutable element at index / with tag in ds (NULL when out of range or
 * absent); valid until the next edit of ds. */
si_element *si_dataset_at_mut(si_dataset *ds, size_t index);
si_element *si_dataset_find_mut(si_dataset *ds, uint32_t tag);

/* Item `index` of sequence element el (or of a UN read as a sequence;
 * NULL when out of range or el has no items); valid until the item is
 * removed. */
si_dataset *si_element_item_mut(const si_element *el, size_t index);

/* Removes the element(s) with tag from ds alone (not items); returns how
 * many went (0: none there). */
size_t si_ds_remove(si_file *file, si_dataset *ds, uint32_t tag);

/* Sets (ds, tag) from UTF-8 text, creating it (the dictionary's VR; LO when
 * unknown) when absent. An existing sequence or binary bulk element is
 * SI_ERR_VALUE. "" gives an empty (zero-length) value. */
si_status si_ds_set_text(si_file *file, si_dataset *ds, uint32_t tag, const char *text,
                         si_error *err);

/* Sets (ds, tag) to len raw bytes (host order for numbers) with VR vr
 * (not SQ), creating it when absent; replaces items or fragments. */
si_status si_ds_set_bytes(si_file *file, si_dataset *ds, uint32_t tag, si_vr vr, const void *bytes,
                          size_t len, si_error *err);

/* Makes (ds, tag) a sequence of `count` new empty items (replacing whatever
 * was there; count 0: an empty sequence). *items (may be NULL) gets the
 * sequence's item array (count entries, owned by file), to fill with
 * si_ds_set_text. */
si_status si_ds_set_sequence(si_file *file, si_dataset *ds, uint32_t tag, size_t count,
                             si_dataset ***items, si_error *err);

/* What a walk callback asks for the element it was shown. */
typedef enum si_walk_action {
  SI_WALK_KEEP = 0,   /* keep it; a sequence's items are visited next */
  SI_WALK_SKIP = 1,   /* keep it, do not visit its items */
  SI_WALK_REMOVE = 2, /* remove it (and its items) */
  SI_WALK_ERROR = 3   /* stop: the callback filled err */
} si_walk_action;

/* Called for every element; `ds` holds it and `depth` is 0 at the top. The
 * callback may edit ds through the functions above (replace el's value with
 * si_ds_set_text / si_ds_set_bytes, even when that moves ds's elements);
 * it must not remove other elements of ds than el. */
typedef si_walk_action (*si_walk_fn)(void *ctx, si_file *file, si_dataset *ds, si_element *el,
                                     unsigned depth, si_error *err);

/* Visits every element of ds in order, each sequence element (or UN read
 * as one) before its items and the items' elements, at every depth
 * (pre-order). SI_OK, or the
 * status the callback left in err after SI_WALK_ERROR. */
si_status si_ds_walk(si_file *file, si_dataset *ds, si_walk_fn fn, void *ctx, si_error *err);

#ifdef __cplusplus
}
#endif
#endif
