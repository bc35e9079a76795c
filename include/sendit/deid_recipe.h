/* deid recipes (pydicom/deid's format, issue 14): FORMAT dicom, %header
 * actions (ADD BLANK JITTER KEEP REPLACE REMOVE) on fields named by keyword,
 * tag, private creator or an expander (startswith: endswith: contains:
 * select:group: select:VR: ALL except:), %fields / %values groups, values
 * as literals, var:NAME, func:NAME (built-ins listed in the README) and
 * deid_func:, and %filter sections of LABELs with criteria. Deviations from
 * deid are listed in the README ("deid recipes").
 *
 * Ownership: a recipe is made by si_deid_recipe_parse / _load and freed with
 * si_deid_recipe_free; it is read only afterwards and may be shared by
 * threads. The text given to _parse is borrowed only during the call. */
#ifndef SENDIT_DEID_RECIPE_H
#define SENDIT_DEID_RECIPE_H

#include <stddef.h>

#include "sendit/deid.h"
#include "sendit/dicom.h"
#include "sendit/error.h"

typedef struct si_deid_recipe si_deid_recipe;

#ifdef __cplusplus
extern "C" {
#endif

/* Parses a recipe. An error is SI_ERR_PARSE (or SI_ERR_ARG) whose message
 * names `name`, the line and what was expected there; an unknown action,
 * expander, criterion or func: name is an error, never ignored. */
si_status si_deid_recipe_parse(const char *text, size_t len, const char *name, si_deid_recipe **out,
                               si_error *err);
si_status si_deid_recipe_load(const char *path, si_deid_recipe **out, si_error *err);
void si_deid_recipe_free(si_deid_recipe *recipe);

/* Whether the recipe has %header actions / %filter sections. */
int si_deid_recipe_has_header(const si_deid_recipe *recipe);
int si_deid_recipe_has_filters(const si_deid_recipe *recipe);

/* Runs the %filter sections on file's data set, in recipe order: the first
 * LABEL that matches decides, its "filter SECTION: LABEL" going into reason
 * (truncated to size); *flagged is 1 unless the section is named
 * "whitelist" (deid's images known to be clean). Nothing matching: *flagged
 * 0, reason "". Pixel data is never looked at or cleaned. */
si_status si_deid_recipe_filter(const si_deid_recipe *recipe, const si_file *file, int *flagged,
                                char *reason, size_t size, si_error *err);

/* The recipe as the engine's rules (sendit/deid.h): *rules borrows recipe,
 * which must outlive it. rules->name is "deid recipe BASENAME"; filter is
 * si_deid_recipe_filter; apply runs the %header actions (README, "deid
 * recipes": deid's order and priorities, every depth and the file meta) and
 * marks what they decided for the profile. An action that cannot be applied
 * (a value the VR refuses, an undefined var: in a REPLACE, a UID function
 * without the key) fails with the recipe's name, the line and the tag. */
void si_deid_recipe_rules(const si_deid_recipe *recipe, si_deid_rules *rules);

#ifdef __cplusplus
}
#endif
#endif
