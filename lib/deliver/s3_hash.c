/* See s3_object.h: the checksums of an object and of its parts in one
 * read, so a multipart object is read twice in all (hash, then send). */
#include <errno.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "deliver/s3_md5.h"
#include "deliver/s3_object.h"
#include "deliver/sigv4.h"

void si_s3_hashes_free(si_s3_hashes *h) {
  if (!h)
    return;
  free(h->part_md5);
  free(h->part_sha256);
  h->part_md5 = NULL;
  h->part_sha256 = NULL;
}

si_status si_s3_hash_fd(int fd, const char *path, int64_t size, int64_t threshold,
                        int64_t part_size, si_s3_hashes *h, si_error *err) {
  memset(h, 0, sizeof *h);
  h->size = size;
  h->part_size = part_size > 0 ? part_size : SI_S3_PART_SIZE;
  if (size > threshold)
    h->parts = (size_t)((size + h->part_size - 1) / h->part_size);
  if (h->parts) {
    h->part_md5 = calloc(h->parts, sizeof *h->part_md5);
    h->part_sha256 = calloc(h->parts, sizeof *h->part_sha256);
    if (!h->part_md5 || !h->part_sha256) {
      si_s3_hashes_free(h);
      return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    }
  }
  enum { CHUNK = 1 << 20 };
  uint8_t *buf = malloc(CHUNK);
  if (!buf) {
    si_s3_hashes_free(h);
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  si_md5 md5, part_md5;
  crypto_hash_sha256_state sha, part_sha;
  si_md5_init(&md5);
  crypto_hash_sha256_init(&sha);
  si_md5_init(&part_md5);
  crypto_hash_sha256_init(&part_sha);
  int64_t off = 0;
  size_t part = 0;
  while (off < size) {
    /* Never read across a part's end: each part's hashes close there. */
    int64_t part_end = h->parts ? ((int64_t)part + 1) * h->part_size : size;
    if (part_end > size)
      part_end = size;
    size_t want = (size_t)(part_end - off < CHUNK ? part_end - off : CHUNK);
    ssize_t got;
    do
      got = pread(fd, buf, want, (off_t)off);
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
      free(buf);
      si_s3_hashes_free(h);
      return si_error_set(err, SI_ERR_IO, path, (uint64_t)off, SI_NO_TAG, "%s",
                          got < 0 ? strerror(errno) : "the file is shorter than it was");
    }
    si_md5_update(&md5, buf, (size_t)got);
    crypto_hash_sha256_update(&sha, buf, (size_t)got);
    if (h->parts) {
      si_md5_update(&part_md5, buf, (size_t)got);
      crypto_hash_sha256_update(&part_sha, buf, (size_t)got);
    }
    off += got;
    if (h->parts && off == part_end) {
      uint8_t d[32];
      si_md5_final(&part_md5, h->part_md5[part]);
      crypto_hash_sha256_final(&part_sha, d);
      si_sigv4_hex(d, 32, h->part_sha256[part]);
      si_md5_init(&part_md5);
      crypto_hash_sha256_init(&part_sha);
      part++;
    }
  }
  free(buf);
  uint8_t d[32];
  si_md5_final(&md5, h->md5);
  si_sigv4_hex(h->md5, 16, h->md5_hex);
  crypto_hash_sha256_final(&sha, d);
  si_sigv4_hex(d, 32, h->sha256);
  if (!h->parts) {
    memcpy(h->etag, h->md5_hex, sizeof h->md5_hex);
    return SI_OK;
  }
  /* S3's multipart ETag: the MD5 of the parts' binary MD5s, then -N. */
  si_md5 all;
  uint8_t md[16];
  char hex[33];
  si_md5_init(&all);
  for (size_t i = 0; i < h->parts; i++)
    si_md5_update(&all, h->part_md5[i], 16);
  si_md5_final(&all, md);
  si_sigv4_hex(md, 16, hex);
  snprintf(h->etag, sizeof h->etag, "%s-%zu", hex, h->parts);
  return SI_OK;
}

int si_s3_etag_matches(const si_s3_hashes *h, const char *etag) {
  return etag && (strcasecmp(etag, h->etag) == 0 || strcasecmp(etag, h->md5_hex) == 0);
}
