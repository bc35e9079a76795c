/* Shared by the profile's files (private to lib/deid): profile.c decides
 * each element's action, profile_values.c carries actions out on values,
 * profile_method.c writes what the standard asks after the profile ran. */
#ifndef SENDIT_DEID_PROFILE_INTERNAL_H
#define SENDIT_DEID_PROFILE_INTERNAL_H

#include "deid_internal.h"
#include "profile_table.h"
#include "sendit/edit.h"

/* Identifying text that Clean actions look for (patient's names, ids,
 * institution, physicians): lower-cased UTF-8, at least 3 characters. */
#define DEID_MAX_IDENTIFIERS 64
typedef struct deid_identifiers {
  char *text[DEID_MAX_IDENTIFIERS];
  size_t count;
} deid_identifiers;

/* One profile run (profile.c). */
typedef struct deid_profile {
  si_deid_run *run;
  unsigned bits;
  deid_identifiers ids;
  int clean_unlisted; /* inside a D or C sequence: unlisted text is cleaned */
  char sop_class[65]; /* the top data set's SOPClassUID: Types depend on the IOD */
} deid_profile;

/* Whether tag's values identify someone (names, ids, birth date,
 * addresses, institution): recorded for the leak scan, searched by Clean. */
int deid_is_identifying_tag(uint32_t tag);

/* Records el's value (decoded to UTF-8) when its kind identifies: PN, DA,
 * DT, remapped UIDs (`force`), or an identifying tag. */
si_status deid_record_element(deid_profile *p, const si_dataset *ds, const si_element *el,
                              int force, si_error *err);

/* Actions on (ds, el); each may move ds's elements. */
si_status deid_set_dummy(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err);
si_status deid_set_empty(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err);
si_status deid_remap_uids(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err);
/* A DA/DT shifted by the subject's days; an unparseable one is emptied. */
si_status deid_shift_element(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err);
/* An AS over 089Y becomes 090Y (PS3.15 E.3.7 keeps ages, HIPAA groups 90+). */
si_status deid_cap_age(deid_profile *p, si_dataset *ds, const si_element *el, si_error *err);

/* 1 when el's text holds one of the identifiers (case-insensitive). */
int deid_text_identifies(const deid_profile *p, const si_dataset *ds, const si_element *el);

/* PatientIdentityRemoved, DeidentificationMethod, its code sequence and
 * LongitudinalTemporalInformationModified (profile_method.c). */
si_status deid_write_method(deid_profile *p, si_error *err);

#endif
