/* kern.c: kernel dispatch.  For now every entry point runs the reference;
 * the fast paths (gemm_avx2.c, ...) plug in here, chosen once by asking the
 * CPU.  The thread pool lives in pool.c. */
#include "kern.h"
#include "alloc.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *chosen = "reference";

static void choose(void)
{
    const char *pin = getenv("SEMDEX_KERNEL");
    (void)pin;
    chosen = "reference";
}

void kern_init(void) { pthread_once(&once, choose); }
const char *kern_name(void)
{
    kern_init();
    return chosen;
}

void kern_sgemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                   float *C, size_t ldc, const float *bias, kern_pool *pool)
{
    (void)pool;
    kern_ref_sgemm_nt(M, N, K, A, lda, B, ldb, C, ldc, bias);
}

struct kern_packed {
    size_t n, k;
    float *b; /* N x K copy */
};

kern_packed *kern_pack_nt(const float *B, size_t N, size_t K, size_t ldb)
{
    kern_packed *p = sx_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = N;
    p->k = K;
    p->b = sx_malloc(N * K * sizeof *p->b + 1);
    if (!p->b) {
        sx_free(p);
        return NULL;
    }
    for (size_t i = 0; i < N; i++)
        memcpy(p->b + i * K, B + i * ldb, K * sizeof *B);
    return p;
}

void kern_packed_free(kern_packed *p)
{
    if (!p)
        return;
    sx_free(p->b);
    sx_free(p);
}

size_t kern_packed_rows(const kern_packed *p) { return p->n; }
size_t kern_packed_cols(const kern_packed *p) { return p->k; }

void kern_sgemm_packed(size_t M, const float *A, size_t lda, const kern_packed *B, float *C, size_t ldc,
                       const float *bias, kern_pool *pool)
{
    kern_sgemm_nt(M, B->n, B->k, A, lda, B->b, B->k, C, ldc, bias, pool);
}

void kern_add_layernorm(float *x, const float *residual, size_t rows, size_t dim, const float *gamma,
                        const float *beta, float eps)
{
    kern_ref_add_layernorm(x, residual, rows, dim, gamma, beta, eps);
}
void kern_gelu_erf(float *x, size_t n) { kern_ref_gelu_erf(x, n); }
void kern_gelu_tanh(float *x, size_t n) { kern_ref_gelu_tanh(x, n); }
void kern_softmax(float *x, size_t n) { kern_ref_softmax(x, n); }
void kern_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kern_ref_f16_to_f32(src[i]);
}
void kern_bf16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kern_ref_bf16_to_f32(src[i]);
}
float kern_dot(const float *a, const float *b, size_t n) { return kern_ref_dot(a, b, n); }
float kern_l2sq(const float *a, const float *b, size_t n) { return kern_ref_l2sq(a, b, n); }
