/* The deid stage's pseudonym provider, as [deid] identifiers says; see
 * sendit/stage_deid.h. */
#include "sendit/stage_deid.h"

#include <string.h>

#include "sendit/deid_ids_http.h"
#include "sendit/deid_ids_local.h"

si_status si_stage_deid_ids_open(const si_config *cfg, si_db *db, si_deid_ids **out,
                                 si_error *err) {
  if (strcmp(cfg->deid_identifiers, "http") == 0)
    return si_deid_ids_http_new(db, cfg->deid_url,
                                cfg->deid_token_file[0] ? cfg->deid_token_file : NULL,
                                SI_DEID_HTTP_CONNECT_TIMEOUT_MS_DEFAULT,
                                (long)cfg->deid_timeout_seconds * 1000, 0, out, err);
  return si_deid_ids_local_new(db, SI_DEID_SHIFT_MIN_DEFAULT, SI_DEID_SHIFT_MAX_DEFAULT, out, err);
}
