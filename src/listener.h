/* The daemon's DICOM listener service: `[dicom] listen` runs the storage
 * SCP of sendit/net.h in a thread of its own, writing into the folder the
 * watcher imports (the input folder, or its first `[input] subfolders`),
 * refusing below `[storage] low_water_mb` on the input's or the storage's
 * filesystem. */
#ifndef SENDIT_LISTENER_H
#define SENDIT_LISTENER_H

#include "sendit/config.h"
#include "sendit/error.h"

typedef struct listener listener;

/* Whether cfg asks for a listener ([dicom] listen set). */
int listener_wanted(const si_config *cfg);
/* Binds and starts serving; returns once it listens (or could not: err).
 * cfg is borrowed until listener_stop returns. */
si_status listener_start(const si_config *cfg, listener **out, si_error *err);
/* Stops: running associations are aborted within about 200 ms, their
 * acknowledged instances kept and their folders finished. NULL: no-op. */
void listener_stop(listener *l);

#endif
