/* Element-level editing (sendit/edit.h, "Element-level editing"): the
 * primitives an engine that decides every element needs, without parsing a
 * path per element. The surgery itself (insertion, removal, values from
 * text) is edit.c's, shared through edit_internal.h, so both ways of editing
 * follow one set of rules. */
#include <stdlib.h>
#include <string.h>

#include "edit_internal.h"
#include "sendit/edit.h"

static si_status nomem(si_error *err, uint32_t tag) {
  return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
}

si_dataset *si_file_meta_mut(si_file *file) { return file->meta; }

si_element *si_dataset_at_mut(si_dataset *ds, size_t index) {
  return index < ds->count ? &ds->elements[index] : NULL;
}

si_element *si_dataset_find_mut(si_dataset *ds, uint32_t tag) {
  return (si_element *)si_dataset_find(ds, tag);
}

si_dataset *si_element_item_mut(const si_element *el, size_t index) {
  if (index >= el->item_count)
    return NULL;
  return el->items[index];
}

size_t si_ds_remove(si_file *file, si_dataset *ds, uint32_t tag) {
  (void)file;
  size_t removed = 0;
  for (size_t i = 0; i < ds->count; i++)
    if (ds->elements[i].tag == tag) {
      si_edit_remove_at(ds, i--);
      removed++;
    }
  return removed;
}

/* (ds, tag), created with vr when absent; *created says so. */
static si_element *get_or_insert(si_file *file, si_dataset *ds, uint32_t tag, si_vr vr,
                                 int *created) {
  si_element *el = si_dataset_find_mut(ds, tag);
  *created = !el;
  return el ? el : si_edit_insert_element(file, ds, tag, vr);
}

si_status si_ds_set_text(si_file *file, si_dataset *ds, uint32_t tag, const char *text,
                         si_error *err) {
  int created;
  si_element *el = get_or_insert(file, ds, tag, si_edit_vr_for_new(tag), &created);
  if (!el)
    return nomem(err, tag);
  if (el->vr == SI_VR_SQ) {
    if (created)
      si_ds_remove(file, ds, tag);
    return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag,
                        "a sequence cannot be set from text");
  }
  si_status st = si_edit_set_text(file, ds, el, text ? text : "", err);
  if (st != SI_OK && created) /* a refused value leaves no empty element behind */
    si_ds_remove(file, ds, tag);
  return st;
}

si_status si_ds_set_bytes(si_file *file, si_dataset *ds, uint32_t tag, si_vr vr, const void *bytes,
                          size_t len, si_error *err) {
  if (vr == SI_VR_SQ || vr == SI_VR_NONE || vr >= SI_VR_COUNT || len >= 0xFFFFFFFEu)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, tag,
                        "set_bytes needs a non-sequence VR and a value under 4 GiB");
  int created;
  si_element *el = get_or_insert(file, ds, tag, vr, &created);
  if (!el)
    return nomem(err, tag);
  si_status st = si_edit_store_value(file, ds, el, bytes, len, err);
  el->vr = vr;
  return st;
}

si_status si_ds_set_sequence(si_file *file, si_dataset *ds, uint32_t tag, size_t count,
                             si_dataset ***items, si_error *err) {
  int created;
  si_element *el = get_or_insert(file, ds, tag, SI_VR_SQ, &created);
  if (!el)
    return nomem(err, tag);
  si_status st = si_edit_store_value(file, ds, el, NULL, 0, err);
  if (st != SI_OK)
    return st;
  el->vr = SI_VR_SQ;
  el->flags = SI_ELEM_UNDEFINED_LENGTH;
  el->length = SI_UNDEFINED_LENGTH;
  for (size_t i = 0; i < count && st == SI_OK; i++)
    st = si_edit_add_item(file, ds, el, SIZE_MAX, NULL, err);
  if (st == SI_OK && items)
    *items = el->items;
  return st;
}

/* Where the element with `tag` that was at i is now: the callback's edit
 * may have inserted (0008,0005) before it or re-encoded the data set. */
static size_t relocate(const si_dataset *ds, size_t i, uint32_t tag) {
  if (i < ds->count && ds->elements[i].tag == tag)
    return i;
  for (size_t k = 0; k < ds->count; k++)
    if (ds->elements[k].tag == tag)
      return k;
  return SIZE_MAX;
}

static si_status walk(si_file *file, si_dataset *ds, si_walk_fn fn, void *ctx, unsigned depth,
                      si_error *err) {
  for (size_t i = 0; i < ds->count; i++) {
    uint32_t tag = ds->elements[i].tag;
    si_walk_action a = fn(ctx, file, ds, &ds->elements[i], depth, err);
    if (a == SI_WALK_ERROR)
      return err && err->code != SI_OK ? err->code : SI_ERR_STATE;
    i = relocate(ds, i, tag);
    if (i == SIZE_MAX)
      return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, tag,
                          "a walk callback removed the element it was shown");
    if (a == SI_WALK_REMOVE) {
      si_edit_remove_at(ds, i--);
      continue;
    }
    if (a == SI_WALK_SKIP || !ds->elements[i].item_count)
      continue;
    /* Items of a sequence, or of a UN read as one (SI_ELEM_UN_AS_IMPLICIT).
     * The items array stays put while ds's elements may move. */
    si_dataset **items = ds->elements[i].items;
    size_t count = ds->elements[i].item_count;
    for (size_t k = 0; k < count; k++) {
      si_status st = walk(file, items[k], fn, ctx, depth + 1, err);
      if (st != SI_OK)
        return st;
    }
    if ((i = relocate(ds, i, tag)) == SIZE_MAX)
      return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, tag,
                          "a walk callback removed a sequence while in its items");
  }
  return SI_OK;
}

si_status si_ds_walk(si_file *file, si_dataset *ds, si_walk_fn fn, void *ctx, si_error *err) {
  if (err)
    si_error_clear(err);
  return walk(file, ds, fn, ctx, 0, err);
}
