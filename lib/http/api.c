/* The REST API's listings and records. Lists are paginated the way the
 * original's (Django REST framework) were: {"count", "next", "previous",
 * "results"}, with ?page= (from 1) and ?page_size= (1 to 1000). A page past
 * the last one is 404 "Invalid page.", as there; a malformed parameter or an
 * unknown one is 400. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_view.h"
#include "internal.h"
#include "page_index.h"
#include "sendit/cleanup.h"
#include "sendit/dicom.h"
#include "sendit/json.h"
#include "sendit/ops_dest.h"
#include "sendit/store_web.h"

/* Pages beyond this would only ever be empty. */
#define PAGE_MAX 1000000000

typedef struct paging {
  int64_t page, size, count;
} paging;

static int read_paging(web_req *r, paging *p) {
  return web_int_param(r, "page", 1, 1, PAGE_MAX, &p->page) ||
                 web_int_param(r, "page_size", WEB_PAGE_SIZE_DEFAULT, 1, WEB_PAGE_SIZE_MAX,
                               &p->size)
             ? -1
             : 0;
}

/* Page 1 always exists, even when empty; any other must hold something. */
static int page_exists(web_req *r, const paging *p) {
  if (p->page == 1 || (p->page - 1) * p->size < p->count)
    return 1;
  web_fail(r, 404, "Invalid page.");
  return 0;
}

static json_t *link_json(web_req *r, const char *page) {
  hbuf b = {0};
  web_origin(r, &b);
  web_self_url(r, &b, "page", page);
  json_t *j = b.oom ? json_null() : ops_json_text(b.data);
  hb_free(&b);
  return j;
}

static void answer_page(web_req *r, const paging *p, json_t *results) {
  char next[24], prev[24];
  snprintf(next, sizeof next, "%lld", (long long)(p->page + 1));
  snprintf(prev, sizeof prev, "%lld", (long long)(p->page - 1));
  /* As DRF does, the link to page 1 has no page parameter. */
  json_t *previous = p->page <= 1 ? json_null() : link_json(r, p->page == 2 ? NULL : prev);
  web_json(r, 200,
           json_pack("{s:I, s:o, s:o, s:o}", "count", (json_int_t)p->count, "next",
                     p->page * p->size < p->count ? link_json(r, next) : json_null(), "previous",
                     previous, "results", results));
}

/* A filter value: NULL when absent or empty (as django-filter treats it). */
static const char *filter(web_req *r, const char *key) {
  const char *v = web_query(r, key);
  return v && v[0] ? v : NULL;
}

/* ---- images ---- */

typedef struct image_rows {
  web_req *r;
  json_t *array;
} image_rows;

static int image_row(void *user, const si_image *img, const char *batch_uid) {
  image_rows *rows = user;
  json_array_append_new(rows->array, web_image_json(rows->r, img, batch_uid));
  return 0;
}

void api_images(web_req *r) {
  static const char *const known[] = {"page",      "page_size",        "status",   "batch",
                                      "PatientID", "StudyInstanceUID", "Modality", NULL};
  paging p;
  if (web_only_params(r, known) || read_paging(r, &p))
    return;
  si_web_image_filter f = {NULL, filter(r, "batch"), filter(r, "PatientID"),
                           filter(r, "StudyInstanceUID"), filter(r, "Modality")};
  const char *status = filter(r, "status");
  if (status && !(f.status = ops_image_status_lookup(status))) {
    web_fail(r, 400,
             "unknown image status '%.40s' (NEW, PROCESSING, DONEPROCESSING, SENT, DONE, ERROR)",
             status);
    return;
  }
  si_db *db = web_db(r);
  si_error err;
  if (!db)
    return;
  int filtered = f.status || f.batch_uid || f.patient_id || f.study_uid || f.modality;
  int64_t max_id = 0, count = 0, offset = (p.page - 1) * p.size;
  /* The count first: a page past the last is answered before any row is read. */
  if ((filtered ? si_web_images(db, &f, 0, 0, &p.count, NULL, NULL, &err)
                : si_web_image_stats(db, &p.count, &max_id, &err)) != SI_OK) {
    web_fail_db(r, &err);
    return;
  }
  if (!page_exists(r, &p))
    return;
  image_rows rows = {r, json_array()};
  if ((filtered ? si_web_images(db, &f, p.size, offset, NULL, image_row, &rows, &err)
                : web_page_index_images(web_pages_of(r), db, p.size, offset, &count, image_row,
                                        &rows, &err)) != SI_OK) {
    json_decref(rows.array);
    web_fail_db(r, &err);
    return;
  }
  answer_page(r, &p, rows.array);
}

/* A path id: digits only, so "12abc" and "-1" are 400 rather than found. */
static int path_id(web_req *r, int64_t *id) {
  const char *s = r->arg[0];
  size_t n = strlen(s);
  if (n == 0 || n > 18 || strspn(s, "0123456789") != n) {
    web_fail(r, 400, "an image id is a whole number, not '%.40s'", s);
    return -1;
  }
  *id = strtoll(s, NULL, 10);
  return 0;
}

/* The file's header as the DICOM JSON Model, or null and why not. */
static void add_header(json_t *j, const si_image *img) {
  si_read_options ro;
  si_read_options_init(&ro);
  ro.stop_before_pixels = 1;
  si_file *file = NULL;
  si_error err;
  json_t *header = NULL;
  si_json_options jo;
  si_json_options_init(&jo);
  jo.include_meta = 1;
  jo.omit_encapsulated = 1;
  if (si_read_file(img->storage_path, &ro, &file, &err) == SI_OK &&
      si_file_to_json(file, &jo, &header, &err) == SI_OK) {
    json_object_set_new(j, "header", header);
  } else {
    char buf[1024];
    json_object_set_new(j, "header", json_null());
    json_object_set_new(j, "header_error", ops_json_text(si_error_format(&err, buf, sizeof buf)));
  }
  si_file_free(file);
}

void api_image(web_req *r) {
  static const char *const known[] = {NULL};
  int64_t id;
  if (web_only_params(r, known) || path_id(r, &id))
    return;
  si_db *db = web_db(r);
  if (!db)
    return;
  si_image *img = malloc(sizeof *img);
  char batch_uid[SI_NAME_MAX];
  int found = 0;
  si_error err;
  if (!img) {
    web_fail(r, 500, "out of memory");
    return;
  }
  if (si_web_image_by_id(db, id, img, batch_uid, &found, &err) != SI_OK)
    web_fail_db(r, &err);
  else if (!found)
    web_fail(r, 404, "no image %lld", (long long)id);
  else {
    json_t *j = web_image_json(r, img, batch_uid);
    if (j)
      add_header(j, img);
    web_json(r, 200, j);
  }
  free(img);
}

/* ---- batches ---- */

typedef struct batch_rows {
  web_req *r;
  json_t *array;
} batch_rows;

static int batch_row(void *user, const si_batch *b) {
  batch_rows *rows = user;
  json_array_append_new(rows->array, web_batch_json(rows->r, b));
  return 0;
}

/* Shared with the dashboard's search form: status, uid, PatientID,
 * date_from and date_to (YYYY-MM-DD, UTC, both days included). */
int web_batch_filter(web_req *r, si_web_batch_filter *f) {
  memset(f, 0, sizeof *f);
  const char *status = filter(r, "status");
  if (status && !(f->status = ops_status_lookup(status))) {
    web_fail(r, 400,
             "unknown batch status '%.40s' (QUEUE, PROCESSING, DONEPROCESSING, DONE, EMPTY, "
             "ERROR)",
             status);
    return -1;
  }
  f->uid_contains = filter(r, "uid");
  f->patient_id = filter(r, "PatientID");
  const char *from = filter(r, "date_from"), *to = filter(r, "date_to");
  if (from && (f->created_from_ms = web_parse_date(from)) < 0) {
    web_fail(r, 400, "date_from must be a date like 2024-01-31, not '%.40s'", from);
    return -1;
  }
  if (to && (f->created_before_ms = web_parse_date(to)) < 0) {
    web_fail(r, 400, "date_to must be a date like 2024-01-31, not '%.40s'", to);
    return -1;
  }
  if (to)
    f->created_before_ms += 24 * 3600 * 1000; /* the whole day */
  if (from && to && f->created_from_ms >= f->created_before_ms) {
    web_fail(r, 400, "date_from is after date_to");
    return -1;
  }
  return 0;
}

void api_batches(web_req *r) {
  static const char *const known[] = {"page",      "page_size", "status",  "uid",
                                      "PatientID", "date_from", "date_to", NULL};
  paging p;
  si_web_batch_filter f;
  if (web_only_params(r, known) || read_paging(r, &p) || web_batch_filter(r, &f))
    return;
  si_db *db = web_db(r);
  si_error err;
  if (!db)
    return;
  if (si_web_batches(db, &f, 0, 0, &p.count, NULL, NULL, &err) != SI_OK) {
    web_fail_db(r, &err);
    return;
  }
  if (!page_exists(r, &p))
    return;
  batch_rows rows = {r, json_array()};
  if (si_web_batches(db, &f, p.size, (p.page - 1) * p.size, NULL, batch_row, &rows, &err) !=
      SI_OK) {
    json_decref(rows.array);
    web_fail_db(r, &err);
    return;
  }
  answer_page(r, &p, rows.array);
}

void api_batch(web_req *r) {
  static const char *const known[] = {NULL};
  if (web_only_params(r, known))
    return;
  web_batch_view v;
  if (web_batch_load(r, r->arg[0], &v) == 0) {
    json_t *j = web_batch_json(r, v.batch);
    json_t *errors = json_array(), *timeline = json_array();
    for (size_t i = 0; i < v.nnotes; i++)
      json_array_append_new(
          errors, json_pack("{s:o, s:s, s:o, s:o}", "time", ops_json_time(v.notes[i].at), "level",
                            v.notes[i].level, "file", ops_json_text(v.notes[i].file), "message",
                            ops_json_text(v.notes[i].message)));
    for (size_t i = 0; i < v.nevents; i++)
      json_array_append_new(
          timeline, json_pack("{s:o, s:s, s:o}", "time", ops_json_time(v.events[i].at), "event",
                              v.events[i].what, "detail", ops_json_text(v.events[i].detail)));
    json_object_set(j, "stages", v.stages); /* as `sendit batch show --json` */
    json_object_set(j, "deid", v.deid);
    json_object_set(j, "cleanup", v.cleanup);           /* as the CLI */
    json_object_set(j, "destinations", v.destinations); /* as the CLI */
    json_object_set_new(j, "errors_total", json_integer(v.notable_total));
    json_object_set_new(j, "errors", errors);
    json_object_set_new(j, "timeline", timeline);
    web_json(r, 200, j);
  }
  web_batch_view_free(&v);
}

/* GET /api/destinations: what `sendit destinations --json` prints. */
void api_destinations(web_req *r) {
  static const char *const known[] = {NULL};
  if (web_only_params(r, known))
    return;
  si_db *db = web_db(r);
  if (!db)
    return;
  si_error err;
  json_t *j = ops_destinations_json(db, web_cfg(r), &err);
  if (!j) {
    web_fail_db(r, &err);
    return;
  }
  web_json(r, 200, j);
}

void api_batch_retry(web_req *r) {
  si_db *db = web_db(r);
  if (!db)
    return;
  char why[512];
  si_error err;
  unsigned code = web_retry_batch(db, r->arg[0], why, sizeof why, &err);
  if (code == 500) {
    web_fail_db(r, &err);
    return;
  }
  if (code != 202) {
    web_fail(r, code, "%s", why);
    return;
  }
  web_wake(r);
  si_batch *b = malloc(sizeof *b);
  int found = 0;
  json_t *batch = b && si_store_batch_get(db, r->arg[0], b, &found, &err) == SI_OK && found
                      ? web_batch_json(r, b)
                      : json_null();
  free(b);
  web_json(r, 202, json_pack("{s:o, s:o}", "detail", ops_json_text(why), "batch", batch));
}

void api_openapi(web_req *r) {
  const web_asset *a = web_asset_find("openapi.json");
  if (!a) {
    web_fail(r, 404, "not found");
    return;
  }
  r->type = a->type;
  r->static_body = a->data;
  r->static_len = a->len;
}
