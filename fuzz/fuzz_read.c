/* libFuzzer harness for the Part 10 reader.
 *
 * Each input is read three ways: in full from memory, header-only from memory
 * with a tiny first read (so the stream buffer refills at odd places), and in
 * full through a stream that cannot tell its size and returns short reads
 * (the network path, where read_value must grow its buffer as bytes arrive
 * instead of trusting a declared length). Every successful result is walked
 * completely: each value byte is touched so ASan sees any value_len that lies,
 * and every getter is called on every element so charset decoding and number
 * parsing see hostile bytes too.
 *
 * Besides sanitizer reports, the harness aborts on broken promises of the API:
 * an error without a message, a status that differs from err.code, a
 * header-only read that fails where the full read succeeded, or header-only
 * elements that are not a prefix of the full read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_read: broken invariant at %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* Folding every byte into a volatile sink keeps the loads from being removed. */
static volatile uint8_t sink;

static void touch(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc ^= p[i];
  sink ^= acc;
}

/* Readers clear err first, so it must match the status either way. */
static void check_error(si_status st, const si_error *err) {
  CHECK(st == err->code);
  if (st != SI_OK)
    CHECK(err->message[0] != '\0');
}

/* Getters leave err alone on success (si_get_string may even leave a charset
 * warning there), so only their failures are checked. */
static void check_getter(si_status st, const si_error *err) {
  if (st != SI_OK)
    check_error(st, err);
}

static void exercise_getters(const si_dataset *ds, const si_element *el) {
  si_error err;
  size_t vm = si_element_vm(el);
  /* First, last and whole value: enough to reach every code path without
   * making a value with thousands of backslashes quadratic. */
  size_t indexes[3] = {0, vm ? vm - 1 : 1, SIZE_MAX};
  for (int k = 0; k < 3; k++) {
    size_t index = indexes[k];
    char *s = NULL;
    si_status st = si_get_string(ds, el->tag, index, &s, &err);
    if (st == SI_OK) {
      CHECK(s != NULL);
      touch((const uint8_t *)s, strlen(s) + 1);
    } else {
      CHECK(s == NULL);
      check_getter(st, &err);
    }
    free(s);
    if (index == SIZE_MAX)
      continue;
    int64_t i64;
    st = si_get_int(ds, el->tag, index, &i64, &err);
    check_getter(st, &err);
    double d;
    st = si_get_float(ds, el->tag, index, &d, &err);
    check_getter(st, &err);
    si_date date;
    st = si_get_date(ds, el->tag, index, &date, &err);
    check_getter(st, &err);
    if (st == SI_OK)
      CHECK(date.month >= 0 && date.month <= 12 && date.day >= 0 && date.day <= 31);
    si_person_name pn;
    st = si_get_person_name(ds, el->tag, index, &pn, &err);
    if (st == SI_OK) {
      for (int g = 0; g < 3; g++) {
        CHECK(pn.group[g] != NULL);
        touch((const uint8_t *)pn.group[g], strlen(pn.group[g]));
        for (int c = 0; c < 5; c++)
          CHECK(pn.component[g][c] != NULL);
      }
    } else
      check_getter(st, &err);
    si_person_name_free(&pn);
  }
  char uid[65];
  si_status st = si_get_uid(ds, el->tag, uid, &err);
  check_getter(st, &err);
  if (st == SI_OK)
    CHECK(strlen(uid) <= 64);
  size_t len;
  const char *creator = si_dataset_private_creator(ds, el->tag, &len);
  if (creator)
    touch((const uint8_t *)creator, len);
}

static size_t walk(const si_dataset *ds, uint32_t depth, uint32_t max_depth) {
  CHECK(depth <= max_depth);
  size_t n = si_dataset_count(ds), total = n;
  CHECK(si_dataset_at(ds, n) == NULL);
  size_t cs_len;
  const char *cs = si_dataset_charset_raw(ds, &cs_len);
  CHECK(cs != NULL);
  touch((const uint8_t *)cs, cs_len);
  for (size_t i = 0; i < n; i++) {
    const si_element *el = si_dataset_at(ds, i);
    CHECK(el != NULL);
    CHECK(SI_TAG_GROUP(el->tag) != 0xFFFE);
    CHECK((el->value == NULL) == (el->value_len == 0));
    if (el->value)
      touch(el->value, el->value_len);
    /* Header-only reads pass over long values (and fragments): kept as
     * present with their length, without bytes. */
    int skipped = (el->flags & SI_ELEM_VALUE_SKIPPED) != 0;
    if (skipped && !(el->flags & SI_ELEM_UNDEFINED_LENGTH))
      CHECK(el->value == NULL && el->length > 0);
    else if (!(el->flags & SI_ELEM_UNDEFINED_LENGTH))
      CHECK(el->vr == SI_VR_SQ || el->value_len == el->length);
    CHECK(si_dataset_find(ds, el->tag) != NULL);
    for (size_t f = 0; f < el->fragment_count; f++) {
      const si_fragment *frag = &el->fragments[f];
      CHECK((frag->bytes == NULL) == (frag->length == 0) || (skipped && !frag->bytes));
      if (frag->bytes)
        touch(frag->bytes, frag->length);
    }
    if (el->item_count)
      CHECK(el->vr == SI_VR_SQ && el->items != NULL);
    for (size_t k = 0; k < el->item_count; k++)
      total += walk(el->items[k], depth + 1, max_depth);
    exercise_getters(ds, el);
  }
  return total;
}

static void walk_file(const si_file *file) {
  const si_file_info *info = si_file_get_info(file);
  CHECK(memchr(info->transfer_syntax, 0, sizeof info->transfer_syntax) != NULL);
  CHECK(info->max_depth_seen <= 64);
  const char *ts_name = si_transfer_syntax_name(info->transfer_syntax);
  if (ts_name)
    touch((const uint8_t *)ts_name, strlen(ts_name));
  CHECK(si_file_meta(file) != NULL && si_file_dataset(file) != NULL);
  walk(si_file_meta(file), 0, info->max_depth_seen);
  walk(si_file_dataset(file), 0, info->max_depth_seen);
}

/* A stream that hides its size and hands out at most 7 bytes per read. */
typedef struct trickle {
  const uint8_t *data;
  size_t size, pos;
} trickle;

static int64_t trickle_read(void *ctx, void *buf, size_t n, si_error *err) {
  (void)err;
  trickle *t = ctx;
  size_t step = t->size - t->pos;
  if (step > n)
    step = n;
  if (step > 7)
    step = 7;
  memcpy(buf, t->data + t->pos, step);
  t->pos += step;
  return (int64_t)step;
}

static void trickle_close(void *ctx) { (void)ctx; }

static void read_trickle(const uint8_t *data, size_t size) {
  static const si_io_methods methods = {trickle_read, NULL, NULL, trickle_close};
  trickle t = {data, size, 0};
  si_io *io;
  si_error err;
  if (si_io_create(&methods, &t, "<trickle>", &io, &err) != SI_OK)
    return;
  si_file *file = NULL;
  si_status st = si_read_io(io, NULL, &file, &err);
  check_error(st, &err);
  CHECK((st == SI_OK) == (file != NULL));
  if (file)
    walk_file(file);
  si_file_free(file);
  si_io_close(io);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  si_error err;
  si_file *full = NULL, *head = NULL;

  si_status st_full = si_read_memory(data, size, "<fuzz>", NULL, &full, &err);
  check_error(st_full, &err);
  CHECK((st_full == SI_OK) == (full != NULL));
  if (full)
    walk_file(full);

  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = 1;
  opts.initial_read = 1 + size % 61;
  si_status st_head = si_read_memory(data, size, "<fuzz>", &opts, &head, &err);
  check_error(st_head, &err);
  CHECK((st_head == SI_OK) == (head != NULL));
  if (head)
    walk_file(head);

  /* Header-only reads a prefix of what the full read reads: it cannot fail
   * where the full read succeeded, and it sees the same elements up to where
   * it stopped. */
  if (full) {
    CHECK(head != NULL);
    const si_dataset *a = si_file_dataset(full), *b = si_file_dataset(head);
    CHECK(si_dataset_count(b) <= si_dataset_count(a));
    for (size_t i = 0; i < si_dataset_count(b); i++) {
      const si_element *x = si_dataset_at(a, i), *y = si_dataset_at(b, i);
      CHECK(x->tag == y->tag && x->vr == y->vr);
      if (y->flags & SI_ELEM_VALUE_SKIPPED) {
        CHECK(x->length == y->length);
        continue;
      }
      CHECK(x->value_len == y->value_len);
      CHECK(x->value_len == 0 || memcmp(x->value, y->value, x->value_len) == 0);
    }
    CHECK(si_dataset_count(si_file_meta(full)) == si_dataset_count(si_file_meta(head)));
    CHECK(strcmp(si_file_get_info(full)->transfer_syntax,
                 si_file_get_info(head)->transfer_syntax) == 0);
  }
  si_file_free(full);
  si_file_free(head);

  read_trickle(data, size);
  return 0;
}
