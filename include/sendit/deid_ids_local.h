/* The "local" pseudonym provider (sendit/deid_ids.h): codes and day shifts
 * from sendit's own table (sendit/store_deid.h), made on first sight and
 * the same ever after, on every host that shares the database.
 *
 * Ownership: db is borrowed and must outlive the provider; like the
 * connection, the provider is used by one thread at a time. */
#ifndef SENDIT_DEID_IDS_LOCAL_H
#define SENDIT_DEID_IDS_LOCAL_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/deid_ids.h"
#include "sendit/error.h"

/* The default range of a new patient's day shift: up to a year back. */
#define SI_DEID_SHIFT_MIN_DEFAULT (-365)
#define SI_DEID_SHIFT_MAX_DEFAULT (-1)
/* No shift may move a date by more than this many days either way. */
#define SI_DEID_SHIFT_LIMIT 36500

/* A new patient's day shift is drawn uniformly from [shift_min_days,
 * shift_max_days] (both within +-SI_DEID_SHIFT_LIMIT, min <= max; equal
 * values give every patient that shift). SI_ERR_ARG otherwise. */
si_status si_deid_ids_local_new(si_db *db, int32_t shift_min_days, int32_t shift_max_days,
                                si_deid_ids **out, si_error *err);

#endif
