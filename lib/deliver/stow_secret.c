/* The dicomweb destination's secrets; see stow_secret.h. */
#include "stow_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static si_status refuse(const char *dest, const char *key, const char *path, si_error *err,
                        const char *why) {
  return si_error_set(err, SI_ERR_CONFIG, path, SI_NO_OFFSET, SI_NO_TAG, "destination %s: %s: %s",
                      dest, key, why);
}

si_status si_stow_secret_read(const char *dest, const char *key, const char *path, int token,
                              char **out, si_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return refuse(dest, key, path, err, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > SI_STOW_SECRET_MAX) {
    close(fd);
    return refuse(dest, key, path, err, "not a regular file of at most 4096 bytes");
  }
  if (sb.st_mode & S_IROTH) {
    close(fd);
    return refuse(dest, key, path, err, "anyone may read it; chmod o-r it (it holds a secret)");
  }
  char *buf = sodium_malloc(SI_STOW_SECRET_MAX + 1);
  ssize_t n = buf ? read(fd, buf, SI_STOW_SECRET_MAX) : -1;
  close(fd);
  if (n < 0) {
    sodium_free(buf);
    return refuse(dest, key, path, err, "cannot read it");
  }
  buf[n] = '\0';
  size_t len = strcspn(buf, "\r\n");
  int good = len > 0;
  for (size_t i = 0; i < len; i++)
    good &= (unsigned char)buf[i] < 0x7F && (buf[i] > ' ' || (buf[i] == ' ' && !token));
  /* Nothing may follow the first line but line ends. */
  good &= strspn(buf + len, "\r\n") == (size_t)n - len;
  if (!good) {
    sodium_free(buf);
    return refuse(dest, key, path, err,
                  token ? "not one line of visible ASCII characters"
                        : "not one line of printable ASCII characters");
  }
  buf[len] = '\0';
  *out = buf;
  return SI_OK;
}
