/* Helpers shared by the cmocka unit tests. */
#ifndef SENDIT_TESTUTIL_H
#define SENDIT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Directory of the shared public DICOM samples, or NULL when absent. */
const char *tu_samples_dir(void);
/* tests/data of this repository (always set under ctest). */
const char *tu_test_data_dir(void);
/* A fresh empty scratch directory for this test process (created on demand). */
const char *tu_tmp_dir(void);
/* Reads a whole file into a malloc'd buffer; NULL on failure. */
uint8_t *tu_read_file(const char *path, size_t *size);
/* Writes bytes to path; 0 on success. */
int tu_write_file(const char *path, const void *data, size_t size);

#endif
