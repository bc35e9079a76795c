/* DICOM users: see users.h. */
#include "net/users.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/net.h"

typedef struct user_entry {
  char *name;
  size_t name_len;
  char hash[crypto_pwhash_STRBYTES];
} user_entry;

struct net_users {
  user_entry *items;
  size_t count;
  char decoy[crypto_pwhash_STRBYTES]; /* checked for an unknown name */
  pthread_mutex_t lock;               /* one argon2id at a time */
};

/* A users file is short: a few hundred lines at most. */
#define USERS_FILE_MAX (1024 * 1024)

static si_status read_text(const char *path, char **out, si_error *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG,
                        "cannot read the DICOM users file: %s", strerror(errno));
  char *text = malloc(USERS_FILE_MAX + 1);
  size_t n = text ? fread(text, 1, USERS_FILE_MAX + 1, f) : 0;
  int failed = text ? ferror(f) : 1;
  fclose(f);
  if (failed || n > USERS_FILE_MAX) {
    free(text);
    return si_error_set(err, text ? SI_ERR_LIMIT : SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG,
                        text ? "the DICOM users file is larger than 1 MiB" : "out of memory");
  }
  text[n] = '\0';
  *out = text;
  return SI_OK;
}

static si_status add_line(net_users *u, const char *path, size_t lineno, char *line, size_t off,
                          si_error *err) {
  char *colon = strrchr(line, ':');
  size_t hash_len = colon ? strlen(colon + 1) : 0;
  if (!colon || colon == line || hash_len == 0 || hash_len >= crypto_pwhash_STRBYTES ||
      strncmp(colon + 1, "$argon2id$", 10) != 0)
    return si_error_set(err, SI_ERR_FORMAT, path, off, SI_NO_TAG,
                        "line %zu is not username:argon2id-hash (make one with sendit "
                        "set_password --dicom-user NAME)",
                        lineno);
  user_entry *g = realloc(u->items, (u->count + 1) * sizeof *g);
  if (!g)
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  u->items = g;
  user_entry *e = &u->items[u->count];
  e->name_len = (size_t)(colon - line);
  if (!(e->name = malloc(e->name_len + 1)))
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  memcpy(e->name, line, e->name_len);
  e->name[e->name_len] = '\0';
  memcpy(e->hash, colon + 1, hash_len + 1);
  u->count++;
  return SI_OK;
}

si_status net_users_load(const char *path, net_users **out, si_error *err) {
  *out = NULL;
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, path, SI_NO_OFFSET, SI_NO_TAG, "libsodium cannot start");
  char *text;
  si_status st = read_text(path, &text, err);
  if (st != SI_OK)
    return st;
  net_users *u = calloc(1, sizeof *u);
  if (!u) {
    free(text);
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  pthread_mutex_init(&u->lock, NULL);
  size_t lineno = 0;
  for (char *p = text; st == SI_OK && *p;) {
    char *end = p + strcspn(p, "\n");
    int last = *end == '\0';
    *end = '\0';
    lineno++;
    size_t len = strlen(p);
    if (len && p[len - 1] == '\r')
      p[--len] = '\0';
    if (len && p[0] != '#')
      st = add_line(u, path, lineno, p, (size_t)(p - text), err);
    p = last ? end : end + 1;
  }
  free(text);
  if (st == SI_OK && u->count == 0)
    st = si_error_set(err, SI_ERR_FORMAT, path, SI_NO_OFFSET, SI_NO_TAG,
                      "the DICOM users file names no user");
  /* The decoy: a hash of a random passcode, so that a name that is not
   * here costs the same check as one that is. */
  unsigned char random[32];
  randombytes_buf(random, sizeof random);
  if (st == SI_OK &&
      crypto_pwhash_str_alg(u->decoy, (const char *)random, sizeof random,
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    st = si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG,
                      "argon2id ran out of memory");
  if (st != SI_OK) {
    net_users_free(u);
    return st;
  }
  *out = u;
  return SI_OK;
}

void net_users_free(net_users *u) {
  if (!u)
    return;
  for (size_t i = 0; i < u->count; i++)
    free(u->items[i].name);
  free(u->items);
  pthread_mutex_destroy(&u->lock);
  sodium_memzero(u, sizeof *u);
  free(u);
}

int net_users_check(net_users *u, const char *name, size_t nlen, const char *pass, size_t plen) {
  const char *hash = u->decoy;
  int known = 0;
  for (size_t i = 0; i < u->count && !known; i++)
    if (u->items[i].name_len == nlen && memcmp(u->items[i].name, name, nlen) == 0) {
      hash = u->items[i].hash;
      known = 1;
    }
  pthread_mutex_lock(&u->lock);
  int ok = crypto_pwhash_str_verify(hash, pass, plen) == 0;
  pthread_mutex_unlock(&u->lock);
  return known && ok;
}

si_status si_net_user_line(const char *username, const char *password,
                           char line[SI_NET_USER_LINE_SIZE], si_error *err) {
  line[0] = '\0';
  size_t n = strlen(username);
  if (n == 0 || n > 1024 || strpbrk(username, "\r\n") || username[0] == '#' ||
      username[n - 1] == ':')
    return si_error_set(err, SI_ERR_ARG, "username", SI_NO_OFFSET, SI_NO_TAG,
                        "a DICOM username has 1 to 1024 bytes, no line break, does not begin "
                        "with '#' nor end with ':'");
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG, "libsodium cannot start");
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "argon2id ran out of memory");
  snprintf(line, SI_NET_USER_LINE_SIZE, "%s:%s", username, hash);
  sodium_memzero(hash, sizeof hash);
  return SI_OK;
}
