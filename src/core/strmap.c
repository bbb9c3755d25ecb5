/* strmap.c: open-addressing string -> int32 map with an arena for keys. */
#include "strmap.h"
#include "alloc.h"
#include <string.h>

struct sx_strmap_chunk {
    sx_strmap_chunk *next;
    size_t used, cap;
    char data[];
};

uint64_t sx_hash_bytes(const void *p, size_t n)
{
    /* 64-bit multiply-mix over 8-byte words; good enough spread for tokens */
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static int rehash(sx_strmap *m, size_t ncap)
{
    sx_strmap_slot *ns = sx_calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        sx_strmap_slot *s = &m->slots[i];
        if (!s->key)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    sx_free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int sx_strmap_reserve(sx_strmap *m, size_t n)
{
    size_t need = 16;
    while (need < n * 2)
        need *= 2;
    if (need <= m->cap)
        return 0;
    return rehash(m, need);
}

static const char *store_key(sx_strmap *m, const char *key, size_t len)
{
    sx_strmap_chunk *c = m->chunks;
    if (!c || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > 65536 ? len + 1 : 65536;
        c = sx_malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = m->chunks;
        m->chunks = c;
    }
    char *d = c->data + c->used;
    memcpy(d, key, len);
    d[len] = 0;
    c->used += len + 1;
    return d;
}

static sx_strmap_slot *find_slot(const sx_strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t j = h & (m->cap - 1);
    for (;;) {
        sx_strmap_slot *s = &m->slots[j];
        if (!s->key)
            return s;
        if (s->hash == h && s->len == len && !memcmp(s->key, key, len))
            return s;
        j = (j + 1) & (m->cap - 1);
    }
}

int sx_strmap_put(sx_strmap *m, const char *key, size_t len, int32_t value, const char **stored)
{
    if (len > UINT32_MAX)
        return -1;
    if ((m->count + 1) * 2 > m->cap && rehash(m, m->cap ? m->cap * 2 : 16))
        return -1;
    uint64_t h = sx_hash_bytes(key, len);
    sx_strmap_slot *s = find_slot(m, key, len, h);
    if (s->key) {
        if (stored)
            *stored = s->key;
        return 1;
    }
    const char *k = store_key(m, key, len);
    if (!k)
        return -1;
    s->key = k;
    s->len = (uint32_t)len;
    s->value = value;
    s->hash = h;
    m->count++;
    if (stored)
        *stored = k;
    return 0;
}

int sx_strmap_set(sx_strmap *m, const char *key, size_t len, int32_t value)
{
    int r = sx_strmap_put(m, key, len, value, NULL);
    if (r == 1) {
        uint64_t h = sx_hash_bytes(key, len);
        find_slot(m, key, len, h)->value = value;
        return 0;
    }
    return r;
}

int sx_strmap_get(const sx_strmap *m, const char *key, size_t len, int32_t *value)
{
    if (!m->cap)
        return 0;
    uint64_t h = sx_hash_bytes(key, len);
    const sx_strmap_slot *s = find_slot(m, key, len, h);
    if (!s->key)
        return 0;
    *value = s->value;
    return 1;
}

void sx_strmap_free(sx_strmap *m)
{
    sx_free(m->slots);
    sx_strmap_chunk *c = m->chunks;
    while (c) {
        sx_strmap_chunk *n = c->next;
        sx_free(c);
        c = n;
    }
    memset(m, 0, sizeof *m);
}
