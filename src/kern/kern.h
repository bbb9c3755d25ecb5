/* kern.h: the compute kernels of semdex (matrix products, normalizations,
 * activations, conversions, distances) and the thread pool that runs them.
 * Every kernel has a plain C reference (kern_ref_*, in ref.c) that is its
 * specification; the fast path (AVX2/FMA, ...) is chosen once at start-up by
 * asking the CPU, and SEMDEX_KERNEL=reference pins the references (for bug
 * reports).  Knows nothing of models, tokenizers or the store. */
#ifndef SX_KERN_H
#define SX_KERN_H
#include <stddef.h>
#include <stdint.h>

/* Chooses the kernels (idempotent, thread-safe). Called by every entry point
 * that needs it; callers may call it early. */
void kern_init(void);
/* "avx2-fma" or "reference". */
const char *kern_name(void);

/* ------------------------------------------------------------ threads */

typedef struct kern_pool kern_pool;
/* n_threads <= 0: all online CPUs.  NULL on failure. */
kern_pool *kern_pool_new(int n_threads);
void kern_pool_free(kern_pool *p);
int kern_pool_size(const kern_pool *p);
/* Runs fn(ctx, i) for i in [0, n_tasks) on the pool's threads and the
 * caller, returning when all are done; each task runs exactly once.  A NULL
 * pool runs them inline.  Concurrent calls on one pool from different
 * threads are serialized; a call made from inside a task (on any pool)
 * whose pool is busy runs its tasks inline on the calling thread instead
 * of waiting, so nesting cannot deadlock.  Idle workers spin for about
 * 100 us before they sleep, so back-to-back calls start in microseconds. */
void kern_pool_run(kern_pool *p, void (*fn)(void *ctx, size_t task), void *ctx, size_t n_tasks);

/* ------------------------------------------------------ matrix products */

/* C[M x N] = A[M x K] * B[N x K]^T (+ bias[N] when non-NULL); strides in
 * elements.  B is laid out as PyTorch's Linear weight ([out, in]).  The
 * products split over the pool (NULL: the calling thread); the fast path
 * allocates nothing.  Results differ from the reference's only by FMA's
 * rounding (each output still sums its K products in index order). */
void kern_sgemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                   float *C, size_t ldc, const float *bias, kern_pool *pool);
void kern_ref_sgemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                       float *C, size_t ldc, const float *bias);

/* C[M x N] = A[M x K] * B[K x N] (+ bias[N] when non-NULL); strides in
 * elements.  For products whose right side is row-major [K x N], such as
 * attention probabilities times values. */
void kern_sgemm_nn(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                   float *C, size_t ldc, const float *bias, kern_pool *pool);
void kern_ref_sgemm_nn(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                       float *C, size_t ldc, const float *bias);

/* A weight matrix [N x K] prepared once for repeated products: the fast
 * path lays it out in panels for its micro-kernel (about N*K floats; the
 * caller may free B afterwards).  NULL on allocation failure. */
typedef struct kern_packed kern_packed;
kern_packed *kern_pack_nt(const float *B, size_t N, size_t K, size_t ldb);

/* Long-lived memory for packed weights, freed all at once: chunks aligned
 * to 2 MiB and advised for transparent huge pages, carved in order.  A
 * product at a small M (a query) streams every weight from memory at every
 * call; with 4 KiB pages its TLB misses cost about 7% of the time. */
typedef struct kern_arena kern_arena;
kern_arena *kern_arena_new(void);
void kern_arena_free(kern_arena *a);
/* As kern_pack_nt, the panels in the arena (NULL: an allocation of their
 * own); kern_packed_free then frees only the descriptor. */
kern_packed *kern_pack_nt_in(kern_arena *a, const float *B, size_t N, size_t K, size_t ldb);
void kern_packed_free(kern_packed *p);
size_t kern_packed_rows(const kern_packed *p); /* N */
size_t kern_packed_cols(const kern_packed *p); /* K */
/* C[M x N] = A[M x K] * B^T (+ bias). */
void kern_sgemm_packed(size_t M, const float *A, size_t lda, const kern_packed *B, float *C, size_t ldc,
                       const float *bias, kern_pool *pool);

/* ------------------------------------------------ elementwise and rows */

/* x[rows x dim] = LayerNorm(x + residual) with gamma, beta; residual may be NULL.
 * Fast path: the reference's arithmetic (double statistics), within a few
 * float ulps of it (in practice the same bits). */
void kern_add_layernorm(float *x, const float *residual, size_t rows, size_t dim, const float *gamma,
                        const float *beta, float eps);
void kern_ref_add_layernorm(float *x, const float *residual, size_t rows, size_t dim, const float *gamma,
                            const float *beta, float eps);
/* GELU, exact (erf) form, in place.  Fast path: a vectorized erfc fit,
 * |1 + erf| within 1e-6 absolute of 1 + erff, accurate relative in the
 * left tail. */
void kern_gelu_erf(float *x, size_t n);
void kern_ref_gelu_erf(float *x, size_t n);
/* GELU, tanh approximation ("gelu_new", "gelu_pytorch_tanh"), in place.
 * Fast path: v / (1 + exp(-2u)), the same function without cancellation. */
void kern_gelu_tanh(float *x, size_t n);
void kern_ref_gelu_tanh(float *x, size_t n);
/* In-place softmax of one row of n values (-inf entries give 0).  Fast
 * path: a vectorized exp within a few ulps of expf. */
void kern_softmax(float *x, size_t n);
void kern_ref_softmax(float *x, size_t n);

/* ---------------------------------------------------------- conversions */

/* Exact; the fast f16 path (F16C, where the CPU has it) returns signaling
 * NaNs quieted. */
void kern_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void kern_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
float kern_ref_f16_to_f32(uint16_t h);
float kern_ref_bf16_to_f32(uint16_t h);

/* ------------------------------------------------------------ distances */

/* Fast path: 64 partial sums (eight 8-lane FMA accumulators), any n, any
 * alignment; within rounding of the reference's in-order sum. */
float kern_dot(const float *a, const float *b, size_t n);
float kern_ref_dot(const float *a, const float *b, size_t n);
float kern_l2sq(const float *a, const float *b, size_t n);
float kern_ref_l2sq(const float *a, const float *b, size_t n);

#endif
