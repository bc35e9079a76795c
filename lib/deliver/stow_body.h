/* The body of a STOW-RS request (PS3.18 10.5): multipart/related;
 * type="application/dicom", one part per Part 10 file, streamed from disk
 * a buffer at a time so that a request of many files never sits in memory.
 * Internal to the library (lib/deliver/dest_stow.c uses it).
 *
 * The boundary: 40 random characters of [0-9A-Za-z] (about 238 bits), so
 * the chance that it occurs in a file is negligible; the reader also scans
 * every file's bytes for it as they pass and stops with SI_ERR_STATE when
 * it finds it, so a collision can never corrupt a request silently (the
 * caller then tries once more with a fresh boundary). Scanning first would
 * read every file twice.
 *
 * Ownership: si_stow_body_new copies the boundary, borrows the paths for
 * the body's life; si_stow_body_free closes any open file. */
#ifndef SENDIT_DELIVER_STOW_BODY_H
#define SENDIT_DELIVER_STOW_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"

#define SI_STOW_BOUNDARY_LEN 40
#define SI_STOW_BOUNDARY_MAX 70 /* RFC 2046's limit */

typedef struct si_stow_body si_stow_body;

/* A fresh random boundary, NUL-terminated, in out[SI_STOW_BOUNDARY_LEN + 1]. */
si_status si_stow_boundary(char *out, si_error *err);

/* A body of count parts: paths[i] of sizes[i] bytes (the size the file
 * must still have when it is read). The boundary: 1 to 70 characters of
 * RFC 2046's bchars without space. */
si_status si_stow_body_new(const char *boundary, const char *const *paths, const int64_t *sizes,
                           size_t count, si_stow_body **out, si_error *err);
/* The body's length in bytes (for Content-Length). */
uint64_t si_stow_body_length(const si_stow_body *b);
/* The Content-Type header's value (owned by b). */
const char *si_stow_body_content_type(const si_stow_body *b);
/* Copies the next bytes into buf[n]: how many (0 at the end), or SIZE_MAX
 * with err set (a file that cannot be read, changed size, or holds the
 * boundary: SI_ERR_STATE). */
size_t si_stow_body_read(si_stow_body *b, char *buf, size_t n, si_error *err);
/* Whether the last error was the boundary found in a file (try again with
 * another boundary). */
int si_stow_body_collided(const si_stow_body *b);
/* Which part the reader is in (for messages), or count at the end. */
size_t si_stow_body_part(const si_stow_body *b);
void si_stow_body_free(si_stow_body *b);

#endif
