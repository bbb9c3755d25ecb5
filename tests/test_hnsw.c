/* test_hnsw.c: tests of the HNSW index (src/index/hnsw.h): recall against
 * brute force for each metric, deletes that keep recall and reuse space,
 * filtered search, save/load round trips, damaged images, the vecs reader,
 * and recall on the shipped ANN sets (../shared/data/ann) against their
 * ground truth.  Also keeps the fuzz seeds (fuzz/corpus/fuzz_hnsw_image) in
 * step with the image format: HNSW_WRITE_SEEDS=1 rewrites them. */
#include "test.h"
#include "../src/index/hnsw.h"
#include "../src/index/hnsw_vecs.h"
#include "alloc.h"
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* ------------------------------------------------------------ helpers */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float rng_gauss(uint64_t *s)
{
    double u = ((rng_next(s) >> 11) + 1) * 0x1.0p-53, v = (rng_next(s) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* n vectors around n_clusters gaussian centres (sigma 1 around centres of
 * sigma `spread`): the shape of embeddings, unlike uniform noise. */
static float *clustered_spread(size_t n, size_t dim, size_t n_clusters, float spread, uint64_t seed)
{
    uint64_t s = seed;
    float *c = malloc(n_clusters * dim * sizeof *c), *x = malloc(n * dim * sizeof *x);
    for (size_t i = 0; i < n_clusters * dim; i++)
        c[i] = spread * rng_gauss(&s);
    for (size_t i = 0; i < n; i++) {
        size_t k = rng_next(&s) % n_clusters;
        for (size_t j = 0; j < dim; j++)
            x[i * dim + j] = c[k * dim + j] + rng_gauss(&s);
    }
    free(c);
    return x;
}

static float *clustered(size_t n, size_t dim, size_t n_clusters, uint64_t seed)
{
    return clustered_spread(n, dim, n_clusters, 3, seed);
}

static hnsw_index *build(const float *x, size_t n, size_t dim, hnsw_metric metric, size_t M, size_t efc)
{
    hnsw_params p = hnsw_params_default();
    p.M = M;
    p.ef_construction = efc;
    hnsw_index *h = hnsw_new(dim, metric, &p);
    if (!h)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        semdex_error err = {0};
        if (hnsw_add(h, (int64_t)i, x + i * dim, &err)) {
            hnsw_free(h);
            return NULL;
        }
    }
    return h;
}

/* Mean recall@k of hnsw_search against hnsw_search_exact over nq queries. */
static double recall_vs_exact(const hnsw_index *h, const float *q, size_t nq, size_t k, size_t ef,
                              hnsw_filter_fn filter, void *ctx)
{
    size_t dim = hnsw_dim(h), hit = 0, total = 0;
    int64_t got[64], want[64];
    for (size_t i = 0; i < nq; i++) {
        size_t ng = hnsw_search(h, q + i * dim, k, ef, filter, ctx, got, NULL);
        size_t nw = hnsw_search_exact(h, q + i * dim, k, filter, ctx, want, NULL);
        for (size_t a = 0; a < nw; a++)
            for (size_t b = 0; b < ng; b++)
                if (want[a] == got[b]) {
                    hit++;
                    break;
                }
        total += nw;
    }
    return total ? (double)hit / (double)total : 1.0;
}

/* ------------------------------------------------------ basic contract */

TEST(hnsw_rejects_bad_parameters)
{
    hnsw_params p = hnsw_params_default();
    CHECK(p.M == 16 && p.ef_construction == 200);
    CHECK(!hnsw_new(0, HNSW_METRIC_L2, NULL));
    CHECK(!hnsw_new(1 << 17, HNSW_METRIC_L2, NULL));
    CHECK(!hnsw_new(8, HNSW_METRIC_COUNT, NULL));
    p.M = 1;
    CHECK(!hnsw_new(8, HNSW_METRIC_L2, &p));
    hnsw_index *h = hnsw_new(3, HNSW_METRIC_L2, NULL);
    CHECK(h);
    float bad[3] = {1, NAN, 0}, inf[3] = {INFINITY, 0, 0}, ok[3] = {1, 2, 3};
    semdex_error err = {0};
    CHECK(hnsw_add(h, 1, bad, &err) == SEMDEX_ERR_INVALID_ARG && err.status == SEMDEX_ERR_INVALID_ARG);
    CHECK(hnsw_add(h, 1, inf, &err) == SEMDEX_ERR_INVALID_ARG);
    CHECK(hnsw_add(h, 1, NULL, &err) == SEMDEX_ERR_INVALID_ARG);
    CHECK(hnsw_count(h) == 0);
    int64_t lab[4];
    CHECK(hnsw_search(h, ok, 4, 10, NULL, NULL, lab, NULL) == 0); /* empty */
    CHECK(!hnsw_add(h, 7, ok, &err));
    CHECK(hnsw_search(h, bad, 4, 10, NULL, NULL, lab, NULL) == 0); /* NaN query */
    CHECK(hnsw_search(h, ok, 0, 10, NULL, NULL, lab, NULL) == 0);
    float d[4];
    CHECK(hnsw_search(h, ok, 4, 1, NULL, NULL, lab, d) == 1 && lab[0] == 7 && d[0] == 0);
    /* absurd k and ef are bounded by the index, not allocated */
    CHECK(hnsw_search(h, ok, 4, SIZE_MAX / 2, NULL, NULL, lab, d) == 1);
    CHECK(hnsw_search_exact(h, ok, SIZE_MAX / 2, NULL, NULL, lab, d) == 1);
    hnsw_free(h);
    hnsw_free(NULL);
}

TEST(hnsw_add_replace_delete_contains)
{
    hnsw_index *h = hnsw_new(2, HNSW_METRIC_L2, NULL);
    CHECK(h);
    semdex_error err = {0};
    for (int i = 0; i < 100; i++) {
        float v[2] = {(float)i, 0};
        CHECK(!hnsw_add(h, i * 10, v, &err));
    }
    CHECK(hnsw_count(h) == 100 && hnsw_dim(h) == 2);
    CHECK(hnsw_contains(h, 500) && !hnsw_contains(h, 505));
    float v[2] = {1000, 0};
    CHECK(!hnsw_add(h, 500, v, &err)); /* replace */
    CHECK(hnsw_count(h) == 100);
    int64_t lab[3];
    float d[3];
    CHECK(hnsw_search(h, v, 1, 10, NULL, NULL, lab, d) == 1 && lab[0] == 500 && d[0] == 0);
    float q[2] = {50, 0};
    CHECK(hnsw_search(h, q, 3, 10, NULL, NULL, lab, d) == 3);
    CHECK(lab[0] == 490 || lab[0] == 510);
    CHECK(d[0] == 1 && d[1] == 1 && d[2] == 4);
    CHECK(hnsw_delete(h, 490) == 1 && hnsw_delete(h, 490) == 0 && !hnsw_contains(h, 490));
    CHECK(hnsw_count(h) == 99);
    CHECK(hnsw_search(h, q, 1, 10, NULL, NULL, lab, d) == 1 && lab[0] == 510);
    /* delete everything, then the index works again from scratch */
    for (int i = 0; i < 100; i++)
        hnsw_delete(h, i * 10);
    CHECK(hnsw_count(h) == 0);
    CHECK(hnsw_search(h, q, 3, 10, NULL, NULL, lab, d) == 0);
    size_t mem = hnsw_memory_bytes(h);
    for (int i = 0; i < 100; i++) {
        float w[2] = {0, (float)i};
        CHECK(!hnsw_add(h, -i, w, &err));
    }
    CHECK(hnsw_memory_bytes(h) == mem); /* every slot reused */
    float q2[2] = {0, 41.2f};
    CHECK(hnsw_search(h, q2, 1, 10, NULL, NULL, lab, d) == 1 && lab[0] == -41);
    hnsw_free(h);
}

static void count_label(int64_t label, void *ctx)
{
    int64_t *sum = ctx;
    sum[0]++;
    sum[1] += label;
}

TEST(hnsw_reserve_makes_room)
{
    hnsw_index *h = hnsw_new(8, HNSW_METRIC_L2, NULL);
    CHECK(h);
    semdex_error err = {0};
    CHECK(!hnsw_reserve(h, 1000, &err));
    size_t mem = hnsw_memory_bytes(h);
    float *x = clustered(1000, 8, 10, 4);
    for (size_t i = 0; i < 1000; i++)
        CHECK(!hnsw_add(h, (int64_t)i, x + i * 8, &err));
    CHECK(hnsw_memory_bytes(h) < mem + 65536); /* scratch and upper links, no slot growth */
    CHECK(!hnsw_reserve(h, 10, &err) && hnsw_count(h) == 1000); /* never shrinks */
    CHECK(hnsw_reserve(NULL, 10, &err) == SEMDEX_ERR_INVALID_ARG);
    free(x);
    hnsw_free(h);
}

TEST(hnsw_foreach_visits_live_labels)
{
    hnsw_index *h = hnsw_new(4, HNSW_METRIC_DOT, NULL);
    CHECK(h);
    semdex_error err = {0};
    for (int i = 1; i <= 50; i++) {
        float v[4] = {(float)i, 1, 0, 0};
        CHECK(!hnsw_add(h, i, v, &err));
    }
    hnsw_delete(h, 50);
    int64_t sum[2] = {0, 0};
    hnsw_foreach(h, count_label, sum);
    CHECK(sum[0] == 49 && sum[1] == 49 * 50 / 2);
    hnsw_free(h);
}

/* ----------------------------------------------------------- recall */

static void check_metric_recall(hnsw_metric metric, double min_recall)
{
    const size_t n = 4000, dim = 24, nq = 100, k = 10;
    float *x = clustered(n + nq, dim, 40, 7 + (uint64_t)metric);
    hnsw_index *h = build(x, n, dim, metric, 16, 100);
    CHECK(h);
    double r = recall_vs_exact(h, x + n * dim, nq, k, 64, NULL, NULL);
    /* exact search agrees with a plain loop, and the distances are the
     * metric's (cosine: 1 - cos, dot: 1 - dot, L2: squared) */
    const float *q = x + n * dim;
    int64_t lab[10];
    float d[10];
    CHECK(hnsw_search_exact(h, q, k, NULL, NULL, lab, d) == k);
    for (size_t i = 0; i < k; i++) {
        const float *v = x + (size_t)lab[i] * dim;
        double dot = 0, nv = 0, nq2 = 0, l2 = 0;
        for (size_t j = 0; j < dim; j++) {
            dot += (double)v[j] * q[j];
            nv += (double)v[j] * v[j];
            nq2 += (double)q[j] * q[j];
            l2 += ((double)v[j] - q[j]) * ((double)v[j] - q[j]);
        }
        double want = metric == HNSW_METRIC_L2 ? l2 : metric == HNSW_METRIC_DOT ? 1 - dot : 1 - dot / sqrt(nv * nq2);
        CHECKF(fabs(d[i] - want) <= 1e-4 * (1 + fabs(want)), "distance %g, expected %g", d[i], want);
        CHECK(i == 0 || d[i] >= d[i - 1]);
    }
    test_note("recall@10 %.4f at ef 64", r);
    CHECKF(r >= min_recall, "recall@10 %.4f below %.2f", r, min_recall);
    hnsw_free(h);
    free(x);
}

TEST(hnsw_recall_l2) { check_metric_recall(HNSW_METRIC_L2, 0.97); }
TEST(hnsw_recall_cosine) { check_metric_recall(HNSW_METRIC_COSINE, 0.97); }
/* dot on unnormalized vectors is not a metric; HNSW still finds most */
TEST(hnsw_recall_dot) { check_metric_recall(HNSW_METRIC_DOT, 0.90); }

TEST(hnsw_cosine_normalizes)
{
    hnsw_index *h = hnsw_new(3, HNSW_METRIC_COSINE, NULL);
    CHECK(h);
    semdex_error err = {0};
    float a[3] = {10, 0, 0}, b[3] = {0, 0.1f, 0}, q[3] = {0.001f, 0.002f, 0};
    CHECK(!hnsw_add(h, 1, a, &err) && !hnsw_add(h, 2, b, &err));
    int64_t lab[2];
    float d[2];
    CHECK(hnsw_search(h, q, 2, 10, NULL, NULL, lab, d) == 2);
    CHECK(lab[0] == 2 && lab[1] == 1);
    CHECK(fabsf(d[0] - (1 - 2 / sqrtf(5))) < 1e-5f && fabsf(d[1] - (1 - 1 / sqrtf(5))) < 1e-5f);
    hnsw_free(h);
}

/* ------------------------------------------------------------ deletes */

typedef struct deleted_set {
    const uint8_t *gone; /* by label */
} deleted_set;

TEST(hnsw_delete_keeps_recall_and_reuses_slots)
{
    /* the acceptance at a size for make test: 20,000 x 32, remove
     * 10%: deleted ids never return, recall@10 at fixed ef drops by less
     * than 0.01, and later inserts reuse the space.  Hard data (1000
     * overlapping clusters) and a small ef keep recall well below 1, where
     * a loss would show. */
    const size_t n = 20000, dim = 32, nq = 300, k = 10, ef = 24, n_del = n / 10;
    float *x = clustered_spread(n + n_del + nq, dim, 1000, 1, 99);
    const float *q = x + (n + n_del) * dim;
    hnsw_index *h = build(x, n, dim, HNSW_METRIC_L2, 16, 100);
    CHECK(h);
    semdex_error err = {0};
    double before = recall_vs_exact(h, q, nq, k, ef, NULL, NULL);
    size_t mem = hnsw_memory_bytes(h), image = hnsw_save_size(h);
    uint8_t *gone = calloc(n + n_del, 1);
    uint64_t s = 5;
    for (size_t done = 0; done < n_del;) {
        size_t i = rng_next(&s) % n;
        if (gone[i])
            continue;
        CHECK(hnsw_delete(h, (int64_t)i) == 1);
        gone[i] = 1;
        done++;
    }
    CHECK(hnsw_count(h) == n - n_del);
    double after = recall_vs_exact(h, q, nq, k, ef, NULL, NULL);
    /* deleted labels never come back, even for their own vectors */
    int64_t lab[10];
    for (size_t i = 0; i < n; i++) {
        if (!gone[i])
            continue;
        size_t got = hnsw_search(h, x + i * dim, k, ef, NULL, NULL, lab, NULL);
        CHECK(got == k);
        for (size_t j = 0; j < got; j++)
            CHECKF(!gone[lab[j]], "deleted label %lld returned", (long long)lab[j]);
    }
    /* new vectors take the freed slots: no growth */
    for (size_t i = n; i < n + n_del; i++)
        CHECK(!hnsw_add(h, (int64_t)i, x + i * dim, &err));
    CHECK(hnsw_count(h) == n);
    CHECKF(hnsw_memory_bytes(h) == mem && hnsw_save_size(h) == image, "memory %zu -> %zu, image %zu -> %zu", mem,
           hnsw_memory_bytes(h), image, hnsw_save_size(h));
    double reused = recall_vs_exact(h, q, nq, k, ef, NULL, NULL);
    /* the index after reuse against one built afresh from the same set */
    hnsw_params p = hnsw_params_default();
    p.ef_construction = 100;
    hnsw_index *fresh = hnsw_new(dim, HNSW_METRIC_L2, &p);
    CHECK(fresh);
    for (size_t i = 0; i < n + n_del; i++)
        if (!gone[i])
            CHECK(!hnsw_add(fresh, (int64_t)i, x + i * dim, &err));
    double base = recall_vs_exact(fresh, q, nq, k, ef, NULL, NULL);
    hnsw_free(fresh);
    test_note("recall@10 at ef %zu: %.4f, 10%% deleted %.4f; reinserted %.4f (fresh build %.4f)", ef, before,
              after, reused, base);
    CHECKF(after > before - 0.01, "recall dropped from %.4f to %.4f", before, after);
    CHECKF(reused > base - 0.01, "recall %.4f after reuse, %.4f built afresh", reused, base);
    free(gone);
    free(x);
    hnsw_free(h);
}

/* ------------------------------------------------------------ filters */

typedef struct mod_filter {
    int64_t mod;
    size_t calls;
} mod_filter;

static int keep_mod(int64_t label, void *ctx)
{
    mod_filter *f = ctx;
    f->calls++;
    return label % f->mod == 0;
}

TEST(hnsw_filtered_search)
{
    const size_t n = 10000, dim = 16, nq = 100, k = 10;
    float *x = clustered(n + nq, dim, 50, 3);
    const float *q = x + n * dim;
    hnsw_index *h = build(x, n, dim, HNSW_METRIC_L2, 16, 100);
    CHECK(h);
    /* results pass the filter and are sorted */
    mod_filter f = {10, 0};
    int64_t lab[10];
    float d[10];
    size_t got = hnsw_search(h, q, k, 40, keep_mod, &f, lab, d);
    CHECK(got == k);
    for (size_t i = 0; i < got; i++)
        CHECK(lab[i] % 10 == 0 && (i == 0 || d[i] >= d[i - 1]));
    double r10 = recall_vs_exact(h, q, nq, k, 64, keep_mod, &f);
    CHECK(hnsw_filter_prefers_exact(h, n / 100) && hnsw_filter_prefers_exact(h, n / 10));
    CHECK(!hnsw_filter_prefers_exact(h, n));
    f.mod = 100; /* 1%: what the store sends to hnsw_search_exact */
    double r1_graph = recall_vs_exact(h, q, nq, k, 64, keep_mod, &f);
    got = hnsw_search_exact(h, q, k, keep_mod, &f, lab, d);
    CHECK(got == k);
    for (size_t i = 0; i < got; i++)
        CHECK(lab[i] % 100 == 0);
    /* a filter nothing passes: no results, no hang */
    f.mod = INT64_MAX;
    CHECK(hnsw_search(h, q, k, 40, keep_mod, &f, lab, d) <= 1);
    test_note("recall@10 vs exact filtered at ef 64: 10%% pass %.4f, 1%% pass %.4f", r10, r1_graph);
    CHECKF(r10 >= 0.97, "10%% filter recall %.4f", r10);
    CHECKF(r1_graph >= 0.9, "1%% filter recall %.4f", r1_graph);
    hnsw_free(h);
    free(x);
}

/* --------------------------------------------------------- save/load */

static uint8_t *save(const hnsw_index *h, size_t *size)
{
    *size = hnsw_save_size(h);
    uint8_t *buf = malloc(*size);
    semdex_error err = {0};
    if (!buf || hnsw_save(h, buf, *size, &err)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A small index with deletes (a free list) for image tests. */
static hnsw_index *small_index(size_t n, size_t dim, hnsw_metric metric, size_t M, size_t n_del)
{
    float *x = clustered(n, dim, 4, 11);
    hnsw_index *h = build(x, n, dim, metric, M, 32);
    for (size_t i = 0; h && i < n_del; i++)
        hnsw_delete(h, (int64_t)(i * 3 % n));
    free(x);
    return h;
}

TEST(hnsw_save_load_round_trip)
{
    const size_t n = 3000, dim = 16, nq = 50, k = 10;
    float *x = clustered(n + 2 * nq, dim, 30, 21);
    hnsw_index *h = build(x, n, dim, HNSW_METRIC_COSINE, 12, 80);
    CHECK(h);
    for (size_t i = 0; i < n; i += 7)
        hnsw_delete(h, (int64_t)i);
    size_t size;
    uint8_t *img = save(h, &size);
    CHECK(img);
    semdex_error err = {0};
    hnsw_index *g = hnsw_load(img, size, &err);
    CHECKF(g, "load failed: %s", err.message);
    CHECK(hnsw_count(g) == hnsw_count(h) && hnsw_dim(g) == dim);
    const float *q = x + n * dim;
    for (size_t i = 0; i < nq; i++) {
        int64_t la[10], lb[10];
        float da[10], db[10];
        size_t na = hnsw_search(h, q + i * dim, k, 30, NULL, NULL, la, da);
        size_t nb = hnsw_search(g, q + i * dim, k, 30, NULL, NULL, lb, db);
        CHECK(na == nb && !memcmp(la, lb, na * sizeof *la) && !memcmp(da, db, na * sizeof *da));
    }
    /* inserts after a load continue exactly as without it (same levels,
     * same free list), so the two indexes stay identical */
    for (size_t i = n; i < n + nq; i++) {
        CHECK(!hnsw_add(h, (int64_t)i, x + i * dim, &err));
        CHECK(!hnsw_add(g, (int64_t)i, x + i * dim, &err));
    }
    size_t s1, s2;
    uint8_t *a = save(h, &s1), *b = save(g, &s2);
    CHECK(a && b && s1 == s2 && !memcmp(a, b, s1));
    CHECK(hnsw_save(h, a, s1 - 1, &err) == SEMDEX_ERR_INVALID_ARG);
    free(a);
    free(b);
    free(img);
    free(x);
    hnsw_free(h);
    hnsw_free(g);
}

TEST(hnsw_load_rejects_every_truncation_and_flip)
{
    hnsw_index *h = small_index(40, 3, HNSW_METRIC_L2, 4, 6);
    CHECK(h);
    size_t size;
    uint8_t *img = save(h, &size);
    CHECK(img);
    semdex_error err = {0};
    for (size_t len = 0; len < size; len++) {
        err.status = SEMDEX_OK;
        hnsw_index *g = hnsw_load(img, len, &err);
        CHECKF(!g, "accepted an image cut to %zu of %zu bytes", len, size);
        CHECK(err.status == SEMDEX_ERR_FORMAT);
    }
    uint8_t *bad = malloc(size + 1);
    memcpy(bad, img, size);
    bad[size] = 0;
    CHECK(!hnsw_load(bad, size + 1, &err)); /* trailing byte */
    for (size_t i = 0; i < size; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(bad, img, size);
            bad[i] ^= (uint8_t)(1u << bit);
            err.status = SEMDEX_OK;
            hnsw_index *g = hnsw_load(bad, size, &err);
            CHECKF(!g, "accepted an image with byte %zu flipped", i);
            CHECK(err.status != SEMDEX_OK);
        }
    }
    /* with the checksum fixed up, structural damage is still caught: every
     * link, count and level is checked (a flip that happens to keep the
     * image valid may load; it must then work) */
    size_t rejected = 0;
    for (size_t i = 8; i < size - 4; i++) {
        memcpy(bad, img, size);
        bad[i] ^= 0x80;
        uint32_t c = hnsw_checksum(bad, size - 4);
        memcpy(bad + size - 4, &c, 4);
        hnsw_index *g = hnsw_load(bad, size, &err);
        if (!g) {
            rejected++;
            continue;
        }
        float q[3] = {0, 0, 0};
        int64_t lab[5];
        hnsw_search(g, q, 5, 10, NULL, NULL, lab, NULL);
        hnsw_free(g);
    }
    test_note("%zu-byte image; %zu of %zu resealed flips rejected", size, rejected, size - 12);
    free(bad);
    free(img);
    hnsw_free(h);
}

TEST(hnsw_load_reports_version_and_magic)
{
    hnsw_index *h = small_index(10, 2, HNSW_METRIC_DOT, 2, 0);
    CHECK(h);
    size_t size;
    uint8_t *img = save(h, &size);
    CHECK(img && !memcmp(img, "SDXHNSW1", 8));
    semdex_error err = {0};
    img[8] = 2; /* version 2 */
    CHECK(!hnsw_load(img, size, &err) && err.status == SEMDEX_ERR_UNSUPPORTED);
    img[8] = 1;
    img[0] = 'X';
    CHECK(!hnsw_load(img, size, &err) && err.status == SEMDEX_ERR_FORMAT && err.offset == 0);
    free(img);
    hnsw_free(h);
}

/* Allocation failures anywhere in add, search or load are errors, never
 * crashes, and leave the index usable. */
TEST(hnsw_survives_allocation_failures)
{
    const size_t dim = 8;
    float *x = clustered(300, dim, 5, 8);
    hnsw_index *ref = build(x, 200, dim, HNSW_METRIC_L2, 4, 20);
    CHECK(ref);
    size_t size;
    uint8_t *img = save(ref, &size);
    CHECK(img);
    size_t failures = 0;
    for (long fail = 0; fail < 60; fail++) {
        semdex_error err = {0};
        sx_alloc_fail_after(fail);
        hnsw_index *g = hnsw_load(img, size, &err);
        sx_alloc_fail_after(-1);
        if (!g) {
            CHECK(err.status == SEMDEX_ERR_NOMEM);
            failures++;
            continue;
        }
        /* grow it under failures too */
        sx_alloc_fail_after(fail);
        for (size_t i = 200; i < 300; i++)
            if (hnsw_add(g, (int64_t)i, x + i * dim, &err))
                failures++;
        int64_t lab[5];
        hnsw_search(g, x, 5, 10, NULL, NULL, lab, NULL);
        sx_alloc_fail_after(-1);
        for (size_t i = 200; i < 300; i++)
            CHECK(!hnsw_add(g, (int64_t)i, x + i * dim, &err));
        CHECK(hnsw_count(g) == 300);
        CHECK(hnsw_search(g, x + 250 * dim, 1, 20, NULL, NULL, lab, NULL) == 1 && lab[0] == 250);
        hnsw_free(g);
    }
    test_note("%zu injected failures handled", failures);
    CHECK(failures > 0);
    free(img);
    free(x);
    hnsw_free(ref);
}

/* ------------------------------------------------------ concurrency */

typedef struct search_job {
    const hnsw_index *h;
    const float *q;
    size_t nq, dim;
    int64_t *out; /* nq x 10 */
} search_job;

static void *search_thread(void *arg)
{
    search_job *j = arg;
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < j->nq; i++)
            hnsw_search(j->h, j->q + i * j->dim, 10, 32, NULL, NULL, j->out + i * 10, NULL);
    return NULL;
}

TEST(hnsw_concurrent_searches_agree)
{
    const size_t n = 2000, dim = 16, nq = 100;
    float *x = clustered(n + nq, dim, 20, 31);
    hnsw_index *h = build(x, n, dim, HNSW_METRIC_L2, 8, 40);
    CHECK(h);
    int64_t *want = calloc(nq * 10, sizeof *want), *got[4];
    search_job one = {h, x + n * dim, nq, dim, want};
    search_thread(&one);
    pthread_t t[4];
    search_job jobs[4];
    for (int i = 0; i < 4; i++) {
        got[i] = calloc(nq * 10, sizeof *got[i]);
        jobs[i] = (search_job){h, x + n * dim, nq, dim, got[i]};
        CHECK(!pthread_create(&t[i], NULL, search_thread, &jobs[i]));
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK(!memcmp(want, got[i], nq * 10 * sizeof *want));
        free(got[i]);
    }
    free(want);
    free(x);
    hnsw_free(h);
}

/* ------------------------------------------------------- vecs reader */

TEST(hnsw_vecs_reader_checks_sizes)
{
    uint8_t buf[64];
    int32_t d = 2;
    float f[2] = {1.5f, -2};
    memcpy(buf, &d, 4);
    memcpy(buf + 4, f, 8);
    memcpy(buf + 12, &d, 4);
    memcpy(buf + 16, f, 8);
    hnsw_vecs v;
    semdex_error err = {0};
    CHECK(!hnsw_vecs_parse(buf, 24, HNSW_VECS_F32, &v, &err));
    CHECK(v.n == 2 && v.dim == 2 && v.f[3] == -2 && !v.i);
    hnsw_vecs_free(&v);
    CHECK(hnsw_vecs_parse(buf, 23, HNSW_VECS_F32, &v, &err) == SEMDEX_ERR_FORMAT && err.offset == 12);
    CHECK(hnsw_vecs_parse(buf, 3, HNSW_VECS_F32, &v, &err) == SEMDEX_ERR_FORMAT);
    CHECK(!hnsw_vecs_parse(buf, 0, HNSW_VECS_F32, &v, &err) && v.n == 0);
    d = 3;
    memcpy(buf + 12, &d, 4);
    CHECK(hnsw_vecs_parse(buf, 24, HNSW_VECS_F32, &v, &err) == SEMDEX_ERR_FORMAT && err.offset == 12);
    d = -1;
    memcpy(buf, &d, 4);
    CHECK(hnsw_vecs_parse(buf, 24, HNSW_VECS_F32, &v, &err) == SEMDEX_ERR_FORMAT && err.offset == 0);
    d = 4; /* bvecs: 4 + 4 bytes per record */
    memcpy(buf, &d, 4);
    memcpy(buf + 4, "\x01\x02\xff\x00", 4);
    CHECK(!hnsw_vecs_parse(buf, 8, HNSW_VECS_U8, &v, &err) && v.n == 1 && v.f[2] == 255);
    hnsw_vecs_free(&v);
    CHECK(hnsw_vecs_read("no/such.fvecs", &v, &err) == SEMDEX_ERR_IO);
    CHECK(hnsw_vecs_read("x.txt", &v, &err) == SEMDEX_ERR_INVALID_ARG);
}

/* ------------------------------------------- shipped ANN ground truth */

static double gt_recall(const char *name, const char *base_ext, const char *query_ext, size_t ef, double *build_s)
{
    char pb[512], pq[512], pg[512];
    const char *dir = getenv("SEMDEX_ANN_DATA");
    dir = dir && *dir ? dir : "../shared/data/ann";
    snprintf(pb, sizeof pb, "%s/%s_base.%s", dir, name, base_ext);
    snprintf(pq, sizeof pq, "%s/%s_query.%s", dir, name, query_ext);
    snprintf(pg, sizeof pg, "%s/%s_groundtruth.ivecs", dir, name);
    hnsw_vecs b, q, g;
    semdex_error err = {0};
    if (hnsw_vecs_read(pb, &b, &err))
        return -1;
    if (hnsw_vecs_read(pq, &q, &err)) {
        hnsw_vecs_free(&b);
        return -1;
    }
    if (hnsw_vecs_read(pg, &g, &err) || g.n != q.n || g.dim < 10 || q.dim != b.dim) {
        hnsw_vecs_free(&b);
        hnsw_vecs_free(&q);
        return -1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hnsw_index *h = build(b.f, b.n, b.dim, HNSW_METRIC_L2, 16, 200);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *build_s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    size_t hit = 0;
    for (size_t i = 0; h && i < q.n; i++) {
        int64_t lab[10];
        size_t n = hnsw_search(h, q.f + i * q.dim, 10, ef, NULL, NULL, lab, NULL);
        for (size_t a = 0; a < 10; a++)
            for (size_t c = 0; c < n; c++)
                if (lab[c] == g.i[i * g.dim + a]) {
                    hit++;
                    break;
                }
    }
    double r = h ? (double)hit / (double)(10 * q.n) : -1;
    hnsw_free(h);
    hnsw_vecs_free(&b);
    hnsw_vecs_free(&q);
    hnsw_vecs_free(&g);
    return r;
}

TEST(hnsw_bigann10k_recall)
{
    double t;
    double r = gt_recall("bigann10k", "bvecs", "bvecs", 40, &t);
    CHECKF(r >= 0, "cannot read ../shared/data/ann/bigann10k (set SEMDEX_ANN_DATA)");
    test_note("recall@10 %.4f at ef 40 against the shipped ground truth; build %.2f s", r, t);
    CHECKF(r >= 0.99, "recall@10 %.4f", r);
}

TEST(hnsw_fmnistsmall_recall)
{
    double t;
    double r = gt_recall("fmnistsmall", "fvecs", "fvecs", 20, &t);
    CHECKF(r >= 0, "cannot read ../shared/data/ann/fmnistsmall (set SEMDEX_ANN_DATA)");
    test_note("recall@10 %.4f at ef 20 against the shipped ground truth; build %.2f s", r, t);
    CHECKF(r >= 0.99, "recall@10 %.4f", r);
}

/* ------------------------------------------------------- fuzz seeds */

/* The seeds of fuzz/corpus/fuzz_hnsw_image are these images (written with
 * HNSW_WRITE_SEEDS=1); every committed seed must load under the current
 * format.  (Not compared byte for byte: a faster distance kernel may sum in
 * another order and build a slightly different graph.) */
TEST(hnsw_fuzz_seeds_current)
{
    static const struct {
        const char *name;
        size_t n, dim, M, n_del;
        hnsw_metric metric;
    } seeds[] = {
        {"seed_l2_40x3_m4", 40, 3, 4, 6, HNSW_METRIC_L2},
        {"seed_cos_24x5_m2", 24, 5, 2, 0, HNSW_METRIC_COSINE},
        {"seed_dot_12x2_m3_alldel", 12, 2, 3, 12, HNSW_METRIC_DOT},
        {"seed_l2_1x1_m2", 1, 1, 2, 0, HNSW_METRIC_L2},
    };
    int write = getenv("HNSW_WRITE_SEEDS") && *getenv("HNSW_WRITE_SEEDS") == '1';
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "fuzz/corpus/fuzz_hnsw_image/%s", seeds[i].name);
        if (write) {
            hnsw_index *h = small_index(seeds[i].n, seeds[i].dim, seeds[i].metric, seeds[i].M, 0);
            CHECK(h);
            for (size_t j = 0; j < seeds[i].n_del; j++)
                hnsw_delete(h, (int64_t)(j * 5 % seeds[i].n));
            size_t size;
            uint8_t *img = save(h, &size);
            hnsw_free(h);
            CHECK(img);
            mkdir("fuzz/corpus/fuzz_hnsw_image", 0777);
            FILE *f = fopen(path, "wb");
            int ok = f && fwrite(img, 1, size, f) == size;
            if (f)
                fclose(f);
            free(img);
            CHECK(ok);
        }
        size_t len;
        char *have = test_read_file(path, &len);
        CHECKF(have, "missing seed %s (HNSW_WRITE_SEEDS=1 writes it)", path);
        semdex_error err = {0};
        hnsw_index *g = hnsw_load(have, len, &err);
        free(have);
        CHECKF(g, "seed %s does not load: %s (HNSW_WRITE_SEEDS=1 rewrites it)", path, err.message);
        CHECK(hnsw_count(g) == seeds[i].n - seeds[i].n_del && hnsw_dim(g) == seeds[i].dim);
        hnsw_free(g);
    }
}

/* ------------------------------------------------- semdex bench ann */

TEST(hnsw_cli_bench_ann)
{
    const char *dir = getenv("SEMDEX_ANN_DATA");
    dir = dir && *dir ? dir : "../shared/data/ann";
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s bench ann --base %s/fmnistsmall_base.fvecs --query %s/fmnistsmall_query.fvecs "
             "--gt %s/fmnistsmall_groundtruth.ivecs --ef 10,40 --reps 1 --queries 100 --exact --persist 2>&1",
             test_semdex_bin(), dir, dir, dir);
    FILE *p = popen(cmd, "r");
    CHECK(p);
    char line[512];
    double r40 = -1;
    int build = 0, exact = 0, persisted = 0;
    while (fgets(line, sizeof line, p)) {
        build |= !strncmp(line, "build seconds=", 14);
        exact |= !strncmp(line, "exact qps=", 10);
        /* the image saved, read back and loaded answers every query alike */
        persisted |= !strncmp(line, "persist image_mb=", 17) && strstr(line, " queries=100 ") &&
                     strstr(line, " differing=0\n");
        if (!strncmp(line, "search ef=40 ", 13)) {
            const char *r = strstr(line, "recall@10=");
            if (r)
                r40 = atof(r + 10);
        }
    }
    int rc = pclose(p);
    CHECKF(rc == 0 && build && exact && persisted, "semdex bench ann failed (rc %d)", rc);
    CHECKF(r40 >= 0.99, "recall@10 at ef 40: %.4f", r40);
    /* bad input: an error, exit status 1 */
    snprintf(cmd, sizeof cmd, "%s bench ann --base /nonexistent.fvecs --query x.fvecs --gt y.ivecs 2>/dev/null",
             test_semdex_bin());
    p = popen(cmd, "r");
    CHECK(p);
    while (fgets(line, sizeof line, p))
        ;
    rc = pclose(p);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
}
