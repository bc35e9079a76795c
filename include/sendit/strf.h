/* Formatted text of any length, for messages and paths that must never be
 * cut by a fixed buffer.
 *
 * Ownership: the caller frees what si_strf returns. */
#ifndef SENDIT_STRF_H
#define SENDIT_STRF_H

#include <stdarg.h>

#include "sendit/error.h"

/* printf into a newly allocated string; NULL when memory is short (or the
 * format fails). */
char *si_strf(const char *fmt, ...) SI_PRINTF(1, 2);
char *si_vstrf(const char *fmt, va_list ap) SI_PRINTF(1, 0);

#endif
