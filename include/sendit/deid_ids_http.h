/* The "http" pseudonym provider (sendit/deid_ids.h): an identifier service
 * speaking the original sendit's contract (README, "Pseudonyms and the
 * identifier service"): one POST per lookup naming the entity and its
 * items not yet known, the answer giving their coded ids (suid), jittered
 * timestamps and the jitter. Answers are kept in sendit's table
 * (sendit/store_deid.h, origin "http"): what the table knows is never
 * asked again, so a restart asks nothing again.
 *
 * libcurl is loaded with the first provider made (dlopen), not when sendit
 * starts. Connection errors, timeouts and HTTP 5xx are retried with
 * exponential backoff; other statuses (4xx) are not. The bearer token is
 * read from token_file once, sent only in the Authorization header and
 * never logged; errors name the URL without any user, password or query.
 *
 * Ownership: db and the strings are borrowed (url and token_file for the
 * call only); db must outlive the provider, which one thread uses at a
 * time. */
#ifndef SENDIT_DEID_IDS_HTTP_H
#define SENDIT_DEID_IDS_HTTP_H

#include <stddef.h>

#include "sendit/db.h"
#include "sendit/deid_ids.h"
#include "sendit/error.h"

#define SI_DEID_HTTP_CONNECT_TIMEOUT_MS_DEFAULT 10000
#define SI_DEID_HTTP_TIMEOUT_MS_DEFAULT 60000
#define SI_DEID_HTTP_ATTEMPTS_DEFAULT 4
/* The first retry waits this long, each later one twice as long as the
 * one before (with jitter), up to SI_DEID_HTTP_BACKOFF_MAX_MS. */
#define SI_DEID_HTTP_BACKOFF_MS 250
#define SI_DEID_HTTP_BACKOFF_MAX_MS 8000
/* Longest answer body read; a longer one is an error. */
#define SI_DEID_HTTP_MAX_BODY (1024 * 1024)
/* Largest token file. */
#define SI_DEID_HTTP_MAX_TOKEN 4096

/* url: http:// or https:// (redirects are not followed). token_file: NULL
 * for none; else a file holding the token (surrounding blanks and the final
 * newline dropped) that others than its owner's group cannot read.
 * connect_timeout_ms, timeout_ms (the whole request) and attempts: 0 for
 * the defaults above. SI_ERR_ARG / SI_ERR_CONFIG / SI_ERR_IO on a bad
 * argument, SI_ERR_UNSUPPORTED when libcurl cannot be loaded. */
si_status si_deid_ids_http_new(si_db *db, const char *url, const char *token_file,
                               long connect_timeout_ms, long timeout_ms, int attempts,
                               si_deid_ids **out, si_error *err);

#endif
