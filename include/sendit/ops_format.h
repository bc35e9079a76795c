/* The operator's formats, one copy for the CLI (src/) and the web
 * (lib/http): ISO-8601 UTC times, binary sizes, elapsed times, and the JSON
 * forms of times and text.
 *
 * Rules: tables and pages for people (times to the second, sizes like
 * "1.5 MiB"), JSON for scripts (times to the millisecond, exact bytes).
 *
 * Ownership: the text formats write into the caller's buffer (at least the
 * matching OPS_*_MAX bytes) and return it; a value never needs more, so
 * nothing is cut. The JSON builders return a new reference the caller owns
 * (json_decref, or hand it to json_pack's "o"). */
#ifndef SENDIT_OPS_FORMAT_H
#define SENDIT_OPS_FORMAT_H

#include <jansson.h>
#include <stdint.h>

enum { OPS_TIME_MAX = 32, OPS_SIZE_MAX = 24, OPS_ELAPSED_MAX = 32 };

/* "2026-11-24T18:00:00Z", with ".123" before the Z when `millis`, or "-"
 * for a time never set (stored as 0). */
const char *ops_time(char buf[OPS_TIME_MAX], int64_t ms, int millis);
/* Binary units, one decimal from KiB up: "512 B", "1.5 MiB". */
const char *ops_size(char buf[OPS_SIZE_MAX], int64_t bytes);
/* "0.412 s", "12m05s", "3h07m"; "-" when not `known` or negative. */
const char *ops_elapsed(char buf[OPS_ELAPSED_MAX], int64_t ms, int known);

/* The time to the millisecond as a JSON string, or null for 0. */
json_t *ops_json_time(int64_t ms);
/* s as a JSON string. jansson refuses bad UTF-8, and file names and header
 * text may hold some: those bytes become U+FFFD, so a hostile name shows
 * as text rather than dropping the field. null only for NULL (or out of
 * memory). */
json_t *ops_json_text(const char *s);

#endif
