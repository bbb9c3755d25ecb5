/* hash.c: the 64-bit hash the store records (documents.content_hash).  Its
 * values are stored, so it never changes: FNV-1a's multiply over 8-byte
 * little-endian words with a final avalanche (MurmurHash3's fmix64).  Not
 * cryptographic: it tells whether a source changed, nothing more. */
#include "store.h"
#include <string.h>

#define PRIME 0x100000001b3ULL

static uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t sx_hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed ^ ((uint64_t)n * PRIME);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8); /* little-endian hosts only (asserted in vindex.c) */
        h = (h ^ w) * PRIME;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    for (size_t j = 0; i + j < n; j++)
        tail |= (uint64_t)p[i + j] << (8 * j);
    h = (h ^ tail) * PRIME;
    return fmix64(h);
}
