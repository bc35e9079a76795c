#include "uid_set.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: uids differ mostly in their last digits, which it mixes in. */
static size_t hash_of(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return (size_t)h;
}

int si_uid_set_init(si_uid_set *set, size_t expected) {
  size_t slots = 16;
  while (slots < expected * 2) /* at most half full: short probes */
    slots *= 2;
  set->slots = calloc(slots, sizeof *set->slots);
  set->mask = slots - 1;
  set->count = 0;
  return set->slots != NULL;
}

void si_uid_set_free(si_uid_set *set) {
  free(set->slots);
  set->slots = NULL;
  set->count = 0;
}

/* The slot holding `uid`, or the empty slot where it would go. */
static size_t slot_of(const si_uid_set *set, const char *uid) {
  size_t i = hash_of(uid) & set->mask;
  while (set->slots[i] && strcmp(set->slots[i], uid) != 0)
    i = (i + 1) & set->mask;
  return i;
}

int si_uid_set_has(const si_uid_set *set, const char *uid) {
  return set->slots[slot_of(set, uid)] != NULL;
}

int si_uid_set_add(si_uid_set *set, const char *uid) {
  size_t i = slot_of(set, uid);
  if (set->slots[i])
    return 1;
  if ((set->count + 1) * 2 > set->mask + 1)
    return 0;
  set->slots[i] = uid;
  set->count++;
  return 1;
}
