/* What to do when a package of the same name is already there. The engine
 * hands a destination only the items it has not confirmed, so after a crash
 * between the rename and the ledger's commit a batch comes back as a subset
 * of what the archive holds: rewriting the archive from that subset would
 * lose the rest. Decided from the manifest beside the archive:
 *   - every item is in it (same SOPInstanceUID, size and sha256) and the
 *     archive has the size the manifest says: reuse it, write nothing;
 *   - every instance it lists is among the items: rewrite (nothing lost);
 *   - else a conflict (the archive holds instances this delivery lacks and
 *     lacks some it has): nothing written, the caller reports it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/package_internal.h"

static json_t *load_rows(int dirfd, const char *manifest) {
  int fd = openat(dirfd, manifest, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  FILE *f = fdopen(fd, "r");
  if (!f) {
    close(fd);
    return NULL;
  }
  json_t *rows = json_array();
  char *line = NULL;
  size_t cap = 0;
  while (rows && getline(&line, &cap, f) > 0) {
    json_t *row = json_loads(line, 0, NULL);
    if (!row || json_array_append_new(rows, row) != 0) {
      json_decref(rows); /* unreadable: treated as absent, the package is rewritten */
      rows = NULL;
    }
  }
  free(line);
  fclose(f);
  return rows;
}

static const char *text(json_t *row, const char *key) {
  const char *s = json_string_value(json_object_get(row, key));
  return s ? s : "";
}

si_pkg_existing si_pkg_check_existing(int dirfd, const char *name, const si_dest_batch *b,
                                      si_package_result *res) {
  char manifest[1100];
  if ((size_t)snprintf(manifest, sizeof manifest, "%s.manifest.jsonl", name) >= sizeof manifest)
    return SI_PKG_WRITE;
  json_t *rows = load_rows(dirfd, manifest);
  if (!rows)
    return SI_PKG_WRITE;
  json_t *batch = json_array_get(rows, json_array_size(rows) - 1);
  struct stat sb;
  if (!batch || strcmp(text(batch, "row"), "batch") != 0 ||
      fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) ||
      (json_int_t)sb.st_size != json_integer_value(json_object_get(batch, "archive_size"))) {
    json_decref(rows);
    return SI_PKG_WRITE;
  }
  /* Every listed instance among the items? Then a rewrite loses nothing. */
  int all_listed_given = 1;
  size_t n = json_array_size(rows) - 1;
  for (size_t i = 0; i < n && all_listed_given; i++) {
    const char *uid = text(json_array_get(rows, i), "SOPInstanceUID");
    size_t k = 0;
    while (k < b->count && strcmp(b->items[k].sop_instance_uid, uid) != 0)
      k++;
    all_listed_given = k < b->count;
  }
  /* Every item in the archive, byte for byte (by size and sha256)? */
  int all_items_held = 1;
  for (size_t k = 0; k < b->count && all_items_held; k++) {
    json_t *row = NULL;
    for (size_t i = 0; i < n && !row; i++)
      if (strcmp(text(json_array_get(rows, i), "SOPInstanceUID"), b->items[k].sop_instance_uid) ==
          0)
        row = json_array_get(rows, i);
    char hex[65];
    struct stat isb;
    all_items_held = row && stat(b->items[k].path, &isb) == 0 &&
                     (json_int_t)isb.st_size == json_integer_value(json_object_get(row, "size")) &&
                     si_package_sha256_file(b->items[k].path, hex, NULL) == SI_OK &&
                     strcmp(hex, text(row, "sha256")) == 0;
  }
  si_pkg_existing verdict = SI_PKG_CONFLICT;
  if (all_items_held) {
    verdict = SI_PKG_REUSE;
    snprintf(res->sha256, sizeof res->sha256, "%s", text(batch, "sha256"));
    res->archive_bytes = (int64_t)sb.st_size;
    res->members = n;
  } else if (all_listed_given) {
    verdict = SI_PKG_WRITE;
  }
  json_decref(rows);
  return verdict;
}
