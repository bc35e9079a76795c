/* The destination types' rows, one per file of lib/deliver (types.c lists
 * them). Internal to the library. */
#ifndef SENDIT_DELIVER_TYPES_H
#define SENDIT_DELIVER_TYPES_H

#include "sendit/destination.h"

extern const si_dest_type si_dest_type_dicom;    /* dest_dicom.c: C-STORE */
extern const si_dest_type si_dest_type_dicomweb; /* dest_stow.c: STOW-RS */
extern const si_dest_type si_dest_type_folder;   /* dest_folder.c: tar package + manifest */
extern const si_dest_type si_dest_type_s3;       /* dest_s3.c: S3 objects */

#endif
