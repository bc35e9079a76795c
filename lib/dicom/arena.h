/* A bump allocator: everything one parsed file needs is carved from a few
 * large blocks and released at once, so the hot path does no per-element
 * malloc/free. Internal to the library. */
#ifndef SENDIT_ARENA_H
#define SENDIT_ARENA_H

#include <stddef.h>

typedef struct si_arena_block si_arena_block;

typedef struct si_arena {
  si_arena_block *head;
  size_t block_size;
  size_t total; /* bytes of all blocks: what a header-only read's bound counts */
} si_arena;

void si_arena_init(si_arena *arena, size_t block_size);
/* Returns 8-byte aligned memory or NULL when out of memory. Zeroed when
 * `zero` is set. Lives until si_arena_free. */
void *si_arena_alloc(si_arena *arena, size_t size, int zero);
void si_arena_free(si_arena *arena);

#endif
