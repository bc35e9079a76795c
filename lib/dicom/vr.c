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
  /* A switch the compiler turns into a jump table: this runs once per element. */
  switch ((unsigned char)c0 << 8 | (unsigned char)c1) {
  case 'A' << 8 | 'E':
    return SI_VR_AE;
  case 'A' << 8 | 'S':
    return SI_VR_AS;
  case 'A' << 8 | 'T':
    return SI_VR_AT;
  case 'C' << 8 | 'S':
    return SI_VR_CS;
  case 'D' << 8 | 'A':
    return SI_VR_DA;
  case 'D' << 8 | 'S':
    return SI_VR_DS;
  case 'D' << 8 | 'T':
    return SI_VR_DT;
  case 'F' << 8 | 'D':
    return SI_VR_FD;
  case 'F' << 8 | 'L':
    return SI_VR_FL;
  case 'I' << 8 | 'S':
    return SI_VR_IS;
  case 'L' << 8 | 'O':
    return SI_VR_LO;
  case 'L' << 8 | 'T':
    return SI_VR_LT;
  case 'O' << 8 | 'B':
    return SI_VR_OB;
  case 'O' << 8 | 'D':
    return SI_VR_OD;
  case 'O' << 8 | 'F':
    return SI_VR_OF;
  case 'O' << 8 | 'L':
    return SI_VR_OL;
  case 'O' << 8 | 'V':
    return SI_VR_OV;
  case 'O' << 8 | 'W':
    return SI_VR_OW;
  case 'P' << 8 | 'N':
    return SI_VR_PN;
  case 'S' << 8 | 'H':
    return SI_VR_SH;
  case 'S' << 8 | 'L':
    return SI_VR_SL;
  case 'S' << 8 | 'Q':
    return SI_VR_SQ;
  case 'S' << 8 | 'S':
    return SI_VR_SS;
  case 'S' << 8 | 'T':
    return SI_VR_ST;
  case 'S' << 8 | 'V':
    return SI_VR_SV;
  case 'T' << 8 | 'M':
    return SI_VR_TM;
  case 'U' << 8 | 'C':
    return SI_VR_UC;
  case 'U' << 8 | 'I':
    return SI_VR_UI;
  case 'U' << 8 | 'L':
    return SI_VR_UL;
  case 'U' << 8 | 'N':
    return SI_VR_UN;
  case 'U' << 8 | 'R':
    return SI_VR_UR;
  case 'U' << 8 | 'S':
    return SI_VR_US;
  case 'U' << 8 | 'T':
    return SI_VR_UT;
  case 'U' << 8 | 'V':
    return SI_VR_UV;
  default:
    return SI_VR_NONE;
  }
}

int si_vr_has_long_length(si_vr vr) { return valid(vr) && (vr_table[vr].flags & LONG_LEN); }
int si_vr_is_string(si_vr vr) { return valid(vr) && (vr_table[vr].flags & STRING); }
int si_vr_is_text(si_vr vr) { return valid(vr) && (vr_table[vr].flags & TEXT); }
int si_vr_is_multivalued_string(si_vr vr) {
  return valid(vr) && (vr_table[vr].flags & STRING) && !(vr_table[vr].flags & SINGLE_VALUED);
}
size_t si_vr_unit_size(si_vr vr) { return valid(vr) ? vr_table[vr].unit : 0; }
