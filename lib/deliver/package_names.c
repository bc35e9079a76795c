/* Naming a package: header values, sanitised path components, the layout
 * template, member names. See sendit/package.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/package_internal.h"
#include "sendit/dicom.h"

#define COMPONENT_MAX 64

void si_package_sanitize(const char *in, const char *fallback, char *out, size_t size) {
  if (!size)
    return;
  size_t n = 0, limit = size - 1 < COMPONENT_MAX ? size - 1 : COMPONENT_MAX;
  for (const unsigned char *c = (const unsigned char *)(in ? in : ""); *c && n < limit; c++) {
    int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '-' || *c == '_';
    /* A dot only after something other than a dot: never ".", "..", a
     * hidden name or a ".." inside. */
    if (*c == '.' && n > 0 && out[n - 1] != '.')
      ok = 1;
    out[n++] = ok ? (char)*c : '_';
  }
  out[n] = '\0';
  if (n == 0) {
    if (fallback && *fallback)
      si_package_sanitize(fallback, NULL, out, size);
    else if (size > 1)
      snprintf(out, size, "_");
  }
}

/* ---- the layout ---- */

typedef enum { PH_COLLECTION, PH_PATIENT, PH_DATE, PH_ACCESSION, PH_BATCH, PH_COUNT } placeholder;
static const char *const placeholder_names[PH_COUNT] = {"collection", "patient", "date",
                                                        "accession", "batch"};

static int placeholder_find(const char *name, size_t len) {
  for (int i = 0; i < PH_COUNT; i++)
    if (strlen(placeholder_names[i]) == len && memcmp(placeholder_names[i], name, len) == 0)
      return i;
  return -1;
}

si_status si_package_layout_check(const char *layout, si_error *err) {
  if (!layout || !*layout)
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG, "layout is empty");
  if (layout[0] == '/')
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "layout %s is absolute: it must stay below path", layout);
  const char *seg = layout;
  for (const char *c = layout;; c++) {
    if (*c == '{') {
      const char *end = strchr(c, '}');
      if (!end || placeholder_find(c + 1, (size_t)(end - c - 1)) < 0)
        return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                            "layout %s: unknown or unclosed placeholder at offset %zu (known: "
                            "{collection} {patient} {date} {accession} {batch})",
                            layout, (size_t)(c - layout));
      c = end;
      continue;
    }
    if (*c == '}')
      return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                          "layout %s: '}' without '{' at offset %zu", layout, (size_t)(c - layout));
    if (*c == '/' || !*c) {
      size_t len = (size_t)(c - seg);
      if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
        return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                            "layout %s: empty, \".\" or \"..\" folder at offset %zu", layout,
                            (size_t)(seg - layout));
      for (const char *k = seg; k < c; k++)
        if ((unsigned char)*k < 0x20 || *k == 0x7f)
          return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                              "layout %s: control character at offset %zu", layout,
                              (size_t)(k - layout));
      if (!*c)
        break;
      seg = c + 1;
    }
  }
  return SI_OK;
}

static char *header_string(const si_dataset *ds, uint32_t tag) {
  char *s = NULL;
  if (si_get_string(ds, tag, SIZE_MAX, &s, NULL) != SI_OK)
    return strdup("");
  return s;
}

si_status si_pkg_header_read(const char *path, si_pkg_header *h, si_error *err) {
  memset(h, 0, sizeof *h);
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = 1;
  si_file *file = NULL;
  si_status st = si_read_file(path, &opts, &file, err);
  if (st != SI_OK)
    return st;
  const si_dataset *ds = si_file_dataset(file);
  h->patient_id = header_string(ds, 0x00100020);
  h->study_date = header_string(ds, 0x00080020);
  h->accession = header_string(ds, 0x00080050);
  h->patient_sex = header_string(ds, 0x00100040);
  h->patient_age = header_string(ds, 0x00101010);
  si_file_free(file);
  if (!h->patient_id || !h->study_date || !h->accession || !h->patient_sex || !h->patient_age) {
    si_pkg_header_free(h);
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  return SI_OK;
}

void si_pkg_header_free(si_pkg_header *h) {
  free(h->patient_id);
  free(h->study_date);
  free(h->accession);
  free(h->patient_sex);
  free(h->patient_age);
  memset(h, 0, sizeof *h);
}

si_status si_package_layout(const si_dest_batch *b, const si_package_options *o, char *out,
                            size_t size, si_error *err) {
  const char *layout = o && o->layout ? o->layout : SI_PACKAGE_DEFAULT_LAYOUT;
  si_status st = si_package_layout_check(layout, err);
  if (st != SI_OK)
    return st;
  if (!b || b->count == 0)
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "empty batch");
  si_pkg_header h;
  st = si_pkg_header_read(b->items[0].path, &h, err);
  if (st != SI_OK)
    return st;
  const char *values[PH_COUNT] = {o && o->collection ? o->collection : "sendit", h.patient_id,
                                  h.study_date, h.accession, b->batch_uid};
  char safe[PH_COUNT][COMPONENT_MAX + 1];
  for (int i = 0; i < PH_COUNT; i++)
    si_package_sanitize(values[i], b->batch_uid, safe[i], sizeof safe[i]);
  si_pkg_header_free(&h);
  size_t n = 0;
  for (const char *c = layout; *c; c++) {
    const char *piece = c;
    size_t len = 1;
    if (*c == '{') {
      const char *end = strchr(c, '}');
      int ph = placeholder_find(c + 1, (size_t)(end - c - 1));
      piece = safe[ph];
      len = strlen(piece);
      c = end;
    }
    if (n + len >= size)
      return si_error_set(err, SI_ERR_LIMIT, "", SI_NO_OFFSET, SI_NO_TAG,
                          "the archive's path is longer than %zu bytes", size - 1);
    memcpy(out + n, piece, len);
    n += len;
  }
  const char *ext = si_package_extension(o ? o->compression : SI_PACKAGE_NONE);
  if (n + strlen(ext) >= size)
    return si_error_set(err, SI_ERR_LIMIT, "", SI_NO_OFFSET, SI_NO_TAG,
                        "the archive's path is longer than %zu bytes", size - 1);
  memcpy(out + n, ext, strlen(ext) + 1);
  return SI_OK;
}

void si_pkg_member_name(const si_dest_item *item, size_t index, char *out, size_t size) {
  char fallback[32], study[COMPONENT_MAX + 1], series[COMPONENT_MAX + 1],
      instance[COMPONENT_MAX + 1];
  snprintf(fallback, sizeof fallback, "item%zu", index);
  si_package_sanitize(item->study_uid, fallback, study, sizeof study);
  si_package_sanitize(item->series_uid, fallback, series, sizeof series);
  si_package_sanitize(item->sop_instance_uid, fallback, instance, sizeof instance);
  snprintf(out, size, "%s/%s/%s.dcm", study, series, instance);
}

/* ---- compression names ---- */

static const struct {
  const char *name, *extension;
} compressions[] = {
    [SI_PACKAGE_NONE] = {"none", ".tar"},
    [SI_PACKAGE_ZSTD] = {"zstd", ".tar.zst"},
    [SI_PACKAGE_GZIP] = {"gzip", ".tar.gz"},
};

si_status si_package_compression_parse(const char *text, si_package_compression *out,
                                       si_error *err) {
  for (size_t i = 0; i < sizeof compressions / sizeof compressions[0]; i++)
    if (text && strcmp(text, compressions[i].name) == 0) {
      *out = (si_package_compression)i;
      return SI_OK;
    }
  return si_error_set(err, SI_ERR_VALUE, "", SI_NO_OFFSET, SI_NO_TAG,
                      "compression %s: none, zstd or gzip", text ? text : "(null)");
}

const char *si_package_extension(si_package_compression c) {
  if ((size_t)c >= sizeof compressions / sizeof compressions[0])
    return ".tar";
  return compressions[c].extension;
}

const char *si_package_compression_name(si_package_compression c) {
  if ((size_t)c >= sizeof compressions / sizeof compressions[0])
    return "none";
  return compressions[c].name;
}
