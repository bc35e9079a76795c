/* Which destinations a batch goes to (sendit/deliver.h): the hand-off to
 * the send stage queues one job for each destination whose filters match
 * at least one image of the batch's source. */
#include <string.h>

#include "sendit/deliver.h"

const si_dest_config *si_deliver_find(const si_config *cfg, const char *name) {
  for (size_t i = 0; name && i < cfg->destination_count; i++)
    if (strcmp(cfg->destinations[i].name, name) == 0)
      return &cfg->destinations[i];
  return NULL;
}

typedef struct any_match {
  const si_dest_config *d;
  int found;
  si_status st;
  si_error *err;
} any_match;

static int match_row(void *user, const si_send_image *row) {
  any_match *m = user;
  m->st = si_deliver_image_match(m->d, row, &m->found, m->err);
  return m->found || m->st != SI_OK; /* the first match is enough */
}

si_status si_deliver_fanout(si_db *db, const si_config *cfg, const char *uid, const char **names,
                            size_t cap, size_t *count, si_error *err) {
  *count = 0;
  for (size_t i = 0; i < cfg->destination_count && *count < cap; i++) {
    any_match m = {&cfg->destinations[i], 0, SI_OK, err};
    si_status st = si_store_send_images(db, uid, m.d->source, m.d->name, match_row, &m, err);
    if (st == SI_OK)
      st = m.st;
    if (st != SI_OK)
      return st;
    if (m.found)
      names[(*count)++] = m.d->name;
  }
  return SI_OK;
}
