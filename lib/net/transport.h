/* TCP transport of the DICOM upper layer (PS3.8 section 9.1.2): IPv4 and
 * IPv6, TCP_NODELAY on every socket (without it each C-STORE waits on
 * Nagle's delayed ACK), non-blocking sockets driven by poll so that every
 * wait has a deadline. */
#ifndef SENDIT_NET_TRANSPORT_H
#define SENDIT_NET_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sendit/error.h"

/* Outcome of a transfer: done, the peer closed (EOF before n bytes), the
 * deadline passed, or another error (err filled for each but NET_IO_OK). */
typedef enum net_io { NET_IO_OK = 0, NET_IO_EOF, NET_IO_TIMEOUT, NET_IO_ERROR } net_io;

/* Milliseconds of a monotonic clock. */
int64_t net_now_ms(void);

/* Connects to host:port (a name, an IPv4 or an IPv6 address), trying each
 * address in turn within timeout_ms in all. *fd is non-blocking. */
si_status net_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd,
                          si_error *err);
/* Listens on host:port ("" or "*" = every address, IPv6 and IPv4). With
 * port "0" the kernel picks one: *bound_port says which. */
si_status net_tcp_listen(const char *host, const char *port, int *fd, int *bound_port,
                         si_error *err);
/* Accepts one connection (waits up to timeout_ms; -1 = forever). peer gets
 * the numeric address ("" if unknown). NET_IO_TIMEOUT when none came. */
net_io net_tcp_accept(int lfd, int timeout_ms, int *fd, char peer[64], si_error *err);

/* Reads exactly n bytes before the deadline (net_now_ms() scale; -1 =
 * none). *got (may be NULL) says how many arrived. */
net_io net_read_full(int fd, void *buf, size_t n, int64_t deadline, size_t *got, si_error *err);
/* Writes every byte of the iovecs before the deadline. */
net_io net_write_all(int fd, const struct iovec *iov, int iovcnt, int64_t deadline, si_error *err);

/* A secure layer over a socket (TLS: tls.c), reached through its
 * operations so that the layers above (and the fuzzer, which links them
 * without OpenSSL) need nothing of it. session NULL: plain TCP. */
typedef struct net_link_ops {
  net_io (*read)(void *session, void *buf, size_t n, int64_t deadline, size_t *got, si_error *err);
  net_io (*write)(void *session, const struct iovec *iov, int iovcnt, int64_t deadline,
                  si_error *err);
  void (*close)(void *session); /* says goodbye if it can at once, frees; the fd stays open */
} net_link_ops;
typedef struct net_secure {
  const net_link_ops *ops;
  void *session;
} net_secure;

/* net_read_full and net_write_all through s's session when there is one. */
net_io net_link_read(int fd, const net_secure *s, void *buf, size_t n, int64_t deadline,
                     size_t *got, si_error *err);
net_io net_link_write(int fd, const net_secure *s, const struct iovec *iov, int iovcnt,
                      int64_t deadline, si_error *err);
/* Ends the session (if any) and closes *fd (if open); both are reset. */
void net_link_close(int *fd, net_secure *s);
/* Waits for fd to become ready for `events` (POLLIN, POLLOUT) before the
 * deadline: 1 ready, 0 timed out, -1 error (errno). */
int net_wait_fd(int fd, short events, int64_t deadline);

#endif
