/* What the files of the import (lib/pipeline/import*.c) share: a run's
 * state, a file's plan, and the steps each file offers the others. The
 * steps and their order are pipeline.h's; each file names the step it does.
 *
 * Ownership: a run belongs to si_import_folders (import.c), which frees its
 * listing and `moves`; a plan's `problem` is owned by the plan
 * (imp_free_problems). Everything else a run or plan points to is borrowed
 * for the import. */
#ifndef SENDIT_PIPELINE_IMPORT_INTERNAL_H
#define SENDIT_PIPELINE_IMPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"
#include "sendit/fs.h"
#include "sendit/pipeline.h"
#include "sendit/store.h"

#define CHUNK_FILES 256
/* Headers held at once by imports that run together (plans of ~6.5 KB each). */
#define GROUP_FILES 2048
/* The longest a group's rows transaction stays open while its headers are
 * read, in ms: on slow storage the others wait at most this long for the
 * write lock (SQLite), and then one more commit. */
#define GROUP_TX_MS 1000
/* Names tried for late data beside ones taken (open_batch): ".1" to ".999". */
#define LATE_NAME_TRIES 999
/* What late data's name may add to a storage path: "/" + ".999". */
#define LATE_NAME_EXTRA 5

/* What the header says that the import needs. */
typedef struct header_facts {
  char uid[SI_UID_MAX];
  char sop_class_uid[SI_UID_MAX];
  char study_uid[SI_UID_MAX];
  char series_uid[SI_UID_MAX];
  char patient_id[SI_NAME_MAX];
  char accession_number[SI_NAME_MAX];
  char modality[32];
  char study_date[16];
  int burned_in;
  unsigned cut; /* bit i: imp_cut_fields[i] was longer than its field (cut) */
} header_facts;

/* The values of header_facts that a file may hold longer than they are
 * kept: their names and the bytes kept. */
#define IMP_CUT_FIELDS 4
typedef struct imp_cut_field {
  const char *name;
  size_t kept;
} imp_cut_field;
extern const imp_cut_field imp_cut_fields[IMP_CUT_FIELDS];

/* Per-run state of one import. */
typedef struct run {
  si_import_context *ctx;
  int64_t job_id; /* -1 for a synchronous import */
  const char *uid;
  const char *folder;
  int64_t batch_id;
  int64_t started;
  si_file_list files;
  int list_failed; /* the folder could not be listed: list_error says why */
  si_error list_error;
  char base[SI_PATH_MAX]; /* where this import's files go: storage/<uid>[/<folder name>] */
  int folder_rename;      /* the whole folder can become `base` in one rename */
  /* New rows are written DONE (see rows_status): the import runs with
   * others (import_together), which move their folders right after. */
  int optimistic;
  int reused_new;        /* rows still NEW from an interrupted run are reused */
  int left_behind;       /* a file an interrupted run stored left its source (its row is NEW) */
  int64_t written_ahead; /* rows of files to move that say DONE already */
  int sync_base;         /* files were moved into `base`: its entries must reach the disk */
  int sync_parent;       /* `base` appeared in its parent: the parent's entries too */
  unsigned char *moves;  /* per listed file: 1 when it goes to storage */
  si_import_result *res;
  char first_patient[SI_NAME_MAX];
  char first_study[SI_UID_MAX];
  int warned_studies;
  int64_t last_heartbeat;
  /* How a known uid is found. Where a statement is cheap (SQLite), the
   * rows are inserted unless known, and the insert finds it; where it is
   * not (PostgreSQL: a round trip), the chunk's known uids are looked up in
   * one query first. */
  int insert_first;
  /* The chunk's new image rows (with insert_first: those that seem new),
   * written together once it is decided, several per statement. */
  si_image_values *fresh;
  struct plan **fresh_plans; /* the plan of each */
  char *fresh_paths;         /* their storage paths, one after another */
  size_t fresh_count, fresh_used, fresh_room;
} run;

/* A batch that a file is set aside for: this import's, or the batch whose
 * image it replaces (keep-last), which must then be locked (quarantine.h). */
typedef struct owner {
  const char *uid;
  int64_t id;
} owner;

typedef enum action { ACT_NONE, ACT_MOVE, ACT_DROP_COPY } action;

/* A file's plan is kept small (~0.9 KB): a chunk's plans are written for
 * every file, and big ones cost page faults and cache misses per file. */
typedef struct plan {
  const si_file_entry *file;
  header_facts facts;
  int readable;
  char *problem;   /* why the file is unreadable (owned) */
  int maybe_known; /* its uid has a row already: look it up */
  int maybe_twin;  /* an earlier file of the chunk has the same uid */
  action act;
} plan;

/* ---- a run's log, space and lease (import_run.c) ---- */

si_status imp_log_in(run *r, const char *uid, int64_t batch_id, const char *level, const char *file,
                     const char *msg);
si_status imp_batch_log(run *r, const char *level, const char *file, const char *fmt, ...)
    SI_PRINTF(4, 5);
int imp_waits_for_space(const run *r, const si_error *e);
si_status imp_renew_lease_in_tx(run *r, si_error *err);
int imp_heartbeat_if_due(run *r);

/* ---- headers (import_header.c) ---- */

void imp_read_chunk(const si_file_list *files, size_t from, size_t to, plan *plans);
void imp_read_chunk_on_all_cores(const si_file_list *files, size_t from, size_t to, plan *plans);
void imp_free_problems(plan *plans, size_t n);
void imp_free_plans(plan *plans, size_t n);
plan *imp_alloc_plans(size_t files);

/* ---- quarantine (import_quarantine.c) ---- */

si_status imp_quarantine_as(run *r, owner to, const si_file_entry *f, const char *level,
                            const char *reason, char *dst, size_t size, si_error *err);
si_status imp_quarantine(run *r, const si_file_entry *f, const char *level, const char *reason,
                         si_error *err);

/* ---- policy (import_policy.c) ---- */

int imp_is_allowed_modality(const char *list, const char *modality);
void imp_check_consistency(run *r, const si_file_entry *f, const si_image *img);
si_status imp_plan_known(run *r, plan *p, si_image *img, const si_image *known,
                         const si_file_entry *twin, si_error *err);

/* ---- storage layout (import_layout.c) ---- */

int imp_storage_path_for(const run *r, const si_file_entry *f, char *out, size_t size);
const char *imp_rows_status(const run *r);
si_status imp_open_batch(run *r, si_error *err);
int imp_set_aside_long_paths(run *r);

/* ---- planning (import_plan.c) ---- */

si_status imp_plan_chunk_in_tx(run *r, plan *plans, size_t n, size_t from, si_error *err);
si_status imp_plan_chunk(run *r, plan *plans, size_t n, size_t from, si_error *err);

/* ---- moves (import_move.c) ---- */

void imp_move_files(run *r, const si_file_list *files);
void imp_sync_moves(run **runs, size_t n);
void imp_remove_partials(run *r);

/* ---- finishing (import_finish.c) ---- */

si_status imp_finish_runs(run **runs, size_t n, si_error *err);
si_status imp_wrap_up(run *r, int *finish, si_error *err);

#endif
