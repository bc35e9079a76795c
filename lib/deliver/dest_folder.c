/* The `folder` destination type (issue 16): each batch as one package
 * (sendit/package.h) below a folder. Every item is reported sent once the
 * archive and its manifest are renamed into place and the folder fsynced;
 * a failure reports nothing and returns the error, so the engine retries
 * the whole batch: the archive is all of the batch or nothing. A resend of
 * items the archive already holds is confirmed from its manifest (see
 * si_package_deliver). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "deliver/types.h"
#include "sendit/fs.h"
#include "sendit/package.h"

static const si_dest_key folder_keys[] = {
    {"path", 1, NULL, "the destination folder (made when missing; a symlink is refused)"},
    {"collection", 0, "sendit", "the layout's first folder and the manifest's collection"},
    {"compression", 0, "none", "none | zstd | gzip (gzip is slow on CT pixels)"},
    {"layout", 0, SI_PACKAGE_DEFAULT_LAYOUT,
     "archive path below path: {collection} {patient} {date} {accession} {batch}"},
};

static si_status options_of(const si_dest_config *d, si_package_options *o, si_error *err) {
  memset(o, 0, sizeof *o);
  o->collection = si_dest_get(d, "collection");
  o->layout = si_dest_get(d, "layout");
  if (si_package_compression_parse(si_dest_get(d, "compression"), &o->compression, err) != SI_OK)
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "destination %s: compression %s: none, zstd or gzip", d->name,
                        si_dest_get(d, "compression"));
  return SI_OK;
}

static si_status folder_check(const si_dest_config *d, si_error *err) {
  for (size_t i = 0; i < d->setting_count; i++) {
    size_t k = 0;
    while (k < sizeof folder_keys / sizeof folder_keys[0] &&
           strcmp(folder_keys[k].key, d->settings[i].key) != 0)
      k++;
    if (k == sizeof folder_keys / sizeof folder_keys[0])
      return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                          "destination %s: unknown key %s for type folder", d->name,
                          d->settings[i].key);
  }
  const char *path = si_dest_get(d, "path");
  if (!path || !*path)
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "destination %s: path is required", d->name);
  si_package_options o;
  si_status st = options_of(d, &o, err);
  if (st != SI_OK)
    return st;
  const char *collection = o.collection ? o.collection : "";
  char safe[80];
  si_package_sanitize(collection, "", safe, sizeof safe);
  if (strcmp(safe, collection) != 0)
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG,
                        "destination %s: collection %s: letters, digits, '-', '_', '.' only "
                        "(at most 64)",
                        d->name, collection);
  if (si_package_layout_check(o.layout, err) != SI_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", err ? err->message : "");
    return si_error_set(err, SI_ERR_CONFIG, "", SI_NO_OFFSET, SI_NO_TAG, "destination %s: %s",
                        d->name, why);
  }
  /* lstat("link/") would follow the link: look at the name without its
   * trailing slashes. */
  char top[1024];
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/')
    len--;
  if (len >= sizeof top)
    return si_error_set(err, SI_ERR_CONFIG, path, SI_NO_OFFSET, SI_NO_TAG,
                        "destination %s: path too long", d->name);
  memcpy(top, path, len);
  top[len] = '\0';
  struct stat sb;
  if (lstat(top, &sb) != 0) {
    if (errno != ENOENT || si_mkdir_p(path, NULL) != SI_OK)
      return si_error_set(err, SI_ERR_CONFIG, path, SI_NO_OFFSET, SI_NO_TAG,
                          "destination %s: path cannot be made", d->name);
  } else if (S_ISLNK(sb.st_mode)) {
    return si_error_set(err, SI_ERR_CONFIG, path, SI_NO_OFFSET, SI_NO_TAG,
                        "destination %s: path is a symlink (refused: name the real folder)",
                        d->name);
  } else if (!S_ISDIR(sb.st_mode)) {
    return si_error_set(err, SI_ERR_CONFIG, path, SI_NO_OFFSET, SI_NO_TAG,
                        "destination %s: path is not a folder", d->name);
  }
  return SI_OK;
}

static si_status folder_deliver(const si_dest_config *d, const si_dest_batch *b,
                                const atomic_int *cancel, si_dest_report_fn report, void *user,
                                si_error *err) {
  if (b->count == 0)
    return SI_OK;
  si_error local;
  if (!err)
    err = &local;
  si_package_options o;
  si_status st = options_of(d, &o, err);
  if (st != SI_OK)
    return st;
  o.cancel = cancel;
  si_package_result res;
  st = si_package_deliver(si_dest_get(d, "path"), b, &o, &res, err);
  if (st != SI_OK && res.conflict) {
    /* This batch's refusal, not the destination's: the items fail for
     * good (an operator resends the whole batch); the breaker is not fed. */
    char why[1200];
    snprintf(why, sizeof why, "%s: %s", err->file, err->message);
    for (size_t i = 0; i < b->count; i++) {
      si_dest_result r = {.index = i, .sent = 0, .retryable = 0, .answer = why};
      report(user, &r);
    }
    return SI_OK;
  }
  if (st != SI_OK)
    return st;
  char answer[1200];
  snprintf(answer, sizeof answer, "archive %s sha256 %s", res.relative, res.sha256);
  for (size_t i = 0; i < b->count; i++) {
    si_dest_result r = {.index = i, .sent = 1, .retryable = 0, .answer = answer};
    report(user, &r);
  }
  return SI_OK;
}

const si_dest_type si_dest_type_folder = {
    .name = "folder",
    .keys = folder_keys,
    .key_count = sizeof folder_keys / sizeof folder_keys[0],
    .check = folder_check,
    .deliver = folder_deliver,
};
