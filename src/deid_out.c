/* Batched durable output (deid_out.h). */
#include "deid_out.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/write.h"

typedef struct pending {
  char *tmp, *final;
} pending;

struct deid_out {
  pending *files;
  size_t count, limit;
};

deid_out *deid_out_new(size_t limit) {
  deid_out *out = calloc(1, sizeof *out);
  if (out && !(out->files = calloc(limit ? limit : 1, sizeof *out->files))) {
    free(out);
    return NULL;
  }
  if (out)
    out->limit = limit ? limit : 1;
  return out;
}

size_t deid_out_count(const deid_out *out) { return out->count; }
int deid_out_full(const deid_out *out) { return out->count == out->limit; }

int deid_out_pending(const deid_out *out, const char *path) {
  for (size_t i = 0; i < out->count; i++)
    if (strcmp(out->files[i].final, path) == 0)
      return 1;
  return 0;
}

static si_status io_fail(si_error *err, const char *path, const char *what) {
  return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "%s: %s", what,
                      strerror(errno));
}

static void folder_of(const char *path, char *dir, size_t size) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  snprintf(dir, size, "%s", dirname(buf));
}

si_status deid_out_add(deid_out *out, const si_file *file, const char *path, si_error *err) {
  if (out->count == out->limit)
    return si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG,
                        "the output batch is full: commit it first");
  char dir[PATH_MAX], base_buf[PATH_MAX], tmp[PATH_MAX];
  folder_of(path, dir, sizeof dir);
  snprintf(base_buf, sizeof base_buf, "%s", path);
  int n = snprintf(tmp, sizeof tmp, "%s/.%.200s.sendit-tmp-XXXXXX", dir, basename(base_buf));
  if (n < 0 || (size_t)n >= sizeof tmp)
    return si_error_set(err, SI_ERR_ARG, path, SI_NO_OFFSET, SI_NO_TAG, "path too long");
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return io_fail(err, path, "cannot create a temporary file in the target folder");
  fchmod(fd, 0644);
  si_status st = si_write_part10_fd(file, fd, path, NULL, err);
  /* Start the writeback now: the commit's syncs then mostly find it done. */
  if (st == SI_OK)
    sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  if (close(fd) != 0 && st == SI_OK)
    st = io_fail(err, path, "close failed");
  pending *p = &out->files[out->count];
  if (st == SI_OK && (!(p->tmp = strdup(tmp)) || !(p->final = strdup(path)))) {
    free(p->tmp);
    st = si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  if (st != SI_OK) {
    unlink(tmp);
    return st;
  }
  out->count++;
  return SI_OK;
}

static void drop(deid_out *out, int unlink_tmp) {
  for (size_t i = 0; i < out->count; i++) {
    if (unlink_tmp)
      unlink(out->files[i].tmp);
    free(out->files[i].tmp);
    free(out->files[i].final);
  }
  out->count = 0;
}

si_status deid_out_commit(deid_out *out, si_error *err) {
  if (!out->count)
    return SI_OK;
  /* One sync for the batch: every temporary file's data on disk before
   * any final name points at it. syncfs also waits for other writers of the
   * file system, but measured here it beats syncing each file (two journal
   * commits each on ext4) by 4x; writeback began as each file was written. */
  char dir[PATH_MAX];
  folder_of(out->files[0].final, dir, sizeof dir);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || syncfs(fd) != 0) {
    si_status st = io_fail(err, dir, "cannot sync the output");
    if (fd >= 0)
      close(fd);
    drop(out, 1);
    return st;
  }
  close(fd);
  si_status st = SI_OK;
  size_t i = 0;
  for (; i < out->count; i++)
    if (rename(out->files[i].tmp, out->files[i].final) != 0) {
      st = io_fail(err, out->files[i].final, "rename failed");
      break;
    }
  /* The renames durable: each folder once (batches follow the input's
   * order, so a study's files are mostly neighbours). */
  char last[PATH_MAX] = "";
  for (size_t k = 0; k < i; k++) {
    folder_of(out->files[k].final, dir, sizeof dir);
    if (strcmp(dir, last) == 0)
      continue;
    snprintf(last, sizeof last, "%s", dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  for (size_t k = i; k < out->count; k++)
    unlink(out->files[k].tmp);
  drop(out, 0);
  return st;
}

void deid_out_free(deid_out *out) {
  if (!out)
    return;
  drop(out, 1);
  free(out->files);
  free(out);
}
