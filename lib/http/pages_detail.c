/* The batch page (record, metrics, timeline, errors, images, Retry), its
 * Retry action, and the image page (record and parsed header). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_view.h"
#include "internal.h"
#include "sendit/ops_batch.h"
#include "pages.h"
#include "sendit/dicom.h"
#include "sendit/dict.h"
#include "sendit/dump.h"
#include "sendit/store_web.h"

enum { BATCH_IMAGES_PAGE = 50, HEADER_ROWS_MAX = 5000, DEPTH_CLASSES = 8 };

static void dt(hbuf *b, const char *label, const char *value) {
  hb_printf(b, "<dt>%s</dt><dd>", label);
  hb_html(b, value);
  hb_put(b, "</dd>");
}

static void dt_num(hbuf *b, const char *label, long long n) {
  hb_printf(b, "<dt>%s</dt><dd>%lld</dd>", label, n);
}

/* ---- batch ---- */

static void metrics(web_req *r, hbuf *b, const si_batch *batch) {
  char t[OPS_TIME_MAX], size[OPS_SIZE_MAX];
  hb_put(b, "<section><h2>Metrics</h2><dl class=\"grid\">");
  dt_num(b, "Images", batch->image_count);
  dt(b, "Size", ops_size(size, batch->size_bytes));
  dt_num(b, "Skipped", batch->skipped_count);
  dt_num(b, "Quarantined", batch->quarantined_count);
  dt(b, "Reopened", batch->reopened ? "yes (late files arrived)" : "no");
  dt(b, "Created", ops_time(t, batch->created_at, 0));
  dt(b, "Started", ops_time(t, batch->started_at, 0));
  dt(b, "Finished", ops_time(t, batch->finished_at, 0));
  dt(b, "Elapsed", ops_elapsed(t, batch->elapsed_ms, batch->finished_at > 0));
  json_t *qa = ops_batch_qa(web_db(r), batch);
  json_t *v;
  if ((v = json_object_get(qa, "files_seen")) && json_is_integer(v))
    dt_num(b, "Files seen", (long long)json_integer_value(v));
  if ((v = json_object_get(qa, "duplicates_ignored")) && json_is_integer(v))
    dt_num(b, "Duplicates ignored", (long long)json_integer_value(v));
  hb_put(b, "</dl>");
  json_t *dates = json_object_get(qa, "study_dates");
  if (json_is_object(dates) && json_object_size(dates) > 0) {
    json_int_t max = 1;
    const char *key;
    json_object_foreach(dates, key, v) max =
        json_integer_value(v) > max ? json_integer_value(v) : max;
    hb_put(b, "<h3>StudyDate histogram</h3><table class=\"histogram\">");
    json_object_foreach(dates, key, v) {
      json_int_t n = json_integer_value(v);
      hb_put(b, "<tr><td>");
      hb_html(b, key);
      hb_printf(b,
                "</td><td class=\"num\">%lld</td><td><svg viewBox=\"0 0 100 8\" "
                "preserveAspectRatio=\"none\" class=\"bar\"><rect width=\"%d\" height=\"8\">"
                "</rect></svg></td></tr>",
                (long long)n, (int)(n * 100 / max));
    }
    hb_put(b, "</table>");
  }
  json_decref(qa);
  hb_put(b, "</section>\n");
}

static void timeline(hbuf *b, const web_batch_view *v) {
  char t[OPS_TIME_MAX];
  hb_put(b, "<section><h2>Timeline</h2><ol class=\"timeline\">");
  for (size_t i = 0; i < v->nevents; i++) {
    char cls[sizeof v->events[i].what];
    snprintf(cls, sizeof cls, "%s", v->events[i].what);
    for (char *c = cls; *c; c++)
      *c = *c == ' ' ? '-' : *c;
    hb_printf(b, "<li class=\"ev-%s\"><time>%s</time> <strong>", cls,
              ops_time(t, v->events[i].at, 1));
    hb_html(b, v->events[i].what);
    hb_put(b, "</strong> ");
    hb_html(b, v->events[i].detail);
    hb_put(b, "</li>");
  }
  hb_put(b, "</ol></section>\n");
}

static void stage_cell(hbuf *b, json_t *s, const char *key) {
  const char *text = json_string_value(json_object_get(s, key));
  hb_put(b, "<td>");
  hb_html(b, text ? text : "-");
  hb_put(b, "</td>");
}

/* A stage's state wears the colour of the batch status it resembles. */
static const char *stage_badge(const char *state) {
  static const struct {
    const char *state, *badge;
  } badges[] = {
      {"queued", "s-QUEUE"}, {"running", "s-PROCESSING"}, {"done", "s-DONE"}, {"failed", "error"}};
  for (size_t i = 0; state && i < sizeof badges / sizeof badges[0]; i++)
    if (strcmp(badges[i].state, state) == 0)
      return badges[i].badge;
  return "s-EMPTY";
}

/* One row per stage of the batch's timeline, as `sendit batch show`. */
static void stages(hbuf *b, const web_batch_view *v) {
  hb_put(b, "<section id=\"stages\"><h2>Stages</h2>");
  if (!json_array_size(v->stages)) {
    hb_put(b, "<p class=\"muted\">None yet: the import has not ended.</p></section>\n");
    return;
  }
  hb_put(b, "<table><thead><tr><th>Stage</th><th>State</th><th>Attempts</th><th>Started</th>"
            "<th>Finished</th><th>Last error</th></tr></thead><tbody>");
  size_t i;
  json_t *s;
  json_array_foreach(v->stages, i, s) {
    const char *state = json_string_value(json_object_get(s, "state"));
    hb_put(b, "<tr class=\"stage\">");
    stage_cell(b, s, "stage");
    hb_printf(b, "<td><span class=\"badge %s\">", stage_badge(state));
    hb_html(b, state ? state : "-");
    hb_printf(b, "</span></td><td class=\"num\">%lld</td>",
              (long long)json_integer_value(json_object_get(s, "attempts")));
    stage_cell(b, s, "started");
    stage_cell(b, s, "finished");
    stage_cell(b, s, "last_error");
    hb_put(b, "</tr>");
  }
  hb_put(b, "</tbody></table></section>\n");
}

/* The de-identification state, as `sendit batch show`: counts, the output
 * folder, and each held or failed image with its reason. */
static void deid(hbuf *b, const web_batch_view *v) {
  if (!json_is_object(v->deid))
    return;
  hb_put(b, "<section id=\"deid\"><h2>De-identification</h2><dl class=\"grid\">");
  static const char *const counts[][2] = {
      {"done", "De-identified"}, {"held", "Held"}, {"failed", "Failed"}, {"pending", "Pending"}};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    dt_num(b, counts[i][1], (long long)json_integer_value(json_object_get(v->deid, counts[i][0])));
  const char *folder = json_string_value(json_object_get(v->deid, "folder"));
  hb_put(b, "<dt>Output folder</dt><dd>");
  hb_html(b, folder ? folder : "-");
  hb_put(b, "/&lt;study code&gt;/</dd></dl>");
  json_t *problems = json_object_get(v->deid, "problems");
  if (json_array_size(problems)) {
    hb_put(b, "<table><thead><tr><th>Image</th><th>State</th><th>File</th><th>Reason</th>"
              "<th>Quarantined as</th></tr></thead><tbody>");
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p) {
      long long id = (long long)json_integer_value(json_object_get(p, "image_id"));
      hb_printf(b, "<tr class=\"deid-problem\"><td><a href=\"/images/%lld\">%lld</a></td>", id, id);
      const char *state = json_string_value(json_object_get(p, "state"));
      hb_printf(b, "<td><span class=\"badge %s\">",
                state && strcmp(state, "released") == 0 ? "s-QUEUE" : "error");
      hb_html(b, state ? state : "-");
      hb_put(b, "</span></td>");
      stage_cell(b, p, "file");
      stage_cell(b, p, "reason");
      stage_cell(b, p, "quarantine_path");
      hb_put(b, "</tr>");
    }
    hb_put(b, "</tbody></table>");
  }
  hb_put(b, "</section>\n");
}

/* Per destination, the batch's images sent, failed and pending (as
 * `sendit batch show`); nothing when it went nowhere. */
static void destinations(hbuf *b, const web_batch_view *v) {
  if (!json_array_size(v->destinations))
    return;
  hb_put(b, "<section id=\"destinations\"><h2>Delivery</h2><table><thead><tr><th>Destination</th>"
            "<th>State</th><th>Sent</th><th>Failed</th><th>Pending</th></tr></thead><tbody>");
  size_t i;
  json_t *d;
  json_array_foreach(v->destinations, i, d) {
    long long sent = (long long)json_integer_value(json_object_get(d, "sent"));
    long long failed = (long long)json_integer_value(json_object_get(d, "failed"));
    long long pending = (long long)json_integer_value(json_object_get(d, "pending"));
    const char *state = failed ? "failed" : pending ? "running" : "done";
    hb_put(b, "<tr class=\"destination\">");
    stage_cell(b, d, "name");
    hb_printf(b, "<td><span class=\"badge %s\">%s</span></td>", stage_badge(state),
              failed    ? "refused some"
              : pending ? "pending"
                        : "sent");
    hb_printf(b,
              "<td class=\"num\">%lld</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>",
              sent, failed, pending);
    hb_put(b, "</tr>");
  }
  hb_put(b, "</tbody></table></section>\n");
}

/* What the cleanup stage removed, as `sendit batch show` lists it. */
static void cleanup(hbuf *b, const web_batch_view *v) {
  if (!json_array_size(v->cleanup))
    return;
  hb_put(b, "<section id=\"cleanup\"><h2>Cleanup</h2><table><thead><tr><th>What</th>"
            "<th>Files</th><th>Size</th><th>Why</th><th>Removed</th><th>From</th></tr></thead>"
            "<tbody>");
  size_t i;
  json_t *c;
  json_array_foreach(v->cleanup, i, c) {
    char size[OPS_SIZE_MAX];
    const char *removed = json_string_value(json_object_get(c, "removed"));
    hb_put(b, "<tr class=\"cleanup\">");
    stage_cell(b, c, "what");
    hb_printf(b, "<td class=\"num\">%lld</td><td class=\"num\">%s</td>",
              (long long)json_integer_value(json_object_get(c, "files")),
              ops_size(size, json_integer_value(json_object_get(c, "bytes"))));
    stage_cell(b, c, "reason");
    hb_put(b, "<td>");
    hb_html(b, removed ? removed : "interrupted: the next pass finishes it");
    hb_put(b, "</td>");
    stage_cell(b, c, "path");
    hb_put(b, "</tr>");
  }
  hb_put(b, "</tbody></table></section>\n");
}

static void errors(hbuf *b, const web_batch_view *v) {
  char t[OPS_TIME_MAX];
  hb_printf(b, "<section id=\"errors\"><h2>Errors and warnings (%lld)</h2>",
            (long long)v->notable_total);
  if (!v->nnotes) {
    hb_put(b, "<p class=\"muted\">None.</p></section>\n");
    return;
  }
  hb_put(b, "<table><thead><tr><th>Time</th><th>Level</th><th>File</th><th>Message</th></tr>"
            "</thead><tbody>");
  for (size_t i = 0; i < v->nnotes; i++) {
    const web_note *n = &v->notes[i];
    hb_printf(b, "<tr><td>%s</td><td><span class=\"badge %s\">%s</span></td><td>",
              ops_time(t, n->at, 0), strcmp(n->level, "error") == 0 ? "error" : "warning",
              n->level);
    hb_html(b, n->file[0] ? n->file : "-");
    hb_put(b, "</td><td>");
    hb_html(b, n->message);
    hb_put(b, "</td></tr>");
  }
  hb_put(b, "</tbody></table>");
  if (v->notable_total > (int64_t)v->nnotes)
    hb_printf(b,
              "<p class=\"muted\">The first %zu are shown; `sendit batch_logs` has them all.</p>",
              v->nnotes);
  hb_put(b, "</section>\n");
}

static int image_tr(void *user, const si_image *img, const char *batch_uid) {
  (void)batch_uid;
  hbuf *b = user;
  char size[OPS_SIZE_MAX];
  hb_printf(b, "<tr><td><a href=\"/images/%lld\">%lld</a></td><td class=\"uid\">",
            (long long)img->id, (long long)img->id);
  hb_html(b, img->uid);
  hb_put(b, "</td><td>");
  hb_html(b, img->modality);
  hb_put(b, "</td><td>");
  hb_html(b, img->patient_id);
  hb_put(b, "</td><td>");
  hb_html(b, img->study_date);
  hb_printf(b, "</td><td class=\"num\">%s</td><td>", ops_size(size, img->size_bytes));
  hb_html(b, img->original_name);
  hb_put(b, "</td></tr>\n");
  return 0;
}

static int images(web_req *r, const si_batch *batch, int64_t page) {
  si_web_image_filter f = {NULL, batch->uid, NULL, NULL, NULL};
  int64_t count = 0;
  si_error err;
  hbuf *b = &r->out;
  hb_put(b, "<section id=\"images\"><h2>Images</h2><table><thead><tr><th>Id</th>"
            "<th>SOPInstanceUID</th><th>Modality</th><th>PatientID</th><th>StudyDate</th>"
            "<th class=\"num\">Size</th><th>File</th></tr></thead><tbody>\n");
  if (si_web_images(r->db, &f, BATCH_IMAGES_PAGE, (page - 1) * BATCH_IMAGES_PAGE, &count, image_tr,
                    b, &err) != SI_OK) {
    web_fail_db(r, &err);
    return -1;
  }
  if (page > 1 && (page - 1) * BATCH_IMAGES_PAGE >= count) {
    web_fail(r, 404, "no page %lld of images", (long long)page);
    return -1;
  }
  hb_put(b, "</tbody></table>");
  page_pager(r, page, BATCH_IMAGES_PAGE, count, "Images");
  hb_put(b, "</section>\n");
  return 0;
}

void page_batch(web_req *r) {
  static const char *const known[] = {"page", "retried", NULL};
  int64_t page;
  if (web_only_params(r, known) || web_int_param(r, "page", 1, 1, 1000000000, &page))
    return;
  web_batch_view v;
  if (web_batch_load(r, r->arg[0], &v) != 0) {
    web_batch_view_free(&v);
    return;
  }
  const si_batch *batch = v.batch;
  int busy =
      strcmp(batch->status, SI_BATCH_QUEUE) == 0 || strcmp(batch->status, SI_BATCH_PROCESSING) == 0;
  hbuf *b = &r->out;
  page_begin(r, batch->uid, busy);
  hb_put(b, "<div id=\"live-batch\" data-live><h1>Batch <span class=\"uid\">");
  hb_html(b, batch->uid);
  hb_put(b, "</span> ");
  page_status_badge(b, batch->status);
  if (batch->has_error)
    hb_put(b, " <a class=\"badge error\" href=\"#errors\">errors</a>");
  hb_put(b, "</h1>\n");
  if (web_query(r, "retried"))
    hb_put(b, "<p class=\"notice\">Queued again: the workers will import it shortly.</p>");
  if (!web_not_retryable(batch)) {
    hb_put(b, "<form class=\"retry\" method=\"post\" action=\"");
    hbuf action = {0};
    hb_put(&action, "/batches/");
    hb_url(&action, batch->uid);
    hb_put(&action, "/retry");
    hb_html(b, action.data ? action.data : "/");
    hb_free(&action);
    hb_put(b, "\">");
    page_csrf_field(r);
    hb_put(b, "<button type=\"submit\">Retry</button></form>\n");
  }
  metrics(r, b, batch);
  stages(b, &v);
  deid(b, &v);
  destinations(b, &v);
  cleanup(b, &v);
  timeline(b, &v);
  errors(b, &v);
  int failed = images(r, batch, page);
  web_batch_view_free(&v);
  if (failed)
    return;
  hb_put(b, "</div>\n");
  page_end(r);
}

void page_batch_retry(web_req *r) {
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
  hbuf to = {0};
  hb_put(&to, "/batches/");
  hb_url(&to, r->arg[0]);
  hb_put(&to, "?retried=1");
  web_redirect(r, to.data ? to.data : "/");
  hb_free(&to);
}

/* ---- image ---- */

typedef struct header_rows {
  hbuf *b;
  int rows;
  si_dump_options opts;
} header_rows;

static void element_rows(header_rows *h, const si_dataset *ds, unsigned depth) {
  size_t n = si_dataset_count(ds);
  int cls = depth < DEPTH_CLASSES ? (int)depth : DEPTH_CLASSES;
  for (size_t i = 0; i < n && h->rows < HEADER_ROWS_MAX; i++, h->rows++) {
    const si_element *el = si_dataset_at(ds, i);
    const si_dict_entry *entry = si_dict_lookup(el->tag);
    const char *kw = si_dict_keyword(el->tag);
    char *value = NULL;
    si_error err;
    if (si_dump_value(ds, el, &h->opts, &value, &err) != SI_OK)
      value = NULL;
    hb_printf(h->b, "<tr class=\"d%d\"><td class=\"tag\">(%04X,%04X)</td><td", cls,
              SI_TAG_GROUP(el->tag), SI_TAG_ELEMENT(el->tag));
    if (entry) {
      hb_put(h->b, " title=\"");
      hb_html(h->b, entry->name);
      hb_put(h->b, "\"");
    }
    hb_put(h->b, ">");
    hb_html(h->b, kw[0] ? kw : (SI_TAG_GROUP(el->tag) & 1) ? "(private)" : "(unknown)");
    hb_printf(h->b, "</td><td>%s</td><td class=\"value\">",
              si_vr_name(el->vr == SI_VR_NONE ? SI_VR_UN : el->vr));
    /* dcmdump's [brackets] around text only get in the way in a table. */
    size_t len = value ? strlen(value) : 0;
    if (len >= 2 && value[0] == '[' && value[len - 1] == ']') {
      value[len - 1] = '\0';
      hb_html(h->b, value + 1);
    } else {
      hb_html(h->b, value ? value : "(unreadable)");
    }
    free(value);
    hb_put(h->b, "</td></tr>\n");
    for (size_t k = 0; k < el->item_count && h->rows < HEADER_ROWS_MAX; k++, h->rows++) {
      int item_cls = depth + 1 < DEPTH_CLASSES ? (int)depth + 1 : DEPTH_CLASSES;
      hb_printf(h->b, "<tr class=\"item d%d\"><td colspan=\"4\">Item %zu of %zu</td></tr>\n",
                item_cls, k + 1, el->item_count);
      element_rows(h, el->items[k], depth + 1);
    }
  }
}

static void header_table(web_req *r, const si_image *img) {
  hbuf *b = &r->out;
  si_read_options ro;
  si_read_options_init(&ro);
  ro.stop_before_pixels = 1;
  si_file *file = NULL;
  si_error err;
  hb_put(b, "<section><h2>Header</h2>");
  if (si_read_file(img->storage_path, &ro, &file, &err) != SI_OK) {
    char buf[1024];
    hb_put(b, "<p class=\"error-text\">Cannot read the file: ");
    hb_html(b, si_error_format(&err, buf, sizeof buf));
    hb_put(b, "</p></section>\n");
    return;
  }
  const si_file_info *info = si_file_get_info(file);
  const char *ts = si_transfer_syntax_name(info->transfer_syntax);
  hb_put(b, "<p class=\"muted\">Transfer syntax: ");
  hb_html(b, ts ? ts : info->transfer_syntax);
  hb_put(b, "</p><table class=\"header\"><thead><tr><th>Tag</th><th>Keyword</th><th>VR</th>"
            "<th>Value</th></tr></thead><tbody>\n");
  header_rows h = {b, 0, {0}};
  si_dump_options_init(&h.opts);
  h.opts.max_value_chars = 200;
  element_rows(&h, si_file_meta(file), 0);
  element_rows(&h, si_file_dataset(file), 0);
  hb_put(b, "</tbody></table>");
  if (h.rows >= HEADER_ROWS_MAX)
    hb_printf(b, "<p class=\"muted\">Only the first %d elements are shown.</p>", HEADER_ROWS_MAX);
  hb_put(b, "</section>\n");
  si_file_free(file);
}

void page_image(web_req *r) {
  static const char *const known[] = {NULL};
  const char *s = r->arg[0];
  size_t n = strlen(s);
  if (web_only_params(r, known))
    return;
  if (n == 0 || n > 18 || strspn(s, "0123456789") != n) {
    web_fail(r, 400, "an image id is a whole number, not '%.40s'", s);
    return;
  }
  si_db *db = web_db(r);
  si_image *img = malloc(sizeof *img);
  char batch_uid[SI_NAME_MAX];
  int found = 0;
  si_error err;
  if (!db || !img) {
    if (db)
      web_fail(r, 500, "out of memory");
    free(img);
    return;
  }
  if (si_web_image_by_id(db, strtoll(s, NULL, 10), img, batch_uid, &found, &err) != SI_OK) {
    web_fail_db(r, &err);
  } else if (!found) {
    web_fail(r, 404, "no image %.40s", s);
  } else {
    hbuf *b = &r->out;
    char size[OPS_SIZE_MAX], t[OPS_TIME_MAX], title[40];
    snprintf(title, sizeof title, "Image %s", s);
    page_begin(r, title, 0);
    hb_printf(b, "<h1>Image %s</h1><section><dl class=\"grid\">", s);
    dt(b, "SOPInstanceUID", img->uid);
    hb_put(b, "<dt>Batch</dt><dd><a href=\"/batches/");
    hbuf link = {0};
    hb_url(&link, batch_uid);
    hb_html(b, link.data ? link.data : "");
    hb_free(&link);
    hb_put(b, "\">");
    hb_html(b, batch_uid);
    hb_put(b, "</a></dd>");
    dt(b, "Status", img->status);
    dt(b, "PatientID", img->patient_id);
    dt(b, "AccessionNumber", img->accession_number);
    dt(b, "StudyInstanceUID", img->study_uid);
    dt(b, "SeriesInstanceUID", img->series_uid);
    const char *sop = si_uid_name(img->sop_class_uid);
    dt(b, "SOP class", sop ? sop : img->sop_class_uid);
    dt(b, "Modality", img->modality);
    dt(b, "StudyDate", img->study_date);
    dt(b, "File size", ops_size(size, img->size_bytes));
    dt(b, "Storage path", img->storage_path);
    dt(b, "Original name", img->original_name);
    dt(b, "Imported", ops_time(t, img->created_at, 0));
    hb_put(b, "</dl></section>\n");
    header_table(r, img);
    page_end(r);
  }
  free(img);
}
