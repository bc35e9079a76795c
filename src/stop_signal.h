/* The one signal model of the long-running commands (`sendit start_watcher`
 * and `sendit worker`): SIGINT, SIGTERM and SIGHUP ask for a graceful stop
 * (imports reach a safe point), SIGPIPE is ignored. A daemon with no
 * terminal to hang up (detached, or under systemd) takes SIGHUP as "reopen
 * the log file" instead (logrotate's postrotate; stop_signal_hup_reopens).
 *
 * The stop signals are blocked before any thread starts (threads inherit
 * the mask) and unblocked only in the waiting thread once everything runs,
 * so the handler always runs on that thread and interrupts its wait. The
 * handler only stores to a lock-free atomic_int, writes one byte to a pipe
 * and calls the notifier, all async-signal-safe. */
#ifndef SENDIT_STOP_SIGNAL_H
#define SENDIT_STOP_SIGNAL_H

/* Blocks the stop signals in the calling thread and those it starts
 * later, ignores SIGPIPE, and makes the wake pipe. 0, or -1 with errno. */
int stop_signal_block(void);

/* Installs the handler and unblocks the stop signals in the calling
 * thread. `notify(user)` (may be NULL) is called from the handler, so it
 * must be async-signal-safe (si_watcher_stop is). */
void stop_signal_listen(void (*notify)(void *user), void *user);

/* Makes SIGHUP reopen rather than stop: a thread of its own waits for it
 * (sigwait) and calls `reopen(user)` there, outside any signal handler, so
 * reopen may take locks and open files. Call after stop_signal_block and
 * before stop_signal_listen; `user` must outlive the process's run.
 * 0, or -1 with errno when the thread cannot start. */
int stop_signal_hup_reopens(void (*reopen)(void *user), void *user);

/* The stop signal received (SIGTERM...), 0 while none. */
int stop_signal_received(void);

/* Waits up to `ms` milliseconds for a stop signal; returns
 * stop_signal_received(). */
int stop_signal_wait(int ms);

/* Asks for a stop as a signal would (sig is reported as received). */
void stop_signal_raise(int sig);

#endif
