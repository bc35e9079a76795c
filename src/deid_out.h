/* Batched durable output for `sendit deid` (deid_out.c): results are
 * written to temporary names beside their targets without a sync each, then
 * per batch one syncfs makes them all durable (writeback starts as each is
 * written), they are renamed to their
 * final names and each folder touched is fsynced once. A final name thus
 * only ever holds a complete, durable file (as si_write_part10_file
 * promises), at one sync per batch instead of two per file. */
#ifndef SENDIT_DEID_OUT_H
#define SENDIT_DEID_OUT_H

#include <stddef.h>

#include "sendit/dicom.h"
#include "sendit/error.h"

typedef struct deid_out deid_out;

/* A batch of up to `limit` files; NULL when out of memory. */
deid_out *deid_out_new(size_t limit);

/* Files waiting; 1 when no more fit before a commit. */
size_t deid_out_count(const deid_out *out);
int deid_out_full(const deid_out *out);

/* 1 when path is waiting in the batch (not on disk under that name yet). */
int deid_out_pending(const deid_out *out, const char *path);

/* Writes file as Part 10 to a temporary name beside path, to be renamed to
 * path at the next commit; a full batch is SI_ERR_STATE. Nothing is left
 * behind on failure. */
si_status deid_out_add(deid_out *out, const si_file *file, const char *path, si_error *err);

/* Makes the batch durable and renames it into place. On failure the
 * batch's temporary files are removed and err names the first problem. */
si_status deid_out_commit(deid_out *out, si_error *err);

/* Removes what was not committed and frees out. */
void deid_out_free(deid_out *out);

#endif
