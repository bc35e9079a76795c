#include "sendit/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *si_path_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  while (la > 1 && a[la - 1] == '/')
    la--;
  char *r = malloc(la + 1 + lb + 1);
  if (!r)
    return NULL;
  memcpy(r, a, la);
  r[la] = '/';
  memcpy(r + la + 1, b, lb + 1);
  return r;
}

si_status si_mkdir_p(const char *path, si_error *err) {
  /* Usually the parent exists (or the folder itself does: the import calls
   * this once per stored file), so one mkdir answers without the walk. */
  if (mkdir(path, 0755) == 0 || errno == EEXIST)
    return SI_OK;
  char *p = strdup(path);
  if (!p)
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == '\0') {
      char saved = *s;
      *s = '\0';
      if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        free(p);
        return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG,
                            "cannot create folder: %s", strerror(e));
      }
      *s = saved;
      if (!saved)
        break;
    }
  }
  free(p);
  return SI_OK;
}

si_status si_fsync_dir(const char *path, si_error *err) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot open folder: %s",
                        strerror(errno));
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0)
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "fsync failed: %s",
                        strerror(e));
  return SI_OK;
}

static si_status copy_fd(int in, int out, const char *src, const char *dst, si_error *err) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n == 0)
      return SI_OK;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return si_error_set(err, SI_ERR_IO, src, SI_NO_OFFSET, SI_NO_TAG, "read failed: %s",
                          strerror(errno));
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf + done, (size_t)(n - done));
      if (w < 0) {
        if (errno == EINTR)
          continue;
        return si_error_set(err, SI_ERR_IO, dst, SI_NO_OFFSET, SI_NO_TAG, "write failed: %s",
                            strerror(errno));
      }
      done += w;
    }
  }
}

static si_status copy_across(const char *src, const char *dst, si_error *err) {
  size_t len = strlen(dst);
  char *tmp = malloc(len + 16);
  if (!tmp)
    return si_error_set(err, SI_ERR_NOMEM, dst, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  snprintf(tmp, len + 16, "%s.partial", dst);
  int in = open(src, O_RDONLY | O_CLOEXEC);
  int out = in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  si_status st;
  if (in < 0)
    st = si_error_set(err, SI_ERR_IO, src, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s",
                      strerror(errno));
  else if (out < 0)
    st = si_error_set(err, SI_ERR_IO, tmp, SI_NO_OFFSET, SI_NO_TAG, "cannot create: %s",
                      strerror(errno));
  else
    st = copy_fd(in, out, src, dst, err);
  if (st == SI_OK && fsync(out) != 0)
    st = si_error_set(err, SI_ERR_IO, dst, SI_NO_OFFSET, SI_NO_TAG, "fsync failed: %s",
                      strerror(errno));
  if (out >= 0 && close(out) != 0 && st == SI_OK)
    st = si_error_set(err, SI_ERR_IO, dst, SI_NO_OFFSET, SI_NO_TAG, "close failed: %s",
                      strerror(errno));
  if (in >= 0)
    close(in);
  if (st == SI_OK && rename(tmp, dst) != 0)
    st = si_error_set(err, SI_ERR_IO, dst, SI_NO_OFFSET, SI_NO_TAG, "rename failed: %s",
                      strerror(errno));
  if (st != SI_OK)
    unlink(tmp);
  else if (unlink(src) != 0)
    st = si_error_set(err, SI_ERR_IO, src, SI_NO_OFFSET, SI_NO_TAG,
                      "copied but cannot remove the original: %s", strerror(errno));
  free(tmp);
  return st;
}

si_status si_rename_noreplace(const char *src, const char *dst, si_error *err) {
  if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
    return SI_OK;
  int e = errno;
  if (e == EEXIST)
    return si_error_set(err, SI_ERR_STATE, dst, SI_NO_OFFSET, SI_NO_TAG, "destination exists");
  return si_error_set(err, e == EXDEV ? SI_ERR_UNSUPPORTED : SI_ERR_IO, src, SI_NO_OFFSET,
                      SI_NO_TAG, "cannot move to %s: %s", dst, strerror(e));
}

si_status si_move_file(const char *src, const char *dst, si_error *err) {
  si_status st = si_rename_noreplace(src, dst, err);
  if (st != SI_ERR_UNSUPPORTED)
    return st;
  struct stat sb;
  if (lstat(dst, &sb) == 0)
    return si_error_set(err, SI_ERR_STATE, dst, SI_NO_OFFSET, SI_NO_TAG, "destination exists");
  return copy_across(src, dst, err);
}

int si_files_equal(const char *a, const char *b, si_error *err) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int result = -1;
  if (!fa || !fb) {
    si_error_set(err, SI_ERR_IO, fa ? b : a, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s",
                 strerror(errno));
    goto done;
  }
  char ba[1 << 15], bb[1 << 15];
  for (;;) {
    size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
    if (na != nb || memcmp(ba, bb, na) != 0) {
      result = 0;
      break;
    }
    if (na == 0) {
      result = 1;
      break;
    }
  }
done:
  if (fa)
    fclose(fa);
  if (fb)
    fclose(fb);
  return result;
}

static int compare_entries(const void *x, const void *y) {
  return strcmp(((const si_file_entry *)x)->relative, ((const si_file_entry *)y)->relative);
}

static si_status list_into(const char *root, const char *rel, si_file_list *out, size_t *cap,
                           int depth, si_error *err) {
  char *dir = rel[0] ? si_path_join(root, rel) : strdup(root);
  if (!dir)
    return si_error_set(err, SI_ERR_NOMEM, root, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  DIR *d = opendir(dir);
  if (!d) {
    si_status s = si_error_set(err, SI_ERR_IO, dir, SI_NO_OFFSET, SI_NO_TAG,
                               "cannot read folder: %s", strerror(errno));
    free(dir);
    return s;
  }
  si_status status = SI_OK;
  struct dirent *de;
  while (status == SI_OK && (de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char *child_rel = rel[0] ? si_path_join(rel, de->d_name) : strdup(de->d_name);
    char *child = child_rel ? si_path_join(root, child_rel) : NULL;
    struct stat st;
    if (!child) {
      status = si_error_set(err, SI_ERR_NOMEM, root, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    } else if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      /* vanished meanwhile: nothing to import */
    } else if (S_ISDIR(st.st_mode) && depth < 32) {
      status = list_into(root, child_rel, out, cap, depth + 1, err);
    } else if (S_ISREG(st.st_mode)) {
      if (out->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        si_file_entry *grown = realloc(out->items, ncap * sizeof *grown);
        if (!grown) {
          status = si_error_set(err, SI_ERR_NOMEM, root, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
        } else {
          out->items = grown;
          *cap = ncap;
        }
      }
      if (status == SI_OK) {
        out->items[out->count++] = (si_file_entry){child, child_rel, (int64_t)st.st_size};
        child = child_rel = NULL;
      }
    }
    free(child);
    free(child_rel);
  }
  closedir(d);
  free(dir);
  return status;
}

si_status si_list_files(const char *root, si_file_list *out, si_error *err) {
  out->items = NULL;
  out->count = 0;
  size_t cap = 0;
  si_status st = list_into(root, "", out, &cap, 0, err);
  if (st != SI_OK) {
    si_file_list_free(out);
    return st;
  }
  if (out->count > 1)
    qsort(out->items, out->count, sizeof *out->items, compare_entries);
  return SI_OK;
}

void si_file_list_free(si_file_list *list) {
  for (size_t i = 0; i < list->count; i++) {
    free(list->items[i].path);
    free(list->items[i].relative);
  }
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

void si_remove_empty_dirs(const char *root) {
  DIR *d = opendir(root);
  if (!d)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char *child = si_path_join(root, de->d_name);
    struct stat st;
    if (child && lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
      si_remove_empty_dirs(child);
    free(child);
  }
  closedir(d);
  rmdir(root); /* fails harmlessly when not empty */
}

int si_dir_has_files(const char *path) {
  struct stat sb;
  if (!path[0] || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return 0;
  si_file_list files;
  if (si_list_files(path, &files, NULL) != SI_OK)
    return 0;
  int any = files.count > 0;
  si_file_list_free(&files);
  return any;
}
