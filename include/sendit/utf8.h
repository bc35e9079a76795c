/* UTF-8 validation and repair for text that leaves sendit (web pages, JSON,
 * terminal output): names and values come from senders and DICOM files and
 * may hold any bytes.
 *
 * Valid means well-formed UTF-8 as Unicode defines it (RFC 3629): no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
 * sequence cut short. Repair replaces each byte that does not begin a valid
 * sequence, and each truncated sequence, with U+FFFD (EF BF BD), so the text
 * keeps its length order and nothing is silently dropped.
 *
 * Ownership: the functions borrow their input for the call; si_utf8_repair
 * returns a new string the caller frees. */
#ifndef SENDIT_UTF8_H
#define SENDIT_UTF8_H

#include <stddef.h>

/* The UTF-8 encoding of U+REPLACEMENT CHARACTER. */
#define SI_UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Length of the valid sequence at s (1 to 4 bytes), or 0 when the bytes at
 * s (n of them available, n > 0) do not begin one. */
size_t si_utf8_sequence(const unsigned char *s, size_t n);

/* 1 when the n bytes at s are valid UTF-8 (an empty text is). */
int si_utf8_valid(const char *s, size_t n);

/* The n bytes at s with every invalid byte replaced by U+FFFD, as a new
 * NUL-terminated string (its length in *out_len when not NULL); NULL when
 * out of memory. Valid input comes back as an identical copy. */
char *si_utf8_repair(const char *s, size_t n, size_t *out_len);

#endif
