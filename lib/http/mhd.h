/* libmicrohttpd, loaded when the dashboard starts rather than with every
 * sendit command: with GnuTLS and its libraries it took 0.9 ms of CPU of
 * each start-up (measured on an empty program linked to it). The server
 * core (server.c, request.c, hosts.c, conns.c) calls it through web_mhd. */
#ifndef SENDIT_HTTP_MHD_H
#define SENDIT_HTTP_MHD_H

#include <microhttpd.h>

/* clang-format off */
#define WEB_MHD_FUNCTIONS(X) \
  X(MHD_add_response_header) \
  X(MHD_create_response_from_buffer) \
  X(MHD_destroy_response) \
  X(MHD_get_connection_info) \
  X(MHD_get_connection_values) \
  X(MHD_lookup_connection_value) \
  X(MHD_queue_response) \
  X(MHD_resume_connection) \
  X(MHD_start_daemon) \
  X(MHD_stop_daemon) \
  X(MHD_suspend_connection)
/* clang-format on */

typedef struct web_mhd_table {
#define WEB_MHD_DECLARE(name) __typeof__(name) *name;
  WEB_MHD_FUNCTIONS(WEB_MHD_DECLARE)
#undef WEB_MHD_DECLARE
} web_mhd_table;

/* Filled by web_mhd_load; read-only afterwards. */
extern web_mhd_table web_mhd;

/* Loads the library once (thread-safe); returns "" when it is loaded, else
 * why it could not be (static text). */
const char *web_mhd_load(void);

#endif