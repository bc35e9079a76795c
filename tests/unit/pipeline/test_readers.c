/* The import's header readers (lib/pipeline/readers.h): every item runs
 * exactly once, whatever the number of helpers; a wait returns only once
 * its item is done; the waiting thread reads too; a stop runs no item that
 * was not taken. Then the group's uid set (lib/pipeline/uid_set.h). */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/readers.h"
#include "pipeline/uid_set.h"

enum { ITEMS = 2000 };

typedef struct counts {
  int runs[ITEMS];
  pthread_t by[ITEMS];
  int slow; /* microseconds per item */
} counts;

static void count_item(void *user, size_t i) {
  counts *c = user;
  if (c->slow)
    usleep((useconds_t)c->slow);
  __atomic_add_fetch(&c->runs[i], 1, __ATOMIC_SEQ_CST);
  c->by[i] = pthread_self();
}

static void test_every_item_once(void **state) {
  (void)state;
  for (int helpers = 0; helpers <= 4; helpers++) {
    counts *c = calloc(1, sizeof *c);
    assert_non_null(c);
    si_readers *r = si_readers_start(ITEMS, helpers, count_item, c);
    assert_non_null(r);
    for (size_t i = 0; i < ITEMS; i++) {
      si_readers_wait(r, i);
      /* Done means done: the item ran before the wait returned. */
      assert_int_equal(__atomic_load_n(&c->runs[i], __ATOMIC_SEQ_CST), 1);
    }
    si_readers_stop(r);
    for (size_t i = 0; i < ITEMS; i++)
      assert_int_equal(c->runs[i], 1);
    free(c);
  }
}

static void test_run_all(void **state) {
  (void)state;
  size_t sizes[] = {0, 1, 2, ITEMS};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    counts *c = calloc(1, sizeof *c);
    assert_non_null(c);
    si_readers_run_all(sizes[s], 2, count_item, c);
    for (size_t i = 0; i < ITEMS; i++)
      assert_int_equal(c->runs[i], i < sizes[s] ? 1 : 0);
    free(c);
  }
}

static void test_waiter_reads_too(void **state) {
  (void)state;
  counts *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->slow = 200;
  enum { N = 40 };
  si_readers *r = si_readers_start(N, 1, count_item, c);
  assert_non_null(r);
  for (size_t i = 0; i < N; i++)
    si_readers_wait(r, i);
  si_readers_stop(r);
  int mine = 0;
  for (size_t i = 0; i < N; i++)
    mine += pthread_equal(c->by[i], pthread_self()) != 0;
  /* One helper and the waiter share the work: neither does all of it. */
  assert_true(mine > 0);
  assert_true(mine < N);
  free(c);
}

static void test_stop_takes_no_more(void **state) {
  (void)state;
  counts *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->slow = 1000;
  si_readers *r = si_readers_start(ITEMS, 2, count_item, c);
  assert_non_null(r);
  si_readers_wait(r, 0);
  si_readers_stop(r);
  int ran = 0;
  for (size_t i = 0; i < ITEMS; i++) {
    assert_true(c->runs[i] <= 1);
    ran += c->runs[i];
  }
  /* The helpers finished what they held and took nothing after the stop. */
  assert_true(ran >= 1);
  assert_true(ran < 20);
  free(c);
}

static void test_nothing_to_read(void **state) {
  (void)state;
  counts c;
  memset(&c, 0, sizeof c);
  si_readers *r = si_readers_start(0, 3, count_item, &c);
  assert_non_null(r);
  si_readers_wait(r, 0); /* no such item: returns at once */
  si_readers_stop(r);
  si_readers_stop(NULL);
  assert_true(si_readers_default_helpers() >= 1);
}

static void test_uid_set(void **state) {
  (void)state;
  enum { N = 3000 };
  static char uids[N][64];
  si_uid_set set;
  assert_true(si_uid_set_init(&set, N));
  for (int i = 0; i < N; i++) {
    snprintf(uids[i], sizeof uids[0], "2.25.%d%d", i * 7919, i);
    assert_false(si_uid_set_has(&set, uids[i]));
    assert_true(si_uid_set_add(&set, uids[i]));
  }
  /* Equal text, another buffer: found; adding it again changes nothing. */
  char copy[64];
  snprintf(copy, sizeof copy, "%s", uids[1234]);
  assert_true(si_uid_set_has(&set, copy));
  assert_true(si_uid_set_add(&set, copy));
  assert_int_equal(set.count, N);
  assert_false(si_uid_set_has(&set, "2.25.0"));
  assert_false(si_uid_set_has(&set, ""));
  si_uid_set_free(&set);
  /* More than it was made for: refused rather than overfilled. */
  si_uid_set small;
  assert_true(si_uid_set_init(&small, 2));
  int added = 0;
  for (int i = 0; i < 100 && si_uid_set_add(&small, uids[i]); i++)
    added++;
  assert_true(added >= 2);
  assert_true(added < 100);
  for (int i = 0; i < added; i++)
    assert_true(si_uid_set_has(&small, uids[i]));
  si_uid_set_free(&small);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_item_once),  cmocka_unit_test(test_run_all),
      cmocka_unit_test(test_waiter_reads_too), cmocka_unit_test(test_stop_takes_no_more),
      cmocka_unit_test(test_nothing_to_read),  cmocka_unit_test(test_uid_set),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
