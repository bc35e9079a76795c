/* The statuses an operator sees and types, one table for the CLI and the
 * web: batch statuses in the order of a batch's life (for validation and
 * for listing counts in a stable order), image statuses, and which batch
 * log lines are worth an operator's eye.
 *
 * Ownership: every returned name is a static string (never freed); inputs
 * are borrowed for the call. */
#ifndef SENDIT_OPS_STATUS_H
#define SENDIT_OPS_STATUS_H

enum { OPS_STATUS_COUNT = 6 };

/* Batch status i (0 .. OPS_STATUS_COUNT-1): QUEUE, PROCESSING,
 * DONEPROCESSING, DONE, EMPTY, ERROR; NULL out of range. */
const char *ops_status_name(int i);
/* The index of the exact (canonical) spelling s, or -1. */
int ops_status_index(const char *s);
/* The canonical spelling of a batch status typed in any case, or NULL. */
const char *ops_status_lookup(const char *s);
/* The same for image statuses (NEW, PROCESSING, DONEPROCESSING, SENT, DONE). */
const char *ops_image_status_lookup(const char *s);

/* 1 for a batch log level the operator should see (errors and warnings:
 * "error", "warning" or "warn"); info lines are counted, not shown. */
int ops_log_is_notable(const char *level);
/* The level as shown: "warn" is spelled "warning", the rest as stored. */
const char *ops_log_level_name(const char *level);

#endif
