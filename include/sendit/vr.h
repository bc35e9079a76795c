/* Value Representations of DICOM PS3.5 section 6.2, and the facts about each
 * that the codec needs. All functions are pure; nothing is allocated. */
#ifndef SENDIT_VR_H
#define SENDIT_VR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum si_vr {
  SI_VR_NONE = 0, /* unknown / not yet determined */
  SI_VR_AE,
  SI_VR_AS,
  SI_VR_AT,
  SI_VR_CS,
  SI_VR_DA,
  SI_VR_DS,
  SI_VR_DT,
  SI_VR_FD,
  SI_VR_FL,
  SI_VR_IS,
  SI_VR_LO,
  SI_VR_LT,
  SI_VR_OB,
  SI_VR_OD,
  SI_VR_OF,
  SI_VR_OL,
  SI_VR_OV,
  SI_VR_OW,
  SI_VR_PN,
  SI_VR_SH,
  SI_VR_SL,
  SI_VR_SQ,
  SI_VR_SS,
  SI_VR_ST,
  SI_VR_SV,
  SI_VR_TM,
  SI_VR_UC,
  SI_VR_UI,
  SI_VR_UL,
  SI_VR_UN,
  SI_VR_UR,
  SI_VR_US,
  SI_VR_UT,
  SI_VR_UV,
  SI_VR_COUNT
} si_vr;

/* "AE", "OB", ...; "??" for SI_VR_NONE or out of range. Static storage. */
const char *si_vr_name(si_vr vr);

/* Parses the two characters of an explicit VR; SI_VR_NONE when not a VR. */
si_vr si_vr_from_chars(char c0, char c1);

/* Explicit VR encoding uses 2 reserved bytes + a 32-bit length for these
 * (OB OD OF OL OV OW SQ SV UC UN UR UT UV). */
int si_vr_has_long_length(si_vr vr);

/* Character-string VRs (AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT). */
int si_vr_is_string(si_vr vr);

/* String VRs whose value is affected by Specific Character Set
 * (LO LT PN SH ST UC UT). */
int si_vr_is_text(si_vr vr);

/* String VRs where backslash separates values (all strings but LT ST UR UT). */
int si_vr_is_multivalued_string(si_vr vr);

/* Size in bytes of one binary number of this VR (AT=4, FL=4, FD=8, SS/US=2,
 * SL/UL=4, SV/UV=8, OW=2, OF=4, OD=8, OL=4, OV=8), 1 for OB/UN, 0 for strings
 * and SQ. Used for byte swapping and value multiplicity. */
size_t si_vr_unit_size(si_vr vr);

#ifdef __cplusplus
}
#endif
#endif
