/* TLS over OpenSSL, loaded on first use: see tls.h. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util/dl.h"

/* clang-format off */
#define NET_SSL_FUNCTIONS(X) \
  X(TLS_client_method) X(TLS_server_method) X(SSL_CTX_new) X(SSL_CTX_free) X(SSL_CTX_ctrl) \
  X(SSL_CTX_set_options) X(SSL_CTX_use_certificate_chain_file) X(SSL_CTX_use_PrivateKey_file) \
  X(SSL_CTX_check_private_key) X(SSL_CTX_load_verify_locations) \
  X(SSL_CTX_set_default_verify_paths) X(SSL_CTX_set_verify) X(SSL_CTX_set_client_CA_list) \
  X(SSL_load_client_CA_file) X(SSL_new) X(SSL_free) X(SSL_set_fd) X(SSL_connect) X(SSL_accept) \
  X(SSL_read_ex) X(SSL_write_ex) X(SSL_get_error) X(SSL_shutdown) X(SSL_get_verify_result) \
  X(SSL_set1_host) X(SSL_ctrl) X(SSL_get0_param) X(SSL_get_version) X(SSL_get_current_cipher) \
  X(SSL_CIPHER_get_name) X(SSL_get1_peer_certificate)
#define NET_CRYPTO_FUNCTIONS(X) \
  X(ERR_get_error) X(ERR_peek_error) X(ERR_clear_error) X(ERR_reason_error_string) \
  X(X509_verify_cert_error_string) X(X509_get_subject_name) X(X509_NAME_oneline) X(X509_free) \
  X(X509_VERIFY_PARAM_set1_ip_asc)
/* clang-format on */

static struct {
#define NET_TLS_DECLARE(name) __typeof__(name) *name;
  NET_SSL_FUNCTIONS(NET_TLS_DECLARE) NET_CRYPTO_FUNCTIONS(NET_TLS_DECLARE)
#undef NET_TLS_DECLARE
} api;
static char load_problem[512]; /* why OpenSSL could not be loaded, "" when it was */

#define NET_TLS_NAME(name) #name,
#define NET_TLS_SLOT(name) (void **)&api.name,
static void load_openssl(void) {
  static const char *const ssl_names[] = {NET_SSL_FUNCTIONS(NET_TLS_NAME)};
  void **const ssl_slots[] = {NET_SSL_FUNCTIONS(NET_TLS_SLOT)};
  static const char *const crypto_names[] = {NET_CRYPTO_FUNCTIONS(NET_TLS_NAME)};
  void **const crypto_slots[] = {NET_CRYPTO_FUNCTIONS(NET_TLS_SLOT)};
  if (si_dl_resolve("libssl.so.3", ssl_names, ssl_slots, sizeof ssl_names / sizeof ssl_names[0],
                    load_problem, sizeof load_problem))
    si_dl_resolve("libcrypto.so.3", crypto_names, crypto_slots,
                  sizeof crypto_names / sizeof crypto_names[0], load_problem, sizeof load_problem);
}
#undef NET_TLS_NAME
#undef NET_TLS_SLOT

static int loaded(si_error *err) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, load_openssl);
  if (!load_problem[0])
    return 1;
  si_error_set(err, SI_ERR_UNSUPPORTED, "TLS", SI_NO_OFFSET, SI_NO_TAG,
               "cannot load OpenSSL (Debian package libssl3): %s", load_problem);
  return 0;
}

struct net_tls_ctx {
  SSL_CTX *ctx;
  int server, verify;
};

typedef struct tls_session {
  SSL *ssl;
  int fd;
} tls_session;

/* OpenSSL's reason for the last failure on this thread ("" when none);
 * empties the thread's error queue. */
static const char *ssl_reason(char *buf, size_t size) {
  unsigned long e = api.ERR_get_error(), next;
  while ((next = api.ERR_get_error()) != 0)
    ; /* the first is the cause; the rest are its consequences */
  const char *r = e ? api.ERR_reason_error_string(e) : NULL;
  snprintf(buf, size, "%s", r ? r : (e ? "unknown OpenSSL error" : ""));
  return buf;
}

#define SYSTEM_CAS "the system's CA certificates"
static si_status file_error(si_error *err, const char *path, const char *what) {
  char why[256];
  ssl_reason(why, sizeof why);
  /* OpenSSL's reason for a missing file is only "system lib". */
  FILE *f = strcmp(path, SYSTEM_CAS) != 0 ? fopen(path, "r") : NULL;
  if (!f && strcmp(path, SYSTEM_CAS) != 0)
    snprintf(why, sizeof why, "%s", strerror(errno));
  else if (f)
    fclose(f);
  return si_error_set(err, SI_ERR_IO, path, SI_NO_OFFSET, SI_NO_TAG, "TLS: cannot load %s: %s",
                      what, why[0] ? why : "unreadable");
}

si_status net_tls_ctx_new(const si_net_tls *cfg, int server, net_tls_ctx **out, si_error *err) {
  *out = NULL;
  if (!loaded(err))
    return err ? err->code : SI_ERR_UNSUPPORTED;
  if (server && (!cfg->cert || !cfg->cert[0] || !cfg->key || !cfg->key[0]))
    return si_error_set(err, SI_ERR_ARG, "TLS", SI_NO_OFFSET, SI_NO_TAG,
                        "a TLS listener needs a certificate and its key");
  if ((cfg->cert && cfg->cert[0]) != (cfg->key && cfg->key[0]))
    return si_error_set(err, SI_ERR_ARG, "TLS", SI_NO_OFFSET, SI_NO_TAG,
                        "a TLS certificate needs its key and a key its certificate");
  net_tls_ctx *c = calloc(1, sizeof *c);
  if (!c)
    return si_error_set(err, SI_ERR_NOMEM, "TLS", SI_NO_OFFSET, SI_NO_TAG, "out of memory");
  c->server = server;
  c->verify = !cfg->no_verify;
  api.ERR_clear_error();
  c->ctx = api.SSL_CTX_new(server ? api.TLS_server_method() : api.TLS_client_method());
  si_status st = SI_OK;
  if (!c->ctx) {
    char why[256];
    st = si_error_set(err, SI_ERR_NOMEM, "TLS", SI_NO_OFFSET, SI_NO_TAG,
                      "TLS: cannot make a context: %s", ssl_reason(why, sizeof why));
    goto fail;
  }
  /* PS3.15 B.9 (BCP 195): TLS 1.2 at least. A peer that closes without a
   * close_notify (most DICOM peers) ends the stream as a plain close does. */
  api.SSL_CTX_ctrl(c->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
  api.SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  api.SSL_CTX_ctrl(c->ctx, SSL_CTRL_MODE,
                   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
  if (cfg->cert && cfg->cert[0]) {
    if (api.SSL_CTX_use_certificate_chain_file(c->ctx, cfg->cert) != 1) {
      st = file_error(err, cfg->cert, "the certificate");
      goto fail;
    }
    if (api.SSL_CTX_use_PrivateKey_file(c->ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
      st = file_error(err, cfg->key, "the private key");
      goto fail;
    }
    if (api.SSL_CTX_check_private_key(c->ctx) != 1) {
      st = file_error(err, cfg->key, "the private key of that certificate");
      goto fail;
    }
  }
  int want_peer = c->verify && (!server || (cfg->ca && cfg->ca[0]));
  if (want_peer) {
    int ok = cfg->ca && cfg->ca[0] ? api.SSL_CTX_load_verify_locations(c->ctx, cfg->ca, NULL)
                                   : api.SSL_CTX_set_default_verify_paths(c->ctx);
    if (ok != 1) {
      st = file_error(err, cfg->ca && cfg->ca[0] ? cfg->ca : SYSTEM_CAS, "the CA certificates");
      goto fail;
    }
    if (server) {
      /* Tell clients which CAs we trust, so they pick the right certificate. */
      STACK_OF(X509_NAME) *names = api.SSL_load_client_CA_file(cfg->ca);
      if (names)
        api.SSL_CTX_set_client_CA_list(c->ctx, names);
    }
  }
  api.SSL_CTX_set_verify(c->ctx,
                         want_peer
                             ? SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0)
                             : SSL_VERIFY_NONE,
                         NULL);
  *out = c;
  return SI_OK;
fail:
  net_tls_ctx_free(c);
  return st;
}

void net_tls_ctx_free(net_tls_ctx *c) {
  if (!c)
    return;
  if (c->ctx)
    api.SSL_CTX_free(c->ctx);
  free(c);
}

/* OpenSSL writes with write(2): a peer gone away would raise SIGPIPE in a
 * program that does not ignore it (the daemon does; `sendit send` may
 * not). The signal is held back on this thread and a pending one dropped. */
typedef struct pipe_guard {
  sigset_t old;
  int pending_before;
} pipe_guard;

static void guard_begin(pipe_guard *g) {
  sigset_t pipe_only, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigpending(&pending);
  g->pending_before = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old);
}

static void guard_end(pipe_guard *g) {
  sigset_t pipe_only, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigpending(&pending);
  if (!g->pending_before && sigismember(&pending, SIGPIPE)) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* What to do after a call that did not succeed: wait for the socket (1),
 * the stream ended (NET_IO_EOF) or failed (NET_IO_ERROR, err filled). */
static int after_failure(tls_session *s, int r, int64_t deadline, const char *doing, net_io *io,
                         si_error *err) {
  int e = api.SSL_get_error(s->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    int w = net_wait_fd(s->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
    if (w > 0)
      return 1;
    if (w == 0) {
      si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG,
                   e == SSL_ERROR_WANT_READ ? "nothing received within the timeout"
                                            : "the peer took nothing within the timeout");
      *io = NET_IO_TIMEOUT;
    } else {
      si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG, "poll: %s", strerror(errno));
      *io = NET_IO_ERROR;
    }
    return 0;
  }
  char why[256];
  if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
    api.ERR_clear_error();
    si_error_set(err, SI_ERR_TRUNCATED, "peer", SI_NO_OFFSET, SI_NO_TAG,
                 "the peer closed the connection");
    *io = NET_IO_EOF;
  } else if (e == SSL_ERROR_SYSCALL) {
    int saved = errno;
    api.ERR_clear_error();
    si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG, "TLS %s: %s", doing,
                 strerror(saved));
    *io = saved == EPIPE || saved == ECONNRESET ? NET_IO_EOF : NET_IO_ERROR;
  } else {
    si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG, "TLS %s: %s", doing,
                 ssl_reason(why, sizeof why));
    *io = NET_IO_ERROR;
  }
  return 0;
}

static net_io tls_read(void *session, void *buf, size_t n, int64_t deadline, size_t *got,
                       si_error *err) {
  tls_session *s = session;
  size_t done = 0;
  net_io io = NET_IO_OK;
  while (done < n) {
    size_t r = 0;
    api.ERR_clear_error();
    errno = 0;
    if (api.SSL_read_ex(s->ssl, (uint8_t *)buf + done, n - done, &r) == 1) {
      done += r;
      continue;
    }
    if (!after_failure(s, 0, deadline, "read", &io, err))
      break;
  }
  if (got)
    *got = done;
  return io;
}

/* A write refused by a peer that closed: the alert it sent first (in TLS
 * 1.3 a server refuses a client certificate after the client's handshake
 * is done, so the client learns it here) says more than "reset". */
static void peer_alert(tls_session *s, si_error *err) {
  uint8_t byte;
  size_t r = 0;
  api.ERR_clear_error();
  if (api.SSL_read_ex(s->ssl, &byte, 1, &r) == 1 || api.SSL_get_error(s->ssl, 0) != SSL_ERROR_SSL) {
    api.ERR_clear_error();
    return;
  }
  char why[256];
  ssl_reason(why, sizeof why);
  if (why[0])
    si_error_set(err, SI_ERR_IO, "peer", SI_NO_OFFSET, SI_NO_TAG, "TLS: the peer refused: %s", why);
}

static net_io write_bytes(tls_session *s, const uint8_t *p, size_t n, int64_t deadline,
                          si_error *err) {
  net_io io = NET_IO_OK;
  pipe_guard g;
  guard_begin(&g);
  while (n > 0) {
    size_t w = 0;
    api.ERR_clear_error();
    errno = 0;
    if (api.SSL_write_ex(s->ssl, p, n, &w) == 1) {
      p += w;
      n -= w;
      continue;
    }
    if (!after_failure(s, 0, deadline, "write", &io, err))
      break;
  }
  guard_end(&g);
  if (io == NET_IO_EOF || io == NET_IO_ERROR)
    peer_alert(s, err);
  return io;
}

/* A P-DATA-TF goes as a 12-byte header and its data: both are gathered
 * into full TLS records (16 KiB) rather than a record for the header
 * alone; a large piece beyond the first record goes as it is. */
#define TLS_RECORD 16384
static net_io tls_write(void *session, const struct iovec *iov, int iovcnt, int64_t deadline,
                        si_error *err) {
  tls_session *s = session;
  uint8_t stage[TLS_RECORD];
  size_t staged = 0;
  for (int i = 0; i < iovcnt; i++) {
    const uint8_t *p = iov[i].iov_base;
    size_t left = iov[i].iov_len;
    while (left > 0) {
      if (staged == 0 && left >= TLS_RECORD) {
        size_t whole = left - left % TLS_RECORD;
        net_io io = write_bytes(s, p, whole, deadline, err);
        if (io != NET_IO_OK)
          return io;
        p += whole;
        left -= whole;
        continue;
      }
      size_t take = TLS_RECORD - staged < left ? TLS_RECORD - staged : left;
      memcpy(stage + staged, p, take);
      staged += take;
      p += take;
      left -= take;
      if (staged == TLS_RECORD) {
        net_io io = write_bytes(s, stage, staged, deadline, err);
        if (io != NET_IO_OK)
          return io;
        staged = 0;
      }
    }
  }
  return staged ? write_bytes(s, stage, staged, deadline, err) : NET_IO_OK;
}

static void tls_close(void *session) {
  tls_session *s = session;
  pipe_guard g;
  guard_begin(&g);
  api.ERR_clear_error();
  (void)api.SSL_shutdown(s->ssl); /* a close_notify if it goes at once; no wait for the peer's */
  api.ERR_clear_error();
  guard_end(&g);
  api.SSL_free(s->ssl);
  free(s);
}

static const net_link_ops tls_ops = {tls_read, tls_write, tls_close};

static int numeric_address(const char *host) {
  unsigned char b[16];
  return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* The handshake's failure in words: the certificate check's verdict when
 * it was that, else OpenSSL's reason, else the socket's. */
static si_status handshake_error(tls_session *s, const char *who, int r, si_error *err) {
  char why[256] = "";
  int e = api.SSL_get_error(s->ssl, r);
  int saved = errno;
  ssl_reason(why, sizeof why);
  long v = api.SSL_get_verify_result(s->ssl);
  if (v != X509_V_OK)
    return si_error_set(err, SI_ERR_IO, who, SI_NO_OFFSET, SI_NO_TAG,
                        "TLS handshake failed: the peer's certificate is refused: %s%s%s",
                        api.X509_verify_cert_error_string(v), why[0] ? " - " : "", why);
  if (!why[0])
    snprintf(why, sizeof why, "%s",
             e == SSL_ERROR_SYSCALL && saved ? strerror(saved)
                                             : "the peer closed the connection (not TLS?)");
  return si_error_set(err, SI_ERR_IO, who, SI_NO_OFFSET, SI_NO_TAG, "TLS handshake failed: %s",
                      why);
}

si_status net_tls_handshake(net_tls_ctx *c, int fd, const char *host, int64_t deadline,
                            const atomic_int *stop, net_secure *out, si_error *err) {
  out->ops = NULL;
  out->session = NULL;
  const char *who = host ? host : "peer";
  tls_session *s = calloc(1, sizeof *s);
  api.ERR_clear_error();
  if (!s || !(s->ssl = api.SSL_new(c->ctx))) {
    free(s);
    return si_error_set(err, SI_ERR_NOMEM, who, SI_NO_OFFSET, SI_NO_TAG, "TLS: out of memory");
  }
  s->fd = fd;
  api.SSL_set_fd(s->ssl, fd);
  if (host && c->verify) {
    /* The certificate must name the host asked for: a DNS name, or an
     * address in its IP subjectAltName. */
    int ok = numeric_address(host)
                 ? api.X509_VERIFY_PARAM_set1_ip_asc(api.SSL_get0_param(s->ssl), host)
                 : api.SSL_set1_host(s->ssl, host);
    if (ok != 1) {
      api.SSL_free(s->ssl);
      free(s);
      return si_error_set(err, SI_ERR_ARG, who, SI_NO_OFFSET, SI_NO_TAG,
                          "TLS: cannot check the certificate against this host name");
    }
  }
  if (host && !numeric_address(host))
    api.SSL_ctrl(s->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)host);
  pipe_guard g;
  guard_begin(&g);
  si_status st = SI_OK;
  for (;;) {
    api.ERR_clear_error();
    errno = 0;
    int r = host ? api.SSL_connect(s->ssl) : api.SSL_accept(s->ssl);
    if (r == 1)
      break;
    int e = api.SSL_get_error(s->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      st = handshake_error(s, who, r, err);
      break;
    }
    /* In slices, so that a stopping listener is not held for ARTIM. */
    int64_t now = net_now_ms(), until = deadline;
    if (stop && (until < 0 || until > now + 200))
      until = now + 200;
    int w = net_wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, until);
    if (w < 0) {
      st = si_error_set(err, SI_ERR_IO, who, SI_NO_OFFSET, SI_NO_TAG,
                        "TLS handshake failed: poll: %s", strerror(errno));
      break;
    }
    if (w == 0 && deadline >= 0 && net_now_ms() >= deadline) {
      st = si_error_set(err, SI_ERR_IO, who, SI_NO_OFFSET, SI_NO_TAG,
                        "TLS handshake not finished within the timeout (ARTIM)");
      break;
    }
    if (w == 0 && stop && *stop) {
      st = si_error_set(err, SI_ERR_IO, who, SI_NO_OFFSET, SI_NO_TAG,
                        "TLS handshake cut short: the listener stops");
      break;
    }
  }
  guard_end(&g);
  if (st != SI_OK) {
    api.SSL_free(s->ssl);
    free(s);
    return st;
  }
  out->ops = &tls_ops;
  out->session = s;
  return SI_OK;
}

si_status net_tls_secure(void *ctx, int fd, const char *host, int64_t deadline,
                         const atomic_int *stop, net_secure *out, si_error *err) {
  return net_tls_handshake(ctx, fd, host, deadline, stop, out, err);
}

void net_tls_describe(const net_secure *sec, char *out, size_t size) {
  if (!sec->session) {
    snprintf(out, size, "plain TCP");
    return;
  }
  tls_session *s = sec->session;
  const SSL_CIPHER *cipher = api.SSL_get_current_cipher(s->ssl);
  char subject[256] = "";
  X509 *peer = api.SSL_get1_peer_certificate(s->ssl);
  if (peer) {
    api.X509_NAME_oneline(api.X509_get_subject_name(peer), subject, sizeof subject);
    api.X509_free(peer);
  }
  snprintf(out, size, "%s %s%s%s", api.SSL_get_version(s->ssl),
           cipher ? api.SSL_CIPHER_get_name(cipher) : "", subject[0] ? ", peer " : "", subject);
}
