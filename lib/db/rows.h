/* Reading sendit's records out of result rows (internal to lib/db): the
 * column lists and the row-to-struct copies that store.c, store_web.c and
 * store_ops.c share, so a column added to a table is added in one place.
 * Rows are arrays of borrowed strings (see si_db_row_fn); NULL is SQL NULL. */
#ifndef SENDIT_DB_ROWS_H
#define SENDIT_DB_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/store.h"

/* The columns si_rows_image and si_rows_batch read, in their order. */
#define SI_ROWS_IMAGE_COLUMNS                                                                      \
  "id, uid, batch_id, status, storage_path, original_name, size_bytes, content_hash, "             \
  "patient_id, accession_number, study_uid, series_uid, sop_class_uid, modality, study_date, "     \
  "created_at"
#define SI_ROWS_IMAGE_NCOLS 16
#define SI_ROWS_BATCH_COLUMNS                                                                      \
  "id, uid, status, has_error, reopened, created_at, updated_at, started_at, finished_at, "        \
  "elapsed_ms, size_bytes, image_count, skipped_count, quarantined_count, qa"
#define SI_ROWS_BATCH_NCOLS 15

/* Integer value of a column; 0 for NULL. */
int64_t si_rows_i64(const char *value);
/* Copies a text column into a fixed buffer, truncating; "" for NULL. */
void si_rows_text(char *dst, size_t size, const char *value);
#define SI_ROWS_TEXT(dst, value) si_rows_text((dst), sizeof(dst), (value))
/* Writes v as decimal text into buf (24 bytes) and returns buf: for
 * integer parameters, which travel as text. */
const char *si_rows_param_i64(char *buf, int64_t v);

/* Row callback: stores the first column of the first row as an integer
 * into *(int64_t *)user and stops. */
int si_rows_first_i64(void *user, int ncols, const char *const *values);
/* Row callback: stores the first two columns of the first row as integers
 * into ((int64_t *)user)[0] and [1] and stops. */
int si_rows_first_two_i64(void *user, int ncols, const char *const *values);

/* Fill the struct from a row of the columns above (v must hold them all). */
void si_rows_image(si_image *img, const char *const *v);
void si_rows_batch(si_batch *b, const char *const *v);
/* A job's first columns: id, folder, path, work_path, attempts. */
void si_rows_job(si_job *job, const char *const *v);

#endif
