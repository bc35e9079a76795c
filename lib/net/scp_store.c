/* The storage SCP's files and folders: see scp_store.h. */
#include "net/scp_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/dimse.h"
#include "sendit/dicom.h"
#include "sendit/fs.h"
#include "sendit/write.h"

#define INCOMING ".sendit-net"
#define WRITEBACK_STEP (128u * 1024)

void net_store_init(net_store *s, const char *dir, const char *id, const char *calling_ae) {
  memset(s, 0, sizeof *s);
  s->dir = dir;
  s->fd = -1;
  snprintf(s->id, sizeof s->id, "%s", id);
  snprintf(s->calling_ae, sizeof s->calling_ae, "%s", calling_ae);
}

static size_t put_short(uint8_t *p, uint16_t element, const char vr[2], const char *v,
                        uint8_t pad) {
  size_t n = strlen(v), padded = n + (n & 1);
  p[0] = 0x02;
  p[1] = 0x00;
  p[2] = (uint8_t)element;
  p[3] = (uint8_t)(element >> 8);
  p[4] = (uint8_t)vr[0];
  p[5] = (uint8_t)vr[1];
  p[6] = (uint8_t)padded;
  p[7] = (uint8_t)(padded >> 8);
  memcpy(p + 8, v, n);
  if (n & 1)
    p[8 + n] = pad;
  return 8 + padded;
}

/* Preamble, "DICM" and the file meta group (PS3.10 7.1) into p (>= 1024). */
static size_t encode_meta(uint8_t *p, const char *sop_class, const char *sop_instance,
                          const char *ts, const char *calling_ae) {
  memset(p, 0, 128);
  memcpy(p + 128, "DICM", 4);
  size_t pos = 132 + 12;
  static const uint8_t version[] = {0x02, 0x00, 0x01, 0x00, 'O', 'B', 0, 0, 2, 0, 0, 0, 0, 1};
  memcpy(p + pos, version, sizeof version);
  pos += sizeof version;
  pos += put_short(p + pos, 0x0002, "UI", sop_class, 0);
  pos += put_short(p + pos, 0x0003, "UI", sop_instance, 0);
  pos += put_short(p + pos, 0x0010, "UI", ts, 0);
  pos += put_short(p + pos, 0x0012, "UI", SI_IMPLEMENTATION_CLASS_UID, 0);
  pos += put_short(p + pos, 0x0013, "SH", si_implementation_version_name(), ' ');
  if (calling_ae[0])
    pos += put_short(p + pos, 0x0016, "AE", calling_ae, ' ');
  uint32_t group = (uint32_t)(pos - 132 - 12);
  static const uint8_t gl[] = {0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0};
  memcpy(p + 132, gl, sizeof gl);
  p[140] = (uint8_t)group;
  p[141] = (uint8_t)(group >> 8);
  p[142] = (uint8_t)(group >> 16);
  p[143] = (uint8_t)(group >> 24);
  return pos;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

si_status net_store_begin(net_store *s, const char *sop_class, const char *sop_instance,
                          const char *ts, si_error *err) {
  char incoming[4200];
  snprintf(incoming, sizeof incoming, "%s/" INCOMING, s->dir);
  if (mkdir(incoming, 0755) != 0 && errno != EEXIST)
    return si_error_set(err, SI_ERR_IO, incoming, SI_NO_OFFSET, SI_NO_TAG, "mkdir: %s",
                        strerror(errno));
  static unsigned counter;
  snprintf(s->tmp_path, sizeof s->tmp_path, "%s/%s-%u.part", incoming, s->id,
           __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
  s->fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (s->fd < 0)
    return si_error_set(err, SI_ERR_IO, s->tmp_path, SI_NO_OFFSET, SI_NO_TAG, "open: %s",
                        strerror(errno));
  /* Held while it is written: a restart removes only unlocked ones. */
  flock(s->fd, LOCK_EX | LOCK_NB);
  snprintf(s->sop_instance, sizeof s->sop_instance, "%s", sop_instance);
  s->written = 0;
  s->flushed = 0;
  s->write_failed = 0;
  uint8_t meta[1024];
  size_t n = encode_meta(meta, sop_class, sop_instance, ts, s->calling_ae);
  if (write_all(s->fd, meta, n) < 0) {
    int e = errno;
    net_store_discard(s);
    return si_error_set(err, SI_ERR_IO, s->tmp_path, SI_NO_OFFSET, SI_NO_TAG, "write: %s",
                        strerror(e));
  }
  return SI_OK;
}

int net_store_write(void *ctx, const uint8_t *data, size_t len) {
  net_store *s = ctx;
  if (s->write_failed || s->fd < 0)
    return -1;
  if (write_all(s->fd, data, len) < 0) {
    s->write_failed = 1;
    s->write_errno = errno;
    return -1;
  }
  s->written += len;
  /* Start the disk on what has come while the rest arrives, so the fsync
   * before the answer waits for less (SYNC_FILE_RANGE_WRITE only queues
   * the writeback: it promises nothing, the fsync does). */
  if (s->written - s->flushed >= WRITEBACK_STEP) {
    sync_file_range(s->fd, (off64_t)s->flushed, 0, SYNC_FILE_RANGE_WRITE); /* 0: to the end */
    s->flushed = s->written;
  }
  return 0;
}

void net_store_discard(net_store *s) {
  if (s->fd >= 0) {
    close(s->fd);
    unlink(s->tmp_path);
  }
  s->fd = -1;
}

/* Folder name from a value: letters, digits, '-', '_' kept; others '_'
 * (dots too for accession numbers: a part starting with "tmp" would make
 * the folder look unfinished forever). UIDs keep their dots. */
static void sanitise(const char *v, int keep_dots, char *out, size_t size) {
  size_t n = 0;
  for (; *v && n + 1 < size; v++) {
    unsigned char c = (unsigned char)*v;
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || (keep_dots && c == '.' && n > 0);
    out[n++] = ok ? (char)c : '_';
  }
  out[n] = '\0';
}

static si_status study_folder(net_store *s, const char *name, const net_study **out,
                              si_error *err) {
  for (size_t i = 0; i < s->study_count; i++)
    if (strcmp(s->studies[i].name, name) == 0) {
      *out = &s->studies[i];
      return SI_OK;
    }
  net_study *g = realloc(s->studies, (s->study_count + 1) * sizeof *g);
  if (!g)
    return si_error_set(err, SI_ERR_NOMEM, s->dir, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  s->studies = g;
  net_study *st = &g[s->study_count];
  st->name = strdup(name);
  size_t len = strlen(s->dir) + strlen(name) + strlen(s->id) + 8;
  st->tmp = malloc(len);
  if (!st->name || !st->tmp) {
    free(st->name);
    free(st->tmp);
    return si_error_set(err, SI_ERR_NOMEM, s->dir, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  snprintf(st->tmp, len, "%s/%s.tmp%s", s->dir, name, s->id);
  st->lock_fd = -1;
  if ((mkdir(st->tmp, 0755) != 0 && errno != EEXIST) ||
      (st->lock_fd = open(st->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    int e = errno;
    rmdir(st->tmp);
    free(st->name);
    free(st->tmp);
    return si_error_set(err, SI_ERR_IO, s->dir, SI_NO_OFFSET, SI_NO_TAG, "mkdir %s: %s", name,
                        strerror(e));
  }
  /* Ours until net_store_finish: a restart leaves locked folders alone. */
  flock(st->lock_fd, LOCK_EX | LOCK_NB);
  si_fsync_dir(s->dir, NULL);
  s->study_count++;
  *out = st;
  return SI_OK;
}

si_status net_store_end(net_store *s, uint16_t *status, si_error *err) {
  *status = NET_STATUS_OUT_OF_RESOURCES;
  if (s->write_failed) {
    int e = s->write_errno;
    net_store_discard(s);
    return si_error_set(err, SI_ERR_IO, s->tmp_path, SI_NO_OFFSET, SI_NO_TAG, "write: %s",
                        strerror(e));
  }
  if (fsync(s->fd) != 0) {
    int e = errno;
    net_store_discard(s);
    return si_error_set(err, SI_ERR_IO, s->tmp_path, SI_NO_OFFSET, SI_NO_TAG, "fsync: %s",
                        strerror(e));
  }
  close(s->fd);
  s->fd = -1;
  /* Read it back as the importer will: a data set that does not parse is
   * refused now, while the sender can still hear about it. */
  si_read_options o;
  si_read_options_init(&o);
  o.stop_before_pixels = 1;
  si_file *file = NULL;
  si_status st = si_read_file(s->tmp_path, &o, &file, err);
  char name[80] = "";
  if (st == SI_OK) {
    const si_dataset *ds = si_file_dataset(file);
    char *acc = NULL;
    char uid[65];
    si_error e;
    if (si_get_string(ds, SI_TAG(0x0008, 0x0050), 0, &acc, &e) == SI_OK && acc[0])
      sanitise(acc, 0, name, sizeof name);
    else if (si_get_valid_uid(ds, SI_TAG(0x0020, 0x000D), uid, &e) == SI_OK)
      sanitise(uid, 1, name, sizeof name);
    free(acc);
    si_file_free(file);
    if (!name[0])
      snprintf(name, sizeof name, "UNKNOWN_STUDY");
  } else {
    *status = NET_STATUS_CANNOT_UNDERSTAND;
    unlink(s->tmp_path);
    return st;
  }
  const net_study *study;
  if ((st = study_folder(s, name, &study, err)) != SI_OK) {
    unlink(s->tmp_path);
    return st;
  }
  const char *folder = study->tmp;
  char inst[65];
  sanitise(s->sop_instance, 1, inst, sizeof inst);
  char final[4400];
  snprintf(final, sizeof final, "%s/%s.dcm", folder, inst);
  if (rename(s->tmp_path, final) != 0) {
    int e = errno;
    unlink(s->tmp_path);
    return si_error_set(err, SI_ERR_IO, final, SI_NO_OFFSET, SI_NO_TAG, "rename: %s", strerror(e));
  }
  /* The entry must be durable before the answer: fsync of the folder
   * (open already: the lock's descriptor). */
  if (fsync(study->lock_fd) != 0)
    return si_error_set(err, SI_ERR_IO, folder, SI_NO_OFFSET, SI_NO_TAG, "fsync: %s",
                        strerror(errno));
  *status = NET_STATUS_SUCCESS;
  return SI_OK;
}

void net_store_finish(net_store *s, int wait_ms, void (*note)(void *user, const char *msg),
                      void *user) {
  net_store_discard(s);
  for (size_t i = 0; i < s->study_count; i++) {
    net_study *st = &s->studies[i];
    size_t len = strlen(s->dir) + strlen(st->name) + strlen(s->id) + 4;
    /* A folder whose every instance failed holds nothing to import. */
    if (rmdir(st->tmp) == 0) {
      if (st->lock_fd >= 0)
        close(st->lock_fd);
      free(st->name);
      free(st->tmp);
      continue;
    }
    char *dst = malloc(len);
    if (!dst)
      continue;
    snprintf(dst, len, "%s/%s", s->dir, st->name);
    si_error e;
    int waited = 0;
    si_status r;
    /* A same-named folder not imported yet: the watcher frees the name
     * soon; meanwhile nothing is merged into a folder it may be moving. */
    while ((r = si_rename_noreplace(st->tmp, dst, &e)) == SI_ERR_STATE && waited < wait_ms) {
      struct timespec ts = {0, 100 * 1000000L};
      nanosleep(&ts, NULL);
      waited += 100;
    }
    if (r == SI_ERR_STATE) {
      snprintf(dst, len, "%s/%s-%s", s->dir, st->name, s->id);
      r = si_rename_noreplace(st->tmp, dst, &e);
      if (note && r == SI_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s/%s exists and was not imported: finished as %s", s->dir,
                 st->name, dst);
        note(user, msg);
      }
    }
    if (r != SI_OK && note) {
      char msg[1200];
      snprintf(msg, sizeof msg, "cannot finish %s: %s", st->tmp, e.message);
      note(user, msg);
    }
    free(dst);
    if (st->lock_fd >= 0)
      close(st->lock_fd); /* after the rename: the lock is held until it is finished */
    free(st->name);
    free(st->tmp);
  }
  si_fsync_dir(s->dir, NULL);
  free(s->studies);
  s->studies = NULL;
  s->study_count = 0;
}

/* "<name>.tmp<digits>-<digits>": the name and the id, or 0. */
static int parse_tmp_name(const char *entry, char *name, size_t name_size, char *id,
                          size_t id_size) {
  const char *t = NULL;
  for (const char *p = strstr(entry, ".tmp"); p; p = strstr(p + 1, ".tmp"))
    t = p;
  if (!t || t == entry)
    return 0;
  const char *q = t + 4;
  size_t digits = strspn(q, "0123456789");
  if (!digits || q[digits] != '-')
    return 0;
  size_t more = strspn(q + digits + 1, "0123456789");
  if (!more || q[digits + 1 + more] != '\0')
    return 0;
  size_t n = (size_t)(t - entry);
  if (n >= name_size || strlen(q) >= id_size)
    return 0;
  memcpy(name, entry, n);
  name[n] = '\0';
  snprintf(id, id_size, "%s", q);
  return 1;
}

/* An fd of path holding its flock, or -1 when someone (alive) holds it. */
static int lock_free(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void net_store_recover(const char *dir, int wait_ms, void (*note)(void *user, const char *msg),
                       void *user) {
  char path[4400];
  snprintf(path, sizeof path, "%s/" INCOMING, dir);
  DIR *d = opendir(path);
  size_t removed = 0;
  for (struct dirent *de; d && (de = readdir(d)) != NULL;) {
    size_t n = strlen(de->d_name);
    if (n < 6 || strcmp(de->d_name + n - 5, ".part") != 0)
      continue;
    snprintf(path, sizeof path, "%s/" INCOMING "/%s", dir, de->d_name);
    int fd = lock_free(path, O_RDONLY);
    if (fd >= 0 && unlink(path) == 0)
      removed++;
    if (fd >= 0)
      close(fd);
  }
  if (d)
    closedir(d);
  if (removed && note) {
    char msg[200];
    snprintf(msg, sizeof msg, "removed %zu instance(s) a dead association had not finished",
             removed);
    note(user, msg);
  }
  if (!(d = opendir(dir)))
    return;
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    char name[256], id[48];
    if (!parse_tmp_name(de->d_name, name, sizeof name, id, sizeof id))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    struct stat sb;
    if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
      continue;
    int fd = lock_free(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
      continue;
    net_store s;
    net_store_init(&s, dir, id, "");
    net_study one = {strdup(name), strdup(path), fd};
    if (!one.name || !one.tmp) {
      free(one.name);
      free(one.tmp);
      close(fd);
      continue;
    }
    s.studies = malloc(sizeof one);
    if (!s.studies) {
      free(one.name);
      free(one.tmp);
      close(fd);
      continue;
    }
    s.studies[0] = one;
    s.study_count = 1;
    if (note) {
      char msg[700];
      snprintf(msg, sizeof msg, "finishing %s, left by an association that did not end", path);
      note(user, msg);
    }
    net_store_finish(&s, wait_ms, note, user);
  }
  closedir(d);
}
