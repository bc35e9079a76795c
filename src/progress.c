/* The progress bar: see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define WIDTH 30

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_init(progress *p, int on, size_t total, uint64_t bytes_total) {
  *p = (progress){.on = on && total > 0 && isatty(STDERR_FILENO),
                  .total = total,
                  .bytes_total = bytes_total,
                  .started_ms = now_ms()};
}

static void draw(progress *p) {
  char bar[WIDTH + 1];
  size_t filled = p->total ? p->done * WIDTH / p->total : WIDTH;
  for (size_t i = 0; i < WIDTH; i++)
    bar[i] = i < filled ? '#' : '-';
  bar[WIDTH] = '\0';
  double secs = (double)(now_ms() - p->started_ms) / 1000.0;
  fprintf(stderr, "\r[%s] %zu/%zu files, %.1f/%.1f MB, %.0f files/s\033[K", bar, p->done, p->total,
          (double)p->bytes_done / 1e6, (double)p->bytes_total / 1e6,
          secs > 0 ? (double)p->done / secs : 0.0);
  fflush(stderr);
  p->shown = 1;
  p->drawn_ms = now_ms();
}

void progress_step(progress *p, uint64_t bytes) {
  p->done++;
  p->bytes_done += bytes;
  if (p->on && (!p->shown || now_ms() - p->drawn_ms >= 100 || p->done == p->total))
    draw(p);
}

void progress_clear(progress *p) {
  if (p->on && p->shown) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->shown = 0;
  }
}

void progress_end(progress *p) {
  if (!p->on)
    return;
  draw(p);
  fputc('\n', stderr);
  p->shown = 0;
}
