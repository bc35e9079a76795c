/* Finding an element's row in Table E.1-1 (profile_table.h): a binary
 * search of the exact rows, then the few wildcard rows. */
#include "profile_table.h"

const deid_profile_row *deid_profile_lookup(uint32_t tag) {
  size_t lo = 0, hi = deid_profile_row_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint32_t t = deid_profile_rows[mid].tag;
    if (t == tag)
      return &deid_profile_rows[mid];
    if (t < tag)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = 0; i < deid_profile_masked_row_count; i++)
    if ((tag & deid_profile_masked_rows[i].mask) == deid_profile_masked_rows[i].tag)
      return &deid_profile_masked_rows[i];
  return NULL;
}
