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

/* Stages (issue 13). A job has a kind ('import', then 'test', later
 * 'deid', 'send', 'cleanup'), a small payload (JSON text) and an
 * exclusivity key that, with the kind and the folder (the batch uid), says
 * which jobs never run at once (one import per folder, one deid per batch,
 * one send per batch and destination: excl_key = the destination). A
 * stage job waits in the queue until run_after (a retry's backoff). The
 * input-path rule of job_pending is an import's only; other kinds keep at
 * most one queued job per (kind, batch, key), so a hand-off repeated by a
 * crash cannot queue a second. batch.error_stage names the stage whose
 * failure set the batch to ERROR; batch_stage is the per-stage timeline of
 * a batch; image_destination is the send stage's per-image ledger. The
 * predicate of job_pending must stay the text of JOB_HOLDS_PATH (store.c),
 * that of job_stage_queued the text of STAGE_QUEUED (store_stages.c). */
static const char *const migration_4[] = {
    "ALTER TABLE job ADD COLUMN kind TEXT NOT NULL DEFAULT 'import'",
    "ALTER TABLE job ADD COLUMN payload TEXT",
    "ALTER TABLE job ADD COLUMN excl_key TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE job ADD COLUMN run_after BIGINT",
    "ALTER TABLE batch ADD COLUMN error_stage TEXT",
    "DROP INDEX job_pending",
    "CREATE UNIQUE INDEX job_pending ON job(path) WHERE kind = 'import' AND (state = 'queued' OR "
    "state = 'running') AND (work_path IS NULL OR work_path = path)",
    "CREATE UNIQUE INDEX job_stage_queued ON job(kind, folder, excl_key) WHERE kind <> 'import' "
    "AND state = 'queued'",
    "CREATE TABLE batch_stage ("
    " batch_uid TEXT NOT NULL,"
    " stage TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " queued_at BIGINT,"
    " started_at BIGINT,"
    " finished_at BIGINT,"
    " last_error TEXT,"
    " PRIMARY KEY (batch_uid, stage))",
    "CREATE TABLE image_destination ("
    " image_id BIGINT NOT NULL REFERENCES image(id),"
    " destination TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " answer TEXT,"
    " updated_at BIGINT NOT NULL,"
    " PRIMARY KEY (image_id, destination))",
    NULL,
};

/* Pseudonyms (issue 14): a patient (entity: its id and the id's source)
 * gets one code and one day shift for ever, and each of its studies (items)
 * one code; the codes are unique within their table, so two patients never
 * share one (store_deid.c retries a colliding random code). origin says who
 * made the code: 'local' (sendit, at random) or 'http' (the identifier
 * service; its answers are kept so that a restart asks nothing again). */
static const char *const migration_5[] = {
    "CREATE TABLE deid_entity ("
    " id {serial},"
    " source TEXT NOT NULL,"
    " original TEXT NOT NULL,"
    " code TEXT NOT NULL UNIQUE,"
    " day_shift INTEGER NOT NULL,"
    " origin TEXT NOT NULL,"
    " batch_uid TEXT,"
    " created_at BIGINT NOT NULL,"
    " UNIQUE (source, original))",
    "CREATE TABLE deid_item ("
    " id {serial},"
    " entity_id BIGINT NOT NULL REFERENCES deid_entity(id),"
    " original TEXT NOT NULL,"
    " code TEXT NOT NULL UNIQUE,"
    " origin TEXT NOT NULL,"
    " batch_uid TEXT,"
    " created_at BIGINT NOT NULL,"
    " UNIQUE (entity_id, original))",
    NULL,
};

/* The deid stage (issue 14): one row per image it has decided, with the
 * outcome ('done': de-identified, 'held': set aside for review, 'failed':
 * could not be de-identified), the reason when not done, the de-identified
 * UIDs (SOP, study, series) and where the copy went (output_path, unique so
 * that two images never share one file; quarantine_path for a held one).
 * A row is written after its output file is in place (stage_deid.c): a
 * crash in between leaves an output without a row, which the next run
 * writes again under the same name. */
static const char *const migration_6[] = {
    "CREATE TABLE image_deid ("
    " image_id BIGINT PRIMARY KEY REFERENCES image(id),"
    " batch_id BIGINT NOT NULL REFERENCES batch(id),"
    " state TEXT NOT NULL,"
    " reason TEXT,"
    " sop_uid TEXT,"
    " study_uid TEXT,"
    " series_uid TEXT,"
    " output_path TEXT UNIQUE,"
    " quarantine_path TEXT,"
    " updated_at BIGINT NOT NULL)",
    "CREATE INDEX image_deid_batch ON image_deid(batch_id, state)",
    NULL,
};

/* Delivery (issue 16): each destination's circuit breaker and counters,
 * in the database so that the workers of every host share them (state
 * 'closed', 'open' or 'half-open'; failures = consecutive failed
 * attempts; opened_at = when it opened, or when its probe began), and an
 * index for the per-destination counts of the ledger. */
static const char *const migration_7[] = {
    "CREATE TABLE destination_state ("
    " name TEXT PRIMARY KEY,"
    " state TEXT NOT NULL,"
    " failures INTEGER NOT NULL DEFAULT 0,"
    " opened_at BIGINT,"
    " last_success_at BIGINT,"
    " last_error TEXT,"
    " last_error_at BIGINT,"
    " attempts BIGINT NOT NULL DEFAULT 0,"
    " failed_attempts BIGINT NOT NULL DEFAULT 0,"
    " sent_count BIGINT NOT NULL DEFAULT 0,"
    " failed_count BIGINT NOT NULL DEFAULT 0,"
    " updated_at BIGINT NOT NULL)",
    "CREATE INDEX image_destination_dest ON image_destination(destination, state)",
    NULL,
};

/* Cleanup (issue 16): what the cleanup stage removed of a batch, one row
 * per pass and kind (what: 'originals' from storage, 'deid' the
 * de-identified copies), with the folder the files were in (path), their
 * count and bytes and why (reason: 'policy' or 'low-water'). A row is
 * written with removed_at NULL before the files go (the plan) and gets
 * removed_at once they are gone, so a crash in between leaves a plan that
 * the next pass finishes instead of losing the record. */
static const char *const migration_8[] = {
    "CREATE TABLE batch_cleanup ("
    " id {serial},"
    " batch_id BIGINT NOT NULL REFERENCES batch(id),"
    " what TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " files BIGINT NOT NULL DEFAULT 0,"
    " bytes BIGINT NOT NULL DEFAULT 0,"
    " planned_at BIGINT NOT NULL,"
    " removed_at BIGINT,"
    " reason TEXT NOT NULL)",
    "CREATE INDEX batch_cleanup_batch ON batch_cleanup(batch_id, what)",
    NULL,
};

static const char *const *const migrations[] = {migration_1, migration_2, migration_3, migration_4,
                                                migration_5, migration_6, migration_7, migration_8};

int si_schema_latest_version(void) { return (int)(sizeof migrations / sizeof migrations[0]); }

const char *const *si_schema_migration(int version) {
  if (version < 1 || version > si_schema_latest_version())
    return NULL;
  return migrations[version - 1];
}
