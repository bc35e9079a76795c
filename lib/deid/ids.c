/* The pseudonym provider interface (sendit/deid_ids.h): dispatch to the
 * backend and freeing answers. */
#include <stdlib.h>

#include "sendit/deid_ids.h"

si_status si_deid_ids_lookup(si_deid_ids *ids, const si_deid_ids_request *req,
                             si_deid_ids_answer *out, si_error *err) {
  *out = (si_deid_ids_answer){0};
  if (!ids || !ids->ops || !ids->ops->lookup || !req)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "no pseudonym provider to ask");
  si_status st = ids->ops->lookup(ids, req, out, err);
  if (st != SI_OK)
    si_deid_ids_answer_free(out);
  return st;
}

void si_deid_ids_free(si_deid_ids *ids) {
  if (ids && ids->ops && ids->ops->free)
    ids->ops->free(ids);
}

void si_deid_ids_answer_free(si_deid_ids_answer *answer) {
  if (!answer)
    return;
  free(answer->entity_code);
  for (size_t i = 0; i < answer->item_count; i++)
    free(answer->item_codes[i]);
  free(answer->item_codes);
  *answer = (si_deid_ids_answer){0};
}
