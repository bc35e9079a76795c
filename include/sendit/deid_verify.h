/* The leak scan (issue 14, "Verification"): collects the identifying values
 * of original DICOM files, then looks for them in de-identified files, so
 * that an output that still holds one is never passed on.
 *
 * What is collected (README, "Verification (the leak scan)"): the values of a
 * fixed table of identifying tags (lib/deid/verify_tags.c: names, with the
 * family, given and middle components of PN values on their own; patient
 * ids, other ids and issuers; birth date; accession number; addresses and
 * telephone numbers; institution, department, physicians', operators' and
 * other persons' names; station name and device serial; the UIDs PS3.15
 * Table E.1-1 marks U), found at every depth of sequences in the file meta
 * and the data set, decoded with the data set's Specific Character Set;
 * with event_dates, every DA value and the date part of every DT value too;
 * and the values the caller adds (si_verify_add_value, si_verify_add_report:
 * what the engine replaced).
 *
 * Against false positives: values with fewer than 3 letters or digits (a
 * kana, CJK or Hangul character counting two), all-digit values shorter
 * than 4 digits, registered UIDs, values made of one repeated character, dates
 * that are not valid dates, and the common placeholder words of
 * verify_tags.c ("ANONYMOUS", "YES", "UNKNOWN", ...) are not collected; text
 * values shorter than 5 characters only match as whole words; UIDs, dates
 * and numbers only match as whole tokens; values the caller says are kept by
 * design (si_verify_allow_kind / si_verify_allow_tag, e.g. under a Retain
 * option) are not collected, and elements the output keeps by design
 * (si_verify_keep_tag) are not scanned. Bulk sample data (pixel data at any depth,
 * overlay, curve and waveform data) is not scanned: pixel data is not cleaned.
 *
 * Where it looks: every element of the output, at every depth, private
 * blocks and the file meta included, decoded with the output's character set
 * (text case-insensitively, in longer strings too), and the value bytes and
 * the file's raw bytes for the encodings the value could have been written in
 * (the original's own bytes, UTF-8, ISO 8859-1, UTF-16LE, upper and lower
 * case), so that nothing escapes in a UN or unknown private element, a
 * preamble, trailing bytes or a file the reader rejects.
 *
 * Ownership: an si_verify is created by si_verify_new and freed with
 * si_verify_free; it copies every value and name it is given. Hits are
 * appended to a caller-owned si_verify_hits, freed with si_verify_hits_free
 * (which frees what the hits hold, not the struct). A hit's value is the
 * identifying value itself: print it only for the operator who asked
 * (sendit deid verify does; logs must use si_verify_mask). Nothing here logs.
 * One si_verify is used by one thread at a time. */
#ifndef SENDIT_DEID_VERIFY_H
#define SENDIT_DEID_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/deid.h"
#include "sendit/dicom.h"
#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct si_verify si_verify;

typedef struct si_verify_options {
  /* 1: also collect every DA value and the date part of every DT value of
   * the originals (kind "date"), for outputs whose dates must all have been
   * shifted or removed. 0 (default): the birth date only. */
  int event_dates;
} si_verify_options;

void si_verify_options_init(si_verify_options *opts);

/* opts may be NULL (defaults). */
si_status si_verify_new(const si_verify_options *opts, si_verify **out, si_error *err);
void si_verify_free(si_verify *v);

/* Values kept by design are not collected: by kind (the names
 * si_verify_kind_valid accepts: "patient-name", "uid", "institution",
 * "device", "date", ...) or by tag (from the originals and from added
 * values alike). Call before collecting. SI_ERR_ARG for an unknown kind. */
si_status si_verify_allow_kind(si_verify *v, const char *kind, si_error *err);
si_status si_verify_allow_tag(si_verify *v, uint32_t tag, si_error *err);
/* An element the de-identification keeps by design (an attribute the
 * profile keeps, such as Manufacturer or a code's CodeMeaning, whose value
 * may equal an identifying value of some original): its values in outputs,
 * at any depth, are not scanned (neither decoded nor raw). */
si_status si_verify_keep_tag(si_verify *v, uint32_t tag, si_error *err);
/* 1 when kind is one of the kinds collected. */
int si_verify_kind_valid(const char *kind);

/* Collects the identifying values of one original; name (copied) says where
 * they came from in hits. *origin (may be NULL) gets the original's index. */
si_status si_verify_collect(si_verify *v, const si_file *file, const char *name, size_t *origin,
                            si_error *err);
/* Reads the file at path and collects from it (name = path). */
si_status si_verify_collect_path(si_verify *v, const char *path, size_t *origin, si_error *err);

/* Adds one value the caller knows to be identifying (UTF-8, copied) as having
 * come from original `origin` (an index from si_verify_collect; SIZE_MAX:
 * none) at `tag` (SI_NO_TAG: unknown); kind "replaced". The same rules against
 * false positives apply. */
si_status si_verify_add_value(si_verify *v, size_t origin, uint32_t tag, const char *text,
                              si_error *err);
/* Adds every value of an engine report (sendit/deid.h). */
si_status si_verify_add_report(si_verify *v, size_t origin, const si_deid_report *report,
                               si_error *err);

/* The values collected so far (for tests and summaries): count, and value i's
 * text (UTF-8) and kind; borrowed from v, valid until the next call that adds. */
size_t si_verify_value_count(const si_verify *v);
const char *si_verify_value_at(const si_verify *v, size_t i, const char **kind);

typedef struct si_verify_hit {
  char *output; /* the de-identified file (as given) */
  /* Tag path of the element holding the value, "(0008,1110)[0].(0008,1155)";
   * for a raw hit, the innermost element whose value holds the offset, or
   * "(raw)" when none (preamble, trailing bytes, unparsed file). */
  char *path;
  char *creator;       /* private creator of the element when private, else NULL */
  int raw;             /* 1: found in the file's bytes, not in a decoded value */
  uint64_t offset;     /* raw: offset of the match in the file; else the value's offset */
  const char *kind;    /* static: "patient-name", "uid", ... */
  char *value;         /* the identifying value (UTF-8): PHI */
  char *original;      /* the original it came from first ("" for added values without one) */
  char *original_path; /* where it was there ("" when added) */
} si_verify_hit;

typedef struct si_verify_hits {
  si_verify_hit *items;
  size_t count, capacity;
} si_verify_hits;

void si_verify_hits_free(si_verify_hits *hits);

/* Scans one de-identified file (its bytes at data/size; name is copied into
 * hits) and appends a hit for every collected value found, at most one per
 * value and element. The raw bytes are scanned even when the file does not
 * parse as DICOM: hits are then appended and the parse error is returned.
 * Errors other than the parse's (no memory) leave hits as they were. */
si_status si_verify_scan_memory(si_verify *v, const uint8_t *data, size_t size, const char *name,
                                si_verify_hits *hits, si_error *err);
/* The same for the file at path (mapped, not copied). */
si_status si_verify_scan_path(si_verify *v, const char *path, si_verify_hits *hits, si_error *err);

/* A value made safe for logs: its first character and its length in
 * characters, "M…(6)". Returns buf. */
char *si_verify_mask(const char *value, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
