/* The `s3` destination type (issue 16): each instance as the object
 * <prefix><study>/<series>/<instance>.dcm of an S3-compatible bucket, then
 * the study's manifest <prefix><study>/manifest.jsonl.
 *
 * Idempotent by construction: an instance's key depends only on its UIDs,
 * and before sending, a HEAD asks whether the store already holds the same
 * bytes (its ETag is the MD5, or the multipart form of it, and the size
 * matches); then the object is not sent again but reported as "already
 * present". After an upload a second HEAD confirms what the store holds:
 * only then is the instance sent. Instances are reported after their
 * study's manifest is written, so a sent instance is always in it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/s3_client.h"
#include "deliver/s3_manifest.h"
#include "deliver/s3_object.h"
#include "deliver/types.h"
#include "sendit/package.h"
#include "sendit/strf.h"

static const si_dest_key s3_keys[] = {
    {"endpoint", 1, NULL, "the store's URL, http(s)://host[:port] (no path)"},
    {"bucket", 1, NULL, "the bucket the objects go to"},
    {"region", 0, "us-east-1", "the region signed into each request (SigV4)"},
    {"access_key", 1, NULL, "the access key id"},
    {"secret_key_file", 1, NULL, "a file holding the secret access key (first line)"},
    {"prefix", 0, "", "prepended to every key (e.g. \"site-a/\")"},
    {"mode", 0, "instances", "instances (one object per instance) | archive (the batch's package)"},
    {"path_style", 0, "true", "true: http://host/bucket/key; false: http://bucket.host/key"},
    {"multipart_mb", 0, "64", "objects over this many MiB go up in 16 MiB parts"},
    {"timeout", 0, "300", "seconds one request may take"},
    {"ca_file", 0, "", "CA certificates to trust for https (default: the system's)"},
    /* mode = archive: the folder type's package (sendit/package.h) as one object. */
    {"collection", 0, "sendit", "archive mode: the layout's {collection}"},
    {"layout", 0, SI_PACKAGE_DEFAULT_LAYOUT, "archive mode: the archive's key below prefix"},
    {"compression", 0, "none", "archive mode: none | zstd | gzip"},
    {"staging_dir", 0, "/var/tmp", "archive mode: where the archive is built before its upload"},
};

static si_status bad(const si_dest_config *d, const char *key, si_error *err, const char *fmt,
                     const char *value) {
  return si_error_set(err, SI_ERR_CONFIG, d->name, SI_NO_OFFSET, SI_NO_TAG,
                      "[destination %s] %s = %s: %s", d->name, key, value ? value : "", fmt);
}

/* "true"/"false" (and yes/no, 1/0): 1, 0, or -1 when neither. */
static int parse_bool(const char *v) {
  static const char *const yes[] = {"true", "yes", "1", "on"}, *const no[] = {"false", "no", "0",
                                                                              "off"};
  for (size_t i = 0; v && i < 4; i++) {
    if (strcmp(v, yes[i]) == 0)
      return 1;
    if (strcmp(v, no[i]) == 0)
      return 0;
  }
  return -1;
}

static long parse_positive(const char *v, long max) {
  char *end;
  long n = v ? strtol(v, &end, 10) : 0;
  return (v && *v && *end == '\0' && n > 0 && n <= max) ? n : -1;
}

/* The first line of the secret file, into a malloc'd string. */
static char *read_secret(const char *path, char *why, size_t size) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(why, size, "cannot open: %s", strerror(errno));
    return NULL;
  }
  char buf[512];
  char *got = fgets(buf, sizeof buf, f);
  fclose(f);
  if (!got) {
    snprintf(why, size, "is empty");
    return NULL;
  }
  buf[strcspn(buf, "\r\n")] = '\0';
  if (!buf[0]) {
    snprintf(why, size, "its first line is empty");
    return NULL;
  }
  return strdup(buf);
}

static si_status s3_check(const si_dest_config *d, si_error *err) {
  for (size_t i = 0; i < d->setting_count; i++) {
    size_t k = 0;
    while (k < sizeof s3_keys / sizeof s3_keys[0] && strcmp(s3_keys[k].key, d->settings[i].key))
      k++;
    if (k == sizeof s3_keys / sizeof s3_keys[0])
      return bad(d, d->settings[i].key, err, "not a key of type s3", d->settings[i].value);
  }
  for (size_t k = 0; k < sizeof s3_keys / sizeof s3_keys[0]; k++) {
    const char *v = si_dest_get(d, s3_keys[k].key);
    if (s3_keys[k].required && (!v || !v[0]))
      return bad(d, s3_keys[k].key, err, "required for type s3", v);
  }
  char why[512];
  const char *v = si_dest_get(d, "endpoint");
  if (!si_s3_endpoint_ok(v, why, sizeof why))
    return bad(d, "endpoint", err, why, v);
  v = si_dest_get(d, "bucket");
  /* S3's bucket names: 3-63 of a-z 0-9 . - (a path segment and a host label). */
  if (strlen(v) < 3 || strlen(v) > 63 ||
      strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(v))
    return bad(d, "bucket", err, "a bucket name is 3 to 63 of a-z 0-9 . -", v);
  v = si_dest_get(d, "mode");
  if (strcmp(v, "instances") != 0 && strcmp(v, "archive") != 0)
    return bad(d, "mode", err, "instances or archive", v);
  si_package_compression compression;
  si_error perr;
  v = si_dest_get(d, "compression");
  if (si_package_compression_parse(v, &compression, &perr) != SI_OK)
    return bad(d, "compression", err, "none, zstd or gzip", v);
  v = si_dest_get(d, "layout");
  if (si_package_layout_check(v, &perr) != SI_OK)
    return bad(d, "layout", err, perr.message, v);
  v = si_dest_get(d, "staging_dir");
  struct stat st;
  if (strcmp(si_dest_get(d, "mode"), "archive") == 0 &&
      (stat(v, &st) != 0 || !S_ISDIR(st.st_mode) || access(v, W_OK | X_OK) != 0))
    return bad(d, "staging_dir", err, "not a folder sendit may write to", v);
  v = si_dest_get(d, "path_style");
  if (parse_bool(v) < 0)
    return bad(d, "path_style", err, "true or false", v);
  v = si_dest_get(d, "multipart_mb");
  if (parse_positive(v, 1 << 20) < 5)
    return bad(d, "multipart_mb", err, "a whole number of MiB, at least 5", v);
  v = si_dest_get(d, "timeout");
  if (parse_positive(v, 86400) < 0)
    return bad(d, "timeout", err, "seconds, 1 to 86400", v);
  v = si_dest_get(d, "prefix");
  if (v[0] == '/')
    return bad(d, "prefix", err, "a key prefix starts without '/'", v);
  v = si_dest_get(d, "ca_file");
  if (v[0] && access(v, R_OK) != 0)
    return bad(d, "ca_file", err, "cannot be read", v);
  v = si_dest_get(d, "secret_key_file");
  char *secret = read_secret(v, why, sizeof why);
  if (!secret)
    return bad(d, "secret_key_file", err, why, v);
  memset(secret, 0, strlen(secret));
  free(secret);
  return SI_OK;
}

/* Refusals that concern the whole bucket or the credentials, not one
 * object: after one, every remaining instance fails the same way without
 * asking again. */
static const char *const bucket_wide[] = {
    "NoSuchBucket",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidBucketName",
    "AuthorizationHeaderMalformed",
    "AccountProblem",
    "AllAccessDisabled",
    "PermanentRedirect",
};

static int is_bucket_wide(const char *code) {
  for (size_t i = 0; i < sizeof bucket_wide / sizeof bucket_wide[0]; i++)
    if (strcmp(code, bucket_wide[i]) == 0)
      return 1;
  return 0;
}

/* A UID fit for a key: 1 to 64 of digits and dots. */
static int uid_ok(const char *uid) {
  size_t n = uid ? strlen(uid) : 0;
  return n > 0 && n <= 64 && strspn(uid, "0123456789.") == n;
}

/* One instance on its way: what the manifest and the report need. */
typedef struct pending {
  size_t index;
  char *key, *answer;
  si_s3_hashes h;
  int stored; /* in the store, confirmed */
} pending;

typedef struct run {
  const si_dest_config *d;
  const si_dest_batch *b;
  si_s3 *s3;
  const char *prefix;
  int64_t threshold;
  si_dest_report_fn report;
  void *user;
  pending *p;
} run;

static void report(run *r, size_t index, int sent, int retryable, const char *answer) {
  si_dest_result res = {.index = index, .sent = sent, .retryable = retryable, .answer = answer};
  r->report(r->user, &res);
}

/* An unreachable store (no answer, or 5xx): the delivery's error. */
static si_status unreachable(run *r, const char *what, const char *key, const si_s3_reply *reply,
                             si_status rc, si_error *err) {
  char why[512];
  if (rc == SI_OK) /* it answered, with a server error */
    si_error_set(err, SI_ERR_IO, r->d->name, SI_NO_OFFSET, SI_NO_TAG, "%s s3://%s/%s: %s", what,
                 si_s3_bucket(r->s3), key, si_s3_reply_describe(reply, why, sizeof why));
  return rc == SI_OK ? SI_ERR_IO : rc;
}

/* 1 when a HEAD of key shows exactly these bytes. */
static int holds(const si_s3_reply *head, const si_s3_hashes *h) {
  return head->status == 200 && si_s3_etag_matches(h, head->etag) && head->length == h->size;
}

/* How a PUT of one object ended when the store answered. */
typedef struct put_result {
  int stored;      /* 1: the store holds the bytes (answer set, malloc'd) */
  char *answer;    /* "s3://bucket/key etag ..." or "... already present, md5 ..." */
  int retryable;   /* when !stored */
  int bucket_wide; /* when !stored: the refusal concerns the bucket or the credentials */
  char why[700];   /* when !stored */
} put_result;

/* Puts the file at path as key, unless a HEAD shows the store holds those
 * bytes already; after an upload a second HEAD confirms what it holds.
 * h gets the file's hashes (the caller frees them). SI_OK whenever the
 * store answered (see out); SI_ERR_IO when it cannot be reached. */
static si_status put_object(run *r, const char *key, const char *path, const char *content_type,
                            si_s3_hashes *h, put_result *out, si_error *err) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    snprintf(out->why, sizeof out->why, "%s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    out->retryable = 1;
    return SI_OK;
  }
  si_error herr;
  if (si_s3_hash_fd(fd, path, (int64_t)sb.st_size, r->threshold, SI_S3_PART_SIZE, h, &herr) !=
      SI_OK) {
    close(fd);
    si_error_format(&herr, out->why, sizeof out->why);
    out->retryable = 1;
    return SI_OK;
  }
  si_s3_reply reply;
  si_status rc = si_s3_request(r->s3, "HEAD", key, NULL, 0, NULL, 0, &reply, err);
  if (rc != SI_OK || reply.status >= 500) {
    close(fd);
    rc = unreachable(r, "HEAD", key, &reply, rc, err);
    si_s3_reply_free(&reply);
    return rc;
  }
  if (holds(&reply, h)) {
    close(fd);
    si_s3_reply_free(&reply);
    out->answer =
        si_strf("s3://%s/%s already present, md5 %s", si_s3_bucket(r->s3), key, h->md5_hex);
    out->stored = 1;
    return out->answer ? SI_OK
                       : si_error_set(err, SI_ERR_NOMEM, r->d->name, SI_NO_OFFSET, SI_NO_TAG,
                                      "out of memory");
  }
  si_s3_reply_free(&reply);
  rc = si_s3_upload(r->s3, key, fd, h, content_type, &reply, err);
  close(fd);
  if (rc == SI_ERR_FORMAT) { /* an answer that made no sense: try again later */
    si_error_format(err, out->why, sizeof out->why);
    out->retryable = 1;
    si_s3_reply_free(&reply);
    return SI_OK;
  }
  if (rc != SI_OK || reply.status >= 500) {
    rc = unreachable(r, "PUT", key, &reply, rc, err);
    si_s3_reply_free(&reply);
    return rc;
  }
  if (reply.status != 200) {
    si_s3_reply_describe(&reply, out->why, sizeof out->why);
    out->bucket_wide = is_bucket_wide(reply.code);
    /* 4xx: the store refused this object for good (a 404 without a code, too). */
    out->retryable = reply.status == 408 || reply.status == 429;
    si_s3_reply_free(&reply);
    return SI_OK;
  }
  si_s3_reply_free(&reply);
  /* Trust, but verify: what does the store hold now? */
  rc = si_s3_request(r->s3, "HEAD", key, NULL, 0, NULL, 0, &reply, err);
  if (rc != SI_OK || reply.status >= 500) {
    rc = unreachable(r, "HEAD", key, &reply, rc, err);
    si_s3_reply_free(&reply);
    return rc;
  }
  if (!holds(&reply, h)) {
    snprintf(out->why, sizeof out->why,
             "s3://%s/%s: after the upload the store shows HTTP %ld, ETag \"%s\", %lld bytes; "
             "expected ETag %s, %lld bytes",
             si_s3_bucket(r->s3), key, reply.status, reply.etag, (long long)reply.length, h->etag,
             (long long)h->size);
    out->retryable = 1;
    si_s3_reply_free(&reply);
    return SI_OK;
  }
  out->answer = si_strf("s3://%s/%s etag %s", si_s3_bucket(r->s3), key, reply.etag);
  si_s3_reply_free(&reply);
  out->stored = 1;
  return out->answer ? SI_OK
                     : si_error_set(err, SI_ERR_NOMEM, r->d->name, SI_NO_OFFSET, SI_NO_TAG,
                                    "out of memory");
}

/* Sends one instance; fills p->stored and p->answer, or reports it failed.
 * SI_ERR_IO when the store cannot be reached; *stop set after a
 * bucket-wide refusal (its reason in stop_why). */
static si_status send_one(run *r, pending *p, int *stop, char *stop_why, size_t stop_size,
                          si_error *err) {
  const si_dest_item *it = &r->b->items[p->index];
  if (!uid_ok(it->study_uid) || !uid_ok(it->series_uid) || !uid_ok(it->sop_instance_uid)) {
    report(r, p->index, 0, 0, "no usable Study, Series or SOP Instance UID for an object key");
    return SI_OK;
  }
  p->key =
      si_strf("%s%s/%s/%s.dcm", r->prefix, it->study_uid, it->series_uid, it->sop_instance_uid);
  if (!p->key)
    return si_error_set(err, SI_ERR_NOMEM, r->d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  put_result put;
  si_status rc = put_object(r, p->key, it->path, "application/dicom", &p->h, &put, err);
  if (rc != SI_OK)
    return rc;
  if (put.stored) {
    p->answer = put.answer;
    p->stored = 1;
    return SI_OK;
  }
  if (put.bucket_wide) {
    *stop = 1;
    snprintf(stop_why, stop_size, "s3://%.63s: %s", si_s3_bucket(r->s3), put.why);
  }
  report(r, p->index, 0, put.retryable, put.why);
  return SI_OK;
}

/* Writes the manifest of the study of r->p[first] with every stored
 * instance of that study, then reports them: sent, or failed with the
 * manifest's reason. Marks them done (stored = 2). */
static si_status finish_study(run *r, size_t first, si_error *err) {
  const char *study = r->b->items[r->p[first].index].study_uid;
  size_t count = 0;
  for (size_t i = first; i < r->b->count; i++)
    count += r->p[i].stored == 1 && strcmp(r->b->items[r->p[i].index].study_uid, study) == 0;
  si_s3_entry *e = calloc(count, sizeof *e);
  size_t *which = calloc(count, sizeof *which);
  char *key = si_strf("%s%s/manifest.jsonl", r->prefix, study);
  if (!e || !which || !key) {
    free(e);
    free(which);
    free(key);
    return si_error_set(err, SI_ERR_NOMEM, r->d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  size_t n = 0;
  for (size_t i = first; i < r->b->count; i++) {
    pending *p = &r->p[i];
    if (p->stored != 1 || strcmp(r->b->items[p->index].study_uid, study) != 0)
      continue;
    which[n] = i;
    e[n++] = (si_s3_entry){.key = p->key,
                           .size = p->h.size,
                           .md5_hex = p->h.md5_hex,
                           .sha256 = p->h.sha256,
                           .etag = p->h.etag};
  }
  si_s3_reply reply;
  si_status rc = si_s3_manifest_update(r->s3, key, e, n, &reply, err);
  if (rc == SI_OK && reply.status >= 500)
    rc = unreachable(r, "manifest", key, &reply, rc, err);
  if (rc == SI_OK) {
    char why[700], desc[512];
    if (reply.status != 200)
      snprintf(why, sizeof why, "manifest s3://%s/%s: %s", si_s3_bucket(r->s3), key,
               si_s3_reply_describe(&reply, desc, sizeof desc));
    for (size_t k = 0; k < n; k++) {
      pending *p = &r->p[which[k]];
      if (reply.status == 200)
        report(r, p->index, 1, 0, p->answer);
      else
        report(r, p->index, 0, reply.status == 408 || reply.status == 429, why);
      p->stored = 2;
    }
  }
  si_s3_reply_free(&reply);
  free(e);
  free(which);
  free(key);
  return rc;
}

/* Reports every item of the batch the same way. */
static void report_all(run *r, int sent, int retryable, const char *answer) {
  for (size_t i = 0; i < r->b->count; i++)
    report(r, i, sent, retryable, answer);
}

/* mode = archive: the batch's package (the folder type's archive and
 * manifest, sendit/package.h) built in staging_dir, then put as
 * <prefix><layout><extension> and the same + ".manifest.jsonl". All or
 * nothing: the items are sent once both objects are confirmed. The key
 * depends only on the batch's header values, so a resend overwrites (or
 * finds already present) the same two objects. */
static si_status deliver_archive(run *r, const atomic_int *cancel, si_error *err) {
  const si_dest_config *d = r->d;
  si_package_options po = {.collection = si_dest_get(d, "collection"),
                           .layout = si_dest_get(d, "layout"),
                           .cancel = cancel};
  si_error perr;
  char rel[1024], why[1400];
  if (si_package_compression_parse(si_dest_get(d, "compression"), &po.compression, &perr) !=
          SI_OK ||
      si_package_layout(r->b, &po, rel, sizeof rel, &perr) != SI_OK) {
    report_all(r, 0, 0, si_error_format(&perr, why, sizeof why));
    return SI_OK;
  }
  char *dir = si_strf("%s/.sendit-s3-XXXXXX", si_dest_get(d, "staging_dir"));
  if (!dir)
    return si_error_set(err, SI_ERR_NOMEM, d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (!mkdtemp(dir)) {
    snprintf(why, sizeof why, "staging_dir %s: %s", si_dest_get(d, "staging_dir"), strerror(errno));
    free(dir);
    report_all(r, 0, 1, why);
    return SI_OK;
  }
  const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
  char *archive = si_strf("%s/%s", dir, base);
  char *manifest = si_strf("%s/%s.manifest.jsonl", dir, base);
  char *key = si_strf("%s%s", r->prefix, rel);
  char *manifest_key = si_strf("%s%s.manifest.jsonl", r->prefix, rel);
  si_status rc = SI_OK;
  if (!archive || !manifest || !key || !manifest_key) {
    rc = si_error_set(err, SI_ERR_NOMEM, d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    goto out;
  }
  si_package_result res;
  if (si_package_write(archive, r->b, &po, &res, &perr) != SI_OK) {
    /* A file of the batch unreadable, the staging disk full: ours, not the store's. */
    report_all(r, 0, 1, si_error_format(&perr, why, sizeof why));
    goto out;
  }
  put_result put = {0}, put_manifest = {0};
  si_s3_hashes h = {0}, hm = {0};
  rc = put_object(r, key, archive, "application/x-tar", &h, &put, err);
  if (rc == SI_OK && put.stored)
    rc = put_object(r, manifest_key, manifest, "application/x-ndjson", &hm, &put_manifest, err);
  if (rc == SI_OK) {
    if (!put.stored)
      report_all(r, 0, put.retryable, put.why);
    else if (!put_manifest.stored)
      report_all(r, 0, put_manifest.retryable, put_manifest.why);
    else {
      snprintf(why, sizeof why, "%s (archive of %zu, sha256 %s)", put.answer, res.members,
               res.sha256);
      report_all(r, 1, 0, why);
    }
  }
  free(put.answer);
  free(put_manifest.answer);
  si_s3_hashes_free(&h);
  si_s3_hashes_free(&hm);
out:
  if (archive)
    unlink(archive);
  if (manifest)
    unlink(manifest);
  rmdir(dir);
  free(dir);
  free(archive);
  free(manifest);
  free(key);
  free(manifest_key);
  return rc;
}

static si_status s3_deliver(const si_dest_config *d, const si_dest_batch *b,
                            const atomic_int *cancel, si_dest_report_fn report_fn, void *user,
                            si_error *err) {
  char why[512];
  char *secret = read_secret(si_dest_get(d, "secret_key_file"), why, sizeof why);
  if (!secret)
    return si_error_set(err, SI_ERR_CONFIG, d->name, SI_NO_OFFSET, SI_NO_TAG,
                        "[destination %s] secret_key_file %s: %s", d->name,
                        si_dest_get(d, "secret_key_file"), why);
  si_s3_options opt = {.endpoint = si_dest_get(d, "endpoint"),
                       .bucket = si_dest_get(d, "bucket"),
                       .region = si_dest_get(d, "region"),
                       .access_key = si_dest_get(d, "access_key"),
                       .secret_key = secret,
                       .ca_file = si_dest_get(d, "ca_file"),
                       .path_style = parse_bool(si_dest_get(d, "path_style")) != 0,
                       .timeout_seconds = parse_positive(si_dest_get(d, "timeout"), 86400)};
  run r = {.d = d,
           .b = b,
           .prefix = si_dest_get(d, "prefix"),
           .threshold = (int64_t)parse_positive(si_dest_get(d, "multipart_mb"), 1 << 20) << 20,
           .report = report_fn,
           .user = user};
  si_status rc = si_s3_open(&opt, &r.s3, err);
  memset(secret, 0, strlen(secret));
  free(secret);
  if (rc != SI_OK)
    return rc;
  r.p = calloc(b->count ? b->count : 1, sizeof *r.p);
  if (!r.p) {
    si_s3_close(r.s3);
    return si_error_set(err, SI_ERR_NOMEM, d->name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  if (strcmp(si_dest_get(d, "mode"), "archive") == 0) {
    rc = deliver_archive(&r, cancel, err);
    free(r.p);
    si_s3_close(r.s3);
    return rc;
  }
  int stop = 0;
  char stop_why[800] = ""; /* "s3://" + a bucket (63 at most) + why */
  for (size_t i = 0; i < b->count && rc == SI_OK; i++) {
    r.p[i].index = i;
    if (stop) {
      report(&r, i, 0, 0, stop_why);
      continue;
    }
    if (cancel && atomic_load(cancel)) {
      rc = si_error_set(err, SI_ERR_STATE, d->name, SI_NO_OFFSET, SI_NO_TAG,
                        "delivery to %s cancelled", d->name);
      break;
    }
    rc = send_one(&r, &r.p[i], &stop, stop_why, sizeof stop_why, err);
  }
  /* One manifest per study, written once its instances are all in. */
  for (size_t i = 0; i < b->count && rc == SI_OK; i++)
    if (r.p[i].stored == 1)
      rc = finish_study(&r, i, err);
  for (size_t i = 0; i < b->count; i++) {
    free(r.p[i].key);
    free(r.p[i].answer);
    si_s3_hashes_free(&r.p[i].h);
  }
  free(r.p);
  si_s3_close(r.s3);
  return rc;
}

const si_dest_type si_dest_type_s3 = {
    .name = "s3",
    .keys = s3_keys,
    .key_count = sizeof s3_keys / sizeof s3_keys[0],
    .check = s3_check,
    .deliver = s3_deliver,
};
