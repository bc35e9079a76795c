/* The writer: data sets and Part 10 files in the four uncompressed transfer
 * syntaxes, or unconverted in an encapsulated one. Values come from memory
 * or, when the read left them in the file, straight from the source file.
 * The output is write_sink.c, the file meta write_meta.c.
 * Behaviour and choices: include/sendit/write.h. */

#include "sendit/write.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "write_internal.h"
#include "sendit/dict.h"

#ifndef SENDIT_VERSION
#define SENDIT_VERSION "0.1.0"
#endif

#define COPY_CHUNK ((size_t)1 << 20) /* pread/swap step for values in the source */
#define MAX_16BIT_VALUE 0xFFFEu      /* longest even value a 16-bit length holds */

void si_write_options_init(si_write_options *opts) { memset(opts, 0, sizeof *opts); }

const char *si_implementation_version_name(void) { return "SENDIT_" SENDIT_VERSION; }

/* ---- the writer ---- */

typedef struct writer {
  sink *o;
  int explicit_vr, big_endian;
  si_seq_form seq;
  const si_file *file;
  int src_fd; /* opened on the first value left in the file */
  uint8_t *chunk;
  si_error *err;
} writer;

static const int host_big = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;

static si_status put16(writer *w, uint16_t v) {
  uint8_t b[2];
  if (w->big_endian)
    b[0] = (uint8_t)(v >> 8), b[1] = (uint8_t)v;
  else
    b[0] = (uint8_t)v, b[1] = (uint8_t)(v >> 8);
  return si_sink_put(w->o, b, 2);
}

static si_status put32(writer *w, uint32_t v) {
  si_status st = put16(w, w->big_endian ? (uint16_t)(v >> 16) : (uint16_t)v);
  return st != SI_OK ? st : put16(w, w->big_endian ? (uint16_t)v : (uint16_t)(v >> 16));
}

static si_status put_tag(writer *w, uint32_t tag) {
  si_status st = put16(w, SI_TAG_GROUP(tag));
  return st != SI_OK ? st : put16(w, SI_TAG_ELEMENT(tag));
}

/* Units to swap: AT is a pair of 16-bit numbers; 1 = never swapped. */
static size_t swap_unit(si_vr vr) {
  if (vr == SI_VR_AT)
    return 2;
  if (vr == SI_VR_OB || vr == SI_VR_UN || si_vr_is_string(vr))
    return 1;
  size_t u = si_vr_unit_size(vr);
  return u ? u : 1;
}

static void swap_units(uint8_t *v, size_t len, size_t unit) {
  for (size_t i = 0; i + unit <= len; i += unit)
    for (size_t a = i, b = i + unit - 1; a < b; a++, b--) {
      uint8_t t = v[a];
      v[a] = v[b];
      v[b] = t;
    }
}

static uint64_t stored_len(const si_element *el) {
  return el->value ? el->value_len : (el->flags & SI_ELEM_VALUE_SKIPPED) ? el->length : 0;
}

static si_vr out_vr(const si_element *el) {
  si_vr vr = el->vr == SI_VR_NONE ? SI_VR_UN : el->vr;
  uint64_t len = stored_len(el);
  if (!si_vr_has_long_length(vr) && len + (len & 1) > MAX_16BIT_VALUE)
    return SI_VR_UN;
  return vr;
}

static int seq_undefined(const writer *w, const si_element *el) {
  /* Implicit VR: a sequence the dictionary does not know as one (private
   * ones) is only recognised by its undefined length (PS3.5 6.2.2, read as
   * UN of undefined length): keep it a sequence. */
  if (!w->explicit_vr && si_dict_implicit_vr(el->tag) != SI_VR_SQ)
    return 1;
  return w->seq == SI_SEQ_KEEP ? (el->flags & SI_ELEM_UNDEFINED_LENGTH) != 0
                               : w->seq == SI_SEQ_UNDEFINED;
}

static int item_undefined(const writer *w, const si_dataset *item) {
  return w->seq == SI_SEQ_KEEP ? item->undefined_length : w->seq == SI_SEQ_UNDEFINED;
}

/* Group lengths (gggg,0000) go stale with any edit and are retired outside
 * the command group: they are not written (the meta's is regenerated). */
static int written(uint32_t tag) { return SI_TAG_ELEMENT(tag) != 0 && SI_TAG_GROUP(tag) != 0x0002; }

static uint64_t dataset_size(const writer *w, const si_dataset *ds);

static uint64_t header_size(const writer *w, si_vr vr) {
  return w->explicit_vr && si_vr_has_long_length(vr) ? 12 : 8;
}

static uint64_t element_size(const writer *w, const si_element *el) {
  if (el->vr == SI_VR_SQ) {
    uint64_t n = header_size(w, SI_VR_SQ) + (seq_undefined(w, el) ? 8 : 0);
    for (size_t i = 0; i < el->item_count; i++)
      n += 8 + dataset_size(w, el->items[i]) + (item_undefined(w, el->items[i]) ? 8 : 0);
    return n;
  }
  if (el->flags & SI_ELEM_ENCAPSULATED) {
    uint64_t n = header_size(w, SI_VR_OB) + 8;
    for (size_t i = 0; i < el->fragment_count; i++)
      n += 8 + (uint64_t)el->fragments[i].length;
    return n;
  }
  uint64_t len = stored_len(el);
  return header_size(w, out_vr(el)) + len + (len & 1);
}

static uint64_t dataset_size(const writer *w, const si_dataset *ds) {
  uint64_t n = 0;
  for (size_t i = 0; i < ds->count; i++)
    if (written(ds->elements[i].tag))
      n += element_size(w, &ds->elements[i]);
  return n;
}

static si_status fail_tag(writer *w, si_status code, uint32_t tag, const char *fmt, const char *a) {
  return si_error_set(w->err, code, w->o->name, w->o->offset, tag, fmt, a);
}

static si_status put_header(writer *w, uint32_t tag, si_vr vr, uint32_t len) {
  si_status st = put_tag(w, tag);
  if (st != SI_OK)
    return st;
  if (!w->explicit_vr)
    return put32(w, len);
  const char *name = si_vr_name(vr);
  st = si_sink_put(w->o, name, 2);
  if (st != SI_OK)
    return st;
  if (!si_vr_has_long_length(vr))
    return put16(w, (uint16_t)len);
  st = put16(w, 0);
  return st != SI_OK ? st : put32(w, len);
}

static si_status open_source(writer *w, uint32_t tag) {
  if (w->src_fd >= 0)
    return SI_OK;
  if (!w->file->source_path)
    return fail_tag(w, SI_ERR_STATE, tag,
                    "%svalue was not read (header-only read) and cannot be "
                    "written",
                    "");
  w->src_fd = open(w->file->source_path, O_RDONLY | O_CLOEXEC);
  if (w->src_fd < 0)
    return si_error_set(w->err, SI_ERR_IO, w->file->source_path, SI_NO_OFFSET, tag,
                        "cannot reopen the source to copy a value: %s", strerror(errno));
  return SI_OK;
}

static si_status short_source(writer *w, uint64_t at, uint32_t tag) {
  return si_error_set(w->err, SI_ERR_TRUNCATED, w->file->source_path, at, tag,
                      "the source file changed or shrank since it was read: the value is cut");
}

/* Copies len bytes at offset of the source to the output; swaps units of
 * `unit` bytes when the byte order changes. */
static si_status copy_from_source(writer *w, uint64_t offset, uint64_t len, size_t unit,
                                  uint32_t tag) {
  si_status st = open_source(w, tag);
  if (st != SI_OK)
    return st;
  sink *o = w->o;
  if (unit == 1 && o->fd >= 0 && !o->deflating) {
    if ((st = si_sink_flush_fd(o)) != SI_OK)
      return st;
    loff_t off = (loff_t)offset;
    while (len) {
      size_t step = len > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)len;
      ssize_t n = copy_file_range(w->src_fd, &off, o->fd, NULL, step, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
                    errno == EBADF))
        break; /* not supported here: the pread loop below */
      if (n < 0)
        return si_error_set(w->err, SI_ERR_IO, o->name, o->offset, tag, "write failed: %s",
                            strerror(errno));
      if (n == 0)
        return short_source(w, (uint64_t)off, tag);
      len -= (uint64_t)n;
      o->offset += (uint64_t)n;
    }
    offset = (uint64_t)off;
    if (!len)
      return SI_OK;
  }
  if (!w->chunk && !(w->chunk = malloc(COPY_CHUNK)))
    return fail_tag(w, SI_ERR_NOMEM, tag, "%sout of memory", "");
  while (len) {
    size_t step = len > COPY_CHUNK ? COPY_CHUNK : (size_t)len;
    ssize_t n = pread(w->src_fd, w->chunk, step, (off_t)offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return si_error_set(w->err, SI_ERR_IO, w->file->source_path, offset, tag, "read failed: %s",
                          strerror(errno));
    if (n == 0)
      return short_source(w, offset, tag);
    size_t got = (size_t)n;
    if (unit > 1 && got % unit && (uint64_t)got < len)
      got -= got % unit; /* keep swap units whole across steps */
    if (unit > 1)
      swap_units(w->chunk, got, unit);
    if ((st = si_sink_put(o, w->chunk, got)) != SI_OK)
      return st;
    offset += got;
    len -= got;
  }
  return SI_OK;
}

static si_status put_value(writer *w, const si_element *el, si_vr vr) {
  uint64_t len = stored_len(el);
  size_t unit = swap_unit(el->vr);
  si_status st = SI_OK;
  if (el->value) {
    if (unit > 1 && w->big_endian != host_big) {
      if (!w->chunk && !(w->chunk = malloc(COPY_CHUNK)))
        return fail_tag(w, SI_ERR_NOMEM, el->tag, "%sout of memory", "");
      for (size_t done = 0; done < el->value_len && st == SI_OK;) {
        size_t step = el->value_len - done > COPY_CHUNK ? COPY_CHUNK : el->value_len - done;
        memcpy(w->chunk, el->value + done, step);
        swap_units(w->chunk, step, unit);
        st = si_sink_put(w->o, w->chunk, step);
        done += step;
      }
    } else {
      st = si_sink_put(w->o, el->value, el->value_len);
    }
  } else if (len) {
    int src_big = (el->flags & SI_ELEM_SOURCE_BIG_ENDIAN) != 0;
    st = copy_from_source(w, el->value_offset, len, src_big != w->big_endian ? unit : 1, el->tag);
  }
  if (st == SI_OK && (len & 1)) {
    /* PS3.5 6.2: UI pads with NUL, other strings with a space, binary with NUL. */
    uint8_t pad = si_vr_is_string(vr) && vr != SI_VR_UI ? ' ' : 0;
    if (vr == SI_VR_UN && si_vr_is_string(el->vr) && el->vr != SI_VR_UI)
      pad = ' ';
    st = si_sink_put(w->o, &pad, 1);
  }
  return st;
}

static si_status write_dataset(writer *w, const si_dataset *ds);

static si_status write_sequence(writer *w, const si_element *el) {
  int undefined = seq_undefined(w, el);
  uint64_t size = undefined ? 0 : element_size(w, el) - header_size(w, SI_VR_SQ);
  if (size >= SI_UNDEFINED_LENGTH)
    return fail_tag(w, SI_ERR_LIMIT, el->tag,
                    "%ssequence longer than 4 GiB: write it with "
                    "undefined length",
                    "");
  si_status st = put_header(w, el->tag, SI_VR_SQ, undefined ? SI_UNDEFINED_LENGTH : (uint32_t)size);
  for (size_t i = 0; i < el->item_count && st == SI_OK; i++) {
    const si_dataset *item = el->items[i];
    int item_undef = item_undefined(w, item);
    uint64_t isize = item_undef ? 0 : dataset_size(w, item);
    if (isize >= SI_UNDEFINED_LENGTH)
      return fail_tag(w, SI_ERR_LIMIT, el->tag, "%sitem longer than 4 GiB", "");
    st = put_tag(w, SI_TAG_ITEM);
    if (st == SI_OK)
      st = put32(w, item_undef ? SI_UNDEFINED_LENGTH : (uint32_t)isize);
    if (st == SI_OK)
      st = write_dataset(w, item);
    if (st == SI_OK && item_undef && (st = put_tag(w, SI_TAG_ITEM_DELIM)) == SI_OK)
      st = put32(w, 0);
  }
  if (st == SI_OK && undefined && (st = put_tag(w, SI_TAG_SEQ_DELIM)) == SI_OK)
    st = put32(w, 0);
  return st;
}

static si_status write_fragments(writer *w, const si_element *el) {
  si_status st =
      put_header(w, el->tag, el->vr == SI_VR_OW ? SI_VR_OW : SI_VR_OB, SI_UNDEFINED_LENGTH);
  for (size_t i = 0; i < el->fragment_count && st == SI_OK; i++) {
    const si_fragment *f = &el->fragments[i];
    st = put_tag(w, SI_TAG_ITEM);
    if (st == SI_OK)
      st = put32(w, f->length);
    if (st == SI_OK && f->length)
      st = f->bytes ? si_sink_put(w->o, f->bytes, f->length)
                    : copy_from_source(w, f->offset + 8, f->length, 1, el->tag);
  }
  if (st == SI_OK && (st = put_tag(w, SI_TAG_SEQ_DELIM)) == SI_OK)
    st = put32(w, 0);
  return st;
}

/* "US or SS" elements read implicit came out US (the dictionary's first
 * choice); PS3.5 ties them to PixelRepresentation, as DCMTK and pydicom
 * read them: 1 (signed) in the data set or an enclosing one makes them SS
 * when an explicit VR is written. The bytes are the same. */
static si_vr resolve_us_or_ss(const si_dataset *ds, const si_element *el, si_vr vr) {
  if (vr != SI_VR_US || !(el->flags & SI_ELEM_IMPLICIT_VR))
    return vr;
  const si_dict_entry *d = si_dict_lookup(el->tag);
  if (!d ||
      !((d->vr == SI_VR_US && d->vr2 == SI_VR_SS) || (d->vr == SI_VR_SS && d->vr2 == SI_VR_US)))
    return vr;
  for (; ds; ds = ds->parent) {
    const si_element *pr = si_dataset_find(ds, SI_TAG(0x0028, 0x0103));
    if (pr && pr->vr == SI_VR_US && pr->value_len == 2) {
      uint16_t v;
      memcpy(&v, pr->value, 2);
      return v == 1 ? SI_VR_SS : vr;
    }
  }
  return vr;
}

static si_status write_element(writer *w, const si_dataset *ds, const si_element *el) {
  if (el->vr == SI_VR_SQ && !w->explicit_vr && el->tag == SI_TAG_PIXEL_DATA)
    /* Implicit readers take undefined-length Pixel Data for fragments. */
    return si_error_set(w->err, SI_ERR_UNSUPPORTED, w->o->name, w->o->offset, el->tag,
                        "Pixel Data holding a sequence cannot be written in implicit VR");
  if (el->vr == SI_VR_SQ)
    return write_sequence(w, el);
  if (!w->explicit_vr && stored_len(el) && si_dict_implicit_vr(el->tag) == SI_VR_SQ)
    /* A reader takes an implicit element of a sequence tag for items. */
    return si_error_set(w->err, SI_ERR_UNSUPPORTED, w->o->name, w->o->offset, el->tag,
                        "the element has VR %s where the dictionary says SQ: implicit VR cannot "
                        "carry it",
                        si_vr_name(el->vr));
  if (el->flags & SI_ELEM_ENCAPSULATED)
    return write_fragments(w, el);
  uint64_t len = stored_len(el);
  uint64_t padded = len + (len & 1);
  if (padded >= SI_UNDEFINED_LENGTH)
    return fail_tag(w, SI_ERR_LIMIT, el->tag, "%svalue of 4 GiB or more", "");
  si_vr vr = w->explicit_vr ? resolve_us_or_ss(ds, el, out_vr(el)) : out_vr(el);
  si_status st = put_header(w, el->tag, vr, (uint32_t)padded);
  return st != SI_OK ? st : put_value(w, el, vr);
}

static int by_tag(const void *a, const void *b) {
  const si_element *x = *(const si_element *const *)a, *y = *(const si_element *const *)b;
  if (x->tag != y->tag)
    return x->tag < y->tag ? -1 : 1;
  return x < y ? -1 : x > y; /* stable: stream order among equal tags */
}

static si_status write_dataset(writer *w, const si_dataset *ds) {
  if (ds->sorted) {
    for (size_t i = 0; i < ds->count; i++) {
      if (!written(ds->elements[i].tag))
        continue;
      si_status st = write_element(w, ds, &ds->elements[i]);
      if (st != SI_OK)
        return st;
    }
    return SI_OK;
  }
  const si_element **order = malloc((ds->count ? ds->count : 1) * sizeof *order);
  if (!order)
    return fail_tag(w, SI_ERR_NOMEM, SI_NO_TAG, "%sout of memory", "");
  for (size_t i = 0; i < ds->count; i++)
    order[i] = &ds->elements[i];
  qsort(order, ds->count, sizeof *order, by_tag);
  si_status st = SI_OK;
  for (size_t i = 0; i < ds->count && st == SI_OK; i++)
    if (written(order[i]->tag))
      st = write_element(w, ds, order[i]);
  free(order);
  return st;
}

/* Encapsulated data (any element read as fragments, at any depth) only goes
 * to an encapsulated syntax, and native pixel data only to a native one:
 * the writer has no codec. */
static const si_element *find_encapsulated(const si_dataset *ds) {
  for (size_t i = 0; i < ds->count; i++) {
    const si_element *el = &ds->elements[i];
    if (el->flags & SI_ELEM_ENCAPSULATED)
      return el;
    for (size_t k = 0; k < el->item_count; k++) {
      const si_element *inner = find_encapsulated(el->items[k]);
      if (inner)
        return inner;
    }
  }
  return NULL;
}

static si_status check_pixels(writer *w, const si_ts_props *ts) {
  const si_dataset *ds = w->file->dataset;
  const si_element *enc = ts->encapsulated ? NULL : find_encapsulated(ds);
  if (enc)
    return si_error_set(w->err, SI_ERR_UNSUPPORTED, w->o->name, SI_NO_OFFSET, enc->tag,
                        "compressed (encapsulated) pixel data cannot be written as %s: "
                        "sendit does not decompress",
                        ts->name);
  const si_element *px = si_dataset_find(ds, SI_TAG_PIXEL_DATA);
  if (px && ts->encapsulated && !(px->flags & SI_ELEM_ENCAPSULATED))
    return si_error_set(w->err, SI_ERR_UNSUPPORTED, w->o->name, SI_NO_OFFSET, px->tag,
                        "native pixel data cannot be written as %s: sendit does not compress",
                        ts->name);
  return SI_OK;
}

/* A DICOMDIR's records point at each other by byte offset: a rewrite moves
 * them, and recomputing the offsets is a DICOMDIR writer's job, not this. */
static si_status check_not_dicomdir(const si_file *file, sink *o) {
  char uid[65];
  si_write_pick_uid(file, SI_TAG(0x0008, 0x0016), SI_TAG(0x0002, 0x0002), uid);
  if (strcmp(uid, "1.2.840.10008.1.3.10") != 0 &&
      !si_dataset_find(file->dataset, SI_TAG(0x0004, 0x1220)))
    return SI_OK;
  return si_error_set(o->err, SI_ERR_UNSUPPORTED, o->name, SI_NO_OFFSET, SI_TAG(0x0004, 0x1220),
                      "DICOMDIR files are not rewritten: their record offsets would be wrong");
}

static si_status target_syntax(const si_file *file, const si_write_options *opts, sink *o,
                               const si_ts_props **ts) {
  const char *uid =
      opts && opts->transfer_syntax ? opts->transfer_syntax : file->info.transfer_syntax;
  *ts = si_ts_lookup(uid);
  if (*ts)
    return SI_OK;
  return si_error_set(o->err, SI_ERR_UNSUPPORTED, o->name, SI_NO_OFFSET, SI_TAG_TRANSFER_SYNTAX,
                      "cannot write transfer syntax '%.64s': not a known transfer syntax",
                      uid && uid[0] ? uid : "(none)");
}

/* ---- entry points ---- */

static si_status write_all(const si_file *file, sink *o, const si_write_options *opts, int part10) {
  const si_ts_props *ts;
  si_status st = target_syntax(file, opts, o, &ts);
  if (st != SI_OK)
    return st;
  writer w = {.o = o,
              .explicit_vr = ts->explicit_vr,
              .big_endian = ts->big_endian,
              .seq = opts ? opts->sequences : SI_SEQ_KEEP,
              .file = file,
              .src_fd = -1,
              .err = o->err};
  st = check_pixels(&w, ts);
  if (st == SI_OK)
    st = check_not_dicomdir(file, o);
  if (st == SI_OK && part10) {
    static const uint8_t preamble[128];
    meta_buf m = {.n = 0};
    st = si_write_build_meta(file, ts, &m, o);
    if (st == SI_OK && (st = si_sink_put(o, preamble, sizeof preamble)) == SI_OK &&
        (st = si_sink_put(o, "DICM", 4)) == SI_OK)
      st = si_sink_put(o, m.b, m.n);
  }
  if (st == SI_OK && ts->deflated)
    st = si_sink_start_deflate(o, opts ? opts->deflate_level : 0);
  if (st == SI_OK)
    st = write_dataset(&w, file->dataset);
  if (st == SI_OK && ts->deflated)
    st = si_sink_finish_deflate(o);
  if (st == SI_OK && o->fd >= 0)
    st = si_sink_flush_fd(o);
  if (w.src_fd >= 0)
    close(w.src_fd);
  free(w.chunk);
  return st;
}

static si_status write_fd(const si_file *file, int fd, const char *name,
                          const si_write_options *opts, si_error *err, int part10) {
  sink o = {.fd = fd, .name = name ? name : "", .err = err, .cap = STAGE_SIZE};
  si_error_clear(err);
  o.buf = malloc(STAGE_SIZE);
  if (!o.buf)
    return si_error_set(err, SI_ERR_NOMEM, name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  si_status st = write_all(file, &o, opts, part10);
  si_sink_release(&o);
  return st;
}

static si_status write_memory(const si_file *file, const si_write_options *opts, uint8_t **buf,
                              size_t *len, si_error *err, int part10) {
  sink o = {.fd = -1, .name = "(memory)", .err = err};
  si_error_clear(err);
  *buf = NULL;
  *len = 0;
  si_status st = write_all(file, &o, opts, part10);
  si_sink_release(&o);
  if (st != SI_OK) {
    free(o.buf);
    return st;
  }
  *buf = o.buf ? o.buf : malloc(1);
  *len = o.used;
  return *buf ? SI_OK : si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "no memory");
}

si_status si_write_dataset_fd(const si_file *file, int fd, const char *name,
                              const si_write_options *opts, si_error *err) {
  return write_fd(file, fd, name, opts, err, 0);
}

si_status si_write_dataset_memory(const si_file *file, const si_write_options *opts, uint8_t **out,
                                  size_t *out_len, si_error *err) {
  return write_memory(file, opts, out, out_len, err, 0);
}

si_status si_write_part10_fd(const si_file *file, int fd, const char *name,
                             const si_write_options *opts, si_error *err) {
  return write_fd(file, fd, name, opts, err, 1);
}

si_status si_write_part10_memory(const si_file *file, const si_write_options *opts, uint8_t **out,
                                 size_t *out_len, si_error *err) {
  return write_memory(file, opts, out, out_len, err, 1);
}

static si_status io_fail(si_error *err, const char *path, const char *what) {
  return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "%s: %s", what,
                      strerror(errno));
}

si_status si_write_part10_file(const si_file *file, const char *path, const si_write_options *opts,
                               si_error *err) {
  si_error_clear(err);
  char dir_buf[PATH_MAX], base_buf[PATH_MAX], tmp[PATH_MAX];
  if (!path || strlen(path) >= sizeof dir_buf)
    return si_error_set(err, SI_ERR_ARG, path, SI_NO_OFFSET, SI_NO_TAG, "path too long");
  snprintf(dir_buf, sizeof dir_buf, "%s", path);
  snprintf(base_buf, sizeof base_buf, "%s", path);
  const char *dir = dirname(dir_buf), *base = basename(base_buf);
  /* NAME_MAX bounds the temporary name: a long final name is cut in it. */
  int n = snprintf(tmp, sizeof tmp, "%s/.%.200s.sendit-tmp-XXXXXX", dir, base);
  if (n < 0 || (size_t)n >= sizeof tmp)
    return si_error_set(err, SI_ERR_ARG, path, SI_NO_OFFSET, SI_NO_TAG, "path too long");
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return io_fail(err, path, "cannot create a temporary file in the target folder");
  /* A rewrite keeps the mode of the file it replaces; a new file is 0644. */
  struct stat old;
  fchmod(fd, stat(path, &old) == 0 && S_ISREG(old.st_mode) ? old.st_mode & 07777 : 0644);
  si_status st = write_fd(file, fd, path, opts, err, 1);
  if (st == SI_OK && fsync(fd) != 0)
    st = io_fail(err, path, "fsync failed");
  if (close(fd) != 0 && st == SI_OK)
    st = io_fail(err, path, "close failed");
  if (st == SI_OK && rename(tmp, path) != 0)
    st = io_fail(err, path, "rename failed");
  if (st != SI_OK) {
    unlink(tmp);
    return st;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd); /* the rename itself durable; a failure here loses nothing */
    close(dfd);
  }
  return SI_OK;
}
