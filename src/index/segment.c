/* segment.c: the dictionary Chinese word segmenter (see segment.h).  The
 * dictionary is a hash table of the words and of every prefix of a word
 * (prefixes with frequency 0), so that the words starting at a character are
 * found by extending a key one character at a time until it is no prefix of
 * any word (jieba's get_DAG).  Keys point into the compiled-in text; nothing
 * is copied.  Knows nothing of analysis, BM25 or SQLite. */
#include "segment.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "segment_dict.h"

/* A slot: bits 0..23 the key's byte offset in seg_dict_data, 24..31 its
 * length (never 0, so 0 is an empty slot), 32..63 its frequency (0 for a
 * prefix that is not itself a word). */
_Static_assert(sizeof seg_dict_data < (1u << 24), "dictionary offsets fit in 24 bits");

struct seg_dict {
    uint64_t *slots;
    size_t cap; /* power of two */
    size_t n_entries, n_words, max_word_bytes;
    double logtotal; /* log of the sum of the frequencies */
};

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static inline uint64_t fnv_extend(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

static inline size_t slot_off(uint64_t e) { return (size_t)(e & 0xFFFFFF); }
static inline size_t slot_len(uint64_t e) { return (size_t)((e >> 24) & 0xFF); }
static inline uint64_t slot_freq(uint64_t e) { return e >> 32; }

/* The slot of key k[0..n) with hash h: its index, or the empty one where it would go. */
static size_t find_slot(const uint64_t *slots, size_t cap, const char *k, size_t n, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    for (;;) {
        uint64_t e = slots[i];
        if (!e || (slot_len(e) == n && !memcmp(seg_dict_data + slot_off(e), k, n)))
            return i;
        i = (i + 1) & (cap - 1);
    }
}

static int grow(seg_dict *d)
{
    size_t cap = d->cap ? d->cap * 2 : 1u << 16;
    uint64_t *slots = sx_calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < d->cap; i++) {
        uint64_t e = d->slots[i];
        if (!e)
            continue;
        const char *k = seg_dict_data + slot_off(e);
        slots[find_slot(slots, cap, k, slot_len(e), fnv_extend(FNV_OFFSET, k, slot_len(e)))] = e;
    }
    sx_free(d->slots);
    d->slots = slots;
    d->cap = cap;
    return 0;
}

/* Inserts key data[off..off+n) with freq added (0: as a prefix only). */
static int insert(seg_dict *d, size_t off, size_t n, uint64_t freq)
{
    if ((d->n_entries + 1) * 2 > d->cap && grow(d))
        return -1;
    const char *k = seg_dict_data + off;
    size_t i = find_slot(d->slots, d->cap, k, n, fnv_extend(FNV_OFFSET, k, n));
    uint64_t e = d->slots[i];
    if (!e) {
        d->slots[i] = (uint64_t)off | ((uint64_t)n << 24) | (freq << 32);
        d->n_entries++;
    } else if (freq) {
        d->slots[i] = (e & 0xFFFFFFFFu) | ((slot_freq(e) + freq) << 32);
    }
    return 0;
}

static void dict_free(seg_dict *d)
{
    if (d) {
        sx_free(d->slots);
        sx_free(d);
    }
}

static seg_dict *dict_build(void)
{
    seg_dict *d = sx_calloc(1, sizeof *d);
    if (!d)
        return NULL;
    const char *p = seg_dict_data, *end = seg_dict_data + sizeof seg_dict_data - 1;
    uint64_t total = 0;
    while (p < end) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if (!tab)
            break;
        uint64_t freq = 0;
        const char *q = tab + 1;
        while (q < end && *q >= '0' && *q <= '9')
            freq = freq * 10 + (uint64_t)(*q++ - '0');
        size_t off = (size_t)(p - seg_dict_data), n = (size_t)(tab - p);
        if (n && n <= 255 && freq) {
            /* every proper prefix, at character boundaries, then the word */
            for (size_t i = sx_utf8_len((unsigned char)p[0]); i < n; i += sx_utf8_len((unsigned char)p[i]))
                if (insert(d, off, i, 0))
                    goto fail;
            if (insert(d, off, n, freq))
                goto fail;
            total += freq;
            d->n_words++;
            if (n > d->max_word_bytes)
                d->max_word_bytes = n;
        }
        p = q < end ? q + 1 : end; /* past the newline */
    }
    d->logtotal = log((double)(total ? total : 1));
    return d;
fail:
    dict_free(d);
    return NULL;
}

static pthread_mutex_t builtin_lock = PTHREAD_MUTEX_INITIALIZER;
static seg_dict *builtin;

const seg_dict *seg_dict_builtin(semdex_error *err)
{
    pthread_mutex_lock(&builtin_lock);
    if (!builtin)
        builtin = dict_build();
    seg_dict *d = builtin;
    pthread_mutex_unlock(&builtin_lock);
    if (!d)
        sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory building the Chinese dictionary");
    return d;
}

size_t seg_dict_words(const seg_dict *d) { return d->n_words; }
const char *seg_dict_name(void) { return SEG_DICT_NAME; }
size_t seg_dict_max_word_bytes(const seg_dict *d) { return d->max_word_bytes; }

uint64_t seg_dict_freq(const seg_dict *d, const char *w, size_t len)
{
    if (!len || len > 255)
        return 0;
    uint64_t e = d->slots[find_slot(d->slots, d->cap, w, len, fnv_extend(FNV_OFFSET, w, len))];
    return e ? slot_freq(e) : 0;
}

void seg_scratch_free(seg_scratch *sc)
{
    if (!sc)
        return;
    sx_free(sc->route);
    sx_free(sc->next);
    sx_free(sc->cp_off);
    memset(sc, 0, sizeof *sc);
}

static int scratch_reserve(seg_scratch *sc, size_t n)
{
    if (n <= sc->cap)
        return 0;
    size_t cap = sc->cap ? sc->cap : 64;
    while (cap < n)
        cap *= 2;
    double *route = sx_realloc(sc->route, cap * sizeof *route);
    if (!route)
        return -1;
    sc->route = route;
    uint32_t *next = sx_realloc(sc->next, cap * sizeof *next);
    if (!next)
        return -1;
    sc->next = next;
    uint32_t *cp_off = sx_realloc(sc->cp_off, cap * sizeof *cp_off);
    if (!cp_off)
        return -1;
    sc->cp_off = cp_off;
    sc->cap = cap;
    return 0;
}

semdex_status seg_cut(const seg_dict *d, const char *s, size_t len, seg_scratch *sc, size_t *ends,
                      size_t *n_words, semdex_error *err)
{
    *n_words = 0;
    if (len > INT32_MAX)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, -1, "a run of %zu bytes is too long to segment", len);
    size_t n = 0;
    for (size_t i = 0; i < len; i += sx_utf8_len((unsigned char)s[i]))
        n++;
    if (scratch_reserve(sc, n + 1))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory segmenting %zu bytes", len);
    uint32_t *off = sc->cp_off;
    double *route = sc->route;
    uint32_t *next = sc->next;
    n = 0;
    for (size_t i = 0; i < len; i += sx_utf8_len((unsigned char)s[i]))
        off[n++] = (uint32_t)i;
    off[n] = (uint32_t)len;

    /* Best path from the right, as jieba's calc: the score of a word is
     * log(freq) - log(total), an unknown single character counts freq 1, and
     * among equal scores the longer word wins. */
    route[n] = 0;
    for (size_t i = n; i-- > 0;) {
        double best = 0;
        size_t best_j = 0;
        uint64_t h = FNV_OFFSET;
        for (size_t j = i + 1; j <= n; j++) {
            size_t kl = off[j] - off[i];
            if (kl > d->max_word_bytes)
                break;
            h = fnv_extend(h, s + off[j - 1], off[j] - off[j - 1]);
            uint64_t e = d->slots[find_slot(d->slots, d->cap, s + off[i], kl, h)];
            if (!e)
                break; /* no word starts with s[i..j) */
            if (!slot_freq(e))
                continue;
            double score = (log((double)slot_freq(e)) - d->logtotal) + route[j];
            if (!best_j || score >= best) {
                best = score;
                best_j = j;
            }
        }
        if (!best_j) {
            best = (0.0 - d->logtotal) + route[i + 1];
            best_j = i + 1;
        }
        route[i] = best;
        next[i] = (uint32_t)best_j;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i = next[i])
        ends[k++] = off[next[i]];
    *n_words = k;
    return SEMDEX_OK;
}
