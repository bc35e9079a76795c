/* The engine over every fixture in tests/data (hostile ones included: deep
 * nesting, wrong lengths, odd charsets, NULs in strings, all-UN data sets)
 * and tests/data/regress, and the public samples when present: whatever the
 * reader accepts, si_deid_apply either de-identifies or refuses with a
 * status and a message, and what it de-identifies writes, reads back, says
 * PatientIdentityRemoved YES and holds no private element. Run under ASan by
 * the suite, this is the engine's hostile-input check. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/deid.h"
#include "sendit/write.h"

static const uint8_t key[SI_DEID_KEY_BYTES] = {7};
static size_t applied, refused;

static int no_private(const si_dataset *ds) {
  for (size_t i = 0; i < si_dataset_count(ds); i++) {
    const si_element *el = si_dataset_at(ds, i);
    if (SI_TAG_GROUP(el->tag) & 1)
      return 0;
    for (size_t k = 0; k < el->item_count; k++)
      if (!no_private(el->items[k]))
        return 0;
  }
  return 1;
}

static void one(const char *path, unsigned profile) {
  si_file *f = NULL;
  si_error err;
  if (si_read_file(path, NULL, &f, &err) != SI_OK)
    return;
  si_deid_options o;
  si_deid_options_init(&o);
  o.profile = profile;
  o.key = key;
  si_deid_subject subject = {"P", "S", -3};
  si_deid_report rep;
  si_status st = si_deid_apply(f, &o, &subject, &rep, &err);
  if (st != SI_OK) {
    if (!err.message[0])
      fail_msg("%s: refused without a message", path);
    refused++;
  } else if (!rep.flagged) {
    uint8_t *b;
    size_t n;
    if (si_write_part10_memory(f, NULL, &b, &n, &err) == SI_OK) {
      si_file *back = NULL;
      if (si_read_memory(b, n, path, NULL, &back, &err) != SI_OK)
        fail_msg("%s: the de-identified file does not read back: %s", path, err.message);
      char yes[8] = "";
      char *s = NULL;
      if (si_get_string(si_file_dataset(back), SI_TAG(0x0012, 0x0062), SIZE_MAX, &s, &err) == SI_OK)
        snprintf(yes, sizeof yes, "%s", s);
      free(s);
      if (strcmp(yes, "YES") != 0)
        fail_msg("%s: no PatientIdentityRemoved YES", path);
      if (!(profile & SI_DEID_RETAIN_SAFE_PRIVATE) && !no_private(si_file_dataset(back)))
        fail_msg("%s: a private element survived", path);
      si_file_free(back);
      free(b);
    }
    applied++;
  }
  si_deid_report_free(&rep);
  si_file_free(f);
}

static void folder(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode) && depth < 8) {
      folder(path, depth + 1);
    } else if (S_ISREG(st.st_mode) && st.st_size < 64 * 1024 * 1024) {
      one(path, SI_DEID_PROFILE_BASIC);
      one(path, SI_DEID_PROFILE_BASIC | SI_DEID_RETAIN_SAFE_PRIVATE |
                    SI_DEID_RETAIN_LONG_MODIFIED_DATES | SI_DEID_CLEAN_DESCRIPTORS |
                    SI_DEID_CLEAN_GRAPHICS | SI_DEID_CLEAN_STRUCTURED_CONTENT |
                    SI_DEID_RETAIN_PATIENT_CHARACTERISTICS);
    }
  }
  closedir(d);
}

static void test_fixtures(void **state) {
  (void)state;
  folder(tu_test_data_dir(), 0);
  assert_true(applied > 20);
}

static void test_samples(void **state) {
  (void)state;
  const char *samples = tu_samples_dir();
  if (!samples)
    skip();
  size_t before = applied;
  folder(samples, 0);
  assert_true(applied > before);
  printf("# de-identified %zu, refused %zu\n", applied, refused);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures),
      cmocka_unit_test(test_samples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
