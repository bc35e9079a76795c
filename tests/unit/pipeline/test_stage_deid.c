/* The deid stage's records and rules on a real SQLite database (the
 * integration test test_deid_stage.sh runs the stage itself, on SQLite and
 * PostgreSQL): outcomes and the image statuses they set, counts, the
 * output-name rule, the surfaces' JSON (ops_batch_deid_json) and releasing
 * held images (si_deid_release: only held ones, the deid job queued again,
 * the failed one when the stage had failed). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/rows.h"
#include "sendit/db.h"
#include "sendit/deid_release.h"
#include "sendit/ops_batch.h"
#include "sendit/store.h"
#include "sendit/store_deid_stage.h"
#include "sendit/store_stages.h"

static si_db *fresh_db(void) {
  static int counter;
  char path[4200];
  snprintf(path, sizeof path, "%s/stage-deid-%d.sqlite", tu_tmp_dir(), ++counter);
  si_db *db = NULL;
  si_error err;
  assert_int_equal(si_db_open(path, &db, &err), SI_OK);
  return db;
}

/* Batch `uid` with n DONE images 1.2.9.<batch>.<i> of patient P<i % 2>;
 * returns its id; image ids are first_id[0] + i. */
static int64_t batch_with_images(si_db *db, const char *uid, int n, int64_t *first_id) {
  si_error err;
  int64_t id = -1;
  int reopened = 0;
  assert_int_equal(si_store_batch_begin(db, uid, &id, &reopened, &err), SI_OK);
  for (int i = 0; i < n; i++) {
    char sop[64], path[64], name[16], patient[8];
    snprintf(sop, sizeof sop, "1.2.9.%lld.%d", (long long)id, i);
    snprintf(path, sizeof path, "/s/%s/IM%d", uid, i);
    snprintf(name, sizeof name, "IM%d", i);
    snprintf(patient, sizeof patient, "P%d", i % 2);
    si_image_values row = {.uid = sop,
                           .batch_id = id,
                           .status = SI_IMAGE_DONE,
                           .storage_path = path,
                           .original_name = name,
                           .patient_id = patient,
                           .study_uid = "1.2.3",
                           .modality = "CT"};
    assert_int_equal(si_store_image_insert_many(db, &row, 1, &err), SI_OK);
  }
  si_image img;
  int found = 0;
  char sop0[64];
  snprintf(sop0, sizeof sop0, "1.2.9.%lld.0", (long long)id);
  assert_int_equal(si_store_image_get(db, sop0, &img, &found, &err), SI_OK);
  assert_true(found);
  *first_id = img.id;
  return id;
}

static void record(si_db *db, int64_t image, int64_t batch, const char *state, const char *path) {
  si_error err;
  si_deid_outcome o = {.image_id = image,
                       .batch_id = batch,
                       .state = state,
                       .reason = strcmp(state, SI_DEID_DONE) ? "why" : NULL,
                       .sop_uid = "2.25.1",
                       .study_uid = "2.25.2",
                       .series_uid = "2.25.3",
                       .output_path = path,
                       .quarantine_path = strcmp(state, SI_DEID_HELD) ? NULL : "/q/B/deid/1"};
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_deid_stage_record(db, &o, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
}

typedef struct rows {
  int n;
  char states[8][16];
  int64_t ids[8];
} rows;

static int collect(void *user, const si_deid_image *row) {
  rows *r = user;
  if (r->n < 8) {
    snprintf(r->states[r->n], sizeof r->states[0], "%s", row->state ? row->state : "-");
    r->ids[r->n] = row->image_id;
  }
  r->n++;
  return 0;
}

static void test_outcomes_and_counts(void **state) {
  (void)state;
  si_db *db = fresh_db();
  int64_t first = 0;
  int64_t batch = batch_with_images(db, "B1", 4, &first);
  si_error err;
  si_deid_counts c;
  assert_int_equal(si_store_deid_stage_counts(db, batch, &c, &err), SI_OK);
  assert_int_equal(c.pending, 4);
  assert_int_equal(c.done + c.held + c.failed, 0);

  record(db, first, batch, SI_DEID_DONE, "/d/S/a.dcm");
  record(db, first + 1, batch, SI_DEID_HELD, NULL);
  record(db, first + 2, batch, SI_DEID_FAILED, NULL);
  assert_int_equal(si_store_deid_stage_counts(db, batch, &c, &err), SI_OK);
  assert_int_equal(c.done, 1);
  assert_int_equal(c.held, 1);
  assert_int_equal(c.failed, 1);
  assert_int_equal(c.pending, 1);

  /* Image statuses follow: DONEPROCESSING for done, ERROR for the others. */
  si_image img;
  int found = 0;
  char sop[64];
  const char *want[] = {SI_IMAGE_DONEPROCESSING, SI_IMAGE_ERROR, SI_IMAGE_ERROR, SI_IMAGE_DONE};
  for (int i = 0; i < 4; i++) {
    snprintf(sop, sizeof sop, "1.2.9.%lld.%d", (long long)batch, i);
    assert_int_equal(si_store_image_get(db, sop, &img, &found, &err), SI_OK);
    assert_string_equal(img.status, want[i]);
  }

  /* The stage's list: every image with its row; the surfaces': the undone. */
  rows all = {0}, undone = {0};
  assert_int_equal(si_store_deid_stage_images(db, batch, 0, collect, &all, &err), SI_OK);
  assert_int_equal(all.n, 4);
  assert_int_equal(si_store_deid_stage_images(db, batch, 1, collect, &undone, &err), SI_OK);
  assert_int_equal(undone.n, 2);

  /* One output path per image: taken for another, free for itself. */
  int taken = -1;
  assert_int_equal(si_store_deid_stage_output_taken(db, "/d/S/a.dcm", first + 3, &taken, &err),
                   SI_OK);
  assert_true(taken);
  assert_int_equal(si_store_deid_stage_output_taken(db, "/d/S/a.dcm", first, &taken, &err), SI_OK);
  assert_false(taken);
  /* Recording again replaces the row (a re-run), keeping the copy's path. */
  record(db, first + 1, batch, SI_DEID_DONE, "/d/S/b.dcm");
  assert_int_equal(si_store_deid_stage_counts(db, batch, &c, &err), SI_OK);
  assert_int_equal(c.done, 2);
  assert_int_equal(c.held, 0);
  si_db_close(db);
}

static void test_surface_json(void **state) {
  (void)state;
  si_db *db = fresh_db();
  int64_t first = 0;
  int64_t id = batch_with_images(db, "B2", 3, &first);
  si_batch *b = malloc(sizeof *b);
  int found = 0;
  si_error err;
  assert_int_equal(si_store_batch_get(db, "B2", b, &found, &err), SI_OK);
  /* Off and nothing decided: null. */
  json_t *j = ops_batch_deid_json(db, b, "/d", 0, &err);
  assert_non_null(j);
  assert_true(json_is_null(j));
  json_decref(j);
  record(db, first, id, SI_DEID_DONE, "/d/S/a.dcm");
  record(db, first + 2, id, SI_DEID_HELD, NULL);
  j = ops_batch_deid_json(db, b, "/d", 1, &err);
  assert_true(json_is_object(j));
  assert_int_equal(json_integer_value(json_object_get(j, "done")), 1);
  assert_int_equal(json_integer_value(json_object_get(j, "held")), 1);
  assert_int_equal(json_integer_value(json_object_get(j, "pending")), 1);
  assert_string_equal(json_string_value(json_object_get(j, "folder")), "/d");
  json_t *problems = json_object_get(j, "problems");
  assert_int_equal(json_array_size(problems), 1);
  json_t *p = json_array_get(problems, 0);
  assert_int_equal(json_integer_value(json_object_get(p, "image_id")), first + 2);
  assert_string_equal(json_string_value(json_object_get(p, "state")), "held");
  assert_string_equal(json_string_value(json_object_get(p, "reason")), "why");
  assert_string_equal(json_string_value(json_object_get(p, "file")), "IM2");
  assert_string_equal(json_string_value(json_object_get(p, "quarantine_path")), "/q/B/deid/1");
  json_decref(j);
  free(b);
  si_db_close(db);
}

static int64_t count(si_db *db, const char *sql) {
  int64_t n = -1;
  si_error err;
  assert_int_equal(si_db_exec(db, sql, 0, NULL, si_rows_first_i64, &n, NULL, &err), SI_OK);
  return n;
}

static void test_release(void **state) {
  (void)state;
  si_db *db = fresh_db();
  int64_t first = 0;
  int64_t id = batch_with_images(db, "B3", 3, &first);
  si_error err;
  record(db, first, id, SI_DEID_DONE, "/d/S/a.dcm");
  record(db, first + 1, id, SI_DEID_HELD, NULL);
  record(db, first + 2, id, SI_DEID_HELD, NULL);
  si_deid_release_result r;
  /* No such batch; an image that is not held: nothing changes. */
  assert_int_equal(si_deid_release(db, "NOPE", NULL, 0, &r, &err), SI_OK);
  assert_false(r.found);
  int64_t done_one = first;
  assert_int_equal(si_deid_release(db, "B3", &done_one, 1, &r, &err), SI_OK);
  assert_true(r.found);
  assert_int_equal(r.released, 0);
  assert_int_equal(r.not_held, 1);
  assert_int_equal(r.first_not_held, first);
  assert_int_equal(count(db, "SELECT count(*) FROM job WHERE kind = 'deid'"), 0);
  /* One by id: released, a deid job queued. */
  int64_t one = first + 1;
  assert_int_equal(si_deid_release(db, "B3", &one, 1, &r, &err), SI_OK);
  assert_int_equal(r.released, 1);
  assert_true(r.queued);
  assert_int_equal(count(db, "SELECT count(*) FROM image_deid WHERE state = 'released'"), 1);
  assert_int_equal(count(db, "SELECT count(*) FROM job WHERE kind = 'deid' AND state = 'queued'"),
                   1);
  si_deid_counts c;
  assert_int_equal(si_store_deid_stage_counts(db, id, &c, &err), SI_OK);
  assert_int_equal(c.pending, 1);
  assert_int_equal(c.held, 1);
  /* The rest of the batch (no ids): the one still held; the job is queued already. */
  assert_int_equal(si_deid_release(db, "B3", NULL, 0, &r, &err), SI_OK);
  assert_int_equal(r.released, 1);
  assert_false(r.queued);
  assert_int_equal(count(db, "SELECT count(*) FROM job WHERE kind = 'deid'"), 1);
  /* Nothing held any more. */
  assert_int_equal(si_deid_release(db, "B3", NULL, 0, &r, &err), SI_OK);
  assert_int_equal(r.released, 0);
  si_db_close(db);
}

/* A batch whose deid stage failed (every image held) gets the failed job
 * queued again and goes back to QUEUE. */
static void test_release_after_failed_stage(void **state) {
  (void)state;
  si_db *db = fresh_db();
  int64_t first = 0;
  int64_t id = batch_with_images(db, "B4", 1, &first);
  si_error err;
  record(db, first, id, SI_DEID_HELD, NULL);
  int created = 0;
  assert_int_equal(si_store_stage_enqueue(db, "deid", "B4", NULL, NULL, &created, &err), SI_OK);
  si_job job;
  int found = 0;
  assert_int_equal(si_store_stage_claim(db, "w1", 60, "deid", &job, &found, &err), SI_OK);
  assert_true(found);
  si_job_end end = {.job_id = job.id,
                    .worker = "w1",
                    .kind = "deid",
                    .batch_uid = "B4",
                    .state = "failed",
                    .error = "every image was held",
                    .batch_error = 1};
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_job_end(db, &end, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  si_batch *b = malloc(sizeof *b);
  assert_int_equal(si_store_batch_get(db, "B4", b, &found, &err), SI_OK);
  assert_string_equal(b->status, SI_BATCH_ERROR);
  si_deid_release_result r;
  assert_int_equal(si_deid_release(db, "B4", NULL, 0, &r, &err), SI_OK);
  assert_int_equal(r.released, 1);
  assert_true(r.queued);
  assert_int_equal(si_store_batch_get(db, "B4", b, &found, &err), SI_OK);
  assert_string_equal(b->status, SI_BATCH_QUEUE);
  assert_int_equal(count(db, "SELECT count(*) FROM job WHERE kind = 'deid' AND state = 'queued'"),
                   1);
  free(b);
  si_db_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_outcomes_and_counts),
      cmocka_unit_test(test_surface_json),
      cmocka_unit_test(test_release),
      cmocka_unit_test(test_release_after_failed_stage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
