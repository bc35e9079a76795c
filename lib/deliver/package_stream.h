/* The archive's output: libarchive's write callback, which writes to the
 * temporary file and hashes the stream on a second thread (SHA-256 of the
 * archive costs as much as the members' own: two cores do both at once).
 * No early write-back (sync_file_range every 8 MiB): measured here it made
 * each 1 MiB write(2) wait ~10 ms and the package 30% slower; the one
 * fsync at the end costs less. Internal to the library. */
#ifndef SENDIT_DELIVER_PACKAGE_STREAM_H
#define SENDIT_DELIVER_PACKAGE_STREAM_H

#include <archive.h>
#include <stdint.h>

typedef struct si_pkg_stream si_pkg_stream;

/* A sink writing to fd (borrowed: not closed). NULL when out of memory. */
si_pkg_stream *si_pkg_stream_new(int fd);
/* libarchive's archive_write_callback; user is the si_pkg_stream. After a
 * failure every later call fails too. */
la_ssize_t si_pkg_stream_write(struct archive *a, void *user, const void *buf, size_t size);
/* Stops the hasher, writes the stream's digest and length, frees s.
 * Returns 0, or the errno of the first write that failed. */
int si_pkg_stream_finish(si_pkg_stream *s, char hex[65], int64_t *bytes);

#endif
