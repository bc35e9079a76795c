#include "stop_signal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

/* A handler may only touch lock-free atomics (C11 7.14.1.1). */
#if ATOMIC_INT_LOCK_FREE != 2
#error "the stop flag needs a lock-free atomic_int"
#endif

static atomic_int received;
static int wake_pipe[2] = {-1, -1};
static void (*notify_fn)(void *);
static void *notify_user;
/* Set once, before stop_signal_listen, by stop_signal_hup_reopens. */
static void (*reopen_fn)(void *);
static void *reopen_user;

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { STOP_SIGNAL_COUNT = sizeof stop_signals / sizeof stop_signals[0] };

/* SIGHUP is a stop signal unless it reopens the log. */
static int is_stop_signal(int sig) { return sig != SIGHUP || !reopen_fn; }

/* all: every signal of the table, to block them before threads start. */
static void stop_set(sigset_t *set, int all) {
  sigemptyset(set);
  for (int i = 0; i < STOP_SIGNAL_COUNT; i++)
    if (all || is_stop_signal(stop_signals[i]))
      sigaddset(set, stop_signals[i]);
}

void stop_signal_raise(int sig) {
  int saved = errno;
  int none = 0;
  atomic_compare_exchange_strong(&received, &none, sig);
  if (wake_pipe[1] >= 0) {
    ssize_t ignored = write(wake_pipe[1], "", 1);
    (void)ignored;
  }
  if (notify_fn)
    notify_fn(notify_user);
  errno = saved;
}

static void on_signal(int sig) { stop_signal_raise(sig); }

int stop_signal_block(void) {
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  stop_set(&set, 1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (wake_pipe[0] < 0 && pipe(wake_pipe) != 0)
    return -1;
  for (int i = 0; i < 2; i++) {
    fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
    fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK);
  }
  return 0;
}

void stop_signal_listen(void (*notify)(void *user), void *user) {
  /* The handler runs on this thread: it must never see a notifier with
   * another one's argument. */
  notify_fn = NULL;
  atomic_signal_fence(memory_order_seq_cst);
  notify_user = user;
  atomic_signal_fence(memory_order_seq_cst);
  notify_fn = notify;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < STOP_SIGNAL_COUNT; i++)
    if (is_stop_signal(stop_signals[i]))
      sigaction(stop_signals[i], &sa, NULL);
  sigset_t set;
  stop_set(&set, 0);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* SIGHUP stays blocked in every thread (they inherit the mask of
 * stop_signal_block), so only this sigwait takes it. */
static void *hup_waiter(void *unused) {
  (void)unused;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  for (;;) {
    int sig;
    if (sigwait(&set, &sig) == 0 && sig == SIGHUP)
      reopen_fn(reopen_user);
  }
  return NULL;
}

int stop_signal_hup_reopens(void (*reopen)(void *user), void *user) {
  reopen_user = user;
  reopen_fn = reopen;
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&thread, &attr, hup_waiter, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    reopen_fn = NULL;
    errno = rc;
    return -1;
  }
  return 0;
}

int stop_signal_received(void) { return atomic_load(&received); }

int stop_signal_wait(int ms) {
  if (!stop_signal_received() && wake_pipe[0] >= 0) {
    struct pollfd p = {wake_pipe[0], POLLIN, 0};
    poll(&p, 1, ms); /* EINTR: the handler ran, the flag says */
  }
  return stop_signal_received();
}
