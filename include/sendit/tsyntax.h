/* Transfer syntaxes (PS3.5 section 10, PS3.6 Table A-1) as one public table.
 *
 * Ownership: every pointer returned here points into static, read-only
 * storage: never free or modify it; it stays valid for the process lifetime.
 * All functions are pure and thread-safe. */
#ifndef SENDIT_TSYNTAX_H
#define SENDIT_TSYNTAX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct si_transfer_syntax {
  const char *uid;  /* "1.2.840.10008.1.2.1" */
  const char *name; /* "Explicit VR Little Endian" */
  /* Short name the command line accepts ("implicit", "explicit", "big",
   * "deflated"), or NULL: only the four syntaxes sendit can convert to. */
  const char *short_name;
  unsigned char explicit_vr;  /* data set has explicit VRs */
  unsigned char big_endian;   /* data set numbers are big endian */
  unsigned char deflated;     /* data set is raw-deflated (RFC 1951) after the meta */
  unsigned char encapsulated; /* pixel data is encapsulated (fragments) */
  unsigned char retired;      /* PS3.6 marks it retired */
} si_transfer_syntax;

/* Entry for a UID (exact, no padding), or NULL when unknown or uid is NULL. */
const si_transfer_syntax *si_ts_by_uid(const char *uid);
/* Entry for a short name (case-sensitive: "implicit", "explicit", "big",
 * "deflated"), or NULL. */
const si_transfer_syntax *si_ts_by_name(const char *short_name);
/* Number of entries and entry i, in the table's order (ascending UID). */
size_t si_ts_count(void);
const si_transfer_syntax *si_ts_at(size_t i);

#ifdef __cplusplus
}
#endif
#endif
