/* The watcher's passes: folders moved in together are reported in one pass
 * (one end-of-pass call), so that the daemon queues the burst in one
 * transaction and its workers split it; unfinished folders (.tmp) are never
 * reported. The daemon's own behaviour is covered by the integration tests. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sendit/config.h"
#include "sendit/watch.h"

#define BURST 20

typedef struct seen {
  pthread_mutex_t lock;
  int names;        /* finished folders reported */
  int passes;       /* end-of-pass calls after a pass that reported folders */
  int in_pass;      /* folders reported since the last end of pass */
  int tmp_reported; /* a .tmp folder was reported: must stay 0 */
} seen;

static void on_folder(void *user, const char *name, const char *path) {
  (void)path;
  seen *s = user;
  pthread_mutex_lock(&s->lock);
  if (!name) {
    s->passes += s->in_pass > 0;
    s->in_pass = 0;
  } else {
    s->names++;
    s->in_pass++;
    s->tmp_reported |= strstr(name, ".tmp") != NULL;
  }
  pthread_mutex_unlock(&s->lock);
}

static void *run_watcher(void *arg) {
  si_error err;
  si_watcher_run(arg, &err);
  return NULL;
}

static int names_seen(seen *s) {
  pthread_mutex_lock(&s->lock);
  int n = s->names;
  pthread_mutex_unlock(&s->lock);
  return n;
}

/* Moves BURST finished folders into `in` one every 0.2 ms or so, as a
 * script would; returns in how many passes the watcher reported them. */
static int passes_for_burst(const char *root, int round) {
  char in[4300], stage[4300];
  snprintf(in, sizeof in, "%s/in-%d", root, round);
  assert_int_equal(mkdir(in, 0755), 0);
  snprintf(stage, sizeof stage, "%s/stage-%d", root, round);
  assert_int_equal(mkdir(stage, 0755), 0);
  for (int i = 0; i < BURST; i++) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/R%d-ST%02d", stage, round, i);
    assert_int_equal(mkdir(dir, 0755), 0);
  }
  char ini[4400];
  snprintf(ini, sizeof ini, "%s/watch-%d.ini", root, round);
  char text[9000];
  int len = snprintf(text, sizeof text, "[input]\nfolder = %s\n[storage]\nfolder = %s/storage\n",
                     in, root);
  assert_int_equal(tu_write_file(ini, text, (size_t)len), 0);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, ini, &err), SI_OK);
  seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
  si_watcher *w = NULL;
  assert_int_equal(si_watcher_open(&cfg, on_folder, &s, &w, &err), SI_OK);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, run_watcher, w), 0);
  usleep(50 * 1000); /* the watcher is waiting in poll */
  /* An unfinished folder first: it must never be reported. */
  char tmp[4400];
  snprintf(tmp, sizeof tmp, "%s/R%d-SENDING.tmp1234", in, round);
  assert_int_equal(mkdir(tmp, 0755), 0);
  usleep(20 * 1000);
  for (int i = 0; i < BURST; i++) {
    char from[4400], to[4400];
    snprintf(from, sizeof from, "%s/R%d-ST%02d", stage, round, i);
    snprintf(to, sizeof to, "%s/R%d-ST%02d", in, round, i);
    assert_int_equal(rename(from, to), 0);
    usleep(200); /* a script's pace: the watcher wakes up in between */
  }
  for (int waited = 0; waited < 5000 && names_seen(&s) < BURST; waited += 5)
    usleep(5 * 1000);
  usleep(100 * 1000); /* past the end of the pass */
  si_watcher_stop(w);
  pthread_join(thread, NULL);
  si_watcher_close(w);
  si_config_free(&cfg);
  assert_int_equal(s.names, BURST);
  assert_int_equal(s.tmp_reported, 0);
  return s.passes;
}

static void test_burst_is_one_pass(void **state) {
  (void)state;
  const char *root = tu_tmp_dir();
  /* A machine that stalls the renaming thread for longer than the
   * watcher's quiet time (2 ms) splits the burst, so one of five tries
   * must make it in one pass (a loaded machine split three in a row once).
   * (Ending the pass with what the first read returned split it every
   * time.) */
  int best = 99;
  for (int round = 0; round < 5 && best > 1; round++) {
    int passes = passes_for_burst(root, round);
    if (passes < best)
      best = passes;
  }
  assert_int_equal(best, 1);
}

/* Every path reported, for the test of links below. */
typedef struct reported {
  pthread_mutex_t lock;
  int count;
  char paths[16][4400];
} reported;

static void on_path(void *user, const char *name, const char *path) {
  reported *r = user;
  if (!name)
    return;
  pthread_mutex_lock(&r->lock);
  if (r->count < 16)
    snprintf(r->paths[r->count++], sizeof r->paths[0], "%s", path);
  pthread_mutex_unlock(&r->lock);
}

static int reported_count(reported *r) {
  pthread_mutex_lock(&r->lock);
  int n = r->count;
  pthread_mutex_unlock(&r->lock);
  return n;
}

/* Makes in `dir` a link to a folder, a file and a FIFO, and one real
 * folder named `folder`. */
static void make_entries(const char *dir, const char *target, const char *folder) {
  char p[4400];
  snprintf(p, sizeof p, "%s/LINK-%s", dir, folder);
  assert_int_equal(symlink(target, p), 0);
  snprintf(p, sizeof p, "%s/FILE-%s", dir, folder);
  assert_int_equal(tu_write_file(p, "x", 1), 0);
  snprintf(p, sizeof p, "%s/FIFO-%s", dir, folder);
  assert_int_equal(mkfifo(p, 0644), 0);
  snprintf(p, sizeof p, "%s/%s", dir, folder);
  assert_int_equal(mkdir(p, 0755), 0);
}

/* Issue 11: an input entry is judged by lstat and never resolved. Links
 * (here to a folder that looks like a stored batch), files and FIFOs are
 * not reported, by the scan or by inotify; a folder is reported with its
 * own path below the input folder, which is itself resolved once (here it
 * is reached through a link, as an operator may configure it). */
static void test_links_and_files_are_not_reported(void **state) {
  (void)state;
  char root[4200], real_in[4300], in_link[4300], target[4300], ini[4400], text[9000];
  snprintf(root, sizeof root, "%s/links", tu_tmp_dir());
  assert_int_equal(mkdir(root, 0755), 0);
  snprintf(real_in, sizeof real_in, "%s/real-in", root);
  snprintf(in_link, sizeof in_link, "%s/in", root);
  snprintf(target, sizeof target, "%s/storage/A", root);
  assert_int_equal(mkdir(real_in, 0755), 0);
  assert_int_equal(symlink(real_in, in_link), 0);
  snprintf(text, sizeof text, "%s/storage", root);
  assert_int_equal(mkdir(text, 0755), 0);
  assert_int_equal(mkdir(target, 0755), 0);
  make_entries(real_in, target, "SCANNED");
  int len = snprintf(text, sizeof text, "[input]\nfolder = %s\n[storage]\nfolder = %s/storage\n",
                     in_link, root);
  snprintf(ini, sizeof ini, "%s/links.ini", root);
  assert_int_equal(tu_write_file(ini, text, (size_t)len), 0);
  si_config cfg;
  si_error err;
  assert_int_equal(si_config_load(&cfg, ini, &err), SI_OK);
  reported r = {.lock = PTHREAD_MUTEX_INITIALIZER};
  si_watcher *w = NULL;
  assert_int_equal(si_watcher_open(&cfg, on_path, &r, &w, &err), SI_OK);
  assert_int_equal(si_watcher_scan(w, &err), SI_OK);
  assert_int_equal(r.count, 1);
  char want[4400];
  snprintf(want, sizeof want, "%s/SCANNED", real_in);
  assert_string_equal(r.paths[0], want);

  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, run_watcher, w), 0);
  usleep(50 * 1000);
  make_entries(real_in, target, "EVENT");
  for (int waited = 0; waited < 5000 && reported_count(&r) < 2; waited += 5)
    usleep(5 * 1000);
  usleep(100 * 1000); /* any late report of a link would arrive by now */
  si_watcher_stop(w);
  pthread_join(thread, NULL);
  si_watcher_close(w);
  si_config_free(&cfg);
  assert_int_equal(r.count, 2);
  snprintf(want, sizeof want, "%s/EVENT", real_in);
  assert_string_equal(r.paths[1], want);

  /* The test the watcher and start_queue share. */
  char p[4400];
  snprintf(p, sizeof p, "%s/LINK-EVENT", real_in);
  assert_string_equal(si_watch_entry_refusal(p), "a symbolic link (never followed)");
  snprintf(p, sizeof p, "%s/FIFO-EVENT", real_in);
  assert_string_equal(si_watch_entry_refusal(p), "not a folder");
  snprintf(p, sizeof p, "%s/none", real_in);
  assert_string_equal(si_watch_entry_refusal(p), "gone");
  assert_null(si_watch_entry_refusal(want));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_is_one_pass),
      cmocka_unit_test(test_links_and_files_are_not_reported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
