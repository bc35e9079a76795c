/* Shared pieces of the HTML pages: the layout around every page, badges,
 * the CSRF field of forms, and the pager under long tables. */
#ifndef SENDIT_HTTP_PAGES_H
#define SENDIT_HTTP_PAGES_H

#include <stdint.h>

#include "internal.h"

/* Starts r->out with the document head, the top bar and <main>. `live`
 * asks the page's script to refresh the [data-live] parts every few
 * seconds. */
void page_begin(web_req *r, const char *title, int live);
/* Closes <main> and the document; the answer is 200 text/html. */
void page_end(web_req *r);

void page_status_badge(hbuf *b, const char *status);
/* <input type=hidden name=csrf_token> for forms that POST. */
void page_csrf_field(web_req *r);
/* "Items a–b of n" with links to the neighbouring pages of this URL. */
void page_pager(web_req *r, int64_t page, int64_t size, int64_t count, const char *noun);

#endif
