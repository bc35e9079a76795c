/* The heartbeat service: this process's row of the worker registry
 * (sendit/worker_registry.h), registered at start, refreshed every few
 * seconds from a thread of its own with its own database connection, and
 * removed at stop. The daemon and `sendit worker` both run it, so `sendit
 * status`, `sendit workers` and the dashboard see them alike, whatever
 * else (the web server) did or did not start. */
#ifndef SENDIT_HEARTBEAT_H
#define SENDIT_HEARTBEAT_H

#include "sendit/config.h"
#include "sendit/error.h"
#include "sendit/worker_registry.h"

typedef struct heartbeat heartbeat;

/* Opens a connection to cfg's database, registers this process and starts
 * beating. cfg is borrowed until heartbeat_stop returns. */
si_status heartbeat_start(const si_config *cfg, heartbeat **out, si_error *err);
/* This process's registry identity (borrowed from h). */
const si_worker_self *heartbeat_self(const heartbeat *h);
/* Stops beating, removes the row, frees h. NULL is a no-op. */
void heartbeat_stop(heartbeat *h);

#endif
