/* strmap.h: a hash map from byte strings to int32 values, open addressing
 * with linear probing.  Keys are copied into an arena the map owns, so a
 * stored key's pointer stays valid until the map is freed.  Used for
 * vocabularies (hundreds of thousands of keys, built once, read by many
 * threads).  Knows nothing of tokenizers. */
#ifndef SX_STRMAP_H
#define SX_STRMAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct sx_strmap_slot {
    const char *key; /* NULL: empty */
    uint32_t len;
    int32_t value;
    uint64_t hash;
} sx_strmap_slot;

typedef struct sx_strmap_chunk sx_strmap_chunk;

typedef struct sx_strmap {
    sx_strmap_slot *slots;
    size_t cap;  /* power of two */
    size_t count;
    sx_strmap_chunk *chunks;
} sx_strmap;

uint64_t sx_hash_bytes(const void *p, size_t n);

/* Reserves room for n keys without rehashing. */
int sx_strmap_reserve(sx_strmap *m, size_t n);
/* Inserts key -> value.  When the key exists its value is kept and *stored
 * (optional) points at the existing key; returns 1 then, 0 when inserted,
 * -1 on allocation failure. */
int sx_strmap_put(sx_strmap *m, const char *key, size_t len, int32_t value, const char **stored);
/* Sets the value of an existing key or inserts it (copying). */
int sx_strmap_set(sx_strmap *m, const char *key, size_t len, int32_t value);
/* Returns 1 and sets *value when found. */
int sx_strmap_get(const sx_strmap *m, const char *key, size_t len, int32_t *value);
void sx_strmap_free(sx_strmap *m);

#endif
