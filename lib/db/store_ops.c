/* Operator queries over si_db; see sendit/store_ops.h. */
#include "sendit/store_ops.h"

#include "rows.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

si_status si_store_image_totals(si_db *db, int64_t *count, int64_t *bytes, si_error *err) {
  int64_t out[2] = {0, 0};
  si_status st = si_db_exec(db, "SELECT count(*), COALESCE(sum(size_bytes), 0) FROM image", 0, NULL,
                            si_rows_first_two_i64, out, NULL, err);
  *count = out[0];
  *bytes = out[1];
  return st;
}

typedef struct job_found {
  si_job *job;
  int found;
} job_found;

static int failed_job_row(void *user, int ncols, const char *const *v) {
  job_found *f = user;
  if (ncols >= 3) {
    f->job->id = si_rows_i64(v[0]);
    snprintf(f->job->path, sizeof f->job->path, "%s", v[1] ? v[1] : "");
    snprintf(f->job->work_path, sizeof f->job->work_path, "%s", v[2] ? v[2] : "");
    f->found = 1;
  }
  return 1;
}

si_status si_store_job_last_failed(si_db *db, const char *folder, si_job *job, int *found,
                                   si_error *err) {
  memset(job, 0, sizeof *job);
  job->id = -1;
  snprintf(job->folder, sizeof job->folder, "%s", folder);
  job_found f = {job, 0};
  const char *params[] = {folder};
  si_status st = si_db_exec(db,
                            "SELECT id, path, work_path FROM job WHERE folder = $1 AND kind "
                            "= 'import' AND state = 'failed' ORDER BY id DESC LIMIT 1",
                            1, params, failed_job_row, &f, NULL, err);
  *found = st == SI_OK && f.found;
  return st;
}

si_status si_store_batch_clear_error(si_db *db, const char *uid, si_error *err) {
  const char *params[] = {uid};
  return si_db_exec(db, "UPDATE batch SET has_error = 0, error_stage = NULL WHERE uid = $1", 1,
                    params, NULL, NULL, NULL, err);
}

static int any_row(void *user, int ncols, const char *const *v) {
  *(int *)user = ncols > 0 && v[0] != NULL;
  return 1;
}

si_status si_store_job_done_since(si_db *db, const char *path, int64_t job_id, int *found,
                                  si_error *err) {
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%" PRId64, job_id);
  const char *params[] = {path, id_s};
  *found = 0;
  return si_db_exec(db,
                    "SELECT id FROM job WHERE path = $1 AND id <> $2 AND state = 'done' AND "
                    "updated_at >= (SELECT created_at FROM job WHERE id = $2) LIMIT 1",
                    2, params, any_row, found, NULL, err);
}

static int dup_first(void *user, int ncols, const char *const *v) {
  char **out = user;
  if (ncols > 0 && v[0] && !*out)
    *out = strdup(v[0]);
  return 1;
}

si_status si_store_batch_qa(si_db *db, const char *uid, char **qa, si_error *err) {
  const char *params[] = {uid};
  *qa = NULL;
  si_status st =
      si_db_exec(db, "SELECT qa FROM batch WHERE uid = $1", 1, params, dup_first, qa, NULL, err);
  if (st != SI_OK) {
    free(*qa);
    *qa = NULL;
  }
  return st;
}
