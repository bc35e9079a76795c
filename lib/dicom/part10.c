/* Part 10 framing around the data set: preamble, file meta information,
 * the transfer syntax (checked against the bytes), deflate. */
#include <stdio.h>
#include <string.h>

#include "parser.h"

static int is_vr_chars(const uint8_t *b) { return si_vr_from_chars((char)b[0], (char)b[1]) != 0; }

/* Guesses the encoding of a data set from its first element header (8+
 * bytes available). Returns 0 when the bytes do not look like DICOM. */
static int guess_encoding(const uint8_t *b, size_t avail, int64_t remaining, encoding *enc) {
  if (avail < 8)
    return 0;
  uint16_t group_le = rd16(b, 0), group_be = rd16(b, 1);
  /* Raw data sets start with a low even group: command (0000), meta (0002),
   * directory (0004) or identification (0008), at most a few groups on. */
  int le_ok = group_le <= 0x0028 && !(group_le & 1);
  int be_ok = group_be <= 0x0028 && !(group_be & 1) && group_be != group_le;
  if (!le_ok && !be_ok)
    return 0;
  enc->big_endian = !le_ok;
  /* A group length element is a 4-byte UL; zeros (or other filler) are not. */
  if (rd16(b + 2, enc->big_endian) == 0x0000 && rd32(b + 4, enc->big_endian) != 4 &&
      !(is_vr_chars(b + 4) && rd16(b + 6, enc->big_endian) == 4))
    return 0;
  if (is_vr_chars(b + 4)) {
    enc->explicit_vr = 1;
    return 1;
  }
  enc->explicit_vr = 0;
  uint32_t len = rd32(b + 4, enc->big_endian);
  return len == SI_UNDEFINED_LENGTH || remaining < 0 || (int64_t)len <= remaining;
}

/* The meta so far names Explicit VR Big Endian. */
static int big_endian_meta(const si_dataset *meta) {
  const si_element *ts = si_dataset_find(meta, SI_TAG_TRANSFER_SYNTAX);
  if (!ts || !ts->value)
    return 0;
  size_t n = ts->value_len;
  while (n && (ts->value[n - 1] == 0 || ts->value[n - 1] == ' '))
    n--;
  return n == strlen(SI_TS_EXPLICIT_BE) && memcmp(ts->value, SI_TS_EXPLICIT_BE, n) == 0;
}

static si_status parse_meta(parser *p, si_dataset *meta) {
  encoding enc = {1, 0};
  uint32_t previous = 0;
  uint64_t meta_end = UINT64_MAX; /* where (0002,0000) says the meta ends */
  /* PS3.10 7.1: the meta is explicit VR LE. Old writers put it in implicit
   * VR, which its first element shows; an invalid VR after explicit ones is
   * garbage (read as implicit, its "length" may swallow the file). */
  int explicit_meta = -1;
  for (;;) {
    if (si_stream_need(p->s, 8, NULL) != SI_OK) {
      if (si_stream_avail(p->s) == 0)
        return SI_OK; /* the stream ends right after the meta: no data set */
      const uint8_t *partial = si_stream_peek(p->s);
      uint32_t tag =
          si_stream_avail(p->s) >= 4 ? SI_TAG(rd16(partial, 0), rd16(partial + 2, 0)) : SI_NO_TAG;
      return si_parse_fail(p, SI_ERR_TRUNCATED, p->s->offset, tag,
                           "stream ends inside a file meta element header");
    }
    const uint8_t *b = si_stream_peek(p->s);
    if (rd16(b, 0) != 0x0002)
      return SI_OK;
    uint64_t at = p->s->offset;
    if (at == meta_end && big_endian_meta(meta))
      /* A big endian data set may start with group 0200, whose bytes read
       * as 0002 little endian: the meta's group length says where it ends. */
      return SI_OK;
    element_header h;
    uint8_t vr_bytes[2] = {b[4], b[5]};
    si_status st = si_parse_element_header(p, enc, &h);
    if (st != SI_OK)
      return st;
    int explicit_here = !(h.flags & SI_ELEM_VR_CORRECTED);
    if (explicit_meta < 0)
      explicit_meta = explicit_here;
    else if (explicit_meta && !explicit_here)
      return si_error_set(p->err, SI_ERR_FORMAT, p->name, at, h.tag,
                          "invalid VR (bytes %02X %02X) in the explicit VR file meta information",
                          vr_bytes[0], vr_bytes[1]);
    si_stream_consume(p->s, h.size);
    if (h.tag <= previous && meta->count)
      meta->sorted = 0;
    previous = h.tag;
    si_element *el = si_parse_append_element(p, meta);
    if (!el)
      return si_parse_nomem(p, h.tag);
    *el =
        (si_element){.tag = h.tag, .vr = h.vr, .length = h.length, .flags = h.flags, .offset = at};
    if (h.length == SI_UNDEFINED_LENGTH && h.vr != SI_VR_SQ && h.vr != SI_VR_UN)
      return si_parse_fail(p, SI_ERR_FORMAT, at, h.tag,
                           "undefined length in the file meta information");
    st = si_parse_value(p, meta, el, enc, 0);
    if (st != SI_OK)
      return st;
    if (h.tag == SI_TAG(0x0002, 0x0000) && el->value_len == 4)
      meta_end = p->s->offset + rd32(el->value, 0);
  }
}

static void copy_trimmed_uid(char out[65], const uint8_t *v, size_t len) {
  while (len && (v[len - 1] == 0 || v[len - 1] == ' '))
    len--;
  while (len && *v == ' ') {
    v++;
    len--;
  }
  if (len > 64)
    len = 64;
  memcpy(out, v, len);
  out[len] = 0;
}

/* Decides the data set encoding from the meta's transfer syntax, checking it
 * against the first data set element: files that say explicit but are
 * implicit (and the reverse) exist, and readers that trust the label fail. */
static si_status choose_encoding(parser *p, encoding *enc) {
  si_file_info *info = &p->file->info;
  const si_element *ts_el = si_dataset_find(p->file->meta, SI_TAG_TRANSFER_SYNTAX);
  const si_ts_props *ts = NULL;
  if (ts_el && ts_el->value) {
    copy_trimmed_uid(info->transfer_syntax, ts_el->value, ts_el->value_len);
    ts = si_ts_lookup(info->transfer_syntax);
    if (!ts)
      info->warnings |= SI_WARN_UNKNOWN_TS;
  } else if (info->has_meta) {
    info->warnings |= SI_WARN_NO_TS;
  }
  int have = si_stream_need(p->s, 8, NULL) == SI_OK;
  const uint8_t *first = si_stream_peek(p->s);
  if (ts) {
    *enc = (encoding){ts->explicit_vr, ts->big_endian};
    info->deflated = ts->deflated;
    info->encapsulated = ts->encapsulated;
    if (have && !ts->deflated && enc->explicit_vr != is_vr_chars(first + 4)) {
      /* Mislabelled data set: the bytes win over the label. */
      encoding guessed;
      if (guess_encoding(first, si_stream_avail(p->s), si_stream_remaining(p->s), &guessed) &&
          guessed.big_endian == enc->big_endian) {
        enc->explicit_vr = guessed.explicit_vr;
        info->warnings |= SI_WARN_BAD_VR;
      }
    }
  } else if (have && guess_encoding(first, si_stream_avail(p->s), si_stream_remaining(p->s), enc)) {
    if (!info->transfer_syntax[0])
      snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s",
               enc->big_endian    ? SI_TS_EXPLICIT_BE
               : enc->explicit_vr ? SI_TS_EXPLICIT_LE
                                  : SI_TS_IMPLICIT_LE);
  } else if (info->has_meta) {
    /* Meta without a usable transfer syntax and odd first elements: the
     * bytes still tell explicit from implicit. */
    *enc = (encoding){have ? is_vr_chars(first + 4) : 1, 0};
    snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s",
             enc->explicit_vr ? SI_TS_EXPLICIT_LE : SI_TS_IMPLICIT_LE);
  } else {
    return si_parse_fail(
        p, SI_ERR_NOT_DICOM, p->s->offset, SI_NO_TAG,
        have ? "not a DICOM file: no preamble, no file meta and no plausible data set"
             : "not a DICOM file: too short to hold a data element");
  }
  info->explicit_vr = enc->explicit_vr;
  info->big_endian = enc->big_endian;
  return SI_OK;
}

/* A file with elements but an empty data set lost it somewhere (a meta
 * element whose length spans the rest, a cut right after the meta): the
 * import must not take it for an image. */
static si_status check_not_empty(parser *p) {
  if (p->file->dataset->count > 0 || p->file->info.stopped_early)
    return SI_OK;
  return si_parse_fail(p, SI_ERR_FORMAT, p->file->info.data_offset, SI_NO_TAG,
                       "no data set after the file meta information");
}

/* A bare data set: no preamble, no meta; the caller named the syntax. */
static si_status parse_bare(parser *p, encoding *enc) {
  si_file_info *info = &p->file->info;
  snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s", p->bare->uid);
  *enc = (encoding){p->bare->explicit_vr, p->bare->big_endian};
  info->explicit_vr = enc->explicit_vr;
  info->big_endian = enc->big_endian;
  info->deflated = p->bare->deflated;
  info->encapsulated = p->bare->encapsulated;
  info->warnings |= SI_WARN_NO_PREAMBLE | SI_WARN_NO_META;
  return SI_OK;
}

si_status si_parse_part10(parser *p) {
  si_file_info *info = &p->file->info;
  si_stream *s = p->s;
  encoding enc;
  si_status st;
  if (p->bare) {
    st = parse_bare(p, &enc);
    goto data_set;
  }
  si_stream_need(s, 132, NULL);
  const uint8_t *b = si_stream_peek(s);
  size_t avail = si_stream_avail(s);
  if (avail >= 132 && memcmp(b + 128, "DICM", 4) == 0) {
    info->has_preamble = 1;
    si_stream_consume(s, 132);
  } else if (avail >= 4 && memcmp(b, "DICM", 4) == 0) {
    info->warnings |= SI_WARN_NO_PREAMBLE;
    si_stream_consume(s, 4);
  } else {
    info->warnings |= SI_WARN_NO_PREAMBLE;
  }
  /* The meta is small and read for its values (the transfer syntax above
   * all): nothing of it stays in the file. */
  uint64_t leave = p->leave;
  p->leave = 0;
  st = parse_meta(p, p->file->meta);
  p->leave = leave;
  if (st != SI_OK)
    return st;
  info->has_meta = p->file->meta->count > 0;
  if (!info->has_meta)
    info->warnings |= SI_WARN_NO_META;
  else if (!si_dataset_find(p->file->meta, SI_TAG(0x0002, 0x0000)))
    info->warnings |= SI_WARN_META_GROUP_LENGTH;
  if (info->has_preamble && !info->has_meta)
    return si_parse_fail(p, SI_ERR_FORMAT, s->offset, SI_NO_TAG,
                         "DICM prefix without file meta group");
  st = choose_encoding(p, &enc);
data_set:
  if (st != SI_OK)
    return st;
  info->data_offset = s->offset;
  if (!info->deflated) {
    int delimited;
    st = si_parse_dataset(p, p->file->dataset, enc, NO_END, 0, &delimited);
    return st != SI_OK ? st : check_not_empty(p);
  }
  si_io *inflated;
  const int *cut;
  st = si_inflate_io_open(s, &inflated, &cut, p->err);
  if (st != SI_OK)
    return st;
  si_stream inner;
  st = si_stream_init(&inner, inflated, &p->file->arena, 0, p->err);
  if (st == SI_OK) {
    p->s = &inner;
    int delimited;
    st = si_parse_dataset(p, p->file->dataset, enc, NO_END, 0, &delimited);
    if (st == SI_OK && *cut)
      /* A header-only read stopped early, but what it read ahead already
       * showed the compressed data to be cut. */
      st = si_parse_fail(
          p, SI_ERR_TRUNCATED, s->offset, SI_NO_TAG,
          "deflated data set ends before the end of its compressed stream: the file is cut");
    p->s = s;
    info->end_offset = info->stopped_early ? p->stop_offset : inner.offset;
  }
  si_io_close(inflated);
  return st != SI_OK ? st : check_not_empty(p);
}
