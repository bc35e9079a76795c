/* The Host header: only the names of [web] hosts (or of the listen
 * address) are answered, so a DNS-rebinding page gets 421. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server_core.h"

static void add_host(si_http_server *srv, const char *name, const char *port) {
  if (srv->nhosts >= HOSTS_MAX)
    return;
  char text[300];
  snprintf(text, sizeof text, "%s%s%s", name, port ? ":" : "", port ? port : "");
  for (char *p = text; *p; p++)
    *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
  for (int i = 0; i < srv->nhosts; i++)
    if (strcmp(srv->hosts[i], text) == 0)
      return;
  srv->hosts[srv->nhosts] = strdup(text);
  if (srv->hosts[srv->nhosts])
    srv->nhosts++;
}

/* A name as clients write it in Host: with the port, and without it when
 * the port is HTTP's default (browsers leave :80 out). */
static void add_name(si_http_server *srv, const char *name) {
  add_host(srv, name, srv->port);
  if (strcmp(srv->port, "80") == 0)
    add_host(srv, name, NULL);
}

/* "host:port" entries are taken as written; a bare name also answers on
 * the listen port, and without a port (a proxy in front on 80 or 443). */
static void add_configured(si_http_server *srv, const char *entry, size_t len) {
  char name[300];
  snprintf(name, sizeof name, "%.*s", (int)len, entry);
  const char *bracket = strrchr(name, ']');
  const char *colon = strrchr(name, ':');
  int has_port = colon && (name[0] == '[' ? bracket && colon > bracket : 1);
  if (has_port) {
    add_host(srv, name, NULL);
    return;
  }
  add_host(srv, name, srv->port);
  add_host(srv, name, NULL);
}

/* Which Host headers this server answers: [web] hosts when set; else the
 * listen address, the loopback names when it is a loopback address, and
 * this machine's name and own addresses when it listens on every address.
 * A DNS-rebinding page reaches us under its own name, which is none of
 * these, so it gets 421 before any route (and before the same-origin check
 * could be fooled by a Host that matches its Origin). */
void web_build_hosts(si_http_server *srv, const char *listen, const char *hosts) {
  const char *colon = strrchr(listen, ':');
  snprintf(srv->port, sizeof srv->port, "%s", colon + 1);
  if (hosts[0]) {
    for (const char *p = hosts; *p;) {
      size_t n = strcspn(p, ",");
      add_configured(srv, p, n);
      p += n + (p[n] == ',');
    }
    return;
  }
  char host[256];
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  int wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0;
  int loopback =
      strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "localhost") == 0;
  if (!wildcard)
    add_name(srv, host);
  if (loopback || wildcard) {
    add_name(srv, "localhost");
    add_name(srv, "127.0.0.1");
    add_name(srv, "[::1]");
  }
  if (wildcard) {
    add_name(srv, srv->host);
    srv->own_address = 1;
  }
}

/* host (lower case) is the address literal of the connection's local end:
 * a client that typed our address itself, which no rebinding can forge. */
static int own_address(const web_req *r, const char *host, char *canon, size_t size) {
  const union MHD_ConnectionInfo *ci =
      web_mhd.MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  char addr[INET6_ADDRSTRLEN + 2] = "";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
  } else if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
      inet_ntop(AF_INET, a6->s6_addr + 12, addr, sizeof addr);
    } else {
      char v6[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, a6, v6, sizeof v6);
      snprintf(addr, sizeof addr, "[%s]", v6);
    }
  }
  char with_port[sizeof addr + 8];
  snprintf(with_port, sizeof with_port, "%s:%s", addr, r->srv->port);
  int same = addr[0] && (strcmp(host, with_port) == 0 ||
                         (strcmp(r->srv->port, "80") == 0 && strcmp(host, addr) == 0));
  if (same)
    snprintf(canon, size, "%s", with_port);
  return same;
}

/* HTTP/1.0 may leave Host out: then links use the first name we answer. */
int web_check_host(web_req *r) {
  si_http_server *srv = r->srv;
  const char *host = web_header(r, MHD_HTTP_HEADER_HOST);
  if (!host) {
    snprintf(r->origin, sizeof r->origin, "%s", srv->nhosts ? srv->hosts[0] : "localhost");
    return 0;
  }
  char lower[300];
  size_t n = strlen(host);
  if (n < sizeof lower) {
    for (size_t i = 0; i <= n; i++)
      lower[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] - 'A' + 'a' : host[i]);
    for (int i = 0; i < srv->nhosts; i++)
      if (strcmp(lower, srv->hosts[i]) == 0) {
        snprintf(r->origin, sizeof r->origin, "%s", srv->hosts[i]);
        return 0;
      }
    if (srv->own_address && own_address(r, lower, r->origin, sizeof r->origin))
      return 0;
  }
  web_fail(r, 421, "this server does not answer for host '%.100s' (see [web] hosts)", host);
  return -1;
}
