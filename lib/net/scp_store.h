/* Where the storage SCP puts what it receives (the sender protocol of the
 * README): each instance into a temporary file under DIR/.sendit-net/,
 * fsynced, then renamed into DIR/<study>.tmp<id>/<SOPInstanceUID>.dcm; the
 * study folders of one association renamed to DIR/<study> when it ends.
 * A temporary file and a study folder are flock'ed by their association
 * (the kernel drops the lock when the process dies), so a restart tells
 * what a dead process left from what a live one is writing.
 *
 * Ownership: a net_store belongs to one association thread; strings given
 * to it are copied. */
#ifndef SENDIT_NET_SCP_STORE_H
#define SENDIT_NET_SCP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"

typedef struct net_study {
  char *name;  /* finished name (sanitised) */
  char *tmp;   /* DIR/<name>.tmp<id> */
  int lock_fd; /* the folder, open and flock'ed while its association lives */
} net_study;

typedef struct net_store {
  const char *dir;
  char id[48]; /* unique per association: "<pid>-<n>" */
  char calling_ae[17];
  net_study *studies;
  size_t study_count;
  /* The instance being received. */
  int fd;
  char tmp_path[4200];
  char sop_instance[65];
  uint64_t written;
  uint64_t flushed; /* bytes whose writeback was started */
  int write_failed;
  int write_errno;
} net_store;

void net_store_init(net_store *s, const char *dir, const char *id, const char *calling_ae);
/* Starts an instance: a temporary file with preamble and file meta. */
si_status net_store_begin(net_store *s, const char *sop_class, const char *sop_instance,
                          const char *ts, si_error *err);
/* Appends data set bytes (a net_data_sink: 0, or -1 after a write error). */
int net_store_write(void *s, const uint8_t *data, size_t len);
/* Ends it: fsync, read back its header for the study, rename into the
 * study folder. SI_OK means it is durable under its name. Any failure
 * removes the temporary file: *status is the C-STORE status to answer. */
si_status net_store_end(net_store *s, uint16_t *status, si_error *err);
/* Drops an instance begun but not finished. */
void net_store_discard(net_store *s);
/* Renames every study folder to its finished name (waiting up to
 * wait_ms for a same-named folder the watcher has not imported yet, then
 * "<name>-<id>"), and frees. *log_line gets a malloc'd note per fallback
 * (may be NULL). */
void net_store_finish(net_store *s, int wait_ms, void (*note)(void *user, const char *msg),
                      void *user);
/* Start-up: removes DIR/.sendit-net/ files and finishes DIR/<name>.tmp<id>
 * folders that no live association holds (their flock is free: the
 * process that made them is gone), as net_store_finish does; empty ones
 * are removed. */
void net_store_recover(const char *dir, int wait_ms, void (*note)(void *user, const char *msg),
                       void *user);

#endif
