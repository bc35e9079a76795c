/* Stages (issue 13): backoff, the [pipeline] stages rule and chain, and
 * the stage records (hand-off, claims, retries, timeline, counts, the send
 * ledger, batch retry) on SQLite and, when SENDIT_TEST_PG_URL names a
 * PostgreSQL server, again on PostgreSQL, each test on a database of its
 * own. */
#include "testutil.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sendit/batch_retry.h"
#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/stages.h"
#include "sendit/store.h"
#include "sendit/store_stages.h"

static const char *pg_url;
static char pg_created[64][64];
static int pg_ncreated;

static void url_with_db(char *out, size_t size, const char *url, const char *name) {
  const char *auth = strstr(url, "://");
  auth = auth ? auth + 3 : url;
  const char *slash = strchr(auth, '/'), *query = strchr(auth, '?');
  if (query && slash && slash > query)
    slash = NULL;
  size_t keep = slash ? (size_t)(slash - url) : query ? (size_t)(query - url) : strlen(url);
  snprintf(out, size, "%.*s/%s%s", (int)keep, url, name, query ? query : "");
}

static int pg_admin(const char *sql) {
  PGconn *c = PQconnectdb(pg_url);
  PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
  int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok)
    print_error("%s: %s\n", sql, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  return ok;
}

static si_db *fresh_db(void) {
  static char path[4200];
  static int counter;
  if (!pg_url) {
    snprintf(path, sizeof path, "%s/stages-%d.sqlite", tu_tmp_dir(), ++counter);
  } else {
    assert_true(pg_ncreated < 64);
    char *name = pg_created[pg_ncreated++];
    snprintf(name, sizeof pg_created[0], "sendit_stages_%ld_%d", (long)getpid(), ++counter);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    assert_true(pg_admin(sql));
    url_with_db(path, sizeof path, pg_url, name);
  }
  si_db *db = NULL;
  si_error err;
  assert_int_equal(si_db_open(path, &db, &err), SI_OK);
  return db;
}

static int drop_created(void **state) {
  (void)state;
  for (int i = 0; i < pg_ncreated; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_created[i]);
    pg_admin(sql);
  }
  pg_ncreated = 0;
  return 0;
}

static void must_exec(si_db *db, const char *sql, int n, const char *const *params) {
  si_error err;
  si_status s = si_db_exec(db, sql, n, params, NULL, NULL, NULL, &err);
  if (s != SI_OK)
    print_error("%s: %s\n", sql, err.message);
  assert_int_equal(s, SI_OK);
}

static int first_text(void *user, int ncols, const char *const *v) {
  snprintf((char *)user, 256, "%s", ncols > 0 && v[0] ? v[0] : "(null)");
  return 1;
}

/* The first column of the first row as text ("(null)" for NULL, "" when
 * there is no row). */
static const char *query_text(si_db *db, const char *sql, const char *param) {
  static char out[256];
  out[0] = 0;
  si_error err;
  const char *params[] = {param};
  assert_int_equal(si_db_exec(db, sql, param ? 1 : 0, params, first_text, out, NULL, &err), SI_OK);
  return out;
}

static void add_batch(si_db *db, const char *uid, const char *status) {
  const char *p[] = {uid, status};
  must_exec(db,
            "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ($1, $2, 1000, 1000)",
            2, p);
}

/* An import job of batch `uid` held by worker "w". */
static int64_t running_import(si_db *db, const char *uid) {
  const char *p[] = {uid};
  must_exec(db,
            "INSERT INTO job (folder, path, state, worker, attempts, lease_until, created_at, "
            "updated_at) VALUES ($1, '/in/' || $1, 'running', 'w', 1, 9999999999999, 1, 1)",
            1, p);
  return atoll(query_text(db, "SELECT max(id) FROM job WHERE folder = $1", uid));
}

static si_status end_import(si_db *db, int64_t id, const char *uid, const char *next) {
  si_error err;
  si_job_end e = {.job_id = id,
                  .worker = "w",
                  .kind = "import",
                  .batch_uid = uid,
                  .state = "done",
                  .next_kind = next,
                  .next_payload = next ? "{\"fail\": 1}" : NULL,
                  .started_ms = 500};
  si_status st = si_db_begin(db, &err);
  assert_int_equal(st, SI_OK);
  st = si_store_job_end(db, &e, &err);
  if (st == SI_OK)
    assert_int_equal(si_db_commit(db, &err), SI_OK);
  else
    si_db_rollback(db);
  return st;
}

/* ---- pure rules ---- */

static void test_backoff(void **state) {
  (void)state;
  si_retry_policy p = {100, 1000, 5};
  /* No jitter at the top of the range (random = half), exact doubling. */
  assert_int_equal(si_stage_backoff_ms(&p, 1, 50), 100);
  assert_int_equal(si_stage_backoff_ms(&p, 2, 100), 200);
  assert_int_equal(si_stage_backoff_ms(&p, 3, 200), 400);
  assert_int_equal(si_stage_backoff_ms(&p, 4, 400), 800);
  assert_int_equal(si_stage_backoff_ms(&p, 5, 500), 1000); /* capped */
  assert_int_equal(si_stage_backoff_ms(&p, 40, 500), 1000);
  /* Jitter: within [d/2, d] for any random. */
  for (uint32_t r = 0; r < 5000; r += 7) {
    int64_t d = si_stage_backoff_ms(&p, 3, r);
    assert_true(d >= 200 && d <= 400);
  }
  assert_int_equal(si_stage_backoff_ms(&p, 3, 0), 200);
}

static void test_stages_rule(void **state) {
  (void)state;
  unsetenv("SENDIT_TEST_STAGES");
  assert_null(si_stages_check("import"));
  assert_null(si_stages_check("import,deid")); /* built (issue 14) */
  assert_non_null(strstr(si_stages_check("deid,import"), "first stage must be import"));
  assert_null(si_stages_check("import,deid,send"));         /* built (issue 16) */
  assert_null(si_stages_check("import,deid,send,cleanup")); /* every stage is built (issue 16) */
  assert_non_null(strstr(si_stages_check("import,bogus"), "unknown stage \"bogus\""));
  assert_non_null(strstr(si_stages_check("import,test"), "SENDIT_TEST_STAGES=1"));
  setenv("SENDIT_TEST_STAGES", "1", 1);
  assert_null(si_stages_check("import,test"));
  assert_non_null(strstr(si_stages_check("test,import"), "first stage must be import"));
  assert_non_null(strstr(si_stages_check("import,test,test"), "named twice"));
  si_config cfg = {0};
  cfg.pipeline_stages = "import,test";
  assert_true(si_stage_enabled(&cfg, "test"));
  assert_string_equal(si_stage_next(&cfg, "import"), "test");
  assert_null(si_stage_next(&cfg, "test"));
  cfg.pipeline_stages = "import";
  assert_false(si_stage_enabled(&cfg, "test"));
  assert_true(si_stage_enabled(&cfg, "import"));
  assert_null(si_stage_next(&cfg, "import"));
  /* One table: import first, every kind with a name and a policy. */
  size_t n = 0;
  const si_stage_kind *k = si_stage_kinds(&n);
  assert_true(n >= 5 && n <= SI_STAGE_KINDS_MAX);
  assert_string_equal(k[0].name, "import");
  assert_null(k[0].run);
  assert_non_null(si_stage_find("test", 4)->run);
  assert_non_null(si_stage_find("deid", 4)->run);
  assert_true(si_stage_find("deid", 4)->built);
}

/* A config file whose chain cannot run fails to load, saying why: every
 * stage is built now, so the case left is send without a destination. */
static void test_config_refuses_unbuilt(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/stages.ini", tu_tmp_dir());
  const char text[] = "[pipeline]\nstages = import, deid, send, cleanup\n";
  assert_int_equal(tu_write_file(path, text, sizeof text - 1), 0);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, path, &err), SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "has send, but no [destination NAME]"));
  assert_non_null(strstr(err.message, "stages"));
  si_config_free(&cfg);
  const char ok[] = "[pipeline]\nstages = import\n";
  assert_int_equal(tu_write_file(path, ok, sizeof ok - 1), 0);
  assert_int_equal(si_config_load(&cfg, path, &err), SI_OK);
  assert_string_equal(cfg.pipeline_stages, "import");
  si_config_free(&cfg);
}

/* ---- records ---- */

typedef struct stages_seen {
  char text[1024];
} stages_seen;

static int collect_stage(void *user, const si_stage_row *row) {
  stages_seen *s = user;
  size_t len = strlen(s->text);
  snprintf(s->text + len, sizeof s->text - len, "%s:%s:%d;", row->stage, row->state, row->attempts);
  return 0;
}

static const char *timeline(si_db *db, const char *uid) {
  static stages_seen s;
  s.text[0] = 0;
  si_error err;
  assert_int_equal(si_store_batch_stages(db, uid, collect_stage, &s, &err), SI_OK);
  return s.text;
}

static void test_handoff_once(void **state) {
  (void)state;
  si_db *db = fresh_db();
  si_error err;
  add_batch(db, "B1", "DONE");
  int64_t id = running_import(db, "B1");
  assert_int_equal(end_import(db, id, "B1", "test"), SI_OK);
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "B1"),
                      "PROCESSING");
  assert_string_equal(
      query_text(db, "SELECT count(*) FROM job WHERE kind = 'test' AND folder = $1", "B1"), "1");
  assert_string_equal(query_text(db, "SELECT payload FROM job WHERE kind = 'test'", NULL),
                      "{\"fail\": 1}");
  assert_string_equal(timeline(db, "B1"), "import:done:1;test:queued:0;");
  assert_string_equal(
      query_text(db, "SELECT started_at FROM batch_stage WHERE stage = 'import'", NULL), "500");
  /* The same end again (a crash's replay, another holder): refused, and
   * no second job. */
  assert_int_equal(end_import(db, id, "B1", "test"), SI_ERR_STATE);
  assert_string_equal(query_text(db, "SELECT count(*) FROM job WHERE kind = 'test'", NULL), "1");
  /* A second hand-off while one is queued adds none. */
  int created = 1;
  assert_int_equal(si_store_stage_enqueue(db, "test", "B1", "", "{}", &created, &err), SI_OK);
  assert_false(created);
  /* Nothing to hand on from a batch the import left EMPTY or ERROR. */
  add_batch(db, "E1", "EMPTY");
  assert_int_equal(end_import(db, running_import(db, "E1"), "E1", "test"), SI_OK);
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "E1"), "EMPTY");
  assert_string_equal(
      query_text(db, "SELECT count(*) FROM job WHERE folder = $1 AND kind = 'test'", "E1"), "0");
  /* stages = import: the import's status stays as it was. */
  add_batch(db, "D1", "DONE");
  assert_int_equal(end_import(db, running_import(db, "D1"), "D1", NULL), SI_OK);
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "D1"), "DONE");
  assert_string_equal(timeline(db, "D1"), "import:done:1;");
  si_db_close(db);
}

static void test_claim_retry_give_up(void **state) {
  (void)state;
  si_db *db = fresh_db();
  si_error err;
  add_batch(db, "B2", "DONE");
  assert_int_equal(end_import(db, running_import(db, "B2"), "B2", "test"), SI_OK);
  si_job job;
  int found = 0;
  /* Imports do not take stage jobs, nor stages imports. */
  assert_int_equal(si_store_claim(db, "w1", 60, &job, &found, &err), SI_OK);
  assert_false(found);
  assert_int_equal(si_store_stage_claim(db, "w1", 60, "deid", &job, &found, &err), SI_OK);
  assert_false(found);
  assert_int_equal(si_store_stage_claim(db, "w1", 60, "test", &job, &found, &err), SI_OK);
  assert_true(found);
  assert_string_equal(job.kind, "test");
  assert_string_equal(job.folder, "B2");
  assert_int_equal(job.attempts, 1);
  assert_string_equal(job.payload, "{\"fail\": 1}");
  assert_string_equal(timeline(db, "B2"), "import:done:1;test:running:1;");
  /* One running per (kind, batch, key): a twin queued meanwhile waits. */
  int created = 0;
  assert_int_equal(si_store_stage_enqueue(db, "test", "B2", "", NULL, &created, &err), SI_OK);
  assert_true(created);
  si_job twin;
  assert_int_equal(si_store_stage_claim(db, "w2", 60, "test", &twin, &found, &err), SI_OK);
  assert_false(found);
  must_exec(db, "DELETE FROM job WHERE kind = 'test' AND state = 'queued'", 0, NULL);
  /* A failed attempt waits for its run_after. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_job_retry_later(db, job.id, "w1", "B2", "test", "boom", 60000, &err),
                   SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_string_equal(query_text(db, "SELECT state FROM job WHERE kind = 'test'", NULL), "queued");
  assert_string_equal(query_text(db, "SELECT error FROM job WHERE kind = 'test'", NULL), "boom");
  assert_string_equal(timeline(db, "B2"), "import:done:1;test:queued:1;");
  assert_int_equal(si_store_stage_claim(db, "w1", 60, "test", &job, &found, &err), SI_OK);
  assert_false(found); /* not due */
  must_exec(db, "UPDATE job SET run_after = 0 WHERE kind = 'test'", 0, NULL);
  assert_int_equal(si_store_stage_claim(db, "w1", 60, "test", &job, &found, &err), SI_OK);
  assert_true(found);
  assert_int_equal(job.attempts, 2);
  /* Only the holder retries it. */
  assert_int_equal(si_store_job_retry_later(db, job.id, "other", "B2", "test", "x", 1, &err),
                   SI_ERR_STATE);
  /* Given up: batch ERROR, the stage named. */
  si_job_end e = {.job_id = job.id,
                  .worker = "w1",
                  .kind = "test",
                  .batch_uid = "B2",
                  .state = "failed",
                  .error = "stage test given up",
                  .batch_error = 1};
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_job_end(db, &e, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "B2"), "ERROR");
  char stage[16];
  assert_int_equal(si_store_batch_error_stage(db, "B2", stage, sizeof stage, &found, &err), SI_OK);
  assert_true(found);
  assert_string_equal(stage, "test");
  assert_string_equal(timeline(db, "B2"), "import:done:1;test:failed:2;");
  /* Retry resumes that stage, not the import. */
  si_batch_retry_result r;
  assert_int_equal(si_batch_retry(db, "B2", &r, &err), SI_OK);
  assert_int_equal(r.outcome, SI_RETRY_QUEUED);
  assert_string_equal(r.stage, "test");
  assert_true(r.created);
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "B2"), "QUEUE");
  assert_string_equal(query_text(db, "SELECT error_stage FROM batch WHERE uid = $1", "B2"),
                      "(null)");
  assert_string_equal(
      query_text(db, "SELECT count(*) FROM job WHERE kind = 'import' AND state = 'queued'", NULL),
      "0");
  assert_string_equal(timeline(db, "B2"), "import:done:1;test:queued:0;");
  /* Again while it waits: refused. */
  assert_int_equal(si_batch_retry(db, "B2", &r, &err), SI_OK);
  assert_int_equal(r.outcome, SI_RETRY_REFUSED);
  assert_non_null(strstr(r.message, "is waiting"));
  /* The retried job runs from attempt 1 and, done as the last stage,
   * makes the batch DONE. */
  assert_int_equal(si_store_stage_claim(db, "w1", 60, "test", &job, &found, &err), SI_OK);
  assert_true(found);
  assert_int_equal(job.attempts, 1);
  si_job_end ok = {
      .job_id = job.id, .worker = "w1", .kind = "test", .batch_uid = "B2", .state = "done"};
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_job_end(db, &ok, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "B2"), "DONE");
  assert_string_equal(timeline(db, "B2"), "import:done:1;test:done:1;");
  si_db_close(db);
}

static void test_retry_import_failure(void **state) {
  (void)state;
  si_db *db = fresh_db();
  si_error err;
  si_batch_retry_result r;
  assert_int_equal(si_batch_retry(db, "NOPE", &r, &err), SI_OK);
  assert_int_equal(r.outcome, SI_RETRY_NO_BATCH);
  add_batch(db, "C1", "DONE");
  assert_int_equal(si_batch_retry(db, "C1", &r, &err), SI_OK);
  assert_int_equal(r.outcome, SI_RETRY_REFUSED);
  assert_non_null(strstr(r.message, "has no errors: nothing to retry"));
  /* An import that failed and left its folder: queued again as today. */
  char folder[4200];
  snprintf(folder, sizeof folder, "%s/F1", tu_tmp_dir());
  char file[4300];
  snprintf(file, sizeof file, "%s/a.dcm", folder);
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", folder);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(tu_write_file(file, "x", 1), 0);
  add_batch(db, "F1", "ERROR");
  int64_t id = running_import(db, "F1");
  const char *p[] = {folder};
  must_exec(db, "UPDATE job SET path = $1, work_path = NULL WHERE folder = 'F1'", 1, p);
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_stage_end_import(db, &(si_config){0}, id, "w", "F1", 1, NULL, 0, &err),
                   SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_string_equal(query_text(db, "SELECT error_stage FROM batch WHERE uid = $1", "F1"),
                      "import");
  assert_string_equal(timeline(db, "F1"), "import:failed:1;");
  assert_int_equal(si_batch_retry(db, "F1", &r, &err), SI_OK);
  assert_int_equal(r.outcome, SI_RETRY_QUEUED);
  assert_string_equal(r.stage, "import");
  assert_string_equal(r.from, "the original folder");
  assert_non_null(strstr(r.message, "queued a new job for"));
  assert_string_equal(
      query_text(db, "SELECT count(*) FROM job WHERE folder = 'F1' AND state = 'queued'", NULL),
      "1");
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "F1"), "QUEUE");
  si_db_close(db);
}

/* The test stage run through si_stage_run_claimed: a failed attempt goes
 * back with a backoff, the next succeeds and, last in the chain, makes
 * the batch DONE; one always failing is given up at its maximum. */
static void test_run_claimed(void **state) {
  (void)state;
  setenv("SENDIT_TEST_STAGES", "1", 1);
  si_db *db = fresh_db();
  si_error err;
  si_config cfg = {0};
  cfg.pipeline_stages = "import,test";
  cfg.lease_seconds = 30;
  const si_stage_kind *test = si_stage_find("test", 4);
  assert_non_null(test);
  si_stage_context ctx = {.cfg = &cfg, .db = db, .worker = "w1"};
  add_batch(db, "R1", "PROCESSING");
  assert_int_equal(si_store_stage_enqueue(db, "test", "R1", "", "{\"fail\": 1}", NULL, &err),
                   SI_OK);
  si_job job;
  int found = 0;
  assert_int_equal(si_store_stage_claim(db, "w1", 30, "test", &job, &found, &err), SI_OK);
  assert_true(found);
  int64_t before = si_now_ms();
  assert_int_equal(si_stage_run_claimed(&ctx, test, &job, &err), SI_OK);
  assert_string_equal(query_text(db, "SELECT state FROM job WHERE folder = $1", "R1"), "queued");
  /* Due in [base/2, base] from now (the database's clock is this host's). */
  int64_t due = atoll(query_text(db, "SELECT run_after FROM job WHERE folder = $1", "R1"));
  assert_true(due >= before + test->retry.base_ms / 2 - 50);
  assert_true(due <= si_now_ms() + test->retry.base_ms + 50);
  must_exec(db, "UPDATE job SET run_after = 0", 0, NULL);
  assert_int_equal(si_store_stage_claim(db, "w1", 30, "test", &job, &found, &err), SI_OK);
  assert_true(found);
  assert_int_equal(si_stage_run_claimed(&ctx, test, &job, &err), SI_OK);
  assert_string_equal(query_text(db, "SELECT state FROM job WHERE folder = $1", "R1"), "done");
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "R1"), "DONE");
  /* Always failing: given up at the policy's maximum. */
  add_batch(db, "R2", "PROCESSING");
  assert_int_equal(si_store_stage_enqueue(db, "test", "R2", "", "{\"fail\": -1}", NULL, &err),
                   SI_OK);
  for (int i = 0; i < test->retry.max_attempts; i++) {
    must_exec(db, "UPDATE job SET run_after = 0", 0, NULL);
    assert_int_equal(si_store_stage_claim(db, "w1", 30, "test", &job, &found, &err), SI_OK);
    assert_true(found);
    assert_int_equal(job.attempts, i + 1);
    assert_int_equal(si_stage_run_claimed(&ctx, test, &job, &err), SI_OK);
  }
  assert_string_equal(query_text(db, "SELECT state FROM job WHERE folder = $1", "R2"), "failed");
  assert_string_equal(query_text(db, "SELECT status FROM batch WHERE uid = $1", "R2"), "ERROR");
  assert_string_equal(query_text(db, "SELECT error_stage FROM batch WHERE uid = $1", "R2"), "test");
  assert_non_null(strstr(query_text(db,
                                    "SELECT l.message FROM batch_log l JOIN batch b ON b.id = "
                                    "l.batch_id WHERE b.uid = $1",
                                    "R2"),
                         "stage test given up after 4 attempts"));
  si_db_close(db);
}

typedef struct counts {
  char text[512];
} counts;

static int depth_row(void *user, const char *kind, int64_t queued, int64_t running) {
  counts *c = user;
  size_t len = strlen(c->text);
  snprintf(c->text + len, sizeof c->text - len, "%s:%lld/%lld;", kind, (long long)queued,
           (long long)running);
  return 0;
}

static int outcome_row(void *user, const char *kind, const char *st, int64_t n) {
  counts *c = user;
  size_t len = strlen(c->text);
  snprintf(c->text + len, sizeof c->text - len, "%s.%s=%lld;", kind, st, (long long)n);
  return 0;
}

static void test_counts(void **state) {
  (void)state;
  si_db *db = fresh_db();
  si_error err;
  add_batch(db, "K1", "DONE");
  add_batch(db, "K2", "DONE");
  assert_int_equal(end_import(db, running_import(db, "K1"), "K1", "test"), SI_OK);
  running_import(db, "K2");
  assert_int_equal(si_store_stage_enqueue(db, "test", "K2", "", NULL, NULL, &err), SI_OK);
  counts c = {""};
  assert_int_equal(si_store_kind_depth(db, depth_row, &c, &err), SI_OK);
  assert_string_equal(c.text, "import:0/1;test:2/0;");
  c.text[0] = 0;
  assert_int_equal(si_store_job_outcomes(db, outcome_row, &c, &err), SI_OK);
  assert_string_equal(c.text, "import.done=1;import.running=1;test.queued=2;");
  si_db_close(db);
}

typedef struct dest_seen {
  char text[512];
} dest_seen;

static int dest_row(void *user, const si_image_destination *d) {
  dest_seen *s = user;
  size_t len = strlen(s->text);
  snprintf(s->text + len, sizeof s->text - len, "%s:%s:%s;", d->destination, d->state,
           d->answer ? d->answer : "-");
  return 0;
}

static void test_image_destination(void **state) {
  (void)state;
  si_db *db = fresh_db();
  si_error err;
  add_batch(db, "S1", "DONE");
  int64_t batch = atoll(query_text(db, "SELECT id FROM batch WHERE uid = $1", "S1"));
  si_image img = {0};
  snprintf(img.uid, sizeof img.uid, "1.2.3.4");
  img.batch_id = batch;
  snprintf(img.status, sizeof img.status, "DONE");
  snprintf(img.storage_path, sizeof img.storage_path, "/s/S1/a.dcm");
  assert_int_equal(si_store_image_insert(db, &img, &err), SI_OK);
  int64_t image = atoll(query_text(db, "SELECT id FROM image WHERE uid = $1", "1.2.3.4"));
  int created = 0;
  assert_int_equal(si_store_image_destination_add(db, image, "PACS", &created, &err), SI_OK);
  assert_true(created);
  assert_int_equal(si_store_image_destination_add(db, image, "PACS", &created, &err), SI_OK);
  assert_false(created);
  assert_int_equal(si_store_image_destination_add(db, image, "WEB", &created, &err), SI_OK);
  assert_int_equal(
      si_store_image_destination_set(db, image, "PACS", SI_DEST_SENT, "C-STORE 0000 Success", &err),
      SI_OK);
  assert_int_equal(si_store_image_destination_set(db, image, "NOWHERE", SI_DEST_SENT, NULL, &err),
                   SI_ERR_NOT_FOUND);
  dest_seen s = {""};
  assert_int_equal(si_store_image_destination_list(db, batch, NULL, dest_row, &s, &err), SI_OK);
  assert_string_equal(s.text, "PACS:sent:C-STORE 0000 Success;WEB:pending:-;");
  s.text[0] = 0;
  assert_int_equal(si_store_image_destination_list(db, batch, "WEB", dest_row, &s, &err), SI_OK);
  assert_string_equal(s.text, "WEB:pending:-;");
  si_db_close(db);
}

int main(void) {
  const struct CMUnitTest rules[] = {
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_stages_rule),
      cmocka_unit_test(test_config_refuses_unbuilt),
  };
  const struct CMUnitTest records[] = {
      cmocka_unit_test(test_handoff_once),         cmocka_unit_test(test_claim_retry_give_up),
      cmocka_unit_test(test_retry_import_failure), cmocka_unit_test(test_counts),
      cmocka_unit_test(test_image_destination),    cmocka_unit_test(test_run_claimed),
  };
  int failed = cmocka_run_group_tests_name("rules", rules, NULL, NULL);
  failed += cmocka_run_group_tests_name("sqlite", records, NULL, NULL);
  const char *url = getenv("SENDIT_TEST_PG_URL");
  if (url && *url) {
    pg_url = url;
    failed += cmocka_run_group_tests_name("postgresql", records, NULL, drop_created);
  } else {
    printf("SENDIT_TEST_PG_URL is not set: the PostgreSQL round is skipped\n");
  }
  return failed;
}
