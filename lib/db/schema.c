/* The schema, as numbered migrations applied in order inside one transaction
 * each. "{serial}" is replaced by the backend's auto-increment key type and
 * "{update_heavy}" by its storage options for tables updated right after
 * insert (see si_db_backend), so one text serves SQLite and PostgreSQL.
 * Times are milliseconds since the epoch (BIGINT) on both backends. Never
 * edit a released migration: append. */
#include "schema.h"

#include <stddef.h>

static const char *const migration_1[] = {
    "CREATE TABLE batch ("
    " id {serial},"
    " uid TEXT NOT NULL UNIQUE,"
    " status TEXT NOT NULL,"
    " has_error INTEGER NOT NULL DEFAULT 0,"
    " reopened INTEGER NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " started_at BIGINT,"
    " finished_at BIGINT,"
    " elapsed_ms BIGINT,"
    " size_bytes BIGINT NOT NULL DEFAULT 0,"
    " image_count INTEGER NOT NULL DEFAULT 0,"
    " skipped_count INTEGER NOT NULL DEFAULT 0,"
    " quarantined_count INTEGER NOT NULL DEFAULT 0,"
    " qa TEXT)",
    "CREATE INDEX batch_status ON batch(status)",
    "CREATE TABLE batch_log ("
    " id {serial},"
    " batch_id BIGINT NOT NULL REFERENCES batch(id),"
    " created_at BIGINT NOT NULL,"
    " level TEXT NOT NULL,"
    " file TEXT,"
    " message TEXT NOT NULL)",
    "CREATE INDEX batch_log_batch ON batch_log(batch_id)",
    "CREATE TABLE image ("
    " id {serial},"
    " uid TEXT NOT NULL UNIQUE,"
    " batch_id BIGINT NOT NULL REFERENCES batch(id),"
    " status TEXT NOT NULL,"
    " storage_path TEXT NOT NULL UNIQUE,"
    " original_name TEXT,"
    " size_bytes BIGINT NOT NULL DEFAULT 0,"
    " content_hash TEXT,"
    " patient_id TEXT,"
    " accession_number TEXT,"
    " study_uid TEXT,"
    " series_uid TEXT,"
    " sop_class_uid TEXT,"
    " modality TEXT,"
    " study_date TEXT,"
    " created_at BIGINT NOT NULL){update_heavy}",
    "CREATE INDEX image_batch ON image(batch_id)",
    "CREATE INDEX image_patient ON image(patient_id)",
    "CREATE INDEX image_study ON image(study_uid)",
    "CREATE TABLE job ("
    " id {serial},"
    " folder TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " work_path TEXT,"
    " state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " worker TEXT,"
    " lease_until BIGINT,"
    " error TEXT,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL)",
    /* One pending job per input folder, whatever watcher or rescan saw it. */
    "CREATE UNIQUE INDEX job_pending ON job(path) WHERE state IN ('queued', 'running')",
    "CREATE INDEX job_state ON job(state, id)",
    "CREATE TABLE quarantine ("
    " id {serial},"
    " batch_uid TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " original_name TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " requeued_at BIGINT)",
    "CREATE TABLE worker ("
    " id TEXT PRIMARY KEY,"
    " host TEXT NOT NULL,"
    " pid INTEGER NOT NULL,"
    " started_at BIGINT NOT NULL,"
    " heartbeat_at BIGINT NOT NULL,"
    " job_id BIGINT)",
    NULL,
};

/* A job whose folder has left the input (moved into the work area: its
 * work_path is set and is not its input path) no longer holds the input
 * name, so late data renamed in under the same name while it runs is queued
 * at once (issue 11). Two jobs of one folder name still never import at the
 * same time: the claim takes no job whose batch another live job holds
 * (store.c). A job importing in place (work_path = path) keeps the name. The
 * predicate must stay the text of JOB_HOLDS_PATH (store.c, the ON
 * CONFLICT target). */
static const char *const migration_2[] = {
    "DROP INDEX job_pending",
    "CREATE UNIQUE INDEX job_pending ON job(path) WHERE state = 'queued' OR (state = 'running' "
    "AND (work_path IS NULL OR work_path = path))",
    NULL,
};

/* A job whose folder has left the input keeps out of the index in every
 * pending state, not only while running: one put back in the queue with
 * its folder in the work area (si_store_job_release, a claim yielding to a
 * twin) must not collide with late data already queued under its input
 * path. Migration 2 stays as it was: databases may have it. The predicate
 * must stay the text of JOB_HOLDS_PATH (store.c, the ON CONFLICT target). */
static const char *const migration_3[] = {
    "DROP INDEX job_pending",
    "CREATE UNIQUE INDEX job_pending ON job(path) WHERE (state = 'queued' OR state = 'running') "
    "AND (work_path IS NULL OR work_path = path)",
    NULL,
};

static const char *const *const migrations[] = {migration_1, migration_2, migration_3};

int si_schema_latest_version(void) { return (int)(sizeof migrations / sizeof migrations[0]); }

const char *const *si_schema_migration(int version) {
  if (version < 1 || version > si_schema_latest_version())
    return NULL;
  return migrations[version - 1];
}
