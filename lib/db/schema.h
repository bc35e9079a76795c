/* Numbered schema migrations shared by every backend (internal). */
#ifndef SENDIT_DB_SCHEMA_H
#define SENDIT_DB_SCHEMA_H

/* Highest migration number. */
int si_schema_latest_version(void);
/* NULL-terminated statements of migration `version` (1-based), with
 * "{serial}" to be replaced by the backend's serial_key; NULL when out of
 * range. Static storage. */
const char *const *si_schema_migration(int version);

#endif
