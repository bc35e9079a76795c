/* TCP transport: see transport.h. */
#include "net/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t net_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline) {
  if (deadline < 0)
    return -1;
  int64_t left = deadline - net_now_ms();
  if (left <= 0)
    return 0;
  return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

static int prepare_socket(int fd) {
  int one = 1;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return -1;
  /* Only TCP sockets have it; a socketpair in the tests does not. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return 0;
}

int net_wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r > 0)
      return 1;
    if (r == 0)
      return 0;
    if (errno != EINTR)
      return -1;
  }
}

si_status net_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd,
                          si_error *err) {
  *fd = -1;
  char name[300];
  snprintf(name, sizeof name, "%s:%s", host, port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0)
    return si_error_set(err, SI_ERR_IO, name, SI_NO_OFFSET, SI_NO_TAG, "cannot resolve: %s",
                        gai_strerror(gai));
  int64_t deadline = timeout_ms < 0 ? -1 : net_now_ms() + timeout_ms;
  int last_errno = 0, timed_out = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) {
      last_errno = errno;
      continue;
    }
    if (prepare_socket(s) < 0) {
      last_errno = errno;
      close(s);
      continue;
    }
    int r = connect(s, ai->ai_addr, ai->ai_addrlen);
    if (r < 0 && errno == EINPROGRESS) {
      int w = net_wait_fd(s, POLLOUT, deadline);
      if (w == 0) {
        timed_out = 1;
        close(s);
        break;
      }
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (w < 0 || getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
      r = soerr ? -1 : 0;
      errno = soerr;
    }
    if (r == 0) {
      *fd = s;
      freeaddrinfo(res);
      return SI_OK;
    }
    last_errno = errno;
    close(s);
  }
  freeaddrinfo(res);
  if (timed_out)
    return si_error_set(err, SI_ERR_IO, name, SI_NO_OFFSET, SI_NO_TAG,
                        "no connection within %d ms (connect timeout)", timeout_ms);
  return si_error_set(err, SI_ERR_IO, name, SI_NO_OFFSET, SI_NO_TAG, "cannot connect: %s",
                      strerror(last_errno));
}

si_status net_tcp_listen(const char *host, const char *port, int *fd, int *bound_port,
                         si_error *err) {
  *fd = -1;
  char name[300];
  snprintf(name, sizeof name, "%s:%s", host, port);
  const char *h = (!host || !host[0] || strcmp(host, "*") == 0) ? NULL : host;
  struct addrinfo hints = {
      .ai_family = h ? AF_UNSPEC : AF_INET6, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(h, port, &hints, &res);
  if (gai != 0 && !h) {
    hints.ai_family = AF_INET; /* a host without IPv6 */
    gai = getaddrinfo(h, port, &hints, &res);
  }
  if (gai != 0)
    return si_error_set(err, SI_ERR_IO, name, SI_NO_OFFSET, SI_NO_TAG, "cannot resolve: %s",
                        gai_strerror(gai));
  int last_errno = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) {
      last_errno = errno;
      continue;
    }
    int one = 1, zero = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6 && !h)
      setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, 64) == 0 && prepare_socket(s) == 0) {
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      if (bound_port && getsockname(s, (struct sockaddr *)&ss, &sl) == 0)
        *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&ss)->sin_port);
      *fd = s;
      freeaddrinfo(res);
      return SI_OK;
    }
    last_errno = errno;
    close(s);
  }
  freeaddrinfo(res);
  return si_error_set(err, SI_ERR_IO, name, SI_NO_OFFSET, SI_NO_TAG, "cannot listen: %s",
                      strerror(last_errno));
}

net_io net_tcp_accept(int lfd, int timeout_ms, int *fd, char peer[64], si_error *err) {
  *fd = -1;
  peer[0] = '\0';
  int64_t deadline = timeout_ms < 0 ? -1 : net_now_ms() + timeout_ms;
  for (;;) {
    int w = net_wait_fd(lfd, POLLIN, deadline);
    if (w == 0)
      return NET_IO_TIMEOUT;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int s = w > 0 ? accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC) : -1;
    if (s < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
        continue;
      si_error_set(err, SI_ERR_IO, "listener", SI_NO_OFFSET, SI_NO_TAG, "accept: %s",
                   strerror(errno));
      return NET_IO_ERROR;
    }
    if (prepare_socket(s) < 0) {
      close(s);
      continue;
    }
    char port[16];
    if (getnameinfo((struct sockaddr *)&ss, sl, peer, 64, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      peer[0] = '\0';
    *fd = s;
    return NET_IO_OK;
  }
}

net_io net_read_full(int fd, void *buf, size_t n, int64_t deadline, size_t *got, si_error *err) {
  size_t done = 0;
  net_io res = NET_IO_OK;
  while (done < n) {
    ssize_t r = read(fd, (uint8_t *)buf + done, n - done);
    if (r > 0) {
      done += (size_t)r;
      continue;
    }
    if (r == 0) {
      si_error_set(err, SI_ERR_TRUNCATED, "peer", SI_NO_OFFSET, SI_NO_TAG,
                   "the peer closed the connection");
      res = NET_IO_EOF;
      break;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG, "read: %s", strerror(errno));
      res = NET_IO_ERROR;
      break;
    }
    int w = net_wait_fd(fd, POLLIN, deadline);
    if (w == 0) {
      si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG,
                   "nothing received within the timeout");
      res = NET_IO_TIMEOUT;
      break;
    }
    if (w < 0) {
      si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG, "poll: %s", strerror(errno));
      res = NET_IO_ERROR;
      break;
    }
  }
  if (got)
    *got = done;
  return res;
}

net_io net_write_all(int fd, const struct iovec *iov_in, int iovcnt, int64_t deadline,
                     si_error *err) {
  struct iovec iov[8];
  if (iovcnt > 8)
    iovcnt = 8; /* callers send at most three pieces */
  memcpy(iov, iov_in, (size_t)iovcnt * sizeof *iov);
  int first = 0;
  while (first < iovcnt) {
    /* sendmsg for MSG_NOSIGNAL: a peer gone away is an error, not SIGPIPE. */
    struct msghdr mh = {.msg_iov = iov + first, .msg_iovlen = (size_t)(iovcnt - first)};
    ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG, "write: %s", strerror(errno));
        return errno == EPIPE || errno == ECONNRESET ? NET_IO_EOF : NET_IO_ERROR;
      }
      int r = net_wait_fd(fd, POLLOUT, deadline);
      if (r == 0) {
        si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG,
                     "the peer took nothing within the timeout");
        return NET_IO_TIMEOUT;
      }
      if (r < 0) {
        si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG, "poll: %s", strerror(errno));
        return NET_IO_ERROR;
      }
      continue;
    }
    size_t left = (size_t)w;
    while (first < iovcnt && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      first++;
    }
    if (first < iovcnt) {
      iov[first].iov_base = (uint8_t *)iov[first].iov_base + left;
      iov[first].iov_len -= left;
    }
  }
  return NET_IO_OK;
}

net_io net_link_read(int fd, const net_secure *s, void *buf, size_t n, int64_t deadline,
                     size_t *got, si_error *err) {
  if (s && s->session)
    return s->ops->read(s->session, buf, n, deadline, got, err);
  return net_read_full(fd, buf, n, deadline, got, err);
}

net_io net_link_write(int fd, const net_secure *s, const struct iovec *iov, int iovcnt,
                      int64_t deadline, si_error *err) {
  if (s && s->session)
    return s->ops->write(s->session, iov, iovcnt, deadline, err);
  return net_write_all(fd, iov, iovcnt, deadline, err);
}

void net_link_close(int *fd, net_secure *s) {
  if (s && s->session) {
    s->ops->close(s->session);
    s->session = NULL;
  }
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}
