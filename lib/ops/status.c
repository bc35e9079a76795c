/* The operator's status table; see sendit/ops_status.h. */
#include "sendit/ops_status.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "sendit/store.h"

static const char *const batch_statuses[OPS_STATUS_COUNT] = {
    SI_BATCH_QUEUE, SI_BATCH_PROCESSING, SI_BATCH_DONEPROCESSING,
    SI_BATCH_DONE,  SI_BATCH_EMPTY,      SI_BATCH_ERROR};

static const char *const image_statuses[] = {
    SI_IMAGE_NEW,  SI_IMAGE_PROCESSING, SI_IMAGE_DONEPROCESSING,
    SI_IMAGE_SENT, SI_IMAGE_DONE,       SI_IMAGE_ERROR};

const char *ops_status_name(int i) {
  return i >= 0 && i < OPS_STATUS_COUNT ? batch_statuses[i] : NULL;
}

int ops_status_index(const char *s) {
  for (int i = 0; s && i < OPS_STATUS_COUNT; i++)
    if (strcmp(s, batch_statuses[i]) == 0)
      return i;
  return -1;
}

static const char *lookup(const char *const *names, size_t n, const char *s) {
  for (size_t i = 0; s && i < n; i++)
    if (strcasecmp(s, names[i]) == 0)
      return names[i];
  return NULL;
}

const char *ops_status_lookup(const char *s) { return lookup(batch_statuses, OPS_STATUS_COUNT, s); }

const char *ops_image_status_lookup(const char *s) {
  return lookup(image_statuses, sizeof image_statuses / sizeof image_statuses[0], s);
}

int ops_log_is_notable(const char *level) {
  return level && (strcmp(level, "error") == 0 || strcmp(level, "warning") == 0 ||
                   strcmp(level, "warn") == 0);
}

const char *ops_log_level_name(const char *level) {
  return level && strcmp(level, "warn") == 0 ? "warning" : level;
}
