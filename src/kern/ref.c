/* ref.c: the plain C reference of every kernel: the specification the fast
 * paths are tested against.  Accumulation in float, in index order, except
 * where noted (double for layer norm statistics). */
#include "kern.h"
#include <math.h>
#include <string.h>

/* Products and sums round separately, as written: no contraction into FMA
 * (GCC does not contract in ISO C mode, -std=c11; clang would, where the
 * target has FMA). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

void kern_ref_sgemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                       float *C, size_t ldc, const float *bias)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            float s = 0;
            for (size_t k = 0; k < K; k++)
                s += A[i * lda + k] * B[j * ldb + k];
            C[i * ldc + j] = s + (bias ? bias[j] : 0.0f);
        }
}

void kern_ref_sgemm_nn(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                       float *C, size_t ldc, const float *bias)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            float s = 0;
            for (size_t k = 0; k < K; k++)
                s += A[i * lda + k] * B[k * ldb + j];
            C[i * ldc + j] = s + (bias ? bias[j] : 0.0f);
        }
}

void kern_ref_add_layernorm(float *x, const float *residual, size_t rows, size_t dim, const float *gamma,
                            const float *beta, float eps)
{
    for (size_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        if (residual)
            for (size_t i = 0; i < dim; i++)
                v[i] += residual[r * dim + i];
        double mean = 0, var = 0;
        for (size_t i = 0; i < dim; i++)
            mean += v[i];
        mean /= (double)dim;
        for (size_t i = 0; i < dim; i++)
            var += ((double)v[i] - mean) * ((double)v[i] - mean);
        var /= (double)dim;
        float inv = (float)(1.0 / sqrt(var + (double)eps));
        for (size_t i = 0; i < dim; i++)
            v[i] = ((float)((double)v[i] - mean)) * inv * gamma[i] + beta[i];
    }
}

void kern_ref_gelu_erf(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void kern_ref_gelu_tanh(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

void kern_ref_softmax(float *x, size_t n)
{
    if (!n)
        return;
    float m = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] /= s;
}

float kern_ref_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (!man) {
            bits = sign;
        } else { /* subnormal: normalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3FF;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float kern_ref_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float kern_ref_dot(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

float kern_ref_l2sq(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}
