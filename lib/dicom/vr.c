#include "sendit/vr.h"

enum {
  LONG_LEN = 1 << 0,
  STRING = 1 << 1,
  TEXT = 1 << 2,
  SINGLE_VALUED = 1 << 3,
};

static const struct {
  char name[3];
  unsigned char flags;
  unsigned char unit;
} vr_table[SI_VR_COUNT] = {
    [SI_VR_NONE] = {"??", 0, 1},
    [SI_VR_AE] = {"AE", STRING, 0},
    [SI_VR_AS] = {"AS", STRING, 0},
    [SI_VR_AT] = {"AT", 0, 4},
    [SI_VR_CS] = {"CS", STRING, 0},
    [SI_VR_DA] = {"DA", STRING, 0},
    [SI_VR_DS] = {"DS", STRING, 0},
    [SI_VR_DT] = {"DT", STRING, 0},
    [SI_VR_FD] = {"FD", 0, 8},
    [SI_VR_FL] = {"FL", 0, 4},
    [SI_VR_IS] = {"IS", STRING, 0},
    [SI_VR_LO] = {"LO", STRING | TEXT, 0},
    [SI_VR_LT] = {"LT", STRING | TEXT | SINGLE_VALUED, 0},
    [SI_VR_OB] = {"OB", LONG_LEN, 1},
    [SI_VR_OD] = {"OD", LONG_LEN, 8},
    [SI_VR_OF] = {"OF", LONG_LEN, 4},
    [SI_VR_OL] = {"OL", LONG_LEN, 4},
    [SI_VR_OV] = {"OV", LONG_LEN, 8},
    [SI_VR_OW] = {"OW", LONG_LEN, 2},
    [SI_VR_PN] = {"PN", STRING | TEXT, 0},
    [SI_VR_SH] = {"SH", STRING | TEXT, 0},
    [SI_VR_SL] = {"SL", 0, 4},
    [SI_VR_SQ] = {"SQ", LONG_LEN, 0},
    [SI_VR_SS] = {"SS", 0, 2},
    [SI_VR_ST] = {"ST", STRING | TEXT | SINGLE_VALUED, 0},
    [SI_VR_SV] = {"SV", LONG_LEN, 8},
    [SI_VR_TM] = {"TM", STRING, 0},
    [SI_VR_UC] = {"UC", LONG_LEN | STRING | TEXT, 0},
    [SI_VR_UI] = {"UI", STRING, 0},
    [SI_VR_UL] = {"UL", 0, 4},
    [SI_VR_UN] = {"UN", LONG_LEN, 1},
    [SI_VR_UR] = {"UR", LONG_LEN | STRING | SINGLE_VALUED, 0},
    [SI_VR_US] = {"US", 0, 2},
    [SI_VR_UT] = {"UT", LONG_LEN | STRING | TEXT | SINGLE_VALUED, 0},
    [SI_VR_UV] = {"UV", LONG_LEN, 8},
};

static int valid(si_vr vr) { return (unsigned)vr < SI_VR_COUNT; }

const char *si_vr_name(si_vr vr) { return valid(vr) ? vr_table[vr].name : "??"; }

si_vr si_vr_from_chars(char c0, char c1) {
  for (int i = 1; i < SI_VR_COUNT; i++)
    if (vr_table[i].name[0] == c0 && vr_table[i].name[1] == c1)
      return (si_vr)i;
  return SI_VR_NONE;
}

int si_vr_has_long_length(si_vr vr) { return valid(vr) && (vr_table[vr].flags & LONG_LEN); }
int si_vr_is_string(si_vr vr) { return valid(vr) && (vr_table[vr].flags & STRING); }
int si_vr_is_text(si_vr vr) { return valid(vr) && (vr_table[vr].flags & TEXT); }
int si_vr_is_multivalued_string(si_vr vr) {
  return valid(vr) && (vr_table[vr].flags & STRING) && !(vr_table[vr].flags & SINGLE_VALUED);
}
size_t si_vr_unit_size(si_vr vr) { return valid(vr) ? vr_table[vr].unit : 0; }
