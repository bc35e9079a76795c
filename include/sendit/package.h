/* A batch's package (issue 16): the original sendit's one archive per
 * study, here one tar per batch, with a manifest beside it. Used by the
 * `folder` destination (lib/deliver/dest_folder.c) and meant for the s3
 * type's "archive" mode (si_package_write to a path of its choosing).
 *
 * The archive holds each file of the batch, byte for byte, as
 * <StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm (the items'
 * UIDs, sanitised). The manifest (archive name + ".manifest.jsonl") is JSON
 * Lines: one {"row":"instance",...} per file (coded PatientID,
 * AccessionNumber, shifted StudyDate as read from the file's header, the
 * UIDs, SOP class, size, sha256, path in the archive), then one
 * {"row":"batch",...} carrying the fields of the original's metadata row
 * (id, PatientID, AccessionNumber, StudyDate, PatientSex, PatientAge,
 * IMAGE_COUNT, UPLOAD_AGENT) plus the archive's own name, size and sha256.
 *
 * Both files are written atomically: each under a temporary name
 * (SI_PARTIAL_PREFIX + 16 hex digits, which si_remove_partials sweeps)
 * beside the final one, fsynced, renamed (archive first, then the manifest,
 * so a manifest under its final name always describes a whole archive),
 * then the folder fsynced. A failure (disk full included) removes the
 * temporaries; a crash leaves at most a temporary, never a partial file
 * under a final name; writing the same batch again replaces the same names.
 *
 * Ownership: everything passed in is borrowed for the call. Thread-safe:
 * no global state beyond the libraries loaded once (libarchive, and
 * libcrypto for SHA-256 when present, libsodium's otherwise). */
#ifndef SENDIT_PACKAGE_H
#define SENDIT_PACKAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/destination.h"
#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum si_package_compression {
  SI_PACKAGE_NONE = 0, /* plain tar: the default */
  SI_PACKAGE_ZSTD,     /* .tar.zst, zstd level 3 */
  SI_PACKAGE_GZIP      /* .tar.gz: slow on CT pixels (see README) */
} si_package_compression;

/* "none" | "zstd" | "gzip" -> *out; SI_ERR_VALUE for anything else. */
si_status si_package_compression_parse(const char *text, si_package_compression *out,
                                       si_error *err);
/* "none", "zstd" or "gzip" (static). */
const char *si_package_compression_name(si_package_compression c);
/* ".tar", ".tar.zst" or ".tar.gz" (static). */
const char *si_package_extension(si_package_compression c);

typedef struct si_package_options {
  si_package_compression compression;
  const char *collection;   /* the layout's {collection} and the manifest's; NULL: "sendit" */
  const char *layout;       /* NULL: SI_PACKAGE_DEFAULT_LAYOUT (see si_package_layout) */
  const char *upload_agent; /* the batch row's UPLOAD_AGENT; NULL: "sendit" */
  const atomic_int *cancel; /* may be NULL; set: stop soon with SI_ERR_STATE */
} si_package_options;

/* The default layout. Placeholders: {collection}, {patient} (PatientID),
 * {date} (StudyDate), {accession} (AccessionNumber), {batch} (batch uid);
 * '/' separates folders; the compression's extension is appended. */
#define SI_PACKAGE_DEFAULT_LAYOUT "{collection}/{patient}/{patient}_{date}_{accession}"

typedef struct si_package_result {
  char relative[1024]; /* the archive's path: below the root for si_package_deliver,
                          as given for si_package_write */
  char sha256[65];     /* of the archive's bytes, lowercase hex */
  int64_t archive_bytes;
  size_t members;
  int reused;   /* si_package_deliver: the archive there already held every item (below) */
  int conflict; /* si_package_deliver: SI_ERR_STATE because of a conflict (below) */
} si_package_result;

/* One path component made safe: bytes other than ASCII letters, digits,
 * '-', '_' and '.' become '_', a leading '.' and a '.' after a '.' become
 * '_' (so never "." or ".." nor a hidden name), at most 64 bytes; empty in
 * gives `fallback` (itself sanitised; "_" if that is empty too). */
void si_package_sanitize(const char *in, const char *fallback, char *out, size_t size);

/* Checks a layout template: known placeholders, balanced braces, no empty,
 * "." or ".." folder, not absolute. SI_ERR_CONFIG with what is wrong. */
si_status si_package_layout_check(const char *layout, si_error *err);

/* The archive's relative path for batch b (extension included) into
 * out[size]: the layout filled with the first item's header values
 * (PatientID, StudyDate, AccessionNumber; each missing or empty one falls
 * back to the batch uid), every value sanitised. */
si_status si_package_layout(const si_dest_batch *b, const si_package_options *o, char *out,
                            size_t size, si_error *err);

/* Writes b's archive to archive_path and its manifest to archive_path +
 * ".manifest.jsonl" (atomic, as above). The folder holding archive_path
 * must exist; its last component must not be a symlink. */
si_status si_package_write(const char *archive_path, const si_dest_batch *b,
                           const si_package_options *o, si_package_result *res, si_error *err);

/* The folder destination's step: the layout's path below root (which must
 * be a folder, not a symlink), its folders created as needed, never
 * following a symlink (one met is SI_ERR_STATE), then si_package_write
 * there. res->relative is the path below root.
 *
 * A package already under that name is kept when it holds every item of b
 * byte for byte (res->reused = 1: the resend after a crash between the
 * rename and the engine's commit, which hands back only the unconfirmed
 * items), replaced when b has every instance it lists, and otherwise left
 * alone with SI_ERR_STATE "conflict" (it holds instances b lacks: a
 * rewrite from b would lose them; resend the whole batch). */
si_status si_package_deliver(const char *root, const si_dest_batch *b, const si_package_options *o,
                             si_package_result *res, si_error *err);

/* SHA-256 of a whole file, lowercase hex (the manifest's, for tools and
 * tests). */
si_status si_package_sha256_file(const char *path, char hex[65], si_error *err);

#ifdef __cplusplus
}
#endif
#endif
