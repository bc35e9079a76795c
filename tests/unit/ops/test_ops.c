/* The operator rules of lib/ops that the CLI and the web share: the
 * formats, the status table, the pidfile check, the status summary and the
 * batch record as JSON, on a real SQLite database. (That the CLI's and the
 * API's answers are the same object is checked through the real binary and
 * server: tests/integration/test_ops_same_json.sh.) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "sendit/ops_batch.h"
#include "sendit/ops_format.h"
#include "sendit/ops_status.h"
#include "sendit/ops_summary.h"
#include "sendit/store_stages.h"
#include "testutil.h"

static void test_time(void **state) {
  (void)state;
  char buf[OPS_TIME_MAX];
  assert_string_equal(ops_time(buf, 0, 0), "-");
  assert_string_equal(ops_time(buf, -5, 1), "-");
  assert_string_equal(ops_time(buf, 1764007200000, 0), "2025-11-24T18:00:00Z");
  assert_string_equal(ops_time(buf, 1764007200123, 1), "2025-11-24T18:00:00.123Z");
  assert_string_equal(ops_time(buf, 1764007200007, 1), "2025-11-24T18:00:00.007Z");
  json_t *j = ops_json_time(1764007200123);
  assert_string_equal(json_string_value(j), "2025-11-24T18:00:00.123Z");
  json_decref(j);
  assert_true(json_is_null(ops_json_time(0)));
}

static void test_size_and_elapsed(void **state) {
  (void)state;
  char buf[OPS_SIZE_MAX > OPS_ELAPSED_MAX ? OPS_SIZE_MAX : OPS_ELAPSED_MAX];
  assert_string_equal(ops_size(buf, 0), "0 B");
  assert_string_equal(ops_size(buf, 1023), "1023 B");
  assert_string_equal(ops_size(buf, 1536), "1.5 KiB");
  assert_string_equal(ops_size(buf, 3 * 1024 * 1024 / 2), "1.5 MiB");
  assert_string_equal(ops_size(buf, INT64_MAX), "8192.0 PiB");
  assert_string_equal(ops_elapsed(buf, 412, 1), "0.412 s");
  assert_string_equal(ops_elapsed(buf, 725000, 1), "12m05s");
  assert_string_equal(ops_elapsed(buf, 3 * 3600000 + 7 * 60000 + 59000, 1), "3h07m");
  assert_string_equal(ops_elapsed(buf, 412, 0), "-");
  assert_string_equal(ops_elapsed(buf, -1, 1), "-");
}

static void test_json_text(void **state) {
  (void)state;
  json_t *j = ops_json_text("plain");
  assert_string_equal(json_string_value(j), "plain");
  json_decref(j);
  /* Not UTF-8: repaired to U+FFFD rather than dropped. */
  j = ops_json_text("a\xff"
                    "b");
  assert_non_null(json_string_value(j));
  assert_string_equal(json_string_value(j), "a\xef\xbf\xbd"
                                            "b");
  json_decref(j);
  assert_true(json_is_null(ops_json_text(NULL)));
}

static void test_statuses(void **state) {
  (void)state;
  static const char *const life[] = {"QUEUE", "PROCESSING", "DONEPROCESSING",
                                     "DONE",  "EMPTY",      "ERROR"};
  for (int i = 0; i < OPS_STATUS_COUNT; i++) {
    assert_string_equal(ops_status_name(i), life[i]);
    assert_int_equal(ops_status_index(life[i]), i);
  }
  assert_null(ops_status_name(-1));
  assert_null(ops_status_name(OPS_STATUS_COUNT));
  assert_int_equal(ops_status_index("done"), -1); /* exact spelling only */
  assert_string_equal(ops_status_lookup("doneProcessing"), "DONEPROCESSING");
  assert_null(ops_status_lookup("SENT"));
  assert_null(ops_status_lookup(NULL));
  assert_string_equal(ops_image_status_lookup("sent"), "SENT");
  assert_null(ops_image_status_lookup("EMPTY"));
  assert_true(ops_log_is_notable("error"));
  assert_true(ops_log_is_notable("warn"));
  assert_true(ops_log_is_notable("warning"));
  assert_false(ops_log_is_notable("info"));
  assert_false(ops_log_is_notable(NULL));
  assert_string_equal(ops_log_level_name("warn"), "warning");
  assert_string_equal(ops_log_level_name("error"), "error");
}

static void test_running_pid(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/ops.pid", tu_tmp_dir());
  unlink(path);
  assert_int_equal(ops_running_pid(path), 0); /* no pidfile */
  char text[32];
  int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  assert_int_equal(tu_write_file(path, text, (size_t)n), 0);
  assert_int_equal(ops_running_pid(path), 0); /* stale: nobody holds the lock */
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
  assert_int_equal(ops_running_pid(path), (long)getpid());
  assert_int_equal(tu_write_file(path, "junk\n", 5), 0);
  assert_int_equal(ops_running_pid(path), 0); /* locked, but no pid in it */
  close(fd);
}

/* A site in the scratch folder: configuration, database, one batch. */
typedef struct site {
  si_config cfg;
  si_db *db;
  si_batch *b;
} site;

static void open_site(site *s, const char *name) {
  char dir[4200], ini[4400], text[9000];
  snprintf(dir, sizeof dir, "%s/%s", tu_tmp_dir(), name);
  snprintf(ini, sizeof ini, "%s/sendit.ini", dir);
  snprintf(text, sizeof text, "mkdir -p '%s/storage'", dir);
  assert_int_equal(system(text), 0);
  int n = snprintf(text, sizeof text,
                   "[storage]\nfolder = %s/storage\nlow_water_mb = 0\n[database]\nurl = "
                   "%s/sendit.db\n[daemon]\npidfile = %s/sendit.pid\n",
                   dir, dir, dir);
  assert_int_equal(tu_write_file(ini, text, (size_t)n), 0);
  si_error err;
  memset(s, 0, sizeof *s);
  assert_int_equal(si_config_load(&s->cfg, ini, &err), SI_OK);
  assert_int_equal(si_db_open(s->cfg.database, &s->db, &err), SI_OK);
  s->b = calloc(1, sizeof *s->b);
  assert_non_null(s->b);
}

static void close_site(site *s) {
  free(s->b);
  si_db_close(s->db);
  si_config_free(&s->cfg);
}

/* Imports nothing, but leaves the record an import would: batch ST01
 * finished DONE with errors, and one queued job. */
static void add_batch(site *s) {
  si_error err;
  int64_t id = 0;
  int reopened = 0, created = 0;
  assert_int_equal(si_store_batch_begin(s->db, "ST01", &id, &reopened, &err), SI_OK);
  si_batch *b = s->b;
  b->id = id;
  snprintf(b->uid, sizeof b->uid, "ST01");
  snprintf(b->status, sizeof b->status, "%s", SI_BATCH_DONE);
  b->has_error = 1;
  b->started_at = 1764007200000;
  b->finished_at = 1764007201250;
  b->elapsed_ms = 1250;
  b->size_bytes = 4096;
  b->image_count = 2;
  b->skipped_count = 1;
  snprintf(b->qa, sizeof b->qa, "{\"files_seen\": 3}");
  assert_int_equal(si_store_batch_finish(s->db, b, &err), SI_OK);
  assert_int_equal(si_store_enqueue(s->db, "ST02", "/nowhere/ST02", &created, &err), SI_OK);
  int found = 0;
  assert_int_equal(si_store_batch_get(s->db, "ST01", b, &found, &err), SI_OK);
  assert_true(found);
}

static void test_batch_json(void **state) {
  (void)state;
  site s;
  open_site(&s, "batch");
  add_batch(&s);
  json_t *j = ops_batch_json(NULL, s.b);
  assert_non_null(j);
  static const char *const keys[] = {
      "uid",         "status",  "has_error", "reopened", "images",   "size_bytes",      "skipped",
      "quarantined", "created", "updated",   "started",  "finished", "elapsed_seconds", "qa"};
  assert_int_equal(json_object_size(j), sizeof keys / sizeof keys[0]);
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    assert_non_null(json_object_get(j, keys[i]));
  assert_string_equal(json_string_value(json_object_get(j, "uid")), "ST01");
  assert_string_equal(json_string_value(json_object_get(j, "status")), "DONE");
  assert_true(json_is_true(json_object_get(j, "has_error")));
  assert_int_equal(json_integer_value(json_object_get(j, "images")), 2);
  assert_int_equal(json_integer_value(json_object_get(j, "size_bytes")), 4096);
  assert_string_equal(json_string_value(json_object_get(j, "finished")),
                      "2025-11-24T18:00:01.250Z");
  assert_int_equal(strlen(json_string_value(json_object_get(j, "started"))), 24);
  assert_true(json_real_value(json_object_get(j, "elapsed_seconds")) == 1.25);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "qa"), "files_seen")), 3);
  json_decref(j);
  /* Not finished: no elapsed time; qa that is not an object: null. */
  s.b->finished_at = 0;
  snprintf(s.b->qa, sizeof s.b->qa, "[1]");
  j = ops_batch_json(NULL, s.b);
  assert_true(json_is_null(json_object_get(j, "elapsed_seconds")));
  assert_true(json_is_null(json_object_get(j, "qa")));
  assert_true(json_is_null(json_object_get(j, "finished")));
  json_decref(j);
  close_site(&s);
}

static void test_batch_stages_json(void **state) {
  (void)state;
  site s;
  open_site(&s, "stages");
  add_batch(&s);
  si_error err;
  json_t *a = ops_batch_stages_json(s.db, "ST01", &err);
  assert_non_null(a);
  assert_int_equal(json_array_size(a), 0); /* no stage row yet */
  json_decref(a);
  assert_int_equal(si_store_stage_enqueue(s.db, "test", "ST01", NULL, "{}", NULL, &err), SI_OK);
  a = ops_batch_stages_json(s.db, "ST01", &err);
  assert_int_equal(json_array_size(a), 1);
  json_t *st = json_array_get(a, 0);
  static const char *const keys[] = {"stage",   "state",    "attempts",  "queued",
                                     "started", "finished", "last_error"};
  assert_int_equal(json_object_size(st), sizeof keys / sizeof keys[0]);
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    assert_non_null(json_object_get(st, keys[i]));
  assert_string_equal(json_string_value(json_object_get(st, "stage")), "test");
  assert_string_equal(json_string_value(json_object_get(st, "state")), "queued");
  assert_int_equal(json_integer_value(json_object_get(st, "attempts")), 0);
  assert_int_equal(strlen(json_string_value(json_object_get(st, "queued"))), 24);
  assert_true(json_is_null(json_object_get(st, "started")));
  assert_true(json_is_null(json_object_get(st, "last_error")));
  json_decref(a);
  a = ops_batch_stages_json(s.db, "NOSUCH", &err);
  assert_int_equal(json_array_size(a), 0);
  json_decref(a);
  close_site(&s);
}

static void test_summary(void **state) {
  (void)state;
  site s;
  open_site(&s, "summary");
  si_error err;
  ops_summary sum;
  assert_int_equal(ops_summary_gather(&s.cfg, s.db, &sum, &err), SI_OK);
  assert_int_equal(sum.batches, 0);
  assert_int_equal(sum.pid, 0);
  add_batch(&s);
  assert_int_equal(ops_summary_gather(&s.cfg, s.db, &sum, &err), SI_OK);
  assert_int_equal(sum.queued, 1);
  assert_int_equal(sum.running, 0);
  assert_int_equal(sum.batches, 1);
  assert_int_equal(sum.by_status[ops_status_index("DONE")], 1);
  assert_int_equal(sum.nother, 0);
  assert_true(sum.free_mb >= 0);
  assert_false(sum.paused); /* low_water_mb = 0 */
  assert_string_equal(sum.pause_reason, "");
  json_t *j = ops_summary_json(&s.cfg, &sum);
  assert_non_null(j);
  assert_true(json_is_false(json_object_get(json_object_get(j, "watcher"), "running")));
  assert_true(json_is_null(json_object_get(json_object_get(j, "watcher"), "pid")));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "queue"), "queued")), 1);
  assert_int_equal(json_integer_value(json_object_get(j, "batches_total")), 1);
  json_t *by = json_object_get(j, "batches");
  assert_int_equal(json_object_size(by), OPS_STATUS_COUNT);
  assert_int_equal(json_integer_value(json_object_get(by, "DONE")), 1);
  assert_int_equal(json_integer_value(json_object_get(by, "QUEUE")), 0);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "storage"), "path")),
                      s.cfg.storage_dir);
  assert_true(json_is_false(json_object_get(j, "intake_paused")));
  assert_true(json_is_null(json_object_get(j, "pause_reason")));
  json_decref(j);

  /* Per stage: the chain's (import only here), then a kind outside it that
   * has a job queued. */
  assert_int_equal(sum.nstages, 1);
  assert_string_equal(sum.stages[0].stage, "import");
  assert_int_equal(sum.stages[0].queued, 1);
  assert_int_equal(si_store_stage_enqueue(s.db, "test", "ST01", NULL, "{}", NULL, &err), SI_OK);
  assert_int_equal(ops_summary_gather(&s.cfg, s.db, &sum, &err), SI_OK);
  assert_int_equal(sum.nstages, 2);
  assert_string_equal(sum.stages[1].stage, "test");
  assert_int_equal(sum.stages[1].queued, 1);
  assert_int_equal(sum.stages[1].running, 0);
  assert_int_equal(sum.queued, 2);
  j = ops_summary_json(&s.cfg, &sum);
  json_t *stages = json_object_get(json_object_get(j, "queue"), "stages");
  assert_int_equal(json_array_size(stages), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(stages, 1), "stage")),
                      "test");
  assert_int_equal(json_integer_value(json_object_get(json_array_get(stages, 1), "queued")), 1);
  json_decref(j);

  /* A status the table does not know is shown, not hidden. */
  const char *params[] = {"ST01"};
  assert_int_equal(si_db_exec(s.db, "UPDATE batch SET status = 'ODD' WHERE uid = $1", 1, params,
                              NULL, NULL, NULL, &err),
                   SI_OK);
  assert_int_equal(ops_summary_gather(&s.cfg, s.db, &sum, &err), SI_OK);
  assert_int_equal(sum.nother, 1);
  assert_string_equal(sum.other[0].name, "ODD");
  j = ops_summary_json(&s.cfg, &sum);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "batches"), "ODD")), 1);
  json_decref(j);

  /* Below the low-water mark intake is paused, and the summary says why. */
  s.cfg.low_water_mb = INT64_MAX / (1024 * 1024 * 2);
  assert_int_equal(ops_summary_gather(&s.cfg, s.db, &sum, &err), SI_OK);
  assert_true(sum.paused);
  assert_non_null(strstr(sum.pause_reason, "below the low-water mark"));
  j = ops_summary_json(&s.cfg, &sum);
  assert_true(json_is_true(json_object_get(j, "intake_paused")));
  assert_string_equal(json_string_value(json_object_get(j, "pause_reason")), sum.pause_reason);
  json_decref(j);
  close_site(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_time),        cmocka_unit_test(test_size_and_elapsed),
      cmocka_unit_test(test_json_text),   cmocka_unit_test(test_statuses),
      cmocka_unit_test(test_running_pid), cmocka_unit_test(test_batch_json),
      cmocka_unit_test(test_summary),     cmocka_unit_test(test_batch_stages_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
