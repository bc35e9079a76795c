/* The daemon's DICOM listener service: see listener.h. */
#include "listener.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendit/log.h"
#include "sendit/net.h"

struct listener {
  si_net_scp_options opts;
  char host[64], port[8];
  char *allow_text; /* the [dicom] allow list, cut at its commas */
  const char **allow;
  char *dir;
  atomic_int stop;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int state; /* 0 starting, 1 listening, -1 failed (err) */
  si_error err;
};

int listener_wanted(const si_config *cfg) { return cfg->dicom_listen && cfg->dicom_listen[0]; }

static void log_line(void *user, si_net_log_level level, const char *msg) {
  (void)user;
  static const si_log_level levels[] = {SI_LOG_INFO, SI_LOG_WARN, SI_LOG_ERROR};
  si_log(levels[level], "dicom: %s", msg);
}

static void on_ready(void *user, int port) {
  listener *l = user;
  (void)port;
  pthread_mutex_lock(&l->lock);
  l->state = 1;
  pthread_cond_broadcast(&l->changed);
  pthread_mutex_unlock(&l->lock);
}

static void *run(void *arg) {
  listener *l = arg;
  si_error err;
  si_status st = si_net_scp_run(&l->opts, &err);
  pthread_mutex_lock(&l->lock);
  if (st != SI_OK && l->state == 0) {
    l->err = err;
    l->state = -1;
  } else if (st != SI_OK) {
    char buf[1200];
    si_log(SI_LOG_ERROR, "dicom: the listener stopped: %s", si_error_format(&err, buf, sizeof buf));
  }
  pthread_cond_broadcast(&l->changed);
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

/* "host:port", "[v6]:port" or "*:port" (checked by the configuration). */
static void split_listen(const char *v, char *host, size_t hsize, char *port, size_t psize) {
  const char *colon = strrchr(v, ':');
  size_t n = (size_t)(colon - v);
  if (v[0] == '[') {
    v++;
    n -= 2;
  }
  if (n == 1 && v[0] == '*')
    n = 0;
  snprintf(host, hsize, "%.*s", (int)n, v);
  snprintf(port, psize, "%s", colon + 1);
}

/* The folder the watcher imports from: the input folder, or its first
 * watched subfolder when it watches subfolders instead. */
static char *target_dir(const si_config *cfg) {
  const char *subs = cfg->input_subfolders ? cfg->input_subfolders : "";
  size_t first = strcspn(subs, ",");
  size_t len = strlen(cfg->input_dir) + first + 2;
  char *dir = malloc(len);
  if (dir)
    snprintf(dir, len, first ? "%s/%.*s" : "%s", cfg->input_dir, (int)first, subs);
  return dir;
}

static void free_listener(listener *l) {
  free(l->allow_text);
  free(l->allow);
  free(l->dir);
  pthread_mutex_destroy(&l->lock);
  pthread_cond_destroy(&l->changed);
  free(l);
}

si_status listener_start(const si_config *cfg, listener **out, si_error *err) {
  *out = NULL;
  listener *l = calloc(1, sizeof *l);
  if (!l)
    return si_error_set(err, SI_ERR_NOMEM, "[dicom] listen", SI_NO_OFFSET, SI_NO_TAG,
                        "out of memory");
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->changed, NULL);
  split_listen(cfg->dicom_listen, l->host, sizeof l->host, l->port, sizeof l->port);
  si_net_scp_options *o = &l->opts;
  si_net_timeouts_init(&o->timeouts);
  o->timeouts.artim_ms = o->timeouts.dimse_ms = cfg->dicom_timeout * 1000;
  o->timeouts.idle_ms = cfg->dicom_idle_timeout * 1000;
  o->host = l->host;
  o->port = l->port;
  o->ae_title = cfg->dicom_ae_title;
  o->max_pdu = (uint32_t)cfg->dicom_max_pdu;
  o->max_associations = cfg->dicom_max_associations;
  o->low_water_mb = cfg->low_water_mb;
  o->space_dir = cfg->storage_dir;
  o->log = log_line;
  o->log_user = l;
  o->ready = on_ready;
  o->stop = &l->stop;
  /* TLS when any of its files is set: the library then refuses a key
   * without its certificate, or CAs without either, rather than listen in
   * plain TCP when TLS was meant. */
  o->tls.enabled = (cfg->dicom_tls_cert && cfg->dicom_tls_cert[0]) ||
                   (cfg->dicom_tls_key && cfg->dicom_tls_key[0]) ||
                   (cfg->dicom_tls_ca && cfg->dicom_tls_ca[0]);
  o->tls.cert = cfg->dicom_tls_cert;
  o->tls.key = cfg->dicom_tls_key;
  o->tls.ca = cfg->dicom_tls_ca && cfg->dicom_tls_ca[0] ? cfg->dicom_tls_ca : NULL;
  o->tls.no_verify = !cfg->dicom_tls_verify_peer;
  o->users_file = cfg->dicom_users_file;
  l->dir = target_dir(cfg);
  l->allow_text = strdup(cfg->dicom_allow ? cfg->dicom_allow : "");
  size_t n = 0;
  for (const char *p = l->allow_text; p && *p; p++)
    n += *p == ',';
  l->allow = calloc(n + 2, sizeof *l->allow);
  if (!l->dir || !l->allow_text || !l->allow) {
    free_listener(l);
    return si_error_set(err, SI_ERR_NOMEM, "[dicom] listen", SI_NO_OFFSET, SI_NO_TAG,
                        "out of memory");
  }
  /* The configuration normalised the list ("A,B@10.0.0.5", no blanks). */
  for (char *save = NULL, *t = strtok_r(l->allow_text, ",", &save); t;
       t = strtok_r(NULL, ",", &save))
    l->allow[o->allow_count++] = t;
  o->allow = l->allow;
  o->dir = l->dir;
  if (pthread_create(&l->thread, NULL, run, l) != 0) {
    free_listener(l);
    return si_error_set(err, SI_ERR_IO, "[dicom] listen", SI_NO_OFFSET, SI_NO_TAG,
                        "cannot start its thread");
  }
  pthread_mutex_lock(&l->lock);
  while (l->state == 0)
    pthread_cond_wait(&l->changed, &l->lock);
  int state = l->state;
  pthread_mutex_unlock(&l->lock);
  if (state < 0) {
    pthread_join(l->thread, NULL);
    *err = l->err;
    free_listener(l);
    return err->code;
  }
  *out = l;
  return SI_OK;
}

void listener_stop(listener *l) {
  if (!l)
    return;
  atomic_store(&l->stop, 1);
  pthread_join(l->thread, NULL);
  free_listener(l);
}
