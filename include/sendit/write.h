/* DICOM writer: bare data sets and Part 10 files, in Implicit VR Little
 * Endian, Explicit VR Little Endian, Explicit VR Big Endian or Deflated
 * Explicit VR Little Endian, or (unconverted) in the encapsulated syntax the
 * data set was read with.
 *
 * What is written (README, "Writing DICOM"):
 * - Part 10: a 128-byte zero preamble, "DICM", then a regenerated file meta
 *   group 0002 in Explicit VR LE: group length, version 00\01,
 *   MediaStorageSOPClassUID/InstanceUID from the data set's SOPClassUID /
 *   SOPInstanceUID (else the source meta's; left out when neither has a
 *   valid one),
 *   TransferSyntaxUID, ImplementationClassUID SI_IMPLEMENTATION_CLASS_UID,
 *   ImplementationVersionName "SENDIT_<version>", and any later meta
 *   elements of the source (SourceApplicationEntityTitle, ...) as they were.
 * - Elements in ascending tag order; values padded to even length (space for
 *   strings, NUL for UI and binary); numbers in the target byte order.
 * - Explicit VR: the element's VR (from the dictionary when it was read
 *   implicit; UN for unknown private tags). A value too long for a 16-bit
 *   length VR (over 65534 bytes) is written as UN with a 32-bit length
 *   (PS3.5 6.2.2): readers restore the VR from the dictionary.
 * - Sequences and items keep the length form they were read with (defined
 *   or undefined) unless the options ask for one form; in implicit VR a
 *   sequence the dictionary does not know as one (private) always gets
 *   undefined length, the only way an implicit reader knows it for one.
 * - Implicit VR refuses (SI_ERR_UNSUPPORTED) Pixel Data holding a sequence
 *   (readers take it for fragments) and an element whose dictionary VR is SQ
 *   but which is not a sequence (readers would parse its value as items).
 * - DICOMDIR files are refused (SI_ERR_UNSUPPORTED): their records point at
 *   each other by byte offset, which a rewrite moves.
 * - Encapsulated pixel data is copied as it is (offset table and fragments);
 *   converting it to a native syntax is SI_ERR_UNSUPPORTED (no decoder).
 * - Values a read left in the file (si_read_options.leave_in_file) are
 *   copied from the source file (copy_file_range, else pread/write in 1 MiB
 *   steps, swapped when the byte order changes), never loaded whole.
 *
 * Ownership: the si_file is borrowed (read only) during each call. Memory
 * output is malloc'd and owned by the caller. Errors name the output (or
 * source) file, the offset and the tag. */
#ifndef SENDIT_WRITE_H
#define SENDIT_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/dicom.h"

#ifdef __cplusplus
extern "C" {
#endif

/* sendit's UID root: 2.25 + the decimal form of the UUID
 * 48dcce12-bf34-4b23-9140-923c4dca5d14 (PS3.5 B.2), made once for sendit.
 * ImplementationClassUID is the root's arc .1. */
#define SI_UID_ROOT "2.25.96850900667051738280301880318622326036"
#define SI_IMPLEMENTATION_CLASS_UID SI_UID_ROOT ".1"

typedef enum si_seq_form {
  SI_SEQ_KEEP = 0,  /* as read (new sequences and items: undefined length) */
  SI_SEQ_UNDEFINED, /* every sequence and item: undefined length + delimiter */
  SI_SEQ_DEFINED    /* every sequence and item: explicit length */
} si_seq_form;

typedef struct si_write_options {
  /* Target transfer syntax UID; NULL: the one the file was read with. */
  const char *transfer_syntax;
  si_seq_form sequences;
  int deflate_level; /* 1-9 for Deflated Explicit VR LE; 0 = zlib's default */
} si_write_options;

void si_write_options_init(si_write_options *opts);

/* Implementation version name written in the meta: "SENDIT_<version>". Static. */
const char *si_implementation_version_name(void);

/* The data set alone (no preamble, no meta) to fd (any stream: pipe,
 * socket, file); `name` is used in errors. */
si_status si_write_dataset_fd(const si_file *file, int fd, const char *name,
                              const si_write_options *opts, si_error *err);
/* The same into a new malloc'd buffer (*out, *out_len; caller frees). */
si_status si_write_dataset_memory(const si_file *file, const si_write_options *opts, uint8_t **out,
                                  size_t *out_len, si_error *err);

/* A Part 10 file to fd / memory. */
si_status si_write_part10_fd(const si_file *file, int fd, const char *name,
                             const si_write_options *opts, si_error *err);
si_status si_write_part10_memory(const si_file *file, const si_write_options *opts, uint8_t **out,
                                 size_t *out_len, si_error *err);

/* A Part 10 file at path: written to a temporary name in the same folder
 * (".NAME.sendit-tmp-XXXXXX"), fsynced, renamed over path, the folder
 * fsynced; the mode is the replaced file's, else 0644. On failure the
 * temporary file is removed and path is untouched (never a partial file
 * under the final name). path may be the file's own source (in-place
 * rewrite): values are copied from it before the rename. */
si_status si_write_part10_file(const si_file *file, const char *path, const si_write_options *opts,
                               si_error *err);

#ifdef __cplusplus
}
#endif
#endif
