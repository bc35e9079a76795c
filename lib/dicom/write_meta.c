/* The file meta information group (PS3.10 7.1) a Part 10 write puts
 * before the data set: regenerated, with later source elements kept. */
#include <string.h>

#include "sendit/write.h"
#include "write_internal.h"

static void meta_put(meta_buf *m, const void *p, size_t n) {
  if (m->n + n > sizeof m->b) {
    m->overflow = 1;
    return;
  }
  memcpy(m->b + m->n, p, n);
  m->n += n;
}

static void meta_element(meta_buf *m, uint16_t element, si_vr vr, const void *v, size_t len) {
  size_t padded = len + (len & 1);
  uint8_t h[12] = {0x02, 0x00, (uint8_t)element, (uint8_t)(element >> 8)};
  memcpy(h + 4, si_vr_name(vr), 2);
  if (si_vr_has_long_length(vr)) {
    h[6] = h[7] = 0;
    h[8] = (uint8_t)padded, h[9] = (uint8_t)(padded >> 8);
    h[10] = (uint8_t)(padded >> 16), h[11] = (uint8_t)(padded >> 24);
    meta_put(m, h, 12);
  } else {
    h[6] = (uint8_t)padded, h[7] = (uint8_t)(padded >> 8);
    meta_put(m, h, 8);
  }
  meta_put(m, v, len);
  if (len & 1)
    meta_put(m, vr == SI_VR_UI || !si_vr_is_string(vr) ? "\0" : " ", 1);
}

/* A valid UID from the data set, else from the source meta; "" if none
 * (an invalid one is not copied into the meta). The bytes decide, not the
 * VR: an element with a wrong VR reads as UI once written implicit, and the
 * meta must not change with that. */
static int uid_from(const si_dataset *ds, uint32_t tag, char out[65]) {
  const si_element *el = si_dataset_find(ds, tag);
  if (!el || !el->value || !si_uid_is_valid((const char *)el->value, el->value_len))
    return 0;
  size_t n = el->value_len;
  while (n && (el->value[n - 1] == 0 || el->value[n - 1] == ' '))
    n--;
  memcpy(out, el->value, n);
  out[n] = 0;
  return 1;
}

void si_write_pick_uid(const si_file *file, uint32_t ds_tag, uint32_t meta_tag, char out[65]) {
  if (!uid_from(file->dataset, ds_tag, out) && !uid_from(file->meta, meta_tag, out))
    out[0] = 0;
}

si_status si_write_build_meta(const si_file *file, const si_ts_props *ts, meta_buf *m, sink *o) {
  char sop_class[65], sop_instance[65];
  si_write_pick_uid(file, SI_TAG(0x0008, 0x0016), SI_TAG(0x0002, 0x0002), sop_class);
  si_write_pick_uid(file, SI_TAG(0x0008, 0x0018), SI_TAG(0x0002, 0x0003), sop_instance);
  meta_buf body = {.n = 0};
  static const uint8_t version[2] = {0x00, 0x01};
  meta_element(&body, 0x0001, SI_VR_OB, version, 2);
  if (sop_class[0])
    meta_element(&body, 0x0002, SI_VR_UI, sop_class, strlen(sop_class));
  if (sop_instance[0])
    meta_element(&body, 0x0003, SI_VR_UI, sop_instance, strlen(sop_instance));
  meta_element(&body, 0x0010, SI_VR_UI, ts->uid, strlen(ts->uid));
  meta_element(&body, 0x0012, SI_VR_UI, SI_IMPLEMENTATION_CLASS_UID,
               strlen(SI_IMPLEMENTATION_CLASS_UID));
  const char *version_name = si_implementation_version_name();
  meta_element(&body, 0x0013, SI_VR_SH, version_name, strlen(version_name));
  /* Later source meta elements (SourceApplicationEntityTitle, sending and
   * receiving AE titles, private information) are kept as they were. */
  const si_dataset *sm = file->meta;
  for (size_t i = 0; i < sm->count; i++) {
    const si_element *el = &sm->elements[i];
    if (SI_TAG_ELEMENT(el->tag) <= 0x0013 || el->vr == SI_VR_SQ || !el->value)
      continue;
    meta_element(&body, SI_TAG_ELEMENT(el->tag), el->vr == SI_VR_NONE ? SI_VR_UN : el->vr,
                 el->value, el->value_len);
  }
  if (body.overflow)
    return si_error_set(o->err, SI_ERR_LIMIT, o->name, 0, SI_TAG(0x0002, 0x0000),
                        "file meta information over 4 KiB");
  uint8_t len[4] = {(uint8_t)body.n, (uint8_t)(body.n >> 8), (uint8_t)(body.n >> 16),
                    (uint8_t)(body.n >> 24)};
  meta_element(m, 0x0000, SI_VR_UL, len, 4);
  meta_put(m, body.b, body.n);
  return SI_OK;
}
