/* Row-to-record copies shared by the store modules; see rows.h. */
#include "rows.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

int64_t si_rows_i64(const char *value) { return value ? strtoll(value, NULL, 10) : 0; }

void si_rows_text(char *dst, size_t size, const char *value) {
  snprintf(dst, size, "%s", value ? value : "");
}

const char *si_rows_param_i64(char *buf, int64_t v) {
  snprintf(buf, 24, "%" PRId64, v);
  return buf;
}

int si_rows_first_i64(void *user, int ncols, const char *const *values) {
  if (ncols > 0)
    *(int64_t *)user = si_rows_i64(values[0]);
  return 1;
}

int si_rows_first_two_i64(void *user, int ncols, const char *const *values) {
  int64_t *out = user;
  if (ncols >= 2) {
    out[0] = si_rows_i64(values[0]);
    out[1] = si_rows_i64(values[1]);
  }
  return 1;
}

void si_rows_image(si_image *img, const char *const *v) {
  img->id = si_rows_i64(v[0]);
  SI_ROWS_TEXT(img->uid, v[1]);
  img->batch_id = si_rows_i64(v[2]);
  SI_ROWS_TEXT(img->status, v[3]);
  SI_ROWS_TEXT(img->storage_path, v[4]);
  SI_ROWS_TEXT(img->original_name, v[5]);
  img->size_bytes = si_rows_i64(v[6]);
  SI_ROWS_TEXT(img->content_hash, v[7]);
  SI_ROWS_TEXT(img->patient_id, v[8]);
  SI_ROWS_TEXT(img->accession_number, v[9]);
  SI_ROWS_TEXT(img->study_uid, v[10]);
  SI_ROWS_TEXT(img->series_uid, v[11]);
  SI_ROWS_TEXT(img->sop_class_uid, v[12]);
  SI_ROWS_TEXT(img->modality, v[13]);
  SI_ROWS_TEXT(img->study_date, v[14]);
  img->created_at = si_rows_i64(v[15]);
}

void si_rows_batch(si_batch *b, const char *const *v) {
  b->id = si_rows_i64(v[0]);
  SI_ROWS_TEXT(b->uid, v[1]);
  SI_ROWS_TEXT(b->status, v[2]);
  b->has_error = (int)si_rows_i64(v[3]);
  b->reopened = (int)si_rows_i64(v[4]);
  b->created_at = si_rows_i64(v[5]);
  b->updated_at = si_rows_i64(v[6]);
  b->started_at = si_rows_i64(v[7]);
  b->finished_at = si_rows_i64(v[8]);
  b->elapsed_ms = si_rows_i64(v[9]);
  b->size_bytes = si_rows_i64(v[10]);
  b->image_count = si_rows_i64(v[11]);
  b->skipped_count = si_rows_i64(v[12]);
  b->quarantined_count = si_rows_i64(v[13]);
  b->qa_cut = v[14] && strlen(v[14]) >= sizeof b->qa;
  if (b->qa_cut)
    b->qa[0] = '\0';
  else
    SI_ROWS_TEXT(b->qa, v[14]);
}

void si_rows_job(si_job *job, const char *const *v) {
  job->id = si_rows_i64(v[0]);
  SI_ROWS_TEXT(job->folder, v[1]);
  SI_ROWS_TEXT(job->path, v[2]);
  SI_ROWS_TEXT(job->work_path, v[3]);
  job->attempts = (int)si_rows_i64(v[4]);
}
