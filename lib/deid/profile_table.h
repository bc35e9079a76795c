/* PS3.15 Table E.1-1 (Application Level Confidentiality Profile
 * Attributes) as data: profile_table.c is generated from the standard's
 * machine-readable table by gen_profile.py and checked in, as the tag
 * dictionary is. Private to lib/deid. */
#ifndef SENDIT_DEID_PROFILE_TABLE_H
#define SENDIT_DEID_PROFILE_TABLE_H

#include <stddef.h>
#include <stdint.h>

/* The actions a row's Basic Profile code allows (PS3.15 E.1.1): "X/Z/D"
 * is DEID_X | DEID_Z | DEID_D; "X/Z/U*" is DEID_X | DEID_Z | DEID_USTAR. */
enum {
  DEID_D = 1u << 0,    /* a dummy value consistent with the VR */
  DEID_Z = 1u << 1,    /* zero length (or a dummy) */
  DEID_X = 1u << 2,    /* remove */
  DEID_K = 1u << 3,    /* keep (sequences: their contents still processed) */
  DEID_C = 1u << 4,    /* clean */
  DEID_U = 1u << 5,    /* a consistent replacement UID */
  DEID_USTAR = 1u << 6 /* a sequence whose contained instance UIDs are replaced */
};

/* The option columns, in the order of the SI_DEID_* option bits from bit 1
 * (retain safe private ... clean graphics): opt[i] is the column for bit
 * 1u << (i + 1), 'K', 'C' or 0. */
#define DEID_OPTION_COLUMNS 10

typedef struct deid_profile_row {
  uint32_t tag;       /* with wildcard digits zero */
  uint32_t mask;      /* an element matches when (element tag & mask) == tag */
  uint8_t basic;      /* DEID_* bits of the Basic Profile column */
  uint8_t in_std_iod; /* used in a standard composite IOD (else retired or extended) */
  char opt[DEID_OPTION_COLUMNS];
  const char *name;
} deid_profile_row;

/* Rows for one tag each, sorted by tag (binary search). */
extern const deid_profile_row deid_profile_rows[];
extern const size_t deid_profile_row_count;
/* Rows with wildcards ((50xx,xxxx), (60xx,3000), private groups), tried in
 * order after the exact rows. */
extern const deid_profile_row deid_profile_masked_rows[];
extern const size_t deid_profile_masked_row_count;

/* The row for tag, or NULL when the table does not list it. */
const deid_profile_row *deid_profile_lookup(uint32_t tag);

#endif
