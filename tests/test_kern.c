/* test_kern.c: the kernel layer against its references (ref.c): every fast
 * kernel on odd sizes (0, 1, 7, 17, 383, 1023 and the encoder's shapes) and
 * unaligned pointers (offset by one float), with the tolerances argued next
 * to each check; and the thread pool (every task exactly once, nested and
 * concurrent callers).  Where the CPU has no fast path the kernels are the
 * references and the comparisons hold trivially. */
#include "test.h"
#include "alloc.h"
#include "kern.h"
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }

/* uniform in [lo, hi) */
static float rnd(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static void fill(float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = rnd(lo, hi);
}

/* A buffer of n floats starting one float past a 32-byte boundary, so that
 * no vector access to it is aligned; free with ufree. */
static float *ualloc(size_t n)
{
    float *raw = aligned_alloc(32, ((n + 9) * sizeof(float) + 63) / 32 * 32);
    if (!raw)
        abort();
    raw[0] = (float)n; /* unused: keeps the word initialized */
    return raw + 1;
}

static void ufree(float *p)
{
    if (p)
        free(p - 1);
}

TEST(kern_name_matches_cpu)
{
    const char *pin = getenv("SEMDEX_KERNEL");
    const char *name = kern_name();
    CHECK(!strcmp(name, "avx2-fma") || !strcmp(name, "reference"));
    if (pin && !strcmp(pin, "reference"))
        CHECK(!strcmp(name, "reference"));
#if defined(__x86_64__)
    else {
        __builtin_cpu_init();
        int fast = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        CHECK(!strcmp(name, fast ? "avx2-fma" : "reference"));
    }
#endif
    test_note("kernels: %s", name);
}

/* ---------------------------------------------------------------- gemm */

typedef struct gemm_shape {
    size_t M, N, K;
} gemm_shape;

static const gemm_shape gemm_shapes[] = {
    {0, 5, 7},    {5, 0, 7},     {5, 7, 0},      {1, 1, 1},     {1, 7, 17},     {7, 1, 383}, {17, 17, 17},
    {1, 384, 384}, {16, 384, 384}, {37, 1536, 384}, {5, 17, 1023}, {6, 16, 256}, {13, 33, 513},
    {150, 40, 300}, {7, 1023, 7}, {290, 33, 20},
};

/* The fast product sums each output's K products in index order, as the
 * reference does, with one FMA per product instead of a rounded product
 * then a rounded sum.  Each of the two computations then carries K product
 * roundings and K sum roundings of at most u = FLT_EPSILON/2 times the
 * magnitudes involved, bounded by S = sum |a_k b_k| (+ |bias|).  On random
 * data these errors are independent and of both signs, so their sum grows
 * like sqrt(K), not K: |fast - ref| <= 4 FLT_EPSILON sqrt(K + 1) S leaves a
 * margin of several standard deviations (the worst case seen is printed). */
static int gemm_close(size_t M, size_t N, size_t K, const double *S, const float *bias, const float *C,
                      const float *R, size_t ldc, double *worst)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = S[i * N + j] + (bias ? fabs(bias[j]) : 0);
            double d = fabs((double)C[i * ldc + j] - R[i * ldc + j]);
            double unit = FLT_EPSILON * sqrt((double)K + 1) * s;
            if (d > 4 * unit || C[i * ldc + j] != C[i * ldc + j]) {
                printf("      (%zu,%zu) fast %.9g ref %.9g tol %.3g\n", i, j, C[i * ldc + j], R[i * ldc + j],
                       4 * unit);
                return 0;
            }
            if (unit > 0 && d / unit > *worst)
                *worst = d / unit;
        }
    return 1;
}

/* Columns past N in each row of C (up to ldc) must be untouched. */
static int gemm_margins_intact(size_t M, size_t N, const float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = N; j < ldc; j++)
            if (C[i * ldc + j] != -7.0f)
                return 0;
    return 1;
}

TEST(kern_sgemm_matches_reference)
{
    kern_pool *pool = kern_pool_new(2);
    CHECK(pool);
    double worst = 0;
    for (size_t s = 0; s < sizeof gemm_shapes / sizeof *gemm_shapes; s++) {
        const gemm_shape g = gemm_shapes[s];
        rng_seed(s + 1);
        /* strides past the widths, pointers off alignment */
        size_t lda = g.K + 3, ldb = g.K + 1, ldc = g.N + 5, ldbn = g.N + 2;
        float *A = ualloc(g.M * lda + 1), *B = ualloc(g.N * ldb + 1), *Bn = ualloc(g.K * ldbn + 1);
        float *bias = ualloc(g.N + 1), *C = ualloc(g.M * ldc + 1), *R = ualloc(g.M * ldc + 1);
        fill(A, g.M * lda, -1, 1);
        fill(B, g.N * ldb, -1, 1);
        fill(bias, g.N, -1, 1);
        for (size_t k = 0; k < g.K; k++) /* Bn = B^T */
            for (size_t j = 0; j < g.N; j++)
                Bn[k * ldbn + j] = B[j * ldb + k];
        kern_packed *P = kern_pack_nt(B, g.N, g.K, ldb);
        CHECK(P && kern_packed_rows(P) == g.N && kern_packed_cols(P) == g.K);
        /* S = sum_k |a_ik b_jk|, and the references with and without bias */
        double *S = malloc((g.M * g.N + 1) * sizeof *S);
        float *R2[2] = {ualloc(g.M * ldc + 1), ualloc(g.M * ldc + 1)};
        CHECK(S);
        for (size_t i = 0; i < g.M; i++)
            for (size_t j = 0; j < g.N; j++) {
                double a = 0;
                for (size_t k = 0; k < g.K; k++)
                    a += fabs((double)A[i * lda + k] * B[j * ldb + k]);
                S[i * g.N + j] = a;
            }
        for (int wb = 0; wb < 2; wb++) {
            for (size_t i = 0; i < g.M * ldc; i++)
                R2[wb][i] = -7.0f;
            kern_ref_sgemm_nt(g.M, g.N, g.K, A, lda, B, ldb, R2[wb], ldc, wb ? bias : NULL);
        }
        for (int variant = 0; variant < 6; variant++) {
            const float *bb = variant & 1 ? bias : NULL;
            kern_pool *pp = variant < 4 ? pool : NULL;
            for (size_t i = 0; i < g.M * ldc; i++)
                C[i] = -7.0f;
            switch (variant >> 1) {
            case 0:
                kern_sgemm_nt(g.M, g.N, g.K, A, lda, B, ldb, C, ldc, bb, pp);
                break;
            case 1:
                kern_sgemm_packed(g.M, A, lda, P, C, ldc, bb, pp);
                break;
            default:
                kern_sgemm_nn(g.M, g.N, g.K, A, lda, Bn, ldbn, C, ldc, bb, pp);
                break;
            }
            CHECKF(gemm_close(g.M, g.N, g.K, S, bb, C, R2[variant & 1], ldc, &worst) &&
                       gemm_margins_intact(g.M, g.N, C, ldc),
                   "M=%zu N=%zu K=%zu variant %d", g.M, g.N, g.K, variant);
        }
        free(S);
        ufree(R2[0]), ufree(R2[1]);
        /* the nn reference agrees with the nt one on B^T exactly */
        for (size_t i = 0; i < g.M * ldc; i++)
            C[i] = R[i] = -7.0f;
        kern_ref_sgemm_nn(g.M, g.N, g.K, A, lda, Bn, ldbn, C, ldc, bias);
        kern_ref_sgemm_nt(g.M, g.N, g.K, A, lda, B, ldb, R, ldc, bias);
        CHECK(!memcmp(C, R, g.M * ldc * sizeof *C));
        kern_packed_free(P);
        ufree(A), ufree(B), ufree(Bn), ufree(bias), ufree(C), ufree(R);
    }
    kern_pool_free(pool);
    test_note("worst |fast-ref| = %.2f FLT_EPSILON sqrt(K+1) S", worst);
}

/* The order of every output's sum depends on K alone, so any split over any
 * number of threads gives the same bits. */
TEST(kern_sgemm_same_bits_on_any_pool)
{
    size_t M = 100, N = 200, K = 700;
    float *A = ualloc(M * K), *B = ualloc(N * K), *C0 = ualloc(M * N), *C = ualloc(M * N);
    rng_seed(42);
    fill(A, M * K, -1, 1);
    fill(B, N * K, -1, 1);
    kern_packed *P = kern_pack_nt(B, N, K, K);
    CHECK(P);
    kern_sgemm_packed(M, A, K, P, C0, N, B, NULL);
    for (int t = 2; t <= 3; t++) {
        kern_pool *pool = kern_pool_new(t);
        CHECK(pool);
        memset(C, 0, M * N * sizeof *C);
        kern_sgemm_packed(M, A, K, P, C, N, B, pool);
        CHECK(!memcmp(C, C0, M * N * sizeof *C));
        kern_sgemm_nt(M, N, K, A, K, B, K, C, N, B, pool);
        CHECK(!memcmp(C, C0, M * N * sizeof *C));
        kern_pool_free(pool);
    }
    kern_packed_free(P);
    ufree(A), ufree(B), ufree(C0), ufree(C);
}

TEST(kern_pack_fails_cleanly)
{
    float B[6 * 5] = {0};
    for (long n = 0;; n++) {
        sx_alloc_fail_after(n);
        kern_packed *P = kern_pack_nt(B, 6, 5, 5);
        long made = sx_alloc_fail_after(-1);
        (void)made;
        if (P) {
            kern_packed_free(P);
            break;
        }
        CHECK(n < 10);
    }
    kern_packed_free(NULL);
}

/* ------------------------------------------------------------ rows */

static const size_t odd_sizes[] = {0, 1, 7, 8, 17, 383, 384, 1023};

/* Layer norm: the fast path does the reference's arithmetic except for the
 * order of the double sums (mean, variance), which can move a float
 * rounding by an ulp; 1e-6 of the output's magnitude (|ref| + |beta|, as
 * the last step adds beta) covers a few ulps. */
TEST(kern_add_layernorm_matches_reference)
{
    double worst = 0;
    for (size_t s = 0; s < sizeof odd_sizes / sizeof *odd_sizes; s++) {
        size_t dim = odd_sizes[s], rows = 3;
        float *x = ualloc(rows * dim), *y = ualloc(rows * dim), *res = ualloc(rows * dim);
        float *gamma = ualloc(dim), *beta = ualloc(dim);
        rng_seed(dim);
        fill(x, rows * dim, -3, 5);
        fill(res, rows * dim, -1, 1);
        fill(gamma, dim, 0.5f, 1.5f);
        fill(beta, dim, -0.2f, 0.2f);
        for (int with_res = 0; with_res < 2; with_res++) {
            memcpy(y, x, rows * dim * sizeof *x);
            float *z = ualloc(rows * dim);
            memcpy(z, x, rows * dim * sizeof *x);
            kern_add_layernorm(y, with_res ? res : NULL, rows, dim, gamma, beta, 1e-12f);
            kern_ref_add_layernorm(z, with_res ? res : NULL, rows, dim, gamma, beta, 1e-12f);
            for (size_t i = 0; i < rows * dim; i++) {
                double m = fabs(z[i]) + fabs(beta[i % dim]), d = fabs((double)y[i] - z[i]);
                CHECKF(d <= 1e-6 * m, "dim %zu i %zu: %.9g vs %.9g", dim, i, y[i], z[i]);
                if (d / m > worst)
                    worst = d / m;
            }
            ufree(z);
        }
        ufree(x), ufree(y), ufree(res), ufree(gamma), ufree(beta);
    }
    test_note("worst relative difference %.2g", worst);
}

/* GELU (erf): the fast path computes 1 + erf(z) (absolute error < 1e-6, the
 * requirement on a vectorized erf; the fit's own is 7e-8, tools/gen_erf_poly.py),
 * and multiplies by 0.5 x, so |fast - ref| <= 0.5 |x| 1e-6 plus two ulps of
 * the result for the final products.  The reference's own 1 + erff(z)
 * rounding (6e-8) is inside that budget.  "erf error" below is the worst
 * |fast - ref| / (0.5 |x|) seen, i.e. the erf difference. */
static int gelu_check(void (*fast)(float *, size_t), void (*ref)(float *, size_t), double *worst)
{
    size_t n = 40001;
    float *x = ualloc(n), *y = ualloc(n), *z = ualloc(n);
    for (size_t i = 0; i < n; i++) /* a dense sweep of [-10, 10], then wide values */
        x[i] = i < 20001 ? -10.0f + (float)i * 1e-3f : rnd(-1, 1) * powf(10.0f, rnd(-8, 8));
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-30f, x[3] = -1e30f, x[4] = 1e30f, x[5] = FLT_MIN;
    memcpy(y, x, n * sizeof *x);
    memcpy(z, x, n * sizeof *x);
    fast(y, n);
    ref(z, n);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        double d = fabs((double)y[i] - z[i]);
        double tol = 0.5 * fabs(x[i]) * 1e-6 + 2 * FLT_EPSILON * fabs(z[i]);
        if (!(d <= tol)) {
            printf("      x=%.9g fast %.9g ref %.9g\n", x[i], y[i], z[i]);
            ok = 0;
        }
        if (x[i] != 0 && d / (0.5 * fabs(x[i])) > *worst)
            *worst = d / (0.5 * fabs(x[i]));
    }
    /* every length, unaligned: tails computed, nothing past n written */
    for (size_t s = 0; s < sizeof odd_sizes / sizeof *odd_sizes && ok; s++) {
        size_t m = odd_sizes[s];
        for (size_t i = 0; i < m; i++)
            y[i] = z[i] = rnd(-6, 6);
        y[m] = z[m] = 123.0f;
        fast(y, m);
        ref(z, m);
        for (size_t i = 0; i < m && ok; i++)
            ok = fabs((double)y[i] - z[i]) <= 6 * 0.5e-6 + 2 * FLT_EPSILON * fabs(z[i]);
        ok = ok && y[m] == 123.0f;
    }
    float nan = NAN;
    fast(&nan, 1);
    ok = ok && nan != nan;
    ufree(x), ufree(y), ufree(z);
    return ok;
}

TEST(kern_gelu_erf_matches_reference)
{
    double worst = 0;
    CHECK(gelu_check(kern_gelu_erf, kern_ref_gelu_erf, &worst));
    test_note("worst erf difference %.2g", worst);
}

TEST(kern_gelu_tanh_matches_reference)
{
    double worst = 0;
    CHECK(gelu_check(kern_gelu_tanh, kern_ref_gelu_tanh, &worst));
    test_note("worst tanh difference %.2g", worst);
}

/* Softmax: each exp within a few ulps of expf, then a division by the sum;
 * the sums differ in order (8 lanes against one running float), and the
 * reference's running sum of n terms errs by about sqrt(n) FLT_EPSILON
 * relative on random data.  Tolerance per element, relative:
 * 1e-6 + 4 sqrt(n) FLT_EPSILON.  Against the exact (double) softmax the
 * fast path must stay within 1e-6 relative, plus what rounding x - max to
 * float costs (both implementations do it). */
TEST(kern_softmax_matches_reference)
{
    double worst_ref = 0, worst_exact = 0;
    for (size_t s = 0; s < sizeof odd_sizes / sizeof *odd_sizes; s++) {
        size_t n = odd_sizes[s];
        for (int scale = 1; scale <= 30; scale *= 30) {
            float *x = ualloc(n + 1), *y = ualloc(n + 1);
            double *e = malloc((n + 1) * sizeof *e);
            float *xs = ualloc(n + 1);
            rng_seed(n * 7 + (size_t)scale);
            fill(x, n, (float)-scale, (float)scale);
            if (n > 3)
                x[2] = -INFINITY; /* a masked position */
            x[n] = y[n] = 99.0f;
            memcpy(y, x, n * sizeof *x);
            double mx = -INFINITY, sum = 0;
            for (size_t i = 0; i < n; i++)
                mx = x[i] > mx ? x[i] : mx;
            for (size_t i = 0; i < n; i++)
                sum += e[i] = exp((double)x[i] - mx);
            memcpy(xs, x, n * sizeof *x);
            kern_softmax(x, n);
            kern_ref_softmax(y, n);
            for (size_t i = 0; i < n; i++) {
                double d = fabs((double)x[i] - y[i]), rel_tol = 1e-6 + 4 * sqrt((double)n) * FLT_EPSILON;
                /* x - max is rounded to float (as in the reference): an
                 * absolute error of half an ulp of it is a relative one in
                 * the exp */
                double ex = e[i] / sum, de = fabs(x[i] - ex);
                double ex_tol = 1e-6 + 0.5 * FLT_EPSILON * fabs((double)xs[i] - mx);
                CHECKF(d <= rel_tol * y[i] && (de == 0 || de <= ex_tol * ex), "n %zu i %zu: %.9g vs %.9g (exact %.9g)", n, i,
                       x[i], y[i], ex);
                if (y[i] > 0 && d / y[i] > worst_ref)
                    worst_ref = d / y[i];
                if (ex > 0 && de / ex > worst_exact)
                    worst_exact = de / ex;
            }
            CHECK(x[n] == 99.0f);
            ufree(x), ufree(y), ufree(xs), free(e);
        }
    }
    test_note("worst relative difference %.2g to the reference, %.2g to exact", worst_ref, worst_exact);
}

/* ------------------------------------------------------ conversions */

/* Both conversions are exact: every one of the 65536 inputs must come out
 * with the reference's bits (a NaN may come out quieted: F16C quiets
 * signaling NaNs), unaligned, and nothing written past n. */
TEST(kern_f16_bf16_match_reference)
{
    size_t n = 65536 + 7;
    uint16_t *src = malloc((n + 1) * sizeof *src);
    float *dst = ualloc(n + 1);
    CHECK(src);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint16_t)i;
    for (int bf = 0; bf < 2; bf++) {
        dst[n] = 5.0f;
        (bf ? kern_bf16_to_f32 : kern_f16_to_f32)(src + 1, dst, n - 1);
        for (size_t i = 0; i < n - 1; i++) {
            float r = bf ? kern_ref_bf16_to_f32(src[i + 1]) : kern_ref_f16_to_f32(src[i + 1]);
            uint32_t a, b;
            memcpy(&a, &dst[i], 4);
            memcpy(&b, &r, 4);
            CHECKF(a == b || (r != r && dst[i] != dst[i]), "%s 0x%04x: 0x%08x vs 0x%08x", bf ? "bf16" : "f16",
                   src[i + 1], a, b);
        }
        CHECK(dst[n - 1] == dst[n - 1] && dst[n] == 5.0f);
        for (size_t s = 0; s < sizeof odd_sizes / sizeof *odd_sizes; s++) {
            size_t m = odd_sizes[s];
            dst[m] = 5.0f;
            (bf ? kern_bf16_to_f32 : kern_f16_to_f32)(src + 15360, dst, m); /* 0x3c00.. */
            CHECK(dst[m] == 5.0f);
            for (size_t i = 0; i < m; i++)
                CHECK(dst[i] == (bf ? kern_ref_bf16_to_f32(src[15360 + i]) : kern_ref_f16_to_f32(src[15360 + i])));
        }
    }
    free(src);
    ufree(dst);
}

/* -------------------------------------------------------- distances */

/* Same argument as for gemm: both sums carry about n roundings of the
 * magnitudes bounded by S = sum |a_i b_i| (for l2sq S = the sum itself),
 * random in sign: |fast - ref| <= 4 FLT_EPSILON sqrt(n + 1) S. */
TEST(kern_dot_l2sq_match_reference)
{
    static const size_t sizes[] = {0, 1, 7, 8, 17, 63, 64, 65, 383, 384, 1023, 1031, 4096};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        float *a = ualloc(n), *b = ualloc(n);
        rng_seed(n + 100);
        fill(a, n, -1, 1);
        fill(b, n, -1, 1);
        double sd = 0, sl = 0;
        for (size_t i = 0; i < n; i++) {
            sd += fabs((double)a[i] * b[i]);
            sl += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        }
        double tol = 4 * FLT_EPSILON * sqrt((double)n + 1);
        float d = kern_dot(a, b, n), dr = kern_ref_dot(a, b, n);
        float l = kern_l2sq(a, b, n), lr = kern_ref_l2sq(a, b, n);
        CHECKF(fabs((double)d - dr) <= tol * sd, "dot n=%zu: %.9g vs %.9g", n, d, dr);
        CHECKF(fabs((double)l - lr) <= tol * sl, "l2sq n=%zu: %.9g vs %.9g", n, l, lr);
        if (n == 0)
            CHECK(d == 0 && l == 0);
        ufree(a), ufree(b);
    }
}

/* ------------------------------------------------------------- pool */

typedef struct count_ctx {
    atomic_int *hits;
    kern_pool *pool; /* for nested runs; NULL for none */
    size_t inner;    /* tasks of each nested run */
    atomic_int *inner_hits;
} count_ctx;

static void count_task(void *ctx, size_t i)
{
    count_ctx *c = ctx;
    atomic_fetch_add(&c->hits[i], 1);
    if (c->pool) {
        count_ctx in = {c->inner_hits + i * c->inner, NULL, 0, NULL};
        kern_pool_run(c->pool, count_task, &in, c->inner);
    }
}

static int all_once(atomic_int *hits, size_t n)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        ok &= atomic_load(&hits[i]) == 1;
        atomic_store(&hits[i], 0);
    }
    return ok;
}

TEST(kern_pool_runs_every_task_once)
{
    static const size_t counts[] = {0, 1, 2, 3, 7, 64, 1001};
    atomic_int *hits = calloc(1001, sizeof *hits);
    CHECK(hits);
    for (int t = 0; t <= 4; t++) {
        kern_pool *p = t ? kern_pool_new(t) : NULL;
        CHECK(!t || (p && kern_pool_size(p) == t));
        for (int rep = 0; rep < 50; rep++)
            for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
                count_ctx ctx = {hits, NULL, 0, NULL};
                kern_pool_run(p, count_task, &ctx, counts[c]);
                CHECKF(all_once(hits, counts[c]), "threads %d tasks %zu", t, counts[c]);
            }
        kern_pool_free(p);
    }
    CHECK(kern_pool_size(NULL) == 1);
    free(hits);
}

TEST(kern_pool_nested_runs)
{
    size_t outer = 9, inner = 13;
    atomic_int *hits = calloc(outer, sizeof *hits), *inner_hits = calloc(outer * inner, sizeof *inner_hits);
    kern_pool *p = kern_pool_new(3);
    CHECK(p && hits && inner_hits);
    for (int rep = 0; rep < 30; rep++) {
        count_ctx ctx = {hits, p, inner, inner_hits};
        kern_pool_run(p, count_task, &ctx, outer);
        CHECK(all_once(hits, outer) && all_once(inner_hits, outer * inner));
    }
    kern_pool_free(p);
    free(hits), free(inner_hits);
}

typedef struct caller_arg {
    kern_pool *pool;
    atomic_int hits[50];
    int ok;
} caller_arg;

static void *caller_thread(void *arg)
{
    caller_arg *a = arg;
    a->ok = 1;
    for (int rep = 0; rep < 200; rep++) {
        count_ctx ctx = {a->hits, NULL, 0, NULL};
        size_t n = 1 + (size_t)rep % 50;
        kern_pool_run(a->pool, count_task, &ctx, n);
        a->ok &= all_once(a->hits, n);
    }
    return NULL;
}

TEST(kern_pool_concurrent_callers)
{
    kern_pool *p = kern_pool_new(2);
    CHECK(p);
    caller_arg args[3];
    pthread_t th[3];
    memset(args, 0, sizeof args);
    for (int i = 0; i < 3; i++) {
        args[i].pool = p;
        CHECK(!pthread_create(&th[i], NULL, caller_thread, &args[i]));
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        CHECK(args[i].ok);
    kern_pool_free(p);
}

/* Both tasks of a run wait for each other, so every run needs both
 * threads: the time per run is the pool's hand-off latency (a note only:
 * on a loaded machine it measures the scheduler). */
static void meet_task(void *ctx, size_t i)
{
    atomic_int *met = ctx;
    atomic_fetch_add(&met[i], 1);
    for (long spins = 0; atomic_load(&met[1 - i]) < atomic_load(&met[i]) && spins < 1000000; spins++)
        if (spins > 1000)
            sched_yield(); /* the other thread may be descheduled (busy machine) */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

TEST(kern_pool_dispatch_cost)
{
    enum { RUNS = 200 };
    kern_pool *p = kern_pool_new(2);
    CHECK(p);
    atomic_int met[2] = {0, 0};
    double us[RUNS];
    kern_pool_run(p, meet_task, met, 2);
    for (int i = 0; i < RUNS; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        kern_pool_run(p, meet_task, met, 2);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        us[i] = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
    }
    kern_pool_free(p);
    CHECK(atomic_load(&met[0]) == RUNS + 1 && atomic_load(&met[1]) == RUNS + 1);
    qsort(us, RUNS, sizeof *us, cmp_double);
    test_note("%.2f us median (%.2f us p90) per run that needs both of 2 threads", us[RUNS / 2], us[RUNS * 9 / 10]);
}
