/* Private to lib/dict: the tables that gen_dict.py generates into
 * dict_table.c and uid_table.c, and that dict.c searches. */
#ifndef SENDIT_DICT_TABLE_H
#define SENDIT_DICT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/dict.h"

/* Every entry in ascending (tag, exact-before-repeating) order, so that a
 * lower-bound search on tag lands on the exact entry when one exists. */
extern const si_dict_entry si_dict_entries[];
extern const size_t si_dict_entry_count;

/* Indices into si_dict_entries of the entries with a keyword, sorted by
 * strcmp of the keyword. */
extern const uint16_t si_dict_keyword_index[];
extern const size_t si_dict_keyword_index_count;

/* Indices of the repeating-group entries; runs[k] covers index[begin, end),
 * all with the same mask and sorted by tag. */
typedef struct si_dict_run {
  uint32_t mask;
  uint16_t begin;
  uint16_t end;
} si_dict_run;

extern const uint16_t si_dict_repeater_index[];
extern const size_t si_dict_repeater_index_count;
extern const si_dict_run si_dict_repeater_runs[];
extern const size_t si_dict_repeater_runs_count;

/* PS3.6 Annex A UIDs, sorted by strcmp of uid. */
typedef struct si_uid_entry {
  const char *uid;
  const char *keyword;
  const char *name;
} si_uid_entry;

extern const si_uid_entry si_uid_entries[];
extern const size_t si_uid_entry_count;

#endif
