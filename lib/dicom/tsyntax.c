#include <string.h>

#include "internal.h"

/* PS3.6 Table A-1, transfer syntaxes: uid, name, short name, explicit VR,
 * big endian, deflated, encapsulated, retired. Encapsulated ones carry pixel
 * data as fragments that the reader keeps as bytes. */
static const si_ts_props ts_table[] = {
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", "implicit", 0, 0, 0, 0, 0},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", "explicit", 1, 0, 0, 0, 0},
    {"1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", NULL, 1, 0, 0,
     1, 0},
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", "deflated", 1, 0, 1, 0, 0},
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian", "big", 1, 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 & 5)", NULL, 1, 0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.53", "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8)", NULL, 1,
     0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.54", "JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9)", NULL, 1,
     0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.55", "JPEG Full Progression, Non-Hierarchical (Process 10 & 12)", NULL, 1,
     0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.56", "JPEG Full Progression, Non-Hierarchical (Process 11 & 13)", NULL, 1,
     0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.58", "JPEG Lossless, Non-Hierarchical (Process 15)", NULL, 1, 0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.59", "JPEG Extended, Hierarchical (Process 16 & 18)", NULL, 1, 0, 0, 1,
     1},
    {"1.2.840.10008.1.2.4.60", "JPEG Extended, Hierarchical (Process 17 & 19)", NULL, 1, 0, 0, 1,
     1},
    {"1.2.840.10008.1.2.4.61", "JPEG Spectral Selection, Hierarchical (Process 20 & 22)", NULL, 1,
     0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.62", "JPEG Spectral Selection, Hierarchical (Process 21 & 23)", NULL, 1,
     0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.63", "JPEG Full Progression, Hierarchical (Process 24 & 26)", NULL, 1, 0,
     0, 1, 1},
    {"1.2.840.10008.1.2.4.64", "JPEG Full Progression, Hierarchical (Process 25 & 27)", NULL, 1, 0,
     0, 1, 1},
    {"1.2.840.10008.1.2.4.65", "JPEG Lossless, Hierarchical (Process 28)", NULL, 1, 0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.66", "JPEG Lossless, Hierarchical (Process 29)", NULL, 1, 0, 0, 1, 1},
    {"1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction", NULL, 1,
     0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", NULL, 1, 0, 0, 1,
     0},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
     NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", NULL, 1, 0, 0,
     1, 0},
    {"1.2.840.10008.1.2.4.94", "JPIP Referenced", NULL, 1, 0, 0, 0, 0},
    {"1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", NULL, 1, 0, 1, 0, 0},
    {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", NULL, 1,
     0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", NULL, 1,
     0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", NULL, 1,
     0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", NULL, 1, 0, 0,
     1, 0},
    {"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.110", "JPEG XL Lossless", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.112", "JPEG XL", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", NULL,
     1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.202",
     "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", NULL, 1, 0, 0,
     1, 0},
    {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.4.204", "JPIP HTJ2K Referenced", NULL, 1, 0, 0, 0, 0},
    {"1.2.840.10008.1.2.4.205", "JPIP HTJ2K Referenced Deflate", NULL, 1, 0, 1, 0, 0},
    {"1.2.840.10008.1.2.5", "RLE Lossless", NULL, 1, 0, 0, 1, 0},
    {"1.2.840.10008.1.2.6.1", "RFC 2557 MIME encapsulation", NULL, 1, 0, 0, 1, 1},
    {"1.2.840.10008.1.2.6.2", "XML Encoding", NULL, 1, 0, 0, 1, 1},
    {"1.2.840.10008.1.2.7.1", "SMPTE ST 2110-20 Uncompressed Progressive Active Video", NULL, 1, 0,
     0, 0, 0},
    {"1.2.840.10008.1.2.7.2", "SMPTE ST 2110-20 Uncompressed Interlaced Active Video", NULL, 1, 0,
     0, 0, 0},
    {"1.2.840.10008.1.2.7.3", "SMPTE ST 2110-30 PCM Digital Audio", NULL, 1, 0, 0, 0, 0},
    {"1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", NULL, 1, 0, 0, 1, 0},
};

#define TS_COUNT (sizeof ts_table / sizeof ts_table[0])

const si_ts_props *si_ts_lookup(const char *uid) {
  if (!uid)
    return NULL;
  for (size_t i = 0; i < TS_COUNT; i++)
    if (strcmp(ts_table[i].uid, uid) == 0)
      return &ts_table[i];
  return NULL;
}

const si_transfer_syntax *si_ts_by_uid(const char *uid) { return si_ts_lookup(uid); }

const si_transfer_syntax *si_ts_by_name(const char *short_name) {
  if (!short_name)
    return NULL;
  for (size_t i = 0; i < TS_COUNT; i++)
    if (ts_table[i].short_name && strcmp(ts_table[i].short_name, short_name) == 0)
      return &ts_table[i];
  return NULL;
}

size_t si_ts_count(void) { return TS_COUNT; }

const si_transfer_syntax *si_ts_at(size_t i) { return i < TS_COUNT ? &ts_table[i] : NULL; }

const char *si_transfer_syntax_name(const char *uid) {
  const si_ts_props *ts = si_ts_lookup(uid);
  return ts ? ts->name : NULL;
}
