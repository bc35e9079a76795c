/* Shared by the leak scan's files (not public): the table of identifying
 * tags (verify_tags.c), the text folding and matching rules
 * (verify_match.c), the collection of values (verify.c) and the scan
 * (verify_scan.c). */
#ifndef SENDIT_VERIFY_INTERNAL_H
#define SENDIT_VERIFY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/deid_verify.h"

/* How a value matches (by its shape, not its tag). */
typedef enum verify_mode {
  VERIFY_TEXT,   /* case-insensitive substring (whole words when short) */
  VERIFY_UID,    /* digits and dots: a whole run of digits and dots */
  VERIFY_DATE,   /* YYYYMMDD: the start of a run of digits (a DT's time may follow) */
  VERIFY_NUMBER, /* digits only: a whole run of digits (between dots too) */
} verify_mode;

/* Text values shorter than this (in bytes of folded UTF-8) match only as
 * whole words, and get no raw forms (a 3-byte needle in binary data would
 * match by chance). */
#define VERIFY_WORD_ONLY_BELOW 5
#define VERIFY_MIN_CHARS 3
#define VERIFY_MIN_DIGITS 4

/* One row of the identifying tag table. */
typedef struct verify_tag {
  uint32_t tag;
  const char *kind;
} verify_tag;

/* The kind of an identifying tag, or NULL when the tag is not one. */
const char *verify_tag_kind(uint32_t tag);
/* The static copy of a kind name (so hits can point at it), or NULL. */
const char *verify_kind_static(const char *kind);
/* 1 when the whole value (UTF-8, folded) is a placeholder word. */
int verify_is_common(const char *folded, size_t len);
/* 1 for bulk sample data that is not scanned: (7FE0,xxxx), (60xx,3000),
 * (50xx,3000), (5400,1010). */
int verify_is_bulk(uint32_t tag);

/* Folds UTF-8 to lower case (ASCII, Latin-1, Latin Extended-A, Greek,
 * Cyrillic); upper=1 folds to upper case instead. Invalid bytes are copied.
 * Returns a malloc'd NUL-terminated string (length in *out_len), NULL when
 * out of memory. */
char *verify_fold(const char *s, size_t len, int upper, size_t *out_len);
/* The mode a value's shape asks for. */
verify_mode verify_mode_of(const char *s, size_t len);
/* 1 when the first 8 bytes of s (len of them) are a date YYYYMMDD. */
int verify_date_valid(const char *s, size_t len);
/* 1 when a text match of nlen bytes at hay[pos] may count: always for
 * VERIFY_WORD_ONLY_BELOW bytes or more, else only with no letter or digit
 * (or non-ASCII byte) on either side. */
int verify_word_ok(size_t nlen, const uint8_t *hay, size_t hay_len, size_t pos);
/* ASCII lower case of one byte. */
static inline uint8_t verify_lower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* One collected value. */
typedef struct verify_needle {
  char *text; /* as collected (UTF-8), for hits */
  size_t len;
  char *folded; /* lower-case form matched in decoded values */
  size_t folded_len;
  verify_mode mode;
  const char *kind;
  size_t origin;     /* index into origins; SIZE_MAX: none */
  char *origin_path; /* "" when none */
} verify_needle;

/* One byte form of a needle matched in raw bytes (ASCII case-insensitive). */
typedef struct verify_form {
  size_t needle;
  uint8_t *bytes; /* ASCII-lowered */
  size_t len;
} verify_form;

/* Text needles and raw forms are indexed by their first four (ASCII-lowered)
 * bytes, or three for the 3-byte text needles, hashed into this many
 * buckets: so that the names of many patients do not share one bucket.
 * Tokens (UIDs, dates, numbers) are looked up whole in the hash table. */
#define VERIFY_BUCKETS 8192
#define VERIFY_KEY 4
size_t verify_bucket_of(const uint8_t *p, size_t key_len);

/* Per first two bytes, the indices of needles (or forms) starting with it. */
typedef struct verify_bucket {
  size_t *items;
  size_t count, capacity;
} verify_bucket;

struct si_verify {
  si_verify_options opts;
  verify_needle *needles;
  size_t needle_count, needle_capacity;
  verify_form *forms;
  size_t form_count, form_capacity;
  verify_bucket text_index[VERIFY_BUCKETS];  /* text needles by first 4 folded bytes */
  verify_bucket text_index3[VERIFY_BUCKETS]; /* 3-byte text needles */
  verify_bucket raw_index[VERIFY_BUCKETS];   /* forms by first 4 lowered bytes */
  size_t *hash;                              /* open addressing over needles: index + 1, 0 empty */
  size_t hash_capacity;
  char **origins;
  size_t origin_count, origin_capacity;
  const char *allowed_kinds[32];
  size_t allowed_kind_count;
  uint32_t *allowed_tags;
  size_t allowed_tag_count;
  uint32_t *kept_tags; /* outputs' elements not scanned */
  size_t kept_tag_count;
};

/* Index of the needle with this mode and folded text, or SIZE_MAX. */
size_t verify_find(const si_verify *v, verify_mode mode, const char *s, size_t len);
/* Name of original `origin`, "" for SIZE_MAX. Borrowed from v. */
const char *verify_origin_name(const si_verify *v, size_t origin);

/* 1 when outputs keep tag by design (si_verify_keep_tag). */
int verify_kept(const si_verify *v, uint32_t tag);

/* Adds a bucket entry. */
int verify_bucket_add(verify_bucket *b, size_t item);

#endif
