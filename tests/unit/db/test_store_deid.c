/* The pseudonym table (store_deid.h) and the local provider over it: codes
 * of the documented form, the same ever after, day shifts in range, a
 * colliding random code drawn again, the identifier service's answers kept
 * as the first said them, the export, and many threads and processes
 * meeting one new patient at once getting one code. Every case runs on
 * SQLite and, when SENDIT_TEST_PG_URL names a PostgreSQL server, again on
 * PostgreSQL, each on a database of its own (as test_db.c). */
#include "testutil.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sendit/db.h"
#include "sendit/deid_ids.h"
#include "sendit/deid_ids_local.h"
#include "sendit/store_deid.h"

static const char *pg_url;
static char pg_created[64][64];
static int pg_ncreated;

static int on_pg(void) { return pg_url != NULL; }

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
  int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
  if (!ok)
    print_error("%s: %s\n", sql, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  return ok;
}

static const char *fresh_path(void) {
  static char path[4200];
  static int counter;
  if (!on_pg()) {
    snprintf(path, sizeof path, "%s/deid-%d.sqlite", tu_tmp_dir(), ++counter);
    return path;
  }
  assert_true(pg_ncreated < (int)(sizeof pg_created / sizeof pg_created[0]));
  char *name = pg_created[pg_ncreated];
  snprintf(name, sizeof pg_created[0], "sendit_deid_%ld_%d", (long)getpid(), ++counter);
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  assert_true(pg_admin(sql));
  pg_ncreated++;
  url_with_db(path, sizeof path, pg_url, name);
  return path;
}

static si_db *must_open(const char *path) {
  si_db *db = NULL;
  si_error err;
  si_status s = si_db_open(path, &db, &err);
  if (s != SI_OK)
    print_error("si_db_open(%s): %s\n", path, err.message);
  assert_int_equal(s, SI_OK);
  return db;
}

static int read_int(void *user, int ncols, const char *const *v) {
  *(long long *)user = ncols > 0 && v[0] ? atoll(v[0]) : -1;
  return 1;
}

static long long query_int(si_db *db, const char *sql) {
  long long v = -2;
  si_error err;
  assert_int_equal(si_db_exec(db, sql, 0, NULL, read_int, &v, NULL, &err), SI_OK);
  return v;
}

/* ---- randomness that can be made to repeat itself ---- */

/* The next `zeros` calls of randombytes_buf give zero bytes (so the same
 * code, SIAAAAAAAAAAAA), the rest come from the system. Set before
 * sodium_init, in main. */
static int zeros;
static const char *scripted_name(void) { return "scripted"; }
static uint32_t scripted_random(void) { return randombytes_sysrandom_implementation.random(); }
static void scripted_stir(void) { randombytes_sysrandom_implementation.stir(); }
static void scripted_buf(void *const buf, const size_t size) {
  if (__atomic_load_n(&zeros, __ATOMIC_SEQ_CST) > 0) {
    __atomic_sub_fetch(&zeros, 1, __ATOMIC_SEQ_CST);
    memset(buf, 0, size);
    return;
  }
  randombytes_sysrandom_implementation.buf(buf, size);
}
static int scripted_close(void) { return 0; }
/* No uniform: libsodium derives it from random. */
static randombytes_implementation scripted = {scripted_name, scripted_random, scripted_stir,
                                              NULL,          scripted_buf,    scripted_close};

/* ---- helpers ---- */

typedef struct lookup {
  si_deid_key key;
  si_deid_codes codes;
  char item_codes[4][SI_DEID_CODE_MAX];
} lookup;

static void key_of(lookup *l, const char *patient, const char *const *items, size_t n) {
  memset(l, 0, sizeof *l);
  l->key.original = patient;
  l->key.items = items;
  l->key.item_count = n;
  l->codes.item_codes = l->item_codes;
}

static void get(si_db *db, lookup *l, int32_t lo, int32_t hi) {
  si_error err;
  si_status st = si_store_deid_get_or_create(db, &l->key, lo, hi, &l->codes, &err);
  if (st != SI_OK)
    print_error("get_or_create: %s\n", err.message);
  assert_int_equal(st, SI_OK);
}

/* ---- cases ---- */

static void test_codes_stable_and_well_formed(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  const char *items[] = {"1.2.3.1", "1.2.3.2"};
  lookup a, b;
  key_of(&a, "MRN-1", items, 2);
  get(db, &a, -365, -1);
  assert_true(si_store_deid_is_local_code(a.codes.entity_code));
  assert_true(si_store_deid_is_local_code(a.item_codes[0]));
  assert_true(si_store_deid_is_local_code(a.item_codes[1]));
  assert_string_not_equal(a.item_codes[0], a.item_codes[1]);
  assert_true(a.codes.day_shift >= -365 && a.codes.day_shift <= -1);
  assert_string_equal(a.codes.origin, "local");
  assert_int_equal(strlen(a.codes.entity_code), 14);
  /* Asked again, in another order and with one study more. */
  const char *again[] = {"1.2.3.2", "1.2.3.9", "1.2.3.1"};
  key_of(&b, "MRN-1", again, 3);
  get(db, &b, -365, -1);
  assert_string_equal(b.codes.entity_code, a.codes.entity_code);
  assert_int_equal(b.codes.day_shift, a.codes.day_shift);
  assert_string_equal(b.item_codes[0], a.item_codes[1]);
  assert_string_equal(b.item_codes[2], a.item_codes[0]);
  assert_true(si_store_deid_is_local_code(b.item_codes[1]));
  /* find: everything known now; a stranger is not. */
  si_error err;
  assert_int_equal(si_store_deid_find(db, &b.key, &b.codes, &err), SI_OK);
  assert_true(b.codes.entity_found);
  assert_int_equal(b.codes.item_found, 3);
  lookup c;
  key_of(&c, "MRN-2", items, 2);
  assert_int_equal(si_store_deid_find(db, &c.key, &c.codes, &err), SI_OK);
  assert_false(c.codes.entity_found);
  assert_int_equal(c.codes.item_found, 0);
  /* Another patient, and the same id from another issuer, are others. */
  get(db, &c, -365, -1);
  assert_string_not_equal(c.codes.entity_code, a.codes.entity_code);
  assert_string_not_equal(c.item_codes[0], a.item_codes[0]);
  lookup d;
  key_of(&d, "MRN-1", items, 1);
  d.key.source = "OtherHospital";
  get(db, &d, -365, -1);
  assert_string_not_equal(d.codes.entity_code, a.codes.entity_code);
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_entity"), 3);
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_item"), 6);
  si_db_close(db);
}

static void test_day_shift_range(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  lookup l;
  int seen_lo = 0, seen_hi = 0;
  for (int i = 0; i < 60; i++) {
    char id[16];
    snprintf(id, sizeof id, "P%d", i);
    key_of(&l, id, NULL, 0);
    get(db, &l, -3, -2);
    assert_true(l.codes.day_shift == -3 || l.codes.day_shift == -2);
    seen_lo |= l.codes.day_shift == -3;
    seen_hi |= l.codes.day_shift == -2;
  }
  assert_true(seen_lo && seen_hi);
  key_of(&l, "fixed", NULL, 0);
  get(db, &l, 7, 7);
  assert_int_equal(l.codes.day_shift, 7);
  si_error err;
  key_of(&l, "empty-range", NULL, 0);
  assert_int_equal(si_store_deid_get_or_create(db, &l.key, 1, 0, &l.codes, &err), SI_ERR_ARG);
  si_deid_ids *ids = NULL;
  assert_int_equal(si_deid_ids_local_new(db, -1, -2, &ids, &err), SI_ERR_ARG);
  assert_int_equal(si_deid_ids_local_new(db, -40000, -1, &ids, &err), SI_ERR_ARG);
  assert_null(ids);
  si_db_close(db);
}

/* Bytes that are not UTF-8 are ids like any other, and "" is one too. */
static void test_any_bytes_and_empty_id(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  const char *items[] = {"1.2.\xE9"};
  lookup a, b, c;
  key_of(&a, "M\xFC\xE9ller", items, 1);
  get(db, &a, -365, -1);
  key_of(&b, "M\xFC\xE9ller", items, 1);
  get(db, &b, -365, -1);
  assert_string_equal(a.codes.entity_code, b.codes.entity_code);
  assert_string_equal(a.item_codes[0], b.item_codes[0]);
  key_of(&c, "", NULL, 0);
  get(db, &c, -365, -1);
  assert_string_not_equal(c.codes.entity_code, a.codes.entity_code);
  si_db_close(db);
}

static void test_collision_draws_again(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  lookup a, b, c;
  zeros = 1;
  key_of(&a, "A", NULL, 0);
  get(db, &a, -365, -1);
  assert_string_equal(a.codes.entity_code, "SIAAAAAAAAAAAA");
  zeros = 2; /* B's first two draws are A's code */
  key_of(&b, "B", NULL, 0);
  get(db, &b, -365, -1);
  assert_int_equal(zeros, 0);
  assert_true(si_store_deid_is_local_code(b.codes.entity_code));
  assert_string_not_equal(b.codes.entity_code, a.codes.entity_code);
  /* A source that always repeats itself: an error, and nothing written. */
  zeros = 1000;
  key_of(&c, "C", NULL, 0);
  si_error err;
  assert_int_equal(si_store_deid_get_or_create(db, &c.key, -365, -1, &c.codes, &err), SI_ERR_STATE);
  assert_non_null(strstr(err.message, "already taken"));
  zeros = 0;
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_entity"), 2);
  si_db_close(db);
}

static void test_record_service_answers(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  const char *items[] = {"1.2.840.1", "1.2.840.2"};
  const char *codes[] = {"DS-ITEM-1", "DS-ITEM-2"};
  lookup a;
  key_of(&a, "MRN-9", items, 2);
  si_error err;
  assert_int_equal(si_store_deid_record(db, &a.key, "DS-PAT-9", -17, codes, &a.codes, &err), SI_OK);
  assert_string_equal(a.codes.entity_code, "DS-PAT-9");
  assert_int_equal(a.codes.day_shift, -17);
  assert_string_equal(a.codes.origin, "http");
  assert_string_equal(a.item_codes[1], "DS-ITEM-2");
  /* The local provider now finds them, and keeps them. */
  lookup b;
  key_of(&b, "MRN-9", items, 2);
  get(db, &b, -365, -1);
  assert_string_equal(b.codes.entity_code, "DS-PAT-9");
  assert_int_equal(b.codes.day_shift, -17);
  assert_string_equal(b.item_codes[0], "DS-ITEM-1");
  /* The service changing its mind does not change what outputs used. */
  const char *other_codes[] = {"DS-ITEM-1b", "DS-ITEM-2b"};
  assert_int_equal(si_store_deid_record(db, &a.key, "DS-PAT-9b", -3, other_codes, &a.codes, &err),
                   SI_OK);
  assert_string_equal(a.codes.entity_code, "DS-PAT-9");
  assert_int_equal(a.codes.day_shift, -17);
  assert_string_equal(a.item_codes[0], "DS-ITEM-1");
  /* A code that is another patient's is refused, and nothing is written. */
  lookup c;
  const char *c_items[] = {"1.2.840.7"};
  const char *c_codes[] = {"DS-ITEM-7"};
  key_of(&c, "MRN-10", c_items, 1);
  assert_int_equal(si_store_deid_record(db, &c.key, "DS-PAT-9", -5, c_codes, &c.codes, &err),
                   SI_ERR_STATE);
  assert_non_null(strstr(err.message, "another patient"));
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_entity"), 1);
  const char *dup_codes[] = {"DS-ITEM-1"};
  assert_int_equal(si_store_deid_record(db, &c.key, "DS-PAT-10", -5, dup_codes, &c.codes, &err),
                   SI_ERR_STATE);
  assert_non_null(strstr(err.message, "another study"));
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_entity"), 1);
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_item"), 2);
  si_db_close(db);
}

typedef struct export_seen {
  int rows, with_item;
  int64_t last_entity;
  int ordered;
  char first_code[SI_DEID_CODE_MAX];
} export_seen;

static int on_export(void *user, const si_deid_export_row *r) {
  export_seen *s = user;
  if (r->entity_id < s->last_entity)
    s->ordered = 0;
  s->last_entity = r->entity_id;
  if (s->rows++ == 0)
    snprintf(s->first_code, sizeof s->first_code, "%s", r->code);
  s->with_item += r->item_code != NULL;
  return 0;
}

static void test_export(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  const char *items[] = {"1.1", "1.2", "1.3"};
  lookup a, b;
  key_of(&a, "E1", items, 3);
  get(db, &a, -365, -1);
  key_of(&b, "E2", NULL, 0);
  get(db, &b, -365, -1);
  export_seen s = {.ordered = 1};
  si_error err;
  assert_int_equal(si_store_deid_export(db, on_export, &s, &err), SI_OK);
  assert_int_equal(s.rows, 4);
  assert_int_equal(s.with_item, 3);
  assert_true(s.ordered);
  assert_string_equal(s.first_code, a.codes.entity_code);
  si_db_close(db);
}

/* The provider over the table, through the dispatch of deid_ids.h. */
static void test_local_provider(void **state) {
  (void)state;
  si_db *db = must_open(fresh_path());
  si_deid_ids *ids = NULL;
  si_error err;
  assert_int_equal(si_deid_ids_local_new(db, -30, -10, &ids, &err), SI_OK);
  assert_string_equal(ids->ops->name, "local");
  const char *studies[] = {"1.2.3", "1.2.4"};
  si_deid_ids_request req = {.entity_id = "PAT", .item_ids = studies, .item_count = 2};
  si_deid_ids_answer one, two;
  assert_int_equal(si_deid_ids_lookup(ids, &req, &one, &err), SI_OK);
  assert_int_equal(si_deid_ids_lookup(ids, &req, &two, &err), SI_OK);
  assert_true(si_store_deid_is_local_code(one.entity_code));
  assert_string_equal(one.entity_code, two.entity_code);
  assert_int_equal(one.item_count, 2);
  assert_string_equal(one.item_codes[1], two.item_codes[1]);
  assert_true(one.day_shift >= -30 && one.day_shift <= -10);
  si_deid_ids_answer_free(&one);
  si_deid_ids_answer_free(&two);
  si_deid_ids_free(ids);
  si_db_close(db);
}

/* ---- one new patient, many askers ---- */

#define ASKERS 8

typedef struct asker {
  const char *path;
  const char *patient;
  pthread_barrier_t *start;
  char code[SI_DEID_CODE_MAX], item[SI_DEID_CODE_MAX];
  si_status st;
} asker;

static void *ask_thread(void *arg) {
  asker *a = arg;
  si_db *db = NULL;
  si_error err;
  a->st = si_db_open(a->path, &db, &err);
  pthread_barrier_wait(a->start);
  const char *items[] = {"1.2.826.0.1.77"};
  si_deid_key key = {.original = a->patient, .items = items, .item_count = 1};
  char codes[1][SI_DEID_CODE_MAX];
  si_deid_codes out = {.item_codes = codes};
  if (a->st == SI_OK)
    a->st = si_store_deid_get_or_create(db, &key, -365, -1, &out, &err);
  if (a->st == SI_OK) {
    snprintf(a->code, sizeof a->code, "%s", out.entity_code);
    snprintf(a->item, sizeof a->item, "%s", codes[0]);
  } else {
    print_error("asker: %s\n", err.message);
  }
  si_db_close(db);
  return NULL;
}

static void test_threads_meet_new_patient(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path); /* the schema exists before the race */
  for (int round = 0; round < 5; round++) {
    char patient[16];
    snprintf(patient, sizeof patient, "NEW-%d", round);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, ASKERS);
    asker a[ASKERS];
    pthread_t t[ASKERS];
    for (int i = 0; i < ASKERS; i++) {
      a[i] = (asker){.path = path, .patient = patient, .start = &start};
      assert_int_equal(pthread_create(&t[i], NULL, ask_thread, &a[i]), 0);
    }
    for (int i = 0; i < ASKERS; i++)
      pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < ASKERS; i++) {
      assert_int_equal(a[i].st, SI_OK);
      assert_string_equal(a[i].code, a[0].code);
      assert_string_equal(a[i].item, a[0].item);
    }
  }
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_entity"), 5);
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_item"), 5);
  si_db_close(db);
}

/* Processes: each writes the code it got into a pipe. */
static void test_processes_meet_new_patient(void **state) {
  (void)state;
  const char *path = fresh_path();
  si_db *db = must_open(path);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t kids[ASKERS];
  for (int i = 0; i < ASKERS; i++) {
    kids[i] = fork();
    assert_true(kids[i] >= 0);
    if (kids[i] == 0) {
      close(fds[0]);
      si_db *mine = NULL;
      si_error err;
      const char *items[] = {"1.2.3.4.5"};
      si_deid_key key = {.original = "FORKED", .items = items, .item_count = 1};
      char codes[1][SI_DEID_CODE_MAX];
      si_deid_codes out = {.item_codes = codes};
      char line[2 * SI_DEID_CODE_MAX + 2] = "error\n";
      if (si_db_open(path, &mine, &err) == SI_OK &&
          si_store_deid_get_or_create(mine, &key, -365, -1, &out, &err) == SI_OK)
        snprintf(line, sizeof line, "%s %s\n", out.entity_code, codes[0]);
      if (write(fds[1], line, strlen(line)) < 0)
        _exit(2);
      _exit(0);
    }
  }
  close(fds[1]);
  char all[ASKERS * (2 * SI_DEID_CODE_MAX + 2) + 1];
  size_t len = 0;
  ssize_t n;
  while ((n = read(fds[0], all + len, sizeof all - 1 - len)) > 0)
    len += (size_t)n;
  all[len] = '\0';
  close(fds[0]);
  for (int i = 0; i < ASKERS; i++) {
    int status = 0;
    waitpid(kids[i], &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  char *first_end = strchr(all, '\n');
  assert_non_null(first_end);
  size_t line_len = (size_t)(first_end - all) + 1;
  assert_int_equal(len, line_len * ASKERS);
  for (int i = 1; i < ASKERS; i++)
    assert_memory_equal(all + (size_t)i * line_len, all, line_len);
  assert_null(strstr(all, "error"));
  assert_int_equal(query_int(db, "SELECT count(*) FROM deid_entity"), 1);
  si_db_close(db);
}

static int drop_created_databases(void **state) {
  (void)state;
  for (int i = 0; i < pg_ncreated; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_created[i]);
    pg_admin(sql);
  }
  pg_ncreated = 0;
  return 0;
}

int main(void) {
  /* Before sodium_init, which sendit calls on first use. */
  randombytes_set_implementation(&scripted);
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codes_stable_and_well_formed),
      cmocka_unit_test(test_day_shift_range),
      cmocka_unit_test(test_any_bytes_and_empty_id),
      cmocka_unit_test(test_collision_draws_again),
      cmocka_unit_test(test_record_service_answers),
      cmocka_unit_test(test_export),
      cmocka_unit_test(test_local_provider),
      cmocka_unit_test(test_threads_meet_new_patient),
      cmocka_unit_test(test_processes_meet_new_patient),
  };
  int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
  const char *url = getenv("SENDIT_TEST_PG_URL");
  if (url && *url) {
    pg_url = url;
    failed += cmocka_run_group_tests_name("postgresql", tests, NULL, drop_created_databases);
  } else {
    printf("SENDIT_TEST_PG_URL is not set: the PostgreSQL round is skipped\n");
  }
  return failed;
}
