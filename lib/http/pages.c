/* The page layout, error pages, static assets and the dashboard. Pages are
 * rendered on the server and work without JavaScript; /static/app.js only
 * refreshes the parts marked data-live in place, so the reader keeps the
 * scroll position, the page and the filters. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "pages.h"
#include "sendit/store_web.h"

enum { DASHBOARD_PAGE_SIZE = 25 };

void page_begin(web_req *r, const char *title, int live) {
  hbuf *b = &r->out;
  r->out.len = 0;
  hb_put(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
  hb_html(b, title);
  hb_put(b, " · sendit</title><link rel=\"icon\" href=\"data:,\">"
            "<link rel=\"stylesheet\" href=\"/static/app.css\">"
            "<script src=\"/static/app.js\" defer></script></head>\n");
  hb_printf(b,
            "<body%s>\n<header class=\"top\"><a class=\"brand\" href=\"/\">sendit</a><nav>"
            "<a href=\"/\">Dashboard</a><a href=\"/destinations\">Destinations</a>"
            "<a href=\"/settings\">Settings</a></nav>",
            live ? " data-live-every=\"5\"" : "");
  if (r->via == WEB_VIA_SESSION && !web_auth_is_open(web_auth_of(r))) {
    hb_put(b, "<form class=\"logout\" method=\"post\" action=\"/logout\">");
    page_csrf_field(r);
    hb_put(b, "<button type=\"submit\">Log out</button></form>");
  }
  hb_put(b, "</header>\n<main>\n");
}

void page_end(web_req *r) {
  hb_put(&r->out, "</main>\n<footer><span id=\"refreshed\"></span></footer>\n</body></html>\n");
  r->status = 200;
  r->type = "text/html; charset=utf-8";
}

void page_status_badge(hbuf *b, const char *status) {
  hb_put(b, "<span class=\"badge s-");
  hb_html(b, status);
  hb_put(b, "\">");
  hb_html(b, status);
  hb_put(b, "</span>");
}

void page_csrf_field(web_req *r) {
  hb_put(&r->out, "<input type=\"hidden\" name=\"csrf_token\" value=\"");
  hb_html(&r->out, r->csrf);
  hb_put(&r->out, "\">");
}

static void page_link(web_req *r, int64_t page, const char *label, const char *rel) {
  char n[24];
  snprintf(n, sizeof n, "%lld", (long long)page);
  hb_printf(&r->out, "<a rel=\"%s\" href=\"", rel);
  hbuf url = {0};
  web_self_url(r, &url, "page", page == 1 ? NULL : n);
  hb_html(&r->out, url.data ? url.data : "");
  hb_free(&url);
  hb_printf(&r->out, "\">%s</a>", label);
}

void page_pager(web_req *r, int64_t page, int64_t size, int64_t count, const char *noun) {
  hbuf *b = &r->out;
  int64_t first = (page - 1) * size + 1, last = page * size < count ? page * size : count;
  hb_put(b, "<nav class=\"pager\">");
  if (count == 0)
    hb_printf(b, "<span>No %s.</span>", noun);
  else
    hb_printf(b, "<span>%s %lld–%lld of %lld</span>", noun, (long long)first, (long long)last,
              (long long)count);
  if (page > 1)
    page_link(r, page - 1, "← Previous", "prev");
  if (page * size < count)
    page_link(r, page + 1, "Next →", "next");
  hb_put(b, "</nav>\n");
}

void page_error(web_req *r, unsigned status, const char *message) {
  char title[32];
  snprintf(title, sizeof title, "Error %u", status);
  page_begin(r, title, 0);
  hb_printf(&r->out, "<h1>%s</h1>\n<p class=\"error-text\">", title);
  hb_html(&r->out, message);
  hb_put(&r->out, "</p>\n<p><a href=\"/\">Back to the dashboard</a></p>\n");
  page_end(r);
  r->status = status;
}

void page_static(web_req *r) {
  const web_asset *a = web_asset_find(r->arg[0]);
  if (!a || strcmp(a->name, "openapi.json") == 0) {
    web_fail(r, 404, "not found");
    return;
  }
  r->etag = a->etag;
  const char *match = web_header(r, "If-None-Match");
  if (match && strcmp(match, a->etag) == 0) {
    r->status = 304;
    r->static_body = "";
    r->static_len = 0;
    return;
  }
  r->type = a->type;
  r->static_body = a->data;
  r->static_len = a->len;
}

/* ---- dashboard ---- */

static void watcher_card(hbuf *b, const web_facts *f) {
  hb_printf(b,
            "<div class=\"card\"><h2>Watcher</h2><p class=\"big\"><span class=\"dot %s\">"
            "</span>%s</p><p class=\"muted\">",
            f->active ? "on" : "off", f->active ? "active" : "inactive");
  if (f->sum.pid)
    hb_printf(b, "pid %ld", f->sum.pid);
  else
    hb_put(b, "not running");
  if (f->beat_at > 0)
    hb_printf(b, " · heartbeat %llds ago", (long long)((f->now - f->beat_at) / 1000));
  hb_put(b, "</p></div>");
}

/* Images per minute as SVG bars: attributes, not style, so the page's
 * Content-Security-Policy (no inline styles) lets them through. */
static void throughput_card(hbuf *b, const web_facts *f) {
  int64_t max = 1, total = 0;
  for (int i = 0; i < WEB_THROUGHPUT_MINUTES; i++) {
    max = f->per_minute[i] > max ? f->per_minute[i] : max;
    total += f->per_minute[i];
  }
  hb_printf(b,
            "<div class=\"card\"><h2>Throughput</h2><svg class=\"spark\" viewBox=\"0 0 %d 40\" "
            "preserveAspectRatio=\"none\" role=\"img\" aria-label=\"images per minute\">",
            WEB_THROUGHPUT_MINUTES * 10);
  for (int i = 0; i < WEB_THROUGHPUT_MINUTES; i++) {
    int h = (int)(f->per_minute[i] * 38 / max);
    if (f->per_minute[i] > 0 && h < 2)
      h = 2;
    hb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"8\" height=\"%d\"><title>%lld</title></rect>",
              i * 10 + 1, 40 - h, h, (long long)f->per_minute[i]);
  }
  hb_printf(b,
            "</svg><p class=\"muted\">%lld images in %d min · %lld in the last full minute</p>"
            "</div>",
            (long long)total, WEB_THROUGHPUT_MINUTES,
            (long long)f->per_minute[WEB_THROUGHPUT_MINUTES - 2]);
}

static void cards(web_req *r, const web_facts *f) {
  hbuf *b = &r->out;
  char size[OPS_SIZE_MAX];
  hb_put(b, "<section class=\"cards\" id=\"live-cards\" data-live>");
  watcher_card(b, f);
  hb_printf(b,
            "<div class=\"card\"><h2>Queue</h2><p class=\"big\">%lld</p>"
            "<p class=\"muted\">queued · %lld running</p>",
            (long long)f->sum.queued, (long long)f->sum.running);
  /* Per stage only when there is more than the import to tell apart. */
  for (int i = 0; f->sum.nstages > 1 && i < f->sum.nstages; i++) {
    hb_put(b, "<p class=\"muted stage-queue\">");
    hb_html(b, f->sum.stages[i].stage);
    hb_printf(b, ": %lld queued · %lld running</p>", (long long)f->sum.stages[i].queued,
              (long long)f->sum.stages[i].running);
  }
  hb_put(b, "</div>");
  hb_printf(b,
            "<div class=\"card\"><h2>Images</h2><p class=\"big\">%lld</p>"
            "<p class=\"muted\">%s stored</p></div>",
            (long long)f->sum.images, ops_size(size, f->sum.bytes));
  throughput_card(b, f);
  hb_put(b, "</section>\n<section class=\"counts\" id=\"live-counts\" data-live>");
  for (int i = 0; i < OPS_STATUS_COUNT; i++) {
    hb_printf(b, "<a class=\"count\" href=\"/?status=%s\">", ops_status_name(i));
    page_status_badge(b, ops_status_name(i));
    hb_printf(b, "<strong>%lld</strong></a>", (long long)f->sum.by_status[i]);
  }
  hb_put(b, "</section>\n");
}

static void text_input(hbuf *b, const char *name, const char *label, const char *type,
                       const char *value) {
  hb_printf(b, "<label>%s<input type=\"%s\" name=\"%s\" value=\"", label, type, name);
  hb_html(b, value ? value : "");
  hb_put(b, "\"></label>");
}

static void filter_form(web_req *r) {
  hbuf *b = &r->out;
  const char *status = web_query(r, "status");
  hb_put(b, "<form class=\"filters\" method=\"get\" action=\"/\"><label>Status<select "
            "name=\"status\"><option value=\"\">any</option>");
  for (int i = 0; i < OPS_STATUS_COUNT; i++)
    hb_printf(b, "<option%s>%s</option>",
              status && strcasecmp(status, ops_status_name(i)) == 0 ? " selected" : "",
              ops_status_name(i));
  hb_put(b, "</select></label>");
  text_input(b, "uid", "Batch (accession)", "search", web_query(r, "uid"));
  text_input(b, "PatientID", "PatientID", "search", web_query(r, "PatientID"));
  text_input(b, "date_from", "From", "date", web_query(r, "date_from"));
  text_input(b, "date_to", "To", "date", web_query(r, "date_to"));
  hb_put(b, "<button type=\"submit\">Search</button><a class=\"clear\" href=\"/\">Clear</a>"
            "</form>\n");
}

typedef struct batch_table {
  web_req *r;
  int rows;
} batch_table;

static int batch_tr(void *user, const si_batch *b) {
  batch_table *t = user;
  hbuf *o = &t->r->out;
  hbuf link = {0};
  hb_put(&link, "/batches/");
  hb_url(&link, b->uid);
  char size[OPS_SIZE_MAX], started[OPS_TIME_MAX], el[OPS_TIME_MAX];
  hb_put(o, "<tr><td><a class=\"uid\" href=\"");
  hb_html(o, link.data ? link.data : "/");
  hb_put(o, "\">");
  hb_html(o, b->uid);
  hb_put(o, "</a></td><td>");
  page_status_badge(o, b->status);
  hb_printf(o,
            "</td><td class=\"num\">%lld</td><td class=\"num\">%s</td><td class=\"num\">%s"
            "</td><td>%s</td><td>",
            (long long)b->image_count, ops_size(size, b->size_bytes),
            ops_elapsed(el, b->elapsed_ms, b->finished_at > 0),
            ops_time(started, b->started_at, 0));
  if (b->has_error) {
    hb_put(o, "<a class=\"badge error\" href=\"");
    hb_html(o, link.data ? link.data : "/");
    hb_put(o, "#errors\">errors</a>");
  }
  hb_put(o, "</td></tr>\n");
  hb_free(&link);
  t->rows++;
  return 0;
}

void page_dashboard(web_req *r) {
  static const char *const known[] = {"page",      "status",  "uid", "PatientID",
                                      "date_from", "date_to", NULL};
  int64_t page;
  si_web_batch_filter f;
  web_facts facts;
  if (web_only_params(r, known) || web_int_param(r, "page", 1, 1, 1000000000, &page) ||
      web_batch_filter(r, &f) || web_gather(r, &facts) != 0)
    return;
  int64_t count = 0;
  si_error err;
  page_begin(r, "Dashboard", 1);
  cards(r, &facts);
  hb_put(&r->out, "<section class=\"batches\"><h1>Batches</h1>\n");
  filter_form(r);
  hb_put(&r->out, "<div id=\"live-batches\" data-live><table><thead><tr><th>Batch</th>"
                  "<th>Status</th><th class=\"num\">Images</th><th class=\"num\">Size</th>"
                  "<th class=\"num\">Elapsed</th><th>Started</th><th></th></tr></thead><tbody>\n");
  batch_table t = {r, 0};
  if (si_web_batches(r->db, &f, DASHBOARD_PAGE_SIZE, (page - 1) * DASHBOARD_PAGE_SIZE, &count,
                     batch_tr, &t, &err) != SI_OK) {
    web_fail_db(r, &err);
    return;
  }
  if (page > 1 && (page - 1) * DASHBOARD_PAGE_SIZE >= count) {
    web_fail(r, 404, "no page %lld of batches", (long long)page);
    return;
  }
  hb_put(&r->out, "</tbody></table>\n");
  page_pager(r, page, DASHBOARD_PAGE_SIZE, count, "Batches");
  hb_put(&r->out, "</div></section>\n");
  page_end(r);
}
