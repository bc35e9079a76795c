/* The dispatch of the server core: it rejects odd paths, finds the route in
 * the site's table (404, or 405 with Allow) and, on guarded routes, lets
 * the site's guard decide (who the client is, CSRF) before the handler. */
#include <stdio.h>
#include <string.h>

#include "core.h"

/* Matches path against pattern, capturing "{x}" segments into caps (each
 * at most `size` bytes). */
static int match(const char *pattern, const char *path, char caps[2][512], int *ncaps) {
  *ncaps = 0;
  while (*pattern && *path) {
    if (*pattern == '{') {
      size_t n = strcspn(path, "/");
      if (n == 0 || n >= 512 || *ncaps >= 2)
        return 0;
      memcpy(caps[*ncaps], path, n);
      caps[(*ncaps)++][n] = '\0';
      path += n;
      pattern = strchr(pattern, '}');
      if (!pattern)
        return 0;
      pattern++;
    } else if (*pattern++ != *path++) {
      return 0;
    }
  }
  return *pattern == '\0' && *path == '\0';
}

/* ".." or "." segments, empty segments, backslashes and control characters
 * have no business in our URLs; refusing them keeps any future file-serving
 * code safe from traversal. */
static int odd_path(const char *path) {
  if (path[0] != '/')
    return 1;
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
      return 1;
  for (const char *seg = path + 1;;) {
    size_t n = strcspn(seg, "/");
    int last = seg[n] == '\0';
    if ((n == 0 && !last) || (n == 1 && seg[0] == '.') ||
        (n == 2 && seg[0] == '.' && seg[1] == '.'))
      return 1;
    if (last)
      return 0;
    seg += n + 1;
  }
}

void web_route(web_req *r, const web_site *site) {
  const web_endpoint *routes = site->routes;
  size_t nroutes = site->nroutes;
  if (odd_path(r->path)) {
    web_fail(r, 400, "bad path");
    return;
  }
  /* "/api/batches/" is "/api/batches", as in the original's URLs. */
  snprintf(r->path_buf, sizeof r->path_buf, "%s", r->path);
  size_t n = strlen(r->path_buf);
  if (n > 1 && r->path_buf[n - 1] == '/')
    r->path_buf[n - 1] = '\0';
  r->path = r->path_buf;
  const web_endpoint *found = NULL;
  int ncaps = 0, get = 0, post = 0;
  for (size_t i = 0; i < nroutes && !found; i++) {
    if (!match(routes[i].pattern, r->path, r->capture, &ncaps))
      continue;
    if (strcmp(routes[i].method, r->method) == 0)
      found = &routes[i];
    else if (strcmp(routes[i].method, "GET") == 0)
      get = 1;
    else
      post = 1;
  }
  if (!found && (get || post)) {
    r->allow = get && post ? "GET, HEAD, POST" : get ? "GET, HEAD" : "POST";
    web_fail(r, 405, "method %s is not allowed here (allowed: %s)", r->method, r->allow);
    return;
  }
  if (!found) {
    web_fail(r, 404, "not found");
    return;
  }
  r->arg[0] = ncaps > 0 ? r->capture[0] : NULL;
  r->arg[1] = ncaps > 1 ? r->capture[1] : NULL;
  if (found->guarded && site->guard && !site->guard(r, found))
    return;
  found->handler(r);
}
