/* Private attributes the Retain Safe Private option keeps (PS3.15 E.3.10):
 * facts from the standard's sample list, Table E.3.10-1 ("Safe Private
 * Attributes"), for the elements whose VR is a number or a short code
 * (the SQ and OB entries of that table hold nested or opaque data that
 * cannot be checked here, so they are left out). Keyed by private creator,
 * group and the element's low byte (the block byte varies per file). The
 * standard notes vendors do not guarantee these safe. */
#include <string.h>

#include "deid_internal.h"

typedef struct safe_private {
  const char *creator;
  uint16_t group;
  uint8_t element; /* low byte: (gggg,xxEE) */
} safe_private;

static const safe_private safe[] = {
    {"Philips PET Private Group", 0x7053, 0x00}, /* SUV factor */
    {"Philips PET Private Group", 0x7053, 0x09}, /* activity concentration factor */
    {"ELSCINT1", 0x00E1, 0x21},                  /* DLP */
    {"ELSCINT1", 0x00E1, 0x50},                  /* acquisition duration */
    {"ELSCINT1", 0x01E1, 0x26},                  /* phantom type */
    {"ELSCINT1", 0x01F1, 0x01},                  /* acquisition type */
    {"ELSCINT1", 0x01F1, 0x07},                  /* table velocity */
    {"ELSCINT1", 0x01F1, 0x26},                  /* pitch */
    {"ELSCINT1", 0x01F1, 0x27},                  /* rotation time */
    {"GEMS_ACQU_01", 0x0019, 0x23},              /* table speed */
    {"GEMS_ACQU_01", 0x0019, 0x24},              /* mid scan time */
    {"GEMS_ACQU_01", 0x0019, 0x27},              /* rotation speed */
    {"GEMS_ACQU_01", 0x0019, 0x9E},              /* internal pulse sequence name */
    {"GEMS_PARM_01", 0x0043, 0x27},              /* scan pitch ratio */
    {"GEMS_PARM_01", 0x0043, 0x39},              /* b value */
    {"GEMS_PARM_01", 0x0043, 0x6F},              /* table entry, gradient coil */
    {"GEMS_HELIOS_01", 0x0045, 0x01},            /* macro rows in detector */
    {"GEMS_HELIOS_01", 0x0045, 0x02},            /* macro width at iso centre */
    {"GEMS_SERS_01", 0x0025, 0x07},              /* images in series */
    {"GEIIS PACS", 0x0903, 0x10},                /* reject image flag */
    {"GEIIS PACS", 0x0903, 0x11},                /* significant flag */
    {"GEIIS PACS", 0x0903, 0x12},                /* confidential flag */
    {"Philips Imaging DD 001", 0x2001, 0x03},    /* diffusion b-factor */
    {"Philips Imaging DD 001", 0x2001, 0x04},    /* diffusion direction */
    {"Philips MR Imaging DD 001", 0x2005, 0x0D}, /* scale intercept */
    {"Philips MR Imaging DD 001", 0x2005, 0x0E}, /* scale slope */
    {"SIEMENS MR HEADER", 0x0019, 0x0C},         /* b value */
    {"SIEMENS MR HEADER", 0x0019, 0x0D},         /* diffusion directionality */
    {"SIEMENS MR HEADER", 0x0019, 0x0E},         /* diffusion gradient direction */
    {"SIEMENS MR HEADER", 0x0019, 0x27},         /* b matrix */
};

static int creator_matches(const char *want, const char *creator, size_t len) {
  return strlen(want) == len && memcmp(want, creator, len) == 0;
}

int deid_safe_private(uint16_t group, uint8_t element, const char *creator, size_t len) {
  for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
    if (safe[i].group == group && safe[i].element == element &&
        creator_matches(safe[i].creator, creator, len))
      return 1;
  return 0;
}

int deid_safe_private_creator(uint16_t group, const char *creator, size_t len) {
  for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
    if (safe[i].group == group && creator_matches(safe[i].creator, creator, len))
      return 1;
  return 0;
}
