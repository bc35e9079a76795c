#include "arena.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct si_arena_block {
  si_arena_block *next;
  size_t used;
  size_t size;
  _Alignas(max_align_t) unsigned char data[];
};

/* One standard block kept per thread between files: parsing thousands of
 * files then costs no malloc/free of a large block each (glibc consolidates
 * its free lists on every such free). */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void make_spare_key(void) { pthread_key_create(&spare_key, free); }

static si_arena_block *take_spare(size_t size) {
  pthread_once(&spare_once, make_spare_key);
  si_arena_block *b = pthread_getspecific(spare_key);
  if (!b || b->size != size)
    return NULL;
  pthread_setspecific(spare_key, NULL);
  return b;
}

/* Keeps b as this thread's spare; 0 when one is kept already. */
static int keep_spare(si_arena_block *b) {
  pthread_once(&spare_once, make_spare_key);
  if (pthread_getspecific(spare_key))
    return 0;
  return pthread_setspecific(spare_key, b) == 0;
}

void si_arena_init(si_arena *arena, size_t block_size) {
  arena->head = NULL;
  arena->block_size = block_size ? block_size : 16384;
  arena->total = 0;
}

static si_arena_block *new_block(size_t size) {
  si_arena_block *spare = take_spare(size);
  if (spare) {
    spare->next = NULL;
    spare->used = 0;
    return spare;
  }
  si_arena_block *b = malloc(sizeof *b + size);
  if (!b)
    return NULL;
  b->next = NULL;
  b->used = 0;
  b->size = size;
  return b;
}

void *si_arena_alloc(si_arena *arena, size_t size, int zero) {
  size_t rounded = (size + 7) & ~(size_t)7;
  if (rounded < size)
    return NULL;
  si_arena_block *b = arena->head;
  if (!b || b->size - b->used < rounded) {
    /* Large requests get a block of their own behind the current one, so the
     * free space left in the current block is not thrown away. */
    if (rounded > arena->block_size / 4) {
      si_arena_block *big = new_block(rounded);
      if (!big)
        return NULL;
      arena->total += rounded;
      big->used = rounded;
      if (b) {
        big->next = b->next;
        b->next = big;
      } else {
        arena->head = big;
      }
      if (zero)
        memset(big->data, 0, rounded);
      return big->data;
    }
    b = new_block(arena->block_size);
    if (!b)
      return NULL;
    arena->total += arena->block_size;
    b->next = arena->head;
    arena->head = b;
  }
  void *p = b->data + b->used;
  b->used += rounded;
  if (zero)
    memset(p, 0, rounded);
  return p;
}

void si_arena_free(si_arena *arena) {
  si_arena_block *b = arena->head;
  while (b) {
    si_arena_block *next = b->next;
    if (b->size != arena->block_size || !keep_spare(b))
      free(b);
    b = next;
  }
  arena->head = NULL;
  arena->total = 0;
}
