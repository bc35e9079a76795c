/* Conversion of a read data set to the DICOM JSON Model (PS3.18 Annex F).
 *
 * The mapping, element by element:
 *  - key: the tag as 8 upper-case hex digits; members in ascending tag order;
 *    group length elements (gggg,0000) are left out, as F.2.2 requires; when a
 *    tag occurs twice in one data set (broken files) the first one is kept,
 *    as si_dataset_find does.
 *  - "vr": the VR read (or chosen from the dictionary for implicit VR). An
 *    undefined-length UN that the reader parsed as a sequence is "SQ".
 *  - empty value (length 0, or a sequence without items): no "Value" member
 *    (F.2.5); an empty value inside a multi-valued string is null.
 *  - AE AS CS DA DT LO LT SH ST TM UC UI UR UT: strings, decoded to UTF-8
 *    through the Specific Character Set, padding removed.
 *  - IS, DS: JSON numbers (integers when the text is an integer); a value that
 *    is not a number is kept as its string, which F.2.3 allows for IS and DS.
 *  - US SS UL SL SV: integers; UV above 2^63-1: a decimal string (F.2.3).
 *  - FL FD: numbers (an FL as the shortest decimal that reads back as the
 *    same float); NaN and infinities, which JSON cannot write as numbers,
 *    become the strings "NaN", "Infinity", "-Infinity".
 *  - AT: "GGGGEEEE" strings.
 *  - PN: objects with the non-empty component groups among "Alphabetic",
 *    "Ideographic", "Phonetic".
 *  - SQ: one JSON object per item (an empty item is {}).
 *  - OB OD OF OL OV OW UN: "InlineBinary", base64 of the value in little
 *    endian byte order (F.2.7), whatever the transfer syntax or host.
 *  - Encapsulated pixel data: "InlineBinary" of the encapsulated value field
 *    as it appears in the stream: each fragment (basic offset table first) with
 *    its item tag and length, without the final sequence delimiter. This is
 *    what pydicom emits, so both tools agree; set omit_encapsulated to leave
 *    the value out instead (then only "vr" is written).
 *
 * Ownership: results are new jansson references owned by the caller, who
 * releases them with json_decref. The data set is borrowed for the call. */
#ifndef SENDIT_JSON_H
#define SENDIT_JSON_H

#include <jansson.h>
#include <stdio.h>

#include "sendit/dicom.h"
#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct si_json_options {
  /* si_file_to_json only: also write the file meta elements (group 0002),
   * which are not part of a data set in the JSON model but say how the file
   * was encoded. */
  int include_meta;
  /* Write encapsulated pixel data as "vr" only, without "InlineBinary". */
  int omit_encapsulated;
} si_json_options;

/* Fills opts with the defaults (no meta, encapsulated data inline). */
void si_json_options_init(si_json_options *opts);

/* Converts ds (and its nested items) to a new JSON object in *out. opts may
 * be NULL (defaults). On failure (only out of memory) *out is NULL and err
 * says which element failed. */
si_status si_dataset_to_json(const si_dataset *ds, const si_json_options *opts, json_t **out,
                             si_error *err);

/* Same for the data set of a file, with its meta group first when
 * opts->include_meta is set. */
si_status si_file_to_json(const si_file *file, const si_json_options *opts, json_t **out,
                          si_error *err);

/* Printing: jansson writes every real with one fixed number of digits, 17 by
 * default, which shows a DS of "0.661468" as 0.66146799999999994. This is the
 * fewest digits (15 to 17) that still write every real in json exactly, for
 * JSON_REAL_PRECISION(). json is borrowed. */
int si_json_real_precision(const json_t *json);

/* json_dumpf(json, out, flags) with that precision added to flags; fails
 * with SI_ERR_IO when writing fails. json and out are borrowed. */
si_status si_json_write(FILE *out, const json_t *json, size_t flags, si_error *err);

#ifdef __cplusplus
}
#endif
#endif
