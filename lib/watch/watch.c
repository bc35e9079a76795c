#include "sendit/watch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/pipeline.h"

#define MAX_ROOTS 64

/* A folder waiting to be quiet for stable_seconds. */
typedef struct pending {
  char *name;
  char *path;
  struct pending *next;
} pending;

struct si_watcher {
  const si_config *cfg;
  si_watch_fn fn;
  void *user;
  int inotify_fd;
  int stop_fd;
  char *roots[MAX_ROOTS];
  int root_wd[MAX_ROOTS];
  int root_count;
  pending *pending;
  time_t last_rescan;
  int reported; /* a folder was reported since the last end of a burst */
};

static si_status add_root(si_watcher *w, const char *path, si_error *err) {
  if (w->root_count == MAX_ROOTS)
    return si_error_set(err, SI_ERR_CONFIG, path, SI_NO_OFFSET, SI_NO_TAG,
                        "more than %d input folders", MAX_ROOTS);
  si_status st = si_mkdir_p(path, err);
  if (st != SI_OK)
    return st;
  /* The input folder itself is the operator's choice and may be reached
   * through links; it is resolved once here, so that jobs get absolute
   * paths. Its entries never are (consider). */
  char *copy = realpath(path, NULL);
  if (!copy)
    return si_error_set(err, errno == ENOMEM ? SI_ERR_NOMEM : SI_ERR_IO, path, SI_NO_OFFSET,
                        SI_NO_TAG, "cannot resolve the input folder: %s", strerror(errno));
  w->roots[w->root_count++] = copy;
  return SI_OK;
}

static si_status add_roots(si_watcher *w, si_error *err) {
  const char *subs = w->cfg->input_subfolders;
  if (!subs || !subs[0])
    return add_root(w, w->cfg->input_dir, err);
  for (const char *p = subs; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%.*s", (int)len, p);
    char *path = si_path_join(w->cfg->input_dir, sub);
    si_status st = path ? add_root(w, path, err) : SI_ERR_NOMEM;
    free(path);
    if (st != SI_OK)
      return st;
    if (!comma)
      break;
    p = comma + 1;
  }
  return SI_OK;
}

si_status si_watcher_open(const si_config *cfg, si_watch_fn fn, void *user, si_watcher **out,
                          si_error *err) {
  *out = NULL;
  si_watcher *w = calloc(1, sizeof *w);
  if (!w)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  w->cfg = cfg;
  w->fn = fn;
  w->user = user;
  w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  si_status st = SI_OK;
  if (w->inotify_fd < 0 || w->stop_fd < 0)
    st =
        si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG, "inotify: %s", strerror(errno));
  if (st == SI_OK)
    st = add_roots(w, err);
  for (int i = 0; st == SI_OK && i < w->root_count; i++) {
    w->root_wd[i] = inotify_add_watch(w->inotify_fd, w->roots[i],
                                      IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DELETE_SELF);
    if (w->root_wd[i] < 0)
      st = si_error_set(err, SI_ERR_IO, w->roots[i], SI_NO_OFFSET, SI_NO_TAG, "cannot watch: %s",
                        strerror(errno));
  }
  if (st != SI_OK) {
    si_watcher_close(w);
    return st;
  }
  w->last_rescan = time(NULL);
  *out = w;
  return SI_OK;
}

static int is_pending(si_watcher *w, const char *path) {
  for (pending *p = w->pending; p; p = p->next)
    if (strcmp(p->path, path) == 0)
      return 1;
  return 0;
}

const char *si_watch_entry_refusal(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return "gone";
  if (S_ISLNK(st.st_mode))
    return "a symbolic link (never followed)";
  return S_ISDIR(st.st_mode) ? NULL : "not a folder";
}

/* An entry of the input is judged by lstat, never resolved: a link
 * data/EVIL -> storage/A queued as its target would import A's stored files
 * as new data. Links and anything else but a folder are left where they
 * are, with a log line; the job gets the entry's own path. */
static void consider(si_watcher *w, const char *root, const char *name, const char *event) {
  char *path = si_path_join(root, name);
  if (!path)
    return;
  const char *refusal = si_watch_entry_refusal(path);
  if (refusal && !strcmp(refusal, "gone")) { /* already claimed, or renamed on */
    free(path);
    return;
  }
  if (event)
    si_log(SI_LOG_INFO, "%s %s", event, path);
  if (refusal) {
    si_log(SI_LOG_WARN, "SKIPPED %s: %s", path, refusal);
    free(path);
    return;
  }
  int finished = si_folder_is_finished(name);
  if (!finished) {
    si_log(SI_LOG_INFO, "NOTFINISHED %s", path);
    free(path);
    return;
  }
  if (w->cfg->stable_seconds > 0) {
    if (!is_pending(w, path)) {
      pending *p = calloc(1, sizeof *p);
      if (p && (p->name = strdup(name)) != NULL) {
        p->path = path;
        p->next = w->pending;
        w->pending = p;
        si_log(SI_LOG_INFO, "WAITING %s until quiet for %d s", path, w->cfg->stable_seconds);
        return;
      }
      free(p);
    }
    free(path);
    return;
  }
  si_log(SI_LOG_INFO, "FINISHED %s", path);
  w->fn(w->user, name, path);
  w->reported = 1;
  free(path);
}

/* Tells the consumer that the folders found in one pass are all reported. */
static void end_burst(si_watcher *w) {
  if (!w->reported)
    return;
  w->reported = 0;
  w->fn(w->user, NULL, NULL);
}

si_status si_watcher_scan(si_watcher *w, si_error *err) {
  for (int i = 0; i < w->root_count; i++) {
    DIR *d = opendir(w->roots[i]);
    if (!d)
      return end_burst(w), si_error_set(err, SI_ERR_IO, w->roots[i], SI_NO_OFFSET, SI_NO_TAG,
                                        "cannot read folder: %s", strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
      if (de->d_name[0] != '.')
        consider(w, w->roots[i], de->d_name, NULL);
    closedir(d);
  }
  w->last_rescan = time(NULL);
  end_burst(w);
  return SI_OK;
}

/* Newest modification time anywhere in the tree, to tell if a sender that
 * cannot rename is still writing. */
static time_t newest_mtime(const char *path, int depth) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return 0;
  time_t newest = st.st_mtime;
  if (!S_ISDIR(st.st_mode) || depth > 16)
    return newest;
  DIR *d = opendir(path);
  if (!d)
    return newest;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char *child = si_path_join(path, de->d_name);
    if (child) {
      time_t t = newest_mtime(child, depth + 1);
      if (t > newest)
        newest = t;
    }
    free(child);
  }
  closedir(d);
  return newest;
}

time_t si_watch_newest_mtime(const char *path) { return newest_mtime(path, 0); }

static void check_pending(si_watcher *w) {
  time_t now = time(NULL);
  for (pending **pp = &w->pending; *pp;) {
    pending *p = *pp;
    const char *refusal = si_watch_entry_refusal(p->path);
    int gone = refusal != NULL;
    if (gone && strcmp(refusal, "gone") != 0)
      si_log(SI_LOG_WARN, "SKIPPED %s: %s", p->path, refusal);
    if (!gone && now - newest_mtime(p->path, 0) < w->cfg->stable_seconds) {
      pp = &p->next;
      continue;
    }
    if (!gone) {
      si_log(SI_LOG_INFO, "FINISHED %s (quiet for %d s)", p->path, w->cfg->stable_seconds);
      w->fn(w->user, p->name, p->path);
      w->reported = 1;
    }
    *pp = p->next;
    free(p->name);
    free(p->path);
    free(p);
  }
}

static const char *root_of(si_watcher *w, int wd) {
  for (int i = 0; i < w->root_count; i++)
    if (w->root_wd[i] == wd)
      return w->roots[i];
  return NULL;
}

/* Returns 1 when a rescan is needed (overflow). */
static int drain_events(si_watcher *w) {
  _Alignas(struct inotify_event) char buf[16384];
  int rescan = 0;
  for (;;) {
    ssize_t n = read(w->inotify_fd, buf, sizeof buf);
    if (n <= 0)
      return rescan;
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        si_log(SI_LOG_WARN, "inotify queue overflow: rescanning the input");
        rescan = 1;
        continue;
      }
      if (ev->mask & IN_DELETE_SELF) {
        si_log(SI_LOG_ERROR, "an input folder was deleted; recreate it and restart the watcher");
        continue;
      }
      const char *root = root_of(w, ev->wd);
      /* Not only folders (IN_ISDIR): a link or a file moved in is logged
       * as skipped rather than ignored without a word. */
      if (!root || !ev->len || ev->name[0] == '.')
        continue;
      consider(w, root, ev->name, ev->mask & IN_MOVED_TO ? "MOVEDTO EVENT" : "CREATE EVENT");
    }
  }
}

/* A burst (a sender or a script moving many finished folders in) takes a
 * millisecond or two, and the first read sees only its first few events.
 * Reading on until the input has been quiet for BURST_QUIET_MS (BURST_MAX_MS
 * at most) makes one pass of the whole burst: it is queued in one
 * transaction, and the workers, woken once, split it evenly instead of
 * taking its first folders one by one. A lone folder waits 2 ms more. */
#define BURST_QUIET_MS 2
#define BURST_MAX_MS 50

static long elapsed_ms_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)(now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Returns 1 when a rescan is needed (overflow), like drain_events. */
static int gather_burst(si_watcher *w) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int rescan = drain_events(w);
  while (elapsed_ms_since(&start) < BURST_MAX_MS) {
    struct pollfd fds[2] = {{w->inotify_fd, POLLIN, 0}, {w->stop_fd, POLLIN, 0}};
    if (poll(fds, 2, BURST_QUIET_MS) <= 0 || !(fds[0].revents & POLLIN))
      break; /* quiet, or stopping: the caller's next poll sees the stop */
    rescan |= drain_events(w);
  }
  return rescan;
}

static int poll_timeout_ms(si_watcher *w) {
  int timeout = -1;
  if (w->pending)
    timeout = 1000;
  if (w->cfg->rescan_seconds > 0) {
    long left = (long)(w->last_rescan + w->cfg->rescan_seconds - time(NULL));
    int ms = left <= 0 ? 0 : (int)(left * 1000);
    if (timeout < 0 || ms < timeout)
      timeout = ms;
  }
  return timeout;
}

si_status si_watcher_run(si_watcher *w, si_error *err) {
  for (;;) {
    struct pollfd fds[2] = {{w->inotify_fd, POLLIN, 0}, {w->stop_fd, POLLIN, 0}};
    int rc = poll(fds, 2, poll_timeout_ms(w));
    if (rc < 0 && errno != EINTR)
      return si_error_set(err, SI_ERR_IO, NULL, SI_NO_OFFSET, SI_NO_TAG, "poll: %s",
                          strerror(errno));
    if (fds[1].revents & POLLIN)
      return SI_OK;
    int rescan = (fds[0].revents & POLLIN) ? gather_burst(w) : 0;
    if (w->cfg->rescan_seconds > 0 && time(NULL) - w->last_rescan >= w->cfg->rescan_seconds)
      rescan = 1;
    if (rescan) {
      si_error serr;
      if (si_watcher_scan(w, &serr) != SI_OK)
        si_log(SI_LOG_ERROR, "rescan: %s", serr.message);
    }
    if (w->pending)
      check_pending(w);
    end_burst(w);
  }
}

void si_watcher_stop(si_watcher *w) {
  uint64_t one = 1;
  ssize_t ignored = write(w->stop_fd, &one, sizeof one);
  (void)ignored;
}

void si_watcher_close(si_watcher *w) {
  if (!w)
    return;
  if (w->inotify_fd >= 0)
    close(w->inotify_fd);
  if (w->stop_fd >= 0)
    close(w->stop_fd);
  for (int i = 0; i < w->root_count; i++)
    free(w->roots[i]);
  while (w->pending) {
    pending *p = w->pending;
    w->pending = p->next;
    free(p->name);
    free(p->path);
    free(p);
  }
  free(w);
}

int si_folder_is_finished(const char *name) {
  if (!name[0] || name[0] == '.')
    return 0;
  for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.'))
    if (strncmp(dot + 1, "tmp", 3) == 0)
      return 0;
  return 1;
}
