/* libFuzzer harness for the deid recipe parser (lib/deid/recipe_parse.c)
 * and what runs a parsed recipe's untrusted parts without the engine: every
 * field spec is matched against every element of a small built data set
 * (nested sequence, private block, file meta), and the %filter sections are
 * evaluated on it, so the compiled expressions meet real subjects.
 *
 * Besides sanitizer reports, it aborts on broken promises: an error without
 * a message or naming another file, a status that differs from err.code, a
 * failure that is not SI_ERR_PARSE / SI_ERR_LIMIT, or a parse error without
 * "line N:". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deid/recipe_internal.h"
#include "sendit/edit.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_recipe: broken invariant at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static si_file *sample;

static void build_sample(void) {
  si_error err;
  if (si_file_new(&sample, &err) != SI_OK)
    abort();
  static const char *const edits[][2] = {
      {"PatientName", "DOE^JOHN"},
      {"PatientID", "12345678"},
      {"PatientBirthDate", "19700101"},
      {"StudyDate", "20200102"},
      {"Modality", "CT"},
      {"ImageType", "DERIVED\\SECONDARY\\SCREEN SAVE"},
      {"Manufacturer", "GE MEDICAL SYSTEMS"},
      {"Rows", "512"},
      {"SOPInstanceUID", "1.2.3.4.5"},
      {"StudyInstanceUID", "1.2.3.4"},
      {"OtherPatientIDsSequence[0].PatientID", "87654321"},
      {"ReferencedImageSequence[1].ReferencedSOPInstanceUID", "1.2.3.9"},
      {"(0029,0010)", "SIEMENS CSA HEADER"},
      {"(0029,1021)", "secret"},
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
    if (si_edit_set(sample, edits[i][0], edits[i][1], SI_EDIT_CREATE, NULL, &err) != SI_OK) {
      fprintf(stderr, "fuzz_recipe: sample %s: %s\n", edits[i][0], err.message);
      abort();
    }
}

static void run(const si_deid_recipe *r) {
  recipe_elems elems;
  si_error err;
  if (recipe_elems_collect(sample, &elems, &err) != SI_OK)
    abort();
  volatile size_t hits = 0;
  for (size_t a = 0; a < r->action_count; a++)
    for (size_t i = 0; i < elems.count; i++)
      hits += (size_t)recipe_field_matches(&r->actions[a].field, &elems.v[i]);
  for (size_t g = 0; g < r->group_count; g++)
    for (size_t a = 0; a < r->groups[g].count; a++)
      for (size_t i = 0; i < elems.count; i++)
        hits += (size_t)recipe_field_matches(&r->groups[g].actions[a].field, &elems.v[i]);
  recipe_elems_free(&elems);
  int flagged = 0;
  char reason[256];
  CHECK(si_deid_recipe_filter(r, sample, &flagged, reason, sizeof reason, &err) == SI_OK);
  CHECK(!flagged || strncmp(reason, "filter ", 7) == 0);
  (void)hits;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!sample)
    build_sample();
  si_deid_recipe *r = NULL;
  si_error err;
  si_error_clear(&err);
  si_status st = si_deid_recipe_parse((const char *)data, size, "fuzz.recipe", &r, &err);
  CHECK(st == err.code);
  if (st != SI_OK) {
    CHECK(r == NULL);
    CHECK(err.message[0]);
    CHECK(strcmp(err.file, "fuzz.recipe") == 0);
    CHECK(st == SI_ERR_PARSE || st == SI_ERR_LIMIT || st == SI_ERR_NOMEM);
    CHECK(strncmp(err.message, "line ", 5) == 0 || st != SI_ERR_PARSE);
    return 0;
  }
  CHECK(r != NULL);
  run(r);
  si_deid_recipe_free(r);
  return 0;
}
