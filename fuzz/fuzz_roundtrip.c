/* libFuzzer harness for the writer: read -> write -> read gives the same
 * data set.
 *
 * Each input the reader accepts is written as a Part 10 file in its own
 * transfer syntax and in each of the four uncompressed ones, and what was
 * written must read again. Then:
 * - own syntax and Explicit VR LE: the data set read back equals the input's
 *   (same tags in ascending order, same items and fragments, same values up
 *   to the even padding the writer adds; VRs equal unless one side is UN,
 *   the writer's form for over-long 16-bit values, or an implicit "US or SS"
 *   became SS by PixelRepresentation);
 * - every syntax: writing the data set read back gives identical bytes, and
 *   reading those gives an identical data set (the implicit and big endian
 *   forms lose nothing more on a second trip).
 * A write may refuse (compressed pixel data to a native syntax, an unknown
 * syntax, a DICOMDIR, 4 GiB limits), but only with a status and a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/dicom.h"
#include "sendit/tsyntax.h"
#include "sendit/write.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_roundtrip: broken invariant at %s:%d: %s\n", __FILE__, __LINE__,       \
              #cond);                                                                              \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* What the writer writes: no group lengths, nothing of group 0002. */
static int written(uint32_t tag) { return SI_TAG_ELEMENT(tag) != 0 && SI_TAG_GROUP(tag) != 2; }

static int by_tag(const void *a, const void *b) {
  const si_element *x = *(const si_element *const *)a, *y = *(const si_element *const *)b;
  if (x->tag != y->tag)
    return x->tag < y->tag ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* The elements of ds the writer writes, in the order it writes them. */
static const si_element **ordered(const si_dataset *ds, size_t *n) {
  size_t count = si_dataset_count(ds);
  const si_element **list = malloc((count ? count : 1) * sizeof *list);
  CHECK(list != NULL);
  *n = 0;
  for (size_t i = 0; i < count; i++)
    if (written(si_dataset_at(ds, i)->tag))
      list[(*n)++] = si_dataset_at(ds, i);
  qsort(list, *n, sizeof *list, by_tag);
  return list;
}

static size_t stored(const si_element *el) { return el->value_len; }

/* strict: exact equality (second trip); else the first trip's tolerance,
 * comparing VRs only when the written syntax is explicit (vrs). */
static void same(const si_dataset *a, const si_dataset *b, int strict, int vrs) {
  size_t na, nb;
  const si_element **x = ordered(a, &na), **y = ordered(b, &nb);
  CHECK(na == nb);
  for (size_t i = 0; i < na; i++) {
    const si_element *p = x[i], *q = y[i];
    if (p->tag != q->tag || (strict && p->vr != q->vr) ||
        p->value_len + (p->value_len & 1) != q->value_len)
      fprintf(stderr, "fuzz_roundtrip: (%04X,%04X) %s %zu bytes -> (%04X,%04X) %s %zu bytes\n",
              p->tag >> 16, p->tag & 0xFFFF, si_vr_name(p->vr), p->value_len, q->tag >> 16,
              q->tag & 0xFFFF, si_vr_name(q->vr), q->value_len);
    CHECK(p->tag == q->tag);
    if (strict ||
        (vrs && p->vr != SI_VR_UN && q->vr != SI_VR_UN && !(q->flags & SI_ELEM_UN_DECODED)))
      CHECK(p->vr == q->vr || (p->vr == SI_VR_NONE && q->vr == SI_VR_UN) ||
            (p->vr == SI_VR_US && q->vr == SI_VR_SS && (p->flags & SI_ELEM_IMPLICIT_VR)));
    CHECK(p->item_count == q->item_count);
    for (size_t k = 0; k < p->item_count; k++)
      same(p->items[k], q->items[k], strict, vrs);
    CHECK(p->fragment_count == q->fragment_count);
    for (size_t k = 0; k < p->fragment_count; k++) {
      CHECK(p->fragments[k].length == q->fragments[k].length);
      if (p->fragments[k].length)
        CHECK(memcmp(p->fragments[k].bytes, q->fragments[k].bytes, p->fragments[k].length) == 0);
    }
    size_t lp = stored(p), lq = stored(q);
    CHECK(lq == lp + (lp & 1));
    if (lp)
      CHECK(memcmp(p->value, q->value, lp) == 0);
  }
  free(x);
  free(y);
}

static si_file *read_back(const uint8_t *b, size_t n) {
  si_file *f = NULL;
  si_error err;
  si_status st = si_read_memory(b, n, "written", NULL, &f, &err);
  if (st != SI_OK) {
    char buf[1200];
    fprintf(stderr, "fuzz_roundtrip: written file does not read: %s\n",
            si_error_format(&err, buf, sizeof buf));
  }
  CHECK(st == SI_OK && f != NULL);
  return f;
}

static void trip(const si_file *src, const char *uid, int compare_first) {
  si_write_options wo;
  si_write_options_init(&wo);
  wo.transfer_syntax = uid;
  uint8_t *b1 = NULL;
  size_t n1 = 0;
  si_error err;
  si_status st = si_write_part10_memory(src, &wo, &b1, &n1, &err);
  CHECK(st == err.code);
  if (st != SI_OK) {
    CHECK(err.message[0] != '\0' && b1 == NULL);
    CHECK(st == SI_ERR_UNSUPPORTED || st == SI_ERR_LIMIT || st == SI_ERR_NOMEM);
    return;
  }
  size_t n;
  free(ordered(si_file_dataset(src), &n));
  if (n == 0) { /* nothing the writer writes: an empty data set is no file */
    free(b1);
    return;
  }
  si_file *back = read_back(b1, n1);
  if (compare_first)
    same(si_file_dataset(src), si_file_dataset(back), 0, si_file_get_info(back)->explicit_vr);
  wo.transfer_syntax = si_file_get_info(back)->transfer_syntax;
  uint8_t *b2 = NULL;
  size_t n2 = 0;
  CHECK(si_write_part10_memory(back, &wo, &b2, &n2, &err) == SI_OK);
  if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
    size_t at = 0;
    while (at < n1 && at < n2 && b1[at] == b2[at])
      at++;
    fprintf(stderr, "fuzz_roundtrip: second write in %s differs at byte %zu (%zu vs %zu bytes)\n",
            wo.transfer_syntax, at, n1, n2);
  }
  CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
  si_file *again = read_back(b2, n2);
  same(si_file_dataset(back), si_file_dataset(again), 1, 1);
  si_file_free(again);
  si_file_free(back);
  free(b1);
  free(b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  si_file *src = NULL;
  if (si_read_memory(data, size, "fuzz", NULL, &src, NULL) != SI_OK)
    return 0;
  trip(src, NULL, 1);
  static const char *const four[] = {"implicit", "explicit", "big", "deflated"};
  for (size_t i = 0; i < 4; i++)
    trip(src, si_ts_by_name(four[i])->uid, i == 1);
  si_file_free(src);
  return 0;
}
