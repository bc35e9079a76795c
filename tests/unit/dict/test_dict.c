/* Data dictionary and UID table: spot checks against PS3.6 plus whole-table
 * invariants that the binary searches depend on. */
#include "testutil.h"

#include <string.h>

#include "sendit/dict.h"

static const si_dict_entry *must_find(uint32_t tag) {
  const si_dict_entry *e = si_dict_lookup(tag);
  assert_non_null(e);
  return e;
}

static void test_size_and_order(void **state) {
  (void)state;
  size_t n = si_dict_size();
  assert_true(n >= 4000);
  for (size_t i = 1; i < n; i++) {
    const si_dict_entry *prev = si_dict_at(i - 1);
    const si_dict_entry *cur = si_dict_at(i);
    assert_true(prev->tag <= cur->tag);
    /* Equal base tags only for an exact entry followed by a pattern. */
    if (prev->tag == cur->tag)
      assert_true(prev->mask == 0xFFFFFFFFu && cur->mask != 0xFFFFFFFFu);
  }
  assert_null(si_dict_at(n));
}

static void test_entries_are_well_formed(void **state) {
  (void)state;
  for (size_t i = 0; i < si_dict_size(); i++) {
    const si_dict_entry *e = si_dict_at(i);
    assert_non_null(e->vm);
    assert_non_null(e->keyword);
    assert_non_null(e->name);
    assert_true(e->vm[0] != '\0');
    assert_int_equal(e->tag & ~e->mask, 0);
    assert_true(e->retired == 0 || e->retired == 1);
    assert_true((unsigned)e->vr < SI_VR_COUNT && (unsigned)e->vr2 < SI_VR_COUNT);
    if (e->vr == SI_VR_NONE)
      assert_int_equal(e->tag >> 16, 0xFFFE);
  }
}

/* Every entry must be reachable by its own tag (with some x bits set for
 * patterns) and by its keyword: catches sort-order bugs in the generator. */
static void test_every_entry_round_trips(void **state) {
  (void)state;
  for (size_t i = 0; i < si_dict_size(); i++) {
    const si_dict_entry *e = si_dict_at(i);
    uint32_t probe = e->tag | (0x00020020u & ~e->mask);
    assert_ptr_equal(si_dict_lookup(probe), e);
    if (e->keyword[0])
      assert_ptr_equal(si_dict_lookup_keyword(e->keyword), e);
  }
}

static void test_patient_name(void **state) {
  (void)state;
  const si_dict_entry *e = must_find(0x00100010);
  assert_int_equal(e->tag, 0x00100010);
  assert_int_equal(e->mask, 0xFFFFFFFFu);
  assert_int_equal(e->vr, SI_VR_PN);
  assert_int_equal(e->vr2, SI_VR_NONE);
  assert_string_equal(e->vm, "1");
  assert_string_equal(e->keyword, "PatientName");
  assert_string_equal(e->name, "Patient's Name");
  assert_int_equal(e->retired, 0);
  assert_string_equal(si_dict_keyword(0x00100010), "PatientName");
}

static void test_common_tags(void **state) {
  (void)state;
  assert_int_equal(must_find(0x00080005)->vr, SI_VR_CS);
  assert_string_equal(must_find(0x00080005)->vm, "1-n");
  assert_int_equal(must_find(0x00080018)->vr, SI_VR_UI);
  assert_int_equal(must_find(0x00081115)->vr, SI_VR_SQ);
  assert_int_equal(must_find(0x00280010)->vr, SI_VR_US);
  assert_string_equal(must_find(0x00200032)->vm, "3");
  assert_string_equal(must_find(0x00020010)->keyword, "TransferSyntaxUID");
  assert_string_equal(must_find(0x00000100)->keyword, "CommandField");
  assert_string_equal(must_find(0x00041220)->keyword, "DirectoryRecordSequence");
}

static void test_pixel_data(void **state) {
  (void)state;
  const si_dict_entry *e = must_find(0x7FE00010);
  assert_string_equal(e->keyword, "PixelData");
  assert_int_equal(e->vr, SI_VR_OB);
  assert_int_equal(e->vr2, SI_VR_OW);
  assert_int_equal(si_dict_implicit_vr(0x7FE00010), SI_VR_OW);
}

static void test_overlay_repeating_group(void **state) {
  (void)state;
  const si_dict_entry *e = must_find(0x60023000);
  assert_string_equal(e->keyword, "OverlayData");
  assert_int_equal(e->tag, 0x60003000);
  assert_int_equal(e->mask, 0xFF00FFFFu);
  assert_int_equal(e->vr, SI_VR_OB);
  assert_int_equal(e->vr2, SI_VR_OW);
  assert_ptr_equal(si_dict_lookup(0x60003000), e);
  assert_ptr_equal(si_dict_lookup(0x601E3000), e);
  assert_string_equal(si_dict_keyword(0x60040010), "OverlayRows");
  assert_int_equal(si_dict_implicit_vr(0x60023000), SI_VR_OW);
  assert_int_equal(si_dict_implicit_vr(0x60020050), SI_VR_SS);
  /* Odd groups are private, never overlays. */
  assert_null(si_dict_lookup(0x60013000));
  assert_int_equal(si_dict_implicit_vr(0x60013000), SI_VR_UN);
}

static void test_other_repeating_groups(void **state) {
  (void)state;
  assert_string_equal(must_find(0x50103000)->keyword, "CurveData");
  assert_int_equal(must_find(0x50103000)->retired, 1);
  assert_string_equal(must_find(0x7F020010)->keyword, "VariablePixelData");
  assert_string_equal(must_find(0x00203105)->keyword, "SourceImageIDs");
  assert_string_equal(must_find(0x10000013)->keyword, "HuffmanTableTriplet");
  assert_string_equal(must_find(0x10101234)->keyword, "ZonalMap");
  /* (0028,04x0): the exact (0028,0400) wins over the pattern. */
  assert_string_equal(must_find(0x00280400)->keyword, "TransformLabel");
  assert_string_equal(must_find(0x00280410)->keyword, "RowsForNthOrderCoefficients");
  assert_string_equal(must_find(0x00280431)->keyword, "ColumnsForNthOrderCoefficients");
  /* Exact 7FE0 entries stay exact. */
  assert_string_equal(must_find(0x7FE00020)->keyword, "CoefficientsSDVN");
}

static void test_palette_and_lut(void **state) {
  (void)state;
  const si_dict_entry *e = must_find(0x00281201);
  assert_string_equal(e->keyword, "RedPaletteColorLookupTableData");
  assert_int_equal(e->vr, SI_VR_OW);
  const si_dict_entry *d = must_find(0x00281101);
  assert_int_equal(d->vr, SI_VR_US);
  assert_int_equal(d->vr2, SI_VR_SS);
  assert_int_equal(si_dict_implicit_vr(0x00281101), SI_VR_US);
  assert_int_equal(si_dict_implicit_vr(0x00280106), SI_VR_US);
  assert_int_equal(si_dict_implicit_vr(0x00283006), SI_VR_OW); /* US or OW */
  assert_int_equal(si_dict_implicit_vr(0x00281200), SI_VR_OW); /* US or SS or OW */
  assert_int_equal(si_dict_implicit_vr(0x00281201), SI_VR_OW);
}

static void test_keyword_lookup(void **state) {
  (void)state;
  const si_dict_entry *e = si_dict_lookup_keyword("PatientName");
  assert_non_null(e);
  assert_int_equal(e->tag, 0x00100010);
  assert_int_equal(si_dict_lookup_keyword("OverlayData")->tag, 0x60003000);
  assert_int_equal(si_dict_lookup_keyword("SOPInstanceUID")->tag, 0x00080018);
  assert_int_equal(si_dict_lookup_keyword("FileMetaInformationGroupLength")->tag, 0x00020000);
  assert_null(si_dict_lookup_keyword("patientname"));
  assert_null(si_dict_lookup_keyword("PatientNam"));
  assert_null(si_dict_lookup_keyword("NoSuchKeyword"));
  assert_null(si_dict_lookup_keyword(""));
  assert_null(si_dict_lookup_keyword(NULL));
}

static void test_retired_flags(void **state) {
  (void)state;
  assert_int_equal(must_find(0x00080001)->retired, 1); /* Length to End */
  assert_int_equal(must_find(0x00280040)->retired, 1); /* Image Format */
  assert_int_equal(must_find(0x00080060)->retired, 0); /* Modality */
  /* PS3.6 has retired rows with neither name nor keyword. */
  const si_dict_entry *blank = must_find(0x00180061);
  assert_int_equal(blank->retired, 1);
  assert_string_equal(blank->keyword, "");
  assert_string_equal(si_dict_keyword(0x00180061), "");
}

static void test_group_length(void **state) {
  (void)state;
  const si_dict_entry *e = must_find(0x00080000);
  assert_int_equal(e->vr, SI_VR_UL);
  assert_string_equal(e->keyword, "GroupLength");
  assert_ptr_equal(si_dict_lookup(0x00280000), e);
  /* Not swallowed by the (1010,xxxx) pattern. */
  assert_ptr_equal(si_dict_lookup(0x10100000), e);
  assert_string_equal(si_dict_keyword(0x00200000), "GroupLength");
  assert_int_equal(si_dict_implicit_vr(0x00200000), SI_VR_UL);
  /* Groups 0000 and 0002 have their own entries. */
  assert_string_equal(si_dict_keyword(0x00000000), "CommandGroupLength");
  assert_string_equal(si_dict_keyword(0x00020000), "FileMetaInformationGroupLength");
  /* Private group lengths: no entry, but named and UL. */
  assert_null(si_dict_lookup(0x00090000));
  assert_string_equal(si_dict_keyword(0x00090000), "GroupLength");
  assert_int_equal(si_dict_implicit_vr(0x00090000), SI_VR_UL);
}

static void test_private_tags(void **state) {
  (void)state;
  assert_null(si_dict_lookup(0x00090010));
  assert_null(si_dict_lookup(0x00291010));
  assert_string_equal(si_dict_keyword(0x00090010), "PrivateCreator");
  assert_string_equal(si_dict_keyword(0x7FE100FF), "PrivateCreator");
  assert_string_equal(si_dict_keyword(0x00090100), "");
  assert_string_equal(si_dict_keyword(0x0009000F), "");
  assert_int_equal(si_dict_implicit_vr(0x00090010), SI_VR_LO);
  assert_int_equal(si_dict_implicit_vr(0x000900FF), SI_VR_LO);
  assert_int_equal(si_dict_implicit_vr(0x00091010), SI_VR_UN);
  assert_int_equal(si_dict_implicit_vr(0x00090100), SI_VR_UN);
  assert_int_equal(si_dict_implicit_vr(0x00090001), SI_VR_UN);
}

static void test_unknown_tags(void **state) {
  (void)state;
  assert_null(si_dict_lookup(0x00080003));
  assert_null(si_dict_lookup(0x0008FFFE));
  assert_null(si_dict_lookup(0x00100011));
  assert_null(si_dict_lookup(0xFFFFFFFF));
  assert_string_equal(si_dict_keyword(0x00080003), "");
  assert_int_equal(si_dict_implicit_vr(0x00080003), SI_VR_UN);
  assert_int_equal(si_dict_implicit_vr(0xFFFFFFFF), SI_VR_UN);
}

static void test_item_tags(void **state) {
  (void)state;
  const uint32_t items[] = {0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD};
  const char *names[] = {"Item", "ItemDelimitationItem", "SequenceDelimitationItem"};
  for (size_t i = 0; i < 3; i++) {
    const si_dict_entry *e = must_find(items[i]);
    assert_string_equal(e->keyword, names[i]);
    assert_int_equal(e->vr, SI_VR_NONE);
    assert_int_equal(si_dict_implicit_vr(items[i]), SI_VR_NONE);
  }
}

static void test_implicit_vr_matches_dictionary(void **state) {
  (void)state;
  assert_int_equal(si_dict_implicit_vr(0x00100010), SI_VR_PN);
  assert_int_equal(si_dict_implicit_vr(0x00080005), SI_VR_CS);
  assert_int_equal(si_dict_implicit_vr(0x00081115), SI_VR_SQ);
  assert_int_equal(si_dict_implicit_vr(0x00020001), SI_VR_OB);
  assert_int_equal(si_dict_implicit_vr(0x54001010), SI_VR_OW); /* Waveform Data */
  for (size_t i = 0; i < si_dict_size(); i++) {
    const si_dict_entry *e = si_dict_at(i);
    if (e->vr2 == SI_VR_NONE && e->mask == 0xFFFFFFFFu)
      assert_int_equal(si_dict_implicit_vr(e->tag), e->vr);
  }
}

static void test_uid_names(void **state) {
  (void)state;
  assert_string_equal(si_uid_name("1.2.840.10008.1.2"), "Implicit VR Little Endian");
  assert_string_equal(si_uid_name("1.2.840.10008.1.2.1"), "Explicit VR Little Endian");
  assert_string_equal(si_uid_keyword("1.2.840.10008.1.2.1"), "ExplicitVRLittleEndian");
  assert_string_equal(si_uid_name("1.2.840.10008.5.1.4.1.1.2"), "CT Image Storage");
  assert_string_equal(si_uid_keyword("1.2.840.10008.5.1.4.1.1.2"), "CTImageStorage");
  assert_string_equal(si_uid_name("1.2.840.10008.5.1.4.1.1.4"), "MR Image Storage");
  assert_string_equal(si_uid_name("1.2.840.10008.1.1"), "Verification SOP Class");
  assert_string_equal(si_uid_keyword("1.2.840.10008.1.2.4.50"), "JPEGBaseline8Bit");
  assert_non_null(si_uid_name("1.2.840.10008.1.2.1.99"));
  assert_null(si_uid_name("1.2.840.10008.1.2.1."));
  assert_null(si_uid_name("1.2.840.10008"));
  assert_null(si_uid_name("1.2.3.4"));
  assert_null(si_uid_name(""));
  assert_null(si_uid_name(NULL));
  assert_null(si_uid_keyword("9.9"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_size_and_order),
      cmocka_unit_test(test_entries_are_well_formed),
      cmocka_unit_test(test_every_entry_round_trips),
      cmocka_unit_test(test_patient_name),
      cmocka_unit_test(test_common_tags),
      cmocka_unit_test(test_pixel_data),
      cmocka_unit_test(test_overlay_repeating_group),
      cmocka_unit_test(test_other_repeating_groups),
      cmocka_unit_test(test_palette_and_lut),
      cmocka_unit_test(test_keyword_lookup),
      cmocka_unit_test(test_retired_flags),
      cmocka_unit_test(test_group_length),
      cmocka_unit_test(test_private_tags),
      cmocka_unit_test(test_unknown_tags),
      cmocka_unit_test(test_item_tags),
      cmocka_unit_test(test_implicit_vr_matches_dictionary),
      cmocka_unit_test(test_uid_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
