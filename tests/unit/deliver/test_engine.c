/* The delivery engine's parts without a peer: the circuit breaker's rules,
 * the store functions on SQLite (destination_state, deferring a job, the
 * send stage's fan-in through si_store_job_end, images SENT only when every
 * destination confirmed them, resend), the [destination NAME]
 * configuration, and the filters (modality, calling AE title, recipe
 * LABEL) on the fan-out and on a job's items. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/config.h"
#include "sendit/db.h"
#include "sendit/deliver.h"
#include "sendit/dicom.h"
#include "sendit/edit.h"
#include "sendit/store.h"
#include "sendit/store_dest.h"
#include "sendit/store_stages.h"
#include "sendit/write.h"

/* ---- the breaker's rules ---- */

static void test_breaker_opens_after_threshold(void **state) {
  (void)state;
  si_dest_state s = {.state = SI_BREAKER_CLOSED};
  assert_int_equal(si_breaker_record(&s, 0, "no association", 1000, 3), 0);
  assert_int_equal(si_breaker_record(&s, 0, "no association", 2000, 3), 0);
  assert_string_equal(s.state, SI_BREAKER_CLOSED);
  /* a success in between starts the count again */
  assert_int_equal(si_breaker_record(&s, 1, NULL, 2500, 3), 0);
  assert_int_equal(s.failures, 0);
  assert_int_equal(s.last_success_at, 2500);
  assert_int_equal(si_breaker_record(&s, 0, "a", 3000, 3), 0);
  assert_int_equal(si_breaker_record(&s, 0, "b", 4000, 3), 0);
  assert_int_equal(si_breaker_record(&s, 0, "refused", 5000, 3), 1);
  assert_string_equal(s.state, SI_BREAKER_OPEN);
  assert_int_equal(s.opened_at, 5000);
  assert_string_equal(s.last_error, "refused");
  assert_int_equal(s.attempts, 6);
  assert_int_equal(s.failed_attempts, 5);
}

static void test_breaker_probe(void **state) {
  (void)state;
  si_dest_state s = {.state = SI_BREAKER_CLOSED};
  int64_t until = 0;
  assert_int_equal(si_breaker_admit(&s, 100, 30, 60000, &until), SI_BREAKER_RUN);
  si_breaker_record(&s, 0, "x", 1000, 1);
  assert_string_equal(s.state, SI_BREAKER_OPEN);
  /* open: wait for the probe time */
  assert_int_equal(si_breaker_admit(&s, 1000 + 29999, 30, 60000, &until), SI_BREAKER_WAIT);
  assert_int_equal(until, 31000);
  /* then one probe; another attempt meanwhile waits */
  assert_int_equal(si_breaker_admit(&s, 31000, 30, 60000, &until), SI_BREAKER_PROBE);
  assert_string_equal(s.state, SI_BREAKER_HALF_OPEN);
  assert_int_equal(s.opened_at, 31000);
  assert_int_equal(si_breaker_admit(&s, 32000, 30, 60000, &until), SI_BREAKER_WAIT);
  assert_true(until > 32000);
  /* a probe whose worker died is taken over once its lease ran out */
  assert_int_equal(si_breaker_admit(&s, 31000 + 60000, 30, 60000, &until), SI_BREAKER_PROBE);
  /* the probe fails: open again, for another wait */
  assert_int_equal(si_breaker_record(&s, 0, "still down", 92000, 5), 1);
  assert_string_equal(s.state, SI_BREAKER_OPEN);
  assert_int_equal(s.opened_at, 92000);
  /* the next probe succeeds: closed */
  assert_int_equal(si_breaker_admit(&s, 122000, 30, 60000, &until), SI_BREAKER_PROBE);
  assert_int_equal(si_breaker_record(&s, 1, NULL, 122500, 5), 0);
  assert_string_equal(s.state, SI_BREAKER_CLOSED);
  assert_int_equal(s.failures, 0);
  assert_int_equal(si_breaker_admit(&s, 122600, 30, 60000, &until), SI_BREAKER_RUN);
}

/* ---- store ---- */

static si_db *fresh_db(void) {
  static int counter;
  char path[4200];
  snprintf(path, sizeof path, "%s/engine-%d.sqlite", tu_tmp_dir(), ++counter);
  remove(path);
  si_db *db = NULL;
  si_error err;
  assert_int_equal(si_db_open(path, &db, &err), SI_OK);
  return db;
}

static void exec(si_db *db, const char *sql) {
  si_error err;
  si_status st = si_db_exec(db, sql, 0, NULL, NULL, NULL, NULL, &err);
  if (st != SI_OK)
    print_error("%s: %s\n", sql, err.message);
  assert_int_equal(st, SI_OK);
}

static int text_row(void *user, int ncols, const char *const *v) {
  snprintf(user, 256, "%s", ncols > 0 && v[0] ? v[0] : "NULL");
  return 1;
}

static const char *query(si_db *db, const char *sql) {
  static char out[256];
  si_error err;
  snprintf(out, sizeof out, "(none)");
  assert_int_equal(si_db_exec(db, sql, 0, NULL, text_row, out, NULL, &err), SI_OK);
  return out;
}

static void test_state_rows(void **state) {
  (void)state;
  si_db *db = fresh_db();
  si_error err;
  si_dest_state s;
  int found = 1;
  assert_int_equal(si_store_dest_state_get(db, "a", &s, &found, &err), SI_OK);
  assert_false(found);
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_dest_state_lock(db, "a", &s, &err), SI_OK);
  assert_string_equal(s.name, "a");
  assert_string_equal(s.state, SI_BREAKER_CLOSED);
  si_breaker_record(&s, 0, "connection refused", 1234, 1);
  s.sent_count = 7;
  assert_int_equal(si_store_dest_state_put(db, &s, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  si_dest_state back;
  assert_int_equal(si_store_dest_state_get(db, "a", &back, &found, &err), SI_OK);
  assert_true(found);
  assert_string_equal(back.state, SI_BREAKER_OPEN);
  assert_int_equal(back.opened_at, 1234);
  assert_int_equal(back.sent_count, 7);
  assert_string_equal(back.last_error, "connection refused");
  si_db_close(db);
}

/* A batch B of two images, imported, with send jobs to a and b running
 * (held by worker w). */
static void setup_batch(si_db *db) {
  exec(db, "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ('B', 'PROCESSING', 1, "
           "1)");
  exec(db, "INSERT INTO image (uid, batch_id, status, storage_path, modality, created_at) VALUES "
           "('1.1', 1, 'DONE', '/s/1', 'CT', 1), ('1.2', 1, 'DONE', '/s/2', 'MR', 1)");
  exec(db, "INSERT INTO job (kind, folder, path, excl_key, state, worker, lease_until, attempts, "
           "created_at, updated_at) VALUES ('send', 'B', '', 'a', 'running', 'w', 99999999999999, "
           "1, 1, 1), ('send', 'B', '', 'b', 'running', 'w', 99999999999999, 1, 1, 1)");
}

static void end_job(si_db *db, int64_t id, const char *key, const char *state, const char *error) {
  si_error err;
  si_job_end e = {.job_id = id,
                  .worker = "w",
                  .kind = "send",
                  .batch_uid = "B",
                  .state = state,
                  .error = error,
                  .batch_error = error != NULL,
                  .fan_in = 1};
  (void)key;
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_job_end(db, &e, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
}

static void ledger(si_db *db, int64_t image, const char *dest, const char *state) {
  si_error err;
  assert_int_equal(si_store_image_destination_add(db, image, dest, NULL, &err), SI_OK);
  assert_int_equal(si_store_image_destination_set(db, image, dest, state, "0000", &err), SI_OK);
}

static void test_fan_in_done(void **state) {
  (void)state;
  si_db *db = fresh_db();
  setup_batch(db);
  ledger(db, 1, "a", SI_DEST_SENT);
  ledger(db, 2, "a", SI_DEST_SENT);
  ledger(db, 1, "b", SI_DEST_SENT);
  end_job(db, 1, "a", "done", NULL);
  /* b still runs: the batch waits, no image is SENT (b has not confirmed) */
  assert_string_equal(query(db, "SELECT status FROM batch"), "PROCESSING");
  assert_string_equal(query(db, "SELECT state FROM batch_stage WHERE stage = 'send'"), "running");
  assert_string_equal(query(db, "SELECT count(*) FROM image WHERE status = 'SENT'"), "0");
  ledger(db, 2, "b", SI_DEST_SENT);
  end_job(db, 2, "b", "done", NULL);
  assert_string_equal(query(db, "SELECT status FROM batch"), "DONE");
  assert_string_equal(query(db, "SELECT state FROM batch_stage WHERE stage = 'send'"), "done");
  assert_string_equal(query(db, "SELECT count(*) FROM image WHERE status = 'SENT'"), "2");
  si_db_close(db);
}

static void test_fan_in_one_failed(void **state) {
  (void)state;
  si_db *db = fresh_db();
  setup_batch(db);
  ledger(db, 1, "a", SI_DEST_SENT);
  ledger(db, 2, "a", SI_DEST_SENT);
  ledger(db, 1, "b", SI_DEST_SENT);
  ledger(db, 2, "b", SI_DEST_FAILED);
  /* b gives up first; a still runs and finishes */
  end_job(db, 2, "b", "failed", "destination b: 1 of 2 instances refused: 1.2: A900");
  assert_string_equal(query(db, "SELECT status FROM batch"), "PROCESSING");
  end_job(db, 1, "a", "done", NULL);
  assert_string_equal(query(db, "SELECT status FROM batch"), "ERROR");
  assert_string_equal(query(db, "SELECT error_stage FROM batch"), "send");
  assert_string_equal(query(db, "SELECT state FROM batch_stage WHERE stage = 'send'"), "failed");
  assert_non_null(strstr(query(db, "SELECT last_error FROM batch_stage WHERE stage = 'send'"),
                         "b: destination b: 1 of 2 instances refused"));
  /* image 1 both confirmed: SENT; image 2 refused by b: not */
  assert_string_equal(query(db, "SELECT status FROM image WHERE id = 1"), "SENT");
  assert_string_equal(query(db, "SELECT status FROM image WHERE id = 2"), "DONE");
  /* resend to b: its rows pending again, the batch back in delivery */
  si_error err;
  int found = 0;
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_equal(si_store_dest_reset(db, "B", "b", &found, &err), SI_OK);
  assert_int_equal(si_db_commit(db, &err), SI_OK);
  assert_true(found);
  assert_string_equal(
      query(db, "SELECT count(*) FROM image_destination WHERE destination = 'b' AND state = "
                "'pending'"),
      "2");
  assert_string_equal(
      query(db, "SELECT count(*) FROM image_destination WHERE destination = 'a' AND state = "
                "'sent'"),
      "2");
  assert_string_equal(query(db, "SELECT status FROM batch"), "PROCESSING");
  assert_string_equal(query(db, "SELECT status FROM image WHERE id = 1"), "DONE");
  si_db_close(db);
}

static void test_defer_and_counts(void **state) {
  (void)state;
  si_db *db = fresh_db();
  setup_batch(db);
  si_error err;
  int64_t running = -1;
  assert_int_equal(si_store_dest_running(db, "a", 1, &running, &err), SI_OK);
  assert_int_equal(running, 0);
  assert_int_equal(si_store_dest_running(db, "a", 99, &running, &err), SI_OK);
  assert_int_equal(running, 1);
  assert_int_equal(si_store_job_defer(db, 1, "w", 5000, &err), SI_OK);
  assert_string_equal(query(db, "SELECT state || ':' || attempts FROM job WHERE id = 1"),
                      "queued:0");
  assert_string_equal(query(db, "SELECT run_after > updated_at FROM job WHERE id = 1"), "1");
  assert_int_equal(si_store_job_defer(db, 1, "w", 5000, &err), SI_ERR_STATE); /* not held now */
  assert_int_equal(si_store_dest_release_queued(db, "a", &err), SI_OK);
  assert_string_equal(query(db, "SELECT run_after FROM job WHERE id = 1"), "NULL");
  assert_int_equal(si_store_dest_push_queued(db, "a", 12345, &err), SI_OK);
  assert_string_equal(query(db, "SELECT run_after FROM job WHERE id = 1"), "12345");
  ledger(db, 1, "a", SI_DEST_SENT);
  ledger(db, 2, "a", SI_DEST_FAILED);
  si_dest_totals t;
  assert_int_equal(si_store_dest_totals(db, "a", &t, &err), SI_OK);
  assert_int_equal(t.sent, 1);
  assert_int_equal(t.failed, 1);
  assert_int_equal(t.queued_jobs, 1);
  si_db_close(db);
}

/* ---- configuration ---- */

static si_status load(const char *text, si_config *cfg, si_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/dest.ini", tu_tmp_dir());
  assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
  return si_config_load(cfg, path, err);
}

static void test_config(void **state) {
  (void)state;
  si_config cfg;
  si_error err;
  assert_int_equal(
      load("[pipeline]\nstages = import,send\n[destination pacs]\ntype = dicom\nhost = "
           "127.0.0.1\nport = 104\nfilter_modalities = CT, MR\nconcurrency = 3\n",
           &cfg, &err),
      SI_OK);
  assert_int_equal(cfg.destination_count, 1);
  const si_dest_config *d = &cfg.destinations[0];
  assert_string_equal(d->name, "pacs");
  assert_string_equal(d->source, "original"); /* no deid stage */
  assert_string_equal(d->filter_modalities, "CT,MR");
  assert_int_equal(d->concurrency, 3);
  assert_int_equal(d->max_attempts, 10);
  assert_int_equal(d->breaker_failures, 5);
  assert_string_equal(si_dest_get(d, "calling_ae"), "SENDIT");
  assert_true(si_deliver_filter_match(d, &(si_deliver_facts){.modality = "MR"}));
  assert_false(si_deliver_filter_match(d, &(si_deliver_facts){.modality = "US"}));
  si_config_free(&cfg);

  assert_int_equal(
      load("[destination pacs]\ntype = dicom\nhost = h\nport = 104\nbogus = 1\n", &cfg, &err),
      SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "[destination pacs] unknown key \"bogus\""));
  assert_int_equal(load("[destination x]\ntype = carrier-pigeon\n", &cfg, &err), SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "[destination x] type"));
  assert_int_equal(load("[destination x]\ntype = dicom\nport = 104\n", &cfg, &err), SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "host is required"));
  assert_int_equal(load("[destination x]\ntype = dicom\nhost = h\nport = 70000\n", &cfg, &err),
                   SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "[destination x] port"));
  assert_int_equal(
      load("[destination x]\ntype = dicom\nhost = h\nport = 1\nhost = g\n", &cfg, &err),
      SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "set twice"));
  assert_int_equal(load("[destination bad name]\ntype = dicom\n", &cfg, &err), SI_ERR_CONFIG);
  assert_int_equal(load("[pipeline]\nstages = import,send\n", &cfg, &err), SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "no [destination NAME]"));
  assert_int_equal(
      load("[destination x]\ntype = dicom\nhost = h\nport = 1\nsource = deid\n", &cfg, &err),
      SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "no deid"));
  /* filter_labels that can never match: no deid stage, or no recipe */
  assert_int_equal(
      load("[destination x]\ntype = dicom\nhost = h\nport = 1\nfilter_labels = A\n", &cfg, &err),
      SI_ERR_CONFIG);
  assert_non_null(strstr(err.message,
                         "[destination x] filter_labels = \"A\": [pipeline] stages has "
                         "no deid stage"));
  assert_int_equal(load("[pipeline]\nstages = import,deid,send\n[destination x]\ntype = "
                        "dicom\nhost = h\nport = 1\nfilter_labels = A\n",
                        &cfg, &err),
                   SI_ERR_CONFIG);
  assert_non_null(strstr(err.message, "[deid] recipe is not set"));
}

/* ---- the filters ---- */

static void test_filter_lists(void **state) {
  (void)state;
  si_config cfg;
  si_error err;
  /* blanks go around items, not inside them (a LABEL has words); empty
   * items go; source = original keeps the deid stage's LABELs usable */
  assert_int_equal(load("[pipeline]\nstages = import,deid,send\n[deid]\nrecipe = /r.dicom\n"
                        "[destination x]\ntype = dicom\nhost = h\nport = 1\nsource = original\n"
                        "filter_labels = ,  Clean  MR , Needs review,,\nfilter_calling_ae = "
                        "MODA ,\tMOD B\nfilter_modalities = CT , MR\n",
                        &cfg, &err),
                   SI_OK);
  const si_dest_config *d = &cfg.destinations[0];
  assert_string_equal(d->filter_labels, "Clean  MR,Needs review");
  assert_string_equal(d->filter_calling_ae, "MODA,MOD B");
  assert_string_equal(d->filter_modalities, "CT,MR");
  si_deliver_facts f = {.modality = "CT", .calling_ae = "MODA", .label = "Needs review"};
  assert_true(si_deliver_filter_match(d, &f));
  f.calling_ae = "MOD B  "; /* AE values are padded with blanks */
  assert_true(si_deliver_filter_match(d, &f));
  f.calling_ae = "moda"; /* AE titles are case-sensitive */
  assert_false(si_deliver_filter_match(d, &f));
  f.calling_ae = "MOD";
  assert_false(si_deliver_filter_match(d, &f));
  f.calling_ae = ""; /* none in its meta: in no list */
  assert_false(si_deliver_filter_match(d, &f));
  f.calling_ae = "MODA";
  f.label = "clean  mr";
  assert_false(si_deliver_filter_match(d, &f));
  f.label = "Clean  MR";
  assert_true(si_deliver_filter_match(d, &f));
  f.label = NULL; /* no LABEL */
  assert_false(si_deliver_filter_match(d, &f));
  f.label = "Clean  MR";
  f.modality = "US"; /* every filter must match */
  assert_false(si_deliver_filter_match(d, &f));
  si_config_free(&cfg);

  /* empty lists take anything, an image without values too */
  si_dest_config any = {.filter_modalities = "", .filter_calling_ae = "", .filter_labels = ""};
  assert_true(si_deliver_filter_match(&any, &(si_deliver_facts){0}));

  char label[32];
  assert_string_equal(si_deliver_label_of("filter whitelist: Clean MR", label, sizeof label),
                      "Clean MR");
  assert_string_equal(si_deliver_label_of("filter graylist: A: B ", label, sizeof label), "A: B");
  assert_string_equal(si_deliver_label_of("leak scan: name found", label, sizeof label), "");
  assert_string_equal(si_deliver_label_of("filter: x", label, sizeof label), "");
  assert_string_equal(si_deliver_label_of("filter two words: x", label, sizeof label), "");
  assert_string_equal(si_deliver_label_of(NULL, label, sizeof label), "");
  assert_string_equal(si_deliver_label_of("filter w: 0123456789012345678901234567890123456789",
                                          label, sizeof label),
                      "0123456789012345678901234567890"); /* truncated, terminated */
}

/* A Part 10 file at path whose meta has SourceApplicationEntityTitle `ae`
 * (none when NULL). */
static void write_image(const char *path, const char *ae, const char *uid) {
  si_file *f = NULL;
  si_error err;
  assert_int_equal(si_file_new(&f, &err), SI_OK);
  si_dataset *ds = si_file_dataset_mut(f);
  assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.7", &err),
                   SI_OK);
  assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0008, 0x0018), uid, &err), SI_OK);
  assert_int_equal(si_ds_set_text(f, ds, SI_TAG(0x0008, 0x0060), "CT", &err), SI_OK);
  if (ae)
    assert_int_equal(si_ds_set_text(f, si_file_meta_mut(f), SI_TAG(0x0002, 0x0016), ae, &err),
                     SI_OK);
  si_write_options wo;
  si_write_options_init(&wo);
  assert_int_equal(si_write_part10_file(f, path, &wo, &err), SI_OK);
  si_file_free(f);
}

static void test_calling_ae_read(void **state) {
  (void)state;
  char path[4200], ae[32];
  si_error err;
  snprintf(path, sizeof path, "%s/ae-moda.dcm", tu_tmp_dir());
  write_image(path, "MODA", "1.2.3.1");
  assert_int_equal(si_deliver_calling_ae(path, ae, sizeof ae, &err), SI_OK);
  assert_string_equal(ae, "MODA");
  snprintf(path, sizeof path, "%s/ae-none.dcm", tu_tmp_dir());
  write_image(path, NULL, "1.2.3.2");
  assert_int_equal(si_deliver_calling_ae(path, ae, sizeof ae, &err), SI_OK);
  assert_string_equal(ae, "");
  snprintf(path, sizeof path, "%s/ae-gone.dcm", tu_tmp_dir());
  remove(path);
  assert_int_not_equal(si_deliver_calling_ae(path, ae, sizeof ae, &err), SI_OK);
  assert_non_null(strstr(err.file, "ae-gone.dcm"));
  snprintf(path, sizeof path, "%s/ae-junk.dcm", tu_tmp_dir());
  assert_int_equal(tu_write_file(path, "not dicom at all", 16), 0);
  assert_int_not_equal(si_deliver_calling_ae(path, ae, sizeof ae, &err), SI_OK);
  assert_string_equal(ae, "");
}

typedef struct collected {
  const si_dest_config *d;
  char ids[64];
} collected;

static int collect_row(void *user, const si_send_image *row) {
  collected *c = user;
  int match = 0;
  si_error err;
  assert_int_equal(si_deliver_image_match(c->d, row, &match, &err), SI_OK);
  size_t n = strlen(c->ids);
  if (match)
    snprintf(c->ids + n, sizeof c->ids - n, "%s%lld", n ? "," : "", (long long)row->image_id);
  return 0;
}

/* The images of batch F that go to destination `name`: "1,3". */
static const char *items_of(si_db *db, const si_config *cfg, const char *name) {
  static collected c;
  si_error err;
  c.d = si_deliver_find(cfg, name);
  assert_non_null(c.d);
  c.ids[0] = 0;
  assert_int_equal(si_store_send_images(db, "F", c.d->source, name, collect_row, &c, &err), SI_OK);
  return c.ids;
}

/* The rows the import and the deid stage leave, the files where the
 * listener (calling AE in the meta) or a dropped folder (none) put them,
 * and the fan-out and each job's items per filter. */
static void test_filters_on_store(void **state) {
  (void)state;
  si_db *db = fresh_db();
  char dir[4200], sql[4096], ini[4096];
  snprintf(dir, sizeof dir, "%s/filters-store", tu_tmp_dir());
  char cmd[4300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  assert_int_equal(system(cmd), 0);
  char p1[4300], p2[4300], p4[4300], p5[4300];
  snprintf(p1, sizeof p1, "%s/1.dcm", dir);
  snprintf(p2, sizeof p2, "%s/2.dcm", dir);
  snprintf(p4, sizeof p4, "%s/4.dcm", dir);
  snprintf(p5, sizeof p5, "%s/5.dcm", dir);
  write_image(p1, "MODA", "1.1");
  write_image(p2, "MODB ", "1.2");
  write_image(p4, NULL, "1.4");
  write_image(p5, "MODA", "1.5");
  exec(db, "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ('F', 'PROCESSING', 1, "
           "1)");
  /* 1 CT from MODA; 2 MR from MODB, whitelisted; 3 CT from MODA whose
   * original is gone; 4 CT dropped (no AE), a released graylisted image;
   * 5 CT from MODA that the deid stage held (not passed on) */
  snprintf(sql, sizeof sql,
           "INSERT INTO image (uid, batch_id, status, storage_path, modality, created_at) VALUES "
           "('1.1', 1, 'DONEPROCESSING', '%s', 'CT', 1), ('1.2', 1, 'DONEPROCESSING', '%s', 'MR', "
           "1), ('1.3', 1, 'DONEPROCESSING', '%s/3.dcm', 'CT', 1), ('1.4', 1, 'DONEPROCESSING', "
           "'%s', 'CT', 1), ('1.5', 1, 'ERROR', '%s', 'CT', 1)",
           p1, p2, dir, p4, p5);
  exec(db, sql);
  exec(db, "INSERT INTO image_deid (image_id, batch_id, state, reason, output_path, sop_uid, "
           "updated_at) VALUES (1, 1, 'done', NULL, '/d/1', '2.1', 1), (2, 1, 'done', 'filter "
           "whitelist: Clean MR', '/d/2', '2.2', 1), (3, 1, 'done', NULL, '/d/3', '2.3', 1), (4, "
           "1, 'done', 'filter graylist: Needs review', '/d/4', '2.4', 1), (5, 1, 'held', 'filter "
           "graylist: Needs review', NULL, NULL, 1)");
  snprintf(ini, sizeof ini,
           "[pipeline]\nstages = import,deid,send\n[deid]\nrecipe = /r.dicom\n"
           "[destination ae]\ntype = dicom\nhost = h\nport = 1\nfilter_calling_ae = MODA\n"
           "[destination aelow]\ntype = dicom\nhost = h\nport = 1\nfilter_calling_ae = moda\n"
           "[destination lab]\ntype = dicom\nhost = h\nport = 1\nfilter_labels = Clean MR\n"
           "[destination review]\ntype = dicom\nhost = h\nport = 1\nfilter_labels = Other, "
           "Needs review\n"
           "[destination both]\ntype = dicom\nhost = h\nport = 1\nfilter_labels = Clean MR\n"
           "filter_calling_ae = MODB, MODC\n"
           "[destination nobody]\ntype = dicom\nhost = h\nport = 1\nfilter_calling_ae = MODC\n"
           "[destination mrmoda]\ntype = dicom\nhost = h\nport = 1\nfilter_modalities = MR\n"
           "filter_calling_ae = MODA\n"
           "[destination orig]\ntype = dicom\nhost = h\nport = 1\nsource = original\n"
           "filter_labels = Clean MR\n"
           "[destination origae]\ntype = dicom\nhost = h\nport = 1\nsource = original\n"
           "filter_calling_ae = MODA\n"
           "[destination all]\ntype = dicom\nhost = h\nport = 1\n");
  si_config cfg;
  si_error err;
  assert_int_equal(load(ini, &cfg, &err), SI_OK);
  assert_string_equal(items_of(db, &cfg, "ae"), "1"); /* 3's original is gone: unknown, excluded */
  assert_string_equal(items_of(db, &cfg, "aelow"), "");
  assert_string_equal(items_of(db, &cfg, "lab"), "2");
  assert_string_equal(items_of(db, &cfg, "review"), "4");
  assert_string_equal(items_of(db, &cfg, "both"), "2");
  assert_string_equal(items_of(db, &cfg, "nobody"), "");
  assert_string_equal(items_of(db, &cfg, "mrmoda"), "");
  assert_string_equal(items_of(db, &cfg, "orig"), "2");   /* the LABEL, for the original too */
  assert_string_equal(items_of(db, &cfg, "origae"), "1"); /* never the held 5 */
  assert_string_equal(items_of(db, &cfg, "all"), "1,2,3,4");
  const char *names[16];
  size_t count = 0;
  assert_int_equal(si_deliver_fanout(db, &cfg, "F", names, 16, &count, &err), SI_OK);
  char joined[256] = "";
  for (size_t i = 0; i < count; i++)
    snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", i ? " " : "",
             names[i]);
  assert_string_equal(joined, "ae lab review both orig origae all");
  si_config_free(&cfg);
  si_db_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_breaker_opens_after_threshold),
      cmocka_unit_test(test_breaker_probe),
      cmocka_unit_test(test_state_rows),
      cmocka_unit_test(test_fan_in_done),
      cmocka_unit_test(test_fan_in_one_failed),
      cmocka_unit_test(test_defer_and_counts),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_filter_lists),
      cmocka_unit_test(test_calling_ae_read),
      cmocka_unit_test(test_filters_on_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
