/* Lookups over the generated tables of dict_table.c / uid_table.c.
 *
 * Implicit VR choice (PS3.5 Annex A.1 c): with an implicit transfer syntax
 * the decoder has no Pixel Representation or Bits Allocated context, and
 * Annex A.1 c) fixes Pixel Data, Overlay Data, Waveform Data and the palette
 * LUT data to OW. We apply that to every entry that lists OW as one of its
 * VRs ("OB or OW", "US or OW", "US or SS or OW"): in little endian OW and US
 * have identical bytes, and OW keeps bulk LUTs as one binary value. The
 * remaining ambiguity, "US or SS", becomes US, as the header promises; a
 * caller that knows Pixel Representation may reinterpret it as SS. */
#include "sendit/dict.h"

#include <string.h>

#include "dict_table.h"

#define SI_EXACT 0xFFFFFFFFu

/* (gggg,0000) of any even group without its own entry. PS3.5 7.2 retired
 * these, except in groups 0000 and 0002, which have real entries. */
static const si_dict_entry si_group_length = {
    0x00000000u, 0x0000FFFFu, SI_VR_UL, SI_VR_NONE, "1", "GroupLength", "Group Length", 1};

static uint16_t si_group(uint32_t tag) { return (uint16_t)(tag >> 16); }
static uint16_t si_element(uint32_t tag) { return (uint16_t)tag; }
static int si_is_private(uint32_t tag) { return si_group(tag) & 1; }

static int si_is_private_creator(uint32_t tag) {
  return si_is_private(tag) && si_element(tag) >= 0x0010 && si_element(tag) <= 0x00FF;
}

/* First position in [lo, hi) of the repeater index whose entry's tag is >= tag. */
static size_t si_repeater_lower_bound(size_t lo, size_t hi, uint32_t tag) {
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (si_dict_entries[si_dict_repeater_index[mid]].tag < tag)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Branch-free lower bound: the comparison compiles to a conditional move, so
 * the ~13 steps over ~5000 entries cost no mispredictions; this is the hot
 * path of every implicit-VR element. */
static const si_dict_entry *si_find_exact(uint32_t tag) {
  const si_dict_entry *base = si_dict_entries;
  size_t n = si_dict_entry_count;
  while (n > 1) {
    size_t half = n / 2;
    base = base[half - 1].tag < tag ? base + half : base;
    n -= half;
  }
  if (base->tag == tag && base->mask == SI_EXACT)
    return base;
  return NULL;
}

static const si_dict_entry *si_find_repeater(uint32_t tag) {
  for (size_t r = 0; r < si_dict_repeater_runs_count; r++) {
    const si_dict_run *run = &si_dict_repeater_runs[r];
    uint32_t key = tag & run->mask;
    size_t i = si_repeater_lower_bound(run->begin, run->end, key);
    if (i < run->end && si_dict_entries[si_dict_repeater_index[i]].tag == key)
      return &si_dict_entries[si_dict_repeater_index[i]];
  }
  return NULL;
}

const si_dict_entry *si_dict_lookup(uint32_t tag) {
  if (si_is_private(tag))
    return NULL;
  const si_dict_entry *e = si_find_exact(tag);
  if (e)
    return e;
  /* Before the repeaters: (1010,xxxx) would otherwise claim (1010,0000). */
  if (si_element(tag) == 0)
    return &si_group_length;
  return si_find_repeater(tag);
}

const si_dict_entry *si_dict_lookup_keyword(const char *keyword) {
  if (!keyword)
    return NULL;
  size_t lo = 0, hi = si_dict_keyword_index_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const si_dict_entry *e = &si_dict_entries[si_dict_keyword_index[mid]];
    int cmp = strcmp(e->keyword, keyword);
    if (cmp == 0)
      return e;
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

size_t si_dict_size(void) { return si_dict_entry_count; }

const si_dict_entry *si_dict_at(size_t i) {
  return i < si_dict_entry_count ? &si_dict_entries[i] : NULL;
}

const char *si_dict_keyword(uint32_t tag) {
  if (si_element(tag) == 0 && si_is_private(tag))
    return "GroupLength";
  if (si_is_private_creator(tag))
    return "PrivateCreator";
  const si_dict_entry *e = si_dict_lookup(tag);
  return e ? e->keyword : "";
}

/* The one VR an implicit-VR reader should use for an entry; see the comment
 * at the top of this file for why OW wins and US beats SS. */
static si_vr si_entry_implicit_vr(const si_dict_entry *e) {
  if (e->vr == SI_VR_OW || e->vr2 == SI_VR_OW)
    return SI_VR_OW;
  return e->vr;
}

si_vr si_dict_implicit_vr(uint32_t tag) {
  if (si_is_private(tag)) {
    if (si_element(tag) == 0)
      return SI_VR_UL;
    return si_is_private_creator(tag) ? SI_VR_LO : SI_VR_UN;
  }
  const si_dict_entry *e = si_dict_lookup(tag);
  return e ? si_entry_implicit_vr(e) : SI_VR_UN;
}

static const si_uid_entry *si_uid_find(const char *uid) {
  if (!uid)
    return NULL;
  size_t lo = 0, hi = si_uid_entry_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(si_uid_entries[mid].uid, uid);
    if (cmp == 0)
      return &si_uid_entries[mid];
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const char *si_uid_name(const char *uid) {
  const si_uid_entry *u = si_uid_find(uid);
  return u ? u->name : NULL;
}

const char *si_uid_keyword(const char *uid) {
  const si_uid_entry *u = si_uid_find(uid);
  return u ? u->keyword : NULL;
}
