#include <string.h>

#include "internal.h"

/* PS3.6 Table A-1, transfer syntaxes. Encapsulated ones carry pixel data as
 * fragments that the reader keeps as bytes. */
static const si_ts_props ts_table[] = {
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", 0, 0, 0, 0},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", 1, 0, 0, 0},
    {"1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", 1, 0, 1, 0},
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian", 1, 1, 0, 0},
    {"1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 & 5)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.53", "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8)", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.54", "JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9)", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.55", "JPEG Full Progression, Non-Hierarchical (Process 10 & 12)", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.56", "JPEG Full Progression, Non-Hierarchical (Process 11 & 13)", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.58", "JPEG Lossless, Non-Hierarchical (Process 15)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.59", "JPEG Extended, Hierarchical (Process 16 & 18)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.60", "JPEG Extended, Hierarchical (Process 17 & 19)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.61", "JPEG Spectral Selection, Hierarchical (Process 20 & 22)", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.62", "JPEG Spectral Selection, Hierarchical (Process 21 & 23)", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.63", "JPEG Full Progression, Hierarchical (Process 24 & 26)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.64", "JPEG Full Progression, Hierarchical (Process 25 & 27)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.65", "JPEG Lossless, Hierarchical (Process 28)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.66", "JPEG Lossless, Hierarchical (Process 29)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
     1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.94", "JPIP Referenced", 1, 0, 0, 0},
    {"1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", 1, 0, 1, 0},
    {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", 1, 0, 0,
     1},
    {"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.110", "JPEG XL Lossless", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.112", "JPEG XL", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", 1, 0,
     0, 1},
    {"1.2.840.10008.1.2.4.202",
     "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.4.204", "JPIP HTJ2K Referenced", 1, 0, 0, 0},
    {"1.2.840.10008.1.2.4.205", "JPIP HTJ2K Referenced Deflate", 1, 0, 1, 0},
    {"1.2.840.10008.1.2.5", "RLE Lossless", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.6.1", "RFC 2557 MIME encapsulation", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.6.2", "XML Encoding", 1, 0, 0, 1},
    {"1.2.840.10008.1.2.7.1", "SMPTE ST 2110-20 Uncompressed Progressive Active Video", 1, 0, 0, 0},
    {"1.2.840.10008.1.2.7.2", "SMPTE ST 2110-20 Uncompressed Interlaced Active Video", 1, 0, 0, 0},
    {"1.2.840.10008.1.2.7.3", "SMPTE ST 2110-30 PCM Digital Audio", 1, 0, 0, 0},
    {"1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", 1, 0, 0, 1},
};

const si_ts_props *si_ts_lookup(const char *uid) {
  if (!uid)
    return NULL;
  for (size_t i = 0; i < sizeof ts_table / sizeof ts_table[0]; i++)
    if (strcmp(ts_table[i].uid, uid) == 0)
      return &ts_table[i];
  return NULL;
}

const char *si_transfer_syntax_name(const char *uid) {
  const si_ts_props *ts = si_ts_lookup(uid);
  return ts ? ts->name : NULL;
}
