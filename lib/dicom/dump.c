/* Text listing of a read file; the format is described in
 * include/sendit/dump.h. */
#include "sendit/dump.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dict.h"

/* Width of "(gggg,eeee) VR " plus the value column: the '#' comment starts
 * there (after indentation) unless the value is longer. */
#define LINE_WIDTH 56

void si_dump_options_init(si_dump_options *opts) {
  opts->max_value_chars = SI_DUMP_DEFAULT_MAX_VALUE_CHARS;
}

static const si_dump_options *options_or_default(const si_dump_options *opts,
                                                 si_dump_options *defaults) {
  if (opts)
    return opts;
  si_dump_options_init(defaults);
  return defaults;
}

/* ---- a growing text buffer that stops at the character limit ---- */

typedef struct text {
  char *p;
  size_t len, cap;
  size_t chars; /* UTF-8 characters in p */
  size_t limit; /* 0 = none */
  int truncated;
  int failed; /* out of memory */
} text;

static int text_reserve(text *t, size_t more) {
  if (t->failed)
    return 0;
  if (t->len + more + 1 <= t->cap)
    return 1;
  size_t cap = t->cap ? t->cap : 128;
  while (cap < t->len + more + 1)
    cap *= 2;
  char *p = realloc(t->p, cap);
  if (!p) {
    t->failed = 1;
    return 0;
  }
  t->p = p;
  t->cap = cap;
  return 1;
}

/* Whether more characters are wanted; marks the text truncated otherwise. */
static int text_room(text *t) {
  if (t->limit && t->chars >= t->limit) {
    t->truncated = 1;
    return 0;
  }
  return !t->failed;
}

/* Appends one UTF-8 character (its lead byte and continuation bytes). */
static void text_char(text *t, const char *c, size_t n) {
  if (!text_reserve(t, n))
    return;
  memcpy(t->p + t->len, c, n);
  t->len += n;
  t->p[t->len] = 0;
  t->chars++;
}

/* Appends s character by character, control characters as '.'; with
 * `limited`, stops at the character limit. */
static void text_append(text *t, const char *s, size_t n, int limited) {
  for (size_t i = 0; i < n && !t->failed;) {
    if (limited && !text_room(t))
      return;
    unsigned char b = (unsigned char)s[i];
    size_t len = 1;
    while (i + len < n && ((unsigned char)s[i + len] & 0xC0) == 0x80)
      len++;
    if (b < 0x20 || b == 0x7F)
      text_char(t, ".", 1);
    else
      text_char(t, s + i, len);
    i += len;
  }
}

static void text_put(text *t, const char *s, size_t n) { text_append(t, s, n, 1); }

/* Unlimited: numbers are never cut in the middle; callers check text_room
 * between them. */
static void text_printf(text *t, const char *fmt, ...) SI_PRINTF(2, 3);
static void text_printf(text *t, const char *fmt, ...) {
  char buf[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0)
    text_append(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, 0);
}

/* Closes a value: "..." when it was cut, then `suffix`; the limit does not
 * apply to these marks. */
static void text_finish(text *t, const char *suffix) {
  if (t->truncated)
    text_append(t, "...", 3, 0);
  text_append(t, suffix, strlen(suffix), 0);
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* ---- values ---- */

static si_status nomem(si_error *err, const si_element *el) {
  return si_error_set(err, SI_ERR_NOMEM, NULL, el ? el->offset : SI_NO_OFFSET,
                      el ? el->tag : SI_NO_TAG, "out of memory formatting the dump");
}

/* The fewest digits that read back as the same number. */
static void put_double(text *t, double d, int is_float) {
  char buf[40];
  for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, d);
    double back = strtod(buf, NULL);
    if (is_float ? (float)back == (float)d : back == d)
      break;
  }
  text_append(t, buf, strlen(buf), 0);
}

static void put_number(text *t, si_vr vr, const uint8_t *p) {
  union {
    uint8_t u8;
    uint16_t u16[2];
    int16_t s16;
    uint32_t u32;
    int32_t s32;
    uint64_t u64;
    int64_t s64;
    float f32;
    double f64;
  } u;
  memcpy(&u, p, si_vr_unit_size(vr));
  switch (vr) {
  case SI_VR_US:
    text_printf(t, "%u", (unsigned)u.u16[0]);
    break;
  case SI_VR_SS:
    text_printf(t, "%d", (int)u.s16);
    break;
  case SI_VR_UL:
    text_printf(t, "%" PRIu32, u.u32);
    break;
  case SI_VR_SL:
    text_printf(t, "%" PRId32, u.s32);
    break;
  case SI_VR_UV:
    text_printf(t, "%" PRIu64, u.u64);
    break;
  case SI_VR_SV:
    text_printf(t, "%" PRId64, u.s64);
    break;
  case SI_VR_FL:
  case SI_VR_OF:
    put_double(t, u.f32, 1);
    break;
  case SI_VR_FD:
  case SI_VR_OD:
    put_double(t, u.f64, 0);
    break;
  case SI_VR_AT:
    text_printf(t, "(%04X,%04X)", (unsigned)u.u16[0], (unsigned)u.u16[1]);
    break;
  case SI_VR_OW:
    text_printf(t, "%04x", (unsigned)u.u16[0]);
    break;
  case SI_VR_OL:
    text_printf(t, "%08" PRIx32, u.u32);
    break;
  case SI_VR_OV:
    text_printf(t, "%016" PRIx64, u.u64);
    break;
  default: /* OB, UN and anything unknown: bytes */
    text_printf(t, "%02x", (unsigned)u.u8);
    break;
  }
}

/* Binary values, one unit at a time, stopping as soon as the text is full so
 * that large pixel data costs nothing beyond the shown part. */
static void put_binary(text *t, const si_element *el) {
  size_t unit = si_vr_unit_size(el->vr);
  if (unit == 0)
    unit = 1;
  for (size_t off = 0; off + unit <= el->value_len && text_room(t); off += unit) {
    if (off)
      text_char(t, "\\", 1);
    put_number(t, unit == 1 ? SI_VR_OB : el->vr, el->value + off);
  }
}

static si_status decode_value(text *t, const si_dataset *ds, const si_element *el, size_t index,
                              si_error *err) {
  char *s = NULL;
  size_t n = 0;
  si_error scratch;
  si_status st = si_get_string_n(ds, el->tag, index, &s, &n, &scratch);
  if (st != SI_OK) {
    if (err)
      *err = scratch;
    return st;
  }
  text_put(t, s, n);
  free(s);
  return SI_OK;
}

/* Multi-valued text (LO SH PN UC) is decoded value by value: in some
 * character sets byte 0x5C is a yen sign, yet it still separates values
 * (PS3.5 6.1.2.3), so decoding the whole value would hide the separators. */
static si_status put_text_values(text *t, const si_dataset *ds, const si_element *el,
                                 si_error *err) {
  size_t count = si_element_vm(el);
  for (size_t i = 0; i < count && text_room(t); i++) {
    if (i)
      text_char(t, "\\", 1);
    si_status st = decode_value(t, ds, el, i, err);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}

/* si_get_string finds the element by tag: a repeated tag (broken file) would
 * show the first one's value, so later repeats are shown undecoded. */
static si_status put_string(text *t, const si_dataset *ds, const si_element *el, si_error *err) {
  text_put(t, "[", 1);
  if (si_dataset_find(ds, el->tag) != el) {
    text_put(t, (const char *)el->value, el->value_len);
    return SI_OK;
  }
  if (si_vr_is_text(el->vr) && si_vr_is_multivalued_string(el->vr))
    return put_text_values(t, ds, el, err);
  return decode_value(t, ds, el, SIZE_MAX, err);
}

static void put_sequence(text *t, const si_element *el) {
  text_printf(t, "(Sequence with %s%zu item%s%s)",
              el->flags & SI_ELEM_UNDEFINED_LENGTH ? "undefined length, " : "", el->item_count,
              el->item_count == 1 ? "" : "s",
              el->flags & SI_ELEM_UN_AS_IMPLICIT ? ", read from UN" : "");
}

static int is_empty(const si_element *el) {
  if (el->vr == SI_VR_SQ || el->flags & SI_ELEM_ENCAPSULATED)
    return 0;
  return el->value_len == 0;
}

static si_status format_value(text *t, const si_dataset *ds, const si_element *el, si_error *err) {
  if (el->flags & SI_ELEM_ENCAPSULATED) {
    text_printf(t, "(PixelSequence with %zu item%s)", el->fragment_count,
                el->fragment_count == 1 ? "" : "s");
    return SI_OK;
  }
  if (el->vr == SI_VR_SQ) {
    put_sequence(t, el);
    return SI_OK;
  }
  if (el->flags & SI_ELEM_VALUE_SKIPPED) {
    /* Header-only reads pass over long values without keeping them. */
    text_append(t, "(not read: header-only)", 23, 0);
    return SI_OK;
  }
  if (is_empty(el)) {
    text_append(t, "(no value available)", 20, 0);
    return SI_OK;
  }
  if (si_vr_is_string(el->vr)) {
    /* The closing bracket is added by the caller, after any "...". */
    return put_string(t, ds, el, err);
  }
  put_binary(t, el);
  return SI_OK;
}

static si_status finish_value(text *t, const si_element *el, char **out, si_error *err) {
  text_finish(t, si_vr_is_string(el->vr) && !is_empty(el) ? "]" : "");
  if (t->failed || !text_reserve(t, 0)) {
    free(t->p);
    return nomem(err, el);
  }
  *out = t->p;
  return SI_OK;
}

si_status si_dump_value(const si_dataset *ds, const si_element *el, const si_dump_options *opts,
                        char **out, si_error *err) {
  si_dump_options defaults;
  opts = options_or_default(opts, &defaults);
  *out = NULL;
  text t = {0};
  t.limit = opts->max_value_chars;
  si_status st = format_value(&t, ds, el, err);
  if (st != SI_OK) {
    free(t.p);
    return st;
  }
  return finish_value(&t, el, out, err);
}

/* ---- lines ---- */

static const char *keyword(const si_dataset *ds, uint32_t tag, char *buf, size_t size) {
  const char *kw = si_dict_keyword(tag);
  if (kw[0])
    return kw;
  if (!(SI_TAG_GROUP(tag) & 1))
    return "UnknownTag";
  size_t len = 0;
  const char *creator = si_dataset_private_creator(ds, tag, &len);
  if (!creator)
    return "PrivateTag";
  snprintf(buf, size, "PrivateTag [%.*s]", (int)(len > 64 ? 64 : len), creator);
  return buf;
}

/* One line: indent, tag, VR, value padded to the comment column, comment. */
static void print_line(FILE *out, unsigned indent, uint32_t tag, const char *vr, const char *value,
                       const char *length, size_t vm, const char *name) {
  fprintf(out, "%*s(%04X,%04X) %s %s", (int)indent, "", (unsigned)SI_TAG_GROUP(tag),
          (unsigned)SI_TAG_ELEMENT(tag), vr, value);
  size_t used = 12 + strlen(vr) + 1 + utf8_chars(value);
  for (; used < LINE_WIDTH; used++)
    fputc(' ', out);
  fprintf(out, " # %4s, %zu %s\n", length, vm, name);
}

static void print_delimiter(FILE *out, unsigned indent) {
  print_line(out, indent, SI_TAG_SEQ_DELIM, "na", "(SequenceDelimitationItem)", "0", 0,
             "SequenceDelimitationItem");
}

static void format_length(char *buf, size_t size, const si_element *el) {
  if (el->length == SI_UNDEFINED_LENGTH)
    snprintf(buf, size, "u/l");
  else
    snprintf(buf, size, "%" PRIu32, el->length);
}

static si_status dump_dataset(FILE *out, const si_dataset *ds, unsigned depth,
                              const si_dump_options *opts, si_error *err);

static si_status dump_items(FILE *out, const si_element *el, unsigned depth,
                            const si_dump_options *opts, si_error *err) {
  unsigned indent = depth * 4 + 2;
  for (size_t i = 0; i < el->item_count; i++) {
    char value[80];
    size_t n = si_dataset_count(el->items[i]);
    snprintf(value, sizeof value, "(Item %zu of %zu, %zu element%s)", i + 1, el->item_count, n,
             n == 1 ? "" : "s");
    print_line(out, indent, SI_TAG_ITEM, "na", value, "-", 1, "Item");
    si_status st = dump_dataset(out, el->items[i], depth + 1, opts, err);
    if (st != SI_OK)
      return st;
  }
  if (el->flags & SI_ELEM_UNDEFINED_LENGTH)
    print_delimiter(out, depth * 4);
  return SI_OK;
}

/* The basic offset table holds little endian offsets, one per frame. */
static void put_offsets(text *t, const si_fragment *f) {
  for (uint32_t off = 0; off + 4 <= f->length && text_room(t); off += 4) {
    const uint8_t *b = f->bytes + off;
    if (off)
      text_char(t, "\\", 1);
    text_printf(t, "%" PRIu32,
                (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
  }
}

static si_status dump_fragments(FILE *out, const si_element *el, unsigned depth,
                                const si_dump_options *opts, si_error *err) {
  for (size_t i = 0; i < el->fragment_count; i++) {
    const si_fragment *f = &el->fragments[i];
    text t = {0};
    t.limit = opts->max_value_chars;
    if (f->length == 0)
      text_append(&t, "(no value available)", 20, 0);
    else if (!f->bytes) /* passed over by a header-only read */
      text_append(&t, "(not read: header-only)", 23, 0);
    else if (i == 0)
      put_offsets(&t, f);
    else
      for (uint32_t b = 0; b < f->length && text_room(&t); b++)
        text_printf(&t, b ? "\\%02x" : "%02x", (unsigned)f->bytes[b]);
    text_finish(&t, "");
    if (t.failed || !text_reserve(&t, 0)) {
      free(t.p);
      return nomem(err, el);
    }
    char length[16];
    snprintf(length, sizeof length, "%" PRIu32, f->length);
    print_line(out, depth * 4 + 2, SI_TAG_ITEM, "pi", t.p, length, 1,
               i == 0 ? "Item (basic offset table)" : "Item");
    free(t.p);
  }
  print_delimiter(out, depth * 4);
  return SI_OK;
}

/* PS3.5 6.4: OB OD OF OL OV OW SQ UN always have one value; the reader's
 * si_element_vm counts units and items instead. */
static size_t display_vm(const si_element *el) {
  switch (el->vr) {
  case SI_VR_SQ:
    return el->item_count ? 1 : 0;
  case SI_VR_OB:
  case SI_VR_OD:
  case SI_VR_OF:
  case SI_VR_OL:
  case SI_VR_OV:
  case SI_VR_OW:
  case SI_VR_UN:
  case SI_VR_NONE:
    return el->value_len || el->fragment_count ? 1 : 0;
  default:
    return si_element_vm(el);
  }
}

static si_status dump_element(FILE *out, const si_dataset *ds, const si_element *el, unsigned depth,
                              const si_dump_options *opts, si_error *err) {
  char *value;
  si_status st = si_dump_value(ds, el, opts, &value, err);
  if (st != SI_OK)
    return st;
  char length[16], name[96];
  format_length(length, sizeof length, el);
  si_vr vr = el->vr == SI_VR_NONE ? SI_VR_UN : el->vr;
  print_line(out, depth * 4, el->tag, si_vr_name(vr), value, length, display_vm(el),
             keyword(ds, el->tag, name, sizeof name));
  free(value);
  if (el->vr == SI_VR_SQ)
    return dump_items(out, el, depth, opts, err);
  if (el->flags & SI_ELEM_ENCAPSULATED)
    return dump_fragments(out, el, depth, opts, err);
  return SI_OK;
}

static si_status dump_dataset(FILE *out, const si_dataset *ds, unsigned depth,
                              const si_dump_options *opts, si_error *err) {
  size_t n = si_dataset_count(ds);
  for (size_t i = 0; i < n; i++) {
    si_status st = dump_element(out, ds, si_dataset_at(ds, i), depth, opts, err);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}

static si_status write_status(FILE *out, si_error *err) {
  if (ferror(out))
    return si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG, "write failed");
  return SI_OK;
}

si_status si_dump_dataset(FILE *out, const si_dataset *ds, unsigned depth,
                          const si_dump_options *opts, si_error *err) {
  si_dump_options defaults;
  opts = options_or_default(opts, &defaults);
  si_status st = dump_dataset(out, ds, depth, opts, err);
  return st != SI_OK ? st : write_status(out, err);
}

/* ---- file header ---- */

static void print_warnings(FILE *out, uint32_t warnings) {
  static const char *const names[] = {
      "odd-length-value",        "no-preamble",       "no-meta",
      "no-transfer-syntax",      "invalid-vr",        "trailing-bytes",
      "unknown-transfer-syntax", "tags-out-of-order", "bad-meta-group-length",
  };
  if (!warnings)
    return;
  fputs("# Warnings:", out);
  const char *sep = " ";
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (warnings & (1u << i)) {
      fprintf(out, "%s%s", sep, names[i]);
      sep = ", ";
    }
  fputc('\n', out);
}

static void print_header(FILE *out, const char *name, const si_file_info *info) {
  if (name)
    fprintf(out, "# File: %s\n", name);
  const char *ts_name = si_transfer_syntax_name(info->transfer_syntax);
  fprintf(out, "# Transfer Syntax: %s [%s]\n", ts_name ? ts_name : "unknown",
          info->transfer_syntax);
  print_warnings(out, info->warnings);
}

si_status si_dump_file(FILE *out, const char *name, const si_file *file,
                       const si_dump_options *opts, si_error *err) {
  si_dump_options defaults;
  opts = options_or_default(opts, &defaults);
  const si_file_info *info = si_file_get_info(file);
  print_header(out, name, info);
  fputs(info->has_meta ? "\n# File Meta Information\n" : "\n# File Meta Information: none\n", out);
  si_status st = dump_dataset(out, si_file_meta(file), 0, opts, err);
  if (st != SI_OK)
    return st;
  fputs("\n# Data Set\n", out);
  st = dump_dataset(out, si_file_dataset(file), 0, opts, err);
  if (st != SI_OK)
    return st;
  if (info->stopped_early)
    fprintf(out, "# Stopped before pixel data at offset %" PRIu64 "\n", info->end_offset);
  return write_status(out, err);
}
