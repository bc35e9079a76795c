/* The physical floor for a header parse: open each file, read its first
 * 4 KiB, close it. No parsing. Any reader of the same files costs at least
 * this much, so "sendit time / floor time" says how much of sendit's header
 * parse is parsing rather than system calls.
 *
 * Usage: floor LIST   (LIST: one path per line)
 * Prints the number of files read; exits 1 if any could not be opened or read.
 *
 * Built by bench/run_parse.sh with: cc -O2 -o bench/out/floor bench/floor.c
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s LIST\n", argv[0]);
    return 2;
  }
  FILE *list = fopen(argv[1], "r");
  if (!list) {
    fprintf(stderr, "floor: %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  static unsigned char buf[4096];
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  unsigned long files = 0, failed = 0;
  unsigned long long bytes = 0;
  while ((len = getline(&line, &cap, list)) > 0) {
    if (line[len - 1] == '\n')
      line[--len] = '\0';
    if (len == 0)
      continue;
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "floor: %s: %s\n", line, strerror(errno));
      failed++;
      continue;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      fprintf(stderr, "floor: %s: %s\n", line, strerror(errno));
      failed++;
    } else {
      bytes += (unsigned long long)n;
      files++;
    }
    close(fd);
  }
  free(line);
  fclose(list);
  /* The byte count keeps the reads observable. */
  printf("%lu files, %llu bytes\n", files, bytes);
  return failed ? 1 : 0;
}
