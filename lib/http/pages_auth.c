/* Logging in and out, and the settings page. The login form is protected
 * against login CSRF by a double-submit token: a random cookie that the
 * form must echo, which another site can neither read nor set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pages.h"
#include "sendit/log.h"

#define SESSION_COOKIE "sendit_session"
#define LOGIN_COOKIE "sendit_login"

/* Only a path of this site: "//host" or "/\host" would leave it. */
static const char *safe_next(const char *next) {
  if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' || strlen(next) > WEB_URL_MAX)
    return "/";
  for (const char *p = next; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return "/";
  return next;
}

static void login_form(web_req *r, const char *token, const char *next, const char *user,
                       const char *problem) {
  hbuf *b = &r->out;
  page_begin(r, "Log in", 0);
  hb_put(b, "<section class=\"login\"><h1>Log in</h1>");
  if (!web_auth_has_password(web_auth_of(r)))
    hb_put(b, "<p class=\"notice\">No password is set yet. On the server, run "
              "<code>sendit set_password</code>, then log in here as <code>admin</code>.</p>");
  if (problem) {
    hb_put(b, "<p class=\"error-text\" role=\"alert\">");
    hb_html(b, problem);
    hb_put(b, "</p>");
  }
  hb_put(b, "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"login_token\" "
            "value=\"");
  hb_html(b, token);
  hb_put(b, "\"><input type=\"hidden\" name=\"next\" value=\"");
  hb_html(b, safe_next(next));
  hb_put(b, "\"><label>User<input name=\"user\" autocomplete=\"username\" required value=\"");
  hb_html(b, user ? user : SI_WEB_USER);
  hb_put(b, "\"></label><label>Password<input type=\"password\" name=\"password\" "
            "autocomplete=\"current-password\" required autofocus></label>"
            "<button type=\"submit\">Log in</button></form></section>\n");
  page_end(r);
}

void page_login(web_req *r) {
  web_auth *a = web_auth_of(r);
  const char *next = web_query(r, "next");
  char csrf[WEB_ID_SIZE];
  const char *cookie = web_cookie(r, SESSION_COOKIE);
  if (web_auth_is_open(a) || (cookie && web_session_get(a, cookie, csrf))) {
    web_redirect(r, safe_next(next));
    return;
  }
  char token[WEB_ID_SIZE];
  const char *old = web_cookie(r, LOGIN_COOKIE);
  if (old && strlen(old) == WEB_ID_SIZE - 1 &&
      strspn(old, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
                  "klmnopqrstuvwxyz0123456789-_") == WEB_ID_SIZE - 1)
    snprintf(token, sizeof token, "%s", old);
  else
    web_random_id(token);
  web_set_cookie(r, LOGIN_COOKIE, token, -1);
  login_form(r, token, next, NULL, NULL);
}

void page_login_post(web_req *r) {
  web_auth *a = web_auth_of(r);
  if (web_auth_is_open(a)) {
    web_redirect(r, "/");
    return;
  }
  const char *cookie = web_cookie(r, LOGIN_COOKIE);
  const char *token = web_form(r, "login_token");
  const char *origin = web_header(r, "Origin");
  hbuf ours = {0};
  web_origin(r, &ours);
  int cross = origin && (!ours.data || strcmp(origin, ours.data) != 0);
  hb_free(&ours);
  if (cross || !cookie || !token || !web_secret_equal(cookie, token)) {
    web_fail(r, 403, "the login form expired or came from another site: load it again");
    return;
  }
  const char *user = web_form(r, "user");
  const char *password = web_form(r, "password");
  const char *next = web_form(r, "next");
  web_check *c = web_check_of(r);
  if (user && password)
    web_check_password(a, user, password, c);
  if (c->state == WEB_CHECK_QUEUED) {
    r->held = 1;
    return;
  }
  if (c->state == WEB_CHECK_LIMITED || c->state == WEB_CHECK_BUSY) {
    char why[120];
    snprintf(why, sizeof why, "%s Try again in %d s.",
             c->state == WEB_CHECK_LIMITED ? "Too many failed sign-ins from your address."
                                           : "Too many sign-ins are being checked.",
             c->retry_after);
    login_form(r, cookie, next, user, why);
    r->status = 429;
    r->retry_after = c->retry_after;
    return;
  }
  if (c->state != WEB_CHECK_RIGHT) {
    si_log(SI_LOG_WARN, "web: failed login for user '%.64s'", user ? user : "");
    login_form(r, cookie, next, user,
               web_auth_has_password(a) ? "Wrong user or password." : "No password is set yet.");
    r->status = 401;
    return;
  }
  char id[WEB_ID_SIZE], csrf[WEB_ID_SIZE];
  web_session_new(a, id, csrf);
  web_set_cookie(r, SESSION_COOKIE, id, WEB_SESSION_MAX_S);
  web_set_cookie(r, LOGIN_COOKIE, "", 0);
  si_log(SI_LOG_INFO, "web: %s logged in", SI_WEB_USER);
  web_redirect(r, safe_next(next));
}

void page_logout(web_req *r) {
  if (r->session[0])
    web_session_end(web_auth_of(r), r->session);
  web_set_cookie(r, SESSION_COOKIE, "", 0);
  web_redirect(r, "/login");
}

/* ---- settings ---- */

/* The value as shown: "postgresql://user:secret@host/db" becomes
 * "postgresql://user:*****@host/db"; whole-value secrets become "*****". */
static void masked(hbuf *b, const char *key, const char *value) {
  if ((strstr(key, "password") || strstr(key, "secret") || strstr(key, "token")) &&
      !strstr(key, "_file")) {
    hb_put(b, "*****");
    return;
  }
  const char *scheme = strstr(value, "://");
  const char *auth = scheme ? scheme + 3 : NULL;
  const char *at = auth ? strchr(auth, '@') : NULL;
  const char *slash = auth ? strchr(auth, '/') : NULL;
  const char *colon = at && (!slash || at < slash) ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  if (!colon) {
    hb_html(b, value);
    return;
  }
  hbuf shown = {0};
  hb_putn(&shown, value, (size_t)(colon - value) + 1);
  hb_put(&shown, "*****");
  hb_put(&shown, at);
  hb_html(b, shown.data ? shown.data : "");
  hb_free(&shown);
}

typedef struct setting {
  char section[64], key[64], source[300], help[300];
} setting;

static void setting_row(hbuf *b, const setting *s, const char *value) {
  hb_put(b, "<tr><td>[");
  hb_html(b, s->section);
  hb_put(b, "] ");
  hb_html(b, s->key);
  hb_put(b, "</td><td class=\"value\">");
  masked(b, s->key, value);
  hb_put(b, "</td><td>");
  hb_html(b, s->source);
  hb_put(b, "</td><td class=\"muted\">");
  hb_html(b, s->help);
  hb_put(b, "</td></tr>\n");
}

/* Reads `sendit config`'s text (si_config_print), so the page and the
 * command can never disagree about what is in force. */
static void settings_table(web_req *r, char *text) {
  hbuf *b = &r->out;
  setting s;
  memset(&s, 0, sizeof s);
  hb_put(b, "<table class=\"settings\"><thead><tr><th>Key</th><th>Value</th><th>From</th>"
            "<th>Meaning</th></tr></thead><tbody>\n");
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '[') {
      snprintf(s.section, sizeof s.section, "%.*s", (int)strcspn(line + 1, "]"), line + 1);
    } else if (strncmp(line, "; source: ", 10) == 0) {
      snprintf(s.source, sizeof s.source, "%s", line + 10);
    } else if (strncmp(line, "; env ", 6) == 0) {
      continue;
    } else if (strncmp(line, "; ", 2) == 0) {
      if (s.section[0])
        snprintf(s.help, sizeof s.help, "%s", line + 2);
    } else if (s.section[0] && strstr(line, " =")) {
      char *eq = strstr(line, " =");
      *eq = '\0';
      snprintf(s.key, sizeof s.key, "%s", line);
      char *value = eq + 2;
      while (*value == ' ')
        value++;
      setting_row(b, &s, value);
    }
  }
  hb_put(b, "</tbody></table>\n");
}

void page_settings(web_req *r) {
  static const char *const known[] = {NULL};
  if (web_only_params(r, known))
    return;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) {
    web_fail(r, 500, "out of memory");
    return;
  }
  si_config_print(web_cfg(r), f);
  fclose(f);
  web_auth *a = web_auth_of(r);
  hbuf *b = &r->out;
  page_begin(r, "Settings", 0);
  hb_put(b, "<h1>Settings</h1><section><h2>Access</h2><dl class=\"grid\">");
  hb_printf(b, "<dt>Authentication</dt><dd>%s</dd>",
            web_auth_is_open(a) ? "none: open to anyone who can reach the address"
                                : "password (user admin)");
  hb_printf(b, "<dt>Password</dt><dd>%s</dd><dt>API token</dt><dd>%s</dd>",
            web_auth_has_password(a) ? "set" : "not set",
            web_auth_has_token(a) ? "set" : "not set");
  hb_put(b, "</dl><p class=\"muted\">Secrets are stored only as argon2id hashes. Change them on "
            "the server with <code>sendit set_password</code> (and <code>--token</code>).</p>"
            "</section>\n<section><h2>Effective configuration</h2>");
  settings_table(r, text ? text : (char *)"");
  hb_put(b, "</section>\n");
  free(text);
  page_end(r);
}
