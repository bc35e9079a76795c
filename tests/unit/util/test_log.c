/* Logging: line format, level filter, append and reopen, and whole lines when
 * threads and processes write to one file at once. */
#include "testutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sendit/log.h"

static char *log_path(const char *name) {
  static char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/logs/%s", tu_tmp_dir(), name);
  return path;
}

/* The whole file as a NUL-terminated string (malloc'd; "" when absent). */
static char *slurp(const char *path) {
  size_t size = 0;
  char *data = (char *)tu_read_file(path, &size);
  char *text = realloc(data, size + 1);
  assert_non_null(text);
  text[data ? size : 0] = '\0';
  return text;
}

static size_t count_lines(const char *text) {
  size_t n = 0;
  for (; *text; text++)
    n += *text == '\n';
  return n;
}

/* "2026-11-24T18:00:00.123Z " */
static void assert_timestamp(const char *line) {
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
  for (size_t i = 0; shape[i]; i++) {
    if (shape[i] == 'd')
      assert_true(isdigit((unsigned char)line[i]));
    else
      assert_int_equal(line[i], shape[i]);
  }
}

static int teardown(void **state) {
  (void)state;
  si_log_close();
  return 0;
}

static void test_level_parse(void **state) {
  (void)state;
  assert_int_equal(si_log_level_parse("debug"), SI_LOG_DEBUG);
  assert_int_equal(si_log_level_parse("info"), SI_LOG_INFO);
  assert_int_equal(si_log_level_parse("WARN"), SI_LOG_WARN);
  assert_int_equal(si_log_level_parse("error"), SI_LOG_ERROR);
  assert_int_equal(si_log_level_parse("verbose"), -1);
  assert_int_equal(si_log_level_parse(""), -1);
  assert_int_equal(si_log_level_parse(NULL), -1);
}

static int formatted;
static int count_formatting(void) { return ++formatted; }

static void test_writes_lines_and_filters(void **state) {
  (void)state;
  const char *path = log_path("deep/er/filter.log"); /* folders are created */
  si_error err;
  assert_int_equal(si_log_open(path, SI_LOG_WARN, &err), SI_OK);
  assert_int_equal(si_log_min_level(), SI_LOG_WARN);
  si_log(SI_LOG_DEBUG, "hidden %d", count_formatting());
  si_log(SI_LOG_INFO, "hidden %d", count_formatting());
  si_log(SI_LOG_WARN, "disk at %d%%", 91);
  si_log(SI_LOG_ERROR, "import of %s failed", "study-1");
  assert_int_equal(formatted, 0); /* filtered calls never format */
  char *text = slurp(path);
  assert_int_equal(count_lines(text), 2);
  char *second = strchr(text, '\n') + 1;
  assert_timestamp(text);
  assert_timestamp(second);
  assert_memory_equal(text + 25, "WARN disk at 91%\n", 17);
  assert_string_equal(second + 25, "ERROR import of study-1 failed\n");
  free(text);
}

static void test_appends_and_reopens(void **state) {
  (void)state;
  char first[PATH_MAX], rotated[PATH_MAX + 8];
  snprintf(first, sizeof first, "%s", log_path("rotate.log"));
  snprintf(rotated, sizeof rotated, "%s.1", first);
  si_error err;
  assert_int_equal(si_log_open(first, SI_LOG_DEBUG, &err), SI_OK);
  si_log(SI_LOG_DEBUG, "one");
  assert_int_equal(si_log_open(first, SI_LOG_DEBUG, &err), SI_OK); /* appends, no truncation */
  si_log(SI_LOG_INFO, "two");
  /* what logrotate does: move the file away, then ask for a reopen */
  assert_int_equal(rename(first, rotated), 0);
  si_log(SI_LOG_INFO, "three");
  assert_int_equal(si_log_open(first, SI_LOG_INFO, &err), SI_OK);
  si_log(SI_LOG_INFO, "four");
  si_log(SI_LOG_DEBUG, "filtered after reopen");
  char *old = slurp(rotated);
  char *now = slurp(first);
  assert_int_equal(count_lines(old), 3);
  assert_non_null(strstr(old, " DEBUG one\n"));
  assert_non_null(strstr(old, " INFO two\n"));
  assert_non_null(strstr(old, " INFO three\n"));
  assert_int_equal(count_lines(now), 1);
  assert_string_equal(now + 25, "INFO four\n");
  free(old);
  free(now);
}

static void test_message_cannot_forge_lines(void **state) {
  (void)state;
  const char *path = log_path("forge.log");
  si_error err;
  assert_int_equal(si_log_open(path, SI_LOG_INFO, &err), SI_OK);
  si_log(SI_LOG_INFO, "name %s", "evil\n2026-01-01T00:00:00.000Z ERROR fake\x1b[31m");
  char *text = slurp(path);
  assert_int_equal(count_lines(text), 1);
  assert_non_null(strstr(text, "evil 2026-01-01T00:00:00.000Z ERROR fake?[31m\n"));
  free(text);
}

/* One rule for the log and the CLI: C0 and DEL, the C1 controls as UTF-8
 * (U+009B is CSI) and bytes that are not UTF-8 become '?', CR/LF a blank;
 * tab and well-formed UTF-8 (2, 3 and 4 bytes) stay. */
static void test_sanitize_rule(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"plain name", "plain name"},
      {"a\nb\rc\td", "a b c\td"},
      {"esc\x1b[2J bell\x07 del\x7f nul-less", "esc?[2J bell? del? nul-less"},
      {"csi \xc2\x9b"
       "31m",
       "csi ??31m"},
      {"raw csi \x9b"
       "31m",
       "raw csi ?31m"},
      {"latin1 caf\xe9!", "latin1 caf?!"},
      {"overlong \xc0\xaf", "overlong ??"},
      {"surrogate \xed\xa0\x80", "surrogate ???"},
      {"cut \xe2\x82", "cut ??"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0",
       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", cases[i].in);
    si_log_sanitize(buf, strlen(buf));
    assert_string_equal(buf, cases[i].out);
  }
}

static void test_long_message_is_whole(void **state) {
  (void)state;
  const char *path = log_path("long.log");
  char *big = malloc(10001);
  assert_non_null(big);
  memset(big, 'x', 10000);
  big[10000] = '\0';
  si_error err;
  assert_int_equal(si_log_open(path, SI_LOG_INFO, &err), SI_OK);
  si_log(SI_LOG_INFO, "%s|end", big);
  char *text = slurp(path);
  assert_int_equal(strlen(text), 25 + 5 + 10000 + 4 + 1);
  assert_memory_equal(text + 30, big, 10000);
  assert_string_equal(text + 30 + 10000, "|end\n");
  free(text);
  free(big);
}

static void test_errno_is_preserved(void **state) {
  (void)state;
  si_error err;
  assert_int_equal(si_log_open(log_path("errno.log"), SI_LOG_INFO, &err), SI_OK);
  errno = ENOSPC;
  si_log(SI_LOG_ERROR, "write failed: %s", strerror(errno));
  assert_int_equal(errno, ENOSPC);
}

static void test_open_errors(void **state) {
  (void)state;
  char blocker[PATH_MAX], path[PATH_MAX + 20];
  snprintf(blocker, sizeof blocker, "%s/not-a-folder", tu_tmp_dir());
  assert_int_equal(tu_write_file(blocker, "x", 1), 0);
  snprintf(path, sizeof path, "%s/sub/x.log", blocker);
  si_error err;
  assert_int_equal(si_log_open(path, SI_LOG_INFO, &err), SI_ERR_IO);
  assert_string_equal(err.file, path);
  assert_int_equal(si_log_open(log_path("x.log"), (si_log_level)7, &err), SI_ERR_ARG);
  assert_int_equal(si_log_open("", SI_LOG_INFO, &err), SI_ERR_ARG);
  assert_int_equal(si_log_open(NULL, SI_LOG_ERROR, NULL), SI_OK); /* back to stderr */
  si_log(SI_LOG_WARN, "not shown");
}

enum { THREADS = 4, LINES_PER_THREAD = 2000 };
static const char payload[] = "the quick brown fox jumps over the lazy dog, "
                              "the quick brown fox jumps over the lazy dog";

static void *log_from_thread(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < LINES_PER_THREAD; i++)
    si_log(SI_LOG_INFO, "writer %d line %d %s", id, i, payload);
  return NULL;
}

/* Every line must be "<timestamp> INFO writer W line N <payload>", each
 * writer's lines complete and in order. */
static void check_whole_lines(const char *text, int writers, int per_writer) {
  int next[8] = {0};
  size_t lines = 0;
  for (const char *p = text; *p; lines++) {
    const char *end = strchr(p, '\n');
    assert_non_null(end);
    assert_timestamp(p);
    int w = -1, n = -1, used = 0;
    assert_int_equal(sscanf(p + 25, "INFO writer %d line %d %n", &w, &n, &used), 2);
    assert_true(w >= 0 && w < writers);
    assert_int_equal(n, next[w]++);
    assert_int_equal((size_t)(end - (p + 25 + used)), strlen(payload));
    assert_memory_equal(p + 25 + used, payload, strlen(payload));
    p = end + 1;
  }
  assert_int_equal(lines, (size_t)writers * (size_t)per_writer);
}

static void test_threads_write_whole_lines(void **state) {
  (void)state;
  const char *path = log_path("threads.log");
  si_error err;
  assert_int_equal(si_log_open(path, SI_LOG_INFO, &err), SI_OK);
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, log_from_thread, (void *)(intptr_t)i), 0);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_join(threads[i], NULL), 0);
  char *text = slurp(path);
  check_whole_lines(text, THREADS, LINES_PER_THREAD);
  free(text);
}

/* Two processes, each with its own open of the file: O_APPEND keeps lines
 * whole without any lock between them. */
static void test_processes_share_a_log(void **state) {
  (void)state;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", log_path("shared.log"));
  pid_t child = fork();
  assert_true(child >= 0);
  int id = child == 0 ? 1 : 0;
  if (si_log_open(path, SI_LOG_INFO, NULL) != SI_OK)
    _exit(2);
  log_from_thread((void *)(intptr_t)id);
  if (child == 0) {
    si_log_close();
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char *text = slurp(path);
  check_whole_lines(text, 2, LINES_PER_THREAD);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_level_parse),
      cmocka_unit_test_teardown(test_writes_lines_and_filters, teardown),
      cmocka_unit_test_teardown(test_appends_and_reopens, teardown),
      cmocka_unit_test_teardown(test_message_cannot_forge_lines, teardown),
      cmocka_unit_test(test_sanitize_rule),
      cmocka_unit_test_teardown(test_long_message_is_whole, teardown),
      cmocka_unit_test_teardown(test_errno_is_preserved, teardown),
      cmocka_unit_test_teardown(test_open_errors, teardown),
      cmocka_unit_test_teardown(test_threads_write_whole_lines, teardown),
      cmocka_unit_test_teardown(test_processes_share_a_log, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
