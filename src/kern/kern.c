/* kern.c: kernel dispatch.  The first call asks the CPU what it has
 * (__builtin_cpu_supports, cpuid for F16C; never the build machine's flags)
 * and publishes one table of kernels, the AVX2/FMA one (gemm_avx2.c,
 * ops_avx2.c) or the references (ref.c); SEMDEX_KERNEL=reference pins the
 * references.  Also the packed-weight object, whose layout follows the table.
 * The thread pool lives in pool.c.  Knows nothing of models. */
#include "kern_int.h"
#include "alloc.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if KERN_X86
#include <cpuid.h>
#endif

typedef void (*gemm_fn)(size_t, size_t, size_t, const float *, size_t, const float *, size_t, float *, size_t,
                        const float *, kern_pool *);

typedef struct kern_vtable {
    const char *name;
    kern_packed_layout layout;
    gemm_fn sgemm_nt, sgemm_nn;
    void (*add_layernorm)(float *, const float *, size_t, size_t, const float *, const float *, float);
    void (*gelu_erf)(float *, size_t);
    void (*gelu_tanh)(float *, size_t);
    void (*softmax)(float *, size_t);
    void (*f16_to_f32)(const uint16_t *, float *, size_t);
    void (*bf16_to_f32)(const uint16_t *, float *, size_t);
    float (*dot)(const float *, const float *, size_t);
    float (*l2sq)(const float *, const float *, size_t);
} kern_vtable;

/* ----------------------------------------------- the reference table */

/* The reference products, rows split over the pool: every output is
 * computed by kern_ref_sgemm_nt/_nn itself, so the results are the
 * reference's bit for bit, only sooner. */
typedef struct ref_gemm_job {
    int nn;
    size_t M, N, K, lda, ldb, ldc, rows_per;
    const float *A, *B, *bias;
    float *C;
} ref_gemm_job;

static void ref_gemm_task(void *ctx, size_t t)
{
    const ref_gemm_job *j = ctx;
    size_t i0 = t * j->rows_per, m = j->M - i0 < j->rows_per ? j->M - i0 : j->rows_per;
    if (j->nn)
        kern_ref_sgemm_nn(m, j->N, j->K, j->A + i0 * j->lda, j->lda, j->B, j->ldb, j->C + i0 * j->ldc, j->ldc,
                          j->bias);
    else
        kern_ref_sgemm_nt(m, j->N, j->K, j->A + i0 * j->lda, j->lda, j->B, j->ldb, j->C + i0 * j->ldc, j->ldc,
                          j->bias);
}

static void ref_gemm(int nn, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                     size_t ldb, float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    size_t nth = (size_t)kern_pool_size(pool);
    if (!M)
        return;
    ref_gemm_job j = {nn, M, N, K, lda, ldb, ldc, (M + nth - 1) / nth, A, B, bias, C};
    kern_pool_run(pool, ref_gemm_task, &j, (M + j.rows_per - 1) / j.rows_per);
}

static void ref_sgemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                         float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    ref_gemm(0, M, N, K, A, lda, B, ldb, C, ldc, bias, pool);
}

static void ref_sgemm_nn(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                         float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    ref_gemm(1, M, N, K, A, lda, B, ldb, C, ldc, bias, pool);
}

static void ref_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kern_ref_f16_to_f32(src[i]);
}

static void ref_bf16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kern_ref_bf16_to_f32(src[i]);
}

static const kern_vtable ref_table = {
    .name = "reference",
    .layout = KERN_PACKED_ROWS,
    .sgemm_nt = ref_sgemm_nt,
    .sgemm_nn = ref_sgemm_nn,
    .add_layernorm = kern_ref_add_layernorm,
    .gelu_erf = kern_ref_gelu_erf,
    .gelu_tanh = kern_ref_gelu_tanh,
    .softmax = kern_ref_softmax,
    .f16_to_f32 = ref_f16_to_f32,
    .bf16_to_f32 = ref_bf16_to_f32,
    .dot = kern_ref_dot,
    .l2sq = kern_ref_l2sq,
};

/* ---------------------------------------------------- the AVX2 table */

#if KERN_X86
static kern_vtable avx2_table = {
    .name = "avx2-fma",
    .layout = KERN_PACKED_PANELS,
    .sgemm_nt = kern_avx2_sgemm_nt,
    .sgemm_nn = kern_avx2_sgemm_nn,
    .add_layernorm = kern_avx2_add_layernorm,
    .gelu_erf = kern_avx2_gelu_erf,
    .gelu_tanh = kern_avx2_gelu_tanh,
    .softmax = kern_avx2_softmax,
    .f16_to_f32 = ref_f16_to_f32, /* kern_avx2_f16_to_f32 where the CPU has F16C */
    .bf16_to_f32 = kern_avx2_bf16_to_f32,
    .dot = kern_avx2_dot,
    .l2sq = kern_avx2_l2sq,
};

static int cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic(const kern_vtable *) table;

static void choose(void)
{
    const kern_vtable *t = &ref_table;
    const char *pin = getenv("SEMDEX_KERNEL");
#if KERN_X86
    __builtin_cpu_init();
    /* __builtin_cpu_supports also checks that the OS saves the ymm state */
    if (!(pin && !strcmp(pin, "reference")) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        if (cpu_has_f16c())
            avx2_table.f16_to_f32 = kern_avx2_f16_to_f32;
        t = &avx2_table;
    }
#else
    (void)pin;
#endif
    atomic_store_explicit(&table, t, memory_order_release);
}

/* The one-time function table (hnswlib's pattern): after the first call a
 * single acquire load. */
static inline const kern_vtable *vt(void)
{
    const kern_vtable *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t) {
        pthread_once(&once, choose);
        t = atomic_load_explicit(&table, memory_order_acquire);
    }
    return t;
}

void kern_init(void) { (void)vt(); }
const char *kern_name(void) { return vt()->name; }

/* ------------------------------------------------------------- gemm */

void kern_sgemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                   float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    vt()->sgemm_nt(M, N, K, A, lda, B, ldb, C, ldc, bias, pool);
}

void kern_sgemm_nn(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                   float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    vt()->sgemm_nn(M, N, K, A, lda, B, ldb, C, ldc, bias, pool);
}

/* ------------------------------------------------------------- arena */

#define ARENA_ALIGN ((size_t)2 << 20) /* a huge page */
#define ARENA_CHUNK ((size_t)64 << 20)

struct kern_arena {
    void **chunks; /* what sx_malloc returned */
    size_t n, cap;
    char *cur;     /* free space of the newest chunk */
    size_t left;
};

kern_arena *kern_arena_new(void) { return sx_calloc(1, sizeof(kern_arena)); }

void kern_arena_free(kern_arena *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        sx_free(a->chunks[i]);
    sx_free(a->chunks);
    sx_free(a);
}

/* bytes (a multiple of 64) from the arena, 64-byte aligned.  A request
 * that does not fit starts a chunk; the rest of the old one is never
 * touched, so it costs address space, not memory. */
static void *arena_take(kern_arena *a, size_t bytes)
{
    if (bytes > a->left) {
        size_t size = bytes > ARENA_CHUNK ? bytes : ARENA_CHUNK;
        if (size > SIZE_MAX - ARENA_ALIGN || SX_GROW(a->chunks, a->cap, a->n + 1))
            return NULL;
        char *raw = sx_malloc(size + ARENA_ALIGN);
        if (!raw)
            return NULL;
        a->chunks[a->n++] = raw;
        a->cur = (char *)(((uintptr_t)raw + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1));
        a->left = size;
        sx_advise_huge_pages(a->cur, size);
    }
    void *p = a->cur;
    a->cur += bytes;
    a->left -= bytes;
    return p;
}

kern_packed *kern_pack_nt(const float *B, size_t N, size_t K, size_t ldb) { return kern_pack_nt_in(NULL, B, N, K, ldb); }

kern_packed *kern_pack_nt_in(kern_arena *a, const float *B, size_t N, size_t K, size_t ldb)
{
    kern_packed *p = sx_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = N;
    p->k = K;
    p->layout = vt()->layout;
    size_t rows = p->layout == KERN_PACKED_PANELS ? (N + KERN_NR - 1) / KERN_NR * KERN_NR : N;
    if (K && rows > (SIZE_MAX - 64) / sizeof(float) / K) {
        sx_free(p);
        return NULL;
    }
    size_t bytes = (rows * K * sizeof(float) + 63) & ~(size_t)63;
    if (a) {
        p->b = arena_take(a, bytes);
    } else if ((p->raw = sx_malloc(bytes + 64))) {
        p->b = (float *)(((uintptr_t)p->raw + 63) & ~(uintptr_t)63);
    }
    if (!p->b) {
        sx_free(p);
        return NULL;
    }
#if KERN_X86
    if (p->layout == KERN_PACKED_PANELS) {
        kern_avx2_pack_nt(p->b, B, N, K, ldb);
        return p;
    }
#endif
    for (size_t i = 0; i < N; i++)
        memcpy(p->b + i * K, B + i * ldb, K * sizeof *B);
    return p;
}

void kern_packed_free(kern_packed *p)
{
    if (!p)
        return;
    sx_free(p->raw);
    sx_free(p);
}

size_t kern_packed_rows(const kern_packed *p) { return p->n; }
size_t kern_packed_cols(const kern_packed *p) { return p->k; }

void kern_sgemm_packed(size_t M, const float *A, size_t lda, const kern_packed *B, float *C, size_t ldc,
                       const float *bias, kern_pool *pool)
{
#if KERN_X86
    if (B->layout == KERN_PACKED_PANELS) {
        kern_avx2_sgemm_panels(M, B->n, B->k, A, lda, B->b, C, ldc, bias, pool);
        return;
    }
#endif
    ref_sgemm_nt(M, B->n, B->k, A, lda, B->b, B->k, C, ldc, bias, pool);
}

/* ---------------------------------------------------- the rest */

void kern_add_layernorm(float *x, const float *residual, size_t rows, size_t dim, const float *gamma,
                        const float *beta, float eps)
{
    vt()->add_layernorm(x, residual, rows, dim, gamma, beta, eps);
}
void kern_gelu_erf(float *x, size_t n) { vt()->gelu_erf(x, n); }
void kern_gelu_tanh(float *x, size_t n) { vt()->gelu_tanh(x, n); }
void kern_softmax(float *x, size_t n) { vt()->softmax(x, n); }
void kern_f16_to_f32(const uint16_t *src, float *dst, size_t n) { vt()->f16_to_f32(src, dst, n); }
void kern_bf16_to_f32(const uint16_t *src, float *dst, size_t n) { vt()->bf16_to_f32(src, dst, n); }
float kern_dot(const float *a, const float *b, size_t n) { return vt()->dot(a, b, n); }
float kern_l2sq(const float *a, const float *b, size_t n) { return vt()->l2sq(a, b, n); }
