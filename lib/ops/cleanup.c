/* `sendit cleanup`'s work, for the command and any web use: one sweep
 * (si_cleanup_sweep, the stage's own rule) as JSON; see sendit/cleanup.h. */
#include "sendit/cleanup.h"
#include "sendit/fs.h"
#include "sendit/ops_format.h"

typedef struct sweep_rows {
  json_t *items;
  int oom;
} sweep_rows;

static json_t *count_or_null(const si_cleanup_result *res, int64_t v) {
  return res ? json_integer((json_int_t)v) : json_null();
}

static void sweep_row(void *user, const si_cleanup_item *it, const si_cleanup_result *res) {
  sweep_rows *rows = user;
  json_t *entry = json_pack("{s:o, s:s, s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "batch",
                            ops_json_text(it->batch_uid), "what", it->what, "files",
                            (json_int_t)it->files, "bytes", (json_int_t)it->bytes, "reason",
                            it->reason, "confirmed", ops_json_time(it->confirmed_at), "path",
                            res ? ops_json_text(res->path) : json_null(), "removed",
                            count_or_null(res, res ? res->removed : 0), "removed_bytes",
                            count_or_null(res, res ? res->removed_bytes : 0), "gone",
                            count_or_null(res, res ? res->gone : 0), "refused",
                            count_or_null(res, res ? res->refused : 0));
  if (!entry || json_array_append_new(rows->items, entry) != 0)
    rows->oom = 1;
}

json_t *ops_cleanup_json(si_db *db, const si_config *cfg, int dry_run, si_status *status,
                         si_error *err) {
  sweep_rows rows = {json_array(), 0};
  size_t count = 0;
  char why[1200] = "";
  *status =
      rows.items ? si_cleanup_sweep(db, cfg, dry_run, sweep_row, &rows, &count, err) : SI_ERR_NOMEM;
  if (*status != SI_OK && *status != SI_ERR_NOMEM)
    si_error_format(err, why, sizeof why);
  int64_t free_mb = si_free_space_mb(cfg->storage_dir);
  json_t *out = rows.items && !rows.oom
                    ? json_pack("{s:b, s:o, s:I, s:I, s:o, s:o}", "dry_run", dry_run, "free_mb",
                                free_mb >= 0 ? json_integer(free_mb) : json_null(), "low_water_mb",
                                (json_int_t)cfg->low_water_mb, "high_water_mb",
                                (json_int_t)cfg->high_water_mb, "error",
                                why[0] ? ops_json_text(why) : json_null(), "items", rows.items)
                    : NULL;
  if (!out) {
    if (!rows.oom && rows.items)
      rows.items = NULL; /* json_pack took it, also on failure */
    json_decref(rows.items);
    *status = SI_ERR_NOMEM;
    si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  return out;
}
