/* What the recipe decided (deid_internal.h), so the profile leaves it alone,
 * and the identifying values a run removed or replaced (for the leak scan).
 *
 * The decided set is an open-addressing hash of (data set, tag): the
 * profile asks it once per element, so the lookup must not walk a list. */
#include <stdlib.h>
#include <string.h>

#include "deid_internal.h"

typedef struct slot {
  const si_dataset *ds; /* NULL: free */
  uint32_t tag;
} slot;

typedef struct decided_set {
  slot *slots;
  size_t capacity, count; /* capacity a power of two */
} decided_set;

static size_t hash(const si_dataset *ds, uint32_t tag) {
  uint64_t h = (uint64_t)(uintptr_t)ds * 0x9E3779B97F4A7C15ull ^ tag * 0xC2B2AE3D27D4EB4Full;
  return (size_t)(h ^ h >> 29);
}

static int grow(decided_set *set) {
  size_t cap = set->capacity ? set->capacity * 2 : 64;
  slot *slots = calloc(cap, sizeof *slots);
  if (!slots)
    return 0;
  for (size_t i = 0; i < set->capacity; i++) {
    if (!set->slots[i].ds)
      continue;
    size_t at = hash(set->slots[i].ds, set->slots[i].tag) & (cap - 1);
    while (slots[at].ds)
      at = (at + 1) & (cap - 1);
    slots[at] = set->slots[i];
  }
  free(set->slots);
  set->slots = slots;
  set->capacity = cap;
  return 1;
}

si_status deid_decided_mark(si_deid_run *run, const si_dataset *ds, uint32_t tag, si_error *err) {
  decided_set *set = run->decided;
  if (!set && !(set = run->decided = calloc(1, sizeof *set)))
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
  if ((set->count + 1) * 2 > set->capacity && !grow(set))
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
  size_t at = hash(ds, tag) & (set->capacity - 1);
  while (set->slots[at].ds) {
    if (set->slots[at].ds == ds && set->slots[at].tag == tag)
      return SI_OK;
    at = (at + 1) & (set->capacity - 1);
  }
  set->slots[at] = (slot){ds, tag};
  set->count++;
  return SI_OK;
}

int deid_decided_has(const si_deid_run *run, const si_dataset *ds, uint32_t tag) {
  const decided_set *set = run->decided;
  if (!set || !set->count)
    return 0;
  size_t at = hash(ds, tag) & (set->capacity - 1);
  while (set->slots[at].ds) {
    if (set->slots[at].ds == ds && set->slots[at].tag == tag)
      return 1;
    at = (at + 1) & (set->capacity - 1);
  }
  return 0;
}

void deid_decided_free(si_deid_run *run) {
  decided_set *set = run->decided;
  if (set)
    free(set->slots);
  free(set);
  run->decided = NULL;
}

si_status deid_record_value(si_deid_run *run, uint32_t tag, const char *text, size_t len,
                            si_error *err) {
  while (len && (text[len - 1] == ' ' || text[len - 1] == 0))
    len--;
  while (len && *text == ' ')
    text++, len--;
  if (!len || !run->report)
    return SI_OK;
  si_deid_report *r = run->report;
  if (r->value_count == r->value_capacity) {
    size_t cap = r->value_capacity ? r->value_capacity * 2 : 16;
    si_deid_value *grown = realloc(r->values, cap * sizeof *grown);
    if (!grown)
      return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
    r->values = grown;
    r->value_capacity = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
  memcpy(copy, text, len);
  copy[len] = 0;
  r->values[r->value_count++] = (si_deid_value){tag, copy};
  return SI_OK;
}
