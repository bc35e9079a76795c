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

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { STOP_SIGNAL_COUNT = sizeof stop_signals / sizeof stop_signals[0] };

static void stop_set(sigset_t *set) {
  sigemptyset(set);
  for (int i = 0; i < STOP_SIGNAL_COUNT; i++)
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
  stop_set(&set);
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
    sigaction(stop_signals[i], &sa, NULL);
  sigset_t set;
  stop_set(&set);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int stop_signal_received(void) { return atomic_load(&received); }

int stop_signal_wait(int ms) {
  if (!stop_signal_received() && wake_pipe[0] >= 0) {
    struct pollfd p = {wake_pipe[0], POLLIN, 0};
    poll(&p, 1, ms); /* EINTR: the handler ran, the flag says */
  }
  return stop_signal_received();
}
