/* See s3_manifest.h. */
#include "deliver/s3_manifest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/s3_md5.h"
#include "deliver/sigv4.h"
#include "deliver/sigv4_buf.h"

typedef struct line {
  char *key;  /* owned */
  char *text; /* owned, without its newline */
} line;

static int by_key(const void *a, const void *b) {
  return strcmp(((const line *)a)->key, ((const line *)b)->key);
}

static char *entry_line(const si_s3_entry *e) {
  json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s}", "key", e->key, "size", (json_int_t)e->size,
                        "md5", e->md5_hex, "sha256", e->sha256, "etag", e->etag ? e->etag : "");
  if (!o)
    return NULL;
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return s;
}

static int is_new_key(const char *key, const si_s3_entry *entries, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (strcmp(entries[i].key, key) == 0)
      return 1;
  return 0;
}

char *si_s3_manifest_merge(const char *old, size_t old_size, const si_s3_entry *entries,
                           size_t count, size_t *dropped) {
  size_t cap = count + 16, n = 0;
  line *lines = malloc(cap * sizeof *lines);
  int oom = !lines;
  *dropped = 0;
  for (size_t pos = 0; old && !oom && pos < old_size;) {
    const char *nl = memchr(old + pos, '\n', old_size - pos);
    size_t len = nl ? (size_t)(nl - (old + pos)) : old_size - pos;
    const char *text = old + pos;
    pos += len + 1;
    if (len == 0)
      continue;
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *key = o ? json_string_value(json_object_get(o, "key")) : NULL;
    if (!json_is_object(o) || !key || !key[0]) {
      (*dropped)++;
      json_decref(o);
      continue;
    }
    if (is_new_key(key, entries, count)) {
      json_decref(o);
      continue;
    }
    if (n == cap) {
      line *more = realloc(lines, (cap *= 2) * sizeof *lines);
      if (!more) {
        json_decref(o);
        oom = 1;
        break;
      }
      lines = more;
    }
    lines[n].key = strdup(key);
    lines[n].text = strndup(text, len);
    json_decref(o);
    if (!lines[n].key || !lines[n].text)
      oom = 1;
    n++;
  }
  for (size_t i = 0; !oom && i < count; i++) {
    if (n == cap) {
      line *more = realloc(lines, (cap *= 2) * sizeof *lines);
      if (!more) {
        oom = 1;
        break;
      }
      lines = more;
    }
    lines[n].key = strdup(entries[i].key);
    lines[n].text = entry_line(&entries[i]);
    if (!lines[n].key || !lines[n].text)
      oom = 1;
    n++;
  }
  si_sbuf out = {0};
  si_sbuf_adds(&out, "");
  if (!oom) {
    qsort(lines, n, sizeof *lines, by_key);
    for (size_t i = 0; i < n; i++) {
      /* A batch repeating a key (the same instance twice) keeps one line. */
      if (i && strcmp(lines[i].key, lines[i - 1].key) == 0)
        continue;
      si_sbuf_adds(&out, lines[i].text);
      si_sbuf_addc(&out, '\n');
    }
  }
  for (size_t i = 0; lines && i < n; i++) {
    free(lines[i].key);
    free(lines[i].text);
  }
  free(lines);
  if (oom) {
    si_sbuf_free(&out);
    return NULL;
  }
  return si_sbuf_take(&out);
}

si_status si_s3_manifest_update(si_s3 *s3, const char *manifest_key, const si_s3_entry *entries,
                                size_t count, si_s3_reply *reply, si_error *err) {
  si_status rc =
      si_s3_request(s3, "GET", manifest_key, NULL, 0, NULL, (size_t)256 << 20, reply, err);
  if (rc != SI_OK)
    return rc;
  if (reply->status != 200 && reply->status != 404)
    return SI_OK; /* the store's refusal, in reply */
  size_t dropped;
  char *text = si_s3_manifest_merge(reply->status == 200 ? reply->body : NULL, reply->body_size,
                                    entries, count, &dropped);
  si_s3_reply_free(reply);
  if (!text)
    return si_error_set(err, SI_ERR_NOMEM, manifest_key, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  size_t len = strlen(text);
  si_md5 m;
  uint8_t md5[16];
  char sha[65];
  si_md5_init(&m);
  si_md5_update(&m, text, len);
  si_md5_final(&m, md5);
  si_sigv4_sha256_hex(text, len, sha);
  si_s3_body body = {.fd = -1,
                     .data = text,
                     .size = len,
                     .sha256_hex = sha,
                     .md5 = md5,
                     .content_type = "application/x-ndjson"};
  rc = si_s3_request(s3, "PUT", manifest_key, NULL, 0, &body, 0, reply, err);
  free(text);
  return rc;
}
