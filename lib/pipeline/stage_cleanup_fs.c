/* Removing a file below a root without ever leaving it; see
 * sendit/cleanup.h. The path is taken apart lexically below the root and
 * walked one folder at a time with openat(O_NOFOLLOW), so neither a
 * symlink planted for a folder nor one for the file can lead the removal
 * elsewhere, and a rename racing the walk cannot either: each step is
 * relative to a folder already open. */
#include "sendit/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A path's components below the root, at most this deep (storage is
 * <uid>/<late data>/<the sender's folders>/file). */
#define DEPTH_MAX 64

typedef struct walk {
  char rel[SI_PATH_MAX]; /* the path below the root, '/' turned into NULs */
  const char *parts[DEPTH_MAX];
  int nparts;
  int fds[DEPTH_MAX]; /* fds[0] the root, fds[i] the folder parts[i-1] */
  int nfds;
} walk;

static void walk_close(walk *w) {
  for (int i = w->nfds; i-- > 0;)
    close(w->fds[i]);
  w->nfds = 0;
}

/* Splits `path` below `root`: 0 when it is no path strictly below it
 * (another root, "..", ".", an empty part), why in why[size]. */
static int walk_split(walk *w, const char *root, const char *path, char *why, size_t size) {
  size_t len = strlen(root);
  while (len > 1 && root[len - 1] == '/')
    len--;
  if (root[0] != '/' || strncmp(path, root, len) != 0 || path[len] != '/' || !path[len + 1]) {
    snprintf(why, size, "not below %.*s", (int)len, root);
    return 0;
  }
  if (snprintf(w->rel, sizeof w->rel, "%s", path + len + 1) >= (int)sizeof w->rel) {
    snprintf(why, size, "path too long");
    return 0;
  }
  w->nparts = 0;
  for (char *p = w->rel;;) {
    char *slash = strchr(p, '/');
    if (slash)
      *slash = 0;
    if (!p[0] || strcmp(p, ".") == 0 || strcmp(p, "..") == 0 || w->nparts == DEPTH_MAX) {
      snprintf(why, size, "not a plain path below %.*s", (int)len, root);
      return 0;
    }
    w->parts[w->nparts++] = p;
    if (!slash)
      return 1;
    p = slash + 1;
  }
}

/* Opens the root and the folders down to the file's: SI_UNLINK_REMOVED
 * (meaning: open, go on), GONE or REFUSED/FAILED with why. */
static si_unlink_outcome walk_open(walk *w, const char *root, char *why, size_t size) {
  w->nfds = 0;
  /* The root itself may be a symlink: that is the operator's setting. */
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, size, "cannot open %s: %s", root, strerror(errno));
    return errno == ENOENT ? SI_UNLINK_GONE : SI_UNLINK_FAILED;
  }
  w->fds[w->nfds++] = fd;
  for (int i = 0; i + 1 < w->nparts; i++) {
    fd = openat(w->fds[w->nfds - 1], w->parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      if (e == ENOENT)
        return SI_UNLINK_GONE;
      snprintf(why, size, "%s (part %d of the path) is %s", w->parts[i], i + 1,
               e == ELOOP || e == ENOTDIR ? "a symlink or not a folder: not followed"
                                          : strerror(e));
      return e == ELOOP || e == ENOTDIR ? SI_UNLINK_REFUSED : SI_UNLINK_FAILED;
    }
    w->fds[w->nfds++] = fd;
  }
  return SI_UNLINK_REMOVED;
}

/* Removes the folders left empty, deepest first, never the root. */
static void walk_prune(walk *w) {
  for (int i = w->nfds - 1; i >= 1; i--) {
    close(w->fds[i]);
    w->nfds = i;
    if (unlinkat(w->fds[i - 1], w->parts[i - 1], AT_REMOVEDIR) != 0)
      return; /* not empty (or not ours to remove): the ones above are not either */
  }
}

si_unlink_outcome si_cleanup_unlink(const char *root, const char *path, int64_t *bytes, char *why,
                                    size_t size) {
  walk w;
  *bytes = 0;
  why[0] = 0;
  if (!walk_split(&w, root, path, why, size))
    return SI_UNLINK_REFUSED;
  si_unlink_outcome o = walk_open(&w, root, why, size);
  if (o != SI_UNLINK_REMOVED) {
    walk_close(&w);
    return o;
  }
  int dir = w.fds[w.nfds - 1];
  const char *name = w.parts[w.nparts - 1];
  struct stat sb;
  if (fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
    int e = errno;
    walk_close(&w);
    if (e == ENOENT)
      return SI_UNLINK_GONE;
    snprintf(why, size, "cannot look at it: %s", strerror(e));
    return SI_UNLINK_FAILED;
  }
  if (!S_ISREG(sb.st_mode)) {
    walk_close(&w);
    snprintf(why, size, "%s",
             S_ISLNK(sb.st_mode) ? "a symlink: not followed, not removed"
                                 : "not a regular file: left alone");
    return SI_UNLINK_REFUSED;
  }
  if (unlinkat(dir, name, 0) != 0) {
    int e = errno;
    walk_close(&w);
    if (e == ENOENT)
      return SI_UNLINK_GONE;
    snprintf(why, size, "cannot remove it: %s", strerror(e));
    return SI_UNLINK_FAILED;
  }
  *bytes = (int64_t)sb.st_size;
  walk_prune(&w);
  walk_close(&w);
  return SI_UNLINK_REMOVED;
}

int64_t si_cleanup_size(const char *root, const char *path) {
  walk w;
  char why[8];
  if (!walk_split(&w, root, path, why, sizeof why))
    return -1;
  int64_t size = -1;
  struct stat sb;
  if (walk_open(&w, root, why, sizeof why) == SI_UNLINK_REMOVED &&
      fstatat(w.fds[w.nfds - 1], w.parts[w.nparts - 1], &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(sb.st_mode))
    size = (int64_t)sb.st_size;
  walk_close(&w);
  return size;
}
