/* The DICOM network (PS3.7, PS3.8): C-ECHO and C-STORE as service class
 * user (echo, send) and provider (a storage SCP that writes Part 10 files
 * for the watcher). The layers live in lib/net: transport, PDUs, the upper
 * layer state machine, association negotiation, DIMSE.
 *
 * Ownership: every string in the option structs is borrowed for the call
 * (or, for si_net_scp_run, until it returns); callbacks get borrowed
 * strings valid only during the call. Nothing here keeps global state; the
 * functions are thread-safe. */
#ifndef SENDIT_NET_H
#define SENDIT_NET_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sendit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest P-DATA-TF PDU sendit receives unless told otherwise (bytes). */
#define SI_NET_DEFAULT_MAX_PDU 262144u

typedef struct si_net_timeouts {
  int connect_ms; /* TCP connect (SCU) */
  int artim_ms;   /* A-ASSOCIATE request or answer, release, a PDU's bytes once begun */
  int dimse_ms;   /* an answer to a DIMSE request (SCU) */
  int idle_ms;    /* an established association with nothing coming (SCP) */
} si_net_timeouts;

/* 30 s connect and ARTIM, 60 s DIMSE, 300 s idle. */
void si_net_timeouts_init(si_net_timeouts *t);

/* TLS for an association (PS3.15 Annex B: the secure transport connection
 * profiles), through a TLS library loaded when first configured. enabled 0:
 * plain TCP and the other fields are ignored. Paths are PEM files. */
typedef struct si_net_tls {
  int enabled;
  const char *cert; /* our certificate (chain); required for an SCP, optional for an SCU */
  const char *key;  /* its private key; with cert */
  const char *ca;   /* trusted CA certificates (file) for the peer's; NULL: the system's */
  int no_verify;    /* 1: accept any peer certificate (an SCP: do not ask for one); warned */
} si_net_tls;

/* User identity negotiation (PS3.7 D.3.3.7), proposed by an SCU when
 * username is set: type 1 (username) when passcode is NULL, else type 2
 * (username and passcode). */
typedef struct si_net_user {
  const char *username; /* NULL: none proposed */
  const char *passcode; /* may be NULL */
} si_net_user;

/* One remote application entity, as seen by an SCU. */
typedef struct si_net_peer {
  const char *host;       /* name, IPv4 or IPv6 address */
  const char *port;       /* number or service name */
  const char *calling_ae; /* ours; NULL = "SENDIT" */
  const char *called_ae;  /* theirs; NULL = "ANY-SCP" */
  uint32_t max_pdu;       /* largest PDU we receive; 0 = SI_NET_DEFAULT_MAX_PDU */
  si_net_timeouts timeouts;
  si_net_tls tls;   /* zero: plain TCP */
  si_net_user user; /* zero: no user identity proposed */
} si_net_peer;

/* DIMSE status classes (PS3.7 Annex C). */
typedef enum si_net_status_class {
  SI_NET_SUCCESS = 0,
  SI_NET_WARNING, /* 0001, Bxxx, 0107, 0116 */
  SI_NET_FAILURE, /* everything else, and an instance never answered */
} si_net_status_class;
si_net_status_class si_net_status_classify(uint16_t status);
/* Short text of a status for reports ("Success", "Warning: coercion of
 * data elements", "Refused: out of resources", ...). Static. */
const char *si_net_status_text(uint16_t status);

/* Opens an association proposing Verification, sends one C-ECHO, releases.
 * *status is the C-ECHO-RSP status. A rejection, an abort or a timeout is an
 * error saying which (and the A-ASSOCIATE-RJ reason). */
si_status si_net_echo(const si_net_peer *peer, uint16_t *status, si_error *err);

/* What si_net_send reports for each instance, in the order given. */
typedef struct si_net_send_result {
  const char *path;         /* borrowed from the caller's list */
  const char *sop_instance; /* "" when the file could not be read */
  const char *ts_sent;      /* the transfer syntax used, "" when not sent */
  int sent;                 /* 1 when a C-STORE-RSP came */
  uint16_t status;          /* its status (0xFFFF when !sent) */
  const si_error *err;      /* why it was not sent or failed; NULL on success */
} si_net_send_result;
typedef void (*si_net_send_report)(void *user, const si_net_send_result *result);

/* Sends the Part 10 files at paths (files only; walking folders is the
 * caller's) with C-STORE. Each SOP class is proposed with the file's
 * transfer syntax plus Explicit and Implicit VR Little Endian (one context
 * per class and syntax of the files, over as many associations as 128
 * contexts need); a file whose own syntax the peer refuses is converted by
 * the writer when it is uncompressed, else it fails with a clear error.
 * Data sets are fragmented to the peer's maximum PDU. report (may be NULL)
 * is called once per file. *failed counts files not stored with success or
 * warning. Returns an error only when nothing could be attempted the normal
 * way (association refused, connection lost: the remaining files are
 * reported failed with that error). */
si_status si_net_send(const si_net_peer *peer, const char *const *paths, size_t count,
                      si_net_send_report report, void *user, size_t *failed, si_error *err);

/* The storage SCP. */
typedef enum si_net_log_level {
  SI_NET_LOG_INFO = 0,
  SI_NET_LOG_WARN,
  SI_NET_LOG_ERROR
} si_net_log_level;
typedef void (*si_net_log_fn)(void *user, si_net_log_level level, const char *message);

typedef struct si_net_scp_options {
  const char *host;     /* "" or "*" = every address */
  const char *port;     /* "0": the kernel picks (see bound_port) */
  const char *ae_title; /* called AE title answered; NULL = "SENDIT" */
  /* Calling AE titles allowed (NULL/0: any), each "AE" or "AE@address"
   * (a numeric IPv4 or IPv6 address the association must come from). */
  const char *const *allow;
  size_t allow_count;
  const char *dir;      /* the input folder the watcher imports */
  uint32_t max_pdu;     /* 0 = SI_NET_DEFAULT_MAX_PDU */
  int max_associations; /* concurrent; 0 = 16; more are refused (transient, local limit) */
  /* Free space: below low_water_mb MiB free on dir's filesystem (or on
   * space_dir's, the daemon's storage, when set) new associations are
   * rejected (transient, presentation, local limit exceeded) and each
   * C-STORE is answered 0xA700 without writing anything. 0 = off. */
  int64_t low_water_mb;
  const char *space_dir; /* may be NULL */
  si_net_timeouts timeouts;
  si_net_log_fn log; /* may be NULL */
  void *log_user;
  /* Polled about every 200 ms: nonzero stops the listener; running
   * associations end within that time, aborted (acknowledged instances
   * are kept and their folders finished), but for one finishing a folder
   * whose name is taken (up to 10 s, see si_net_scp_run) or sending a
   * response (up to the DIMSE timeout). */
  const atomic_int *stop; /* may be NULL; a signal handler may set it */
  /* Called once listening, with the port bound (may be NULL). */
  void (*ready)(void *user, int bound_port);
  si_net_tls tls; /* zero: plain TCP; enabled: every association is TLS (cert and key required) */
  /* User identity (PS3.7 D.3.3.7): NULL or "" = not required (a proposed
   * one is ignored). Else a file of "username:hash" lines (hash: argon2id,
   * as si_net_user_line makes; '#' lines and blank lines skipped), read
   * when the listener starts; an association without a username and
   * passcode matching a line is rejected (permanent, service user, no
   * reason given). The username accepted is logged. */
  const char *users_file;
} si_net_scp_options;

/* Room for a line of si_net_user_line: the name, ':', the hash, NUL. */
#define SI_NET_USER_LINE_SIZE (1024 + 1 + 128 + 1)
/* Makes the users_file line for username (1-1024 bytes, no ':' at its end,
 * no line break) and password (its argon2id hash, the libsodium call the
 * web password uses), without a line break. */
si_status si_net_user_line(const char *username, const char *password,
                           char line[SI_NET_USER_LINE_SIZE], si_error *err);

/* Listens and serves associations until *stop. Once listening it first
 * finishes what associations of dead processes left in DIR (a kill -9, a
 * power cut): their temporary files (never acknowledged) are removed, and
 * their study folders, which hold only instances fsynced and verified
 * before their answer, are finished as an aborted association's are (an
 * empty one is removed). A folder still locked by a live listener is left
 * alone. Accepts every storage SOP
 * class of the dictionary (and Verification) in the transfer syntaxes the
 * reader can store, never transcoding. Each instance is written to
 * DIR/<AccessionNumber, else StudyInstanceUID>.tmp<id>/<SOPInstanceUID>.dcm
 * (names sanitised), with SourceApplicationEntityTitle = the calling AE,
 * fsynced before the C-STORE-RSP 0000; each study folder of an association
 * is renamed to its finished name when the association ends (released or
 * aborted); when that name exists (a folder the watcher has not imported
 * yet) it waits up to 10 s for it, then uses "<name>-<id>". Returns an
 * error when it cannot listen. */
si_status si_net_scp_run(const si_net_scp_options *opts, si_error *err);

#ifdef __cplusplus
}
#endif
#endif
