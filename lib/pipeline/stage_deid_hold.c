/* A held or failed image of the deid stage: its outcome, a batch log line,
 * and for a held one a copy of the original in quarantine for review. See
 * stage_deid_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/fs.h"
#include "sendit/store_deid_stage.h"
#include "stage_deid_internal.h"

static si_status io_fail(const char *path, const char *what, si_error *err) {
  return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "%s: %s", what,
                      strerror(errno));
}

/* Writes `len` bytes, or copies the file `src` when data is NULL, to dst
 * through a temporary name, fsynced before the rename: a kill leaves either
 * nothing or the whole file under dst. */
static si_status write_whole(const char *dst, const char *src, const char *data, size_t len,
                             si_error *err) {
  char tmp[SI_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s.sendit-tmp", dst);
  int in = src ? open(src, O_RDONLY | O_CLOEXEC) : -1;
  if (src && in < 0)
    return io_fail(src, "open", err);
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  si_status st = out < 0 ? io_fail(tmp, "open", err) : SI_OK;
  char buf[1 << 16];
  for (size_t off = 0; st == SI_OK;) {
    ssize_t n;
    if (src) {
      n = read(in, buf, sizeof buf);
      if (n < 0) {
        st = io_fail(src, "read", err);
        break;
      }
      if (n == 0)
        break;
    } else {
      if (off >= len)
        break;
      n = (ssize_t)(len - off < sizeof buf ? len - off : sizeof buf);
      memcpy(buf, data + off, (size_t)n);
    }
    for (ssize_t done = 0; st == SI_OK && done < n;) {
      ssize_t w = write(out, buf + done, (size_t)(n - done));
      if (w < 0)
        st = io_fail(tmp, "write", err);
      else
        done += w;
    }
    off += (size_t)n;
  }
  if (st == SI_OK && fsync(out) != 0)
    st = io_fail(tmp, "fsync", err);
  if (out >= 0 && close(out) != 0 && st == SI_OK)
    st = io_fail(tmp, "close", err);
  if (in >= 0)
    close(in);
  if (st == SI_OK && rename(tmp, dst) != 0)
    st = io_fail(dst, "rename", err);
  if (st != SI_OK)
    unlink(tmp);
  return st;
}

typedef struct entry_seen {
  const char *path;
  int found;
} entry_seen;

static int same_entry(void *user, const char *path) {
  entry_seen *e = user;
  e->found = strcmp(e->path, path) == 0;
  return e->found;
}

/* quarantine/<batch>/deid/<image id>/: the original's copy and reason.txt.
 * The entry names the folder, so that reconciling counts both as recorded
 * (quarantine.h). */
static si_status set_aside(deid_env *env, const deid_item *item, const char *reason, char *dir,
                           size_t size, si_error *err) {
  const si_config *cfg = env->ctx->cfg;
  snprintf(dir, size, "%s/%s/deid/%lld", cfg->quarantine_dir, env->batch_uid,
           (long long)item->image_id);
  si_status st = si_mkdir_p(dir, err);
  const char *base = strrchr(item->storage_path, '/');
  base = base ? base + 1 : item->storage_path;
  char copy[SI_PATH_MAX], why[SI_PATH_MAX];
  snprintf(copy, sizeof copy, "%s/%s%s", dir, base[0] == '.' ? "_" : "", base);
  snprintf(why, sizeof why, "%s/reason.txt", dir);
  char *text = NULL;
  size_t len = 0;
  if (st == SI_OK) {
    FILE *m = open_memstream(&text, &len);
    if (!m)
      return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    fprintf(m,
            "held by the deid stage: %s\nbatch: %s\nimage: %lld\nSOPInstanceUID: %s\n"
            "original: %s (stays in storage)\n",
            reason, env->batch_uid, (long long)item->image_id, item->uid, item->storage_path);
    fclose(m);
    st = write_whole(copy, item->storage_path, NULL, 0, err);
  }
  if (st == SI_OK)
    st = write_whole(why, NULL, text, len, err);
  free(text);
  if (st == SI_OK)
    st = si_fsync_dir(dir, err);
  return st;
}

si_status deid_hold(deid_env *env, const deid_item *item, const char *state, const char *reason,
                    si_error *err) {
  si_db *db = env->ctx->db;
  char dir[SI_PATH_MAX] = "";
  int held = strcmp(state, SI_DEID_HELD) == 0;
  si_status st = si_db_begin_relaxed(db, err);
  int found = 0;
  /* The batch's row first, then the folder: no reconciling sees it before
   * its entry (quarantine.h). */
  if (st == SI_OK)
    st = si_store_batch_lock_id(db, env->batch_id, NULL, &found, err);
  if (st == SI_OK && held)
    st = set_aside(env, item, reason, dir, sizeof dir, err);
  entry_seen seen = {dir, 0};
  if (st == SI_OK && held)
    st = si_store_quarantine_paths(db, env->batch_uid, same_entry, &seen, err);
  if (st == SI_OK && held && !seen.found)
    st = si_store_quarantine_add(db, env->batch_uid, dir, item->original_name, reason, err);
  char msg[2048];
  if (held)
    snprintf(msg, sizeof msg, "deid: held %s: %s (a copy of the original is in %s)",
             item->original_name, reason, dir);
  else
    snprintf(msg, sizeof msg, "deid: could not de-identify %s: %s", item->original_name, reason);
  if (st == SI_OK)
    st = si_store_batch_log(db, env->batch_id, "error", item->storage_path, msg, err);
  si_deid_outcome o = {.image_id = item->image_id,
                       .batch_id = env->batch_id,
                       .state = state,
                       .reason = reason,
                       .quarantine_path = held ? dir : NULL};
  if (st == SI_OK)
    st = si_store_deid_stage_record(db, &o, err);
  if (st == SI_OK)
    return si_db_commit(db, err);
  si_db_rollback(db);
  return st;
}
