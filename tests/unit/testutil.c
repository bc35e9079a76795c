#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_samples_dir(void) {
  const char *dir = getenv("SENDIT_SAMPLES");
  struct stat st;
  if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return NULL;
  return dir;
}

const char *tu_test_data_dir(void) {
  const char *dir = getenv("SENDIT_TEST_DATA");
  return dir ? dir : "tests/data";
}

const char *tu_tmp_dir(void) {
  static char path[4096];
  if (path[0])
    return path;
  const char *base = getenv("SENDIT_TMP");
  if (!base)
    base = "/tmp";
  mkdir(base, 0755);
  snprintf(path, sizeof path, "%s/unit-%ld", base, (long)getpid());
  mkdir(path, 0755);
  return path;
}

uint8_t *tu_read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return NULL;
  }
  long n = ftell(f);
  rewind(f);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf && size)
    *size = (size_t)n;
  return buf;
}

int tu_write_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  size_t w = fwrite(data, 1, size, f);
  return (fclose(f) == 0 && w == size) ? 0 : -1;
}
