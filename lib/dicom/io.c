#include "sendit/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct si_io {
  si_io_methods methods;
  void *ctx;
  char *name;
};

si_status si_io_create(const si_io_methods *methods, void *ctx, const char *name, si_io **out,
                       si_error *err) {
  *out = NULL;
  if (!methods || !methods->read)
    return si_error_set(err, SI_ERR_ARG, name, SI_NO_OFFSET, SI_NO_TAG, "io without read method");
  si_io *io = calloc(1, sizeof *io);
  char *copy = strdup(name ? name : "");
  if (!io || !copy) {
    free(io);
    free(copy);
    if (methods->close)
      methods->close(ctx);
    return si_error_set(err, SI_ERR_NOMEM, name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  io->methods = *methods;
  io->ctx = ctx;
  io->name = copy;
  *out = io;
  return SI_OK;
}

void si_io_close(si_io *io) {
  if (!io)
    return;
  if (io->methods.close)
    io->methods.close(io->ctx);
  free(io->name);
  free(io);
}

int64_t si_io_read(si_io *io, void *buf, size_t n, si_error *err) {
  return io->methods.read(io->ctx, buf, n, err);
}

int64_t si_io_skip(si_io *io, uint64_t n, si_error *err) {
  if (io->methods.skip)
    return io->methods.skip(io->ctx, n, err);
  uint8_t scratch[4096];
  uint64_t done = 0;
  while (done < n) {
    size_t want = n - done < sizeof scratch ? (size_t)(n - done) : sizeof scratch;
    int64_t got = io->methods.read(io->ctx, scratch, want, err);
    if (got < 0)
      return -1;
    if (got == 0)
      break;
    done += (uint64_t)got;
  }
  return (int64_t)done;
}

int64_t si_io_remaining(si_io *io) {
  return io->methods.remaining ? io->methods.remaining(io->ctx) : -1;
}

const char *si_io_name(const si_io *io) { return io->name; }

/* ---- files ---- */

typedef struct file_ctx {
  int fd;
  int size_known; /* fstat is deferred until a length needs checking */
  uint64_t size;
  uint64_t pos;
  const char *name; /* borrowed from the si_io */
} file_ctx;

static int64_t file_read(void *vctx, void *buf, size_t n, si_error *err) {
  file_ctx *f = vctx;
  for (;;) {
    ssize_t got = read(f->fd, buf, n);
    if (got >= 0) {
      f->pos += (uint64_t)got;
      return got;
    }
    if (errno != EINTR) {
      si_error_set(err, SI_ERR_IO, f->name, f->pos, SI_NO_TAG, "read failed: %s", strerror(errno));
      return -1;
    }
  }
}

static int file_size(file_ctx *f) {
  if (!f->size_known) {
    struct stat st;
    if (fstat(f->fd, &st) != 0)
      return -1;
    f->size = (uint64_t)st.st_size;
    f->size_known = 1;
  }
  return 0;
}

static int64_t file_skip(void *vctx, uint64_t n, si_error *err) {
  file_ctx *f = vctx;
  if (file_size(f) != 0) {
    si_error_set(err, SI_ERR_IO, f->name, f->pos, SI_NO_TAG, "stat failed: %s", strerror(errno));
    return -1;
  }
  uint64_t left = f->size > f->pos ? f->size - f->pos : 0;
  uint64_t step = n < left ? n : left;
  if (lseek(f->fd, (off_t)(f->pos + step), SEEK_SET) < 0) {
    si_error_set(err, SI_ERR_IO, f->name, f->pos, SI_NO_TAG, "seek failed: %s", strerror(errno));
    return -1;
  }
  f->pos += step;
  return (int64_t)step;
}

static int64_t file_remaining(void *vctx) {
  file_ctx *f = vctx;
  if (file_size(f) != 0)
    return -1;
  return f->size > f->pos ? (int64_t)(f->size - f->pos) : 0;
}

static void file_close(void *vctx) {
  file_ctx *f = vctx;
  close(f->fd);
  free(f);
}

si_status si_io_open_file(const char *path, si_io **out, si_error *err) {
  static const si_io_methods methods = {file_read, file_skip, file_remaining, file_close};
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot open: %s",
                        strerror(errno));
  file_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    close(fd);
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  ctx->fd = fd;
  si_status st2 = si_io_create(&methods, ctx, path, out, err);
  if (st2 == SI_OK)
    ctx->name = (*out)->name;
  return st2;
}

/* ---- memory ---- */

typedef struct mem_ctx {
  const uint8_t *data;
  size_t size;
  size_t pos;
} mem_ctx;

static int64_t mem_read(void *vctx, void *buf, size_t n, si_error *err) {
  (void)err;
  mem_ctx *m = vctx;
  size_t left = m->size - m->pos;
  size_t step = n < left ? n : left;
  if (step)
    memcpy(buf, m->data + m->pos, step);
  m->pos += step;
  return (int64_t)step;
}

static int64_t mem_skip(void *vctx, uint64_t n, si_error *err) {
  (void)err;
  mem_ctx *m = vctx;
  size_t left = m->size - m->pos;
  size_t step = n < left ? (size_t)n : left;
  m->pos += step;
  return (int64_t)step;
}

static int64_t mem_remaining(void *vctx) {
  mem_ctx *m = vctx;
  return (int64_t)(m->size - m->pos);
}

si_status si_io_open_memory(const void *data, size_t size, const char *name, si_io **out,
                            si_error *err) {
  static const si_io_methods methods = {mem_read, mem_skip, mem_remaining, free};
  *out = NULL;
  mem_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return si_error_set(err, SI_ERR_NOMEM, name, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  ctx->data = data;
  ctx->size = data ? size : 0;
  return si_io_create(&methods, ctx, name ? name : "<memory>", out, err);
}
