/* Decoding of DICOM text values to UTF-8 following Specific Character Set
 * (0008,0005), PS3.3 C.12.1.1.2 and PS3.5 section 6.1, using iconv.
 *
 * Ownership: si_charset objects are created by si_charset_open and freed with
 * si_charset_close. Decoded strings are malloc'd and owned by the caller.
 * An si_charset caches iconv handles on first use: use one object from one
 * thread at a time (open one per thread; opening is cheap). */
#ifndef SENDIT_CHARSET_H
#define SENDIT_CHARSET_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"
#include "sendit/vr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct si_charset si_charset;

/* Parses the raw value of Specific Character Set (backslash-separated defined
 * terms, e.g. "ISO 2022 IR 6\\ISO 2022 IR 87", or "" / NULL for the default
 * repertoire). Unknown terms are an SI_ERR_UNSUPPORTED error naming the term;
 * `*out` is then NULL. On success the caller owns *out. */
si_status si_charset_open(const char *specific_character_set, size_t len, si_charset **out,
                          si_error *err);
void si_charset_close(si_charset *cs);

/* 1 when every value can be passed through unchanged (default repertoire or
 * ISO_IR 192): callers may skip the decode on their hot path. */
int si_charset_is_utf8_compatible(const si_charset *cs);

/* Decodes `len` bytes of a value of VR `vr` to NUL-terminated UTF-8 in a new
 * malloc'd buffer (*out, caller frees; *out_len excludes the NUL). With ISO
 * 2022 code extensions, escape sequences switch character sets and the
 * designations are reset at the delimiters that PS3.5 6.1.2.5.3 names (CR, LF,
 * FF, TAB, backslash; and ^ = for PN). Bytes that cannot be decoded become
 * U+FFFD and the result is still returned with SI_OK; only allocation and
 * iconv set-up failures are errors. cs may be NULL (default repertoire). */
si_status si_charset_decode(const si_charset *cs, si_vr vr, const uint8_t *in, size_t len,
                            char **out, size_t *out_len, si_error *err);

#ifdef __cplusplus
}
#endif
#endif
