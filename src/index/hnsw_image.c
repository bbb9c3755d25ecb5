/* hnsw_image.c: saving an HNSW index to a byte image and loading it back
 * with every count, offset and link validated (a damaged image is an error,
 * never a crash).  The layout is docs/FORMAT.md, "HNSW image"; the storage
 * it mirrors is described in hnsw_int.h.  Knows nothing of SQLite. */
#include "hnsw_int.h"
#include "alloc.h"
#include "err.h"
#include "kern.h"
#include <math.h>
#include <pthread.h>
#include <string.h>

#define IMAGE_MAGIC "SDXHNSW1"
#define IMAGE_VERSION 1u
#define IMAGE_HEADER 96u
#define IMAGE_FILE "hnsw image"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hnsw_image.c copies arrays as little-endian; add byte swapping for this target"
#endif

/* ------------------------------------------------------------- CRC-32 */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

/* Slicing-by-8 (several GB/s): an image of a million 384-d vectors is
 * checked in well under a second. */
uint32_t hnsw_checksum(const void *buf, size_t size)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = buf;
    uint32_t c = 0xFFFFFFFFu;
    while (size >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= c;
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
            crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        p += 8;
        size -= 8;
    }
    while (size--)
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ------------------------------------------------------------- layout */

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Section sizes in bytes, in image order; 0 on overflow of the total. */
typedef struct image_layout {
    size_t labels, vecs, links0, upper, free_list, levels, total;
} image_layout;

static int mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static int add_ok(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

static int layout(size_t n_slots, size_t dim, size_t M, size_t n_upper, size_t n_free, image_layout *L)
{
    size_t t;
    if (!mul_ok(n_slots, 8, &L->labels) || !mul_ok(n_slots, dim, &t) || !mul_ok(t, 4, &L->vecs) ||
        !mul_ok(n_slots, 1 + 2 * M, &t) || !mul_ok(t, 4, &L->links0) || !mul_ok(n_upper, 4, &L->upper) ||
        !mul_ok(n_free, 4, &L->free_list))
        return -1;
    L->levels = n_slots;
    size_t sum = IMAGE_HEADER + 4;
    const size_t parts[] = {L->labels, L->vecs, L->links0, L->upper, L->free_list, L->levels};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (!add_ok(sum, parts[i], &sum))
            return -1;
    L->total = sum;
    return 0;
}

size_t hnsw_save_size(const hnsw_index *h)
{
    image_layout L;
    if (!h || layout(h->n_slots, h->dim, h->M, h->n_upper, h->n_free, &L))
        return 0;
    return L.total;
}

semdex_status hnsw_save(const hnsw_index *h, void *buf, size_t size, semdex_error *err)
{
    if (!h || !buf)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, IMAGE_FILE, NULL, -1, "hnsw_save: NULL argument");
    image_layout L;
    if (layout(h->n_slots, h->dim, h->M, h->n_upper, h->n_free, &L) || size < L.total)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, IMAGE_FILE, NULL, -1,
                          "hnsw_save: buffer of %zu bytes, image needs %zu", size, L.total);
    uint8_t *p = buf;
    memset(p, 0, IMAGE_HEADER);
    memcpy(p, IMAGE_MAGIC, 8);
    put_u32(p + 8, IMAGE_VERSION);
    put_u32(p + 12, (uint32_t)h->metric);
    put_u64(p + 16, h->dim);
    put_u64(p + 24, h->M);
    put_u64(p + 32, h->ef_construction);
    put_u64(p + 40, h->seed);
    put_u64(p + 48, h->rng);
    put_u64(p + 56, h->n_slots);
    put_u64(p + 64, h->n_live);
    put_u64(p + 72, h->n_free);
    put_u64(p + 80, h->n_upper);
    put_u32(p + 88, h->entry);
    put_u32(p + 92, (uint32_t)(int32_t)h->max_level);
    size_t o = IMAGE_HEADER;
    memcpy(p + o, h->labels, L.labels);
    o += L.labels;
    memcpy(p + o, h->vecs, L.vecs);
    o += L.vecs;
    memcpy(p + o, h->links0, L.links0);
    o += L.links0;
    memcpy(p + o, h->upper, L.upper);
    o += L.upper;
    memcpy(p + o, h->free_slots, L.free_list);
    o += L.free_list;
    memcpy(p + o, h->levels, L.levels);
    o += L.levels;
    put_u32(p + o, hnsw_checksum(p, o));
    return SEMDEX_OK;
}

/* --------------------------------------------------------------- load */

#define BAD(off, ...) sx_err_set(err, SEMDEX_ERR_FORMAT, IMAGE_FILE, NULL, (int64_t)(off), __VA_ARGS__)

/* Checks one link list: count within capacity, every link a slot other
 * than s whose level reaches `level`. */
static int check_links(const hnsw_index *h, uint32_t s, int level, size_t base, semdex_error *err)
{
    const uint32_t *l = hnsw_links(h, s, level);
    size_t cap = level ? h->M : h->maxM0;
    size_t off = base + (level ? (h->upper_off[s] + (size_t)(level - 1) * (1 + h->M)) * 4
                               : (size_t)s * (1 + h->maxM0) * 4);
    if (l[0] > cap) {
        BAD(off, "slot %u level %d: %u links, at most %zu", s, level, l[0], cap);
        return -1;
    }
    for (uint32_t j = 1; j <= l[0]; j++) {
        uint32_t t = l[j];
        if (t >= h->n_slots || t == s || h->levels[t] < level) {
            BAD(off + 4 * j, "slot %u level %d: bad link %u", s, level, t);
            return -1;
        }
    }
    return 0;
}

static semdex_status load_body(hnsw_index *h, const uint8_t *p, const image_layout *L, semdex_error *err)
{
    size_t o_labels = IMAGE_HEADER, o_vecs = o_labels + L->labels, o_links0 = o_vecs + L->vecs;
    size_t o_upper = o_links0 + L->links0, o_free = o_upper + L->upper, o_levels = o_free + L->free_list;
    size_t n = h->n_slots;
    memcpy(h->labels, p + o_labels, L->labels);
    memcpy(h->vecs, p + o_vecs, L->vecs);
    memcpy(h->links0, p + o_links0, L->links0);
    memcpy(h->upper, p + o_upper, L->upper);
    memcpy(h->free_slots, p + o_free, L->free_list);
    memcpy(h->levels, p + o_levels, L->levels);

    size_t words = 0;
    for (size_t s = 0; s < n; s++) {
        if (h->levels[s] > HNSW_MAX_LEVEL)
            return BAD(o_levels + s, "slot %zu: level %u above %d", s, h->levels[s], HNSW_MAX_LEVEL);
        h->upper_off[s] = words;
        words += (size_t)h->levels[s] * (1 + h->M); /* <= n * 64 * 1025: no overflow */
    }
    if (words != h->n_upper)
        return BAD(80, "upper links: %zu words in the header, levels need %zu", h->n_upper, words);
    memset(h->dead, 0, n);
    for (size_t i = 0; i < h->n_free; i++) {
        uint32_t s = h->free_slots[i];
        if (s >= n || h->dead[s])
            return BAD(o_free + 4 * i, "free list entry %zu: bad or repeated slot %u", i, s);
        h->dead[s] = 1;
    }
    for (size_t i = 0; i < L->vecs / 4; i++)
        if (!isfinite(h->vecs[i]))
            return BAD(o_vecs + 4 * i, "vector of slot %zu: non-finite value", i / h->dim);
    for (size_t s = 0; s < n; s++)
        for (int level = 0; level <= h->levels[s]; level++)
            if (check_links(h, (uint32_t)s, level, level ? o_upper : o_links0, err))
                return err ? err->status : SEMDEX_ERR_FORMAT;
    if (h->n_live == 0) {
        if (h->entry != HNSW_NONE || h->max_level != -1)
            return BAD(88, "empty index with an entry point");
    } else {
        if (h->entry >= n || h->dead[h->entry] || h->levels[h->entry] != h->max_level)
            return BAD(88, "bad entry point %u (level %d)", h->entry, h->max_level);
        for (size_t s = 0; s < n; s++)
            if (!h->dead[s] && h->levels[s] > h->max_level)
                return BAD(o_levels + s, "live slot %zu above the entry point's level", s);
    }
    int r = hnsw_map_rebuild(h);
    if (r == -1)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, IMAGE_FILE, NULL, -1, "hnsw_load: label map");
    if (r == -2)
        return BAD(o_labels, "two live vectors share a label");
    return SEMDEX_OK;
}

hnsw_index *hnsw_load(const void *buf, size_t size, semdex_error *err)
{
    const uint8_t *p = buf;
    if (!p || size < IMAGE_HEADER + 4) {
        BAD(size, "truncated: %zu bytes, an image has at least %u", size, IMAGE_HEADER + 4);
        return NULL;
    }
    if (memcmp(p, IMAGE_MAGIC, 8)) {
        BAD(0, "not an HNSW image (bad magic)");
        return NULL;
    }
    uint32_t version = get_u32(p + 8);
    if (version != IMAGE_VERSION) {
        sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, IMAGE_FILE, "version", 8, "image version %u (this build reads %u)",
                   version, IMAGE_VERSION);
        return NULL;
    }
    uint32_t metric = get_u32(p + 12);
    uint64_t dim = get_u64(p + 16), M = get_u64(p + 24), efc = get_u64(p + 32);
    uint64_t n_slots = get_u64(p + 56), n_live = get_u64(p + 64), n_free = get_u64(p + 72);
    uint64_t n_upper = get_u64(p + 80);
    uint32_t entry = get_u32(p + 88);
    int32_t max_level = (int32_t)get_u32(p + 92);
    const char *bad = metric >= HNSW_METRIC_COUNT                               ? "metric"
                      : !dim || dim > HNSW_MAX_DIM                              ? "dim"
                      : M < 2 || M > HNSW_MAX_M                                 ? "M"
                      : efc < M || efc > HNSW_MAX_EF_CONSTRUCTION               ? "ef_construction"
                      : n_slots > HNSW_MAX_SLOTS                                ? "n_slots"
                      : n_live > n_slots || n_free != n_slots - n_live          ? "n_live/n_free"
                      : max_level < -1 || max_level > HNSW_MAX_LEVEL            ? "max_level"
                      : n_upper > (uint64_t)n_slots * HNSW_MAX_LEVEL * (1 + M)  ? "n_upper"
                                                                                : NULL;
    if (bad) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, IMAGE_FILE, bad, -1, "bad header field %s", bad);
        return NULL;
    }
    image_layout L;
    if (layout(n_slots, dim, M, n_upper, n_free, &L) || L.total != size) {
        BAD(size, "image of %zu bytes, its header describes %zu", size, L.total);
        return NULL;
    }
    uint32_t stored = get_u32(p + size - 4), actual = hnsw_checksum(p, size - 4);
    if (stored != actual) {
        BAD(size - 4, "checksum mismatch (stored %08x, computed %08x): damaged image", stored, actual);
        return NULL;
    }
    kern_init();
    hnsw_index *h = hnsw_alloc(dim, (hnsw_metric)metric, M, efc, get_u64(p + 40), n_slots, n_upper);
    if (!h || (h->free_cap = n_slots + 1, !(h->free_slots = sx_malloc(h->free_cap * sizeof *h->free_slots)))) {
        hnsw_free(h);
        sx_err_set(err, SEMDEX_ERR_NOMEM, IMAGE_FILE, NULL, -1, "hnsw_load: %zu vectors", (size_t)n_slots);
        return NULL;
    }
    h->rng = get_u64(p + 48);
    h->n_slots = n_slots;
    h->n_live = n_live;
    h->n_free = n_free;
    h->n_upper = n_upper;
    h->entry = entry;
    h->max_level = max_level;
    if (load_body(h, p, &L, err)) {
        hnsw_free(h);
        return NULL;
    }
    return h;
}
