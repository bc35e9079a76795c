/* Conformance against two independent readers.
 *
 * $SENDIT_SAMPLES/ORACLE.jsonl records what DCMTK's dcmdump and pydicom make
 * of each public sample file. Where both read a file the same way, sendit must
 * read it too and agree on the transfer syntax, the identifying values and the
 * number of top-level elements. Where both reject a file, sendit must reject
 * it (without crashing). Files on which the oracles disagree, or that only one
 * of them reads, are listed with sendit's verdict but not judged: neither
 * reader is automatically right there.
 *
 * Oracle conventions this test relies on: values are the strings pydicom
 * prints, multi-valued ones joined with a backslash; an absent element is
 * null, a present but empty one is "". Files without file meta have a null
 * transfer_syntax_uid and give the detected encoding in pydicom_encoding.
 *
 * Without the samples the embedded oracle below still runs the same
 * comparison over tests/data, so the comparison code itself stays tested. */
#include "testutil.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"

typedef enum { KIND_UID, KIND_STRING, KIND_INT } value_kind;

typedef struct field {
  const char *key; /* name in ORACLE.jsonl */
  uint32_t tag;
  value_kind kind;
} field;

static const field fields[] = {
    {"sop_class_uid", SI_TAG(0x0008, 0x0016), KIND_UID},
    {"sop_instance_uid", SI_TAG(0x0008, 0x0018), KIND_UID},
    {"study_instance_uid", SI_TAG(0x0020, 0x000D), KIND_UID},
    {"series_instance_uid", SI_TAG(0x0020, 0x000E), KIND_UID},
    {"patient_id", SI_TAG(0x0010, 0x0020), KIND_STRING},
    {"accession_number", SI_TAG(0x0008, 0x0050), KIND_STRING},
    {"modality", SI_TAG(0x0008, 0x0060), KIND_STRING},
    {"rows", SI_TAG(0x0028, 0x0010), KIND_INT},
    {"columns", SI_TAG(0x0028, 0x0011), KIND_INT},
    {"number_of_frames", SI_TAG(0x0028, 0x0008), KIND_INT},
};

/* Files that both oracles reject but sendit may read, each with the reason
 * this is right. Any other accepted reject fails the test. */
static const struct {
  const char *path_suffix;
  const char *reason;
} accepted_rejects[] = {
    {NULL, NULL},
};

/* Files that both oracles read but sendit rejects on purpose, each with the
 * reason and the error it must give (a substring of the message). Any other
 * reject of a file both oracles read fails the test. */
static const struct {
  const char *path_suffix;
  const char *message;
  const char *reason;
} stricter_rejects[] = {
    {"dicomdirtests/DICOMDIR-nooffset", "the file is cut",
     "the last directory record and its sequence declare 24 bytes more than the file holds "
     "(elements were removed without fixing the lengths): indistinguishable from a file cut "
     "inside a sequence, which issue 11 makes an error"},
    {NULL, NULL, NULL},
};

typedef struct tally {
  int checked, agreed;   /* both oracles read the file alike */
  int rejects, rejected; /* both oracles reject the file */
  int mismatches;        /* field disagreements with the oracles */
  int bad_accepts;       /* rejects that sendit read anyway (unexplained) */
  int unjudged;          /* oracles disagree or only one reads it */
  int listed;            /* mismatch lines printed */
} tally;

/* sendit's value for a field as the oracle would print it; NULL when the
 * element is absent. Caller frees. */
static char *sendit_value(const si_dataset *ds, const field *f) {
  const si_element *el = si_dataset_find(ds, f->tag);
  if (!el)
    return NULL;
  si_error err;
  if (f->kind == KIND_UID) {
    char uid[65];
    if (si_get_uid(ds, f->tag, uid, &err) == SI_OK)
      return strdup(uid);
  } else if (f->kind == KIND_INT && el->value_len > 0) {
    /* Integers are compared as numbers, joined like pydicom joins them; a
     * value that is not a number (IS "1A") falls back to its text. */
    size_t vm = si_element_vm(el);
    char *text = calloc(vm * 24 + 1, 1);
    int ok = text != NULL;
    for (size_t i = 0; ok && i < vm; i++) {
      int64_t v;
      ok = si_get_int(ds, f->tag, i, &v, &err) == SI_OK;
      if (ok)
        sprintf(text + strlen(text), "%s%" PRId64, i ? "\\" : "", v);
    }
    if (ok)
      return text;
    free(text);
  }
  char *s = NULL;
  if (si_get_string(ds, f->tag, SIZE_MAX, &s, &err) == SI_OK)
    return s;
  return strdup("<unreadable>");
}

static const char *encoding_to_ts(const char *encoding) {
  if (!encoding)
    return NULL;
  if (strcmp(encoding, "implicit LE") == 0)
    return SI_TS_IMPLICIT_LE;
  if (strcmp(encoding, "explicit LE") == 0)
    return SI_TS_EXPLICIT_LE;
  if (strcmp(encoding, "explicit BE") == 0)
    return SI_TS_EXPLICIT_BE;
  return NULL;
}

static void mismatch(tally *t, const char *path, const char *what, const char *mine,
                     const char *theirs) {
  t->mismatches++;
  t->listed++;
  printf("MISMATCH %s: %s: sendit=%s%s%s oracle=%s%s%s\n", path, what, mine ? "\"" : "",
         mine ? mine : "absent", mine ? "\"" : "", theirs ? "\"" : "", theirs ? theirs : "absent",
         theirs ? "\"" : "");
}

static const char *json_str(const json_t *row, const char *key) {
  return json_string_value(json_object_get(row, key));
}

static int json_flag(const json_t *row, const char *key) {
  return json_is_true(json_object_get(row, key));
}

/* Compares one file both oracles read alike; returns 1 when all agree. */
static int compare_file(tally *t, const char *path, const char *full, const json_t *row) {
  si_file *file = NULL;
  si_error err;
  si_status st = si_read_file(full, NULL, &file, &err);
  if (st != SI_OK) {
    char buf[1200];
    size_t n = strlen(path);
    for (size_t i = 0; stricter_rejects[i].path_suffix; i++) {
      size_t k = strlen(stricter_rejects[i].path_suffix);
      if (k <= n && strcmp(path + n - k, stricter_rejects[i].path_suffix) == 0 &&
          strstr(err.message, stricter_rejects[i].message)) {
        printf("REJECTED-ON-PURPOSE %s: %s (%s)\n", path, si_error_format(&err, buf, sizeof buf),
               stricter_rejects[i].reason);
        return 1;
      }
    }
    mismatch(t, path, "read", si_error_format(&err, buf, sizeof buf), "ok");
    return 0;
  }
  int before = t->mismatches;
  const si_file_info *info = si_file_get_info(file);
  const char *ts = json_str(row, "transfer_syntax_uid");
  if (!ts)
    ts = encoding_to_ts(json_str(row, "pydicom_encoding"));
  if (ts && strcmp(ts, info->transfer_syntax) != 0)
    mismatch(t, path, "transfer_syntax", info->transfer_syntax, ts);

  const si_dataset *ds = si_file_dataset(file);
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const json_t *expected = json_object_get(row, fields[i].key);
    const char *theirs = json_string_value(expected);
    char *mine = sendit_value(ds, &fields[i]);
    int same = (!mine && !theirs) || (mine && theirs && strcmp(mine, theirs) == 0);
    /* pydicom has no value for an empty binary number (US), which the
     * oracle then records like an absent element. */
    const si_element *el = si_dataset_find(ds, fields[i].tag);
    if (!same && !theirs && mine && el && el->value_len == 0 && !si_vr_is_string(el->vr))
      same = 1;
    if (!same)
      mismatch(t, path, fields[i].key, mine, theirs);
    free(mine);
  }

  json_int_t top = json_integer_value(json_object_get(row, "top_level_elements"));
  if ((json_int_t)si_dataset_count(ds) != top) {
    char mine[32], theirs[32];
    snprintf(mine, sizeof mine, "%zu", si_dataset_count(ds));
    snprintf(theirs, sizeof theirs, "%lld", (long long)top);
    mismatch(t, path, "top_level_elements", mine, theirs);
  }
  si_file_free(file);
  return t->mismatches == before;
}

static int explained_accept(const char *path) {
  size_t n = strlen(path);
  for (size_t i = 0; accepted_rejects[i].path_suffix; i++) {
    size_t k = strlen(accepted_rejects[i].path_suffix);
    if (k <= n && strcmp(path + n - k, accepted_rejects[i].path_suffix) == 0)
      return 1;
  }
  return 0;
}

static void check_row(tally *t, const char *dir, const json_t *row) {
  const char *path = json_str(row, "path");
  assert_non_null(path);
  char full[4096];
  snprintf(full, sizeof full, "%s/%s", dir, path);
  int dcmtk_ok = json_flag(row, "dcmtk_ok"), pydicom_ok = json_flag(row, "pydicom_strict_ok");
  int disagree = json_flag(row, "disagree");

  if (dcmtk_ok && pydicom_ok && !disagree) {
    t->checked++;
    t->agreed += compare_file(t, path, full, row);
    return;
  }
  si_file *file = NULL;
  si_error err;
  si_status st = si_read_file(full, NULL, &file, &err);
  char buf[1200];
  const char *verdict = st == SI_OK ? "reads it" : si_error_format(&err, buf, sizeof buf);
  if (st != SI_OK)
    assert_true(err.message[0] != '\0');
  if (!dcmtk_ok && !pydicom_ok) {
    t->rejects++;
    if (st != SI_OK) {
      t->rejected++;
    } else if (explained_accept(path)) {
      printf("ACCEPTED-REJECT (explained) %s: %zu top-level elements\n", path,
             si_dataset_count(si_file_dataset(file)));
    } else {
      t->bad_accepts++;
      printf("ACCEPTED-REJECT %s: sendit reads %zu top-level elements, ts %s\n", path,
             si_dataset_count(si_file_dataset(file)), si_file_get_info(file)->transfer_syntax);
    }
  } else {
    t->unjudged++;
    printf("UNJUDGED %s (dcmtk %s, pydicom %s%s): sendit %s", path, dcmtk_ok ? "ok" : "rejects",
           pydicom_ok ? "ok" : "rejects", disagree ? ", oracles disagree" : "", verdict);
    if (file)
      printf(", %zu top-level elements (oracle %lld)", si_dataset_count(si_file_dataset(file)),
             (long long)json_integer_value(json_object_get(row, "top_level_elements")));
    printf("\n");
  }
  si_file_free(file);
}

static void run_oracle_lines(tally *t, const char *dir, const char *text) {
  const char *line = text;
  while (*line) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len > 0) {
      json_error_t jerr;
      json_t *row = json_loadb(line, len, 0, &jerr);
      if (!row)
        fail_msg("bad oracle line: %s", jerr.text);
      check_row(t, dir, row);
      json_decref(row);
    }
    line += len + (end ? 1 : 0);
  }
}

static void report(const tally *t, const char *what) {
  printf("conformance (%s): %d files checked, %d agreed, %d field mismatches; "
         "%d rejected by both oracles, %d rejected by sendit, %d accepted without reason; "
         "%d unjudged\n",
         what, t->checked, t->agreed, t->mismatches, t->rejects, t->rejected, t->bad_accepts,
         t->unjudged);
}

/* A small oracle over tests/data, written from what make_fixtures.py puts in
 * each file (and checked against dcmdump and pydicom when the fixtures were
 * made). */
static const char embedded_oracle[] =
    "{\"path\":\"explicit_le.dcm\",\"dcmtk_ok\":true,\"pydicom_strict_ok\":true,\"disagree\":false,"
    "\"transfer_syntax_uid\":\"1.2.840.10008.1.2.1\",\"pydicom_encoding\":\"explicit LE\","
    "\"sop_class_uid\":\"1.2.840.10008.5.1.4.1.1.2\",\"sop_instance_uid\":\"2.25.1001\","
    "\"study_instance_uid\":\"2.25.1002\",\"series_instance_uid\":\"2.25.1003\","
    "\"patient_id\":\"PID-0001\",\"accession_number\":\"ACC-0001\",\"modality\":\"CT\","
    "\"rows\":\"4\",\"columns\":\"4\",\"number_of_frames\":null,\"top_level_elements\":20}\n"
    "{\"path\":\"explicit_be.dcm\",\"dcmtk_ok\":true,\"pydicom_strict_ok\":true,\"disagree\":false,"
    "\"transfer_syntax_uid\":\"1.2.840.10008.1.2.2\",\"pydicom_encoding\":\"explicit BE\","
    "\"sop_class_uid\":\"1.2.840.10008.5.1.4.1.1.2\",\"sop_instance_uid\":\"2.25.1001\","
    "\"study_instance_uid\":\"2.25.1002\",\"series_instance_uid\":\"2.25.1003\","
    "\"patient_id\":\"PID-0001\",\"accession_number\":\"ACC-0001\",\"modality\":\"CT\","
    "\"rows\":\"4\",\"columns\":\"4\",\"number_of_frames\":null,\"top_level_elements\":20}\n"
    "{\"path\":\"raw_implicit_le.dcm\",\"dcmtk_ok\":true,\"pydicom_strict_ok\":true,"
    "\"disagree\":false,\"transfer_syntax_uid\":null,\"pydicom_encoding\":\"implicit LE\","
    "\"sop_class_uid\":\"1.2.840.10008.5.1.4.1.1.2\",\"sop_instance_uid\":\"2.25.1001\","
    "\"study_instance_uid\":\"2.25.1002\",\"series_instance_uid\":\"2.25.1003\","
    "\"patient_id\":\"PID-0001\",\"accession_number\":\"ACC-0001\",\"modality\":\"CT\","
    "\"rows\":\"4\",\"columns\":\"4\",\"number_of_frames\":null,\"top_level_elements\":20}\n"
    "{\"path\":\"sequences.dcm\",\"dcmtk_ok\":true,\"pydicom_strict_ok\":true,\"disagree\":false,"
    "\"transfer_syntax_uid\":\"1.2.840.10008.1.2.1\",\"sop_class_uid\":"
    "\"1.2.840.10008.5.1.4.1.1.2\",\"sop_instance_uid\":\"2.25.1001\","
    "\"study_instance_uid\":null,\"series_instance_uid\":null,\"patient_id\":\"PID-SEQ\","
    "\"accession_number\":null,\"modality\":null,\"rows\":null,\"columns\":null,"
    "\"number_of_frames\":null,\"top_level_elements\":6}\n"
    "{\"path\":\"not_dicom_text.txt\",\"dcmtk_ok\":false,\"pydicom_strict_ok\":false,"
    "\"disagree\":true}\n"
    "{\"path\":\"not_dicom_jpeg.jpg\",\"dcmtk_ok\":false,\"pydicom_strict_ok\":false,"
    "\"disagree\":true}\n"
    "{\"path\":\"empty.dcm\",\"dcmtk_ok\":false,\"pydicom_strict_ok\":false,\"disagree\":true}\n";

static void test_embedded_oracle(void **state) {
  (void)state;
  tally t = {0};
  run_oracle_lines(&t, tu_test_data_dir(), embedded_oracle);
  report(&t, "tests/data");
  assert_int_equal(t.checked, 4);
  assert_int_equal(t.agreed, 4);
  assert_int_equal(t.mismatches, 0);
  assert_int_equal(t.rejects, 3);
  assert_int_equal(t.rejected, 3);
}

/* The comparison must notice a wrong value, or it proves nothing. */
static void test_comparison_detects_mismatch(void **state) {
  (void)state;
  static const char wrong[] =
      "{\"path\":\"explicit_le.dcm\",\"dcmtk_ok\":true,\"pydicom_strict_ok\":true,"
      "\"disagree\":false,\"transfer_syntax_uid\":\"1.2.840.10008.1.2\","
      "\"sop_class_uid\":\"1.2.840.10008.5.1.4.1.1.2\",\"sop_instance_uid\":\"2.25.1001\","
      "\"study_instance_uid\":\"2.25.1002\",\"series_instance_uid\":\"2.25.1003\","
      "\"patient_id\":\"PID-0002\",\"accession_number\":null,\"modality\":\"CT\","
      "\"rows\":\"5\",\"columns\":\"4\",\"number_of_frames\":null,\"top_level_elements\":21}\n";
  tally t = {0};
  printf("(the next 5 MISMATCH lines are expected)\n");
  run_oracle_lines(&t, tu_test_data_dir(), wrong);
  assert_int_equal(t.checked, 1);
  assert_int_equal(t.agreed, 0);
  /* transfer syntax, patient_id, accession_number, rows, top-level count */
  assert_int_equal(t.mismatches, 5);
}

static void test_samples_oracle(void **state) {
  (void)state;
  const char *dir = tu_samples_dir();
  if (!dir) {
    printf("SENDIT_SAMPLES not set or missing: conformance over public samples skipped\n");
    skip();
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/ORACLE.jsonl", dir);
  size_t size;
  uint8_t *text = tu_read_file(path, &size);
  if (!text) {
    printf("%s not found: conformance over public samples skipped\n", path);
    skip();
  }
  char *z = realloc(text, size + 1);
  assert_non_null(z);
  z[size] = '\0';
  tally t = {0};
  run_oracle_lines(&t, dir, z);
  free(z);
  report(&t, "public samples");
  assert_true(t.checked > 0);
  assert_int_equal(t.mismatches, 0);
  assert_int_equal(t.agreed, t.checked);
  assert_int_equal(t.bad_accepts, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embedded_oracle),
      cmocka_unit_test(test_comparison_detects_mismatch),
      cmocka_unit_test(test_samples_oracle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
