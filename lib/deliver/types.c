/* The table of destination types (sendit/destination.h). Each type lives
 * in its own file of lib/deliver and adds its row here. */
#include <string.h>

#include "deliver/types.h"

const si_dest_type *const si_dest_types[] = {
    &si_dest_type_dicom, &si_dest_type_s3, &si_dest_type_dicomweb, &si_dest_type_folder, NULL,
};

const si_dest_type *si_dest_type_find(const char *name) {
  if (!name)
    return NULL;
  for (size_t i = 0; si_dest_types[i]; i++)
    if (strcmp(si_dest_types[i]->name, name) == 0)
      return si_dest_types[i];
  return NULL;
}
