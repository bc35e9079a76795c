/* The SQLite backend's in-process writer queue (lib/db/turnstile.h): one
 * writer inside at a time, waiters let in as soon as it leaves, every
 * spelling of a file sharing one turnstile, a thread never blocking on
 * itself, and the wait bounded. Then through si_db: two threads' write
 * transactions on one file take turns without SQLite's busy polling. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/turnstile.h"
#include "sendit/db.h"

static const char *file_in_tmp(const char *name, char *out, size_t size) {
  snprintf(out, size, "%s/%s", tu_tmp_dir(), name);
  return out;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_one_per_file(void **state) {
  (void)state;
  char a[4200], b[4200], link_path[4200], other[4200];
  file_in_tmp("one.db", a, sizeof a);
  file_in_tmp("other.db", other, sizeof other);
  assert_int_equal(tu_write_file(a, "", 0), 0);
  assert_int_equal(tu_write_file(other, "", 0), 0);
  file_in_tmp("one-link.db", link_path, sizeof link_path);
  unlink(link_path);
  assert_int_equal(symlink(a, link_path), 0);
  snprintf(b, sizeof b, "%s/./one.db", tu_tmp_dir());
  si_turnstile *t1 = si_turnstile_for(a), *t2 = si_turnstile_for(b),
               *t3 = si_turnstile_for(link_path), *t4 = si_turnstile_for(other);
  assert_non_null(t1);
  assert_ptr_equal(t1, t2);
  assert_ptr_equal(t1, t3);
  assert_ptr_not_equal(t1, t4);
  assert_null(si_turnstile_for(":memory:"));
  assert_null(si_turnstile_for(""));
  si_turnstile_put(t2);
  si_turnstile_put(t3);
  si_turnstile_put(t4);
  /* Still shared by t1's holder: the same one comes back. */
  si_turnstile *again = si_turnstile_for(a);
  assert_ptr_equal(again, t1);
  si_turnstile_put(again);
  si_turnstile_put(t1);
  si_turnstile_put(NULL);
}

typedef struct contender {
  si_turnstile *t;
  int entered;
  long long entered_at;
} contender;

static void *enter_then_leave(void *arg) {
  contender *c = arg;
  c->entered = si_turnstile_enter(c->t, 10000);
  c->entered_at = now_ms();
  if (c->entered)
    si_turnstile_leave(c->t);
  return NULL;
}

static void test_waits_for_the_writer_inside(void **state) {
  (void)state;
  char path[4200];
  file_in_tmp("wait.db", path, sizeof path);
  assert_int_equal(tu_write_file(path, "", 0), 0);
  si_turnstile *t = si_turnstile_for(path);
  assert_non_null(t);
  assert_int_equal(si_turnstile_enter(t, 1000), 1);
  /* The same thread through another connection is not made to wait on
   * itself: it goes on without the turnstile, at once. */
  long long before = now_ms();
  assert_int_equal(si_turnstile_enter(t, 5000), 0);
  assert_true(now_ms() - before < 1000);
  contender c = {t, 0, 0};
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, enter_then_leave, &c), 0);
  usleep(200 * 1000);
  long long left_at = now_ms();
  si_turnstile_leave(t);
  pthread_join(thread, NULL);
  assert_int_equal(c.entered, 1);
  assert_true(c.entered_at >= left_at); /* not before the first writer left */
  si_turnstile_put(t);
}

static void *enter_and_stay(void *arg) {
  contender *c = arg;
  c->entered = si_turnstile_enter(c->t, 1000);
  return NULL;
}

static void test_wait_is_bounded(void **state) {
  (void)state;
  char path[4200];
  file_in_tmp("bounded.db", path, sizeof path);
  assert_int_equal(tu_write_file(path, "", 0), 0);
  si_turnstile *t = si_turnstile_for(path);
  contender holder = {t, 0, 0};
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, enter_and_stay, &holder), 0);
  pthread_join(thread, NULL);
  assert_int_equal(holder.entered, 1);
  /* Inside and never leaving (a stuck writer): others give up waiting. */
  long long before = now_ms();
  assert_int_equal(si_turnstile_enter(t, 300), 0);
  long long waited = now_ms() - before;
  assert_true(waited >= 250);
  assert_true(waited < 5000);
  /* Entry and exit may be on different threads. */
  si_turnstile_leave(t);
  assert_int_equal(si_turnstile_enter(t, 300), 1);
  si_turnstile_leave(t);
  si_turnstile_put(t);
}

/* ---- through si_db ---- */

typedef struct writer_arg {
  const char *url;
  int rounds;
  int failures;
} writer_arg;

static void *write_rounds(void *arg) {
  writer_arg *w = arg;
  si_db *db = NULL;
  si_error err;
  if (si_db_open(w->url, &db, &err) != SI_OK) {
    w->failures = w->rounds;
    return NULL;
  }
  for (int i = 0; i < w->rounds; i++) {
    int ok =
        si_db_begin(db, &err) == SI_OK &&
        si_db_exec(db, "INSERT INTO counter (n) VALUES (1)", 0, NULL, NULL, NULL, NULL, &err) ==
            SI_OK &&
        si_db_exec(db, "UPDATE counter SET n = n + 1", 0, NULL, NULL, NULL, NULL, &err) == SI_OK;
    if (ok)
      ok = si_db_commit(db, &err) == SI_OK;
    else
      si_db_rollback(db);
    w->failures += !ok;
  }
  si_db_close(db);
  return NULL;
}

static int first_int(void *user, int ncols, const char *const *v) {
  *(long long *)user = ncols > 0 && v[0] ? atoll(v[0]) : -1;
  return 1;
}

static void test_threads_take_turns_on_one_file(void **state) {
  (void)state;
  char path[4200];
  file_in_tmp("turns.sqlite", path, sizeof path);
  unlink(path);
  si_db *db = NULL;
  si_error err;
  assert_int_equal(si_db_open(path, &db, &err), SI_OK);
  assert_int_equal(
      si_db_exec(db, "CREATE TABLE counter (n INTEGER)", 0, NULL, NULL, NULL, NULL, &err), SI_OK);
  enum { THREADS = 4, ROUNDS = 200 };
  writer_arg args[THREADS];
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++) {
    args[i] = (writer_arg){path, ROUNDS, 0};
    assert_int_equal(pthread_create(&threads[i], NULL, write_rounds, &args[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(threads[i], NULL);
    assert_int_equal(args[i].failures, 0);
  }
  long long rows = 0;
  assert_int_equal(
      si_db_exec(db, "SELECT count(*) FROM counter", 0, NULL, first_int, &rows, NULL, &err), SI_OK);
  assert_int_equal(rows, THREADS * ROUNDS);
  /* A transaction's failure lets the next writer in: the turnstile is left
   * whichever way a transaction ends. */
  assert_int_equal(si_db_begin(db, &err), SI_OK);
  assert_int_not_equal(
      si_db_exec(db, "INSERT INTO no_such_table VALUES (1)", 0, NULL, NULL, NULL, NULL, &err),
      SI_OK);
  si_db_rollback(db);
  writer_arg after = {path, 1, 0};
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, write_rounds, &after), 0);
  pthread_join(thread, NULL);
  assert_int_equal(after.failures, 0);
  si_db_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_per_file),
      cmocka_unit_test(test_waits_for_the_writer_inside),
      cmocka_unit_test(test_wait_is_bounded),
      cmocka_unit_test(test_threads_take_turns_on_one_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
