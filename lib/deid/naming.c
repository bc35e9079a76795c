/* Names of de-identified files (sendit/deid.h): one rule for the command
 * line and the stage, so that a study's files land under the same names
 * whichever wrote them. Values come from the de-identified data set (never
 * the original's), sanitised so that no value can make a path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/deid.h"

#define TAG_SERIES_NUMBER SI_TAG(0x0020, 0x0011)
#define TAG_INSTANCE_NUMBER SI_TAG(0x0020, 0x0013)
#define TAG_SOP_UID SI_TAG(0x0008, 0x0018)
#define TAG_MODALITY SI_TAG(0x0008, 0x0060)

static int safe_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

static si_status too_long(const char *pattern, si_error *err) {
  return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                      "the file name from '%.100s' is too long", pattern);
}

/* Appends a field's value, sanitised; "x" when empty. */
static int put_value(char *out, size_t size, size_t *pos, const char *v) {
  if (!v || !*v)
    v = "x";
  for (; *v; v++) {
    if (*pos + 1 >= size)
      return 0;
    out[(*pos)++] = safe_char((unsigned char)*v) ? *v : '_';
  }
  return 1;
}

static char *element_text(const si_dataset *ds, uint32_t tag) {
  char *s = NULL;
  si_error ignored;
  if (si_get_string(ds, tag, SIZE_MAX, &s, &ignored) != SI_OK)
    return NULL;
  return s;
}

si_status si_deid_output_name(const si_file *deid, const char *pattern, const char *study_code,
                              const char *patient_code, char *out, size_t size, si_error *err) {
  if (!pattern || !*pattern)
    pattern = SI_DEID_DEFAULT_NAME;
  if (strchr(pattern, '/'))
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "a file name pattern cannot hold '/': '%.100s'", pattern);
  if (size < 2)
    return too_long(pattern, err);
  const si_dataset *ds = si_file_dataset(deid);
  size_t pos = 0;
  for (const char *p = pattern; *p;) {
    if (*p != '{') {
      if (pos + 1 >= size)
        return too_long(pattern, err);
      out[pos++] = safe_char((unsigned char)*p) ? *p : '_';
      p++;
      continue;
    }
    const char *close = strchr(p, '}');
    size_t n = close ? (size_t)(close - p - 1) : 0;
    char *owned = NULL;
    const char *value = NULL;
    int known = 1;
    if (close && n == 5 && memcmp(p + 1, "study", 5) == 0)
      value = study_code;
    else if (close && n == 7 && memcmp(p + 1, "patient", 7) == 0)
      value = patient_code;
    else if (close && n == 6 && memcmp(p + 1, "series", 6) == 0)
      value = owned = element_text(ds, TAG_SERIES_NUMBER);
    else if (close && n == 8 && memcmp(p + 1, "instance", 8) == 0)
      value = owned = element_text(ds, TAG_INSTANCE_NUMBER);
    else if (close && n == 3 && memcmp(p + 1, "sop", 3) == 0)
      value = owned = element_text(ds, TAG_SOP_UID);
    else if (close && n == 8 && memcmp(p + 1, "modality", 8) == 0)
      value = owned = element_text(ds, TAG_MODALITY);
    else
      known = 0;
    if (!known)
      return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                          "unknown field in file name pattern '%.100s' (fields: {study} "
                          "{patient} {series} {instance} {sop} {modality})",
                          pattern);
    int ok = put_value(out, size, &pos, value);
    free(owned);
    if (!ok)
      return too_long(pattern, err);
    p = close + 1;
  }
  out[pos] = 0;
  if (out[0] == '.') {
    if (pos + 2 > size)
      return too_long(pattern, err);
    memmove(out + 1, out, pos + 1);
    out[0] = '_';
  }
  return SI_OK;
}

/* The SOPInstanceUID of the file at path ("" when unreadable). */
static void sop_of(const char *path, char out[65]) {
  si_read_options ro;
  si_read_options_init(&ro);
  ro.stop_before_pixels = 1;
  si_file *f = NULL;
  si_error ignored;
  out[0] = 0;
  if (si_read_file(path, &ro, &f, &ignored) != SI_OK)
    return;
  if (si_get_uid(si_file_dataset(f), TAG_SOP_UID, out, &ignored) != SI_OK)
    out[0] = 0;
  si_file_free(f);
}

si_status si_deid_output_path(const char *dir, const char *name, const si_file *deid, char *out,
                              size_t size, si_error *err) {
  char mine[65] = "";
  si_error ignored;
  if (si_get_uid(si_file_dataset(deid), TAG_SOP_UID, mine, &ignored) != SI_OK)
    mine[0] = 0;
  const char *dot = strrchr(name, '.');
  size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
  for (unsigned n = 1; n < 10000; n++) {
    int w = n == 1 ? snprintf(out, size, "%s/%s", dir, name)
                   : snprintf(out, size, "%s/%.*s_%u%s", dir, (int)stem, name, n, name + stem);
    if (w < 0 || (size_t)w >= size)
      return si_error_set(err, SI_ERR_ARG, dir, SI_NO_OFFSET, SI_NO_TAG,
                          "the output path for '%.100s' is too long", name);
    struct stat st;
    if (lstat(out, &st) != 0) {
      if (errno == ENOENT)
        return SI_OK;
      return si_error_set(err, SI_ERR_IO, out, SI_NO_OFFSET, SI_NO_TAG, "cannot stat: %s",
                          strerror(errno));
    }
    char theirs[65];
    if (S_ISREG(st.st_mode) && mine[0]) {
      sop_of(out, theirs);
      if (strcmp(theirs, mine) == 0)
        return SI_OK; /* the same instance again: replace it */
    }
  }
  return si_error_set(err, SI_ERR_LIMIT, dir, SI_NO_OFFSET, SI_NO_TAG,
                      "no free name for '%.100s' after 9999 tries", name);
}
