/* alloc.h: the one allocation wrapper of libsemdex.  All library allocations
 * go through these so that tests can count them and make the Nth one fail
 * (fault injection).  Knows nothing of the rest of the library. */
#ifndef SX_ALLOC_H
#define SX_ALLOC_H
#include <stddef.h>

void *sx_malloc(size_t n);
void *sx_calloc(size_t count, size_t size);
void *sx_realloc(void *p, size_t n);
void sx_free(void *p);
char *sx_strndup(const char *s, size_t n);

/* Fault injection for tests: after `n` more successful allocations, every
 * allocation fails until reset with a negative n.  Returns how many
 * allocations have been made since the last call. */
long sx_alloc_fail_after(long n);

/* Advice for memory read at random for a long time (a model's weights, an
 * index's vectors and links): transparent huge pages over the whole 4 KiB
 * pages of [p, p + bytes), so that TLB misses stop costing every access.
 * Advice only: nothing changes where the kernel gives none; ranges under
 * 2 MiB are left alone. */
void sx_advise_huge_pages(void *p, size_t bytes);

/* Grows *buf (element size `elem`) to hold at least `need` elements, doubling.
 * Returns 0 on success, -1 on overflow or allocation failure (the buffer is
 * then unchanged). */
int sx_grow(void **buf, size_t *cap, size_t need, size_t elem);

#define SX_GROW(ptr, cap, need) sx_grow((void **)&(ptr), &(cap), (need), sizeof(*(ptr)))

#endif
