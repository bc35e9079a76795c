#include "sendit/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
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

/* Copies [from, to) of in to the same offsets of out; stops early at the
 * end of in (it may have shrunk). */
static si_status copy_range(int in, int out, off_t from, off_t to, const char *src, const char *dst,
                            si_error *err) {
  char buf[1 << 16];
  while (from < to) {
    size_t want = (size_t)(to - from) < sizeof buf ? (size_t)(to - from) : sizeof buf;
    ssize_t n = pread(in, buf, want, from);
    if (n == 0)
      return SI_OK;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return si_error_set(err, SI_ERR_IO, src, (uint64_t)from, SI_NO_TAG, "read failed: %s",
                          strerror(errno));
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = pwrite(out, buf + done, (size_t)(n - done), from + done);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        return si_error_set(err, SI_ERR_IO, dst, (uint64_t)(from + done), SI_NO_TAG,
                            "write failed: %s", strerror(errno));
      }
      done += w;
    }
    from += n;
  }
  return SI_OK;
}

/* Copies the data regions of in only and sets out's size: holes stay holes,
 * so a sparse file does not take its full size on the other filesystem.
 * Where SEEK_DATA is not supported the whole file is data. */
static si_status copy_sparse(int in, int out, off_t size, const char *src, const char *dst,
                             si_error *err) {
  si_status st = SI_OK;
  for (off_t pos = 0; st == SI_OK && pos < size;) {
    off_t data = lseek(in, pos, SEEK_DATA), hole = size;
    if (data < 0 && errno == ENXIO)
      break; /* only a hole is left */
    if (data < 0)
      data = pos;
    else if ((hole = lseek(in, data, SEEK_HOLE)) < 0 || hole > size)
      hole = size;
    if (data >= size)
      break;
    st = copy_range(in, out, data, hole, src, dst, err);
    pos = hole > data ? hole : size;
  }
  if (st == SI_OK && ftruncate(out, size) != 0)
    st = si_error_set(err, SI_ERR_IO, dst, SI_NO_OFFSET, SI_NO_TAG, "cannot set the size: %s",
                      strerror(errno));
  return st;
}

int si_is_partial_name(const char *name) {
  size_t lp = strlen(SI_PARTIAL_PREFIX);
  if (strncmp(name, SI_PARTIAL_PREFIX, lp) != 0 || strlen(name) != lp + 16)
    return 0;
  for (const char *c = name + lp; *c; c++)
    if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
      return 0;
  return 1;
}

/* Creates a new temporary file beside dst, named SI_PARTIAL_PREFIX + 16 hex
 * digits: a fixed length whatever dst's name, and unmistakably ours. */
static int create_partial(const char *dst, char *tmp, size_t size) {
  const char *slash = strrchr(dst, '/');
  int dir_len = slash ? (int)(slash - dst) + 1 : 0;
  for (int tries = 0; tries < 8; tries++) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
      r = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ (uint64_t)tries;
    int n = snprintf(tmp, size, "%.*s%s%016" PRIx64, dir_len, dst, SI_PARTIAL_PREFIX, r);
    if (n < 0 || (size_t)n >= size) {
      errno = ENAMETOOLONG;
      return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST)
      return fd;
  }
  return -1;
}

static si_status copy_regular(const char *src, const char *dst, si_error *err) {
  size_t size = strlen(dst) + 64;
  char *tmp = malloc(size);
  if (!tmp)
    return si_error_set(err, SI_ERR_NOMEM, dst, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  tmp[0] = 0;
  struct stat sb;
  int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  int regular = in >= 0 && fstat(in, &sb) == 0 && S_ISREG(sb.st_mode);
  int out = regular ? create_partial(dst, tmp, size) : -1;
  si_status st;
  if (in < 0)
    st = si_error_set(err, SI_ERR_IO, src, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s",
                      strerror(errno));
  else if (!regular)
    st = si_error_set(err, SI_ERR_STATE, src, SI_NO_OFFSET, SI_NO_TAG,
                      "no longer a regular file: not copied");
  else if (out < 0)
    st = si_error_set(err, SI_ERR_IO, dst, SI_NO_OFFSET, SI_NO_TAG,
                      "cannot create a temporary copy: %s", strerror(errno));
  else
    st = copy_sparse(in, out, sb.st_size, src, dst, err);
  /* The size copied is the one at open: a file still being written (its
   * size or mtime changed meanwhile) would lose what came after, as the
   * source is unlinked below. It stays, the copy goes, the caller fails. */
  struct stat after;
  if (st == SI_OK &&
      (fstat(in, &after) != 0 || after.st_size != sb.st_size ||
       after.st_mtim.tv_sec != sb.st_mtim.tv_sec || after.st_mtim.tv_nsec != sb.st_mtim.tv_nsec))
    st = si_error_set(err, SI_ERR_STATE, src, SI_NO_OFFSET, SI_NO_TAG,
                      "changed while it was copied (still being written?): not moved");
  if (st == SI_OK && fsync(out) != 0)
    st = si_error_set(err, SI_ERR_IO, dst, SI_NO_OFFSET, SI_NO_TAG, "fsync failed: %s",
                      strerror(errno));
  if (out >= 0 && close(out) != 0 && st == SI_OK)
    st = si_error_set(err, SI_ERR_IO, dst, SI_NO_OFFSET, SI_NO_TAG, "close failed: %s",
                      strerror(errno));
  if (in >= 0)
    close(in);
  if (st == SI_OK)
    st = si_rename_noreplace(tmp, dst, err);
  if (st != SI_OK && out >= 0)
    unlink(tmp);
  else if (st == SI_OK && unlink(src) != 0)
    st = si_error_set(err, SI_ERR_IO, src, SI_NO_OFFSET, SI_NO_TAG,
                      "copied but cannot remove the original: %s", strerror(errno));
  free(tmp);
  return st;
}

/* A symlink, FIFO, socket or device node crosses filesystems by being made
 * anew at dst (never opened, never followed); src goes once dst exists. */
static si_status recreate_special(const char *src, const char *dst, const struct stat *sb,
                                  si_error *err) {
  int made;
  if (S_ISLNK(sb->st_mode)) {
    char target[PATH_MAX + 1];
    ssize_t n = readlink(src, target, sizeof target - 1);
    if (n < 0)
      return si_error_set(err, SI_ERR_IO, src, SI_NO_OFFSET, SI_NO_TAG, "cannot read the link: %s",
                          strerror(errno));
    target[n] = 0;
    made = symlink(target, dst);
  } else {
    made = mknod(dst, sb->st_mode & (S_IFMT | 07777), sb->st_rdev);
  }
  if (made != 0)
    return si_error_set(err, errno == EEXIST ? SI_ERR_STATE : SI_ERR_IO, dst, SI_NO_OFFSET,
                        SI_NO_TAG, "cannot make it anew here: %s", strerror(errno));
  if (unlink(src) != 0) {
    int e = errno;
    unlink(dst); /* one of them, not two */
    return si_error_set(err, SI_ERR_IO, src, SI_NO_OFFSET, SI_NO_TAG, "cannot remove it: %s",
                        strerror(e));
  }
  return SI_OK;
}

static si_status copy_across(const char *src, const char *dst, si_error *err) {
  struct stat sb;
  if (lstat(src, &sb) != 0)
    return si_error_set(err, SI_ERR_IO, src, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s",
                        strerror(errno));
  if (S_ISREG(sb.st_mode))
    return copy_regular(src, dst, err);
  if (S_ISDIR(sb.st_mode))
    return si_error_set(err, SI_ERR_UNSUPPORTED, src, SI_NO_OFFSET, SI_NO_TAG,
                        "a folder cannot be moved to %s, on another filesystem", dst);
  return recreate_special(src, dst, &sb, err);
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

int si_file_entry_compare(const void *x, const void *y) {
  return strcmp(((const si_file_entry *)x)->relative, ((const si_file_entry *)y)->relative);
}

/* What an entry that is not imported is, by its type. */
static const struct {
  mode_t type;
  const char *kind;
} kinds[] = {
    {S_IFLNK, "symlink"},          {S_IFIFO, "FIFO"},         {S_IFSOCK, "socket"},
    {S_IFCHR, "character device"}, {S_IFBLK, "block device"},
};

static const char *kind_of(mode_t mode) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if ((mode & S_IFMT) == kinds[i].type)
      return kinds[i].kind;
  return "entry of unknown type";
}

/* One entry met by walk(): its names are the walk's (copy to keep them). */
typedef struct walk_entry {
  int dirfd;        /* its folder, for the *at calls */
  const char *name; /* in that folder */
  const char *path; /* full path */
  const char *rel;  /* below the root */
  const struct stat *st;
  int too_deep; /* a folder whose entries could pass PATH_MAX: not entered */
} walk_entry;

typedef si_status (*walk_fn)(void *user, const walk_entry *e, si_error *err);

/* Folders still to read, by relative path (heap, not stack: any depth). */
typedef struct dir_stack {
  char **rel;
  size_t n, cap;
} dir_stack;

static int stack_push(dir_stack *s, const char *rel) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **grown = realloc(s->rel, cap * sizeof *grown);
    if (!grown)
      return 0;
    s->rel = grown;
    s->cap = cap;
  }
  return (s->rel[s->n] = strdup(rel)) ? (s->n++, 1) : 0;
}

/* Opens a folder of the walk without following a symlink in its place. */
static DIR *open_folder(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d = fd < 0 ? NULL : fdopendir(fd);
  if (fd >= 0 && !d)
    close(fd);
  return d;
}

/* Reads one folder of the walk: visits its entries, queues its folders. */
static si_status walk_folder(const char *root, const char *rel, dir_stack *todo, walk_fn fn,
                             void *user, si_error *err) {
  char *dir = rel[0] ? si_path_join(root, rel) : strdup(root);
  if (!dir)
    return si_error_set(err, SI_ERR_NOMEM, root, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  DIR *d = open_folder(dir);
  if (!d) {
    int e = errno;
    free(dir);
    if (rel[0] && e == ENOENT)
      return SI_OK; /* vanished meanwhile */
    return si_error_set(err, e == ELOOP || e == ENOTDIR ? SI_ERR_STATE : SI_ERR_IO, root,
                        SI_NO_OFFSET, SI_NO_TAG, "cannot read folder %s: %s%s", rel[0] ? rel : ".",
                        strerror(e), e == ELOOP ? " (symlinks are not followed)" : "");
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
      /* vanished meanwhile: nothing to see */
    } else {
      /* A folder is entered only when every name in it still fits PATH_MAX. */
      int too_deep = S_ISDIR(st.st_mode) && strlen(child) + 1 + NAME_MAX >= PATH_MAX;
      walk_entry e = {dirfd(d), de->d_name, child, child_rel, &st, too_deep};
      if (S_ISDIR(st.st_mode) && !too_deep)
        status = stack_push(todo, child_rel) ? SI_OK
                                             : si_error_set(err, SI_ERR_NOMEM, root, SI_NO_OFFSET,
                                                            SI_NO_TAG, "out of memory");
      else
        status = fn(user, &e, err);
    }
    free(child);
    free(child_rel);
  }
  closedir(d);
  free(dir);
  return status;
}

/* Visits every entry below root that is not a folder, and every folder too
 * deep to enter; never follows a symlink. Iterative: depth costs heap. */
static si_status walk(const char *root, walk_fn fn, void *user, si_error *err) {
  dir_stack todo = {0};
  si_status st = stack_push(&todo, "") ? SI_OK
                                       : si_error_set(err, SI_ERR_NOMEM, root, SI_NO_OFFSET,
                                                      SI_NO_TAG, "out of memory");
  while (st == SI_OK && todo.n > 0) {
    char *rel = todo.rel[--todo.n];
    st = walk_folder(root, rel, &todo, fn, user, err);
    free(rel);
  }
  while (todo.n > 0)
    free(todo.rel[--todo.n]);
  free(todo.rel);
  return st;
}

typedef struct listing {
  si_file_list *out;
  size_t cap, other_cap;
} listing;

static int grow(si_file_entry **items, size_t count, size_t *cap) {
  if (count < *cap)
    return 1;
  size_t ncap = *cap ? *cap * 2 : 64;
  si_file_entry *grown = realloc(*items, ncap * sizeof *grown);
  if (!grown)
    return 0;
  *items = grown;
  *cap = ncap;
  return 1;
}

/* Room for one more other entry and its kind (kept in step). */
static int grow_others(si_file_list *out, size_t *cap) {
  size_t before = *cap;
  if (!grow(&out->others, out->other_count, cap))
    return 0;
  if (*cap == before && out->other_kinds)
    return 1;
  const char **kinds_grown = realloc(out->other_kinds, *cap * sizeof *kinds_grown);
  if (!kinds_grown)
    return 0;
  out->other_kinds = kinds_grown;
  return 1;
}

static si_status list_entry(void *user, const walk_entry *e, si_error *err) {
  listing *l = user;
  si_file_list *out = l->out;
  int regular = S_ISREG(e->st->st_mode);
  si_file_entry entry = {strdup(e->path), strdup(e->rel), regular ? (int64_t)e->st->st_size : 0};
  int room = regular ? grow(&out->items, out->count, &l->cap) : grow_others(out, &l->other_cap);
  if (!entry.path || !entry.relative || !room) {
    free(entry.path);
    free(entry.relative);
    return si_error_set(err, SI_ERR_NOMEM, e->path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  if (regular) {
    out->items[out->count++] = entry;
  } else {
    out->other_kinds[out->other_count] =
        e->too_deep ? "folder with too long a path" : kind_of(e->st->st_mode);
    out->others[out->other_count++] = entry;
  }
  return SI_OK;
}

si_status si_list_files(const char *root, si_file_list *out, si_error *err) {
  memset(out, 0, sizeof *out);
  listing l = {out, 0, 0};
  si_status st = walk(root, list_entry, &l, err);
  if (st != SI_OK) {
    si_file_list_free(out);
    return st;
  }
  if (out->count > 1)
    qsort(out->items, out->count, sizeof *out->items, si_file_entry_compare);
  return SI_OK;
}

static void free_entries(si_file_entry *items, size_t count) {
  for (size_t i = 0; i < count; i++) {
    free(items[i].path);
    free(items[i].relative);
  }
  free(items);
}

void si_file_list_free(si_file_list *list) {
  free_entries(list->items, list->count);
  free_entries(list->others, list->other_count);
  free(list->other_kinds);
  memset(list, 0, sizeof *list);
}

typedef struct sweep {
  int (*referenced)(void *user, const char *path);
  void *user;
  size_t removed;
} sweep;

static si_status sweep_entry(void *user, const walk_entry *e, si_error *err) {
  sweep *s = user;
  if (!S_ISREG(e->st->st_mode) || !si_is_partial_name(e->name) ||
      (s->referenced && s->referenced(s->user, e->path)))
    return SI_OK;
  if (unlinkat(e->dirfd, e->name, 0) != 0 && errno != ENOENT)
    return si_error_set(err, SI_ERR_IO, e->path, SI_NO_OFFSET, SI_NO_TAG,
                        "cannot remove an interrupted copy: %s", strerror(errno));
  s->removed++;
  return SI_OK;
}

si_status si_remove_partials(const char *root, int (*referenced)(void *user, const char *path),
                             void *user, size_t *removed, si_error *err) {
  sweep s = {referenced, user, 0};
  struct stat sb;
  si_status st = SI_OK;
  if (lstat(root, &sb) == 0 && S_ISDIR(sb.st_mode))
    st = walk(root, sweep_entry, &s, err);
  if (removed)
    *removed = s.removed;
  return st;
}

/* Every folder below root, parents before their children (heap, any depth). */
static int collect_folders(const char *root, dir_stack *found) {
  if (!stack_push(found, root))
    return 0;
  for (size_t next = 0; next < found->n; next++) {
    DIR *d = open_folder(found->rel[next]);
    if (!d)
      continue;
    struct dirent *de;
    int ok = 1;
    while (ok && (de = readdir(d)) != NULL) {
      struct stat st;
      if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
          fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        char *child = si_path_join(found->rel[next], de->d_name);
        ok = child && strlen(child) < PATH_MAX && stack_push(found, child);
        ok = ok || (child && strlen(child) >= PATH_MAX); /* too deep to name: left */
        free(child);
      }
    }
    closedir(d);
    if (!ok)
      return 0;
  }
  return 1;
}

void si_remove_empty_dirs(const char *root) {
  dir_stack found = {0};
  collect_folders(root, &found);
  /* Children first: each folder was found after its parent. rmdir fails
   * harmlessly on a folder that is not empty, and never removes anything
   * else. */
  while (found.n > 0) {
    char *dir = found.rel[--found.n];
    rmdir(dir);
    free(dir);
  }
  free(found.rel);
}

int si_dir_has_files(const char *path) {
  struct stat sb;
  if (!path[0] || lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return 0;
  si_file_list files;
  if (si_list_files(path, &files, NULL) != SI_OK)
    return 0;
  int any = files.count + files.other_count > 0;
  si_file_list_free(&files);
  return any;
}

int64_t si_free_space_mb(const char *path) {
  struct statvfs vfs;
  if (statvfs(path, &vfs) != 0)
    return -1;
  return (int64_t)((uint64_t)vfs.f_bavail * vfs.f_frsize / (1024 * 1024));
}
