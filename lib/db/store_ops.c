/* Operator queries over si_db; see sendit/store_ops.h. */
#include "sendit/store_ops.h"

#include "rows.h"

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
                            "SELECT id, path, work_path FROM job WHERE folder = $1 AND "
                            "state = 'failed' ORDER BY id DESC LIMIT 1",
                            1, params, failed_job_row, &f, NULL, err);
  *found = st == SI_OK && f.found;
  return st;
}
