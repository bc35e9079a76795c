/* GET /destinations: the delivery destinations as `sendit destinations`
 * lists them (ops_destinations_json, what GET /api/destinations serves):
 * state, breaker, queue depth, counts, last success and last error. */
#include <string.h>

#include "pages.h"
#include "sendit/ops_dest.h"

static void text_cell(hbuf *b, json_t *o, const char *key) {
  const char *text = json_string_value(json_object_get(o, key));
  hb_put(b, "<td>");
  hb_html(b, text ? text : "-");
  hb_put(b, "</td>");
}

static void num_cell(hbuf *b, json_t *o, const char *key) {
  hb_printf(b, "<td class=\"num\">%lld</td>",
            (long long)json_integer_value(json_object_get(o, key)));
}

/* The state wears the colour of the batch status it resembles. */
static const char *badge_of(const char *state) {
  static const char *const badges[][2] = {{"down", "error"},
                                          {"probing", "s-QUEUE"},
                                          {"sending", "s-PROCESSING"},
                                          {"waiting", "s-QUEUE"},
                                          {"idle", "s-DONE"}};
  for (size_t i = 0; state && i < sizeof badges / sizeof badges[0]; i++)
    if (strcmp(badges[i][0], state) == 0)
      return badges[i][1];
  return "s-EMPTY";
}

void page_destinations(web_req *r) {
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
  hbuf *b = &r->out;
  page_begin(r, "Destinations", 1);
  hb_put(b, "<h1>Destinations</h1><section data-live id=\"destinations\">");
  json_t *list = json_object_get(j, "destinations");
  if (!json_array_size(list)) {
    hb_put(b, "<p class=\"muted\">No <code>[destination NAME]</code> section is configured.</p>");
  } else {
    hb_put(b, "<table><thead><tr><th>Name</th><th>Type</th><th>State</th><th>Breaker</th>"
              "<th>Queued</th><th>Running</th><th>Sent</th><th>Failed</th><th>Pending</th>"
              "<th>Last success</th><th>Last error</th></tr></thead><tbody>");
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
      const char *state = json_string_value(json_object_get(d, "state"));
      hb_put(b, "<tr class=\"destination\">");
      text_cell(b, d, "name");
      text_cell(b, d, "type");
      hb_printf(b, "<td><span class=\"badge %s\">", badge_of(state));
      hb_html(b, state ? state : "-");
      hb_put(b, "</span></td>");
      text_cell(b, d, "breaker");
      json_t *q = json_object_get(d, "queue");
      num_cell(b, q, "queued");
      num_cell(b, q, "running");
      num_cell(b, d, "sent");
      num_cell(b, d, "failed");
      num_cell(b, d, "pending");
      text_cell(b, d, "last_success");
      text_cell(b, d, "last_error");
      hb_put(b, "</tr>");
    }
    hb_put(b, "</tbody></table>");
  }
  hb_put(b, "</section>\n");
  json_decref(j);
  page_end(r);
}
