/* Step 3's first half: what a file's header says (the uids, checked, and
 * the few tags the import files by), read without a database or a lock, on
 * the reader threads for a big folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"
#include "import_internal.h"
#include "readers.h"

const imp_cut_field imp_cut_fields[IMP_CUT_FIELDS] = {
    {"PatientID", sizeof((header_facts *)0)->patient_id - 1},
    {"AccessionNumber", sizeof((header_facts *)0)->accession_number - 1},
    {"Modality", sizeof((header_facts *)0)->modality - 1},
    {"StudyDate", sizeof((header_facts *)0)->study_date - 1},
};

/* The value as text into dst; returns `bit` when it did not fit and was
 * cut (each field holds more than the valid values of its VR need), which
 * the batch log then says (header_facts.cut), else 0. */
static unsigned get_text(const si_dataset *ds, uint32_t tag, char *dst, size_t size, unsigned bit) {
  char *s = NULL;
  dst[0] = 0;
  int n = 0;
  if (si_get_string(ds, tag, SIZE_MAX, &s, NULL) == SI_OK && s)
    n = snprintf(dst, size, "%s", s);
  free(s);
  return n >= 0 && (size_t)n < size ? 0 : bit;
}

/* The UIDs an image is filed under, each checked against PS3.5 9.1: a value
 * that is not a UID ("../../tmp/pwn", raw bytes) must not reach the
 * database, paths or pages. All three are required: Study and Series
 * Instance UID are Type 1 in every composite IOD, so a file without one is
 * most likely cut between two top-level elements (the reader cannot tell:
 * the shorter data set is complete), as a sender still writing leaves it. */
static const struct {
  uint32_t tag;
  const char *name;
  const char *absent; /* why a file without it is quarantined */
} checked_uids[] = {
    {SI_TAG(0x0008, 0x0018), "SOPInstanceUID", "not an image that can be stored"},
    {SI_TAG(0x0020, 0x000D), "StudyInstanceUID", NULL},
    {SI_TAG(0x0020, 0x000E), "SeriesInstanceUID", NULL},
};

#define INCOMPLETE "incomplete header: no %s (cut file?)"

/* Errors that are about the image's identity, not about reading it: SI_ERR_VALUE. */
static si_status read_uids(const char *path, const si_dataset *ds, header_facts *f, si_error *err) {
  char *fields[] = {f->uid, f->study_uid, f->series_uid}; /* in checked_uids' order */
  for (size_t i = 0; i < sizeof checked_uids / sizeof checked_uids[0]; i++) {
    char *dst = fields[i];
    const si_element *el = si_dataset_find(ds, checked_uids[i].tag);
    int empty = !el || (el->value_len == 0 && !(el->flags & SI_ELEM_VALUE_SKIPPED));
    if (empty && checked_uids[i].absent)
      return si_error_set(err, SI_ERR_VALUE, path, el ? el->offset : SI_NO_OFFSET,
                          checked_uids[i].tag, "no %s: %s", checked_uids[i].name,
                          checked_uids[i].absent);
    if (empty)
      return si_error_set(err, SI_ERR_VALUE, path, el ? el->offset : SI_NO_OFFSET,
                          checked_uids[i].tag, INCOMPLETE, checked_uids[i].name);
    si_error why;
    if (si_get_valid_uid(ds, checked_uids[i].tag, dst, &why) != SI_OK) {
      const char *said = why.message;
      if (strncmp(said, "not a valid UID: ", 17) == 0)
        said += 17;
      return si_error_set(err, SI_ERR_VALUE, path, el->offset, checked_uids[i].tag,
                          "%s is not a valid UID: %s", checked_uids[i].name, said);
    }
  }
  return SI_OK;
}

static si_status read_facts(const char *path, header_facts *f, si_error *err) {
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = 1;
  si_file *file;
  si_status st = si_read_file(path, &opts, &file, err);
  if (st != SI_OK)
    return st;
  const si_dataset *ds = si_file_dataset(file);
  memset(f, 0, sizeof *f);
  header_facts *img = f;
  st = read_uids(path, ds, img, err);
  if (st != SI_OK) {
    si_file_free(file);
    return st;
  }
  si_get_uid(ds, SI_TAG(0x0008, 0x0016), img->sop_class_uid, NULL);
  if (!img->sop_class_uid[0])
    si_get_uid(si_file_meta(file), SI_TAG(0x0002, 0x0002), img->sop_class_uid, NULL);
  img->cut |= get_text(ds, SI_TAG(0x0010, 0x0020), img->patient_id, sizeof img->patient_id, 1u);
  img->cut |=
      get_text(ds, SI_TAG(0x0008, 0x0050), img->accession_number, sizeof img->accession_number, 2u);
  img->cut |= get_text(ds, SI_TAG(0x0008, 0x0060), img->modality, sizeof img->modality, 4u);
  /* Modality is Type 1 too (General Series module, and its equivalents in
   * the other series modules): without it, the file is taken as cut, as
   * above; the allow-list could not judge it either. */
  if (!img->modality[0]) {
    si_file_free(file);
    return si_error_set(err, SI_ERR_VALUE, path, SI_NO_OFFSET, SI_TAG(0x0008, 0x0060), INCOMPLETE,
                        "Modality");
  }
  img->cut |= get_text(ds, SI_TAG(0x0008, 0x0020), img->study_date, sizeof img->study_date, 8u);
  char *burned = NULL;
  si_get_string(ds, SI_TAG(0x0028, 0x0301), SIZE_MAX, &burned, NULL);
  /* Only YES means burned-in text; the original also dropped "NO". */
  f->burned_in = burned && strcmp(burned, "YES") == 0;
  free(burned);
  si_file_free(file);
  return SI_OK;
}

static void read_one(plan *p, const si_file_entry *file) {
  memset(p, 0, sizeof *p);
  p->file = file;
  si_error perr;
  si_error_clear(&perr);
  if (read_facts(p->file->path, &p->facts, &perr) != SI_OK) {
    char detail[1100], problem[1200];
    /* A readable file without a usable identity is not "unreadable". */
    snprintf(problem, sizeof problem, "%s%s",
             perr.code == SI_ERR_VALUE ? "" : "not readable as DICOM: ",
             si_error_format(&perr, detail, sizeof detail));
    p->problem = strdup(problem);
    return;
  }
  p->readable = 1;
}

/* Reads the headers of a chunk: no database, no lock held. */
void imp_read_chunk(const si_file_list *files, size_t from, size_t to, plan *plans) {
  for (size_t i = from; i < to; i++)
    read_one(&plans[i - from], &files->items[i]);
}

typedef struct chunk_reads {
  const si_file_list *files;
  size_t from;
  plan *plans;
} chunk_reads;

static void read_file_of_chunk(void *user, size_t i) {
  chunk_reads *c = user;
  read_one(&c->plans[i], &c->files->items[c->from + i]);
}

/* The same on the reader threads, for a big folder's chunks. */
void imp_read_chunk_on_all_cores(const si_file_list *files, size_t from, size_t to, plan *plans) {
  chunk_reads c = {files, from, plans};
  si_readers_run_all(to - from, si_readers_default_helpers(), read_file_of_chunk, &c);
}

void imp_free_problems(plan *plans, size_t n) {
  for (size_t i = 0; plans && i < n; i++) {
    free(plans[i].problem);
    plans[i].problem = NULL;
  }
}

void imp_free_plans(plan *plans, size_t n) {
  imp_free_problems(plans, n);
  free(plans);
}

plan *imp_alloc_plans(size_t files) {
  size_t n = files < CHUNK_FILES ? files : CHUNK_FILES;
  return malloc((n ? n : 1) * sizeof(plan));
}
