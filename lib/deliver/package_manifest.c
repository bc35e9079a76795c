/* The manifest's rows (sendit/package.h). Field names follow the
 * original sendit: DICOM keywords for the header values, and for the
 * batch row the entity metadata it uploaded beside each study's archive
 * (id = the coded patient, IMAGE_COUNT, UPLOAD_AGENT, PatientSex,
 * PatientAge, with the shared AccessionNumber, PatientID and StudyDate).
 * Lowercase names are sendit's additions. */
#include <string.h>
#include <time.h>

#include "deliver/package_internal.h"

/* Sets key to a string; a value that is not valid UTF-8 (jansson refuses
 * it) is kept as JSON null rather than dropped silently. */
static int set_text(json_t *row, const char *key, const char *value) {
  json_t *v = value ? json_string(value) : json_null();
  return json_object_set_new(row, key, v ? v : json_null());
}

json_t *si_pkg_instance_row(const si_dest_item *item, const si_pkg_header *h, const char *member,
                            const char *sha256) {
  json_t *row = json_object();
  if (!row)
    return NULL;
  int bad = set_text(row, "row", "instance") | set_text(row, "PatientID", h->patient_id) |
            set_text(row, "AccessionNumber", h->accession) |
            set_text(row, "StudyDate", h->study_date) |
            set_text(row, "StudyInstanceUID", item->study_uid) |
            set_text(row, "SeriesInstanceUID", item->series_uid) |
            set_text(row, "SOPInstanceUID", item->sop_instance_uid) |
            set_text(row, "SOPClassUID", item->sop_class_uid) |
            json_object_set_new(row, "size", json_integer((json_int_t)item->size)) |
            set_text(row, "sha256", sha256) | set_text(row, "path", member);
  if (bad) {
    json_decref(row);
    return NULL;
  }
  return row;
}

json_t *si_pkg_batch_row(const si_dest_batch *b, const si_package_options *o,
                         const si_pkg_header *first, const si_package_result *res) {
  json_t *row = json_object();
  if (!row)
    return NULL;
  char created[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const char *patient = first->patient_id[0] ? first->patient_id : b->batch_uid;
  const char *slash = strrchr(res->relative, '/'); /* the manifest lies beside the archive */
  const char *archive = slash ? slash + 1 : res->relative;
  int bad = set_text(row, "row", "batch") | set_text(row, "id", patient) |
            set_text(row, "PatientID", first->patient_id) |
            set_text(row, "AccessionNumber", first->accession) |
            set_text(row, "StudyDate", first->study_date) |
            set_text(row, "PatientSex", first->patient_sex) |
            set_text(row, "PatientAge", first->patient_age) |
            json_object_set_new(row, "IMAGE_COUNT", json_integer((json_int_t)b->count)) |
            set_text(row, "UPLOAD_AGENT", o && o->upload_agent ? o->upload_agent : "sendit") |
            set_text(row, "batch_uid", b->batch_uid) | set_text(row, "source", b->source) |
            set_text(row, "collection", o && o->collection ? o->collection : "sendit") |
            set_text(row, "archive", archive) |
            json_object_set_new(row, "archive_size", json_integer((json_int_t)res->archive_bytes)) |
            set_text(row, "sha256", res->sha256) |
            set_text(row, "compression",
                     si_package_compression_name(o ? o->compression : SI_PACKAGE_NONE)) |
            set_text(row, "created", created);
  if (bad) {
    json_decref(row);
    return NULL;
  }
  return row;
}
