/* The listener's DICOM users (sendit/net.h, si_net_scp_options.users_file):
 * usernames and argon2id hashes of their passcodes.
 *
 * Ownership: a net_users belongs to its listener (net_users_free); checks
 * may come from every association thread at once. */
#ifndef SENDIT_NET_USERS_H
#define SENDIT_NET_USERS_H

#include <stddef.h>

#include "sendit/error.h"

typedef struct net_users net_users;

/* Reads path: "username:hash" lines (split at the last ':', as a hash has
 * none), '#' comments and blank lines skipped. A line that is neither is an
 * error naming the file and the line, as is a file without any user. */
si_status net_users_load(const char *path, net_users **out, si_error *err);
void net_users_free(net_users *u);

/* 1 when name (nlen bytes) is a user and pass (plen bytes) its passcode.
 * Takes as long for an unknown name (a hash is checked either way), one
 * check at a time: argon2id takes 64 MiB and about 0.1 s each. */
int net_users_check(net_users *u, const char *name, size_t nlen, const char *pass, size_t plen);

#endif
