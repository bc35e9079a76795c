/* Web dashboard and API queries over si_db; see sendit/store_web.h. */
#include "sendit/store_web.h"

#include "rows.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set(const char *s) { return s && s[0]; }

/* A WHERE clause grown one condition at a time, numbering its parameters.
 * Numbers live in `num` so their text outlives the builder's calls. */
typedef struct where {
  char sql[1024];
  size_t len;
  const char *params[12];
  char num[12][24];
  int n;
} where;

static void where_add(where *w, const char *fmt, const char *value) {
  char cond[256];
  snprintf(cond, sizeof cond, fmt, w->n + 1);
  w->len += (size_t)snprintf(w->sql + w->len, sizeof w->sql - w->len, "%s%s",
                             w->len ? " AND " : " WHERE ", cond);
  w->params[w->n++] = value;
}

static void where_add_i64(where *w, const char *fmt, int64_t v) {
  snprintf(w->num[w->n], sizeof w->num[0], "%" PRId64, v);
  where_add(w, fmt, w->num[w->n]);
}

/* ---- images ---- */

/* The image's columns and its batch's uid. */
#define IMAGE_COLUMNS                                                                              \
  SI_ROWS_IMAGE_COLUMNS ", (SELECT uid FROM batch WHERE batch.id = image.batch_id)"

typedef struct image_iter {
  si_web_image_fn fn;
  void *user;
  si_image img; /* one row at a time: 5 KiB, not for each callback's stack */
  int found;
} image_iter;

static int image_each(void *user, int ncols, const char *const *v) {
  image_iter *it = user;
  if (ncols < SI_ROWS_IMAGE_NCOLS + 1)
    return 1;
  si_rows_image(&it->img, v);
  it->found = 1;
  return it->fn ? it->fn(it->user, &it->img, v[16] ? v[16] : "") : 1;
}

static void image_where(where *w, const si_web_image_filter *f) {
  if (set(f->status))
    where_add(w, "status = $%d", f->status);
  if (set(f->batch_uid))
    where_add(w, "batch_id = (SELECT id FROM batch WHERE uid = $%d)", f->batch_uid);
  if (set(f->patient_id))
    where_add(w, "patient_id = $%d", f->patient_id);
  if (set(f->study_uid))
    where_add(w, "study_uid = $%d", f->study_uid);
  if (set(f->modality))
    where_add(w, "modality = $%d", f->modality);
}

si_status si_web_images(si_db *db, const si_web_image_filter *f, int64_t limit, int64_t offset,
                        int64_t *count, si_web_image_fn fn, void *user, si_error *err) {
  where w = {0};
  image_where(&w, f);
  char sql[2048];
  si_status st = SI_OK;
  if (count) {
    *count = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM image%s", w.sql);
    st = si_db_exec(db, sql, w.n, w.params, si_rows_first_i64, count, NULL, err);
  }
  if (st != SI_OK || !fn)
    return st;
  int n = w.n;
  char lim[24], off[24];
  snprintf(lim, sizeof lim, "%" PRId64, limit);
  snprintf(off, sizeof off, "%" PRId64, offset);
  w.params[w.n++] = lim;
  w.params[w.n++] = off;
  /* The page's ids come from walking the (batch_id, id) index, a few bytes
   * per row, rather than the table itself: a deep OFFSET then costs about a
   * millisecond per 100,000 images instead of reading every row before it. */
  snprintf(sql, sizeof sql,
           "SELECT " IMAGE_COLUMNS " FROM image WHERE id IN (SELECT id FROM image%s ORDER BY "
           "batch_id, id LIMIT $%d OFFSET $%d) ORDER BY batch_id, id",
           w.sql, n + 1, n + 2);
  image_iter *it = calloc(1, sizeof *it);
  if (!it)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  it->fn = fn;
  it->user = user;
  st = si_db_exec(db, sql, w.n, w.params, image_each, it, NULL, err);
  free(it);
  return st;
}

si_status si_web_image_stats(si_db *db, int64_t *count, int64_t *max_id, si_error *err) {
  *count = *max_id = 0;
  /* Two statements: SQLite counts a bare count(*) from the b-tree's pages
   * without reading rows, an optimisation any other column in the query
   * would turn off; max(id) is one seek. */
  si_status st =
      si_db_exec(db, "SELECT count(*) FROM image", 0, NULL, si_rows_first_i64, count, NULL, err);
  if (st == SI_OK)
    st = si_db_exec(db, "SELECT max(id) FROM image", 0, NULL, si_rows_first_i64, max_id, NULL, err);
  return st;
}

typedef struct key_iter {
  si_web_key_fn fn;
  void *user;
  int64_t stride, row;
} key_iter;

static int key_each(void *user, int ncols, const char *const *v) {
  key_iter *it = user;
  if (ncols < 2)
    return 1;
  int64_t row = it->row++;
  return row % it->stride == 0 ? it->fn(it->user, row, si_rows_i64(v[0]), si_rows_i64(v[1])) : 0;
}

si_status si_web_image_keys(si_db *db, int64_t stride, si_web_key_fn fn, void *user,
                            si_error *err) {
  key_iter it = {fn, user, stride > 0 ? stride : 1, 0};
  return si_db_exec(db, "SELECT batch_id, id FROM image ORDER BY batch_id, id", 0, NULL, key_each,
                    &it, NULL, err);
}

si_status si_web_images_from(si_db *db, int64_t batch_id, int64_t id, int64_t limit, int64_t offset,
                             si_web_image_fn fn, void *user, si_error *err) {
  char b[24], i[24], l[24], o[24];
  snprintf(b, sizeof b, "%" PRId64, batch_id);
  snprintf(i, sizeof i, "%" PRId64, id);
  snprintf(l, sizeof l, "%" PRId64, limit);
  snprintf(o, sizeof o, "%" PRId64, offset);
  const char *params[] = {b, i, l, o};
  image_iter *it = calloc(1, sizeof *it);
  if (!it)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  it->fn = fn;
  it->user = user;
  /* A row-value range on the (batch_id, id) index: only the rows of the
   * page (and at most one stride before it) are read. */
  si_status st = si_db_exec(db,
                            "SELECT " IMAGE_COLUMNS " FROM image WHERE (batch_id, id) >= ($1, $2) "
                            "ORDER BY batch_id, id LIMIT $3 OFFSET $4",
                            4, params, image_each, it, NULL, err);
  free(it);
  return st;
}

typedef struct image_out {
  si_image *img;
  char *batch_uid;
} image_out;

static int image_copy(void *user, const si_image *img, const char *batch_uid) {
  image_out *o = user;
  *o->img = *img;
  if (o->batch_uid)
    snprintf(o->batch_uid, SI_NAME_MAX, "%s", batch_uid);
  return 1;
}

si_status si_web_image_by_id(si_db *db, int64_t id, si_image *out, char batch_uid[SI_NAME_MAX],
                             int *found, si_error *err) {
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%" PRId64, id);
  const char *params[] = {id_s};
  image_iter *it = calloc(1, sizeof *it);
  if (!it)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  image_out o = {out, batch_uid};
  it->fn = image_copy;
  it->user = &o;
  memset(out, 0, sizeof *out);
  if (batch_uid)
    batch_uid[0] = '\0';
  si_status st = si_db_exec(db, "SELECT " IMAGE_COLUMNS " FROM image WHERE id = $1", 1, params,
                            image_each, it, NULL, err);
  *found = st == SI_OK && it->found;
  free(it);
  return st;
}

/* ---- batches ---- */

typedef struct batch_iter {
  si_batch_fn fn;
  void *user;
  si_batch b;
  int found;
} batch_iter;

static int batch_each(void *user, int ncols, const char *const *v) {
  batch_iter *it = user;
  if (ncols < SI_ROWS_BATCH_NCOLS)
    return 1;
  si_batch *b = &it->b;
  si_rows_batch(b, v);
  it->found = 1;
  return it->fn ? it->fn(it->user, b) : 1;
}

/* "%" and "_" in a searched text are literal characters, not wildcards. */
static char *like_pattern(const char *text) {
  size_t n = strlen(text);
  char *p = malloc(2 * n + 3);
  if (!p)
    return NULL;
  size_t o = 0;
  p[o++] = '%';
  for (size_t i = 0; i < n; i++) {
    if (text[i] == '%' || text[i] == '_' || text[i] == '\\')
      p[o++] = '\\';
    p[o++] = text[i];
  }
  p[o++] = '%';
  p[o] = '\0';
  return p;
}

si_status si_web_batches(si_db *db, const si_web_batch_filter *f, int64_t limit, int64_t offset,
                         int64_t *count, si_batch_fn fn, void *user, si_error *err) {
  where w = {0};
  char *pattern = NULL;
  if (set(f->status))
    where_add(&w, "status = $%d", f->status);
  if (set(f->uid_contains)) {
    pattern = like_pattern(f->uid_contains);
    if (!pattern)
      return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    where_add(&w, "lower(uid) LIKE lower($%d) ESCAPE '\\'", pattern);
  }
  if (set(f->patient_id))
    where_add(&w, "id IN (SELECT batch_id FROM image WHERE patient_id = $%d)", f->patient_id);
  if (f->created_from_ms > 0)
    where_add_i64(&w, "created_at >= $%d", f->created_from_ms);
  if (f->created_before_ms > 0)
    where_add_i64(&w, "created_at < $%d", f->created_before_ms);
  char sql[2048];
  si_status st = SI_OK;
  if (count) {
    *count = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM batch%s", w.sql);
    st = si_db_exec(db, sql, w.n, w.params, si_rows_first_i64, count, NULL, err);
  }
  if (st == SI_OK && fn) {
    int n = w.n;
    char lim[24], off[24];
    snprintf(lim, sizeof lim, "%" PRId64, limit);
    snprintf(off, sizeof off, "%" PRId64, offset);
    w.params[w.n++] = lim;
    w.params[w.n++] = off;
    snprintf(sql, sizeof sql,
             "SELECT " SI_ROWS_BATCH_COLUMNS " FROM batch%s ORDER BY id DESC LIMIT $%d OFFSET $%d",
             w.sql, n + 1, n + 2);
    batch_iter *it = calloc(1, sizeof *it);
    if (!it) {
      free(pattern);
      return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    }
    it->fn = fn;
    it->user = user;
    st = si_db_exec(db, sql, w.n, w.params, batch_each, it, NULL, err);
    free(it);
  }
  free(pattern);
  return st;
}

static int batch_copy(void *user, const si_batch *b) {
  *(si_batch *)user = *b;
  return 1;
}

si_status si_web_batch_by_id(si_db *db, int64_t id, si_batch *out, int *found, si_error *err) {
  char id_s[24];
  snprintf(id_s, sizeof id_s, "%" PRId64, id);
  const char *params[] = {id_s};
  batch_iter *it = calloc(1, sizeof *it);
  if (!it)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  it->fn = batch_copy;
  it->user = out;
  memset(out, 0, sizeof *out);
  si_status st = si_db_exec(db, "SELECT " SI_ROWS_BATCH_COLUMNS " FROM batch WHERE id = $1", 1,
                            params, batch_each, it, NULL, err);
  *found = st == SI_OK && it->found;
  free(it);
  return st;
}

/* ---- throughput and durations ---- */

typedef struct tp_iter {
  int64_t first_minute; /* minute number of counts[0] */
  int minutes;
  int64_t *counts;
  int64_t last_id; /* smallest id seen so far */
  int64_t rows;    /* in this chunk */
  int done;
} tp_iter;

static int tp_each(void *user, int ncols, const char *const *v) {
  tp_iter *it = user;
  if (ncols < 2)
    return 1;
  it->rows++;
  it->last_id = si_rows_i64(v[0]);
  int64_t minute = si_rows_i64(v[1]) / 60000;
  /* Workers insert concurrently, so ids are only roughly in time order:
   * read one minute past the window before stopping. */
  if (minute < it->first_minute - 1) {
    it->done = 1;
    return 1;
  }
  int64_t i = minute - it->first_minute;
  if (i >= 0 && i < it->minutes)
    it->counts[i]++;
  return 0;
}

si_status si_web_throughput(si_db *db, int64_t now_ms, int minutes, int64_t *counts,
                            si_error *err) {
  enum { CHUNK = 2000 };
  memset(counts, 0, (size_t)minutes * sizeof *counts);
  tp_iter it = {now_ms / 60000 - minutes + 1, minutes, counts, INT64_MAX, 0, 0};
  /* Newest rows first, in bounded chunks (a backend may buffer a whole
   * result), until one is older than the window. */
  while (!it.done) {
    char before[24], chunk[24];
    snprintf(before, sizeof before, "%" PRId64, it.last_id);
    snprintf(chunk, sizeof chunk, "%d", CHUNK);
    const char *params[] = {before, chunk};
    it.rows = 0;
    si_status st = si_db_exec(db,
                              "SELECT id, created_at FROM image WHERE id < $1 ORDER BY id DESC "
                              "LIMIT $2",
                              2, params, tp_each, &it, NULL, err);
    if (st != SI_OK)
      return st;
    if (it.rows < CHUNK)
      break;
  }
  return SI_OK;
}

typedef struct dur_out {
  int n;
  int64_t *le, *count, *sum;
} dur_out;

static int dur_row(void *user, int ncols, const char *const *v) {
  dur_out *o = user;
  if (ncols < o->n + 2)
    return 1;
  *o->count = si_rows_i64(v[0]);
  *o->sum = si_rows_i64(v[1]);
  for (int i = 0; i < o->n; i++)
    o->le[i] = si_rows_i64(v[2 + i]);
  return 1;
}

si_status si_web_batch_durations(si_db *db, const int64_t *bounds_ms, int n, int64_t *le,
                                 int64_t *count, int64_t *sum_ms, si_error *err) {
  char sql[4096];
  size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT count(*), COALESCE(sum(elapsed_ms), 0)");
  /* Bounds are our own integers, so they may sit in the SQL text. */
  for (int i = 0; i < n && len < sizeof sql; i++)
    len += (size_t)snprintf(
        sql + len, sizeof sql - len,
        ", COALESCE(sum(CASE WHEN elapsed_ms <= %" PRId64 " THEN 1 ELSE 0 END), 0)", bounds_ms[i]);
  if (len < sizeof sql)
    snprintf(sql + len, sizeof sql - len,
             " FROM batch WHERE finished_at IS NOT NULL AND elapsed_ms IS NOT NULL");
  dur_out o = {n, le, count, sum_ms};
  *count = *sum_ms = 0;
  memset(le, 0, (size_t)n * sizeof *le);
  return si_db_exec(db, sql, 0, NULL, dur_row, &o, NULL, err);
}

/* ---- jobs ---- */

typedef struct job_iter {
  si_web_job_fn fn;
  void *user;
  si_web_job job;
} job_iter;

static int job_each(void *user, int ncols, const char *const *v) {
  job_iter *it = user;
  if (ncols < 7)
    return 1;
  it->job.id = si_rows_i64(v[0]);
  SI_ROWS_TEXT(it->job.state, v[1]);
  it->job.attempts = (int)si_rows_i64(v[2]);
  SI_ROWS_TEXT(it->job.worker, v[3]);
  it->job.created_at = si_rows_i64(v[4]);
  it->job.updated_at = si_rows_i64(v[5]);
  SI_ROWS_TEXT(it->job.error, v[6]);
  return it->fn(it->user, &it->job);
}

si_status si_web_batch_jobs(si_db *db, const char *uid, si_web_job_fn fn, void *user,
                            si_error *err) {
  const char *params[] = {uid};
  job_iter *it = calloc(1, sizeof *it);
  if (!it)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  it->fn = fn;
  it->user = user;
  si_status st = si_db_exec(db,
                            "SELECT id, state, attempts, worker, created_at, updated_at, error "
                            "FROM job WHERE folder = $1 ORDER BY id",
                            1, params, job_each, it, NULL, err);
  free(it);
  return st;
}

/* ---- heartbeat ---- */

typedef struct beat_out {
  int64_t at;
  long pid;
  int found;
} beat_out;

static int beat_row(void *user, int ncols, const char *const *v) {
  beat_out *o = user;
  if (ncols >= 2) {
    o->at = si_rows_i64(v[0]);
    o->pid = (long)si_rows_i64(v[1]);
    o->found = 1;
  }
  return 1;
}

si_status si_web_heartbeat_get(si_db *db, const char *id, int64_t *beat_at, long *pid, int *found,
                               si_error *err) {
  beat_out o = {0, 0, 0};
  const char *params[] = {id};
  si_status st = si_db_exec(db, "SELECT heartbeat_at, pid FROM worker WHERE id = $1", 1, params,
                            beat_row, &o, NULL, err);
  *beat_at = o.at;
  *pid = o.pid;
  *found = st == SI_OK && o.found;
  return st;
}
