/* Inputs that once crashed, hung or leaked in the reader (found by
 * fuzz/fuzz_read.c; tests/data/regress/README.md says what each broke). Each
 * is read from memory in full and header-only mode; a success is walked with
 * every getter like the fuzzer does, because several past bugs sat in the
 * getters rather than the parser. Under the sanitizer build any report fails
 * the process. The test passes trivially while the folder is empty. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"

static void walk(const si_dataset *ds) {
  for (size_t i = 0; i < si_dataset_count(ds); i++) {
    const si_element *el = si_dataset_at(ds, i);
    si_error err;
    char *s = NULL;
    if (si_get_string(ds, el->tag, 0, &s, &err) == SI_OK)
      assert_non_null(s);
    free(s);
    s = NULL;
    if (si_get_string(ds, el->tag, SIZE_MAX, &s, &err) == SI_OK)
      assert_non_null(s);
    free(s);
    int64_t i64;
    double d;
    si_date date;
    char uid[65];
    si_person_name pn;
    si_get_int(ds, el->tag, 0, &i64, &err);
    si_get_float(ds, el->tag, 0, &d, &err);
    si_get_date(ds, el->tag, 0, &date, &err);
    si_get_uid(ds, el->tag, uid, &err);
    if (si_get_person_name(ds, el->tag, 0, &pn, &err) == SI_OK)
      si_person_name_free(&pn);
    size_t len;
    si_dataset_private_creator(ds, el->tag, &len);
    for (size_t k = 0; k < el->item_count; k++)
      walk(el->items[k]);
  }
}

static int read_one(const char *name, const uint8_t *data, size_t size, int header_only) {
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = header_only;
  si_file *file = NULL;
  si_error err;
  si_status st = si_read_memory(data, size, name, &opts, &file, &err);
  if (st != SI_OK) {
    /* A refusal is fine; a silent one is not. */
    assert_null(file);
    assert_int_equal(err.code, st);
    if (err.message[0] == '\0')
      fail_msg("%s: status %s without a message", name, si_status_name(st));
    return 0;
  }
  assert_non_null(file);
  walk(si_file_meta(file));
  walk(si_file_dataset(file));
  si_file_free(file);
  return 1;
}

static void test_regressions(void **state) {
  (void)state;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/regress", tu_test_data_dir());
  DIR *d = opendir(dir);
  if (!d) {
    printf("%s missing: no regression inputs\n", dir);
    return;
  }
  int files = 0, accepted = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
      continue;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    size_t size;
    uint8_t *data = tu_read_file(path, &size);
    if (!data)
      continue; /* a subdirectory, or unreadable */
    files++;
    accepted += read_one(e->d_name, data, size, 0);
    accepted += read_one(e->d_name, data, size, 1);
    free(data);
  }
  closedir(d);
  printf("regression inputs: %d files read in two modes, %d reads succeeded\n", files, accepted);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_regressions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
