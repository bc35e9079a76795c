/* Credentials and sessions of the web server. The password file holds one
 * argon2id hash per line ("admin:$argon2id$..." and "token:$argon2id$...");
 * the secrets themselves are never stored. Sessions and remembered API
 * credentials live in memory only. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "sendit/fs.h"
#include "sendit/log.h"
#include "sendit/store.h"

enum {
  SESSIONS_MAX = 256,
  REMEMBER_MAX = 32,
  REMEMBER_MS = 5 * 60 * 1000,
  CHECK_FILE_MS = 1000, /* how often the password file is looked at */
  SECRET_MAX = 4096     /* longer passwords are refused, bounding the work */
};

typedef struct session {
  char id[WEB_ID_SIZE]; /* "" = free slot */
  char csrf[WEB_ID_SIZE];
  int64_t created, seen;
} session;

/* Failed attempts of one client address, as a token bucket: WEB_FAIL_BURST
 * tokens, one back every WEB_FAIL_REFILL_S seconds; each verification
 * takes one, a right one gives them all back. */
typedef struct bucket {
  unsigned char client[16];
  int used;
  int warned; /* the log said it is empty */
  double tokens;
  int64_t at; /* ms: when tokens was right */
} bucket;

typedef struct remembered {
  unsigned char mac[crypto_generichash_BYTES];
  int via;
  int64_t until;
} remembered;

struct web_auth {
  int open;
  char *path;
  pthread_mutex_t lock; /* everything below */
  int64_t checked_at;
  struct stat seen; /* of the password file when last read */
  int have_file;
  char password_hash[crypto_pwhash_STRBYTES];
  char token_hash[crypto_pwhash_STRBYTES];
  unsigned char mac_key[crypto_generichash_KEYBYTES];
  remembered memory[REMEMBER_MAX];
  session sessions[SESSIONS_MAX];
  /* The verifier: one thread, so at most one argon2id at a time. */
  pthread_mutex_t queue_lock; /* everything below */
  pthread_cond_t queue_cond;
  web_check *head, *tail;
  int queued;
  int stopping;
  pthread_t verifier;
  int verifier_started;
  bucket buckets[WEB_CLIENTS_MAX];
};

_Static_assert(sizeof(((web_check *)0)->mac) == crypto_generichash_BYTES, "mac size");

static const char header_line[] =
    "# sendit web credentials: argon2id hashes written by `sendit set_password`.\n";

void web_random_id(char out[WEB_ID_SIZE]) {
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  sodium_bin2base64(out, WEB_ID_SIZE, bytes, sizeof bytes,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(bytes, sizeof bytes);
}

int web_secret_equal(const char *a, const char *b) {
  size_t n = strlen(a);
  return n == strlen(b) && sodium_memcmp(a, b, n) == 0;
}

/* ---- the password file ---- */

/* The hash stored for `name` in text (a copy of the file), into out. */
static void find_hash(const char *text, const char *name, char out[crypto_pwhash_STRBYTES]) {
  out[0] = '\0';
  size_t n = strlen(name);
  for (const char *line = text; *line;) {
    const char *end = strchr(line, '\n');
    if (strncmp(line, name, n) == 0 && line[n] == ':') {
      const char *h = line + n + 1;
      size_t len = strcspn(h, "\r\n");
      if (len < crypto_pwhash_STRBYTES) {
        memcpy(out, h, len);
        out[len] = '\0';
      }
      return;
    }
    if (!end)
      break;
    line = end + 1;
  }
}

/* Whole file as a string (NULL when missing or unreadable). */
static char *read_small_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *text = calloc(1, 8192);
  size_t n = text ? fread(text, 1, 8191, f) : 0;
  (void)n;
  fclose(f);
  return text;
}

static void forget_everything(web_auth *a) {
  memset(a->sessions, 0, sizeof a->sessions);
  sodium_memzero(a->memory, sizeof a->memory);
}

/* Re-reads the file when it changed; called with the lock held. A new
 * password ends every session: whoever changes it wants the old one out. */
static void refresh(web_auth *a) {
  int64_t now = si_now_ms();
  if (a->checked_at && now - a->checked_at < CHECK_FILE_MS)
    return;
  a->checked_at = now;
  struct stat st;
  int exists = stat(a->path, &st) == 0;
  if (exists == a->have_file &&
      (!exists || (st.st_ino == a->seen.st_ino && st.st_size == a->seen.st_size &&
                   st.st_mtim.tv_sec == a->seen.st_mtim.tv_sec &&
                   st.st_mtim.tv_nsec == a->seen.st_mtim.tv_nsec)))
    return;
  char *text = exists ? read_small_file(a->path) : NULL;
  char password[crypto_pwhash_STRBYTES], token[crypto_pwhash_STRBYTES];
  find_hash(text ? text : "", SI_WEB_USER, password);
  find_hash(text ? text : "", "token", token);
  free(text);
  if (strcmp(password, a->password_hash) != 0) {
    forget_everything(a);
    if (a->have_file || exists)
      si_log(SI_LOG_INFO, "web: %s password from %s", password[0] ? "new" : "no", a->path);
  }
  if (strcmp(token, a->token_hash) != 0)
    sodium_memzero(a->memory, sizeof a->memory);
  memcpy(a->password_hash, password, sizeof password);
  memcpy(a->token_hash, token, sizeof token);
  a->have_file = exists;
  if (exists)
    a->seen = st;
}

static void *verifier_main(void *arg);

si_status web_auth_new(const si_config *cfg, web_auth **out, si_error *err) {
  *out = NULL;
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG, "libsodium cannot start");
  web_auth *a = calloc(1, sizeof *a);
  if (!a || !(a->path = strdup(cfg->web_password_file))) {
    free(a);
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  }
  a->open = strcmp(cfg->web_auth, "none") == 0;
  pthread_mutex_init(&a->lock, NULL);
  pthread_mutex_init(&a->queue_lock, NULL);
  pthread_cond_init(&a->queue_cond, NULL);
  crypto_generichash_keygen(a->mac_key);
  pthread_mutex_lock(&a->lock);
  refresh(a);
  pthread_mutex_unlock(&a->lock);
  if (!a->open) {
    if (pthread_create(&a->verifier, NULL, verifier_main, a) != 0) {
      web_auth_free(a);
      return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG,
                          "cannot start the password verifier thread");
    }
    a->verifier_started = 1;
  }
  *out = a;
  return SI_OK;
}

void web_auth_stop(web_auth *a) {
  if (!a)
    return;
  pthread_mutex_lock(&a->queue_lock);
  a->stopping = 1;
  pthread_cond_broadcast(&a->queue_cond);
  pthread_mutex_unlock(&a->queue_lock);
  if (a->verifier_started)
    pthread_join(a->verifier, NULL);
  a->verifier_started = 0;
}

void web_auth_free(web_auth *a) {
  if (!a)
    return;
  web_auth_stop(a);
  pthread_mutex_destroy(&a->lock);
  pthread_mutex_destroy(&a->queue_lock);
  pthread_cond_destroy(&a->queue_cond);
  free(a->path);
  sodium_memzero(a, sizeof *a);
  free(a);
}

int web_auth_is_open(const web_auth *a) { return a->open; }

int web_auth_ready(web_auth *a) {
  pthread_mutex_lock(&a->lock);
  refresh(a);
  int ready = a->password_hash[0] != '\0' || a->token_hash[0] != '\0';
  pthread_mutex_unlock(&a->lock);
  return ready;
}

int web_auth_has_password(web_auth *a) {
  pthread_mutex_lock(&a->lock);
  refresh(a);
  int set = a->password_hash[0] != '\0';
  pthread_mutex_unlock(&a->lock);
  return set;
}

int web_auth_has_token(web_auth *a) {
  pthread_mutex_lock(&a->lock);
  refresh(a);
  int set = a->token_hash[0] != '\0';
  pthread_mutex_unlock(&a->lock);
  return set;
}

/* argon2id against the hash of `which`, on the verifier thread. */
static int verify(web_auth *a, si_web_secret which, const char *secret, size_t len) {
  char hash[crypto_pwhash_STRBYTES];
  pthread_mutex_lock(&a->lock);
  refresh(a);
  memcpy(hash, which == SI_WEB_PASSWORD ? a->password_hash : a->token_hash, sizeof hash);
  pthread_mutex_unlock(&a->lock);
  if (!hash[0] || len > SECRET_MAX)
    return 0;
  return crypto_pwhash_str_verify(hash, secret, len) == 0;
}

/* ---- Authorization headers ---- */

static void mac_of(web_auth *a, int via, const char *cred, size_t len,
                   unsigned char out[crypto_generichash_BYTES]) {
  crypto_generichash_state st;
  unsigned char tag = (unsigned char)via;
  crypto_generichash_init(&st, a->mac_key, sizeof a->mac_key, crypto_generichash_BYTES);
  crypto_generichash_update(&st, &tag, 1);
  crypto_generichash_update(&st, (const unsigned char *)cred, len);
  crypto_generichash_final(&st, out, crypto_generichash_BYTES);
}

static int recall(web_auth *a, const unsigned char *mac, int via) {
  int64_t now = si_now_ms();
  int found = 0;
  pthread_mutex_lock(&a->lock);
  refresh(a);
  for (int i = 0; i < REMEMBER_MAX; i++) {
    remembered *m = &a->memory[i];
    if (m->until > now && m->via == via && sodium_memcmp(m->mac, mac, sizeof m->mac) == 0)
      found = 1;
  }
  pthread_mutex_unlock(&a->lock);
  return found;
}

static void remember(web_auth *a, const unsigned char *mac, int via) {
  pthread_mutex_lock(&a->lock);
  int slot = 0;
  for (int i = 1; i < REMEMBER_MAX; i++)
    if (a->memory[i].until < a->memory[slot].until)
      slot = i;
  memcpy(a->memory[slot].mac, mac, crypto_generichash_BYTES);
  a->memory[slot].via = via;
  a->memory[slot].until = si_now_ms() + REMEMBER_MS;
  pthread_mutex_unlock(&a->lock);
}

/* "admin:password" from the base64 of a Basic header, into buf. */
static int decode_basic(const char *b64, char *buf, size_t size, size_t *len) {
  if (sodium_base642bin((unsigned char *)buf, size - 1, b64, strlen(b64), NULL, len, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return -1;
  buf[*len] = '\0';
  return memchr(buf, '\0', *len) ? -1 : 0;
}

/* ---- the verifier and the failed-attempt buckets ---- */

/* How little forgetting b would lose: a free slot loses nothing. */
static double spare(const bucket *b) { return b->used ? b->tokens : WEB_FAIL_BURST + 1.0; }

/* The bucket of c's address, refilled to now; called with queue_lock held.
 * A new address takes a free slot, else the one with the most tokens (the
 * least to lose by forgetting it). */
static bucket *bucket_of(web_auth *a, const unsigned char client[16], int64_t now) {
  bucket *best = NULL;
  for (int i = 0; i < WEB_CLIENTS_MAX; i++) {
    bucket *b = &a->buckets[i];
    if (b->used) {
      b->tokens += (double)(now - b->at) / (WEB_FAIL_REFILL_S * 1000.0);
      if (b->tokens >= WEB_FAIL_BURST)
        b->tokens = WEB_FAIL_BURST;
      if (b->tokens >= 1)
        b->warned = 0;
      b->at = now;
      if (memcmp(b->client, client, 16) == 0)
        return b;
    }
    if (!best || spare(b) > spare(best))
      best = b;
  }
  memcpy(best->client, client, 16);
  best->used = 1;
  best->warned = 0;
  best->tokens = WEB_FAIL_BURST;
  best->at = now;
  return best;
}

/* Queues c for argon2id, or says why not (BUSY, LIMITED). The secret is
 * copied: the request's buffers may move while it waits. */
static void submit(web_auth *a, web_check *c, si_web_secret which, const char *secret, size_t len,
                   int user_ok) {
  pthread_mutex_lock(&a->queue_lock);
  bucket *b = NULL;
  if (a->stopping || !a->verifier_started || a->queued >= WEB_VERIFY_QUEUE_MAX) {
    c->state = WEB_CHECK_BUSY;
    c->retry_after = 1;
  } else if ((b = bucket_of(a, c->client, si_now_ms()))->tokens < 1) {
    c->state = WEB_CHECK_LIMITED;
    c->retry_after = (int)((1 - b->tokens) * WEB_FAIL_REFILL_S) + 1;
    if (!b->warned)
      si_log(SI_LOG_WARN,
             "web: %d failed sign-ins from %s: its credentials are refused for a while (one "
             "more try every %d s)",
             WEB_FAIL_BURST, c->client_text, WEB_FAIL_REFILL_S);
    b->warned = 1;
  } else if (!(c->secret = malloc(len + 1))) {
    c->state = WEB_CHECK_BUSY;
    c->retry_after = 1;
  } else {
    b->tokens -= 1;
    memcpy(c->secret, secret, len);
    c->secret[len] = '\0';
    c->len = len;
    c->which = which;
    c->user_ok = user_ok;
    c->state = WEB_CHECK_QUEUED;
    c->next = NULL;
    /* Held before the verifier can see it, so the release never comes
     * before the hold. */
    c->hold(c->user);
    if (a->tail)
      a->tail->next = c;
    else
      a->head = c;
    a->tail = c;
    a->queued++;
    pthread_cond_signal(&a->queue_cond);
  }
  pthread_mutex_unlock(&a->queue_lock);
}

static web_check *next_check(web_auth *a) {
  pthread_mutex_lock(&a->queue_lock);
  while (!a->head && !a->stopping)
    pthread_cond_wait(&a->queue_cond, &a->queue_lock);
  web_check *c = a->head;
  if (c) {
    a->head = c->next;
    if (!a->head)
      a->tail = NULL;
    a->queued--;
  }
  pthread_mutex_unlock(&a->queue_lock);
  return c;
}

/* Runs the queued verifications one by one; once stopping, the rest are
 * released BUSY without one, so the server can stop at once. */
static void *verifier_main(void *arg) {
  web_auth *a = arg;
  web_check *c;
  while ((c = next_check(a))) {
    pthread_mutex_lock(&a->queue_lock);
    int stopping = a->stopping;
    pthread_mutex_unlock(&a->queue_lock);
    int ok = !stopping && verify(a, c->which, c->secret, c->len) && c->user_ok;
    sodium_memzero(c->secret, c->len);
    free(c->secret);
    c->secret = NULL;
    if (ok && c->via)
      remember(a, c->mac, c->via);
    pthread_mutex_lock(&a->queue_lock);
    if (ok) /* the right secret: this address is no guesser */
      bucket_of(a, c->client, si_now_ms())->tokens = WEB_FAIL_BURST;
    c->state = stopping ? WEB_CHECK_BUSY : ok ? WEB_CHECK_RIGHT : WEB_CHECK_WRONG;
    c->retry_after = 1;
    pthread_mutex_unlock(&a->queue_lock);
    c->release(c->user); /* c may be gone after this */
  }
  return NULL;
}

static void check_credential(web_auth *a, int via, const char *cred, size_t len, web_check *c) {
  c->via = via;
  mac_of(a, via, cred, len, c->mac);
  if (recall(a, c->mac, via)) {
    c->state = WEB_CHECK_RIGHT;
    return;
  }
  if (via == WEB_VIA_BEARER) {
    submit(a, c, SI_WEB_TOKEN, cred, len, 1);
    return;
  }
  /* The verification runs whatever the user name, so timing tells nothing. */
  const char *colon = memchr(cred, ':', len);
  size_t user_len = colon ? (size_t)(colon - cred) : 0;
  int user_ok = user_len == strlen(SI_WEB_USER) && memcmp(cred, SI_WEB_USER, user_len) == 0;
  if (!colon)
    c->state = WEB_CHECK_WRONG;
  else
    submit(a, c, SI_WEB_PASSWORD, colon + 1, len - user_len - 1, user_ok);
}

void web_check_header(web_auth *a, const char *authorization, web_check *c) {
  if (c->state != WEB_CHECK_NEW)
    return;
  c->state = WEB_CHECK_WRONG;
  const char *p = authorization;
  int via;
  if (strncasecmp(p, "Basic ", 6) == 0)
    via = WEB_VIA_BASIC;
  else if (strncasecmp(p, "Bearer ", 7) == 0)
    via = WEB_VIA_BEARER;
  else
    return;
  p += via == WEB_VIA_BASIC ? 6 : 7;
  while (*p == ' ')
    p++;
  size_t len = strlen(p);
  while (len && p[len - 1] == ' ')
    len--;
  if (len == 0 || len > SECRET_MAX)
    return;
  if (via == WEB_VIA_BEARER) {
    check_credential(a, via, p, len, c);
    return;
  }
  char encoded[SECRET_MAX + 1], decoded[SECRET_MAX + 1];
  memcpy(encoded, p, len);
  encoded[len] = '\0';
  size_t n = 0;
  if (decode_basic(encoded, decoded, sizeof decoded, &n) == 0)
    check_credential(a, via, decoded, n, c);
  sodium_memzero(decoded, sizeof decoded);
}

void web_check_password(web_auth *a, const char *user, const char *password, web_check *c) {
  if (c->state != WEB_CHECK_NEW)
    return;
  c->via = 0;
  size_t len = strlen(password);
  if (len > SECRET_MAX) {
    c->state = WEB_CHECK_WRONG;
    return;
  }
  submit(a, c, SI_WEB_PASSWORD, password, len, strcmp(user, SI_WEB_USER) == 0);
}

/* ---- sessions ---- */

static int expired(const session *s, int64_t now) {
  return now - s->seen > (int64_t)WEB_SESSION_IDLE_S * 1000 ||
         now - s->created > (int64_t)WEB_SESSION_MAX_S * 1000;
}

int web_session_new(web_auth *a, char id[WEB_ID_SIZE], char csrf[WEB_ID_SIZE]) {
  int64_t now = si_now_ms();
  web_random_id(id);
  web_random_id(csrf);
  pthread_mutex_lock(&a->lock);
  refresh(a);
  /* A free or expired slot, else the least recently used one. */
  int slot = 0;
  for (int i = 0; i < SESSIONS_MAX; i++) {
    session *s = &a->sessions[i];
    if (!s->id[0] || expired(s, now)) {
      slot = i;
      break;
    }
    if (s->seen < a->sessions[slot].seen)
      slot = i;
  }
  session *s = &a->sessions[slot];
  memcpy(s->id, id, WEB_ID_SIZE);
  memcpy(s->csrf, csrf, WEB_ID_SIZE);
  s->created = s->seen = now;
  pthread_mutex_unlock(&a->lock);
  return 1;
}

static session *find_session(web_auth *a, const char *id, int64_t now) {
  if (strlen(id) != WEB_ID_SIZE - 1)
    return NULL;
  for (int i = 0; i < SESSIONS_MAX; i++) {
    session *s = &a->sessions[i];
    if (s->id[0] && sodium_memcmp(s->id, id, WEB_ID_SIZE - 1) == 0) {
      if (!expired(s, now))
        return s;
      memset(s, 0, sizeof *s);
    }
  }
  return NULL;
}

int web_session_get(web_auth *a, const char *id, char csrf[WEB_ID_SIZE]) {
  int64_t now = si_now_ms();
  pthread_mutex_lock(&a->lock);
  refresh(a);
  session *s = find_session(a, id, now);
  if (s) {
    s->seen = now;
    memcpy(csrf, s->csrf, WEB_ID_SIZE);
  }
  pthread_mutex_unlock(&a->lock);
  return s != NULL;
}

void web_session_end(web_auth *a, const char *id) {
  pthread_mutex_lock(&a->lock);
  session *s = find_session(a, id, si_now_ms());
  if (s)
    memset(s, 0, sizeof *s);
  pthread_mutex_unlock(&a->lock);
}

/* ---- sendit set_password ---- */

si_status si_web_new_token(char out[SI_WEB_TOKEN_SIZE], si_error *err) {
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG, "libsodium cannot start");
  char id[WEB_ID_SIZE];
  web_random_id(id);
  snprintf(out, SI_WEB_TOKEN_SIZE, "sit_%s", id);
  sodium_memzero(id, sizeof id);
  return SI_OK;
}

/* Writes text to path through a temporary file and a rename, so a reader
 * never sees half a file, with mode 0600 from the start. */
static si_status replace_file(const char *path, const char *text, si_error *err) {
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp)
    return si_error_set(err, SI_ERR_NOMEM, path, SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    si_status st = si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG,
                                "cannot create a file beside it: %s", strerror(errno));
    free(tmp);
    return st;
  }
  size_t len = strlen(text);
  int ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    si_status st = si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "cannot write: %s",
                                strerror(errno));
    unlink(tmp);
    free(tmp);
    return st;
  }
  free(tmp);
  char *dir = strdup(path);
  char *slash = dir ? strrchr(dir, '/') : NULL;
  if (slash)
    *slash = '\0';
  si_status st = dir ? si_fsync_dir(slash ? (dir[0] ? dir : "/") : ".", err) : SI_OK;
  free(dir);
  return st;
}

si_status si_web_set_secret(const char *path, si_web_secret which, const char *secret,
                            si_error *err) {
  if (sodium_init() < 0)
    return si_error_set(err, SI_ERR_STATE, NULL, SI_NO_OFFSET, SI_NO_TAG, "libsodium cannot start");
  size_t len = strlen(secret);
  if (which == SI_WEB_PASSWORD && len < SI_WEB_PASSWORD_MIN)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "the password needs at least %d characters", SI_WEB_PASSWORD_MIN);
  if (len > SECRET_MAX)
    return si_error_set(err, SI_ERR_ARG, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "the secret is longer than %d characters", SECRET_MAX);
  char hashes[2][crypto_pwhash_STRBYTES];
  char *old = read_small_file(path);
  find_hash(old ? old : "", SI_WEB_USER, hashes[SI_WEB_PASSWORD]);
  find_hash(old ? old : "", "token", hashes[SI_WEB_TOKEN]);
  free(old);
  if (crypto_pwhash_str_alg(hashes[which], secret, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG,
                        "argon2id ran out of memory");
  hbuf text = {0};
  hb_put(&text, header_line);
  if (hashes[SI_WEB_PASSWORD][0])
    hb_printf(&text, "%s:%s\n", SI_WEB_USER, hashes[SI_WEB_PASSWORD]);
  if (hashes[SI_WEB_TOKEN][0])
    hb_printf(&text, "token:%s\n", hashes[SI_WEB_TOKEN]);
  si_status st =
      text.oom ? si_error_set(err, SI_ERR_NOMEM, NULL, SI_NO_OFFSET, SI_NO_TAG, "out of memory")
               : replace_file(path, text.data, err);
  hb_free(&text);
  return st;
}
