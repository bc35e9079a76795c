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

/* One cell per pair of capital letters: the lookup runs once per element of
 * every file, so it is a single indexed load. */
#define VR_CELL(c0, c1, vr) [((c0) - 'A') * 26 + ((c1) - 'A')] = (vr)
static const unsigned char vr_by_letters[26 * 26] = {
    VR_CELL('A', 'E', SI_VR_AE), VR_CELL('A', 'S', SI_VR_AS), VR_CELL('A', 'T', SI_VR_AT),
    VR_CELL('C', 'S', SI_VR_CS), VR_CELL('D', 'A', SI_VR_DA), VR_CELL('D', 'S', SI_VR_DS),
    VR_CELL('D', 'T', SI_VR_DT), VR_CELL('F', 'D', SI_VR_FD), VR_CELL('F', 'L', SI_VR_FL),
    VR_CELL('I', 'S', SI_VR_IS), VR_CELL('L', 'O', SI_VR_LO), VR_CELL('L', 'T', SI_VR_LT),
    VR_CELL('O', 'B', SI_VR_OB), VR_CELL('O', 'D', SI_VR_OD), VR_CELL('O', 'F', SI_VR_OF),
    VR_CELL('O', 'L', SI_VR_OL), VR_CELL('O', 'V', SI_VR_OV), VR_CELL('O', 'W', SI_VR_OW),
    VR_CELL('P', 'N', SI_VR_PN), VR_CELL('S', 'H', SI_VR_SH), VR_CELL('S', 'L', SI_VR_SL),
    VR_CELL('S', 'Q', SI_VR_SQ), VR_CELL('S', 'S', SI_VR_SS), VR_CELL('S', 'T', SI_VR_ST),
    VR_CELL('S', 'V', SI_VR_SV), VR_CELL('T', 'M', SI_VR_TM), VR_CELL('U', 'C', SI_VR_UC),
    VR_CELL('U', 'I', SI_VR_UI), VR_CELL('U', 'L', SI_VR_UL), VR_CELL('U', 'N', SI_VR_UN),
    VR_CELL('U', 'R', SI_VR_UR), VR_CELL('U', 'S', SI_VR_US), VR_CELL('U', 'T', SI_VR_UT),
    VR_CELL('U', 'V', SI_VR_UV),
};

si_vr si_vr_from_chars(char c0, char c1) {
  unsigned a = (unsigned)(unsigned char)c0 - 'A', b = (unsigned)(unsigned char)c1 - 'A';
  return a < 26 && b < 26 ? (si_vr)vr_by_letters[a * 26 + b] : SI_VR_NONE;
}

int si_vr_has_long_length(si_vr vr) { return valid(vr) && (vr_table[vr].flags & LONG_LEN); }
int si_vr_is_string(si_vr vr) { return valid(vr) && (vr_table[vr].flags & STRING); }
int si_vr_is_text(si_vr vr) { return valid(vr) && (vr_table[vr].flags & TEXT); }
int si_vr_is_multivalued_string(si_vr vr) {
  return valid(vr) && (vr_table[vr].flags & STRING) && !(vr_table[vr].flags & SINGLE_VALUED);
}
size_t si_vr_unit_size(si_vr vr) { return valid(vr) ? vr_table[vr].unit : 0; }
