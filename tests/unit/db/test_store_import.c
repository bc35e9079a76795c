/* The import's queries (sendit/store_import.h) on SQLite and, when
 * SENDIT_TEST_PG_URL names a PostgreSQL server, again on PostgreSQL, each
 * test on a database of its own: known uids in one query (and the bound on
 * how many), a batch's rows by status and folder, the DONE marks under a
 * folder, the StudyDate tally, a qa longer than si_batch.qa, and whether a
 * path is recorded. */
#include "testutil.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sendit/db.h"
#include "sendit/store.h"
#include "sendit/store_import.h"

static const char *pg_url; /* NULL for the SQLite group */
static char pg_created[16][64];
static int pg_ncreated;

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

/* A fresh database: a SQLite file, or a new PostgreSQL database beside
 * pg_url's (its name replaced; the query kept). */
static si_db *fresh_db(void) {
  static int counter;
  char path[4200];
  if (!pg_url) {
    snprintf(path, sizeof path, "%s/store-import-%d.sqlite", tu_tmp_dir(), ++counter);
  } else {
    assert_true(pg_ncreated < (int)(sizeof pg_created / sizeof pg_created[0]));
    char *name = pg_created[pg_ncreated];
    snprintf(name, sizeof pg_created[0], "sendit_si_%ld_%d", (long)getpid(), ++counter);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    assert_true(pg_admin(sql));
    pg_ncreated++;
    const char *auth = strstr(pg_url, "://");
    auth = auth ? auth + 3 : pg_url;
    const char *slash = strchr(auth, '/'), *query = strchr(auth, '?');
    if (query && slash && slash > query)
      slash = NULL;
    size_t keep = slash   ? (size_t)(slash - pg_url)
                  : query ? (size_t)(query - pg_url)
                          : strlen(pg_url);
    snprintf(path, sizeof path, "%.*s/%s%s", (int)keep, pg_url, name, query ? query : "");
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

/* A batch with images 1.2.9.<i> for i in [0, n): the even ones NEW under
 * /s/B/a/, the odd ones DONE under /s/B/b/, StudyDate 2001010<i % 3> (none
 * for i % 3 == 2), 10 bytes each. */
static int64_t batch_with_images(si_db *db, int n) {
  si_error err;
  int64_t id = -1;
  int reopened = 0;
  assert_int_equal(si_store_batch_begin(db, "B", &id, &reopened, &err), SI_OK);
  for (int i = 0; i < n; i++) {
    char uid[32], path[64], name[16], date[16];
    snprintf(uid, sizeof uid, "1.2.9.%d", i);
    snprintf(path, sizeof path, "/s/B/%s/IM%d", i % 2 ? "b" : "a", i);
    snprintf(name, sizeof name, "IM%d", i);
    snprintf(date, sizeof date, "2001010%d", i % 3);
    si_image_values row = {.uid = uid,
                           .batch_id = id,
                           .status = i % 2 ? "DONE" : "NEW",
                           .storage_path = path,
                           .original_name = name,
                           .size_bytes = 10,
                           .modality = "CT",
                           .study_date = i % 3 == 2 ? NULL : date};
    assert_int_equal(si_store_image_insert_many(db, &row, 1, &err), SI_OK);
  }
  return id;
}

typedef struct seen {
  int count;
  char last[256];
} seen;

static int see_uid(void *user, const char *uid) {
  seen *s = user;
  s->count++;
  snprintf(s->last, sizeof s->last, "%s", uid);
  return 0;
}

static void test_known_uids(void **state) {
  (void)state;
  si_db *db = fresh_db();
  batch_with_images(db, 4);
  si_error err;
  const char *uids[SI_STORE_KNOWN_UIDS_MAX + 1];
  uids[0] = "1.2.9.9"; /* unknown */
  uids[1] = "1.2.9.2";
  uids[2] = "1.2.9.3";
  seen s = {0};
  assert_int_equal(si_store_import_known_uids(db, uids, 3, see_uid, &s, &err), SI_OK);
  assert_int_equal(s.count, 2);
  /* The last uid repeats as padding: still found once. */
  s.count = 0;
  assert_int_equal(si_store_import_known_uids(db, uids + 1, 1, see_uid, &s, &err), SI_OK);
  assert_int_equal(s.count, 1);
  assert_string_equal(s.last, "1.2.9.2");
  s.count = 0;
  assert_int_equal(si_store_import_known_uids(db, uids, 0, see_uid, &s, &err), SI_OK);
  assert_int_equal(s.count, 0);
  for (size_t i = 0; i < SI_STORE_KNOWN_UIDS_MAX + 1; i++)
    uids[i] = "1.2.9.1";
  assert_int_equal(si_store_import_known_uids(db, uids, SI_STORE_KNOWN_UIDS_MAX, see_uid, &s, &err),
                   SI_OK);
  assert_int_equal(s.count, 1);
  assert_int_equal(
      si_store_import_known_uids(db, uids, SI_STORE_KNOWN_UIDS_MAX + 1, see_uid, &s, &err),
      SI_ERR_ARG);
  si_db_close(db);
}

static int see_row(void *user, const char *uid, const char *path) {
  seen *s = user;
  s->count++;
  snprintf(s->last, sizeof s->last, "%s %s", uid, path);
  return 0;
}

static void test_rows_and_marks(void **state) {
  (void)state;
  si_db *db = fresh_db();
  int64_t id = batch_with_images(db, 6); /* NEW: 0 2 4 under a/; DONE: 1 3 5 under b/ */
  si_error err;
  seen s = {0};
  assert_int_equal(si_store_import_rows(db, id, "NEW", NULL, see_row, &s, &err), SI_OK);
  assert_int_equal(s.count, 3);
  s.count = 0;
  assert_int_equal(si_store_import_rows(db, id, "DONE", "/s/B/b/", see_row, &s, &err), SI_OK);
  assert_int_equal(s.count, 3);
  s.count = 0;
  assert_int_equal(si_store_import_rows(db, id, "DONE", "/s/B/a/", see_row, &s, &err), SI_OK);
  assert_int_equal(s.count, 0);
  assert_int_equal(si_store_image_set_status(db, "1.2.9.4", "DONE", &err), SI_OK);
  int64_t changed = -1;
  assert_int_equal(si_store_import_mark_done_under(db, id, "/s/B/a/", &changed, &err), SI_OK);
  assert_int_equal(changed, 2);
  s.count = 0;
  assert_int_equal(si_store_import_rows(db, id, "NEW", NULL, see_row, &s, &err), SI_OK);
  assert_int_equal(s.count, 0);
  si_db_close(db);
}

typedef struct tally {
  int dates, nulls;
  int64_t images, stored, bytes;
} tally;

static int see_date(void *user, const char *date, int64_t images, int64_t stored, int64_t bytes) {
  tally *t = user;
  t->dates++;
  t->nulls += date == NULL || !date[0];
  t->images += images;
  t->stored += stored;
  t->bytes += bytes;
  return 0;
}

static void test_study_dates(void **state) {
  (void)state;
  si_db *db = fresh_db();
  int64_t id = batch_with_images(db, 6);
  si_error err;
  tally t = {0};
  assert_int_equal(si_store_import_study_dates(db, id, see_date, &t, &err), SI_OK);
  assert_int_equal(t.dates, 3); /* 20010100, 20010101 and no date */
  assert_int_equal(t.nulls, 1);
  assert_int_equal(t.images, 6);
  assert_int_equal(t.stored, 3);
  assert_int_equal(t.bytes, 30);
  si_db_close(db);
}

static int first_text_length(void *user, int ncols, const char *const *v) {
  *(size_t *)user = ncols > 0 && v[0] ? strlen(v[0]) : 0;
  return 1;
}

/* A qa longer than si_batch.qa is written whole. */
static void test_finish_with_long_qa(void **state) {
  (void)state;
  si_db *db = fresh_db();
  int64_t id = batch_with_images(db, 1);
  si_error err;
  si_batch b;
  int found = 0;
  assert_int_equal(si_store_batch_get(db, "B", &b, &found, &err), SI_OK);
  assert_int_equal(b.id, id);
  size_t n = 3 * sizeof b.qa;
  char *qa = malloc(n + 1);
  assert_non_null(qa);
  memset(qa, 'x', n);
  qa[0] = '"';
  qa[n - 1] = '"';
  qa[n] = 0;
  snprintf(b.status, sizeof b.status, "DONE");
  assert_int_equal(si_store_batch_finish_qa(db, &b, qa, &err), SI_OK);
  size_t len = 0;
  const char *p[] = {"B"};
  assert_int_equal(si_db_exec(db, "SELECT qa FROM batch WHERE uid = $1", 1, p, first_text_length,
                              &len, NULL, &err),
                   SI_OK);
  assert_int_equal(len, n);
  free(qa);
  si_db_close(db);
}

static void test_path_recorded(void **state) {
  (void)state;
  si_db *db = fresh_db();
  batch_with_images(db, 2);
  si_error err;
  assert_int_equal(si_store_quarantine_add(db, "B", "/q/B/folder", "folder", "why", &err), SI_OK);
  int rec = -1;
  assert_int_equal(si_store_path_recorded(db, "/s/B/a/IM0", 0, &rec, &err), SI_OK);
  assert_int_equal(rec, 1);
  assert_int_equal(si_store_path_recorded(db, "/s/B/a/IM0", 1, &rec, &err), SI_OK);
  assert_int_equal(rec, 0); /* an image's path is no quarantined folder */
  assert_int_equal(si_store_path_recorded(db, "/q/B/folder", 1, &rec, &err), SI_OK);
  assert_int_equal(rec, 1);
  assert_int_equal(si_store_path_recorded(db, "/s/B/a/IM9", 0, &rec, &err), SI_OK);
  assert_int_equal(rec, 0);
  si_db_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_uids),    cmocka_unit_test(test_rows_and_marks),
      cmocka_unit_test(test_study_dates),   cmocka_unit_test(test_finish_with_long_qa),
      cmocka_unit_test(test_path_recorded),
  };
  int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
  const char *url = getenv("SENDIT_TEST_PG_URL");
  if (url && *url) {
    pg_url = url;
    failed += cmocka_run_group_tests_name("postgresql", tests, NULL, drop_created);
  } else {
    printf("SENDIT_TEST_PG_URL is not set: the PostgreSQL round is skipped\n");
  }
  return failed;
}
