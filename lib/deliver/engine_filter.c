/* A destination's filters (sendit/deliver.h): which images of a batch go
 * to it. The modality and the deid stage's LABEL come with the image's
 * rows; the calling AE title is read from the stored original's file meta
 * (SourceApplicationEntityTitle, written there by the listener), only for
 * a destination that filters on it and only once the cheaper filters
 * matched, so that the import and unfiltered delivery never pay for it. */
#include <string.h>

#include "sendit/deliver.h"
#include "sendit/dicom.h"
#include "sendit/log.h"

#define TAG_SOURCE_AE SI_TAG(0x0002, 0x0016)

/* The data set stops at its first element: only the meta is wanted. */
#define STOP_AFTER_META SI_TAG(0x0003, 0x0000)

/* `s` of length *len without blanks (and NUL padding) at either end. */
static const char *trim(const char *s, size_t *len) {
  while (*len && (*s == ' ' || *s == '\t'))
    s++, (*len)--;
  while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == 0))
    (*len)--;
  return s;
}

/* Whether `value` (trimmed) is an item (trimmed) of the comma list `list`;
 * an empty list takes anything. Exact bytes: AE titles and LABELs are
 * case-sensitive. */
static int list_has(const char *list, const char *value) {
  if (!list || !list[0])
    return 1;
  size_t n = strlen(value ? value : "");
  const char *v = trim(value ? value : "", &n);
  if (!n)
    return 0; /* an image without the value is not in any list */
  for (const char *p = list; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    size_t ilen = len;
    const char *item = trim(p, &ilen);
    if (ilen == n && memcmp(item, v, n) == 0)
      return 1;
    p += len + (comma ? 1 : 0);
  }
  return 0;
}

int si_deliver_filter_match(const si_dest_config *d, const si_deliver_facts *f) {
  return list_has(d->filter_modalities, f->modality) && list_has(d->filter_labels, f->label) &&
         list_has(d->filter_calling_ae, f->calling_ae);
}

const char *si_deliver_label_of(const char *reason, char *out, size_t size) {
  static const char prefix[] = "filter ";
  if (size)
    out[0] = 0;
  if (!reason || strncmp(reason, prefix, sizeof prefix - 1) != 0)
    return out;
  /* SECTION is one word (the recipe's %filter NAME): the label follows the
   * first ": " after it, and may itself hold one. */
  const char *sep = strstr(reason + sizeof prefix - 1, ": ");
  const char *blank = strchr(reason + sizeof prefix - 1, ' ');
  if (!sep || blank != sep + 1 || !size)
    return out;
  size_t n = strlen(sep + 2);
  const char *label = trim(sep + 2, &n);
  if (n >= size)
    n = size - 1;
  memcpy(out, label, n);
  out[n] = 0;
  return out;
}

si_status si_deliver_calling_ae(const char *path, char *out, size_t size, si_error *err) {
  if (size)
    out[0] = 0;
  si_read_options ro;
  si_read_options_init(&ro);
  ro.stop_before_tag = STOP_AFTER_META;
  ro.max_kept_value = 4096;
  si_file *file = NULL;
  si_status st = si_read_file(path, &ro, &file, err);
  if (st != SI_OK)
    return st;
  const si_element *el = si_dataset_find(si_file_meta(file), TAG_SOURCE_AE);
  if (el && el->value && size) {
    size_t n = el->value_len;
    const char *v = trim((const char *)el->value, &n);
    if (n >= size)
      n = size - 1;
    memcpy(out, v, n);
    out[n] = 0;
  }
  si_file_free(file);
  return SI_OK;
}

si_status si_deliver_image_match(const si_dest_config *d, const si_send_image *row, int *match,
                                 si_error *err) {
  char label[256];
  si_deliver_facts f = {.modality = row->modality,
                        .label = si_deliver_label_of(row->deid_reason, label, sizeof label),
                        .calling_ae = ""};
  /* The cheap filters first (an empty list matches the "" given here). */
  si_dest_config cheap = *d;
  cheap.filter_calling_ae = "";
  *match = si_deliver_filter_match(&cheap, &f);
  if (!*match || !d->filter_calling_ae[0])
    return SI_OK;
  char ae[80];
  si_error rerr;
  si_status st = si_deliver_calling_ae(row->original_path, ae, sizeof ae, &rerr);
  if (st == SI_ERR_NOMEM) {
    *err = rerr;
    return st;
  }
  if (st != SI_OK) {
    /* Unknown is not in the list: an image goes nowhere the operator did
     * not mean it to (the original gone after cleanup, or damaged). */
    char why[400];
    si_error_format(&rerr, why, sizeof why);
    si_log(SI_LOG_WARN,
           "destination %s: the calling AE title of image %lld is unknown (%s), so "
           "filter_calling_ae excludes it",
           d->name, (long long)row->image_id, why);
  }
  f.calling_ae = ae;
  *match = si_deliver_filter_match(d, &f);
  return SI_OK;
}
