/* Process-wide log. Every line leaves in a single write() on an O_APPEND
 * descriptor: threads are serialised by the mutex, and other processes
 * appending to the same file cannot split a line, because the kernel moves
 * to the end and writes in one step. No stdio buffer, so nothing is lost
 * when the process dies. */
#include "sendit/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1; /* -1: stderr; guarded by log_lock */
/* Read without the lock by every si_log call site, hence atomic. */
static atomic_int log_min = SI_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};

si_log_level si_log_min_level(void) {
  return (si_log_level)atomic_load_explicit(&log_min, memory_order_relaxed);
}

int si_log_level_parse(const char *name) {
  if (!name)
    return -1;
  for (int i = SI_LOG_DEBUG; i <= SI_LOG_ERROR; i++)
    if (strcasecmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

/* Creates the folders leading to `path`; 0 or an errno value. */
static int make_parents(const char *path) {
  char *copy = strdup(path);
  if (!copy)
    return ENOMEM;
  int result = 0;
  for (char *p = copy + 1; *p && !result; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, 0755) != 0 && errno != EEXIST)
      result = errno;
    *p = '/';
  }
  free(copy);
  return result;
}

/* Installs fd (-1: stderr) and closes the previous file. Taking the lock
 * means no writer is still using the old descriptor when it is closed. */
static void swap_fd(int fd) {
  pthread_mutex_lock(&log_lock);
  int old = log_fd;
  log_fd = fd;
  pthread_mutex_unlock(&log_lock);
  if (old >= 0)
    close(old);
}

si_status si_log_open(const char *path, si_log_level min_level, si_error *err) {
  if ((unsigned)min_level > SI_LOG_ERROR)
    return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "unknown log level %d",
                        (int)min_level);
  int fd = -1;
  if (path) {
    if (!path[0])
      return si_error_set(err, SI_ERR_ARG, "", SI_NO_OFFSET, SI_NO_TAG, "empty log file name");
    int e = make_parents(path);
    if (e)
      return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG,
                          "cannot create the log's folder: %s", strerror(e));
    /* 0640: log lines may name patients and studies. */
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
      return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG,
                          "cannot open the log file: %s", strerror(errno));
  }
  swap_fd(fd);
  atomic_store_explicit(&log_min, (int)min_level, memory_order_relaxed);
  return SI_OK;
}

void si_log_close(void) { swap_fd(-1); }

/* "2026-11-24T18:00:00.123Z LEVEL " into buf; returns its length. */
static size_t format_prefix(si_log_level level, char *buf, size_t cap) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  int w = snprintf(buf + n, cap - n, ".%03dZ %s ", (int)(ts.tv_nsec / 1000000), level_tags[level]);
  return w > 0 ? n + (size_t)w : n;
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 when
 * the bytes there are not one (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c < 0xC2 || c > 0xF4)
    return 0;
  if (c == 0xE0)
    lo = 0xA0;
  else if (c == 0xED)
    hi = 0x9F;
  else if (c == 0xF0)
    lo = 0x90;
  else if (c == 0xF4)
    hi = 0x8F;
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

/* Messages often carry names from DICOM files or the file system: a newline
 * there must not forge a log line, nor an escape sequence reach a terminal.
 * C1 controls (U+0080..U+009F: 0x9B is CSI on many terminals) and bytes that
 * are not UTF-8 count as control characters too. */
void si_log_sanitize(char *text, size_t len) {
  unsigned char *s = (unsigned char *)text;
  for (size_t i = 0; i < len;) {
    unsigned char c = s[i];
    if (c == '\n' || c == '\r') {
      s[i++] = ' ';
    } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
      s[i++] = '?';
    } else if (c < 0x80) {
      i++;
    } else {
      size_t n = utf8_sequence(s + i, len - i);
      if (n == 2 && c == 0xC2 && s[i + 1] < 0xA0) /* a C1 control */
        s[i] = s[i + 1] = '?';
      else if (n == 0)
        s[i] = '?', n = 1;
      i += n;
    }
  }
}

static void emit(const char *line, size_t len) {
  pthread_mutex_lock(&log_lock);
  int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
  while (len > 0) {
    ssize_t w = write(fd, line, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break; /* nowhere left to report a failing log */
    line += w;
    len -= (size_t)w;
  }
  pthread_mutex_unlock(&log_lock);
}

void si_log_write(si_log_level level, const char *fmt, ...) {
  if ((unsigned)level > SI_LOG_ERROR)
    level = SI_LOG_ERROR;
  if (level < si_log_min_level())
    return;
  int saved_errno = errno; /* callers often log and then inspect errno */
  char small[1024];
  char *line = small, *big = NULL;
  size_t prefix = format_prefix(level, small, sizeof small);
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  /* One byte is kept back for the newline that replaces the NUL. */
  int n = vsnprintf(small + prefix, sizeof small - prefix - 1, fmt, ap);
  if (n < 0)
    small[prefix] = '\0';
  else if (prefix + (size_t)n + 2 > sizeof small && (big = malloc(prefix + (size_t)n + 2))) {
    memcpy(big, small, prefix);
    vsnprintf(big + prefix, (size_t)n + 1, fmt, again);
    line = big;
  }
  va_end(again);
  va_end(ap);
  size_t len = prefix + strlen(line + prefix);
  si_log_sanitize(line + prefix, len - prefix);
  line[len++] = '\n';
  emit(line, len);
  free(big);
  errno = saved_errno;
}
