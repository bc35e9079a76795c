/* One object's trip to the store: its checksums, computed in one pass
 * over the file (s3_hash.c), and its upload, a single PUT or a multipart
 * upload of fixed-size parts (s3_multipart.c). Internal to lib/deliver.
 *
 * Ownership: si_s3_hashes owns its part arrays (si_s3_hashes_free). */
#ifndef SENDIT_DELIVER_S3_OBJECT_H
#define SENDIT_DELIVER_S3_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "deliver/s3_client.h"
#include "sendit/error.h"

/* S3's part size for multipart uploads: 16 MiB (at least the 5 MiB S3
 * needs for every part but the last). */
#define SI_S3_PART_SIZE ((int64_t)16 << 20)

typedef struct si_s3_hashes {
  int64_t size;      /* bytes of the object */
  int64_t part_size; /* bytes per part (the last may be shorter) */
  size_t parts;      /* 0: one PUT; else the multipart upload's part count */
  uint8_t md5[16];   /* of the whole object */
  char md5_hex[33];
  char sha256[65];         /* of the whole object, hex */
  uint8_t (*part_md5)[16]; /* per part, when parts */
  char (*part_sha256)[65];
  char etag[48]; /* what the store names it: md5_hex, or hex(md5(part md5s))-N */
} si_s3_hashes;

/* Hashes size bytes of fd (path names it in errors); a multipart object
 * when size > threshold (bytes). SI_ERR_IO when the file cannot be read
 * or is shorter than size; SI_ERR_NOMEM. */
si_status si_s3_hash_fd(int fd, const char *path, int64_t size, int64_t threshold,
                        int64_t part_size, si_s3_hashes *h, si_error *err);
void si_s3_hashes_free(si_s3_hashes *h);

/* 1 when an ETag the store reported stands for this content: the expected
 * one, or the whole object's MD5 (stores such as s3rver name multipart
 * objects so). */
int si_s3_etag_matches(const si_s3_hashes *h, const char *etag);

/* Uploads size bytes of fd to key: one PUT with Content-MD5 and the
 * payload's SHA-256, or, when h->parts, CreateMultipartUpload, one
 * UploadPart per part (each with its MD5, its ETag checked),
 * CompleteMultipartUpload, and AbortMultipartUpload when any step fails.
 * SI_OK when the store answered: reply->status 200 means stored; another
 * status is the store's refusal (code, message). SI_ERR_IO when the store
 * could not be reached; SI_ERR_FORMAT when its answer made no sense (both
 * with err naming the store and key). */
si_status si_s3_upload(si_s3 *s3, const char *key, int fd, const si_s3_hashes *h,
                       const char *content_type, si_s3_reply *reply, si_error *err);

#endif
