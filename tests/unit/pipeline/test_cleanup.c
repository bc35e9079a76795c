/* The cleanup stage (issue 16) on SQLite: which batches are eligible
 * (confirmed rows against pending and failed ones, a send job still
 * queued, keep days, keep_errors, the low water), removal below a root
 * (outside paths, "..", symlinks for a file and for a folder, a file
 * already gone, pruning), the stage's run and its records, and the chain
 * rule. The ledger is filled with the store's own functions. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/cleanup.h"
#include "sendit/db.h"
#include "sendit/fs.h"
#include "sendit/stages.h"
#include "sendit/store.h"
#include "sendit/store_cleanup.h"
#include "sendit/store_stages.h"

#define DAY_MS (86400LL * 1000)

typedef struct site {
  char root[2048], storage[2100], deid[2100], db_path[2100];
  si_config cfg;
  si_db *db;
} site;

static site *site_new(void) {
  static int counter;
  site *s = calloc(1, sizeof *s);
  assert_non_null(s);
  snprintf(s->root, sizeof s->root, "%s/site-%d", tu_tmp_dir(), ++counter);
  snprintf(s->storage, sizeof s->storage, "%s/storage", s->root);
  snprintf(s->deid, sizeof s->deid, "%s/deid", s->root);
  snprintf(s->db_path, sizeof s->db_path, "%s/sendit.db", s->root);
  si_error err;
  assert_int_equal(si_mkdir_p(s->storage, &err), SI_OK);
  assert_int_equal(si_mkdir_p(s->deid, &err), SI_OK);
  assert_int_equal(si_db_open(s->db_path, &s->db, &err), SI_OK);
  s->cfg.storage_dir = s->storage;
  s->cfg.deid_dir = s->deid;
  s->cfg.database = s->db_path;
  s->cfg.pipeline_stages = "import";
  s->cfg.cleanup_keep_errors = 1;
  s->cfg.cleanup_interval_seconds = 60;
  s->cfg.lease_seconds = 60;
  return s;
}

static void site_free(site *s) {
  si_db_close(s->db);
  free(s);
}

static void write_text(const char *path, const char *text) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = 0;
  si_error err;
  assert_int_equal(si_mkdir_p(dir, &err), SI_OK);
  assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
}

static int first_i64(void *user, int ncols, const char *const *v) {
  *(int64_t *)user = ncols > 0 && v[0] ? atoll(v[0]) : -1;
  return 1;
}

static int64_t query_i64(site *s, const char *sql) {
  int64_t v = -1;
  si_error err;
  assert_int_equal(si_db_exec(s->db, sql, 0, NULL, first_i64, &v, NULL, &err), SI_OK);
  return v;
}

static void exec_sql(site *s, const char *sql) {
  si_error err;
  assert_int_equal(si_db_exec(s->db, sql, 0, NULL, NULL, NULL, NULL, &err), SI_OK);
}

static void original_of(site *s, const char *uid, int i, char *out, size_t size) {
  snprintf(out, size, "%s/%s/sub/%d.dcm", s->storage, uid, i);
}

static void copy_of(site *s, const char *uid, int i, char *out, size_t size) {
  snprintf(out, size, "%s/%s-study/%d.dcm", s->deid, uid, i);
}

static int exists(const char *path) {
  struct stat sb;
  return lstat(path, &sb) == 0;
}

/* A DONE batch `uid` of n images, each with its original in
 * storage/uid/sub/ and a de-identified copy in deid/<uid>-study/; returns
 * the batch id. */
static int64_t add_batch(site *s, const char *uid, int n, int64_t *image_ids) {
  si_error err;
  int64_t batch = -1;
  int reopened = 0;
  assert_int_equal(si_store_batch_begin(s->db, uid, &batch, &reopened, &err), SI_OK);
  assert_int_equal(si_store_batch_set_status(s->db, uid, SI_BATCH_DONE, &err), SI_OK);
  for (int i = 0; i < n; i++) {
    si_image img = {0};
    snprintf(img.uid, sizeof img.uid, "1.2.%lld.%d", (long long)batch, i);
    img.batch_id = batch;
    snprintf(img.status, sizeof img.status, "%s", SI_IMAGE_SENT);
    original_of(s, uid, i, img.storage_path, sizeof img.storage_path);
    img.size_bytes = 5;
    write_text(img.storage_path, "DICOM");
    assert_int_equal(si_store_image_insert(s->db, &img, &err), SI_OK);
    char sql[512], copy[4096];
    snprintf(sql, sizeof sql, "SELECT id FROM image WHERE uid = '%s'", img.uid);
    image_ids[i] = query_i64(s, sql);
    copy_of(s, uid, i, copy, sizeof copy);
    write_text(copy, "DEID");
    char id_s[32], batch_s[32];
    snprintf(id_s, sizeof id_s, "%lld", (long long)image_ids[i]);
    snprintf(batch_s, sizeof batch_s, "%lld", (long long)batch);
    const char *p[] = {id_s, batch_s, copy};
    assert_int_equal(si_db_exec(s->db,
                                "INSERT INTO image_deid (image_id, batch_id, state, output_path, "
                                "updated_at) VALUES ($1, $2, 'done', $3, 0)",
                                3, p, NULL, NULL, NULL, &err),
                     SI_OK);
  }
  return batch;
}

/* Every image of the batch gets destination `dest` in `state`. */
static void ledger(site *s, const int64_t *ids, int n, const char *dest, const char *state) {
  si_error err;
  for (int i = 0; i < n; i++) {
    assert_int_equal(si_store_image_destination_add(s->db, ids[i], dest, NULL, &err), SI_OK);
    assert_int_equal(si_store_image_destination_set(s->db, ids[i], dest, state, NULL, &err), SI_OK);
  }
}

/* The plan as "UID:what:reason" (reason "kept" for kept items), in order. */
static void plan_text(site *s, int64_t now, int64_t free_mb, char *out, size_t size) {
  si_cleanup_plan plan;
  si_error err;
  assert_int_equal(si_cleanup_plan_make(s->db, &s->cfg, -1, now, free_mb, &plan, &err), SI_OK);
  out[0] = 0;
  for (size_t i = 0; i < plan.count; i++) {
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s%s:%s:%s", i ? " " : "", plan.items[i].batch_uid,
             plan.items[i].what, plan.items[i].reason ? plan.items[i].reason : "kept");
  }
  si_cleanup_plan_free(&plan);
}

/* ---- eligibility ---- */

static void test_confirmed_only(void **state) {
  (void)state;
  site *s = site_new();
  int64_t a[2], p[2], f[2], n[2], q[2];
  add_batch(s, "SENT", 2, a);
  ledger(s, a, 2, "PACS", SI_DEST_SENT);
  ledger(s, a, 2, "WEB", SI_DEST_SENT);
  add_batch(s, "PENDING", 2, p);
  ledger(s, p, 2, "PACS", SI_DEST_SENT);
  ledger(s, p, 1, "WEB", SI_DEST_PENDING); /* one image still pending to one destination */
  add_batch(s, "FAILED", 2, f);
  ledger(s, f, 2, "PACS", SI_DEST_SENT);
  si_error err;
  assert_int_equal(
      si_store_image_destination_set(s->db, f[1], "PACS", SI_DEST_FAILED, "refused", &err), SI_OK);
  add_batch(s, "NOROWS", 2, n);
  add_batch(s, "QUEUED", 2, q);
  ledger(s, q, 2, "PACS", SI_DEST_SENT);
  assert_int_equal(si_store_stage_enqueue(s->db, "send", "QUEUED", "WEB", NULL, NULL, &err), SI_OK);
  char text[2048];
  plan_text(s, si_now_ms(), -1, text, sizeof text);
  assert_string_equal(text, "SENT:originals:policy SENT:deid:policy");

  /* The send job ends failed: still not confirmed; a resend done later is. */
  exec_sql(s, "UPDATE job SET state = 'failed' WHERE kind = 'send'");
  plan_text(s, si_now_ms(), -1, text, sizeof text);
  assert_string_equal(text, "SENT:originals:policy SENT:deid:policy");
  assert_int_equal(si_store_stage_enqueue(s->db, "send", "QUEUED", "WEB", NULL, NULL, &err), SI_OK);
  exec_sql(s, "UPDATE job SET state = 'done' WHERE kind = 'send' AND state = 'queued'");
  plan_text(s, si_now_ms(), -1, text, sizeof text);
  assert_non_null(strstr(text, "QUEUED:originals:policy"));

  /* A batch being imported again (late data) is never judged. */
  assert_int_equal(si_store_batch_set_status(s->db, "SENT", SI_BATCH_PROCESSING, &err), SI_OK);
  plan_text(s, si_now_ms(), -1, text, sizeof text);
  assert_null(strstr(text, "SENT:"));
  site_free(s);
}

static void test_days_errors_low_water(void **state) {
  (void)state;
  site *s = site_new();
  int64_t a[2], b[2], e[2];
  add_batch(s, "OLD", 2, a);
  ledger(s, a, 2, "PACS", SI_DEST_SENT);
  exec_sql(s, "UPDATE image_destination SET updated_at = updated_at - 3 * 86400000 WHERE "
              "image_id IN (SELECT id FROM image WHERE batch_id = (SELECT id FROM batch WHERE "
              "uid = 'OLD'))");
  add_batch(s, "NEW", 2, b);
  ledger(s, b, 2, "PACS", SI_DEST_SENT);
  add_batch(s, "ERR", 2, e);
  ledger(s, e, 2, "PACS", SI_DEST_SENT);
  exec_sql(s, "UPDATE batch SET has_error = 1 WHERE uid = 'ERR'");
  exec_sql(s, "UPDATE image_destination SET updated_at = updated_at - 9 * 86400000 WHERE "
              "image_id IN (SELECT id FROM image WHERE batch_id = (SELECT id FROM batch WHERE "
              "uid = 'ERR'))");
  s->cfg.cleanup_keep_originals_days = 2;
  s->cfg.cleanup_keep_deid_days = 5;
  char text[2048];
  int64_t now = si_now_ms();
  plan_text(s, now, -1, text, sizeof text);
  assert_string_equal(text, "ERR:originals:kept ERR:deid:kept OLD:originals:policy OLD:deid:kept "
                            "NEW:originals:kept NEW:deid:kept");
  /* A week on, every kept kind of the clean batches is due; ERR never. */
  plan_text(s, now + 7 * DAY_MS, -1, text, sizeof text);
  assert_string_equal(text, "ERR:originals:kept ERR:deid:kept OLD:originals:policy OLD:deid:policy "
                            "NEW:originals:policy NEW:deid:policy");
  /* keep_errors = false: ERR too. */
  s->cfg.cleanup_keep_errors = 0;
  plan_text(s, now, -1, text, sizeof text);
  assert_string_equal(text, "ERR:originals:policy ERR:deid:policy OLD:originals:policy "
                            "OLD:deid:kept NEW:originals:kept NEW:deid:kept");
  s->cfg.cleanup_keep_errors = 1;
  /* Below the low water, the oldest kept kinds go until the estimate
   * reaches the high water: 1 MB short takes them all (tiny files). */
  s->cfg.low_water_mb = 100;
  s->cfg.high_water_mb = 200;
  plan_text(s, now, 150, text, sizeof text); /* between the marks: nothing more */
  assert_string_equal(text, "ERR:originals:kept ERR:deid:kept OLD:originals:policy OLD:deid:kept "
                            "NEW:originals:kept NEW:deid:kept");
  plan_text(s, now, 99, text, sizeof text);
  assert_string_equal(text, "ERR:originals:kept ERR:deid:kept OLD:originals:policy "
                            "OLD:deid:low-water NEW:originals:low-water NEW:deid:low-water");
  site_free(s);
}

/* ---- removal ---- */

static void test_unlink_below_root(void **state) {
  (void)state;
  site *s = site_new();
  char path[4096], outside[4096], why[256];
  int64_t bytes = 0;
  snprintf(path, sizeof path, "%s/B/x/y/file.dcm", s->storage);
  write_text(path, "12345");
  assert_int_equal(si_cleanup_size(s->storage, path), 5);
  assert_int_equal(si_cleanup_unlink(s->storage, path, &bytes, why, sizeof why), SI_UNLINK_REMOVED);
  assert_int_equal(bytes, 5);
  assert_false(exists(path));
  snprintf(path, sizeof path, "%s/B", s->storage);
  assert_false(exists(path)); /* pruned up to the root */
  assert_true(exists(s->storage));
  snprintf(path, sizeof path, "%s/B/x/y/file.dcm", s->storage);
  assert_int_equal(si_cleanup_unlink(s->storage, path, &bytes, why, sizeof why), SI_UNLINK_GONE);

  /* Outside the root, through "..", or the root itself: refused. */
  snprintf(outside, sizeof outside, "%s/outside/keep.dcm", s->root);
  write_text(outside, "KEEP");
  assert_int_equal(si_cleanup_unlink(s->storage, outside, &bytes, why, sizeof why),
                   SI_UNLINK_REFUSED);
  snprintf(path, sizeof path, "%s/../outside/keep.dcm", s->storage);
  assert_int_equal(si_cleanup_unlink(s->storage, path, &bytes, why, sizeof why), SI_UNLINK_REFUSED);
  snprintf(path, sizeof path, "%s2/x.dcm", s->storage); /* a sibling sharing the prefix */
  assert_int_equal(si_cleanup_unlink(s->storage, path, &bytes, why, sizeof why), SI_UNLINK_REFUSED);
  assert_int_equal(si_cleanup_unlink(s->storage, s->storage, &bytes, why, sizeof why),
                   SI_UNLINK_REFUSED);
  assert_true(exists(outside));

  /* A symlink for the file, and one for a folder on the way. */
  char link[4096], dir[4096];
  snprintf(link, sizeof link, "%s/L/file.dcm", s->storage);
  write_text(link, "x");
  unlink(link);
  assert_int_equal(symlink(outside, link), 0);
  assert_int_equal(si_cleanup_size(s->storage, link), -1);
  assert_int_equal(si_cleanup_unlink(s->storage, link, &bytes, why, sizeof why), SI_UNLINK_REFUSED);
  assert_non_null(strstr(why, "symlink"));
  assert_true(exists(link) && exists(outside));
  snprintf(dir, sizeof dir, "%s/D", s->storage);
  snprintf(path, sizeof path, "%s/outside", s->root);
  assert_int_equal(symlink(path, dir), 0);
  snprintf(path, sizeof path, "%s/D/keep.dcm", s->storage);
  assert_int_equal(si_cleanup_unlink(s->storage, path, &bytes, why, sizeof why), SI_UNLINK_REFUSED);
  assert_non_null(strstr(why, "not followed"));
  assert_true(exists(outside));
  site_free(s);
}

/* ---- the stage ---- */

static int count_records(void *user, const si_cleanup_record *r) {
  int *n = user;
  (*n) += r->removed_at > 0;
  return 0;
}

static int count_confirmed(void *user, const si_confirmed_batch *b) {
  (void)b;
  (*(int *)user)++;
  return 0;
}

static void run_stage(site *s, const char *uid, int *failed) {
  si_stage_context ctx = {.cfg = &s->cfg, .db = s->db, .worker = "w1"};
  si_job job = {0};
  snprintf(job.folder, sizeof job.folder, "%s", uid);
  snprintf(job.kind, sizeof job.kind, "cleanup");
  job.attempts = 1;
  char error[512] = "";
  si_error err;
  assert_int_equal(si_stage_cleanup_run(&ctx, &job, failed, error, sizeof error, &err), SI_OK);
}

static void test_stage_run(void **state) {
  (void)state;
  site *s = site_new();
  int64_t a[3], p[2];
  int64_t batch = add_batch(s, "GO", 3, a);
  ledger(s, a, 3, "PACS", SI_DEST_SENT);
  int64_t pending = add_batch(s, "WAIT", 2, p);
  ledger(s, p, 2, "PACS", SI_DEST_PENDING);
  s->cfg.cleanup_keep_deid_days = 1;
  int failed = 1;
  run_stage(s, "WAIT", &failed);
  assert_false(failed);
  char path[4096];
  original_of(s, "WAIT", 0, path, sizeof path);
  assert_true(exists(path));
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM batch_log WHERE batch_id = %lld AND message LIKE "
           "'cleanup: nothing removed: not every destination%%'",
           (long long)pending);
  assert_int_equal(query_i64(s, sql), 1);

  run_stage(s, "GO", &failed);
  assert_false(failed);
  for (int i = 0; i < 3; i++) {
    original_of(s, "GO", i, path, sizeof path);
    assert_false(exists(path));
    copy_of(s, "GO", i, path, sizeof path);
    assert_true(exists(path)); /* kept a day */
  }
  snprintf(path, sizeof path, "%s/GO", s->storage);
  assert_false(exists(path));
  snprintf(sql, sizeof sql, "SELECT count(*) FROM image WHERE batch_id = %lld AND status = 'DONE'",
           (long long)batch);
  assert_int_equal(query_i64(s, sql), 3);
  snprintf(sql, sizeof sql,
           "SELECT files * 1000 + bytes FROM batch_cleanup WHERE batch_id = %lld AND what = "
           "'originals' AND removed_at IS NOT NULL",
           (long long)batch);
  assert_int_equal(query_i64(s, sql), 3 * 1000 + 15);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM batch_log WHERE batch_id = %lld AND message LIKE "
           "'cleanup: the de-identified copies are kept until %%'",
           (long long)batch);
  assert_int_equal(query_i64(s, sql), 1);

  /* Again (a job run twice): nothing more, no second record. */
  run_stage(s, "GO", &failed);
  int n = 0;
  si_error err;
  assert_int_equal(si_store_cleanup_records(s->db, batch, count_records, &n, &err), SI_OK);
  assert_int_equal(n, 1);

  /* The sweep, once the copies' day is over (here: 0 days), takes them. */
  s->cfg.cleanup_keep_deid_days = 0;
  size_t count = 0;
  assert_int_equal(si_cleanup_sweep(s->db, &s->cfg, 1, NULL, NULL, &count, &err), SI_OK);
  assert_int_equal(count, 1); /* a dry run: listed */
  copy_of(s, "GO", 0, path, sizeof path);
  assert_true(exists(path));
  assert_int_equal(si_cleanup_sweep(s->db, &s->cfg, 0, NULL, NULL, &count, &err), SI_OK);
  assert_int_equal(count, 1);
  assert_false(exists(path));
  snprintf(path, sizeof path, "%s/GO-study", s->deid);
  assert_false(exists(path));
  assert_true(exists(s->deid));
  /* Cleaned of both kinds: the sweep's query leaves GO out, the stage's
   * (by id) still judges it, and a run then says nothing misleading. */
  int found = 0;
  assert_int_equal(si_store_cleanup_confirmed(s->db, -1, count_confirmed, &found, &err), SI_OK);
  assert_int_equal(found, 0);
  assert_int_equal(si_store_cleanup_confirmed(s->db, batch, count_confirmed, &found, &err), SI_OK);
  assert_int_equal(found, 1);
  run_stage(s, "GO", &failed);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM batch_log WHERE batch_id = %lld AND message LIKE "
           "'cleanup: nothing removed%%'",
           (long long)batch);
  assert_int_equal(query_i64(s, sql), 0);
  site_free(s);
}

/* The daemon's sweep removes a due batch soon after it starts. */
static void test_service(void **state) {
  (void)state;
  site *s = site_new();
  int64_t a[1];
  add_batch(s, "SVC", 1, a);
  ledger(s, a, 1, "PACS", SI_DEST_SENT);
  si_cleanup_service *svc = NULL;
  si_error err;
  assert_int_equal(si_cleanup_service_start(&s->cfg, &svc, &err), SI_OK);
  char path[4096];
  original_of(s, "SVC", 0, path, sizeof path);
  for (int i = 0; i < 200 && exists(path); i++)
    usleep(20000);
  si_cleanup_service_stop(svc);
  assert_false(exists(path));
  site_free(s);
}

static void test_chain_rule(void **state) {
  (void)state;
  const char *why = si_stages_check("import,cleanup");
  assert_non_null(why);
  assert_non_null(strstr(why, "\"cleanup\" needs \"send\" before it"));
  why = si_stages_check("import,deid,cleanup");
  assert_non_null(why);
  assert_non_null(strstr(why, "needs \"send\""));
  /* With send before it, the chain is fine (the destinations are config_dest.c's check). */
  assert_null(si_stages_check("import,send,cleanup"));
  assert_null(si_stages_check("import,deid,send,cleanup"));
  assert_true(si_stage_find("cleanup", 7)->built);
  assert_non_null(si_stage_find("cleanup", 7)->run);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_confirmed_only),    cmocka_unit_test(test_days_errors_low_water),
      cmocka_unit_test(test_unlink_below_root), cmocka_unit_test(test_stage_run),
      cmocka_unit_test(test_service),           cmocka_unit_test(test_chain_rule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
