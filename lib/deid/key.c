/* The site's de-identification key file (sendit/deid.h): 32 random bytes
 * that make UID remapping (and derived pseudonyms) the same everywhere the
 * file is copied, and unguessable to anyone without it. Anything that could
 * leak or weaken it is refused rather than repaired: a file other users can
 * read, or of the wrong size. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sendit/deid.h"

static si_status io_error(si_error *err, const char *path, const char *what) {
  return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "%s: %s", what,
                      strerror(errno));
}

/* Reads an existing key; SI_ERR_NOT_FOUND when there is none yet, and
 * SI_ERR_TRUNCATED while a concurrent creator may still be writing it. */
static si_status read_key(const char *path, uint8_t key[SI_DEID_KEY_BYTES], si_error *err) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return SI_ERR_NOT_FOUND;
    return io_error(err, path, "cannot open the de-identification key");
  }
  struct stat st;
  si_status status = SI_OK;
  if (fstat(fd, &st) != 0) {
    status = io_error(err, path, "cannot stat the de-identification key");
  } else if (!S_ISREG(st.st_mode)) {
    status = si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG,
                          "the de-identification key is not a regular file");
  } else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    status = si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG,
                          "the de-identification key is accessible to group or others (mode "
                          "%03o): chmod 600 it (and consider it disclosed)",
                          (unsigned)(st.st_mode & 0777));
  } else if (st.st_size < SI_DEID_KEY_BYTES) {
    status = SI_ERR_TRUNCATED;
  } else if (st.st_size != SI_DEID_KEY_BYTES) {
    status = si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG,
                          "the de-identification key has %lld bytes, not %d", (long long)st.st_size,
                          SI_DEID_KEY_BYTES);
  } else {
    size_t got = 0;
    while (got < SI_DEID_KEY_BYTES) {
      ssize_t n = read(fd, key + got, SI_DEID_KEY_BYTES - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        status =
            n < 0 ? io_error(err, path, "cannot read the de-identification key") : SI_ERR_TRUNCATED;
        break;
      }
      got += (size_t)n;
    }
  }
  close(fd);
  return status;
}

static si_status create_key(const char *path, si_error *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno == EEXIST ? SI_OK : io_error(err, path, "cannot create the de-identification key");
  uint8_t key[SI_DEID_KEY_BYTES];
  randombytes_buf(key, sizeof key);
  size_t put = 0;
  si_status status = SI_OK;
  while (put < sizeof key) {
    ssize_t n = write(fd, key + put, sizeof key - put);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      status = io_error(err, path, "cannot write the de-identification key");
      break;
    }
    put += (size_t)n;
  }
  sodium_memzero(key, sizeof key);
  if (status == SI_OK && fsync(fd) != 0)
    status = io_error(err, path, "cannot sync the de-identification key");
  close(fd);
  if (status != SI_OK)
    unlink(path); /* a short key must not be found by the next start */
  return status;
}

si_status si_deid_key_load(const char *path, uint8_t key[SI_DEID_KEY_BYTES], si_error *err) {
  if (!path || !*path)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "no de-identification key file given");
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG,
                        "libsodium cannot initialise");
  /* A process that lost the O_EXCL race reads what the winner writes: wait
   * a little while the file is still short. */
  for (int attempt = 0; attempt < 100; attempt++) {
    si_status st = read_key(path, key, err);
    if (st == SI_ERR_NOT_FOUND) {
      if ((st = create_key(path, err)) != SI_OK)
        return st;
      continue;
    }
    if (st != SI_ERR_TRUNCATED)
      return st;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG,
                      "the de-identification key is shorter than %d bytes", SI_DEID_KEY_BYTES);
}
