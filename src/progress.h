/* A one-line progress bar on stderr for commands that work through a list
 * (`sendit send`): drawn only when stderr is a terminal and the caller
 * wants it, redrawn at most every 100 ms, erased before other output. */
#ifndef SENDIT_PROGRESS_H
#define SENDIT_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct progress {
  int on;
  size_t total, done;
  uint64_t bytes_total, bytes_done;
  int64_t started_ms, drawn_ms;
  int shown; /* the line is on the screen */
} progress;

/* on: the caller wants it (not --quiet, not --no-progress); it is shown
 * only when stderr is a terminal as well. */
void progress_init(progress *p, int on, size_t total, uint64_t bytes_total);
/* One item done, of this many bytes. */
void progress_step(progress *p, uint64_t bytes);
/* Erases the line (before printing something else); the next step redraws. */
void progress_clear(progress *p);
/* Draws the final state and ends the line. */
void progress_end(progress *p);

#endif
