/* The leak scan, second half: looking for the collected values in one
 * de-identified file (sendit/deid_verify.h). Two passes over the same
 * bytes: every element decoded with its data set's character set, at every
 * depth; then the file's raw bytes outside bulk sample data, for what the
 * parser did not show as a value (preamble, trailing bytes, a value in an
 * encoding its element does not declare, a file that does not parse). A raw
 * match inside a value that already matched the same needle is the same
 * leak and is not reported twice. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deid/verify_internal.h"
#include "sendit/charset.h"
#include "sendit/dict.h"

typedef struct leaf {
  uint64_t start, end;
  char *path;
  char *creator;
} leaf;

typedef struct range {
  uint64_t start, end;
} range;

/* Per hit of this file: which needle, and the value range it was found in. */
typedef struct hit_note {
  size_t needle;
  uint64_t start, end;
} hit_note;

typedef struct scan_ctx {
  si_verify *v;
  const char *name;
  si_verify_hits *hits;
  size_t first_hit;
  hit_note *notes;
  leaf *leaves;
  size_t leaf_count, leaf_capacity;
  range *excluded;
  size_t excluded_count, excluded_capacity;
  char path[2048];
  char cs_raw[128];
  si_charset *cs;
  int cs_open;
  /* The element being scanned. */
  const char *cur_path, *cur_creator;
  uint64_t cur_start, cur_end;
  size_t elem_first; /* first hit of the current element */
  int oom;
} scan_ctx;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* The leaf holding raw offset `at`, or NULL. Leaves are sorted by start. */
static const leaf *leaf_at(const scan_ctx *c, uint64_t at) {
  size_t lo = 0, hi = c->leaf_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->leaves[mid].start <= at)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0 || at >= c->leaves[lo - 1].end)
    return NULL;
  return &c->leaves[lo - 1];
}

static void report(scan_ctx *c, size_t needle, int raw, uint64_t at) {
  si_verify_hits *h = c->hits;
  const char *path = c->cur_path, *creator = c->cur_creator;
  uint64_t start = c->cur_start, end = c->cur_end;
  if (raw) {
    const leaf *l = leaf_at(c, at);
    path = l ? l->path : "(raw)";
    creator = l ? l->creator : NULL;
    start = end = at;
    for (size_t i = c->first_hit; i < h->count; i++) {
      const hit_note *note = &c->notes[i - c->first_hit];
      if (note->needle != needle)
        continue;
      /* The same value already reported from its element, or this raw value
       * already reported once. */
      if (!h->items[i].raw && at >= note->start && at < note->end)
        return;
      if (h->items[i].raw && strcmp(h->items[i].path, path) == 0)
        return;
    }
  } else {
    for (size_t i = c->elem_first; i < h->count; i++)
      if (c->notes[i - c->first_hit].needle == needle)
        return;
  }
  if (h->count == h->capacity) {
    size_t cap = h->capacity ? h->capacity * 2 : 16;
    si_verify_hit *items = realloc(h->items, cap * sizeof *items);
    if (!items) {
      c->oom = 1;
      return;
    }
    h->items = items;
    h->capacity = cap;
  }
  size_t n = h->count - c->first_hit;
  hit_note *notes = realloc(c->notes, (n + 1) * sizeof *notes);
  if (!notes) {
    c->oom = 1;
    return;
  }
  c->notes = notes;
  notes[n] = (hit_note){needle, start, end};
  const verify_needle *nd = &c->v->needles[needle];
  si_verify_hit *hit = &h->items[h->count];
  *hit = (si_verify_hit){strdup(c->name ? c->name : ""),
                         strdup(path ? path : "(raw)"),
                         dup_or_null(creator),
                         raw,
                         raw ? at : c->cur_start,
                         nd->kind,
                         strdup(nd->text),
                         strdup(verify_origin_name(c->v, nd->origin)),
                         strdup(nd->origin_path)};
  if (!hit->output || !hit->path || (creator && !hit->creator) || !hit->value || !hit->original ||
      !hit->original_path) {
    free(hit->output);
    free(hit->path);
    free(hit->creator);
    free(hit->value);
    free(hit->original);
    free(hit->original_path);
    c->oom = 1;
    return;
  }
  h->count++;
}

/* Decoded, folded text: the text needles (substring; whole words when short). */
static void search_bucket(scan_ctx *c, const verify_bucket *b, const uint8_t *hay, size_t len,
                          size_t i) {
  for (size_t k = 0; k < b->count; k++) {
    const verify_needle *n = &c->v->needles[b->items[k]];
    if (n->folded_len <= len - i && memcmp(hay + i, n->folded, n->folded_len) == 0 &&
        verify_word_ok(n->folded_len, hay, len, i))
      report(c, b->items[k], 0, 0);
  }
}

static void search_text(scan_ctx *c, const uint8_t *hay, size_t len) {
  for (size_t i = 0; i + 3 <= len; i++) {
    if (i + VERIFY_KEY <= len)
      search_bucket(c, &c->v->text_index[verify_bucket_of(hay + i, VERIFY_KEY)], hay, len, i);
    search_bucket(c, &c->v->text_index3[verify_bucket_of(hay + i, 3)], hay, len, i);
  }
}

/* Bytes: the raw forms of the text needles, ASCII case-insensitively. */
static void search_forms(scan_ctx *c, const uint8_t *buf, size_t len, int raw, uint64_t base) {
  for (size_t i = 0; i + VERIFY_KEY <= len; i++) {
    const verify_bucket *b = &c->v->raw_index[verify_bucket_of(buf + i, VERIFY_KEY)];
    for (size_t k = 0; k < b->count; k++) {
      const verify_form *f = &c->v->forms[b->items[k]];
      if (f->len > len - i)
        continue;
      size_t j = 0;
      while (j < f->len && verify_lower(buf[i + j]) == f->bytes[j])
        j++;
      if (j == f->len)
        report(c, f->needle, raw, base + i);
    }
  }
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* Tokens: every maximal run of digits and dots is looked up as a UID, each
 * run of digits in it as a number, and its first 8 digits as a date. */
static void search_tokens(scan_ctx *c, const uint8_t *buf, size_t len, int raw, uint64_t base) {
  const si_verify *v = c->v;
  for (size_t i = 0; i < len;) {
    if (!is_digit(buf[i]) && buf[i] != '.') {
      i++;
      continue;
    }
    size_t s = i;
    while (i < len && (is_digit(buf[i]) || buf[i] == '.'))
      i++;
    size_t e = i, us = s, ue = e;
    while (us < ue && buf[us] == '.')
      us++;
    while (ue > us && buf[ue - 1] == '.')
      ue--;
    size_t hit;
    if (ue - us >= 3 &&
        (hit = verify_find(v, VERIFY_UID, (const char *)buf + us, ue - us)) != SIZE_MAX)
      report(c, hit, raw, base + us);
    for (size_t a = s; a < e;) {
      if (buf[a] == '.') {
        a++;
        continue;
      }
      size_t b = a;
      while (b < e && buf[b] != '.')
        b++;
      if (b - a >= VERIFY_MIN_DIGITS &&
          (hit = verify_find(v, VERIFY_NUMBER, (const char *)buf + a, b - a)) != SIZE_MAX)
        report(c, hit, raw, base + a);
      if (b - a >= 8 && (hit = verify_find(v, VERIFY_DATE, (const char *)buf + a, 8)) != SIZE_MAX)
        report(c, hit, raw, base + a);
      a = b;
    }
  }
}

static int grow(void **items, size_t *capacity, size_t count, size_t size) {
  if (count < *capacity)
    return 0;
  size_t cap = *capacity ? *capacity * 2 : 64;
  void *p = realloc(*items, cap * size);
  if (!p)
    return -1;
  *items = p;
  *capacity = cap;
  return 0;
}

static void exclude(scan_ctx *c, uint64_t start, uint64_t end) {
  if (grow((void **)&c->excluded, &c->excluded_capacity, c->excluded_count, sizeof(range)) != 0) {
    c->oom = 1;
    return;
  }
  c->excluded[c->excluded_count++] = (range){start, end};
}

static const si_charset *charset_for(scan_ctx *c, const si_dataset *ds) {
  size_t len = 0;
  const char *raw = si_dataset_charset_raw(ds, &len);
  if (len >= sizeof c->cs_raw)
    len = sizeof c->cs_raw - 1;
  if (c->cs_open && strlen(c->cs_raw) == len && memcmp(c->cs_raw, raw, len) == 0)
    return c->cs;
  si_charset_close(c->cs);
  c->cs = NULL;
  memcpy(c->cs_raw, raw, len);
  c->cs_raw[len] = '\0';
  c->cs_open = 1;
  if (si_charset_open(raw, len, &c->cs, NULL) != SI_OK)
    c->cs = NULL; /* unknown: decoded as the default repertoire; raw forms still apply */
  return c->cs;
}

static void scan_value(scan_ctx *c, const si_dataset *ds, const si_element *el) {
  /* A UN of a known tag is decoded as the dictionary says, as collection
   * does; a private UN stays bytes. */
  si_vr vr = el->vr == SI_VR_UN ? si_dict_implicit_vr(el->tag) : el->vr;
  if (si_vr_is_string(vr)) {
    char *text = NULL;
    size_t len = 0;
    const si_charset *cs = si_vr_is_text(vr) ? charset_for(c, ds) : NULL;
    if (si_charset_decode(cs, vr, el->value, el->value_len, &text, &len, NULL) != SI_OK) {
      c->oom = 1;
      return;
    }
    size_t flen = 0;
    char *folded = verify_fold(text, len, 0, &flen);
    free(text);
    if (!folded) {
      c->oom = 1;
      return;
    }
    search_text(c, (const uint8_t *)folded, flen);
    search_tokens(c, (const uint8_t *)folded, flen, 0, 0);
    free(folded);
  } else {
    search_tokens(c, el->value, el->value_len, 0, 0);
  }
  /* The value's own bytes, whatever its VR says: UTF-8 in a Latin-1 data
   * set, a name in an OB or UN private element. */
  search_forms(c, el->value, el->value_len, 0, 0);
}

/* A code string of the standard: CS in the stream and in the dictionary
 * (an identifying element written as CS is scanned like any other). */
static int code_string(const si_element *el) {
  if (el->vr != SI_VR_CS)
    return 0;
  const si_dict_entry *entry = si_dict_lookup(el->tag);
  return entry && entry->vr == SI_VR_CS;
}

static void scan_ds(scan_ctx *c, const si_dataset *ds, size_t prefix) {
  size_t count = si_dataset_count(ds);
  for (size_t i = 0; i < count && !c->oom; i++) {
    const si_element *el = si_dataset_at(ds, i);
    int n = snprintf(c->path + prefix, sizeof c->path - prefix, "(%04X,%04X)",
                     SI_TAG_GROUP(el->tag), SI_TAG_ELEMENT(el->tag));
    size_t here = prefix + (n > 0 ? (size_t)n : 0);
    if (here >= sizeof c->path - 16)
      here = prefix;
    /* Bulk sample data, the standard's code strings (defined terms such as
     * ORIGINAL\PRIMARY\PERFUSION, which a test patient may be named after)
     * and what the caller says outputs keep by design are neither decoded
     * nor read raw. */
    if (verify_is_bulk(el->tag) || code_string(el) || verify_kept(c->v, el->tag)) {
      uint64_t size =
          el->value_len ? el->value_len : (el->length == SI_UNDEFINED_LENGTH ? 0 : el->length);
      if (size)
        exclude(c, el->value_offset, el->value_offset + size);
      for (size_t k = 0; k < el->fragment_count; k++)
        exclude(c, el->fragments[k].offset, el->fragments[k].offset + 8 + el->fragments[k].length);
      continue;
    }
    if (el->items) {
      for (size_t k = 0; k < el->item_count; k++) {
        int m = snprintf(c->path + here, sizeof c->path - here, "[%zu].", k);
        scan_ds(c, el->items[k], here + (m > 0 ? (size_t)m : 0));
      }
      continue;
    }
    c->path[here] = '\0';
    uint64_t size =
        el->value_len ? el->value_len : ((el->flags & SI_ELEM_VALUE_SKIPPED) ? el->length : 0);
    if (!size)
      continue;
    size_t creator_len = 0;
    const char *creator = (SI_TAG_GROUP(el->tag) & 1) && SI_TAG_ELEMENT(el->tag) >= 0x1000
                              ? si_dataset_private_creator(ds, el->tag, &creator_len)
                              : NULL;
    char *creator_copy = creator ? strndup(creator, creator_len) : NULL;
    char *path_copy = strdup(c->path);
    if (!path_copy || (creator && !creator_copy) ||
        grow((void **)&c->leaves, &c->leaf_capacity, c->leaf_count, sizeof(leaf)) != 0) {
      free(path_copy);
      free(creator_copy);
      c->oom = 1;
      return;
    }
    leaf *l = &c->leaves[c->leaf_count++];
    *l = (leaf){el->value_offset, el->value_offset + size, path_copy, creator_copy};
    if (!el->value)
      continue; /* left in the file: the raw pass reads it */
    c->cur_path = l->path;
    c->cur_creator = l->creator;
    c->cur_start = l->start;
    c->cur_end = l->end;
    c->elem_first = c->hits->count;
    scan_value(c, ds, el);
  }
}

static int range_cmp(const void *a, const void *b) {
  const range *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

static int leaf_cmp(const void *a, const void *b) {
  const leaf *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

static void scan_raw(scan_ctx *c, const uint8_t *data, uint64_t size) {
  if (c->excluded_count)
    qsort(c->excluded, c->excluded_count, sizeof(range), range_cmp);
  if (c->leaf_count)
    qsort(c->leaves, c->leaf_count, sizeof(leaf), leaf_cmp);
  uint64_t at = 0;
  for (size_t i = 0; i <= c->excluded_count && !c->oom; i++) {
    uint64_t stop = i < c->excluded_count ? c->excluded[i].start : size;
    if (stop > size)
      stop = size;
    if (stop > at) {
      search_forms(c, data + at, (size_t)(stop - at), 1, at);
      search_tokens(c, data + at, (size_t)(stop - at), 1, at);
    }
    if (i < c->excluded_count && c->excluded[i].end > at)
      at = c->excluded[i].end;
  }
}

si_status si_verify_scan_memory(si_verify *v, const uint8_t *data, size_t size, const char *name,
                                si_verify_hits *hits, si_error *err) {
  scan_ctx *c = calloc(1, sizeof *c);
  if (!c)
    return si_error_set(err, SI_ERR_NOMEM, name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  c->v = v;
  c->name = name;
  c->hits = hits;
  c->first_hit = hits->count;
  si_file *file = NULL;
  si_error perr;
  si_error_clear(&perr);
  si_status parsed = si_read_memory(data, size, name, NULL, &file, &perr);
  uint64_t raw_end = size;
  if (parsed == SI_OK) {
    scan_ds(c, si_file_meta(file), 0);
    size_t meta_leaves = c->leaf_count, meta_excluded = c->excluded_count;
    scan_ds(c, si_file_dataset(file), 0);
    const si_file_info *info = si_file_get_info(file);
    /* A deflated data set's bytes are compressed: its decoded values were
     * scanned; only the preamble and meta are raw text, and the data set's
     * offsets are the inflated stream's, not the file's. */
    if (info->deflated) {
      raw_end = info->data_offset < size ? info->data_offset : size;
      for (size_t i = meta_leaves; i < c->leaf_count; i++) {
        free(c->leaves[i].path);
        free(c->leaves[i].creator);
      }
      c->leaf_count = meta_leaves;
      c->excluded_count = meta_excluded;
    }
  }
  if (!c->oom)
    scan_raw(c, data, raw_end);
  si_file_free(file);
  si_charset_close(c->cs);
  for (size_t i = 0; i < c->leaf_count; i++) {
    free(c->leaves[i].path);
    free(c->leaves[i].creator);
  }
  int oom = c->oom;
  free(c->leaves);
  free(c->excluded);
  free(c->notes);
  free(c);
  if (oom)
    return si_error_set(err, SI_ERR_NOMEM, name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (parsed != SI_OK) {
    if (err)
      *err = perr;
    return parsed;
  }
  return SI_OK;
}

si_status si_verify_scan_path(si_verify *v, const char *path, si_verify_hits *hits, si_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s",
                        strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "not a regular file");
  }
  size_t size = (size_t)st.st_size;
  const uint8_t *data = (const uint8_t *)"";
  void *map = NULL;
  if (size) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      close(fd);
      return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot map: %s",
                          strerror(errno));
    }
    data = map;
  }
  close(fd);
  si_status rc = si_verify_scan_memory(v, data, size, path, hits, err);
  if (map)
    munmap(map, size);
  return rc;
}

void si_verify_hits_free(si_verify_hits *hits) {
  if (!hits)
    return;
  for (size_t i = 0; i < hits->count; i++) {
    si_verify_hit *h = &hits->items[i];
    free(h->output);
    free(h->path);
    free(h->creator);
    free(h->value);
    free(h->original);
    free(h->original_path);
  }
  free(hits->items);
  hits->items = NULL;
  hits->count = hits->capacity = 0;
}
