/* MD5 (RFC 1321), for S3's Content-MD5 header and its ETags only: the
 * store checks a body against Content-MD5 and names objects' contents by
 * their MD5, so the s3 destination must compute it (libsodium has none).
 * Never used for anything that needs collision resistance: the manifest's
 * integrity hash is SHA-256. Internal to lib/deliver. */
#ifndef SENDIT_DELIVER_S3_MD5_H
#define SENDIT_DELIVER_S3_MD5_H

#include <stddef.h>
#include <stdint.h>

typedef struct si_md5 {
  uint32_t state[4];
  uint64_t bytes;
  uint8_t block[64];
} si_md5;

void si_md5_init(si_md5 *m);
void si_md5_update(si_md5 *m, const void *data, size_t size);
void si_md5_final(si_md5 *m, uint8_t digest[16]);

#endif
