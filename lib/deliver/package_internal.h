/* Internals of the package (sendit/package.h): libarchive's functions
 * loaded on first use, SHA-256 through libcrypto (about 5x libsodium's
 * portable code on CPUs with SHA extensions: 1.7 GB/s against 0.35 GB/s
 * measured here, the difference between keeping up with `tar -cf` and
 * not) with libsodium's as the fallback, and the manifest's rows.
 * Internal to the library. */
#ifndef SENDIT_DELIVER_PACKAGE_INTERNAL_H
#define SENDIT_DELIVER_PACKAGE_INTERNAL_H

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/package.h"

/* clang-format off */
#define SI_ARCHIVE_FUNCTIONS(X) \
  X(archive_write_new) \
  X(archive_write_free) \
  X(archive_write_set_format_pax_restricted) \
  X(archive_write_add_filter_none) \
  X(archive_write_add_filter_zstd) \
  X(archive_write_add_filter_gzip) \
  X(archive_write_set_filter_option) \
  X(archive_write_set_bytes_per_block) \
  X(archive_write_set_bytes_in_last_block) \
  X(archive_write_open) \
  X(archive_write_header) \
  X(archive_write_data) \
  X(archive_write_finish_entry) \
  X(archive_write_close) \
  X(archive_error_string) \
  X(archive_entry_new) \
  X(archive_entry_free) \
  X(archive_entry_set_pathname) \
  X(archive_entry_set_size) \
  X(archive_entry_set_filetype) \
  X(archive_entry_set_perm) \
  X(archive_entry_set_mtime)
/* clang-format on */

typedef struct si_archive_api {
#define SI_ARCHIVE_DECLARE(name) __typeof__(name) *name;
  SI_ARCHIVE_FUNCTIONS(SI_ARCHIVE_DECLARE)
#undef SI_ARCHIVE_DECLARE
} si_archive_api;

/* libarchive, loaded once (thread-safe); NULL with why in problem. */
const si_archive_api *si_archive(char *problem, size_t size);

/* SHA-256 in steps. */
typedef struct si_pkg_sha256 {
  void *evp; /* libcrypto's EVP_MD_CTX, or NULL: libsodium's state below */
  crypto_hash_sha256_state sodium;
} si_pkg_sha256;
/* force_sodium: use libsodium even when libcrypto is there (for tests). */
void si_pkg_sha256_init(si_pkg_sha256 *h, int force_sodium);
void si_pkg_sha256_update(si_pkg_sha256 *h, const void *data, size_t size);
/* Writes the digest as lowercase hex and frees the state. */
void si_pkg_sha256_final(si_pkg_sha256 *h, char hex[65]);
/* Which implementation si_pkg_sha256_init(h, 0) picks: "libcrypto" or
 * "libsodium" (static). */
const char *si_pkg_sha256_backend(void);

/* The header values a package is named and described by (sanitised only
 * where they become path components: the manifest keeps them as read). */
typedef struct si_pkg_header {
  char *patient_id, *study_date, *accession, *patient_sex, *patient_age;
} si_pkg_header;
/* Reads them from the file's header ("" for absent ones). */
si_status si_pkg_header_read(const char *path, si_pkg_header *h, si_error *err);
void si_pkg_header_free(si_pkg_header *h);

/* The member's name in the archive: study/series/instance.dcm, each UID
 * sanitised (falling back to "item<index>"). */
void si_pkg_member_name(const si_dest_item *item, size_t index, char *out, size_t size);

/* The manifest's rows (new references; NULL when out of memory). */
json_t *si_pkg_instance_row(const si_dest_item *item, const si_pkg_header *h, const char *member,
                            const char *sha256);
json_t *si_pkg_batch_row(const si_dest_batch *b, const si_package_options *o,
                         const si_pkg_header *first, const si_package_result *res);

/* The reader thread (package_reader.c): the batch's files in order, as
 * chunks. Per file: START (its header and stat), DATA..., END (its sha256);
 * or ERROR, after which nothing more comes. */
typedef enum si_pkg_chunk_kind {
  SI_PKG_CHUNK_START,
  SI_PKG_CHUNK_DATA,
  SI_PKG_CHUNK_END,
  SI_PKG_CHUNK_ERROR
} si_pkg_chunk_kind;
typedef struct si_pkg_chunk {
  si_pkg_chunk_kind kind;
  size_t index;        /* the item */
  unsigned char *data; /* DATA: size bytes */
  size_t size;
  int64_t file_size;    /* START */
  int64_t mtime;        /* START */
  si_pkg_header header; /* START: the consumer takes it (and zeroes it here) */
  char hex[65];         /* END */
  si_error err;         /* ERROR */
} si_pkg_chunk;
typedef struct si_pkg_reader si_pkg_reader;
/* Starts the thread; NULL when it cannot. */
si_pkg_reader *si_pkg_reader_start(const si_dest_batch *b);
/* The next chunk (blocks), NULL after the last; valid until release. */
si_pkg_chunk *si_pkg_reader_next(si_pkg_reader *r);
void si_pkg_reader_release(si_pkg_reader *r);
/* Stops the thread (at once, wherever it is), joins it, frees r. */
void si_pkg_reader_stop(si_pkg_reader *r);

/* A package of the same name already in dirfd (package_reuse.c). */
typedef enum si_pkg_existing {
  SI_PKG_WRITE,   /* none, or one whose every instance is among b's items: write */
  SI_PKG_REUSE,   /* it holds every item byte for byte: res filled from it, write nothing */
  SI_PKG_CONFLICT /* it holds instances b lacks, and lacks some b has */
} si_pkg_existing;
si_pkg_existing si_pkg_check_existing(int dirfd, const char *name, const si_dest_batch *b,
                                      si_package_result *res);

#endif
