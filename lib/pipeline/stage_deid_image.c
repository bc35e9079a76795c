/* One image through the deid stage: read the stored original (large values
 * left in the file: memory stays flat), collect its identifying values for
 * the leak scan, de-identify, write under a temporary name beside the
 * final one, scan, rename; or hold it. See stage_deid_internal.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sendit/deid_verify.h"
#include "sendit/fs.h"
#include "sendit/store_deid_stage.h"
#include "sendit/write.h"
#include "stage_deid_internal.h"

/* Values longer than this stay in the original and are copied from there
 * by the writer (pixel data, mostly). */
#define LEAVE_IN_FILE (64 * 1024)

/* Errors that belong to the image (its bytes, an action that does not fit
 * it): the image fails, the batch goes on. Others (the disk, memory, the
 * database) stop the attempt. */
static int image_error(si_status st) {
  switch (st) {
  case SI_ERR_NOT_DICOM:
  case SI_ERR_FORMAT:
  case SI_ERR_TRUNCATED:
  case SI_ERR_LIMIT:
  case SI_ERR_UNSUPPORTED:
  case SI_ERR_NOT_FOUND:
  case SI_ERR_VALUE:
  case SI_ERR_ARG:
  case SI_ERR_CHARSET:
    return 1;
  default:
    return 0;
  }
}

/* A code as one safe path component: no '/', no leading '.', no control
 * characters (codes from an identifier service are whatever it sends). */
static void safe_component(const char *in, char *out, size_t size) {
  size_t n = 0;
  for (const char *p = in; *p && n + 1 < size; p++) {
    unsigned char c = (unsigned char)*p;
    int bad = c == '/' || c < 0x20 || c == 0x7f || (n == 0 && c == '.');
    out[n++] = bad ? '_' : (char)c;
  }
  out[n] = 0;
  if (!n)
    snprintf(out, size, "_");
}

/* Decide the output's path: [deid] folder/<study code>/<name>, where an
 * image of another row already has the name, "-<image id>" before the
 * extension. */
static si_status output_path(deid_env *env, const deid_item *item, const si_file *file,
                             const si_deid_subject *subject, char *dir, char *path, size_t size,
                             si_error *err) {
  char code[256], name[512];
  safe_component(subject->study_code, code, sizeof code);
  si_status st =
      si_stage_deid_name(file, subject, env->ctx->cfg->deid_name_pattern, name, sizeof name, err);
  if (st != SI_OK)
    return st;
  snprintf(dir, size, "%s/%s", env->ctx->cfg->deid_dir, code);
  int len = snprintf(path, size, "%s/%s", dir, name);
  if (len < 0 || (size_t)len >= size)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "de-identified path too long (%d bytes)", len);
  int taken = 0;
  st = si_store_deid_stage_output_taken(env->ctx->db, path, item->image_id, &taken, err);
  if (st == SI_OK && taken) {
    char *dot = strrchr(name, '.');
    size_t stem = dot ? (size_t)(dot - name) : strlen(name);
    snprintf(path, size, "%s/%.*s-%lld%s", dir, (int)stem, name, (long long)item->image_id,
             dot ? dot : "");
  }
  return st;
}

/* A temporary name of the stage's: ".NAME.sendit-deid" (the scanned
 * output before its rename), and the writer's own temporary of it,
 * "..NAME.sendit-deid.sendit-tmp-XXXXXX". */
static int stage_temporary(const char *name) {
  return name[0] == '.' && strstr(name, ".sendit-deid") != NULL;
}

/* The first time this run writes into `dir`: removes the temporaries a
 * killed run left there (a run after a kill always writes those images
 * again). Only one deid job per batch runs at once; another batch's job
 * writing into the same study's folder at this moment would lose its
 * temporary and retry. */
static si_status sweep_once(deid_env *env, const char *dir, si_error *err) {
  for (size_t i = 0; i < env->nswept; i++)
    if (strcmp(env->swept[i], dir) == 0)
      return SI_OK;
  char **grown = realloc(env->swept, (env->nswept + 1) * sizeof *grown);
  if (!grown || !(grown[env->nswept] = strdup(dir))) {
    if (grown)
      env->swept = grown;
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  env->swept = grown;
  env->nswept++;
  DIR *d = opendir(dir);
  if (!d)
    return SI_OK; /* made just now */
  for (struct dirent *e; (e = readdir(d));)
    if (stage_temporary(e->d_name))
      unlinkat(dirfd(d), e->d_name, 0);
  closedir(d);
  return SI_OK;
}

/* Which collected kinds the profile's options keep by design. */
static si_status allow_retained(si_verify *v, unsigned profile, si_error *err) {
  static const struct {
    unsigned bit;
    const char *kind;
  } kept[] = {{SI_DEID_RETAIN_UIDS, "uid"},
              {SI_DEID_RETAIN_DEVICE_IDENTITY, "device"},
              {SI_DEID_RETAIN_INSTITUTION_IDENTITY, "institution"},
              {SI_DEID_RETAIN_LONG_FULL_DATES, "date"}};
  si_status st = SI_OK;
  for (size_t i = 0; st == SI_OK && i < sizeof kept / sizeof kept[0]; i++)
    if ((profile & kept[i].bit) && si_verify_kind_valid(kept[i].kind))
      st = si_verify_allow_kind(v, kept[i].kind, err);
  return st;
}

/* The leak scan's verdict on the temporary output: *leak 1 and a reason
 * that names where and what kind, the value masked. */
static si_status scan(si_verify *v, const char *tmp, int *leak, char *why, size_t size,
                      si_error *err) {
  si_verify_hits hits = {0};
  si_status st = si_verify_scan_path(v, tmp, &hits, err);
  *leak = hits.count > 0;
  if (*leak) {
    char masked[64];
    const si_verify_hit *h = &hits.items[0];
    snprintf(why, size, "leak scan: %s %s found at %s%s (%zu hit%s)", h->kind,
             si_verify_mask(h->value, masked, sizeof masked), h->path, h->raw ? " (raw)" : "",
             hits.count, hits.count == 1 ? "" : "s");
    st = SI_OK; /* a hit in a file the scan could not parse is a hit */
  }
  si_verify_hits_free(&hits);
  return st;
}

typedef struct image_run {
  si_file *file;
  si_verify *verify;
  si_deid_report report;
  char dir[SI_PATH_MAX], path[SI_PATH_MAX], tmp[SI_PATH_MAX];
  int tmp_written;
  /* The recipe filter's verdict on the original ("filter whitelist:
   * LABEL"; "" none), recorded with a done image for the destinations'
   * filter_labels. */
  char label[256];
} image_run;

static void image_run_free(image_run *r) {
  if (r->tmp_written)
    unlink(r->tmp);
  si_file_free(r->file);
  si_verify_free(r->verify);
  si_deid_report_free(&r->report);
}

/* Everything but the record. *result / why as deid_image. */
static si_status make_output(deid_env *env, const deid_item *item, const si_deid_subject *subject,
                             image_run *r, deid_result *result, char *why, size_t size,
                             si_error *err) {
  si_read_options ro;
  si_read_options_init(&ro);
  ro.leave_in_file = LEAVE_IN_FILE;
  *result = DEID_FAILED;
  si_status st = si_read_file(item->storage_path, &ro, &r->file, err);
  struct stat sb;
  if (st == SI_ERR_IO && lstat(item->storage_path, &sb) != 0 && errno == ENOENT) {
    snprintf(why, size, "the original is no longer in storage (%s)", item->storage_path);
    return SI_OK;
  }
  size_t origin = 0;
  if (st == SI_OK)
    st = si_verify_new(NULL, &r->verify, err);
  if (st == SI_OK)
    st = allow_retained(r->verify, env->opts.profile, err);
  if (st == SI_OK)
    st = si_verify_collect(r->verify, r->file, item->storage_path, &origin, err);
  si_deid_options opts = env->opts;
  if (item->released && opts.rules)
    opts.rules = &env->rules_released;
  /* Asked of the recipe itself, before the data set changes: the engine
   * keeps no reason for an image it passes, and a released image runs
   * without the filter but keeps the LABEL that held it. */
  int ignored = 0;
  if (st == SI_OK && env->recipe && si_deid_recipe_has_filters(env->recipe))
    st = si_deid_recipe_filter(env->recipe, r->file, &ignored, r->label, sizeof r->label, err);
  if (st == SI_OK)
    st = si_deid_apply(r->file, &opts, subject, &r->report, err);
  if (st == SI_OK && r->report.flagged) {
    *result = DEID_HELD;
    snprintf(why, size, "%s", r->report.flag_reason[0] ? r->report.flag_reason : "flagged");
    return SI_OK;
  }
  if (st == SI_OK)
    st = si_verify_add_report(r->verify, origin, &r->report, err);
  if (st == SI_OK)
    st = output_path(env, item, r->file, subject, r->dir, r->path, sizeof r->path, err);
  if (st == SI_OK)
    st = si_mkdir_p(r->dir, err);
  if (st == SI_OK)
    st = sweep_once(env, r->dir, err);
  if (st == SI_OK) {
    const char *base = strrchr(r->path, '/') + 1;
    snprintf(r->tmp, sizeof r->tmp, "%s/.%s.sendit-deid", r->dir, base);
    si_write_options wo;
    si_write_options_init(&wo);
    st = si_write_part10_file(r->file, r->tmp, &wo, err);
    r->tmp_written = st == SI_OK;
  }
  int leak = 0;
  if (st == SI_OK)
    st = scan(r->verify, r->tmp, &leak, why, size, err);
  if (st == SI_OK && leak) {
    *result = DEID_HELD;
    return SI_OK;
  }
  if (st == SI_OK) {
    /* Complete and scanned: only now under its final name. */
    if (rename(r->tmp, r->path) != 0)
      st = si_error_set(err, SI_ERR_IO, r->path, SI_NO_OFFSET, SI_NO_TAG, "rename: %s",
                        strerror(errno));
    else
      r->tmp_written = 0;
  }
  if (st == SI_OK)
    st = si_fsync_dir(r->dir, err);
  if (st == SI_OK) {
    *result = DEID_DONE;
    return SI_OK;
  }
  if (image_error(st)) {
    snprintf(why, size, "%s", err->message);
    return SI_OK;
  }
  return st;
}

si_status deid_image(deid_env *env, const deid_item *item, const si_deid_subject *subject,
                     deid_result *result, char *why, size_t size, si_error *err) {
  image_run r;
  memset(&r, 0, sizeof r);
  si_status st = make_output(env, item, subject, &r, result, why, size, err);
  if (st == SI_OK && *result == DEID_DONE) {
    si_deid_outcome o = {.image_id = item->image_id,
                         .batch_id = env->batch_id,
                         .state = SI_DEID_DONE,
                         .sop_uid = r.report.sop_uid,
                         .study_uid = r.report.study_uid,
                         .series_uid = r.report.series_uid,
                         .output_path = r.path,
                         .reason = r.label[0] ? r.label : NULL};
    st = si_db_begin_relaxed(env->ctx->db, err);
    if (st == SI_OK)
      st = si_store_deid_stage_record(env->ctx->db, &o, err);
    st = st == SI_OK ? si_db_commit(env->ctx->db, err) : (si_db_rollback(env->ctx->db), st);
  } else if (st == SI_OK) {
    st = deid_hold(env, item, *result == DEID_HELD ? SI_DEID_HELD : SI_DEID_FAILED, why, err);
  }
  image_run_free(&r);
  return st;
}
