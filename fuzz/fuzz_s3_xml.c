/* libFuzzer harness for the s3 destination's reader of the store's XML
 * answers (lib/deliver/s3_xml.c): any bytes, read for every tag the
 * destination asks for, into buffers of several sizes. It must never
 * crash or read out of bounds, and what it returns must obey its
 * contract: NUL-terminated within the buffer, no control characters, and
 * on success no '<' unless it came from a reference. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const tags[] = {"Code", "Message", "UploadId", "ETag", "Error", "Key"};
  static const size_t sizes[] = {1, 2, 5, 64, 1024};
  /* An exact-size copy, so reading past size is caught by ASan. */
  char *xml = malloc(size ? size : 1);
  if (!xml)
    return 0;
  memcpy(xml, data, size);
  for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      char *out = malloc(sizes[s]);
      if (!out)
        continue;
      si_status rc = si_s3_xml_text(xml, size, tags[t], out, sizes[s]);
      size_t n = strnlen(out, sizes[s]);
      if (n >= sizes[s])
        abort(); /* not terminated */
      for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7F)
          abort();
      if (rc == SI_OK && n > 0 && !memchr(xml, '&', size) && memchr(out, '<', n))
        abort(); /* markup handed back as text */
      free(out);
    }
  free(xml);
  return 0;
}
