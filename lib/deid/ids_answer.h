/* The identifier service's JSON (internal to lib/deid): the request body
 * sendit sends and the parser of the answer, apart from the HTTP client so
 * that fuzz/fuzz_ids_json.c can drive the parser alone (jansson only). The
 * contract is README's "Pseudonyms and the identifier service". */
#ifndef SENDIT_DEID_IDS_ANSWER_H
#define SENDIT_DEID_IDS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/deid_ids.h"
#include "sendit/error.h"
#include "sendit/store_deid.h"

/* id_timestamp sent when the request gives none: any fixed instant serves,
 * since the jitter is the answer's jittered_timestamp minus what was sent. */
#define SI_IDS_REFERENCE_TIMESTAMP "2000-01-01T00:00:00Z"
/* id_source of every item. */
#define SI_IDS_ITEM_SOURCE "StudyInstanceUID"
/* The longest code taken from the service (the table's limit). */
#define SI_IDS_CODE_LEN (SI_DEID_CODE_MAX - 1)

/* The request for req's entity and the n items req->item_ids[which[i]], as
 * JSON text the caller frees with free(); NULL with err set on failure.
 * Ids that are not UTF-8 travel as if they were Latin-1 (JSON is Unicode
 * text). */
char *si_ids_json_request(const si_deid_ids_request *req, const size_t *which, size_t n,
                          si_error *err);

/* Reads the answer to that request: the entity's code and day shift, and
 * item_codes[i] for req->item_ids[which[i]] (the caller's n buffers). Every
 * failure is SI_ERR_FORMAT (or SI_ERR_NOMEM) saying what was wrong, never
 * quoting more than a short excerpt of the body. */
si_status si_ids_json_parse(const char *body, size_t len, const si_deid_ids_request *req,
                            const size_t *which, size_t n, char entity_code[SI_DEID_CODE_MAX],
                            int32_t *day_shift, char (*item_codes)[SI_DEID_CODE_MAX],
                            si_error *err);

/* Seconds since the epoch of an ISO 8601 timestamp ("YYYY-MM-DD", then
 * optionally "THH:MM:SS", a fraction and "Z" or "+HH:MM"/"-HH:MM"); 0 when
 * it parses, -1 when not. */
int si_ids_timestamp(const char *s, int64_t *seconds);

/* The answer (malloc'd, sendit/deid_ids.h's ownership) from what the table
 * holds for req: codes->item_codes[i] for req->item_ids[i]. */
si_status si_ids_answer_from_codes(const si_deid_ids_request *req, const si_deid_codes *codes,
                                   si_deid_ids_answer *out, si_error *err);

/* The table's key for req (borrowing req's strings). */
si_deid_key si_ids_key(const si_deid_ids_request *req);

#endif
