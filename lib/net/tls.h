/* TLS for DICOM associations (PS3.15 Annex B, the secure transport
 * connection profiles) over OpenSSL, which is loaded with dlopen when a TLS
 * association is first configured: sites that never use TLS do not load
 * it. TLS 1.2 or later only.
 *
 * Ownership: a net_tls_ctx holds the certificates and keys of one
 * configuration (one listener, or one send or echo) and is shared,
 * read-only, by every association made with it; it must outlive them.
 * Each session (net_secure.session) belongs to its association and is
 * freed by net_link_close (transport.h). Thread-safe as OpenSSL 3 is. */
#ifndef SENDIT_NET_TLS_H
#define SENDIT_NET_TLS_H

#include <stdatomic.h>
#include <stdint.h>

#include "net/transport.h"
#include "sendit/net.h"

typedef struct net_tls_ctx net_tls_ctx;

/* Loads cfg's certificate, key and CA file for a client (server 0) or a
 * server (server 1). A client verifies the server's certificate against
 * cfg->ca (the system's CAs when NULL) and its name against the host it
 * connects to, unless cfg->no_verify. A server needs cert and key; with
 * cfg->ca and not no_verify it asks for, requires and verifies a client
 * certificate. Errors name the file and OpenSSL's reason. */
si_status net_tls_ctx_new(const si_net_tls *cfg, int server, net_tls_ctx **out, si_error *err);
void net_tls_ctx_free(net_tls_ctx *ctx);

/* Runs the TLS handshake on the connected, non-blocking socket fd before
 * deadline (net_now_ms() scale): as client when host is not NULL (the name
 * verified and sent as SNI), else as server. Gives up early once *stop
 * (may be NULL) is set. On success *out holds the session (ops and
 * state); on failure err says which step failed and OpenSSL's reason (the
 * verification error for a refused certificate). */
si_status net_tls_handshake(net_tls_ctx *ctx, int fd, const char *host, int64_t deadline,
                            const atomic_int *stop, net_secure *out, si_error *err);

/* net_tls_handshake with the context as an opaque pointer: what
 * net_assoc.secure takes (secure_user = the net_tls_ctx). */
si_status net_tls_secure(void *ctx, int fd, const char *host, int64_t deadline,
                         const atomic_int *stop, net_secure *out, si_error *err);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384, peer CN=..." for logs (size bytes). */
void net_tls_describe(const net_secure *s, char *out, size_t size);

#endif
