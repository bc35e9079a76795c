/* The page index of GET /api/images without filters (page_index.c). */
#ifndef SENDIT_HTTP_PAGE_INDEX_H
#define SENDIT_HTTP_PAGE_INDEX_H

#include <stdint.h>

#include "sendit/db.h"
#include "sendit/error.h"
#include "sendit/store_web.h"

typedef struct web_page_index web_page_index;

web_page_index *web_page_index_new(void);
void web_page_index_free(web_page_index *x);

/* The unfiltered listing's total in *count and `limit` images after
 * `offset` to fn, as si_web_images gives them, from a known key when the
 * index is fresh. Thread-safe; db is the caller's. */
si_status web_page_index_images(web_page_index *x, si_db *db, int64_t limit, int64_t offset,
                                int64_t *count, si_web_image_fn fn, void *user, si_error *err);

#endif
