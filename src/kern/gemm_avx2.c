/* gemm_avx2.c: single-precision matrix products with AVX2/FMA, tested
 * against kern_ref_sgemm_nt / kern_ref_sgemm_nn (ref.c).
 *
 * The shape of the computation (BLIS's loops, with A left unpacked):
 *   - B is cut into panels of KERN_NR = 16 columns of C.  A panel slice of
 *     KERN_KC depths is KC x 16 floats, contiguous (24 KiB: it stays in L1).
 *   - The micro-kernel computes a 6 x 16 tile of C: per depth k it loads two
 *     vectors of the panel, broadcasts 6 values of A (one per row, straight
 *     from A with its row stride) and issues 12 FMAs into 12 accumulators.
 *   - A task is a block of C of mc <= 144 rows and a range of panels; its
 *     loops are: depth blocks (kc), panels, rows in steps of 6.  The A block
 *     (mc x kc, <= 216 KiB) stays in L2 while the panels go by.
 *   - Tasks go to the pool; their number is a multiple of the pool's threads
 *     where the shape allows, so that both cores finish together.
 * Every output accumulates its products in index order (one FMA per k,
 * continuing from the stored partial sum across depth blocks), and the bias
 * is added last, as in the reference: the results differ from it only by
 * FMA's single rounding.
 * Knows nothing of models; the caller owns all buffers (nothing here
 * allocates: unpacked B is packed slice by slice into a stack buffer). */
#include "kern_int.h"

#if KERN_X86
#include <immintrin.h>
#include <string.h>

#define MC_MAX 144            /* rows of A per block: 144 x 384 floats = 216 KiB of L2 */
#define INLINE_WORK (1u << 17) /* M*N*K below this runs on the calling thread */

/* Where the panels of B come from. */
typedef enum b_source {
    B_PANELS, /* packed by kern_avx2_pack_nt: nothing to do */
    B_NT,     /* B [N x K]: transpose 16 rows into a slice */
    B_NN,     /* B [K x N]: copy 16 columns of kc rows */
} b_source;

typedef struct gemm_job {
    size_t M, N, K;
    const float *A;
    size_t lda;
    const float *B;
    size_t ldb;
    b_source src;
    float *C;
    size_t ldc;
    const float *bias;
    size_t kc;           /* depth of a block */
    size_t n_tiles;      /* ceil(M / MR): rows of tiles */
    size_t n_panels;     /* ceil(N / NR) */
    size_t mt, nt;       /* tasks along M and along N */
} gemm_job;

/* ------------------------------------------------------------- packing */

/* Transposes 8 rows of 8 floats (r[i] = row i) into 8 columns. */
static inline __attribute__((always_inline)) KERN_AVX2 void transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* dst[k*16 + j] = B[j*ldb + k] for j < nr, k < kc; 0 for nr <= j < 16. */
static KERN_AVX2 void pack_nt_slice(float *dst, const float *B, size_t ldb, size_t nr, size_t kc)
{
    for (size_t h = 0; h < KERN_NR; h += 8) {
        if (h + 8 <= nr) {
            size_t k = 0;
            for (; k + 8 <= kc; k += 8) {
                __m256 r[8];
                for (int i = 0; i < 8; i++)
                    r[i] = _mm256_loadu_ps(B + (h + (size_t)i) * ldb + k);
                transpose8(r);
                for (int i = 0; i < 8; i++)
                    _mm256_store_ps(dst + (k + (size_t)i) * KERN_NR + h, r[i]);
            }
            for (; k < kc; k++)
                for (size_t j = h; j < h + 8; j++)
                    dst[k * KERN_NR + j] = B[j * ldb + k];
        } else {
            for (size_t k = 0; k < kc; k++)
                for (size_t j = h; j < h + 8; j++)
                    dst[k * KERN_NR + j] = j < nr ? B[j * ldb + k] : 0.0f;
        }
    }
}

/* dst[k*16 + j] = B[k*ldb + j] for j < nr, k < kc; 0 for nr <= j < 16. */
static KERN_AVX2 void pack_nn_slice(float *dst, const float *B, size_t ldb, size_t nr, size_t kc)
{
    if (nr == KERN_NR) {
        for (size_t k = 0; k < kc; k++) {
            _mm256_store_ps(dst + k * KERN_NR, _mm256_loadu_ps(B + k * ldb));
            _mm256_store_ps(dst + k * KERN_NR + 8, _mm256_loadu_ps(B + k * ldb + 8));
        }
        return;
    }
    for (size_t k = 0; k < kc; k++)
        for (size_t j = 0; j < KERN_NR; j++)
            dst[k * KERN_NR + j] = j < nr ? B[k * ldb + j] : 0.0f;
}

void KERN_AVX2 kern_avx2_pack_nt(float *dst, const float *B, size_t N, size_t K, size_t ldb)
{
    size_t n_panels = (N + KERN_NR - 1) / KERN_NR;
    for (size_t p = 0; p < n_panels; p++) {
        size_t nr = N - p * KERN_NR < KERN_NR ? N - p * KERN_NR : KERN_NR;
        pack_nt_slice(dst + p * K * KERN_NR, B + p * KERN_NR * ldb, ldb, nr, K);
    }
}

/* -------------------------------------------------------- micro-kernel */

/* C[mr x nr] (=, or += when !first) A[mr x kc] * slice[kc x 16], then
 * + bias[nr] when bias is non-NULL (the last depth block).  Meanwhile it
 * prefetches the npf (<= kc) cache lines from pf on (when non-NULL) into
 * L2, evenly over its kc depths.  mr is a compile-time constant in every
 * instantiation below. */
static inline __attribute__((always_inline)) KERN_AVX2 void
ukernel(const int mr, size_t kc, const float *a, size_t lda, const float *b, float *c, size_t ldc, size_t nr,
        int first, const float *bias, const float *pf, size_t npf)
{
    size_t pf_acc = 0;
    __m256 acc[KERN_MR][2];
    const float *ar[KERN_MR];
    __m256i m0 = _mm256_setzero_si256(), m1 = m0;
    int full = nr == KERN_NR;
    if (!full) {
        __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), n = _mm256_set1_epi32((int)nr);
        m0 = _mm256_cmpgt_epi32(n, idx);
        m1 = _mm256_cmpgt_epi32(n, _mm256_add_epi32(idx, _mm256_set1_epi32(8)));
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        ar[r] = a + (size_t)r * lda;
        if (first) {
            acc[r][0] = _mm256_setzero_ps();
            acc[r][1] = _mm256_setzero_ps();
        } else if (full) {
            acc[r][0] = _mm256_loadu_ps(c + (size_t)r * ldc);
            acc[r][1] = _mm256_loadu_ps(c + (size_t)r * ldc + 8);
        } else {
            acc[r][0] = _mm256_maskload_ps(c + (size_t)r * ldc, m0);
            acc[r][1] = _mm256_maskload_ps(c + (size_t)r * ldc + 8, m1);
        }
    }
#pragma GCC unroll 2
    for (size_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b + k * KERN_NR), b1 = _mm256_load_ps(b + k * KERN_NR + 8);
        if (pf) { /* npf lines of the next panel, evenly over the depths; L2 only, not to crowd L1 */
            pf_acc += npf;
            if (pf_acc >= kc) {
                pf_acc -= kc;
                _mm_prefetch((const char *)pf, _MM_HINT_T1);
                pf += KERN_NR;
            }
        }
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            __m256 av = _mm256_broadcast_ss(ar[r] + k);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    if (bias) {
        __m256 z0 = full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, m0);
        __m256 z1 = full ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, m1);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            acc[r][0] = _mm256_add_ps(acc[r][0], z0);
            acc[r][1] = _mm256_add_ps(acc[r][1], z1);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        if (full) {
            _mm256_storeu_ps(c + (size_t)r * ldc, acc[r][0]);
            _mm256_storeu_ps(c + (size_t)r * ldc + 8, acc[r][1]);
        } else {
            _mm256_maskstore_ps(c + (size_t)r * ldc, m0, acc[r][0]);
            _mm256_maskstore_ps(c + (size_t)r * ldc + 8, m1, acc[r][1]);
        }
    }
}

#define UKERNEL(R)                                                                                          \
    static KERN_AVX2 void ukernel_##R(size_t kc, const float *a, size_t lda, const float *b, float *c,       \
                                      size_t ldc, size_t nr, int first, const float *bias, const float *pf, \
                                      size_t npf)                                                           \
    {                                                                                                       \
        ukernel(R, kc, a, lda, b, c, ldc, nr, first, bias, pf, npf);                                        \
    }
UKERNEL(1)
UKERNEL(2)
UKERNEL(3)
UKERNEL(4)
UKERNEL(5)
UKERNEL(6)

typedef void (*ukernel_fn)(size_t, const float *, size_t, const float *, float *, size_t, size_t, int,
                           const float *, const float *, size_t);
static const ukernel_fn ukernels[KERN_MR + 1] = {NULL,       ukernel_1, ukernel_2, ukernel_3,
                                                 ukernel_4, ukernel_5, ukernel_6};

/* ------------------------------------------------------------- driver */

/* One block of C: rows [i0, i1), panels [p0, p1). */
static KERN_AVX2 void gemm_block(const gemm_job *j, size_t i0, size_t i1, size_t p0, size_t p1)
{
    float slice[KERN_KC * KERN_NR] __attribute__((aligned(64)));
    for (size_t k0 = 0; k0 < j->K; k0 += j->kc) {
        size_t kc = j->K - k0 < j->kc ? j->K - k0 : j->kc;
        int first = k0 == 0, last = k0 + kc == j->K;
        for (size_t p = p0; p < p1; p++) {
            size_t n0 = p * KERN_NR, nr = j->N - n0 < KERN_NR ? j->N - n0 : KERN_NR;
            const float *b;
            switch (j->src) {
            case B_PANELS:
                b = j->B + p * j->K * KERN_NR + k0 * KERN_NR;
                break;
            case B_NT:
                pack_nt_slice(slice, j->B + n0 * j->ldb + k0, j->ldb, nr, kc);
                b = slice;
                break;
            default:
                pack_nn_slice(slice, j->B + k0 * j->ldb + n0, j->ldb, nr, kc);
                b = slice;
                break;
            }
            const float *bias = last && j->bias ? j->bias + n0 : NULL;
            /* Packed panels (a model's weights) stream from memory once per
             * block of rows, and at a small M (a query) there are too few
             * rows to hide that: while the tiles of rows work on this panel
             * they fetch the next one (the same panel range at the next
             * depth block after the last) into L2, each tile an even share
             * of its lines, spread over its depths, so that the requests
             * flow steadily instead of in bursts (bench/README.md, "SGEMM
             * ceiling", the `x30` shape). */
            const float *pf = NULL;
            size_t lines = 0; /* of the next panel slice: one per depth */
            if (j->src == B_PANELS) {
                size_t q = p + 1, k1 = k0;
                if (q == p1) {
                    q = p0;
                    k1 = k0 + kc;
                }
                if (k1 < j->K) {
                    pf = j->B + q * j->K * KERN_NR + k1 * KERN_NR;
                    lines = j->K - k1 < kc ? j->K - k1 : kc;
                }
            }
            size_t ntile = (i1 - i0 + KERN_MR - 1) / KERN_MR, t = 0;
            for (size_t i = i0; i < i1; i += KERN_MR, t++) {
                size_t mr = i1 - i < KERN_MR ? i1 - i : KERN_MR;
                size_t l0 = t * lines / ntile, l1 = (t + 1) * lines / ntile;
                ukernels[mr](kc, j->A + i * j->lda + k0, j->lda, b, j->C + i * j->ldc + n0, j->ldc, nr, first,
                             bias, pf && l1 > l0 ? pf + l0 * KERN_NR : NULL, l1 - l0);
            }
        }
    }
}

/* Task t: the t/nt-th of mt even shares of the tile rows (sizes differ by
 * one tile at most, so equal numbers of tasks are equal work) and the
 * t%nt-th of nt even shares of the panels. */
static void gemm_task(void *ctx, size_t t)
{
    const gemm_job *j = ctx;
    size_t ti = t / j->nt, tj = t % j->nt;
    size_t i0 = ti * j->n_tiles / j->mt * KERN_MR, i1 = (ti + 1) * j->n_tiles / j->mt * KERN_MR;
    size_t p0 = tj * j->n_panels / j->nt, p1 = (tj + 1) * j->n_panels / j->nt;
    if (i1 > j->M)
        i1 = j->M;
    if (i0 < i1 && p0 < p1)
        gemm_block(j, i0, i1, p0, p1);
}

static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

static void gemm_run(gemm_job *j, kern_pool *pool)
{
    if (!j->M || !j->N)
        return;
    if (!j->K) { /* no products: C = bias, or 0 */
        for (size_t i = 0; i < j->M; i++)
            for (size_t n = 0; n < j->N; n++)
                j->C[i * j->ldc + n] = 0.0f + (j->bias ? j->bias[n] : 0.0f); /* as the reference: -0 bias gives +0 */
        return;
    }
    size_t nth = (size_t)kern_pool_size(pool);
    if ((double)j->M * (double)j->N * (double)j->K < (double)INLINE_WORK)
        nth = 1;
    /* depth blocks of equal size (a multiple of 8, for the transposing pack) */
    size_t nkb = div_up(j->K, KERN_KC);
    j->kc = div_up(div_up(j->K, nkb), 8) * 8;
    if (j->kc > KERN_KC)
        j->kc = KERN_KC;
    /* row blocks: as many as MC_MAX needs, rounded up to a multiple of the
     * threads so that each gets the same number */
    j->n_tiles = div_up(j->M, KERN_MR);
    j->mt = div_up(j->n_tiles, MC_MAX / KERN_MR);
    if (nth > 1 && j->mt > 1)
        j->mt = div_up(j->mt, nth) * nth;
    if (j->mt > j->n_tiles)
        j->mt = j->n_tiles;
    /* column blocks when rows alone give too few tasks (small M) */
    j->n_panels = div_up(j->N, KERN_NR);
    j->nt = 1;
    if (nth > 1 && j->mt < 2 * nth)
        j->nt = div_up(2 * nth, j->mt);
    if (j->nt > j->n_panels)
        j->nt = j->n_panels;
    kern_pool_run(nth > 1 ? pool : NULL, gemm_task, j, j->mt * j->nt);
}

void kern_avx2_sgemm_panels(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *panels,
                            float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    gemm_job j = {.M = M, .N = N, .K = K, .A = A, .lda = lda, .B = panels, .src = B_PANELS, .C = C, .ldc = ldc,
                  .bias = bias};
    gemm_run(&j, pool);
}

void kern_avx2_sgemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                        float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    gemm_job j = {.M = M, .N = N, .K = K, .A = A, .lda = lda, .B = B, .ldb = ldb, .src = B_NT, .C = C,
                  .ldc = ldc, .bias = bias};
    gemm_run(&j, pool);
}

void kern_avx2_sgemm_nn(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                        float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    gemm_job j = {.M = M, .N = N, .K = K, .A = A, .lda = lda, .B = B, .ldb = ldb, .src = B_NN, .C = C,
                  .ldc = ldc, .bias = bias};
    gemm_run(&j, pool);
}

#endif /* KERN_X86 */
