/* The physical floor for a folder import: what any importer of these folders
 * has to do at the least, with no parsing and no database.
 *
 * For each study folder in SRC (in readdir order): rename SRC/NAME to
 * DST/NAME (one rename per folder, the cheapest possible "move into
 * storage"), then list DST/NAME and, for each regular file in it, open it,
 * read its first 4 KiB (enough for the ~2.9 KB header of the bench corpus)
 * and close it.
 *
 * Usage: floor_import [--per-file] SRC DST      (SRC and DST on the same file system)
 * Prints "N folders, M files, B bytes read"; exits 1 if anything failed.
 *
 * --per-file is a second, higher floor for information: the layout sendit
 * uses (every file renamed on its own into storage/<batch>/) instead of one
 * rename per folder. For each folder: mkdir DST/NAME; for each file: open,
 * read 4 KiB, close, rename into DST/NAME/ (renameat, both folders held
 * open); then rmdir SRC/NAME. Still no parsing, no database, no fsync.
 *
 * Built by bench/run_import.sh with: cc -O2 -o bench/out/floor_import bench/floor_import.c
 */
#define _DEFAULT_SOURCE /* d_type, DT_REG */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long folders, files, failed;
static unsigned long long bytes;

static void fail(const char *what, const char *path) {
  fprintf(stderr, "floor_import: %s %s: %s\n", what, path, strerror(errno));
  failed++;
}

/* The names in a folder, except dot files; NULL-terminated, *count set.
 * Read in full before anything is renamed: renaming out of a folder while
 * reading it may make readdir skip or repeat entries. */
static char **list_names(DIR *d, int regular_only, size_t *count) {
  size_t n = 0, cap = 128;
  char **names = malloc(cap * sizeof *names);
  struct dirent *de;
  while (names && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    if (regular_only && de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
      continue;
    if (n + 1 == cap) {
      char **more = realloc(names, (cap *= 2) * sizeof *names);
      if (!more)
        break;
      names = more;
    }
    if ((names[n] = strdup(de->d_name)) != NULL)
      n++;
  }
  if (names)
    names[n] = NULL;
  *count = n;
  return names;
}

/* Reads the first 4 KiB of every regular file of one folder. The folder is
 * opened once and files are opened relative to it (openat), as a careful
 * importer would. With to_dfd >= 0, each file is then renamed into that
 * folder under the same name. */
static void read_folder(const char *dir, int to_dfd) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    fail("open", dir);
    return;
  }
  DIR *d = fdopendir(dfd);
  if (!d) {
    fail("fdopendir", dir);
    close(dfd);
    return;
  }
  size_t n;
  char **names = list_names(d, 1, &n);
  if (!names) {
    fail("list", dir);
    closedir(d);
    return;
  }
  static unsigned char buf[4096];
  for (size_t i = 0; i < n; i++) {
    int fd = openat(dfd, names[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fail("open", names[i]);
    } else {
      ssize_t got = read(fd, buf, sizeof buf);
      if (got < 0) {
        fail("read", names[i]);
      } else {
        bytes += (unsigned long long)got;
        files++;
      }
      close(fd);
      if (to_dfd >= 0 && renameat(dfd, names[i], to_dfd, names[i]) != 0)
        fail("rename", names[i]);
    }
    free(names[i]);
  }
  free(names);
  closedir(d); /* closes dfd */
}

int main(int argc, char **argv) {
  int per_file = argc == 4 && strcmp(argv[1], "--per-file") == 0;
  if (argc != 3 + per_file) {
    fprintf(stderr, "usage: %s [--per-file] SRC DST\n", argv[0]);
    return 2;
  }
  const char *src = argv[1 + per_file], *dst = argv[2 + per_file];
  DIR *d = opendir(src);
  if (!d) {
    fprintf(stderr, "floor_import: %s: %s\n", src, strerror(errno));
    return 2;
  }
  size_t n;
  char **names = list_names(d, 0, &n);
  closedir(d);
  if (!names) {
    fprintf(stderr, "floor_import: out of memory\n");
    return 2;
  }
  char from[4096], to[4096];
  for (size_t i = 0; i < n; i++) {
    snprintf(from, sizeof from, "%s/%s", src, names[i]);
    snprintf(to, sizeof to, "%s/%s", dst, names[i]);
    if (per_file) {
      int to_dfd = -1;
      if (mkdir(to, 0755) != 0 || (to_dfd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fail("mkdir", to);
      } else {
        read_folder(from, to_dfd);
        close(to_dfd);
        if (rmdir(from) != 0)
          fail("rmdir", from);
        else
          folders++;
      }
    } else if (rename(from, to) != 0) {
      fail("rename", from);
    } else {
      folders++;
      read_folder(to, -1);
    }
    free(names[i]);
  }
  free(names);
  /* The counts keep the reads observable. */
  printf("%lu folders, %lu files, %llu bytes read\n", folders, files, bytes);
  return failed ? 1 : 0;
}
