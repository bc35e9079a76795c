/* Drives one destination type directly, for the types' own tests (the
 * engine's tests go through the daemon):
 *
 *   sendit_dest_drive TYPE NAME [key=value ...] -- FILE...
 *
 * Builds the destination from the arguments, runs the type's check, then
 * delivers the files as one batch (batch uid = NAME, source "original";
 * SENDIT_DEST_BATCH overrides the batch uid). Prints one line per item,
 * "sent INDEX PATH ANSWER" or "failed retryable|final INDEX PATH ANSWER",
 * and "error: ..." when deliver returned an error. Exit status: 0 when
 * every file was sent, 1 when some were not, 2 on a usage, check or
 * deliver error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sendit/destination.h"
#include "sendit/dicom.h"

typedef struct drive_state {
  const si_dest_batch *batch;
  size_t reported, failed;
  unsigned char *seen;
} drive_state;

static void on_result(void *user, const si_dest_result *r) {
  drive_state *st = user;
  if (r->index >= st->batch->count) {
    printf("bad-index %zu\n", r->index);
    st->failed++;
    return;
  }
  if (st->seen[r->index]++)
    printf("reported-twice %zu\n", r->index);
  st->reported++;
  if (!r->sent)
    st->failed++;
  printf("%s %zu %s %s\n", r->sent ? "sent" : (r->retryable ? "failed retryable" : "failed final"),
         r->index, st->batch->items[r->index].path, r->answer ? r->answer : "");
}

static char *uid_of(const si_dataset *ds, uint32_t tag) {
  char uid[65] = "";
  (void)si_get_uid(ds, tag, uid, NULL);
  return strdup(uid);
}

static int load_item(const char *path, si_dest_item *item) {
  si_read_options opts;
  si_read_options_init(&opts);
  opts.stop_before_pixels = 1;
  si_file *file = NULL;
  si_error err;
  if (si_read_file(path, &opts, &file, &err) != SI_OK) {
    char buf[1200];
    fprintf(stderr, "dest_drive: %s\n", si_error_format(&err, buf, sizeof buf));
    return -1;
  }
  const si_dataset *ds = si_file_dataset(file);
  struct stat sb;
  item->path = path;
  item->sop_class_uid = uid_of(ds, 0x00080016);
  item->sop_instance_uid = uid_of(ds, 0x00080018);
  item->study_uid = uid_of(ds, 0x0020000D);
  item->series_uid = uid_of(ds, 0x0020000E);
  item->size = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
  si_file_free(file);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s TYPE NAME [key=value ...] -- FILE...\n", argv[0]);
    return 2;
  }
  const si_dest_type *type = si_dest_type_find(argv[1]);
  if (!type) {
    fprintf(stderr, "dest_drive: no destination type %s\n", argv[1]);
    return 2;
  }
  si_dest_setting settings[64];
  si_dest_config d = {.name = argv[2],
                      .type = argv[1],
                      .source = "original",
                      .filter_modalities = "",
                      .filter_calling_ae = "",
                      .filter_labels = "",
                      .concurrency = 1,
                      .max_attempts = 1,
                      .max_age_seconds = 86400,
                      .breaker_failures = 5,
                      .breaker_probe_seconds = 30,
                      .settings = settings};
  int i = 3;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq || d.setting_count == 64) {
      fprintf(stderr, "dest_drive: not key=value: %s\n", argv[i]);
      return 2;
    }
    *eq = '\0';
    settings[d.setting_count++] = (si_dest_setting){.key = argv[i], .value = eq + 1};
  }
  if (i == argc) {
    fprintf(stderr, "dest_drive: no -- before the files\n");
    return 2;
  }
  i++;
  size_t count = (size_t)(argc - i);
  si_dest_item *items = calloc(count ? count : 1, sizeof *items);
  unsigned char *seen = calloc(count ? count : 1, 1);
  if (!items || !seen)
    return 2;
  for (size_t k = 0; k < count; k++)
    if (load_item(argv[i + (int)k], &items[k]) != 0)
      return 2;
  si_error err;
  char buf[1200];
  const char *batch_uid = getenv("SENDIT_DEST_BATCH");
  si_dest_batch batch = {.batch_uid = batch_uid ? batch_uid : d.name,
                         .source = "original",
                         .items = items,
                         .count = count};
  drive_state st = {.batch = &batch, .seen = seen};
  /* A failed check ends the run like a failed delivery, freeing the same. */
  si_status rc = type->check(&d, &err);
  int checked = rc == SI_OK;
  if (checked)
    rc = type->deliver(&d, &batch, NULL, on_result, &st, &err);
  if (rc != SI_OK)
    printf("error: %s\n", si_error_format(&err, buf, sizeof buf));
  for (size_t k = 0; k < count && checked; k++)
    if (!seen[k] && rc == SI_OK)
      printf("unreported %zu %s\n", k, items[k].path);
  for (size_t k = 0; k < count; k++) {
    free((char *)items[k].sop_class_uid);
    free((char *)items[k].sop_instance_uid);
    free((char *)items[k].study_uid);
    free((char *)items[k].series_uid);
  }
  int unreported = st.reported != count;
  free(items);
  free(seen);
  if (rc != SI_OK)
    return 2;
  return (st.failed || unreported) ? 1 : 0;
}
