/* The s3 destination's per-study manifest, <prefix><study>/manifest.jsonl:
 * one JSON line per instance object ({"key","size","md5","sha256","etag"}),
 * sorted by key. A study may come in several batches, so a delivery reads
 * the manifest back, replaces its own keys' lines and writes it again: a
 * resend writes the same bytes. Internal to lib/deliver.
 *
 * Ownership: entries are borrowed; si_s3_manifest_merge's text is the
 * caller's to free. */
#ifndef SENDIT_DELIVER_S3_MANIFEST_H
#define SENDIT_DELIVER_S3_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "deliver/s3_client.h"
#include "sendit/error.h"

typedef struct si_s3_entry {
  const char *key;
  int64_t size;
  const char *md5_hex, *sha256, *etag;
} si_s3_entry;

/* The manifest's new text: the lines of old[old_size] (may be NULL) whose
 * key is not among entries, and entries, sorted by key. Lines of old that
 * are not such JSON objects are dropped and counted in *dropped. NULL
 * when out of memory. */
char *si_s3_manifest_merge(const char *old, size_t old_size, const si_s3_entry *entries,
                           size_t count, size_t *dropped);

/* Reads manifest_key (missing: empty), merges entries in and writes it
 * back with its MD5 checked by the store. SI_OK when the store answered
 * (reply->status 200: written; else its refusal); SI_ERR_IO when it could
 * not be reached; SI_ERR_LIMIT for a manifest over 256 MiB. */
si_status si_s3_manifest_update(si_s3 *s3, const char *manifest_key, const si_s3_entry *entries,
                                size_t count, si_s3_reply *reply, si_error *err);

#endif
