/* One batch with its errors, timeline and stages, loaded for the batch page and
 * GET /api/batches/{uid} alike. */
#ifndef SENDIT_HTTP_BATCH_VIEW_H
#define SENDIT_HTTP_BATCH_VIEW_H

#include <stdint.h>
#include <stdio.h>

#include "internal.h"

/* Errors and warnings kept for display; the rest are counted. */
enum { WEB_NOTES_MAX = 500, WEB_TIMELINE_NOTES = 10 };

typedef struct web_event {
  int64_t at;
  size_t seq; /* order of discovery, for events of the same millisecond */
  char what[32];
  char detail[1024];
} web_event;

typedef struct web_note {
  int64_t at;
  char level[16]; /* "error" or "warning" */
  char *file;
  char *message;
} web_note;

typedef struct web_batch_view {
  si_batch *batch;
  web_note *notes; /* the first WEB_NOTES_MAX errors and warnings */
  size_t nnotes;
  int64_t notable_total; /* errors and warnings in all */
  int64_t info_lines;
  web_event *events; /* the timeline, oldest first */
  size_t nevents, cap_events;
  json_t *stages; /* the stage timeline (ops_batch_stages_json), owned */
  json_t *deid;   /* the de-identification state (ops_batch_deid_json), owned */
  json_t
      *destinations; /* per destination the ledger's counts (ops_batch_destinations_json), owned */
  json_t *cleanup;   /* what the cleanup stage removed (ops_batch_cleanup_json), owned */
} web_batch_view;

/* Loads batch `uid`; on failure answers (404, 500) and returns -1. Free
 * with web_batch_view_free either way. */
int web_batch_load(web_req *r, const char *uid, web_batch_view *v);
void web_batch_view_free(web_batch_view *v);

#endif
