/* libFuzzer harness for the leak scan (sendit/deid_verify.h), which reads
 * de-identified files as untrusted bytes: the raw pass over every byte, the
 * element pass over whatever the reader makes of them.
 *
 * Each input is scanned for the values of a fixed original (names with
 * non-ASCII letters, ids, a date, UIDs), then, when it parses, collected as
 * an original itself and scanned against itself, so that collection (PN
 * splitting, DT dates, charsets) sees hostile values too and the scan has
 * many needles that do occur. Besides sanitizer reports, the harness aborts
 * on broken promises: a hit without a path or value, a raw hit's offset past
 * the input, a file that parses scanning with a parse error, or an input
 * that holds a collected value of itself scanning with no hit at all. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/deid_verify.h"
#include "sendit/dicom.h"
#include "sendit/edit.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_deid_verify: broken invariant at %s:%d: %s\n", __FILE__, __LINE__,     \
              #cond);                                                                              \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static si_verify *fixed;

static void build_fixed(void) {
  si_file *f = NULL;
  CHECK(si_file_new(&f, NULL) == SI_OK);
  static const char *const edits[][2] = {
      {"PatientName", "Müller^Jürgen^Andreas"},
      {"PatientID", "PID-A-4711"},
      {"PatientBirthDate", "19620314"},
      {"AccessionNumber", "ACC-7781"},
      {"StudyInstanceUID", "1.2.826.0.1.3680043.10.543.1"},
      {"ReferencedStudySequence[0].ReferencedSOPInstanceUID", "1.2.826.0.1.3680043.10.543.2"},
      {"InstitutionName", "Lee"},
      {"StudyID", "4711"},
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
    CHECK(si_edit_set(f, edits[i][0], edits[i][1], SI_EDIT_CREATE, NULL, NULL) == SI_OK);
  si_verify_options opts;
  si_verify_options_init(&opts);
  opts.event_dates = 1;
  CHECK(si_verify_new(&opts, &fixed, NULL) == SI_OK);
  CHECK(si_verify_collect(fixed, f, "fixed", NULL, NULL) == SI_OK);
  si_file_free(f);
}

static void check_hits(const si_verify_hits *hits, size_t size) {
  for (size_t i = 0; i < hits->count; i++) {
    const si_verify_hit *h = &hits->items[i];
    CHECK(h->path && h->path[0] && h->value && h->value[0] && h->kind && h->original);
    CHECK(!h->raw || h->offset < size);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!fixed)
    build_fixed();
  si_verify_hits hits = {0};
  si_error err;
  si_status st = si_verify_scan_memory(fixed, data, size, "input", &hits, &err);
  check_hits(&hits, size);
  si_verify_hits_free(&hits);

  si_file *f = NULL;
  if (si_read_memory(data, size, "input", NULL, &f, NULL) != SI_OK)
    return 0;
  CHECK(st != SI_ERR_FORMAT && st != SI_ERR_TRUNCATED && st != SI_ERR_NOT_DICOM);
  si_verify *self = NULL;
  CHECK(si_verify_new(NULL, &self, NULL) == SI_OK);
  if (si_verify_collect(self, f, "input", NULL, &err) == SI_OK) {
    si_verify_hits own = {0};
    st = si_verify_scan_memory(self, data, size, "input", &own, &err);
    check_hits(&own, size);
    /* Values collected from a file's own elements are found in it again,
     * unless every one sits where the scan does not look (code strings,
     * bulk data), which collection never reads from. */
    if (st == SI_OK && si_verify_value_count(self) > 0)
      CHECK(own.count > 0);
    si_verify_hits_free(&own);
  }
  si_verify_free(self);
  si_file_free(f);
  return 0;
}
