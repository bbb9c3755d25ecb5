/* kern_int.h: the internal interface of the kernel layer, between the
 * dispatcher (kern.c) and the fast paths (gemm_avx2.c, ops_avx2.c).  Nothing
 * outside src/kern/ includes it except the kernel tests.  Knows nothing of
 * models, tokenizers or the store. */
#ifndef SX_KERN_INT_H
#define SX_KERN_INT_H
#include "kern.h"

#if defined(__x86_64__) || defined(__i386__)
#define KERN_X86 1
#define KERN_AVX2 __attribute__((target("avx2,fma")))
#define KERN_AVX2_F16C __attribute__((target("avx2,fma,f16c")))
#else
#define KERN_X86 0
#endif

/* ---------------------------------------------------------------- gemm */

/* The register tile of the AVX2 micro-kernel: KERN_MR rows of A (broadcast)
 * times one panel of KERN_NR columns of B (two 8-float vectors), 12 of the
 * 16 ymm registers as accumulators. */
#define KERN_MR 6
#define KERN_NR 16
/* Depth of one cache block: a packed panel slice is at most KERN_KC x
 * KERN_NR floats (24 KiB), which stays in L1 while the rows of A stream
 * past it.  384 is the encoders' common K, done in one block (256 and 384
 * measured the same on larger K, within the noise of a shared machine). */
#define KERN_KC 384

typedef enum kern_packed_layout {
    KERN_PACKED_ROWS,   /* b is a dense N x K copy (reference kernels) */
    KERN_PACKED_PANELS, /* b is ceil(N/NR) panels of K x NR, zero padded */
} kern_packed_layout;

struct kern_packed {
    size_t n, k;
    kern_packed_layout layout;
    float *b;   /* 64-byte aligned, inside raw or an arena's chunk */
    void *raw;  /* what sx_malloc returned; NULL when in an arena */
};

#if KERN_X86
/* Packs B [N x K] (row stride ldb) into panels: panel p holds, for each k,
 * the NR values B[p*NR + j][k], j < NR (zero past N).  dst holds
 * ceil(N/NR) * NR * K floats, 32-byte aligned. */
void kern_avx2_pack_nt(float *dst, const float *B, size_t N, size_t K, size_t ldb);
/* C = A * B^T (+ bias) with B packed by kern_avx2_pack_nt. */
void kern_avx2_sgemm_panels(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *panels,
                            float *C, size_t ldc, const float *bias, kern_pool *pool);
/* The same with B unpacked: [N x K] (nt) or [K x N] (nn); panels are packed
 * on the fly into a stack buffer, one KC x NR slice at a time. */
void kern_avx2_sgemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                        float *C, size_t ldc, const float *bias, kern_pool *pool);
void kern_avx2_sgemm_nn(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                        float *C, size_t ldc, const float *bias, kern_pool *pool);

void kern_avx2_add_layernorm(float *x, const float *residual, size_t rows, size_t dim, const float *gamma,
                             const float *beta, float eps);
void kern_avx2_gelu_erf(float *x, size_t n);
void kern_avx2_gelu_tanh(float *x, size_t n);
void kern_avx2_softmax(float *x, size_t n);
void kern_avx2_f16_to_f32(const uint16_t *src, float *dst, size_t n); /* needs F16C */
void kern_avx2_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
float kern_avx2_dot(const float *a, const float *b, size_t n);
float kern_avx2_l2sq(const float *a, const float *b, size_t n);
#endif

#endif
