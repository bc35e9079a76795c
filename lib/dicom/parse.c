/* The data set parser. One pass over the stream, elements appended to data
 * sets in an arena. Every declared length is checked against what the stream
 * can still deliver before anything is allocated, nesting is bounded, and
 * every failure names the stream, offset and tag. The Part 10 framing is in
 * part10.c, the entry points in read.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "sendit/dict.h"

/* The stream ends exactly between two elements inside a container whose
 * declared length says more follows: that is a cut file (DCMTK and pydicom
 * keep what was read; an import must not store it), so an error. */
static int ends_at_boundary(parser *p) {
  /* si_stream_at_end also says 1 when the read fails: only a real end of
   * stream (eof) is a cut. */
  return si_stream_avail(p->s) == 0 && si_stream_at_end(p->s, NULL) && p->s->eof;
}

static int memory_exceeded(const parser *p) {
  return p->max_memory && p->file->arena.total > p->max_memory;
}

si_status si_parse_fail(parser *p, si_status code, uint64_t offset, uint32_t tag,
                        const char *what) {
  return si_error_set(p->err, code, p->name, offset, tag, "%s", what);
}

si_status si_parse_nomem(parser *p, uint32_t tag) {
  return si_parse_fail(p, SI_ERR_NOMEM, p->s->offset, tag, "out of memory");
}

static si_status over_memory(parser *p, uint32_t tag) {
  return si_error_set(p->err, SI_ERR_LIMIT, p->name, p->s->offset, tag,
                      "the header takes more than %llu MiB of memory (the header-only bound)",
                      (unsigned long long)(p->max_memory >> 20));
}

/* A failure from the stream layer lacks the tag being read: add it. */
static si_status with_tag(parser *p, si_status st, uint32_t tag) {
  if (st != SI_OK && p->err && p->err->tag == SI_NO_TAG)
    p->err->tag = tag;
  return st;
}

si_dataset *si_parse_new_dataset(parser *p, const si_dataset *parent) {
  si_dataset *ds = si_arena_alloc(&p->file->arena, sizeof *ds, 1);
  if (ds) {
    ds->parent = parent;
    ds->sorted = 1;
  }
  return ds;
}

/* Returns the next free slot; the caller sets every field. */
si_element *si_parse_append_element(parser *p, si_dataset *ds) {
  if (ds->count == ds->capacity) {
    /* Top-level data sets of images hold 100-200 elements, items a few:
     * sized so the common file never regrows. */
    size_t cap = ds->capacity ? ds->capacity * 2 : ds->parent ? 16 : 192;
    si_element *grown = si_arena_alloc(&p->file->arena, cap * sizeof *grown, 0);
    if (!grown)
      return NULL;
    if (ds->count)
      memcpy(grown, ds->elements, ds->count * sizeof *grown);
    ds->elements = grown;
    ds->capacity = cap;
  }
  return &ds->elements[ds->count++];
}

/* Host order for binary numbers; AT is a pair of 16-bit numbers. */
static void to_host_order(uint8_t *v, size_t len, si_vr vr, int big_endian) {
  size_t unit = vr == SI_VR_AT ? 2 : si_vr_unit_size(vr);
  int host_big = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
  if (unit < 2 || big_endian == host_big)
    return;
  for (size_t i = 0; i + unit <= len; i += unit)
    for (size_t a = i, b = i + unit - 1; a < b; a++, b--) {
      uint8_t t = v[a];
      v[a] = v[b];
      v[b] = t;
    }
}

/* Reads a defined-length value. Never allocates more than the stream still
 * holds: with an unknown remainder (inflate) the buffer grows as data arrives. */
static si_status read_value(parser *p, uint32_t tag, uint32_t len, uint8_t **out) {
  *out = NULL;
  if (len == 0)
    return SI_OK;
  uint64_t at = p->s->offset;
  int64_t left = si_stream_remaining(p->s);
  if (left >= 0 && (uint64_t)left < len)
    return si_error_set(p->err, SI_ERR_TRUNCATED, p->name, at, tag,
                        "value length %u exceeds the %lld bytes left in the stream", len,
                        (long long)left);
  if (len > p->max_value)
    return si_error_set(p->err, SI_ERR_LIMIT, p->name, at, tag,
                        "value of %u bytes exceeds the limit of %llu", len,
                        (unsigned long long)p->max_value);
  /* The header-only bound holds before anything is allocated, not after. */
  if (p->max_memory && si_stream_avail(p->s) < len && p->file->arena.total + len > p->max_memory)
    return over_memory(p, tag);
  if (si_stream_avail(p->s) >= len) {
    /* The common case: the value is already buffered, and buffers live as
     * long as the file: point into it. */
    *out = (uint8_t *)si_stream_peek(p->s);
    si_stream_consume(p->s, len);
    return SI_OK;
  }
  if (left >= 0) {
    uint8_t *v = si_arena_alloc(&p->file->arena, (size_t)len, 0);
    if (!v)
      return si_parse_nomem(p, tag);
    si_status st = si_stream_copy(p->s, v, len, p->err);
    if (st != SI_OK)
      return with_tag(p, st, tag);
    *out = v;
    return SI_OK;
  }
  size_t cap = len < 65536 ? len : 65536, have = 0;
  uint8_t *tmp = malloc(cap + 1);
  while (tmp && have < len) {
    if (have == cap) {
      cap = (len - cap < cap) ? len : cap * 2;
      uint8_t *grown = realloc(tmp, cap + 1);
      if (!grown) {
        free(tmp);
        tmp = NULL;
        break;
      }
      tmp = grown;
    }
    size_t step = cap - have;
    si_status st = si_stream_copy(p->s, tmp + have, step, p->err);
    if (st != SI_OK) {
      free(tmp);
      return with_tag(p, st, tag);
    }
    have += step;
  }
  if (!tmp)
    return si_parse_nomem(p, tag);
  uint8_t *v = si_arena_alloc(&p->file->arena, (size_t)len, 0);
  if (v)
    memcpy(v, tmp, len);
  free(tmp);
  if (!v)
    return si_parse_nomem(p, tag);
  *out = v;
  return SI_OK;
}

typedef struct item_header {
  uint32_t tag;
  uint32_t length;
  uint64_t offset;
} item_header;

static si_status read_item_header(parser *p, encoding enc, uint32_t parent_tag, item_header *h) {
  h->offset = p->s->offset;
  si_status st = si_stream_need(p->s, 8, p->err);
  if (st != SI_OK)
    return with_tag(p, st, parent_tag);
  const uint8_t *b = si_stream_peek(p->s);
  h->tag = (uint32_t)rd16(b, enc.big_endian) << 16 | rd16(b + 2, enc.big_endian);
  h->length = rd32(b + 4, enc.big_endian);
  si_stream_consume(p->s, 8);
  return SI_OK;
}

/* A value the writer will copy from the file instead of memory. */
static int leaves_in_file(const parser *p, uint64_t length) {
  return p->leave && length > p->leave && !p->file->info.deflated;
}

static int past_end(parser *p, uint64_t end) { return end != NO_END && p->s->offset >= end; }

/* Encapsulated pixel data: items holding fragments, ended by a sequence
 * delimiter (PS3.5 A.4). */
static si_status parse_fragments(parser *p, si_element *el, encoding enc) {
  size_t cap = 0;
  for (;;) {
    item_header h;
    si_status st = read_item_header(p, enc, el->tag, &h);
    if (st != SI_OK)
      return st;
    if (h.tag == SI_TAG_SEQ_DELIM)
      return SI_OK;
    if (h.tag != SI_TAG_ITEM)
      return si_error_set(p->err, SI_ERR_FORMAT, p->name, h.offset, el->tag,
                          "expected a fragment item (FFFE,E000) in encapsulated data, found "
                          "(%04X,%04X)",
                          (unsigned)(h.tag >> 16), (unsigned)(h.tag & 0xFFFF));
    if (h.length == SI_UNDEFINED_LENGTH)
      return si_parse_fail(p, SI_ERR_FORMAT, h.offset, el->tag, "fragment with undefined length");
    if (memory_exceeded(p))
      return over_memory(p, el->tag);
    if (el->fragment_count == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      si_fragment *grown = si_arena_alloc(&p->file->arena, ncap * sizeof *grown, 0);
      if (!grown)
        return si_parse_nomem(p, el->tag);
      if (cap)
        memcpy(grown, el->fragments, el->fragment_count * sizeof *grown);
      el->fragments = grown;
      cap = ncap;
    }
    uint8_t *bytes = NULL;
    /* Header-only reads skip big fragments as they skip big values: an
     * undefined-length private OB before Pixel Data could otherwise hold
     * a fragment of gigabytes (the fragment keeps offset and length). */
    int skip = p->header_only && h.length > p->max_kept;
    if (skip)
      el->flags |= SI_ELEM_VALUE_SKIPPED;
    if (skip || leaves_in_file(p, h.length)) {
      int64_t left = si_stream_remaining(p->s);
      if (left >= 0 && (uint64_t)left < h.length)
        return si_error_set(p->err, SI_ERR_TRUNCATED, p->name, p->s->offset, el->tag,
                            "fragment length %u exceeds the %lld bytes left in the stream",
                            h.length, (long long)left);
      st = with_tag(p, si_stream_skip(p->s, h.length, p->err), el->tag);
    } else {
      st = read_value(p, el->tag, h.length, &bytes);
    }
    if (st != SI_OK)
      return st;
    el->fragments[el->fragment_count++] = (si_fragment){h.offset, h.length, bytes};
  }
}

static si_status parse_sequence(parser *p, si_element *el, si_dataset *ds, encoding enc,
                                uint32_t depth) {
  if (depth + 1 > p->max_depth)
    return si_error_set(p->err, SI_ERR_LIMIT, p->name, el->offset, el->tag,
                        "sequences nested deeper than %u", p->max_depth);
  if (depth + 1 > p->file->info.max_depth_seen)
    p->file->info.max_depth_seen = depth + 1;
  uint64_t end = el->length == SI_UNDEFINED_LENGTH ? NO_END : p->s->offset + el->length;
  size_t cap = 0;
  while (!past_end(p, end)) {
    if (end != NO_END && ends_at_boundary(p))
      return si_error_set(p->err, SI_ERR_TRUNCATED, p->name, p->s->offset, el->tag,
                          "stream ends %llu bytes before the end of the sequence's declared "
                          "length: the file is cut",
                          (unsigned long long)(end - p->s->offset));
    item_header h;
    si_status st = read_item_header(p, enc, el->tag, &h);
    if (st != SI_OK)
      return st;
    if (h.tag == SI_TAG_SEQ_DELIM) {
      if (end == NO_END)
        return SI_OK;
      continue; /* stray delimiter inside a defined-length sequence: harmless */
    }
    if (h.tag != SI_TAG_ITEM)
      return si_error_set(p->err, SI_ERR_FORMAT, p->name, h.offset, el->tag,
                          "expected an item (FFFE,E000) in the sequence, found (%04X,%04X)",
                          (unsigned)(h.tag >> 16), (unsigned)(h.tag & 0xFFFF));
    si_dataset *item = si_parse_new_dataset(p, ds);
    if (!item)
      return si_parse_nomem(p, el->tag);
    if (el->item_count == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      si_dataset **grown = si_arena_alloc(&p->file->arena, ncap * sizeof *grown, 0);
      if (!grown)
        return si_parse_nomem(p, el->tag);
      if (cap)
        memcpy(grown, el->items, el->item_count * sizeof *grown);
      el->items = grown;
      cap = ncap;
    }
    el->items[el->item_count++] = item;
    item->undefined_length = h.length == SI_UNDEFINED_LENGTH;
    uint64_t item_end = h.length == SI_UNDEFINED_LENGTH ? NO_END : p->s->offset + h.length;
    if (item_end != NO_END && end != NO_END && item_end > end) {
      /* The sequence's own length is wrong (some DICOMDIR writers); the
       * item lengths are trusted, as DCMTK and pydicom do. */
      p->file->info.warnings |= SI_WARN_LENGTH_MISMATCH;
      end = item_end;
    }
    int delimited = 0;
    st = si_parse_dataset(p, item, enc, item_end, depth + 1, &delimited);
    if (st != SI_OK)
      return with_tag(p, st, el->tag);
    if (item_end == NO_END && !delimited)
      return si_parse_fail(p, SI_ERR_TRUNCATED, p->s->offset, el->tag,
                           "item of undefined length has no item delimiter");
  }
  if (end != NO_END && p->s->offset != end)
    return si_error_set(p->err, SI_ERR_FORMAT, p->name, p->s->offset, el->tag,
                        "sequence content overruns its length of %u bytes", el->length);
  return SI_OK;
}

/* PS3.5 7.1.2: VRs whose explicit encoding has a 32-bit length; a local
 * table because this runs once per element. */
static const unsigned char long_length[SI_VR_COUNT] = {
    [SI_VR_OB] = 1, [SI_VR_OD] = 1, [SI_VR_OF] = 1, [SI_VR_OL] = 1, [SI_VR_OV] = 1,
    [SI_VR_OW] = 1, [SI_VR_SQ] = 1, [SI_VR_SV] = 1, [SI_VR_UC] = 1, [SI_VR_UN] = 1,
    [SI_VR_UR] = 1, [SI_VR_UT] = 1, [SI_VR_UV] = 1};

si_status si_parse_element_header(parser *p, encoding enc, element_header *h) {
  si_status st = si_stream_need(p->s, 8, p->err);
  if (st != SI_OK)
    return st;
  const uint8_t *b = si_stream_peek(p->s);
  h->tag = (uint32_t)rd16(b, enc.big_endian) << 16 | rd16(b + 2, enc.big_endian);
  h->flags = 0;
  if (SI_TAG_GROUP(h->tag) == 0xFFFE) {
    h->vr = SI_VR_NONE;
    h->length = rd32(b + 4, enc.big_endian);
    h->size = 8;
    return SI_OK;
  }
  if (enc.explicit_vr) {
    si_vr vr = si_vr_from_chars((char)b[4], (char)b[5]);
    if (vr != SI_VR_NONE) {
      h->vr = vr;
      if (long_length[vr]) {
        st = si_stream_need(p->s, 12, p->err);
        if (st != SI_OK)
          return with_tag(p, st, h->tag);
        b = si_stream_peek(p->s);
        h->length = rd32(b + 8, enc.big_endian);
        h->size = 12;
      } else {
        h->length = rd16(b + 6, enc.big_endian);
        h->size = 8;
      }
      return SI_OK;
    }
    /* Not a VR: some writers mix implicit elements into explicit data sets. */
    h->flags |= SI_ELEM_VR_CORRECTED;
    p->file->info.warnings |= SI_WARN_BAD_VR;
  }
  h->vr = si_dict_implicit_vr(h->tag);
  h->length = rd32(b + 4, enc.big_endian);
  h->size = 8;
  h->flags |= SI_ELEM_IMPLICIT_VR;
  return SI_OK;
}

/* PS3.5 6.2.2: an explicit UN of a known, non-private tag may be read with
 * the dictionary's VR, as DCMTK and pydicom do: gateways that lost the VR
 * write whole data sets so. Returns the VR to read the value as. */
static si_vr un_dictionary_vr(parser *p, const si_element *el) {
  if (SI_TAG_GROUP(el->tag) & 1 || SI_TAG_GROUP(el->tag) == 0xFFFE)
    return SI_VR_UN;
  si_vr vr = si_dict_implicit_vr(el->tag);
  if (vr == SI_VR_UN || vr == SI_VR_NONE)
    return SI_VR_UN;
  if (vr == SI_VR_SQ) {
    /* The items are implicit VR LE: an empty value, or one starting with an
     * item tag; anything else stays UN rather than failing the file. */
    if (el->length == 0)
      return vr;
    if (el->length < 8 || si_stream_need(p->s, 4, NULL) != SI_OK)
      return SI_VR_UN;
    static const uint8_t item_le[4] = {0xFE, 0xFF, 0x00, 0xE0};
    return memcmp(si_stream_peek(p->s), item_le, 4) == 0 ? vr : SI_VR_UN;
  }
  size_t unit = vr == SI_VR_AT ? 4 : si_vr_unit_size(vr);
  return unit > 1 && el->length % unit ? SI_VR_UN : vr;
}

/* Header-only: a long value the caller does not need is passed over without
 * being kept, so memory stays flat whatever length the file declares. */
static si_status skip_value(parser *p, si_element *el) {
  int64_t left = si_stream_remaining(p->s);
  if (left >= 0 && (uint64_t)left < el->length)
    return si_error_set(p->err, SI_ERR_TRUNCATED, p->name, p->s->offset, el->tag,
                        "value length %u exceeds the %lld bytes left in the stream", el->length,
                        (long long)left);
  el->flags |= SI_ELEM_VALUE_SKIPPED;
  el->value_offset = p->s->offset;
  return with_tag(p, si_stream_skip(p->s, el->length, p->err), el->tag);
}

si_status si_parse_value(parser *p, si_dataset *ds, si_element *el, encoding enc, uint32_t depth) {
  if (el->vr == SI_VR_UN && el->length != SI_UNDEFINED_LENGTH) {
    si_vr vr = un_dictionary_vr(p, el);
    if (vr != SI_VR_UN) {
      el->vr = vr;
      el->flags |= SI_ELEM_UN_DECODED;
      if (vr == SI_VR_SQ)
        return parse_sequence(p, el, ds, (encoding){0, 0}, depth);
    }
  }
  if (el->length == SI_UNDEFINED_LENGTH) {
    el->flags |= SI_ELEM_UNDEFINED_LENGTH;
    if (el->vr == SI_VR_SQ)
      return parse_sequence(p, el, ds, enc, depth);
    if (el->vr == SI_VR_UN || (el->flags & SI_ELEM_IMPLICIT_VR && el->tag != SI_TAG_PIXEL_DATA)) {
      /* PS3.5 6.2.2: UN of undefined length holds an implicit VR LE sequence. */
      if (el->vr == SI_VR_UN)
        el->flags |= SI_ELEM_UN_AS_IMPLICIT;
      el->vr = SI_VR_SQ;
      encoding implicit = {0, 0};
      return parse_sequence(p, el, ds, el->flags & SI_ELEM_UN_AS_IMPLICIT ? implicit : enc, depth);
    }
    if (el->vr == SI_VR_OB || el->vr == SI_VR_OW || el->flags & SI_ELEM_IMPLICIT_VR) {
      el->flags |= SI_ELEM_ENCAPSULATED;
      return parse_fragments(p, el, enc);
    }
    return si_parse_fail(p, SI_ERR_FORMAT, el->offset, el->tag,
                         "undefined length on a non-sequence VR");
  }
  if (el->length & 1) {
    el->flags |= SI_ELEM_ODD_LENGTH;
    p->file->info.warnings |= SI_WARN_ODD_LENGTH;
  }
  if (el->vr == SI_VR_SQ)
    return parse_sequence(p, el, ds, enc, depth);
  if ((p->header_only && el->length > p->max_kept) || leaves_in_file(p, el->length)) {
    if (enc.big_endian)
      el->flags |= SI_ELEM_SOURCE_BIG_ENDIAN;
    return skip_value(p, el);
  }
  el->value_offset = p->s->offset;
  uint8_t *v;
  if (el->length <= si_stream_avail(p->s) && el->length <= p->max_value) {
    /* Hot path: the value is in the buffer, which lives as long as the file. */
    v = el->length ? (uint8_t *)si_stream_peek(p->s) : NULL;
    si_stream_consume(p->s, el->length);
  } else {
    si_status st = read_value(p, el->tag, el->length, &v);
    if (st != SI_OK)
      return st;
  }
  el->value = v;
  el->value_len = el->length;
  if (v && enc.big_endian)
    to_host_order(v, el->value_len, el->vr, enc.big_endian);
  if (el->tag == SI_TAG_SPECIFIC_CHARSET) {
    ds->charset = v;
    ds->charset_len = el->value_len;
  }
  return SI_OK;
}

/* What may follow the last top-level element (README, "Reading DICOM"):
 * nothing, or zero bytes (padding some writers add). Anything else left over
 * -- part of an element header -- means the file was cut: an error naming
 * where the cut element starts and, when its tag was complete, the tag. */
static si_status check_partial_header(parser *p, uint64_t at) {
  size_t n = si_stream_avail(p->s);
  const uint8_t *b = si_stream_peek(p->s);
  size_t zero = 0;
  while (zero < n && b[zero] == 0)
    zero++;
  si_error_clear(p->err);
  if (zero == n) {
    p->file->info.warnings |= SI_WARN_TRAILING_BYTES;
    si_stream_consume(p->s, n);
    return SI_OK;
  }
  uint32_t tag = n >= 4 ? (uint32_t)rd16(b, p->file->info.big_endian) << 16 |
                              rd16(b + 2, p->file->info.big_endian)
                        : SI_NO_TAG;
  return si_error_set(p->err, SI_ERR_TRUNCATED, p->name, at, tag,
                      "stream ends %zu bytes into an element header: the file is cut", n);
}

/* Eight zero bytes where the next top-level element would start: zero
 * padding when nothing but zeros follows (benign, a warning); zeros
 * followed by data are no element DICOM knows of, so an error. */
static si_status check_zero_padding(parser *p, uint64_t at, int *padding) {
  *padding = 0;
  const uint8_t *b = si_stream_peek(p->s);
  static const uint8_t zero8[8];
  if (memcmp(b, zero8, 8) != 0)
    return SI_OK;
  int all_zero;
  si_status st = si_stream_rest_is_zero(p->s, &all_zero, p->err);
  if (st != SI_OK)
    return st;
  if (!all_zero)
    return si_parse_fail(p, SI_ERR_FORMAT, at, SI_NO_TAG,
                         "zero bytes followed by other data after the last element");
  p->file->info.warnings |= SI_WARN_TRAILING_BYTES;
  *padding = 1;
  return SI_OK;
}

/* A header-only read stops at an element without reading its value. A file
 * cut inside that value (typically Pixel Data) must still fail: the value's
 * extent is compared with the file's size, and for encapsulated pixel data
 * the fragment item headers are followed by seeking over the fragments.
 * Streams of unknown size (deflated data sets) are not checked. */
static si_status check_unread_value(parser *p, const element_header *h, encoding enc, uint64_t at) {
  int64_t left = si_stream_remaining(p->s);
  if (left < 0)
    return SI_OK;
  if (h->length != SI_UNDEFINED_LENGTH) {
    if ((uint64_t)left >= h->size + (uint64_t)h->length)
      return SI_OK;
    return si_error_set(p->err, SI_ERR_TRUNCATED, p->name, at, h->tag,
                        "the file ends %llu bytes into the value of %u bytes that the "
                        "header-only read stopped at: the file is cut",
                        (unsigned long long)((uint64_t)left > h->size ? left - h->size : 0),
                        h->length);
  }
  if (SI_TAG_GROUP(h->tag) != 0x7FE0 || h->vr == SI_VR_SQ)
    return SI_OK;
  si_stream_consume(p->s, h->size);
  for (uint32_t n = 0; n < MAX_CHECKED_FRAGMENTS; n++) {
    uint8_t b[8];
    uint64_t item_at = p->s->offset;
    si_status st = si_stream_copy(p->s, b, 8, p->err);
    if (st == SI_OK) {
      uint32_t tag = (uint32_t)rd16(b, enc.big_endian) << 16 | rd16(b + 2, enc.big_endian);
      uint32_t len = rd32(b + 4, enc.big_endian);
      if (tag == SI_TAG_SEQ_DELIM)
        return SI_OK;
      if (tag != SI_TAG_ITEM || len == SI_UNDEFINED_LENGTH)
        return si_error_set(p->err, SI_ERR_FORMAT, p->name, item_at, h->tag,
                            "expected a fragment item (FFFE,E000) in encapsulated data, "
                            "found (%04X,%04X)",
                            (unsigned)(tag >> 16), (unsigned)(tag & 0xFFFF));
      st = si_stream_skip(p->s, len, p->err);
    }
    if (st != SI_OK)
      return with_tag(p, st, h->tag);
  }
  return SI_OK;
}

si_status si_parse_dataset(parser *p, si_dataset *ds, encoding enc, uint64_t end, uint32_t depth,
                           int *ended_by_delimiter) {
  uint32_t previous = 0;
  *ended_by_delimiter = 0;
  for (;;) {
    if (past_end(p, end)) {
      if (p->s->offset > end)
        return si_parse_fail(p, SI_ERR_FORMAT, p->s->offset, SI_NO_TAG,
                             "element overruns its item");
      return SI_OK;
    }
    if (memory_exceeded(p))
      return over_memory(p, SI_NO_TAG);
    if (end != NO_END && depth > 0 && ends_at_boundary(p))
      return si_parse_fail(
          p, SI_ERR_TRUNCATED, p->s->offset, SI_NO_TAG,
          "stream ends before the end of the item's declared length: the file is cut");
    if (end == NO_END && depth == 0 && si_stream_avail(p->s) == 0 && si_stream_at_end(p->s, p->err))
      return p->err && p->err->code != SI_OK ? p->err->code : SI_OK;
    uint64_t at = p->s->offset;
    if (depth == 0 && end == NO_END && ds->count > 0 && si_stream_need(p->s, 8, NULL) == SI_OK) {
      int padding;
      si_status st = check_zero_padding(p, at, &padding);
      if (st != SI_OK || padding)
        return st;
    }
    element_header h;
    si_status st = si_parse_element_header(p, enc, &h);
    if (st != SI_OK) {
      if (st == SI_ERR_TRUNCATED && depth == 0 && end == NO_END && si_stream_avail(p->s) < 12)
        return check_partial_header(p, at);
      return st;
    }
    if (depth == 0 && p->stop_tag && h.tag >= p->stop_tag && SI_TAG_GROUP(h.tag) != 0xFFFE) {
      p->file->info.stopped_early = 1;
      p->stop_offset = at;
      return check_unread_value(p, &h, enc, at);
    }
    si_stream_consume(p->s, h.size);
    if (h.tag == SI_TAG_ITEM_DELIM) {
      if (depth > 0) {
        *ended_by_delimiter = 1;
        return SI_OK;
      }
      p->file->info.warnings |= SI_WARN_TRAILING_BYTES;
      continue;
    }
    if (SI_TAG_GROUP(h.tag) == 0xFFFE) {
      if (depth == 0 && h.tag == SI_TAG_SEQ_DELIM) {
        p->file->info.warnings |= SI_WARN_TRAILING_BYTES;
        continue;
      }
      return si_error_set(p->err, SI_ERR_FORMAT, p->name, at, h.tag,
                          "unexpected item or delimiter tag in a data set");
    }
    if (h.tag <= previous && ds->count > 0) {
      ds->sorted = 0;
      p->file->info.warnings |= SI_WARN_OUT_OF_ORDER;
    }
    previous = h.tag;
    si_element *el = si_parse_append_element(p, ds);
    if (!el)
      return si_parse_nomem(p, h.tag);
    *el =
        (si_element){.tag = h.tag, .vr = h.vr, .length = h.length, .flags = h.flags, .offset = at};
    st = si_parse_value(p, ds, el, enc, depth);
    if (st != SI_OK)
      return st;
  }
}
