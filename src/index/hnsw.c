/* hnsw.c: HNSW graph over a collection's vectors (Malkov & Yashunin 2018):
 * insert with the neighbour-selection heuristic, deletes that re-link the
 * deleted node's neighbours and recycle its slot, best-first search with an
 * optional filter on results, and exact (brute-force) search.  Uses kern/ for
 * distances; knows nothing of BM25, SQLite or models.  Save/load is in
 * hnsw_image.c; the storage layout is described in hnsw_int.h. */
#include "hnsw_int.h"
#include "alloc.h"
#include "err.h"
#include "kern.h"
#include <math.h>
#include <string.h>

hnsw_params hnsw_params_default(void)
{
    hnsw_params p = {16, 200, 42};
    return p;
}

/* ------------------------------------------------------------ distances */

static inline float dist(const hnsw_index *h, const float *a, const float *b)
{
    if (h->metric == HNSW_METRIC_L2)
        return kern_l2sq(a, b, h->dim);
    return 1.0f - kern_dot(a, b, h->dim);
}

static inline float dist_slots(const hnsw_index *h, uint32_t a, uint32_t b)
{
    return dist(h, hnsw_vec(h, a), hnsw_vec(h, b));
}

/* ------------------------------------------------------------- heaps */

static void minheap_push(hnsw_cand *a, size_t *n, hnsw_cand c)
{
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (a[p].d <= c.d)
            break;
        a[i] = a[p];
        i = p;
    }
    a[i] = c;
}

static hnsw_cand minheap_pop(hnsw_cand *a, size_t *n)
{
    hnsw_cand top = a[0], last = a[--*n];
    size_t i = 0, m = *n;
    if (!m)
        return top;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= m)
            break;
        if (l + 1 < m && a[l + 1].d < a[l].d)
            l++;
        if (last.d <= a[l].d)
            break;
        a[i] = a[l];
        i = l;
    }
    a[i] = last;
    return top;
}

static void maxheap_push(hnsw_cand *a, size_t *n, hnsw_cand c)
{
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (a[p].d >= c.d)
            break;
        a[i] = a[p];
        i = p;
    }
    a[i] = c;
}

static hnsw_cand maxheap_pop(hnsw_cand *a, size_t *n)
{
    hnsw_cand top = a[0], last = a[--*n];
    size_t i = 0, m = *n;
    if (!m)
        return top;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= m)
            break;
        if (l + 1 < m && a[l + 1].d > a[l].d)
            l++;
        if (last.d >= a[l].d)
            break;
        a[i] = a[l];
        i = l;
    }
    a[i] = last;
    return top;
}

/* Ascending by distance, then slot (deterministic); n is small (<= 2M+1
 * or ef), insertion sort. */
static void cand_sort(hnsw_cand *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        hnsw_cand c = a[i];
        size_t j = i;
        while (j && (a[j - 1].d > c.d || (a[j - 1].d == c.d && a[j - 1].id > c.id))) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = c;
    }
}

/* ---------------------------------------------------------- label map */

static inline size_t map_hash(int64_t label)
{
    uint64_t x = (uint64_t)label;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t)x;
}

static uint32_t map_find(const hnsw_index *h, int64_t label)
{
    if (!h->map_cap)
        return HNSW_NONE;
    size_t mask = h->map_cap - 1;
    for (size_t i = map_hash(label) & mask;; i = (i + 1) & mask) {
        uint32_t s = h->map[i];
        if (s == HNSW_NONE)
            return HNSW_NONE;
        if (h->labels[s] == label)
            return s;
    }
}

static void map_put_unchecked(uint32_t *map, size_t cap, const int64_t *labels, uint32_t slot)
{
    size_t mask = cap - 1;
    size_t i = map_hash(labels[slot]) & mask;
    while (map[i] != HNSW_NONE)
        i = (i + 1) & mask;
    map[i] = slot;
}

/* Keeps the load factor at most 1/2 for `need` entries. */
static int map_reserve(hnsw_index *h, size_t need)
{
    if (need * 2 <= h->map_cap)
        return 0;
    size_t cap = h->map_cap ? h->map_cap : 64;
    while (need * 2 > cap) {
        if (cap > SIZE_MAX / 4 / sizeof(uint32_t))
            return -1;
        cap *= 2;
    }
    uint32_t *m = sx_malloc(cap * sizeof *m);
    if (!m)
        return -1;
    memset(m, 0xFF, cap * sizeof *m);
    for (size_t i = 0; i < h->map_cap; i++)
        if (h->map[i] != HNSW_NONE)
            map_put_unchecked(m, cap, h->labels, h->map[i]);
    sx_free(h->map);
    h->map = m;
    h->map_cap = cap;
    return 0;
}

/* Backward-shift deletion: no tombstones, probes stay short. */
static void map_remove(hnsw_index *h, int64_t label)
{
    size_t mask = h->map_cap - 1;
    size_t i = map_hash(label) & mask;
    while (h->map[i] != HNSW_NONE && h->labels[h->map[i]] != label)
        i = (i + 1) & mask;
    if (h->map[i] == HNSW_NONE)
        return;
    size_t j = i;
    for (;;) {
        h->map[i] = HNSW_NONE;
        for (;;) {
            j = (j + 1) & mask;
            if (h->map[j] == HNSW_NONE)
                return;
            size_t home = map_hash(h->labels[h->map[j]]) & mask;
            /* move j's entry into the hole at i unless its home lies
             * cyclically in (i, j] */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        h->map[i] = h->map[j];
        i = j;
    }
}

int hnsw_map_rebuild(hnsw_index *h)
{
    if (map_reserve(h, h->n_live))
        return -1;
    memset(h->map, 0xFF, h->map_cap * sizeof *h->map);
    for (size_t s = 0; s < h->n_slots; s++) {
        if (h->dead[s])
            continue;
        if (map_find(h, h->labels[s]) != HNSW_NONE)
            return -2;
        map_put_unchecked(h->map, h->map_cap, h->labels, (uint32_t)s);
    }
    return 0;
}

/* ------------------------------------------------------- construction */

hnsw_index *hnsw_alloc(size_t dim, hnsw_metric metric, size_t M, size_t ef_construction, uint64_t seed,
                       size_t cap, size_t upper_cap)
{
    if (!dim || dim > HNSW_MAX_DIM || (unsigned)metric >= HNSW_METRIC_COUNT || M < 2 || M > HNSW_MAX_M ||
        ef_construction > HNSW_MAX_EF_CONSTRUCTION || cap > HNSW_MAX_SLOTS)
        return NULL;
    hnsw_index *h = sx_calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->dim = dim;
    h->metric = metric;
    h->M = M;
    h->maxM0 = 2 * M;
    h->ef_construction = ef_construction < M ? M : ef_construction;
    h->seed = seed;
    h->rng = seed;
    h->mult = 1.0 / log((double)M);
    h->entry = HNSW_NONE;
    h->max_level = -1;
    if (pthread_mutex_init(&h->pool_lock, NULL)) {
        sx_free(h);
        return NULL;
    }
    if (cap < 16)
        cap = 16;
    h->cap = cap;
    h->vecs = sx_malloc(cap * dim * sizeof *h->vecs);
    h->labels = sx_malloc(cap * sizeof *h->labels);
    h->levels = sx_calloc(cap, 1);
    h->dead = sx_calloc(cap, 1);
    h->links0 = sx_calloc(cap, (1 + h->maxM0) * sizeof *h->links0);
    h->upper_off = sx_calloc(cap, sizeof *h->upper_off);
    h->upper_cap = upper_cap ? upper_cap : 64;
    h->upper = sx_malloc(h->upper_cap * sizeof *h->upper);
    if (!h->vecs || !h->labels || !h->levels || !h->dead || !h->links0 || !h->upper_off || !h->upper ||
        map_reserve(h, 16)) {
        hnsw_free(h);
        return NULL;
    }
    /* read at random by every search: at a million 384-d vectors nearly
     * every distance missed the TLB with 4 KiB pages */
    sx_advise_huge_pages(h->vecs, cap * dim * sizeof *h->vecs);
    sx_advise_huge_pages(h->links0, cap * (1 + h->maxM0) * sizeof *h->links0);
    return h;
}

hnsw_index *hnsw_new(size_t dim, hnsw_metric metric, const hnsw_params *params)
{
    hnsw_params p = params ? *params : hnsw_params_default();
    if (!p.M)
        p.M = 16;
    if (!p.ef_construction)
        p.ef_construction = 200;
    kern_init();
    return hnsw_alloc(dim, metric, p.M, p.ef_construction, p.seed, 16, 0);
}

static void scratch_free(hnsw_scratch *s)
{
    if (!s)
        return;
    sx_free(s->tags);
    sx_free(s->cand);
    sx_free(s->top);
    sx_free(s->work);
    sx_free(s->q);
    sx_free(s);
}

void hnsw_free(hnsw_index *h)
{
    if (!h)
        return;
    while (h->pool) {
        hnsw_scratch *s = h->pool;
        h->pool = s->next;
        scratch_free(s);
    }
    pthread_mutex_destroy(&h->pool_lock);
    sx_free(h->vecs);
    sx_free(h->labels);
    sx_free(h->levels);
    sx_free(h->dead);
    sx_free(h->links0);
    sx_free(h->upper_off);
    sx_free(h->upper);
    sx_free(h->free_slots);
    sx_free(h->map);
    sx_free(h);
}

size_t hnsw_dim(const hnsw_index *h) { return h ? h->dim : 0; }
size_t hnsw_count(const hnsw_index *h) { return h ? h->n_live : 0; }

size_t hnsw_memory_bytes(const hnsw_index *h)
{
    if (!h)
        return 0;
    size_t per_slot = h->dim * sizeof(float) + sizeof(int64_t) + 2 + (1 + h->maxM0) * sizeof(uint32_t) +
                      sizeof(size_t);
    size_t n = sizeof *h + h->cap * per_slot + h->upper_cap * sizeof(uint32_t) +
               h->free_cap * sizeof(uint32_t) + h->map_cap * sizeof(uint32_t);
    hnsw_index *m = (hnsw_index *)h; /* the pool is internally synchronized */
    pthread_mutex_lock(&m->pool_lock);
    for (const hnsw_scratch *s = h->pool; s; s = s->next)
        n += sizeof *s + s->n_tags * sizeof(uint16_t) +
             (s->cand_cap + s->top_cap + s->work_cap) * sizeof(hnsw_cand) + h->dim * sizeof(float);
    pthread_mutex_unlock(&m->pool_lock);
    return n;
}

int hnsw_contains(const hnsw_index *h, int64_t label) { return h && map_find(h, label) != HNSW_NONE; }

void hnsw_foreach(const hnsw_index *h, void (*fn)(int64_t label, void *ctx), void *ctx)
{
    if (!h || !fn)
        return;
    for (size_t s = 0; s < h->n_slots; s++)
        if (!h->dead[s])
            fn(h->labels[s], ctx);
}

/* ------------------------------------------------------------ scratch */

static hnsw_scratch *scratch_get(const hnsw_index *h)
{
    hnsw_index *m = (hnsw_index *)h; /* the pool is internally synchronized */
    pthread_mutex_lock(&m->pool_lock);
    hnsw_scratch *s = m->pool;
    if (s)
        m->pool = s->next;
    pthread_mutex_unlock(&m->pool_lock);
    if (!s) {
        s = sx_calloc(1, sizeof *s);
        if (!s)
            return NULL;
        s->q = sx_malloc(h->dim * sizeof *s->q);
        if (!s->q) {
            sx_free(s);
            return NULL;
        }
    }
    if (s->n_tags < h->n_slots) {
        /* room for growth so that a stream of inserts does not realloc
         * the tags every time */
        size_t n = h->cap > h->n_slots ? h->cap : h->n_slots;
        uint16_t *t = sx_realloc(s->tags, n * sizeof *t);
        if (!t) {
            scratch_free(s);
            return NULL;
        }
        memset(t, 0, n * sizeof *t);
        s->tags = t;
        s->n_tags = n;
        s->gen = 0;
    }
    return s;
}

static void scratch_put(const hnsw_index *h, hnsw_scratch *s)
{
    hnsw_index *m = (hnsw_index *)h;
    pthread_mutex_lock(&m->pool_lock);
    s->next = m->pool;
    m->pool = s;
    pthread_mutex_unlock(&m->pool_lock);
}

/* Starts a new visit: every slot unvisited. */
static void scratch_new_visit(hnsw_scratch *s)
{
    if (++s->gen == 0) {
        memset(s->tags, 0, s->n_tags * sizeof *s->tags);
        s->gen = 1;
    }
}

static int cand_reserve(hnsw_cand **a, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    return SX_GROW(*a, *cap, need);
}

/* --------------------------------------------------------------- search */

typedef struct hnsw_accept {
    hnsw_filter_fn filter;
    void *ctx;
    uint32_t exclude; /* a slot never returned (the one being inserted) */
} hnsw_accept;

static inline int accepted(const hnsw_index *h, const hnsw_accept *a, uint32_t s)
{
    if (h->dead[s] || s == a->exclude)
        return 0;
    return !a->filter || a->filter(h->labels[s], a->ctx);
}

/* Greedy descent from ep through levels [from, to): at each level, moves to
 * the closest neighbour while that improves (dead nodes route too). */
static uint32_t greedy_descend(const hnsw_index *h, const float *q, uint32_t ep, float *ep_d, int from, int to)
{
    float best = *ep_d;
    for (int level = from; level > to; level--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            const uint32_t *l = hnsw_links(h, ep, level);
            uint32_t n = l[0];
            for (uint32_t j = 1; j <= n; j++) {
                float d = dist(h, q, hnsw_vec(h, l[j]));
                if (d < best) {
                    best = d;
                    ep = l[j];
                    changed = 1;
                }
            }
        }
    }
    *ep_d = best;
    return ep;
}

/* Best-first search of one level from ep (Algorithm 2 of the paper, as
 * hnswlib runs it): every reached node is a candidate for expansion while
 * it beats the ef-th best accepted result; only accepted nodes (live, not
 * excluded, passing the filter) become results.  With a filter or deletes
 * the search goes on until it holds ef accepted results or runs out of
 * candidates.  Leaves the results in s->top (max-heap); returns their
 * number, or (size_t)-1 when a heap could not grow. */
static size_t search_level(const hnsw_index *h, hnsw_scratch *s, const float *q, uint32_t ep, float ep_d,
                           size_t ef, int level, const hnsw_accept *acc)
{
    size_t n_cand = 0, n_top = 0;
    if (cand_reserve(&s->top, &s->top_cap, ef + 1) || cand_reserve(&s->cand, &s->cand_cap, ef + 1))
        return (size_t)-1;
    scratch_new_visit(s);
    uint16_t gen = s->gen;
    uint16_t *tags = s->tags;
    tags[ep] = gen;
    float bound = INFINITY;
    if (accepted(h, acc, ep)) {
        maxheap_push(s->top, &n_top, (hnsw_cand){ep_d, ep});
        bound = ep_d;
    }
    minheap_push(s->cand, &n_cand, (hnsw_cand){ep_d, ep});
    while (n_cand) {
        if (s->cand[0].d > bound && n_top >= ef)
            break;
        hnsw_cand c = minheap_pop(s->cand, &n_cand);
        const uint32_t *l = hnsw_links(h, c.id, level);
        uint32_t n = l[0];
        if (n) {
            __builtin_prefetch(tags + l[1]);
            __builtin_prefetch(hnsw_vec(h, l[1]));
        }
        for (uint32_t j = 1; j <= n; j++) {
            uint32_t nb = l[j];
            if (j < n) {
                __builtin_prefetch(tags + l[j + 1]);
                __builtin_prefetch(hnsw_vec(h, l[j + 1]));
            }
            if (tags[nb] == gen)
                continue;
            tags[nb] = gen;
            float d = dist(h, q, hnsw_vec(h, nb));
            if (n_top < ef || d < bound) {
                if (n_cand == s->cand_cap && cand_reserve(&s->cand, &s->cand_cap, n_cand + 1))
                    return (size_t)-1;
                minheap_push(s->cand, &n_cand, (hnsw_cand){d, nb});
                if (accepted(h, acc, nb)) {
                    maxheap_push(s->top, &n_top, (hnsw_cand){d, nb});
                    if (n_top > ef)
                        maxheap_pop(s->top, &n_top);
                    bound = s->top[0].d;
                }
            }
        }
    }
    return n_top;
}

/* Copies a query into the scratch, normalized for cosine.  0 when the query
 * has a non-finite value (no meaningful distance). */
static const float *prepare_query(const hnsw_index *h, hnsw_scratch *s, const float *query)
{
    double nrm = 0;
    for (size_t i = 0; i < h->dim; i++)
        nrm += (double)query[i] * query[i];
    if (!isfinite(nrm))
        return NULL;
    if (h->metric != HNSW_METRIC_COSINE)
        return query;
    float inv = nrm > 0 ? (float)(1.0 / sqrt(nrm)) : 0.0f;
    for (size_t i = 0; i < h->dim; i++)
        s->q[i] = query[i] * inv;
    return s->q;
}

/* Pops the max-heap `top` (n entries) into labels/distances ascending,
 * keeping the k best. */
static size_t emit_results(const hnsw_index *h, hnsw_cand *top, size_t n, size_t k, int64_t *labels,
                           float *distances)
{
    while (n > k)
        maxheap_pop(top, &n);
    size_t out = n;
    while (n) {
        hnsw_cand c = maxheap_pop(top, &n);
        labels[n] = h->labels[c.id];
        if (distances)
            distances[n] = c.d;
    }
    return out;
}

size_t hnsw_search(const hnsw_index *h, const float *query, size_t k, size_t ef, hnsw_filter_fn filter,
                   void *filter_ctx, int64_t *labels, float *distances)
{
    if (!h || !query || !labels || !k || !h->n_live || h->entry == HNSW_NONE)
        return 0;
    hnsw_scratch *s = scratch_get(h);
    if (!s)
        return 0;
    size_t got = 0;
    const float *q = prepare_query(h, s, query);
    if (q) {
        if (ef < k)
            ef = k;
        if (ef > h->n_slots) /* a larger breadth finds nothing more, and would size the heaps */
            ef = h->n_slots;
        if (k > ef)
            k = ef;
        uint32_t ep = h->entry;
        float ep_d = dist(h, q, hnsw_vec(h, ep));
        ep = greedy_descend(h, q, ep, &ep_d, h->max_level, 0);
        hnsw_accept acc = {filter, filter_ctx, HNSW_NONE};
        size_t n = search_level(h, s, q, ep, ep_d, ef, 0, &acc);
        if (n != (size_t)-1)
            got = emit_results(h, s->top, n, k, labels, distances);
    }
    scratch_put(h, s);
    return got;
}

size_t hnsw_search_exact(const hnsw_index *h, const float *query, size_t k, hnsw_filter_fn filter,
                         void *filter_ctx, int64_t *labels, float *distances)
{
    if (!h || !query || !labels || !k || !h->n_live)
        return 0;
    if (k > h->n_live)
        k = h->n_live;
    hnsw_scratch *s = scratch_get(h);
    if (!s)
        return 0;
    size_t got = 0;
    const float *q = prepare_query(h, s, query);
    if (q && !cand_reserve(&s->top, &s->top_cap, k + 1)) {
        size_t n = 0;
        float bound = INFINITY;
        for (size_t i = 0; i < h->n_slots; i++) {
            if (h->dead[i])
                continue;
            /* the filter first: it is cheaper than a distance and a
             * selective filter skips most of them */
            if (filter && !filter(h->labels[i], filter_ctx))
                continue;
            float d = dist(h, q, hnsw_vec(h, (uint32_t)i));
            if (n < k || d < bound) {
                maxheap_push(s->top, &n, (hnsw_cand){d, (uint32_t)i});
                if (n > k)
                    maxheap_pop(s->top, &n);
                bound = s->top[0].d;
            }
        }
        got = emit_results(h, s->top, n, k, labels, distances);
    }
    scratch_put(h, s);
    return got;
}

int hnsw_filter_prefers_exact(const hnsw_index *h, size_t n_pass)
{
    if (!h || !h->n_live)
        return 1;
    double live = (double)h->n_live, pass = (double)n_pass;
    return pass * 100 < live || pass * pass / live < HNSW_EXACT_CROSSOVER;
}

/* ----------------------------------------------------- neighbour choice */

/* The heuristic of the paper (Algorithm 4, as hnswlib's
 * getNeighborsByHeuristic2): from candidates c[0..n) sorted by distance to
 * the base, keep one when it is closer to the base than to every one kept
 * before, up to m.  Fewer than m candidates are all kept. */
static size_t select_neighbors(const hnsw_index *h, const hnsw_cand *c, size_t n, size_t m, uint32_t *out)
{
    if (n < m) {
        for (size_t i = 0; i < n; i++)
            out[i] = c[i].id;
        return n;
    }
    size_t k = 0;
    for (size_t i = 0; i < n && k < m; i++) {
        const float *v = hnsw_vec(h, c[i].id);
        int good = 1;
        for (size_t j = 0; j < k; j++) {
            if (dist(h, hnsw_vec(h, out[j]), v) < c[i].d) {
                good = 0;
                break;
            }
        }
        if (good)
            out[k++] = c[i].id;
    }
    return k;
}

/* Adds a link e -> s at level; when e's list is full, re-selects e's
 * neighbours among its links plus s with the heuristic. */
static int link_back(hnsw_index *h, hnsw_scratch *s, uint32_t e, uint32_t slot, int level)
{
    size_t cap = level ? h->M : h->maxM0;
    uint32_t *l = hnsw_links(h, e, level);
    uint32_t n = l[0];
    for (uint32_t j = 1; j <= n; j++)
        if (l[j] == slot)
            return 0; /* a stale link from the slot's previous life */
    if (n < cap) {
        l[n + 1] = slot;
        l[0] = n + 1;
        return 0;
    }
    if (cand_reserve(&s->work, &s->work_cap, n + 1))
        return -1;
    const float *ve = hnsw_vec(h, e);
    s->work[0] = (hnsw_cand){dist(h, ve, hnsw_vec(h, slot)), slot};
    for (uint32_t j = 1; j <= n; j++)
        s->work[j] = (hnsw_cand){dist(h, ve, hnsw_vec(h, l[j])), l[j]};
    cand_sort(s->work, n + 1);
    l[0] = (uint32_t)select_neighbors(h, s->work, n + 1, cap, l + 1);
    return 0;
}

static int random_level(hnsw_index *h)
{
    /* splitmix64 */
    uint64_t z = (h->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    double u = (double)((z >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
    double l = -log(u) * h->mult;
    return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (int)l;
}

/* Grows the per-slot arrays to cap slots (capped at HNSW_MAX_SLOTS).  Each
 * array grows on its own; a failure leaves the larger ones in place and
 * h->cap unchanged, which is consistent. */
static int grow_to(hnsw_index *h, size_t cap)
{
    if (cap > HNSW_MAX_SLOTS)
        cap = HNSW_MAX_SLOTS;
    if (cap <= h->cap)
        return 0;
    float *v = sx_realloc(h->vecs, cap * h->dim * sizeof *v);
    if (!v)
        return -1;
    h->vecs = v;
    int64_t *lb = sx_realloc(h->labels, cap * sizeof *lb);
    if (!lb)
        return -1;
    h->labels = lb;
    uint8_t *lv = sx_realloc(h->levels, cap);
    if (!lv)
        return -1;
    h->levels = lv;
    uint8_t *dd = sx_realloc(h->dead, cap);
    if (!dd)
        return -1;
    h->dead = dd;
    uint32_t *l0 = sx_realloc(h->links0, cap * (1 + h->maxM0) * sizeof *l0);
    if (!l0)
        return -1;
    h->links0 = l0;
    sx_advise_huge_pages(h->vecs, cap * h->dim * sizeof *h->vecs);
    sx_advise_huge_pages(h->links0, cap * (1 + h->maxM0) * sizeof *h->links0);
    size_t *uo = sx_realloc(h->upper_off, cap * sizeof *uo);
    if (!uo)
        return -1;
    h->upper_off = uo;
    h->cap = cap;
    return 0;
}

semdex_status hnsw_reserve(hnsw_index *h, size_t n, semdex_error *err)
{
    if (!h)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "hnsw_reserve: NULL index");
    if (n > HNSW_MAX_SLOTS)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, -1, "hnsw: more than %zu vectors",
                          (size_t)HNSW_MAX_SLOTS);
    /* upper levels hold about n / (M - 1) blocks of 1 + M words */
    size_t upper = n / (h->M - 1) * (1 + h->M) + 64;
    if (grow_to(h, n) || map_reserve(h, n) ||
        (h->free_cap < n + 1 && SX_GROW(h->free_slots, h->free_cap, n + 1)) ||
        (h->upper_cap < upper && SX_GROW(h->upper, h->upper_cap, upper)))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "hnsw_reserve: %zu vectors", n);
    return SEMDEX_OK;
}

/* A slot for a new vector: the most recently freed one (it keeps its level
 * and upper-link block), or a new one at a random level. */
static semdex_status take_slot(hnsw_index *h, uint32_t *out, semdex_error *err)
{
    if (h->n_free) {
        *out = h->free_slots[--h->n_free];
        return SEMDEX_OK;
    }
    if (h->n_slots >= HNSW_MAX_SLOTS)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, -1, "hnsw: more than %zu vectors",
                          (size_t)HNSW_MAX_SLOTS);
    if (h->n_slots == h->cap && grow_to(h, h->cap * 2))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "hnsw: growing to %zu vectors", h->cap * 2);
    int level = random_level(h);
    size_t words = (size_t)level * (1 + h->M);
    if (h->n_upper + words > h->upper_cap && SX_GROW(h->upper, h->upper_cap, h->n_upper + words))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "hnsw: growing the upper links");
    uint32_t s = (uint32_t)h->n_slots++;
    h->levels[s] = (uint8_t)level;
    h->dead[s] = 1; /* until the insert completes */
    h->upper_off[s] = h->n_upper;
    h->n_upper += words;
    /* a slot handed back unused must still save and load as a valid one */
    memset(h->vecs + (size_t)s * h->dim, 0, h->dim * sizeof *h->vecs);
    h->labels[s] = 0;
    memset(hnsw_links(h, s, 0), 0, (1 + h->maxM0) * sizeof(uint32_t));
    memset(h->upper + h->upper_off[s], 0, words * sizeof(uint32_t));
    *out = s;
    return SEMDEX_OK;
}

static void give_back_slot(hnsw_index *h, uint32_t s)
{
    /* free_cap >= n_slots is kept by hnsw_add, so this never fails */
    h->dead[s] = 1;
    h->free_slots[h->n_free++] = s;
}

/* Connects the vector in `slot` (level L) into the graph (Algorithm 1). */
static semdex_status insert_slot(hnsw_index *h, hnsw_scratch *s, uint32_t slot, semdex_error *err)
{
    int L = h->levels[slot];
    const float *v = hnsw_vec(h, slot);
    for (int l = 0; l <= L; l++)
        hnsw_links(h, slot, l)[0] = 0;
    if (h->entry == HNSW_NONE)
        return SEMDEX_OK;
    uint32_t ep = h->entry;
    float ep_d = dist(h, v, hnsw_vec(h, ep));
    if (L < h->max_level)
        ep = greedy_descend(h, v, ep, &ep_d, h->max_level, L);
    hnsw_accept acc = {NULL, NULL, slot};
    for (int level = L < h->max_level ? L : h->max_level; level >= 0; level--) {
        size_t n = search_level(h, s, v, ep, ep_d, h->ef_construction, level, &acc);
        if (n == (size_t)-1 || cand_reserve(&s->work, &s->work_cap, n))
            return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "hnsw: search scratch");
        size_t m = n;
        while (n) /* ascending */
            s->work[n - 1] = maxheap_pop(s->top, &n);
        cand_sort(s->work, m);
        if (!m)
            continue; /* only dead nodes reachable at this level */
        uint32_t *l = hnsw_links(h, slot, level);
        l[0] = (uint32_t)select_neighbors(h, s->work, m, h->M, l + 1);
        ep = s->work[0].id;
        ep_d = s->work[0].d;
        for (uint32_t j = 1; j <= l[0]; j++)
            if (link_back(h, s, l[j], slot, level))
                return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "hnsw: neighbour scratch");
    }
    return SEMDEX_OK;
}

semdex_status hnsw_add(hnsw_index *h, int64_t label, const float *vec, semdex_error *err)
{
    if (!h || !vec)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "hnsw_add: NULL argument");
    double nrm = 0;
    for (size_t i = 0; i < h->dim; i++)
        nrm += (double)vec[i] * vec[i];
    if (!isfinite(nrm))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1,
                          "hnsw_add: vector of label %lld has a non-finite value", (long long)label);
    /* reserve everything that can fail before changing the graph */
    if (map_reserve(h, h->n_live + 1) ||
        (h->free_cap < h->n_slots + 1 && SX_GROW(h->free_slots, h->free_cap, h->n_slots + 1)))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "hnsw_add: label map");
    hnsw_delete(h, label); /* replacing: the freed slot is taken right back */
    uint32_t slot = HNSW_NONE;
    semdex_status st = take_slot(h, &slot, err);
    if (st)
        return st;
    hnsw_scratch *s = scratch_get(h);
    if (!s) {
        give_back_slot(h, slot);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "hnsw_add: search scratch");
    }
    float *v = h->vecs + (size_t)slot * h->dim;
    float scale = h->metric == HNSW_METRIC_COSINE && nrm > 0 ? (float)(1.0 / sqrt(nrm)) : 1.0f;
    for (size_t i = 0; i < h->dim; i++)
        v[i] = vec[i] * scale;
    h->labels[slot] = label;
    st = insert_slot(h, s, slot, err);
    scratch_put(h, s);
    if (st) {
        /* the slot may be linked already; as a dead node it stays a valid
         * router and is recycled */
        for (int l = 0; l <= h->levels[slot]; l++)
            hnsw_links(h, slot, l)[0] = 0;
        give_back_slot(h, slot);
        return st;
    }
    h->dead[slot] = 0;
    map_put_unchecked(h->map, h->map_cap, h->labels, slot);
    h->n_live++;
    if (h->entry == HNSW_NONE || (int)h->levels[slot] > h->max_level) {
        h->entry = slot;
        h->max_level = h->levels[slot];
    }
    return SEMDEX_OK;
}

/* ---------------------------------------------------------------- delete */

/* Repairs the links of n at level after its neighbour d was deleted: n
 * keeps its other links (re-running the heuristic over all of them would
 * prune the list to a fraction of its size and lose paths), and d's place
 * goes to d's live neighbours, closest first, each admitted by the
 * heuristic against what n links to (the paths that went through d); when
 * none is admitted, the closest one takes it. */
static int relink(hnsw_index *h, hnsw_scratch *s, uint32_t n, uint32_t d, int level)
{
    uint32_t *ln = hnsw_links(h, n, level);
    const uint32_t *ld = hnsw_links(h, d, level);
    size_t cap = level ? h->M : h->maxM0;
    if (cand_reserve(&s->work, &s->work_cap, ld[0]))
        return -1;
    scratch_new_visit(s);
    s->tags[n] = s->tags[d] = s->gen;
    uint32_t k = 0;
    for (uint32_t j = 1; j <= ln[0]; j++) {
        if (ln[j] == d)
            continue;
        s->tags[ln[j]] = s->gen;
        ln[++k] = ln[j];
    }
    const float *vn = hnsw_vec(h, n);
    size_t m = 0;
    for (uint32_t j = 1; j <= ld[0]; j++) {
        uint32_t x = ld[j];
        if (h->dead[x] || s->tags[x] == s->gen)
            continue;
        s->tags[x] = s->gen;
        s->work[m++] = (hnsw_cand){dist(h, vn, hnsw_vec(h, x)), x};
    }
    cand_sort(s->work, m);
    uint32_t kept = k;
    for (size_t i = 0; i < m && k < cap; i++) {
        const float *v = hnsw_vec(h, s->work[i].id);
        int good = 1;
        for (uint32_t j = 1; j <= k && good; j++)
            if (!h->dead[ln[j]] && dist(h, hnsw_vec(h, ln[j]), v) < s->work[i].d)
                good = 0;
        if (good)
            ln[++k] = s->work[i].id;
    }
    if (k == kept && m && k < cap)
        ln[++k] = s->work[0].id;
    ln[0] = k;
    return 0;
}

/* The live slot of the highest level (lowest slot among equals). */
static void choose_entry(hnsw_index *h)
{
    h->entry = HNSW_NONE;
    h->max_level = -1;
    for (size_t i = 0; i < h->n_slots; i++) {
        if (!h->dead[i] && (int)h->levels[i] > h->max_level) {
            h->entry = (uint32_t)i;
            h->max_level = h->levels[i];
        }
    }
}

int hnsw_delete(hnsw_index *h, int64_t label)
{
    if (!h)
        return 0;
    uint32_t d = map_find(h, label);
    if (d == HNSW_NONE)
        return 0;
    map_remove(h, label);
    give_back_slot(h, d);
    h->n_live--;
    /* Re-link the neighbours that linked back to d.  Without scratch (out
     * of memory) the deletion still holds: d is dead, never returned, and
     * keeps routing searches until its slot is reused. */
    hnsw_scratch *s = scratch_get(h);
    if (s) {
        for (int level = 0; level <= h->levels[d]; level++) {
            const uint32_t *ld = hnsw_links(h, d, level);
            for (uint32_t j = 1; j <= ld[0]; j++) {
                uint32_t n = ld[j];
                if (h->dead[n])
                    continue;
                const uint32_t *ln = hnsw_links(h, n, level);
                for (uint32_t i = 1; i <= ln[0]; i++) {
                    if (ln[i] == d) {
                        relink(h, s, n, d, level);
                        break;
                    }
                }
            }
        }
        scratch_put(h, s);
    }
    if (h->entry == d)
        choose_entry(h);
    return 1;
}
