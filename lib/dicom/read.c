/* The reader's entry points (sendit/dicom.h): options, limits, files and
 * memory buffers, and the si_file accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"

void si_read_options_init(si_read_options *opts) { memset(opts, 0, sizeof *opts); }

si_status si_read_io(si_io *io, const si_read_options *opts, si_file **out, si_error *err) {
  /* The parser reads codes back from p->err (after si_stream_at_end, which
   * reports failures only there), so it needs one even when the caller
   * passes none: without it a read error became SI_OK. */
  si_error local;
  if (!err)
    err = &local;
  si_read_options defaults;
  if (!opts) {
    si_read_options_init(&defaults);
    opts = &defaults;
  }
  *out = NULL;
  si_error_clear(err);
  si_file *file = calloc(1, sizeof *file);
  if (!file)
    return si_error_set(err, SI_ERR_NOMEM, si_io_name(io), 0, SI_NO_TAG, "out of memory");
  si_arena_init(&file->arena, 65536);
  parser p = {.file = file, .err = err, .name = si_io_name(io)};
  p.stop_tag = opts->stop_before_tag;
  if (opts->stop_before_pixels && (!p.stop_tag || p.stop_tag > SI_TAG(0x7FE0, 0x0008)))
    p.stop_tag = SI_TAG(0x7FE0, 0x0008);
  p.max_depth = opts->max_depth ? opts->max_depth : DEFAULT_MAX_DEPTH;
  p.max_value = opts->max_value_length ? opts->max_value_length : DEFAULT_MAX_VALUE;
  p.header_only = p.stop_tag != 0;
  p.leave = p.header_only ? 0 : opts->leave_in_file;
  if (opts->transfer_syntax) {
    p.bare = si_ts_lookup(opts->transfer_syntax);
    if (!p.bare) {
      si_file_free(file);
      return si_error_set(err, SI_ERR_ARG, si_io_name(io), SI_NO_OFFSET, SI_NO_TAG,
                          "unknown transfer syntax '%.64s' for a bare data set",
                          opts->transfer_syntax);
    }
  }
  if (p.header_only) {
    p.max_kept = opts->max_kept_value ? opts->max_kept_value : DEFAULT_MAX_KEPT_VALUE;
    p.max_memory = opts->max_header_memory ? opts->max_header_memory : DEFAULT_MAX_HEADER_MEMORY;
  }
  file->meta = si_parse_new_dataset(&p, NULL);
  file->dataset = si_parse_new_dataset(&p, NULL);
  si_stream s;
  /* Header-only reads of typical files then cost one read of 4 KiB. */
  size_t initial = opts->initial_read ? opts->initial_read : p.stop_tag ? 4096 : 0;
  si_status st = (file->meta && file->dataset) ? si_stream_init(&s, io, &file->arena, initial, err)
                                               : si_parse_nomem(&p, SI_NO_TAG);
  if (st == SI_OK) {
    p.s = &s;
    st = si_parse_part10(&p);
    if (!file->info.deflated)
      file->info.end_offset = file->info.stopped_early ? p.stop_offset : s.offset;
  }
  if (st != SI_OK) {
    si_file_free(file);
    return st;
  }
  *out = file;
  return SI_OK;
}

si_status si_read_file(const char *path, const si_read_options *opts, si_file **out,
                       si_error *err) {
  si_io *io;
  *out = NULL;
  si_status st = si_io_open_file(path, &io, err);
  if (st != SI_OK)
    return st;
  st = si_read_io(io, opts, out, err);
  si_io_close(io);
  if (st == SI_OK && opts && opts->leave_in_file) {
    size_t n = strlen(path) + 1;
    char *copy = si_arena_alloc(&(*out)->arena, n, 0);
    if (!copy) {
      si_file_free(*out);
      *out = NULL;
      return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
    }
    memcpy(copy, path, n);
    (*out)->source_path = copy;
  }
  return st;
}

si_status si_file_new(si_file **out, si_error *err) {
  *out = calloc(1, sizeof **out);
  if (!*out)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  si_file *f = *out;
  si_arena_init(&f->arena, 16384);
  f->meta = si_arena_alloc(&f->arena, sizeof *f->meta, 1);
  f->dataset = si_arena_alloc(&f->arena, sizeof *f->dataset, 1);
  if (!f->meta || !f->dataset) {
    si_file_free(f);
    *out = NULL;
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  f->meta->sorted = f->dataset->sorted = 1;
  snprintf(f->info.transfer_syntax, sizeof f->info.transfer_syntax, "%s", SI_TS_EXPLICIT_LE);
  f->info.explicit_vr = 1;
  return SI_OK;
}

si_status si_read_memory(const void *data, size_t size, const char *name,
                         const si_read_options *opts, si_file **out, si_error *err) {
  si_io *io;
  *out = NULL;
  si_status st = si_io_open_memory(data, size, name, &io, err);
  if (st != SI_OK)
    return st;
  st = si_read_io(io, opts, out, err);
  si_io_close(io);
  return st;
}

void si_file_free(si_file *file) {
  if (!file)
    return;
  si_arena_free(&file->arena);
  free(file);
}

const si_file_info *si_file_get_info(const si_file *file) { return &file->info; }
const si_dataset *si_file_meta(const si_file *file) { return file->meta; }
const si_dataset *si_file_dataset(const si_file *file) { return file->dataset; }
