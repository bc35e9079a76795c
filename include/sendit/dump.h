/* Human-readable listing of a read DICOM file, one line per element, in the
 * spirit of DCMTK's dcmdump:
 *
 *   (0010,0010) PN [Doe^John]                                #   8, 1 PatientName
 *   (0008,1140) SQ (Sequence with 1 item)                    #  56, 1 ReferencedImageSequence
 *     (FFFE,E000) na (Item 1 of 1, 2 elements)                  #    -, 1 Item
 *       (0008,1150) UI [1.2.840.10008.5.1.4.1.1.2]           #  26, 1 ReferencedSOPClassUID
 *
 * Columns: tag, VR, value, then after '#' the value length as written ("u/l"
 * for undefined length), the value multiplicity and the dictionary keyword
 * ("PrivateTag [creator]" for private data elements, "UnknownTag" for public
 * tags the dictionary lacks).
 *
 * Values: strings in [brackets], decoded to UTF-8 with the Specific Character
 * Set, padding removed, backslash between values, control characters (CR, LF,
 * TAB...) shown as '.' so each element stays on one line; binary numbers in
 * decimal (floats with the fewest digits that read back the same); AT as
 * (gggg,eeee); OB and UN as hex bytes, OW/OL/OV as hex words; "(no value
 * available)" when empty. Items of a sequence and fragments of encapsulated
 * pixel data are indented under their element; undefined-length sequences and
 * pixel sequences end with a SequenceDelimitationItem line. Text longer than
 * max_value_chars is cut and ends in "...".
 *
 * Ownership: the file and data sets are borrowed for the call; `out` is
 * written to but not closed. */
#ifndef SENDIT_DUMP_H
#define SENDIT_DUMP_H

#include <stddef.h>
#include <stdio.h>

#include "sendit/dicom.h"
#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct si_dump_options {
  /* Value text longer than this many characters is cut and ends in "...";
   * 0 prints every value in full. */
  size_t max_value_chars;
} si_dump_options;

#define SI_DUMP_DEFAULT_MAX_VALUE_CHARS 64

/* Fills opts with the defaults (values cut at 64 characters). */
void si_dump_options_init(si_dump_options *opts);

/* Header lines ("# File: name" when name is not NULL, transfer syntax,
 * warnings), the file meta elements, then the data set, and a closing line
 * when reading stopped before the pixel data. opts may be NULL. Fails with
 * SI_ERR_IO when writing to out fails, SI_ERR_NOMEM when memory runs out. */
si_status si_dump_file(FILE *out, const char *name, const si_file *file,
                       const si_dump_options *opts, si_error *err);

/* The element lines of ds (recursing into items), indented for nesting level
 * `depth` (0 for a top-level data set). */
si_status si_dump_dataset(FILE *out, const si_dataset *ds, unsigned depth,
                          const si_dump_options *opts, si_error *err);

/* The value column of one element of ds, as described above, in a new
 * NUL-terminated malloc'd string (*out; caller frees). */
si_status si_dump_value(const si_dataset *ds, const si_element *el, const si_dump_options *opts,
                        char **out, si_error *err);

#ifdef __cplusplus
}
#endif
#endif
