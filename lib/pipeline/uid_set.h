/* A set of SOPInstanceUIDs for the imports that run together: which uids
 * an earlier import of the group holds. Open addressing over borrowed
 * strings.
 *
 * Ownership: the set stores the pointers it is given, not copies; each
 * string must outlive the set. si_uid_set_free frees the table only. */
#ifndef SENDIT_PIPELINE_UID_SET_H
#define SENDIT_PIPELINE_UID_SET_H

#include <stddef.h>

typedef struct si_uid_set {
  const char **slots;
  size_t mask; /* slot count - 1; the count is a power of two */
  size_t count;
} si_uid_set;

/* Room for at least `expected` uids; returns 0 when memory is short. */
int si_uid_set_init(si_uid_set *set, size_t expected);
void si_uid_set_free(si_uid_set *set);
/* Non-zero when an equal string is in the set. */
int si_uid_set_has(const si_uid_set *set, const char *uid);
/* Adds `uid` (borrowed) unless an equal string is there; returns 0 when
 * the set is full (more than `expected` uids were added). */
int si_uid_set_add(si_uid_set *set, const char *uid);

#endif
