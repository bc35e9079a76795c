/* The storage SCP: listener, association judgement and the DIMSE loop.
 * One thread per association; the files are scp_store.c's. */
#include <arpa/inet.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/common.h"
#include "net/scp_store.h"
#include "net/tls.h"
#include "net/transport.h"
#include "net/users.h"
#include "sendit/dict.h"
#include "sendit/fs.h"
#include "sendit/tsyntax.h"

#define STOP_POLL_MS 200

typedef struct scp_shared {
  const si_net_scp_options *opts;
  pthread_mutex_t lock;
  pthread_cond_t idle;
  int running; /* association threads alive */
  unsigned next_id;
  net_tls_ctx *tls; /* NULL: plain TCP */
  net_users *users; /* NULL: no user identity required */
} scp_shared;

typedef struct scp_conn {
  scp_shared *shared;
  int fd;
  int over_limit;
  unsigned id;
  char peer[64];
} scp_conn;

static void logf_(const si_net_scp_options *o, si_net_log_level lvl, const char *fmt, ...)
    SI_PRINTF(3, 4);
static void logf_(const si_net_scp_options *o, si_net_log_level lvl, const char *fmt, ...) {
  if (!o->log)
    return;
  char msg[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  o->log(o->log_user, lvl, msg);
}

static int stopping(const si_net_scp_options *o) { return o->stop && *o->stop; }

/* Storage SOP classes: the dictionary's UIDs whose keyword ends in
 * "Storage" (with its "ForPresentation"/"ForProcessing"/"Trial"/"Retired"
 * variants); Storage Commitment and the service class itself are not. */
static int is_storage_class(const char *uid) {
  const char *kw = si_uid_keyword(uid);
  if (!kw || strcmp(kw, "Storage") == 0)
    return 0;
  static const char *const endings[] = {"Storage", "StorageForPresentation", "StorageForProcessing",
                                        "StorageTrial", "StorageRetired"};
  size_t n = strlen(kw);
  for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) {
    size_t e = strlen(endings[i]);
    if (n > e && strcmp(kw + n - e, endings[i]) == 0)
      return 1;
  }
  return 0;
}

/* A numeric address as 16 bytes, IPv4 as IPv4-mapped IPv6 (a dual-stack
 * listener sees IPv4 peers as ::ffff:a.b.c.d). 0 when it is not one. */
static int address_bytes(const char *text, size_t len, unsigned char out[16]) {
  char buf[64];
  if (len >= sizeof buf)
    return 0;
  memcpy(buf, text, len);
  buf[len] = '\0';
  if (inet_pton(AF_INET6, buf, out) == 1)
    return 1;
  memset(out, 0, 10);
  out[10] = out[11] = 0xff;
  return inet_pton(AF_INET, buf, out + 12) == 1;
}

/* Each allow entry is "AE" (from anywhere) or "AE@address". */
static int calling_allowed(const si_net_scp_options *o, const char *calling, const char *peer) {
  if (!o->allow || o->allow_count == 0)
    return 1;
  unsigned char from[16];
  int have_from = address_bytes(peer, strlen(peer), from);
  for (size_t i = 0; i < o->allow_count; i++) {
    const char *e = o->allow[i], *at = strchr(e, '@');
    size_t ae_len = at ? (size_t)(at - e) : strlen(e);
    if (strlen(calling) != ae_len || memcmp(e, calling, ae_len) != 0)
      continue;
    unsigned char want[16];
    if (!at ||
        (have_from && address_bytes(at + 1, strlen(at + 1), want) && memcmp(want, from, 16) == 0))
      return 1;
  }
  return 0;
}

/* Free MiB on the fullest of the filesystems the listener fills, when it
 * is below the low-water mark; -1 when there is room (or no mark). */
static int64_t below_low_water(const si_net_scp_options *o) {
  if (o->low_water_mb <= 0)
    return -1;
  int64_t free_mb = si_free_space_mb(o->dir);
  if (o->space_dir) {
    int64_t other = si_free_space_mb(o->space_dir);
    if (other >= 0 && (free_mb < 0 || other < free_mb))
      free_mb = other;
  }
  return free_mb >= 0 && free_mb < o->low_water_mb ? free_mb : -1;
}

/* Answers each proposed context: the abstract syntax must be Verification
 * or a storage class, and the first proposed syntax sendit knows is taken
 * (stored as it comes, no transcoding). */
static size_t negotiate(const net_assoc_pdu *rq, net_assoc_pdu *ac) {
  size_t accepted = 0;
  ac->pc_count = rq->pc_count;
  for (size_t i = 0; i < rq->pc_count; i++) {
    const net_pc *p = &rq->pc[i];
    net_pc *r = &ac->pc[i];
    memset(r, 0, sizeof *r);
    r->id = p->id;
    snprintf(r->abstract_syntax, sizeof r->abstract_syntax, "%s", p->abstract_syntax);
    int verification = strcmp(p->abstract_syntax, NET_VERIFICATION_UID) == 0;
    if (!verification && !is_storage_class(p->abstract_syntax)) {
      r->result = NET_PC_ABSTRACT_NOT_SUPPORTED;
      continue;
    }
    r->result = NET_PC_TS_NOT_SUPPORTED;
    for (size_t t = 0; t < p->ts_count; t++) {
      const si_transfer_syntax *ts = si_ts_by_uid(p->ts[t]);
      if (!ts || (verification && (ts->encapsulated || ts->deflated)))
        continue;
      r->result = NET_PC_ACCEPT;
      r->ts_count = 1;
      snprintf(r->ts[0], sizeof r->ts[0], "%s", p->ts[t]);
      accepted++;
      break;
    }
  }
  return accepted;
}

static const net_pc *accepted_pc(const net_assoc *a, uint8_t id) {
  for (size_t i = 0; i < a->ac->pc_count; i++)
    if (a->ac->pc[i].id == id && a->ac->pc[i].result == NET_PC_ACCEPT)
      return &a->ac->pc[i];
  return NULL;
}

static si_status respond(net_assoc *a, uint8_t pc, const net_cmd *rq, uint16_t field,
                         uint16_t status, const char *comment, si_error *err) {
  net_cmd rsp = {.has = NET_CMD_SOP_CLASS | NET_CMD_RESPONDED_TO | NET_CMD_STATUS,
                 .field = field,
                 .responded_to = rq->message_id,
                 .status = status};
  snprintf(rsp.sop_class, sizeof rsp.sop_class, "%s", rq->sop_class);
  if (rq->has & NET_CMD_SOP_INSTANCE) {
    rsp.has |= NET_CMD_SOP_INSTANCE;
    snprintf(rsp.sop_instance, sizeof rsp.sop_instance, "%s", rq->sop_instance);
  }
  if (comment && comment[0]) {
    rsp.has |= NET_CMD_ERROR_COMMENT;
    snprintf(rsp.error_comment, sizeof rsp.error_comment, "%s", comment);
  }
  return net_dimse_send(a, pc, &rsp, NULL, err);
}

static int drop_sink(void *ctx, const uint8_t *d, size_t n) {
  (void)ctx;
  (void)d;
  (void)n;
  return 0;
}

/* A username as printable text for the log (at most 64 bytes shown). */
static void printable_name(const char *name, size_t len, char out[72]) {
  size_t n = len < 64 ? len : 64, k = 0;
  for (size_t i = 0; i < n; i++)
    out[k++] = (unsigned char)name[i] >= 0x20 && (unsigned char)name[i] < 0x7f ? name[i] : '?';
  if (len > n) {
    memcpy(out + k, "...", 3);
    k += 3;
  }
  out[k] = '\0';
}

/* When the listener requires user identity: 1 when the request carries a
 * username and passcode of a user; else 0 with why. */
static int identity_ok(scp_shared *sh, const net_assoc_pdu *rq, char *why, size_t size) {
  char name[72];
  printable_name(rq->username, rq->username_len, name);
  if (rq->user_type == 0) {
    snprintf(why, size, "no user identity proposed");
    return 0;
  }
  if (rq->user_type != NET_USER_PASSCODE) {
    snprintf(why, size, "user identity of type %u%s%s%s, not username and passcode", rq->user_type,
             name[0] ? " ('" : "", name, name[0] ? "')" : "");
    return 0;
  }
  if (!net_users_check(sh->users, rq->username, rq->username_len, rq->passcode, rq->passcode_len)) {
    snprintf(why, size, "user '%s' unknown or wrong passcode", name);
    return 0;
  }
  return 1;
}

/* One C-STORE: SI_OK when the association goes on. */
static si_status handle_store(net_assoc *a, net_store *store, uint8_t pc_id, const net_cmd *rq,
                              const si_net_scp_options *o, unsigned id) {
  si_error err;
  si_error_clear(&err);
  net_ind ind;
  int sink_failed = 0;
  const net_pc *pc = accepted_pc(a, pc_id);
  uint16_t status = NET_STATUS_SUCCESS;
  char comment[65] = "";
  int begun = 0;
  if (rq->data_set_type == NET_NO_DATA_SET) {
    net_assoc_invalid_pdu(a, NET_ABORT_UNEXPECTED_PARAM);
    logf_(o, SI_NET_LOG_ERROR, "association %u: C-STORE-RQ without a data set: aborted", id);
    return SI_ERR_FORMAT;
  }
  int64_t free_mb = -1;
  if (!pc || strcmp(pc->abstract_syntax, rq->sop_class) != 0 || !(rq->has & NET_CMD_SOP_INSTANCE) ||
      !rq->sop_instance[0]) {
    status = NET_STATUS_DATA_SET_MISMATCH;
    snprintf(comment, sizeof comment, "SOP class or instance does not match the context");
  } else if ((free_mb = below_low_water(o)) >= 0) {
    /* Nothing is written: the data set is read and dropped. */
    status = NET_STATUS_OUT_OF_RESOURCES;
    snprintf(comment, sizeof comment, "disk below its low-water mark");
    logf_(o, SI_NET_LOG_WARN,
          "association %u: %s refused (0xa700): %" PRId64 " MiB free, below the low-water mark "
          "of %" PRId64 " MiB",
          id, rq->sop_instance, free_mb, o->low_water_mb);
  } else if (net_store_begin(store, rq->sop_class, rq->sop_instance, pc->ts[0], &err) != SI_OK) {
    status = NET_STATUS_OUT_OF_RESOURCES;
    snprintf(comment, sizeof comment, "cannot write: %.40s", err.message);
  } else {
    begun = 1;
  }
  si_status st =
      net_dimse_recv_data(a, a->timeouts.artim_ms, pc_id, begun ? net_store_write : drop_sink,
                          store, &sink_failed, &ind, &err);
  if (st != SI_OK) {
    if (begun)
      net_store_discard(store);
    if (ind == IND_TIMEOUT)
      net_assoc_abort(a);
    logf_(o, SI_NET_LOG_ERROR, "association %u: data set of %s lost: %s", id, rq->sop_instance,
          err.message);
    return st;
  }
  if (begun) {
    if (net_store_end(store, &status, &err) != SI_OK) {
      snprintf(comment, sizeof comment, "%.64s", err.message);
      logf_(o, SI_NET_LOG_ERROR, "association %u: %s not stored: %s", id, rq->sop_instance,
            err.message);
    }
  }
  return respond(a, pc_id, rq, NET_C_STORE_RSP, status, comment, &err);
}

static void store_note(void *user, const char *msg) {
  logf_((const si_net_scp_options *)user, SI_NET_LOG_WARN, "%s", msg);
}

/* The DIMSE loop of an established association. */
static void serve(net_assoc *a, const si_net_scp_options *o, unsigned id, net_store *store) {
  int64_t idle_since = net_now_ms();
  size_t stored = 0;
  for (;;) {
    net_cmd cmd;
    uint8_t pc;
    net_ind ind;
    si_error err;
    si_error_clear(&err);
    si_status st = net_dimse_recv_command(a, STOP_POLL_MS, &cmd, &pc, &ind, &err);
    if (st != SI_OK) {
      if (ind == IND_TIMEOUT && !stopping(o) && net_now_ms() - idle_since < o->timeouts.idle_ms &&
          a->state == STA6)
        continue;
      if (ind == IND_RELEASE_RQ) {
        net_assoc_release_reply(a);
        logf_(o, SI_NET_LOG_INFO, "association %u released: %zu instance(s) stored", id, stored);
      } else {
        /* Still established: nothing came (idle, or the listener stops).
         * Otherwise a PDU begun and left unfinished aborted it already. */
        int quiet = ind == IND_TIMEOUT && a->state == STA6;
        if (quiet)
          net_assoc_abort(a);
        logf_(o, SI_NET_LOG_WARN, "association %u ended (%zu stored): %s", id, stored,
              quiet ? (stopping(o) ? "the listener stops" : "idle timeout") : err.message);
      }
      return;
    }
    idle_since = net_now_ms();
    if (cmd.field == NET_C_STORE_RQ) {
      if (handle_store(a, store, pc, &cmd, o, id) != SI_OK || a->state != STA6)
        return;
      stored++;
    } else if (cmd.field == NET_C_ECHO_RQ) {
      if (respond(a, pc, &cmd, NET_C_ECHO_RSP, NET_STATUS_SUCCESS, NULL, &err) != SI_OK)
        return;
    } else {
      int failed;
      if (cmd.data_set_type != NET_NO_DATA_SET &&
          net_dimse_recv_data(a, a->timeouts.artim_ms, pc, drop_sink, NULL, &failed, &ind, &err) !=
              SI_OK)
        return;
      if (respond(a, pc, &cmd, (uint16_t)(cmd.field | 0x8000), 0x0211, "unrecognized operation",
                  &err) != SI_OK)
        return;
    }
  }
}

static void *association_thread(void *arg) {
  scp_conn *c = arg;
  scp_shared *sh = c->shared;
  const si_net_scp_options *o = sh->opts;
  net_assoc a;
  if (net_assoc_init(&a, &o->timeouts, o->max_pdu) < 0) {
    close(c->fd);
    goto done;
  }
  if (sh->tls) {
    a.secure = net_tls_secure;
    a.secure_user = sh->tls;
  }
  net_ind ind = net_assoc_accept_connection(&a, c->fd, o->stop);
  if (ind != IND_ASSOC_RQ) {
    logf_(o, SI_NET_LOG_WARN, "connection from %s ended before an association: %s", c->peer,
          a.err.message[0] ? a.err.message : net_state_name(a.state));
    net_assoc_close(&a);
    goto done;
  }
  const char *ae = o->ae_title && o->ae_title[0] ? o->ae_title : "SENDIT";
  net_reject rj = {0, 0, 0};
  char identity_why[160] = "";
  if (strcmp(a.rq->app_context, NET_APP_CONTEXT) != 0)
    rj = (net_reject){NET_RJ_PERMANENT, NET_RJ_USER, NET_RJ_USER_APP_CONTEXT};
  else if (strcmp(a.rq->called_ae, ae) != 0)
    rj = (net_reject){NET_RJ_PERMANENT, NET_RJ_USER, NET_RJ_USER_CALLED_AE};
  else if (!calling_allowed(o, a.rq->calling_ae, c->peer))
    rj = (net_reject){NET_RJ_PERMANENT, NET_RJ_USER, NET_RJ_USER_CALLING_AE};
  else if (sh->users && !identity_ok(sh, a.rq, identity_why, sizeof identity_why))
    rj = (net_reject){NET_RJ_PERMANENT, NET_RJ_USER, NET_RJ_USER_NO_REASON};
  else if (c->over_limit)
    rj = (net_reject){NET_RJ_TRANSIENT, NET_RJ_PRESENTATION, NET_RJ_PRES_LOCAL_LIMIT};
  /* The passcode is needed no longer: not kept in memory for the association's life. */
  memset(a.rq->passcode, 0, sizeof a.rq->passcode);
  a.rq->passcode_len = 0;
  int64_t free_mb = -1;
  if (!rj.result && (free_mb = below_low_water(o)) >= 0) /* PS3.8 7.1.1.9 */
    rj = (net_reject){NET_RJ_TRANSIENT, NET_RJ_PRESENTATION, NET_RJ_PRES_LOCAL_LIMIT};
  if (rj.result) {
    char why[200], disk[160] = "";
    net_reject_text(&rj, why, sizeof why);
    if (free_mb >= 0)
      snprintf(disk, sizeof disk,
               " (%" PRId64 " MiB free, below the low-water mark of %" PRId64 " MiB)", free_mb,
               o->low_water_mb);
    logf_(o, SI_NET_LOG_WARN, "association from %s (%s -> %s) rejected: %s%s%s%s%s", c->peer,
          a.rq->calling_ae, a.rq->called_ae, why, disk, identity_why[0] ? " (" : "", identity_why,
          identity_why[0] ? ")" : "");
    net_assoc_reject(&a, &rj);
    net_assoc_close(&a);
    goto done;
  }
  net_fill_identity(a.ac, a.rq->called_ae, a.rq->calling_ae, a.our_max_pdu);
  size_t accepted = negotiate(a.rq, a.ac);
  /* PS3.7 D.3.3.7.2: answered only when checked and asked for. */
  a.ac->user_response = sh->users && a.rq->user_response_requested;
  si_error err;
  if (net_assoc_accept(&a, &err) != SI_OK) {
    net_assoc_close(&a);
    goto done;
  }
  char user[90] = "", secure[400] = "";
  if (sh->users) {
    char name[72];
    printable_name(a.rq->username, a.rq->username_len, name);
    snprintf(user, sizeof user, ", user '%s'", name);
  }
  if (sh->tls) {
    char what[380];
    net_tls_describe(&a.sec, what, sizeof what);
    snprintf(secure, sizeof secure, ", %s", what);
  }
  logf_(o, SI_NET_LOG_INFO,
        "association %u from %s (%s -> %s%s%s): %zu of %zu presentation contexts accepted, peer "
        "max PDU %u",
        c->id, c->peer, a.rq->calling_ae, a.rq->called_ae, user, secure, accepted, a.rq->pc_count,
        a.peer_max_pdu);
  char id[48];
  snprintf(id, sizeof id, "%ld-%u", (long)getpid(), c->id);
  net_store store;
  net_store_init(&store, o->dir, id, a.rq->calling_ae);
  serve(&a, o, c->id, &store);
  net_assoc_close(&a);
  net_store_finish(&store, stopping(o) ? 0 : 10000, store_note, (void *)o);
done:
  pthread_mutex_lock(&sh->lock);
  sh->running--;
  pthread_cond_broadcast(&sh->idle);
  pthread_mutex_unlock(&sh->lock);
  free(c);
  return NULL;
}

si_status si_net_scp_run(const si_net_scp_options *o, si_error *err) {
  si_error_clear(err);
  if (!o->dir || !o->port)
    return si_error_set(err, SI_ERR_ARG, "listener", SI_NO_OFFSET, SI_NO_TAG,
                        "a folder and a port are needed");
  scp_shared sh = {.opts = o};
  si_status st = SI_OK;
  if (o->tls.enabled && (st = net_tls_ctx_new(&o->tls, 1, &sh.tls, err)) != SI_OK)
    return st;
  if (o->users_file && o->users_file[0] &&
      (st = net_users_load(o->users_file, &sh.users, err)) != SI_OK) {
    net_tls_ctx_free(sh.tls);
    return st;
  }
  int lfd, port = 0;
  st = net_tcp_listen(o->host ? o->host : "", o->port, &lfd, &port, err);
  if (st != SI_OK) {
    net_tls_ctx_free(sh.tls);
    net_users_free(sh.users);
    return st;
  }
  logf_(o, SI_NET_LOG_INFO, "listening on %s:%d as %s%s%s%s", o->host && o->host[0] ? o->host : "*",
        port, o->ae_title && o->ae_title[0] ? o->ae_title : "SENDIT", sh.tls ? ", TLS" : "",
        sh.tls && o->tls.ca && o->tls.ca[0] && !o->tls.no_verify ? " (client certificates required)"
                                                                 : "",
        sh.users ? ", user identity required" : "");
  if (o->ready)
    o->ready(o->log_user, port);
  /* Before the first association: what dead listeners left (see net.h). */
  net_store_recover(o->dir, stopping(o) ? 0 : 10000, store_note, (void *)o);
  pthread_mutex_init(&sh.lock, NULL);
  pthread_cond_init(&sh.idle, NULL);
  int max = o->max_associations > 0 ? o->max_associations : 16;
  while (!stopping(o)) {
    int fd;
    char peer[64];
    net_io r = net_tcp_accept(lfd, STOP_POLL_MS, &fd, peer, err);
    if (r == NET_IO_TIMEOUT)
      continue;
    if (r != NET_IO_OK) {
      struct timespec ts = {0, 100 * 1000000L}; /* EMFILE and the like: breathe */
      nanosleep(&ts, NULL);
      continue;
    }
    pthread_mutex_lock(&sh.lock);
    int running = sh.running;
    unsigned cid = ++sh.next_id;
    pthread_mutex_unlock(&sh.lock);
    /* Over the cap a few more threads only say "local limit"; beyond
     * that the connection is closed unanswered. */
    if (running >= max + 8) {
      close(fd);
      continue;
    }
    scp_conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    *c = (scp_conn){&sh, fd, running >= max, cid, ""};
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&sh.lock);
    sh.running++;
    pthread_mutex_unlock(&sh.lock);
    if (pthread_create(&t, &attr, association_thread, c) != 0) {
      pthread_mutex_lock(&sh.lock);
      sh.running--;
      pthread_mutex_unlock(&sh.lock);
      close(fd);
      free(c);
    }
    pthread_attr_destroy(&attr);
  }
  close(lfd);
  pthread_mutex_lock(&sh.lock);
  while (sh.running > 0)
    pthread_cond_wait(&sh.idle, &sh.lock);
  pthread_mutex_unlock(&sh.lock);
  pthread_mutex_destroy(&sh.lock);
  pthread_cond_destroy(&sh.idle);
  net_tls_ctx_free(sh.tls);
  net_users_free(sh.users);
  logf_(o, SI_NET_LOG_INFO, "listener stopped");
  return SI_OK;
}
