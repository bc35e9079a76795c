/* Writing a package: the tar through libarchive, the manifest, the
 * temporary names, fsyncs and renames. See sendit/package.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/package_internal.h"
#include "deliver/package_stream.h"
#include "sendit/fs.h"

#define READ_CHUNK (1u << 20)

/* A new temporary file in dirfd named like si_move_file's (so that
 * si_remove_partials sweeps what a crash leaves); its name in tmp. */
static int create_partial_at(int dirfd, char tmp[64]) {
  for (int tries = 0; tries < 8; tries++) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
      r = ((uint64_t)getpid() << 32) ^ (uint64_t)tries ^ (uint64_t)(uintptr_t)tmp;
    snprintf(tmp, 64, "%s%016" PRIx64, SI_PARTIAL_PREFIX, r);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST)
      return fd;
  }
  return -1;
}

static si_status io_error(si_error *err, const char *where, int code, const char *what) {
  return si_error_set(err, SI_ERR_IO, where, SI_NO_OFFSET, SI_NO_TAG, "%s%s: %s", what,
                      code == ENOSPC ? " (disk full)" : "", strerror(code));
}

static int cancelled(const si_package_options *o) {
  return o && o->cancel && atomic_load(o->cancel);
}

/* The member being written: its header values and size (from START). */
typedef struct member_state {
  si_pkg_header header;
  int64_t size;
} member_state;

/* One chunk from the reader into the archive: a member's header, its
 * bytes, or its end (and its manifest row). */
static si_status take_chunk(const si_archive_api *la, struct archive *a, const si_dest_batch *b,
                            si_pkg_chunk *c, member_state *current, json_t *rows,
                            si_pkg_header *first, si_error *err) {
  const si_dest_item *item = &b->items[c->index];
  char member[256];
  si_pkg_member_name(item, c->index, member, sizeof member);
  switch (c->kind) {
  case SI_PKG_CHUNK_ERROR:
    if (err)
      *err = c->err;
    return c->err.code != SI_OK ? c->err.code : SI_ERR_IO;
  case SI_PKG_CHUNK_START: {
    si_pkg_header_free(&current->header);
    current->header = c->header;
    memset(&c->header, 0, sizeof c->header);
    current->size = c->file_size;
    struct archive_entry *entry = la->archive_entry_new();
    if (!entry)
      return si_error_set(err, SI_ERR_NOMEM, item->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    la->archive_entry_set_pathname(entry, member);
    la->archive_entry_set_size(entry, (la_int64_t)c->file_size);
    la->archive_entry_set_filetype(entry, AE_IFREG);
    la->archive_entry_set_perm(entry, 0644);
    la->archive_entry_set_mtime(entry, (time_t)c->mtime, 0);
    int rc = la->archive_write_header(a, entry);
    la->archive_entry_free(entry);
    if (rc != ARCHIVE_OK)
      return si_error_set(err, SI_ERR_IO, item->path, SI_NO_OFFSET, SI_NO_TAG,
                          "archive header for %s: %s", member, la->archive_error_string(a));
    return SI_OK;
  }
  case SI_PKG_CHUNK_DATA:
    if (la->archive_write_data(a, c->data, c->size) != (la_ssize_t)c->size)
      return si_error_set(err, SI_ERR_IO, item->path, SI_NO_OFFSET, SI_NO_TAG,
                          "archive data for %s: %s", member, la->archive_error_string(a));
    return SI_OK;
  case SI_PKG_CHUNK_END:
    break;
  }
  if (la->archive_write_finish_entry(a) != ARCHIVE_OK)
    return si_error_set(err, SI_ERR_IO, item->path, SI_NO_OFFSET, SI_NO_TAG, "archive: %s",
                        la->archive_error_string(a));
  si_dest_item sized = *item;
  sized.size = current->size; /* what was packaged */
  json_t *row = si_pkg_instance_row(&sized, &current->header, member, c->hex);
  if (!row || json_array_append_new(rows, row) != 0)
    return si_error_set(err, SI_ERR_NOMEM, item->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  if (c->index == 0) { /* the batch row's values */
    *first = current->header;
    memset(&current->header, 0, sizeof current->header);
  }
  return SI_OK;
}

static si_status add_filter(const si_archive_api *la, struct archive *a, si_package_compression c,
                            const char *where, si_error *err) {
  int rc = ARCHIVE_OK;
  if (c == SI_PACKAGE_ZSTD) {
    rc = la->archive_write_add_filter_zstd(a);
    if (rc == ARCHIVE_OK)
      rc = la->archive_write_set_filter_option(a, "zstd", "compression-level", "3");
  } else if (c == SI_PACKAGE_GZIP) {
    rc = la->archive_write_add_filter_gzip(a);
  } else {
    rc = la->archive_write_add_filter_none(a);
  }
  if (rc != ARCHIVE_OK)
    return si_error_set(err, SI_ERR_UNSUPPORTED, where, SI_NO_OFFSET, SI_NO_TAG,
                        "libarchive cannot write %s: %s", si_package_extension(c) + 1,
                        la->archive_error_string(a));
  return SI_OK;
}

/* The tar into the temporary file fd (the stream hashed as it goes). */
static si_status write_tar(const si_archive_api *la, int fd, const char *where,
                           const si_dest_batch *b, const si_package_options *o, json_t *rows,
                           si_pkg_header *first, si_package_result *res, si_error *err) {
  si_pkg_stream *sink = si_pkg_stream_new(fd);
  struct archive *a = la->archive_write_new();
  si_pkg_reader *reader = NULL;
  member_state current = {{0}, 0};
  si_status st = SI_OK;
  if (!sink || !a) {
    st = si_error_set(err, SI_ERR_NOMEM, where, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    goto out;
  }
  la->archive_write_set_format_pax_restricted(a);
  st = add_filter(la, a, o ? o->compression : SI_PACKAGE_NONE, where, err);
  if (st != SI_OK)
    goto out;
  /* Big blocks: fewer write(2) calls; no padding of the last one beyond
   * tar's own 512-byte records. */
  la->archive_write_set_bytes_per_block(a, (int)READ_CHUNK);
  la->archive_write_set_bytes_in_last_block(a, 1);
  if (la->archive_write_open(a, sink, NULL, si_pkg_stream_write, NULL) != ARCHIVE_OK) {
    st = si_error_set(err, SI_ERR_IO, where, SI_NO_OFFSET, SI_NO_TAG, "archive: %s",
                      la->archive_error_string(a));
    goto out;
  }
  reader = si_pkg_reader_start(b);
  if (!reader)
    st = si_error_set(err, SI_ERR_NOMEM, where, SI_NO_OFFSET, SI_NO_TAG,
                      "cannot start the reader thread");
  for (si_pkg_chunk *c; st == SI_OK && (c = si_pkg_reader_next(reader)) != NULL;) {
    if (cancelled(o))
      st = si_error_set(err, SI_ERR_STATE, where, SI_NO_OFFSET, SI_NO_TAG, "cancelled");
    else
      st = take_chunk(la, a, b, c, &current, rows, first, err);
    si_pkg_reader_release(reader);
  }
  if (st == SI_OK && json_array_size(rows) != b->count)
    st = si_error_set(err, SI_ERR_STATE, where, SI_NO_OFFSET, SI_NO_TAG,
                      "%zu of %zu files packaged", json_array_size(rows), b->count);
  if (st == SI_OK && la->archive_write_close(a) != ARCHIVE_OK)
    st = si_error_set(err, SI_ERR_IO, where, SI_NO_OFFSET, SI_NO_TAG, "archive: %s",
                      la->archive_error_string(a));
out:
  if (reader)
    si_pkg_reader_stop(reader);
  si_pkg_header_free(&current.header);
  if (a)
    la->archive_write_free(a);
  if (sink) {
    int code = si_pkg_stream_finish(sink, res->sha256, &res->archive_bytes);
    /* The sink's errno is the real cause behind libarchive's message. */
    if (code)
      st = io_error(err, where, code, "write");
  }
  res->members = b->count;
  return st;
}

static si_status write_all(int fd, const char *data, size_t size, const char *where,
                           si_error *err) {
  while (size) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return io_error(err, where, errno, "write");
    data += n;
    size -= (size_t)n;
  }
  return SI_OK;
}

static si_status write_manifest(int fd, const char *where, json_t *rows, si_error *err) {
  size_t i;
  json_t *row;
  json_array_foreach(rows, i, row) {
    char *line = json_dumps(row, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!line)
      return si_error_set(err, SI_ERR_NOMEM, where, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    size_t len = strlen(line);
    si_status st = write_all(fd, line, len, where, err);
    if (st == SI_OK)
      st = write_all(fd, "\n", 1, where, err);
    free(line);
    if (st != SI_OK)
      return st;
  }
  return SI_OK;
}

static si_status sync_close(int *fd, const char *where, si_error *err) {
  int rc = fsync(*fd), code = errno;
  int rc2 = close(*fd), code2 = errno;
  *fd = -1;
  if (rc != 0)
    return io_error(err, where, code, "fsync");
  if (rc2 != 0)
    return io_error(err, where, code2, "close");
  return SI_OK;
}

/* The package in dirfd under `name` (+ ".manifest.jsonl"); `where` names
 * it in messages; res->relative is set by the caller. */
static si_status write_at(int dirfd, const char *name, const char *where, const si_dest_batch *b,
                          const si_package_options *o, si_package_result *res, si_error *err) {
  char problem[512];
  const si_archive_api *la = si_archive(problem, sizeof problem);
  if (!la)
    return si_error_set(err, SI_ERR_UNSUPPORTED, where, SI_NO_OFFSET, SI_NO_TAG,
                        "libarchive cannot be loaded: %s", problem);
  if (!b || b->count == 0)
    return si_error_set(err, SI_ERR_ARG, where, SI_NO_OFFSET, SI_NO_TAG, "empty batch");
  char manifest[1100];
  if ((size_t)snprintf(manifest, sizeof manifest, "%s.manifest.jsonl", name) >= sizeof manifest)
    return si_error_set(err, SI_ERR_LIMIT, where, SI_NO_OFFSET, SI_NO_TAG, "name too long");
  char tmp_tar[64] = "", tmp_manifest[64] = "";
  json_t *rows = json_array();
  si_pkg_header first = {0};
  si_status st = SI_OK;
  int fd = create_partial_at(dirfd, tmp_tar);
  if (!rows)
    st = si_error_set(err, SI_ERR_NOMEM, where, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  else if (fd < 0)
    st = io_error(err, where, errno, "cannot create the temporary archive");
  if (st == SI_OK)
    st = write_tar(la, fd, where, b, o, rows, &first, res, err);
  if (st == SI_OK)
    st = sync_close(&fd, where, err);
  if (st == SI_OK) {
    json_t *row = si_pkg_batch_row(b, o, &first, res);
    if (!row || json_array_append_new(rows, row) != 0)
      st = si_error_set(err, SI_ERR_NOMEM, where, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  if (st == SI_OK && (fd = create_partial_at(dirfd, tmp_manifest)) < 0)
    st = io_error(err, where, errno, "cannot create the temporary manifest");
  if (st == SI_OK)
    st = write_manifest(fd, where, rows, err);
  if (st == SI_OK)
    st = sync_close(&fd, where, err);
  /* The archive first: a manifest under its final name means a whole
   * archive beside it. */
  if (st == SI_OK && renameat(dirfd, tmp_tar, dirfd, name) != 0)
    st = io_error(err, where, errno, "rename");
  else if (st == SI_OK)
    tmp_tar[0] = '\0';
  if (st == SI_OK && renameat(dirfd, tmp_manifest, dirfd, manifest) != 0)
    st = io_error(err, where, errno, "rename of the manifest");
  else if (st == SI_OK)
    tmp_manifest[0] = '\0';
  if (st == SI_OK && fsync(dirfd) != 0)
    st = io_error(err, where, errno, "fsync of the folder");
  if (fd >= 0)
    close(fd);
  if (tmp_tar[0])
    unlinkat(dirfd, tmp_tar, 0);
  if (tmp_manifest[0])
    unlinkat(dirfd, tmp_manifest, 0);
  si_pkg_header_free(&first);
  json_decref(rows);
  return st;
}

si_status si_package_write(const char *archive_path, const si_dest_batch *b,
                           const si_package_options *o, si_package_result *res, si_error *err) {
  memset(res, 0, sizeof *res);
  const char *slash = strrchr(archive_path, '/');
  const char *name = slash ? slash + 1 : archive_path;
  if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return si_error_set(err, SI_ERR_ARG, archive_path, SI_NO_OFFSET, SI_NO_TAG, "not a file name");
  char dir[1024];
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if ((size_t)(slash - archive_path) >= sizeof dir)
    return si_error_set(err, SI_ERR_LIMIT, archive_path, SI_NO_OFFSET, SI_NO_TAG, "path too long");
  else
    snprintf(dir, sizeof dir, "%.*s", slash == archive_path ? 1 : (int)(slash - archive_path),
             archive_path);
  int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0)
    return si_error_set(err, SI_ERR_STATE, dir, SI_NO_OFFSET, SI_NO_TAG,
                        "not a folder (or a symlink, which is refused): %s", strerror(errno));
  snprintf(res->relative, sizeof res->relative, "%s", archive_path);
  si_status st = write_at(dirfd, name, archive_path, b, o, res, err);
  close(dirfd);
  return st;
}

/* Opens (making it when missing) folder `name` in dirfd, refusing
 * symlinks; -1 with err set. */
static int open_child(int dirfd, const char *name, const char *where, si_error *err) {
  if (mkdirat(dirfd, name, 0755) == 0) {
    if (fsync(dirfd) != 0) { /* the new entry survives a power loss */
      io_error(err, where, errno, "fsync of a new folder's parent");
      return -1;
    }
  } else if (errno != EEXIST) {
    io_error(err, where, errno, "cannot make the folder");
    return -1;
  }
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    si_error_set(err, SI_ERR_STATE, where, SI_NO_OFFSET, SI_NO_TAG,
                 "component %s is a symlink or not a folder (refused): %s", name, strerror(errno));
  return fd;
}

si_status si_package_deliver(const char *root, const si_dest_batch *b, const si_package_options *o,
                             si_package_result *res, si_error *err) {
  memset(res, 0, sizeof *res);
  char rel[sizeof res->relative];
  si_status st = si_package_layout(b, o, rel, sizeof rel, err);
  if (st != SI_OK)
    return st;
  /* "link/" would make open(2) resolve the symlink despite O_NOFOLLOW. */
  char top[1024];
  size_t len = strlen(root);
  while (len > 1 && root[len - 1] == '/')
    len--;
  if (len >= sizeof top)
    return si_error_set(err, SI_ERR_LIMIT, root, SI_NO_OFFSET, SI_NO_TAG, "path too long");
  memcpy(top, root, len);
  top[len] = '\0';
  char where[2048];
  snprintf(where, sizeof where, "%s/%s", top, rel);
  int fd = open(top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return si_error_set(err, SI_ERR_STATE, root, SI_NO_OFFSET, SI_NO_TAG,
                        "the destination folder is a symlink or not a folder (refused): %s",
                        strerror(errno));
  /* Folder by folder below root, each opened relative to the last one
   * without following symlinks: nothing can lead the package out. */
  char *cursor = rel;
  for (char *slash; (slash = strchr(cursor, '/')) != NULL; cursor = slash + 1) {
    *slash = '\0';
    int child = open_child(fd, cursor, where, err);
    *slash = '/';
    close(fd);
    if (child < 0)
      return err ? err->code : SI_ERR_STATE;
    fd = child;
  }
  snprintf(res->relative, sizeof res->relative, "%s", rel);
  si_pkg_existing existing = si_pkg_check_existing(fd, cursor, b, res);
  if (existing == SI_PKG_REUSE) {
    res->reused = 1;
    close(fd);
    return SI_OK;
  }
  if (existing == SI_PKG_CONFLICT) {
    close(fd);
    res->conflict = 1;
    return si_error_set(err, SI_ERR_STATE, where, SI_NO_OFFSET, SI_NO_TAG,
                        "conflict: the archive there holds instances this delivery lacks, and "
                        "lacks some it has; left as it is (resend the whole batch)");
  }
  st = write_at(fd, cursor, where, b, o, res, err);
  close(fd);
  return st;
}

si_status si_package_sha256_file(const char *path, char hex[65], si_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return io_error(err, path, errno, "open");
  unsigned char *buf = malloc(READ_CHUNK);
  if (!buf) {
    close(fd);
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  si_pkg_sha256 h;
  si_pkg_sha256_init(&h, 0);
  si_status st = SI_OK;
  for (;;) {
    ssize_t n = read(fd, buf, READ_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      st = io_error(err, path, errno, "read");
    if (n <= 0)
      break;
    si_pkg_sha256_update(&h, buf, (size_t)n);
  }
  si_pkg_sha256_final(&h, hex);
  free(buf);
  close(fd);
  return st;
}
