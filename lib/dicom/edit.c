/* Editing data sets in place: element insertion and removal, private
 * blocks, and the UTF-8 fallback for text the character set cannot hold.
 * Paths are parsed in edit_path.c, values checked in edit_value.c.
 * Behaviour: include/sendit/edit.h. */
#include "sendit/edit.h"

#include <stdlib.h>
#include <string.h>

#include "edit_internal.h"
#include "sendit/charset.h"
#include "sendit/dict.h"

#define UTF8_CHARSET "ISO_IR 192"

/* ---- elements ---- */

si_dataset *si_file_dataset_mut(si_file *file) { return file->dataset; }

static si_status nomem(si_error *err, uint32_t tag) {
  return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, tag, "out of memory");
}

static si_element *find_mut(si_dataset *ds, uint32_t tag) {
  return (si_element *)si_dataset_find(ds, tag);
}

/* New element `tag` at its place in ascending order (after equal tags). */
si_element *si_edit_insert_element(si_file *f, si_dataset *ds, uint32_t tag, si_vr vr) {
  if (ds->count == ds->capacity) {
    size_t cap = ds->capacity ? ds->capacity * 2 : 8;
    si_element *grown = si_arena_alloc(&f->arena, cap * sizeof *grown, 0);
    if (!grown)
      return NULL;
    if (ds->count)
      memcpy(grown, ds->elements, ds->count * sizeof *grown);
    ds->elements = grown;
    ds->capacity = cap;
  }
  size_t at = ds->count;
  while (at > 0 && ds->elements[at - 1].tag > tag)
    at--;
  memmove(ds->elements + at + 1, ds->elements + at, (ds->count - at) * sizeof *ds->elements);
  ds->count++;
  si_element *el = &ds->elements[at];
  *el = (si_element){.tag = tag, .vr = vr, .offset = SI_NO_OFFSET, .value_offset = SI_NO_OFFSET};
  if (vr == SI_VR_SQ)
    el->flags = SI_ELEM_UNDEFINED_LENGTH;
  return el;
}

void si_edit_remove_at(si_dataset *ds, size_t i) {
  if (ds->elements[i].tag == SI_TAG_SPECIFIC_CHARSET) {
    ds->charset = NULL;
    ds->charset_len = 0;
  }
  memmove(ds->elements + i, ds->elements + i + 1, (ds->count - i - 1) * sizeof *ds->elements);
  ds->count--;
}

si_status si_edit_store_value(si_file *f, si_dataset *ds, si_element *el, const void *v, size_t len,
                              si_error *err) {
  uint8_t *copy = NULL;
  if (len) {
    copy = si_arena_alloc(&f->arena, len, 0);
    if (!copy)
      return nomem(err, el->tag);
    memcpy(copy, v, len);
  }
  el->value = copy;
  el->value_len = len;
  el->length = (uint32_t)len;
  el->flags = 0;
  el->items = NULL;
  el->item_count = 0;
  el->fragments = NULL;
  el->fragment_count = 0;
  if (el->tag == SI_TAG_SPECIFIC_CHARSET) {
    ds->charset = copy;
    ds->charset_len = len;
  }
  return SI_OK;
}

static si_dataset *new_item(si_file *f, si_dataset *parent) {
  si_dataset *item = si_arena_alloc(&f->arena, sizeof *item, 1);
  if (item) {
    item->parent = parent;
    item->sorted = 1;
    item->undefined_length = 1;
  }
  return item;
}

si_status si_edit_add_item(si_file *f, si_dataset *ds, si_element *seq, size_t at, si_dataset **out,
                           si_error *err) {
  si_dataset **items = si_arena_alloc(&f->arena, (seq->item_count + 1) * sizeof *items, 0);
  si_dataset *item = new_item(f, ds);
  if (!items || !item)
    return nomem(err, seq->tag);
  if (at > seq->item_count)
    at = seq->item_count;
  if (seq->item_count)
    memcpy(items, seq->items, seq->item_count * sizeof *items);
  memmove(items + at + 1, items + at, (seq->item_count - at) * sizeof *items);
  items[at] = item;
  seq->items = items;
  seq->item_count++;
  if (out)
    *out = item;
  return SI_OK;
}

/* The creator string of a private creator element, trailing padding removed. */
static int creator_is(const si_element *el, const char *creator) {
  if (!el->value)
    return 0;
  size_t n = el->value_len;
  while (n && (el->value[n - 1] == ' ' || el->value[n - 1] == 0))
    n--;
  const uint8_t *v = el->value;
  while (n && *v == ' ')
    v++, n--;
  return n == strlen(creator) && memcmp(v, creator, n) == 0;
}

/* Tag of component c in ds: private tags by creator find the creator's
 * block, or reserve the lowest free one when `create` (PS3.5 7.8.1). 0 when
 * the block is absent. */
static si_status resolve_tag(si_file *f, si_dataset *ds, const component *c, int create,
                             uint32_t *tag, si_error *err) {
  *tag = 0;
  if (!c->creator[0]) {
    *tag = c->tag;
    return SI_OK;
  }
  uint16_t g = SI_TAG_GROUP(c->tag);
  uint32_t low = SI_TAG_ELEMENT(c->tag) & 0xFF;
  int free_block = 0;
  for (uint32_t b = 0x10; b <= 0xFF; b++) {
    const si_element *el = si_dataset_find(ds, SI_TAG(g, b));
    if (!el) {
      if (!free_block)
        free_block = (int)b;
      continue;
    }
    if (creator_is(el, c->creator)) {
      *tag = SI_TAG(g, b << 8 | low);
      return SI_OK;
    }
  }
  if (!create)
    return SI_OK;
  if (!free_block)
    return si_error_set(err, SI_ERR_LIMIT, NULL, SI_NO_OFFSET, SI_TAG(g, 0x0010),
                        "no free private block in group %04X for creator '%s'", g, c->creator);
  si_element *el = si_edit_insert_element(f, ds, SI_TAG(g, (uint32_t)free_block), SI_VR_LO);
  if (!el)
    return nomem(err, SI_TAG(g, (uint32_t)free_block));
  si_status st = si_edit_store_value(f, ds, el, c->creator, strlen(c->creator), err);
  if (st != SI_OK)
    return st;
  el->vr = SI_VR_LO;
  *tag = SI_TAG(g, (uint32_t)free_block << 8 | low);
  return SI_OK;
}

/* ---- character sets ---- */

static int charset_is_utf8(const si_dataset *ds) {
  size_t n;
  const char *cs = si_dataset_charset_raw(ds, &n);
  while (n && (cs[n - 1] == ' ' || cs[n - 1] == 0))
    n--;
  return n == strlen(UTF8_CHARSET) && memcmp(cs, UTF8_CHARSET, n) == 0;
}

static si_status set_root_utf8(si_file *f, si_error *err) {
  si_dataset *root = f->dataset;
  si_element *el = find_mut(root, SI_TAG_SPECIFIC_CHARSET);
  if (!el && !(el = si_edit_insert_element(f, root, SI_TAG_SPECIFIC_CHARSET, SI_VR_CS)))
    return nomem(err, SI_TAG_SPECIFIC_CHARSET);
  si_status st = si_edit_store_value(f, root, el, UTF8_CHARSET, strlen(UTF8_CHARSET), err);
  el->vr = SI_VR_CS;
  return st;
}

/* Decodes every text value of ds (and its items) to UTF-8 in place. */
static si_status reencode(si_file *f, si_dataset *ds, si_error *err) {
  size_t cs_len;
  const char *cs_raw = si_dataset_charset_raw(ds, &cs_len);
  si_charset *cs = NULL;
  si_status st = si_charset_open(cs_raw, cs_len, &cs, err);
  if (st != SI_OK)
    return si_error_set(err, SI_ERR_CHARSET, NULL, SI_NO_OFFSET, SI_TAG_SPECIFIC_CHARSET,
                        "cannot re-encode the data set as UTF-8: its character set '%.*s' is "
                        "unknown",
                        (int)(cs_len > 64 ? 64 : cs_len), cs_raw);
  for (size_t i = 0; i < ds->count && st == SI_OK; i++) {
    si_element *el = &ds->elements[i];
    if (el->vr == SI_VR_SQ) {
      for (size_t k = 0; k < el->item_count && st == SI_OK; k++)
        st = reencode(f, el->items[k], err);
      continue;
    }
    if (!si_vr_is_text(el->vr))
      continue;
    if (el->flags & SI_ELEM_VALUE_SKIPPED) {
      st = si_error_set(err, SI_ERR_CHARSET, NULL, el->offset, el->tag,
                        "cannot re-encode the data set as UTF-8: a text value of %u bytes was "
                        "left in the file",
                        el->length);
      break;
    }
    if (!el->value)
      continue;
    char *utf8;
    size_t n;
    st = si_charset_decode(cs, el->vr, el->value, el->value_len, &utf8, &n, err);
    if (st == SI_OK) {
      si_vr vr = el->vr;
      st = si_edit_store_value(f, ds, el, utf8, n, err);
      el->vr = vr;
      free(utf8);
    }
  }
  si_charset_close(cs);
  return st;
}

static void drop_nested_charsets(si_dataset *ds, int top) {
  for (size_t i = 0; i < ds->count; i++) {
    si_element *el = &ds->elements[i];
    if (!top && el->tag == SI_TAG_SPECIFIC_CHARSET) {
      si_edit_remove_at(ds, i--);
      continue;
    }
    for (size_t k = 0; k < el->item_count; k++)
      drop_nested_charsets(el->items[k], 0);
  }
}

/* Non-ASCII text is about to go into ds: make the data set UTF-8. */
static si_status ensure_utf8(si_file *f, si_dataset *ds, si_error *err) {
  if (charset_is_utf8(ds))
    return SI_OK;
  size_t n;
  si_dataset_charset_raw(ds, &n);
  int needs_reencode = n > 0;
  /* Items may declare their own set: any one anywhere means re-encoding. */
  if (!needs_reencode) {
    si_status st = set_root_utf8(f, err);
    if (st != SI_OK || charset_is_utf8(ds))
      return st;
  }
  si_status st = reencode(f, f->dataset, err);
  if (st != SI_OK)
    return st;
  drop_nested_charsets(f->dataset, 1);
  return set_root_utf8(f, err);
}

/* ---- operations ---- */

enum { OP_SET, OP_ERASE };

typedef struct op {
  int kind;
  unsigned flags;
  const char *text;  /* OP_SET from text */
  const void *bytes; /* OP_SET from bytes (text NULL) */
  size_t len;
  si_vr vr; /* with bytes */
  size_t count;
} op;

si_vr si_edit_vr_for_new(uint32_t tag) {
  si_vr vr = si_dict_implicit_vr(tag);
  return vr == SI_VR_UN || vr == SI_VR_NONE ? SI_VR_LO : vr;
}

si_status si_edit_set_text(si_file *f, si_dataset *ds, si_element *el, const char *text,
                           si_error *err) {
  si_vr vr = el->vr;
  size_t n = strlen(text);
  if (vr == SI_VR_UN || vr == SI_VR_NONE)
    return si_edit_store_value(f, ds, el, text, n, err) == SI_OK ? (el->vr = vr, SI_OK)
                                                                 : SI_ERR_NOMEM;
  si_status st;
  if (si_edit_is_binary_number(vr)) {
    uint8_t *bytes = NULL;
    size_t len = 0; /* set by parse_numbers; gcc -O2 without LTO cannot see it */
    st = si_edit_parse_numbers(el->tag, vr, text, &bytes, &len, err);
    if (st != SI_OK)
      return st;
    st = si_edit_store_value(f, ds, el, bytes, len, err);
    free(bytes);
    el->vr = vr;
    return st;
  }
  if (!si_vr_is_string(vr))
    return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, el->tag,
                        "a value of VR %s cannot be set from text", si_vr_name(vr));
  st = si_edit_check_string(el->tag, vr, text, n, err);
  if (st != SI_OK)
    return st;
  if (si_vr_is_text(vr) && si_edit_has_non_ascii(text)) {
    uint32_t tag = el->tag;
    size_t index = (size_t)(el - ds->elements);
    st = ensure_utf8(f, ds, err);
    if (st != SI_OK)
      return st;
    /* ensure_utf8 may have inserted (0008,0005) before el: find it again. */
    el = &ds->elements[index];
    if (el->tag != tag)
      el = find_mut(ds, tag);
  }
  st = si_edit_store_value(f, ds, el, text, n, err);
  el->vr = vr;
  return st;
}

static void drop_empty(si_dataset *ds, uint32_t tag) {
  for (size_t i = 0; i < ds->count; i++)
    if (ds->elements[i].tag == tag && !ds->elements[i].value && !ds->elements[i].item_count) {
      si_edit_remove_at(ds, i);
      return;
    }
}

static si_status apply_set(si_file *f, si_dataset *ds, uint32_t tag, op *o, si_error *err) {
  si_element *el = find_mut(ds, tag);
  int created = !el;
  if (el && (o->flags & SI_EDIT_ONLY_NEW))
    return SI_OK;
  if (!el) {
    if (!(o->flags & SI_EDIT_CREATE))
      return SI_OK;
    el = si_edit_insert_element(f, ds, tag, o->text ? si_edit_vr_for_new(tag) : o->vr);
    if (!el)
      return nomem(err, tag);
    if (el->vr == SI_VR_SQ && o->text) {
      el->vr = SI_VR_SQ;
      if (!*o->text) { /* an empty sequence */
        o->count++;
        return SI_OK;
      }
      drop_empty(ds, tag);
      return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag,
                          "a sequence cannot be set from text (use a path into its items)");
    }
  }
  if (el->vr == SI_VR_SQ && o->text)
    return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag,
                        "a sequence cannot be set from text (use a path into its items)");
  si_status st;
  if (o->text) {
    st = si_edit_set_text(f, ds, el, o->text, err);
  } else {
    st = si_edit_store_value(f, ds, el, o->bytes, o->len, err);
    el->vr = o->vr;
  }
  if (st == SI_OK)
    o->count++;
  else if (created)
    drop_empty(ds, tag); /* a refused value leaves no empty element behind */
  return st;
}

static void apply_erase(si_dataset *ds, uint32_t tag, op *o) {
  for (size_t i = 0; i < ds->count; i++)
    if (ds->elements[i].tag == tag) {
      si_edit_remove_at(ds, i--);
      o->count++;
    }
}

static si_status walk(si_file *f, si_dataset *ds, const path *p, size_t i, op *o, si_error *err) {
  const component *c = &p->c[i];
  int last = i + 1 == p->n;
  int create = o->kind == OP_SET && (o->flags & SI_EDIT_CREATE);
  uint32_t tag;
  si_status st = resolve_tag(f, ds, c, create, &tag, err);
  if (st != SI_OK || !tag)
    return st;
  if (last && !c->has_index) {
    if (o->kind == OP_ERASE) {
      apply_erase(ds, tag, o);
      return SI_OK;
    }
    return apply_set(f, ds, tag, o, err);
  }
  si_element *seq = find_mut(ds, tag);
  if (!seq) {
    if (!create)
      return SI_OK;
    if (!(seq = si_edit_insert_element(f, ds, tag, SI_VR_SQ)))
      return nomem(err, tag);
  }
  if (seq->vr != SI_VR_SQ)
    return si_error_set(err, SI_ERR_VALUE, NULL, seq->offset, tag,
                        "'%.200s': the element is not a sequence (VR %s)", p->text,
                        si_vr_name(seq->vr));
  if (last) { /* items themselves: only erase reaches here */
    if (c->all) {
      o->count += seq->item_count;
      seq->item_count = 0;
    } else if (c->index < seq->item_count) {
      memmove(seq->items + c->index, seq->items + c->index + 1,
              (seq->item_count - c->index - 1) * sizeof *seq->items);
      seq->item_count--;
      o->count++;
    }
    return SI_OK;
  }
  if (c->all) {
    /* A set may add (0008,0005) to the top data set and move its elements
     * (seq with them): the items array itself stays where it is. */
    si_dataset **items = seq->items;
    size_t count = seq->item_count;
    for (size_t k = 0; k < count && st == SI_OK; k++)
      st = walk(f, items[k], p, i + 1, o, err);
    return st;
  }
  while (create && seq->item_count <= c->index && st == SI_OK)
    st = si_edit_add_item(f, ds, seq, SIZE_MAX, NULL, err);
  if (st != SI_OK || c->index >= seq->item_count)
    return st;
  return walk(f, seq->items[c->index], p, i + 1, o, err);
}

static si_status run(si_file *f, si_dataset *ds, const char *text, op *o, si_error *err) {
  path p;
  si_status st = si_edit_parse_path(text, &p, err);
  if (st != SI_OK)
    return st;
  if (o->kind == OP_SET && p.c[p.n - 1].has_index)
    return si_edit_bad_path(text, "a value goes into an element, not an item", err);
  st = walk(f, ds, &p, 0, o, err);
  if (st == SI_OK && o->count == 0 && !(o->flags & SI_EDIT_ONLY_NEW))
    return si_error_set(err, SI_ERR_NOT_FOUND, NULL, SI_NO_OFFSET, p.c[p.n - 1].tag,
                        "'%.200s': no such element%s", text,
                        o->kind == OP_SET ? " (use insert to create it)" : "");
  return st;
}

si_status si_edit_set_in(si_file *file, si_dataset *ds, const char *path_text, const char *value,
                         unsigned flags, size_t *changed, si_error *err) {
  op o = {.kind = OP_SET, .flags = flags, .text = value ? value : ""};
  si_status st = run(file, ds, path_text, &o, err);
  if (changed)
    *changed = o.count;
  return st;
}

si_status si_edit_set(si_file *file, const char *path_text, const char *value, unsigned flags,
                      size_t *changed, si_error *err) {
  return si_edit_set_in(file, file->dataset, path_text, value, flags, changed, err);
}

si_status si_edit_set_bytes(si_file *file, const char *path_text, si_vr vr, const void *value,
                            size_t len, si_error *err) {
  if (vr == SI_VR_SQ || vr == SI_VR_NONE || vr >= SI_VR_COUNT || len >= 0xFFFFFFFEu)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "set_bytes needs a non-sequence VR and a value under 4 GiB");
  op o = {.kind = OP_SET, .flags = SI_EDIT_CREATE, .bytes = value, .len = len, .vr = vr};
  return run(file, file->dataset, path_text, &o, err);
}

si_status si_edit_erase(si_file *file, const char *path_text, size_t *removed, si_error *err) {
  op o = {.kind = OP_ERASE};
  si_status st = run(file, file->dataset, path_text, &o, err);
  if (removed)
    *removed = o.count;
  return st;
}

si_status si_edit_insert_item(si_file *file, const char *seq_path, size_t index, si_dataset **item,
                              si_error *err) {
  path p;
  si_status st = si_edit_parse_path(seq_path, &p, err);
  if (st != SI_OK)
    return st;
  if (p.c[p.n - 1].has_index)
    return si_edit_bad_path(seq_path, "name the sequence without [N]; the index is an argument",
                            err);
  /* Walk to the data set holding the sequence, creating what is missing. */
  si_dataset *ds = file->dataset;
  for (size_t i = 0; i + 1 < p.n; i++) {
    const component *c = &p.c[i];
    if (c->all)
      return si_edit_bad_path(seq_path, "[*] cannot name one place to insert", err);
    uint32_t tag;
    if ((st = resolve_tag(file, ds, c, 1, &tag, err)) != SI_OK)
      return st;
    si_element *seq = find_mut(ds, tag);
    if (!seq && !(seq = si_edit_insert_element(file, ds, tag, SI_VR_SQ)))
      return nomem(err, tag);
    if (seq->vr != SI_VR_SQ)
      return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag, "not a sequence");
    while (seq->item_count <= c->index)
      if ((st = si_edit_add_item(file, ds, seq, SIZE_MAX, NULL, err)) != SI_OK)
        return st;
    ds = seq->items[c->index];
  }
  uint32_t tag;
  if ((st = resolve_tag(file, ds, &p.c[p.n - 1], 1, &tag, err)) != SI_OK)
    return st;
  si_element *seq = find_mut(ds, tag);
  if (!seq && !(seq = si_edit_insert_element(file, ds, tag, SI_VR_SQ)))
    return nomem(err, tag);
  if (seq->vr != SI_VR_SQ)
    return si_error_set(err, SI_ERR_VALUE, NULL, SI_NO_OFFSET, tag, "not a sequence");
  return si_edit_add_item(file, ds, seq, index, item, err);
}

typedef int (*element_filter)(uint32_t tag, const void *arg);

static size_t erase_matching(si_dataset *ds, element_filter keep_out, const void *arg) {
  size_t removed = 0;
  for (size_t i = 0; i < ds->count; i++) {
    si_element *el = &ds->elements[i];
    if (keep_out(el->tag, arg)) {
      si_edit_remove_at(ds, i--);
      removed++;
      continue;
    }
    for (size_t k = 0; k < el->item_count; k++)
      removed += erase_matching(el->items[k], keep_out, arg);
  }
  return removed;
}

static int is_private(uint32_t tag, const void *arg) {
  (void)arg;
  return SI_TAG_GROUP(tag) & 1;
}

si_status si_edit_erase_private(si_file *file, size_t *removed, si_error *err) {
  (void)err;
  size_t n = erase_matching(file->dataset, is_private, NULL);
  if (removed)
    *removed = n;
  return SI_OK;
}

typedef struct group_pattern {
  uint16_t value, mask;
} group_pattern;

static int group_matches(uint32_t tag, const void *arg) {
  const group_pattern *g = arg;
  return (SI_TAG_GROUP(tag) & g->mask) == g->value;
}

si_status si_edit_erase_groups(si_file *file, const char *pattern, size_t *removed, si_error *err) {
  group_pattern g = {0, 0};
  if (!pattern || strlen(pattern) != 4)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "bad group pattern '%.32s': four hex digits or 'x'",
                        pattern ? pattern : "");
  for (int i = 0; i < 4; i++) {
    char ch = pattern[i];
    uint32_t d;
    g.value <<= 4;
    g.mask <<= 4;
    if (ch == 'x' || ch == 'X')
      continue;
    if (!si_edit_hex_digits(&pattern[i], 1, &d))
      return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                          "bad group pattern '%.32s': four hex digits or 'x'", pattern);
    g.value |= (uint16_t)d;
    g.mask |= 0xF;
  }
  if ((0x0002 & g.mask) == g.value)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "group pattern '%s' matches the file meta group 0002", pattern);
  size_t n = erase_matching(file->dataset, group_matches, &g);
  if (removed)
    *removed = n;
  return SI_OK;
}
