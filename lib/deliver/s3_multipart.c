/* See s3_object.h: an object's upload, in one PUT or in parts. Every part
 * carries its MD5 (the store refuses a part that arrived changed) and its
 * answer's ETag is checked against it; a multipart upload that fails at any
 * step is aborted so the store drops its parts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/s3_object.h"
#include "deliver/s3_xml.h"
#include "deliver/sigv4.h"
#include "deliver/sigv4_buf.h"

static si_status put_single(si_s3 *s3, const char *key, int fd, const si_s3_hashes *h,
                            const char *content_type, si_s3_reply *reply, si_error *err) {
  si_s3_body body = {.fd = fd,
                     .offset = 0,
                     .length = h->size,
                     .sha256_hex = h->sha256,
                     .md5 = h->md5,
                     .content_type = content_type};
  return si_s3_request(s3, "PUT", key, NULL, 0, &body, 0, reply, err);
}

static void abort_upload(si_s3 *s3, const char *key, const char *upload_id) {
  si_sigv4_pair q[] = {{"uploadId", upload_id}};
  si_s3_reply r;
  si_error ignored;
  /* Best effort: a store that cannot take the abort expires the parts. */
  (void)si_s3_request(s3, "DELETE", key, q, 1, NULL, 0, &r, &ignored);
  si_s3_reply_free(&r);
}

/* Moves reply `from` (a failed step's) into `to`, the caller's. */
static void hand_over(si_s3_reply *to, si_s3_reply *from) {
  si_s3_reply_free(to);
  *to = *from;
  memset(from, 0, sizeof *from);
}

static si_status put_parts(si_s3 *s3, const char *key, int fd, const si_s3_hashes *h,
                           const char *content_type, si_s3_reply *reply, si_error *err) {
  /* CreateMultipartUpload: POST ?uploads, answer <UploadId>. */
  si_sigv4_pair create_q[] = {{"uploads", ""}};
  si_s3_body create_body = {.fd = -1, .content_type = content_type};
  si_status rc = si_s3_request(s3, "POST", key, create_q, 1, &create_body, 0, reply, err);
  if (rc != SI_OK || reply->status != 200)
    return rc;
  char upload_id[1024];
  si_status xs = reply->body ? si_s3_xml_text(reply->body, reply->body_size, "UploadId", upload_id,
                                              sizeof upload_id)
                             : SI_ERR_NOT_FOUND;
  if (xs != SI_OK || !upload_id[0])
    return si_error_set(err, SI_ERR_FORMAT, key, SI_NO_OFFSET, SI_NO_TAG,
                        "the store's answer to CreateMultipartUpload has no usable UploadId (%s)",
                        si_status_name(xs));
  si_s3_reply_free(reply);

  si_sbuf complete = {0};
  si_sbuf_adds(&complete, "<CompleteMultipartUpload>");
  for (size_t i = 0; i < h->parts; i++) {
    char number[24], md5_hex[33];
    snprintf(number, sizeof number, "%zu", i + 1);
    si_sigv4_hex(h->part_md5[i], 16, md5_hex);
    int64_t off = (int64_t)i * h->part_size;
    int64_t len = h->size - off < h->part_size ? h->size - off : h->part_size;
    si_sigv4_pair q[] = {{"partNumber", number}, {"uploadId", upload_id}};
    si_s3_body body = {.fd = fd,
                       .offset = off,
                       .length = len,
                       .sha256_hex = h->part_sha256[i],
                       .md5 = h->part_md5[i]};
    si_s3_reply part;
    rc = si_s3_request(s3, "PUT", key, q, 2, &body, 0, &part, err);
    if (rc != SI_OK || part.status != 200) {
      hand_over(reply, &part);
      goto failed;
    }
    if (strcasecmp(part.etag, md5_hex) != 0) {
      rc = si_error_set(err, SI_ERR_FORMAT, key, (uint64_t)off, SI_NO_TAG,
                        "part %s: the store answered ETag \"%s\", its MD5 is %s", number, part.etag,
                        md5_hex);
      si_s3_reply_free(&part);
      goto failed;
    }
    si_s3_reply_free(&part);
    si_sbuf_adds(&complete, "<Part><PartNumber>");
    si_sbuf_adds(&complete, number);
    si_sbuf_adds(&complete, "</PartNumber><ETag>\"");
    si_sbuf_adds(&complete, md5_hex);
    si_sbuf_adds(&complete, "\"</ETag></Part>");
  }
  si_sbuf_adds(&complete, "</CompleteMultipartUpload>");
  if (complete.oom) {
    rc = si_error_set(err, SI_ERR_NOMEM, key, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    goto failed;
  }
  {
    char sha[65];
    si_sigv4_sha256_hex(complete.p, complete.len, sha);
    si_sigv4_pair q[] = {{"uploadId", upload_id}};
    si_s3_body body = {.fd = -1,
                       .data = complete.p,
                       .size = complete.len,
                       .sha256_hex = sha,
                       .content_type = "application/xml"};
    rc = si_s3_request(s3, "POST", key, q, 1, &body, 0, reply, err);
    if (rc != SI_OK || reply->status != 200)
      goto failed;
    /* S3 may answer 200 and still fail the completion, in an <Error>. */
    char code[64];
    if (reply->body && si_s3_xml_text(reply->body, reply->body_size, "Error", code, sizeof code) !=
                           SI_ERR_NOT_FOUND) {
      if (si_s3_xml_text(reply->body, reply->body_size, "Code", reply->code, sizeof reply->code) !=
          SI_OK)
        snprintf(reply->code, sizeof reply->code, "InternalError");
      if (si_s3_xml_text(reply->body, reply->body_size, "Message", reply->message,
                         sizeof reply->message) != SI_OK)
        reply->message[0] = '\0';
      reply->status = 500; /* retryable, as S3 says of it */
      goto failed;
    }
    if (!reply->body || si_s3_xml_text(reply->body, reply->body_size, "ETag", reply->etag,
                                       sizeof reply->etag) != SI_OK) {
      rc = si_error_set(err, SI_ERR_FORMAT, key, SI_NO_OFFSET, SI_NO_TAG,
                        "the store's answer to CompleteMultipartUpload has no ETag");
      goto failed;
    }
    /* The ETag comes quoted inside the XML too. */
    size_t n = strlen(reply->etag);
    if (n >= 2 && reply->etag[0] == '"' && reply->etag[n - 1] == '"') {
      memmove(reply->etag, reply->etag + 1, n - 2);
      reply->etag[n - 2] = '\0';
    }
  }
  si_sbuf_free(&complete);
  return SI_OK;
failed:
  si_sbuf_free(&complete);
  abort_upload(s3, key, upload_id);
  return rc;
}

si_status si_s3_upload(si_s3 *s3, const char *key, int fd, const si_s3_hashes *h,
                       const char *content_type, si_s3_reply *reply, si_error *err) {
  memset(reply, 0, sizeof *reply);
  return h->parts ? put_parts(s3, key, fd, h, content_type, reply, err)
                  : put_single(s3, key, fd, h, content_type, reply, err);
}
