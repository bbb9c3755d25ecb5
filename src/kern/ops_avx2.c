/* ops_avx2.c: the row and elementwise kernels with AVX2/FMA (layer norm,
 * GELU, softmax), the weight conversions (F16C, bf16) and the distances
 * (dot, squared L2).  Each is tested against its reference in ref.c; the
 * comments say where and why a result may differ from it.  Tails (n not a
 * multiple of 8) go through a small padded buffer so that every element is
 * computed by the same vector code.  Knows nothing of models or indexes. */
#include "kern_int.h"

#if KERN_X86
#include <immintrin.h>

/* Products and sums round separately, as written: no contraction into FMA
 * (GCC does not contract in ISO C mode, -std=c11; clang would, where the
 * target has FMA). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#include <math.h>
#include <string.h>

/* --------------------------------------------------------- vector math */

/* exp(x), x in lanes.  Cephes' expf: x = n*ln2 + r, |r| <= ln2/2, a degree-6
 * polynomial for e^r, and 2^n built in the exponent field; max relative
 * error about 2 ulp (measured against expf in the tests).  x below
 * -87.3365 (where expf turns subnormal) gives 0; above 88.3763 the result
 * saturates at exp(88.3763) ~ 2.4e38 (never inf: the callers only divide by
 * it or never get there).  NaN stays NaN. */
static inline __attribute__((always_inline)) KERN_AVX2 __m256 exp_avx2(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654475f), hi = _mm256_set1_ps(88.3762626647949f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(hi, _mm256_max_ps(lo, x)); /* operand order keeps NaN */
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    /* fx in [-126, 127]: 2^fx is a normal float */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    p = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, p);
}

/* erf on [0, 4): 8 intervals of 0.5, degree 6 in t = |z| - centre;
 * worst absolute error 7.4e-08 (tools/gen_erf_poly.py) */
static const float erf_poly[7][8] = {
    {2.763263881e-01f, 7.111556530e-01f, 9.229001403e-01f, 9.866716862e-01f, 9.985373020e-01f, 9.998993874e-01f, 9.999957085e-01f, 9.999998808e-01f},
    {1.060013652e+00f, 6.429315209e-01f, 2.365212291e-01f, 5.277483538e-02f, 7.142299786e-03f, 5.862942780e-04f, 2.919364670e-05f, 8.818866490e-07f},
    {-2.650029659e-01f, -4.821981490e-01f, -2.956517339e-01f, -9.235620499e-02f, -1.607015729e-02f, -1.612267457e-03f, -9.486933413e-05f, -3.306070994e-06f},
    {-3.091164827e-01f, 2.672721818e-02f, 1.675230861e-01f, 9.017766267e-02f, 2.172697894e-02f, 2.758207032e-03f, 1.952192833e-04f, 7.911728062e-06f},
    {1.269345582e-01f, 1.506756246e-01f, -6.132035051e-03f, -4.810552299e-02f, -1.908825710e-02f, -3.257710487e-03f, -2.861694375e-04f, -1.378540946e-05f},
    {7.830777019e-02f, -5.126086250e-02f, -4.677693173e-02f, 5.969540216e-03f, 1.058114227e-02f, 2.825833391e-03f, 3.326159786e-04f, 2.020526335e-05f},
    {-3.934079409e-02f, -2.658282965e-02f, 2.059773728e-02f, 9.049494751e-03f, -2.779565053e-03f, -1.667850534e-03f, -2.737584291e-04f, -2.069242146e-05f},
};

/* 1 + erf(z), lanes: erf(|z|) from the piecewise polynomial above (the
 * interval picked per lane with vpermps, so each coefficient is one
 * instruction), 1 from |z| >= 4 (erf(3.84) already rounds to 1 in float),
 * then 1 + erf or 1 - erf by the sign of z.  Absolute error against
 * 1 + erff(z) about 1e-7, within the 1e-6 asked of a vectorized erf; in
 * the left tail, as in the reference's own 1 + erff(z), that is an absolute
 * error, not a relative one.  No division and no exponential: about twice
 * as fast as an erfc-based form.  NaN gives NaN through the caller's x. */
static inline __attribute__((always_inline)) KERN_AVX2 __m256 one_plus_erf_avx2(__m256 z)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_andnot_ps(sign, z);
    __m256 sat = _mm256_cmp_ps(a, _mm256_set1_ps(4.0f), _CMP_GE_OQ);
    a = _mm256_min_ps(a, _mm256_set1_ps(3.99f));
    __m256i idx = _mm256_cvttps_epi32(_mm256_mul_ps(a, _mm256_set1_ps(2.0f))); /* 0..7 */
    __m256 t = _mm256_sub_ps(a, _mm256_fmadd_ps(_mm256_cvtepi32_ps(idx), _mm256_set1_ps(0.5f),
                                                _mm256_set1_ps(0.25f)));
    __m256 p = _mm256_permutevar8x32_ps(_mm256_loadu_ps(erf_poly[6]), idx);
    for (int j = 5; j >= 0; j--)
        p = _mm256_fmadd_ps(p, t, _mm256_permutevar8x32_ps(_mm256_loadu_ps(erf_poly[j]), idx));
    p = _mm256_blendv_ps(p, one, sat);
    return _mm256_add_ps(one, _mm256_xor_ps(p, _mm256_and_ps(z, sign)));
}

static inline __attribute__((always_inline)) KERN_AVX2 float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) KERN_AVX2 double hsum_pd(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

static inline __attribute__((always_inline)) KERN_AVX2 float hmax_ps(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane mask of the first n (< 8) lanes, for masked loads and stores. */
static inline __attribute__((always_inline)) KERN_AVX2 __m256i tail_mask(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ---------------------------------------------------------- layer norm */

/* Same arithmetic as the reference: the residual added in float, mean and
 * variance accumulated in double (here 4 lanes at a time, so the order of
 * the sums differs), then ((float)(x - mean)) * inv * gamma + beta in float
 * without fusing.  Results equal the reference's except where the different
 * summation order moves the double mean by an ulp that a float rounding
 * sees: a few float ulps at most. */
void KERN_AVX2 kern_avx2_add_layernorm(float *x, const float *residual, size_t rows, size_t dim,
                                       const float *gamma, const float *beta, float eps)
{
    for (size_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        size_t i = 0;
        if (residual) {
            const float *res = residual + r * dim;
            for (; i + 8 <= dim; i += 8)
                _mm256_storeu_ps(v + i, _mm256_add_ps(_mm256_loadu_ps(v + i), _mm256_loadu_ps(res + i)));
            for (; i < dim; i++)
                v[i] += res[i];
        }
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        double mean = 0, var = 0;
        for (i = 0; i + 8 <= dim; i += 8) {
            __m256 f = _mm256_loadu_ps(v + i);
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
        }
        mean = hsum_pd(_mm256_add_pd(s0, s1));
        for (; i < dim; i++)
            mean += v[i];
        mean /= (double)dim;
        __m256d mv = _mm256_set1_pd(mean);
        s0 = _mm256_setzero_pd();
        s1 = _mm256_setzero_pd();
        for (i = 0; i + 8 <= dim; i += 8) {
            __m256 f = _mm256_loadu_ps(v + i);
            __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(f)), mv);
            __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)), mv);
            s0 = _mm256_fmadd_pd(d0, d0, s0);
            s1 = _mm256_fmadd_pd(d1, d1, s1);
        }
        var = hsum_pd(_mm256_add_pd(s0, s1));
        for (; i < dim; i++)
            var += ((double)v[i] - mean) * ((double)v[i] - mean);
        var /= (double)dim;
        float inv = (float)(1.0 / sqrt(var + (double)eps));
        __m256 iv = _mm256_set1_ps(inv);
        for (i = 0; i + 8 <= dim; i += 8) {
            __m256 f = _mm256_loadu_ps(v + i);
            __m128 d0 = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(f)), mv));
            __m128 d1 = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)), mv));
            __m256 d = _mm256_insertf128_ps(_mm256_castps128_ps256(d0), d1, 1);
            d = _mm256_mul_ps(_mm256_mul_ps(d, iv), _mm256_loadu_ps(gamma + i));
            _mm256_storeu_ps(v + i, _mm256_add_ps(d, _mm256_loadu_ps(beta + i)));
        }
        for (; i < dim; i++)
            v[i] = ((float)((double)v[i] - mean)) * inv * gamma[i] + beta[i];
    }
}

/* ---------------------------------------------------------------- GELU */

static inline __attribute__((always_inline)) KERN_AVX2 __m256 gelu_erf8(__m256 x)
{
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), one_plus_erf_avx2(z));
}

/* 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)), u = sqrt(2/pi) (v + 0.044715 v^3):
 * no cancellation for negative v (where 1 + tanhf(u) loses digits); for
 * huge |v| u is +-inf and the result v or -0, as the reference's. */
static inline __attribute__((always_inline)) KERN_AVX2 __m256 gelu_tanh8(__m256 v)
{
    __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
    __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                             _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
    __m256 e = exp_avx2(_mm256_mul_ps(_mm256_set1_ps(-2.0f), u));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

#define ELEMENTWISE(name, op8)                                                                              \
    void KERN_AVX2 name(float *x, size_t n)                                                                 \
    {                                                                                                       \
        size_t i = 0;                                                                                       \
        for (; i + 16 <= n; i += 16) { /* two independent chains in flight */                              \
            __m256 v0 = op8(_mm256_loadu_ps(x + i)), v1 = op8(_mm256_loadu_ps(x + i + 8));                  \
            _mm256_storeu_ps(x + i, v0);                                                                    \
            _mm256_storeu_ps(x + i + 8, v1);                                                                \
        }                                                                                                   \
        for (; i + 8 <= n; i += 8)                                                                          \
            _mm256_storeu_ps(x + i, op8(_mm256_loadu_ps(x + i)));                                           \
        if (i < n) {                                                                                        \
            __m256i m = tail_mask(n - i);                                                                   \
            _mm256_maskstore_ps(x + i, m, op8(_mm256_maskload_ps(x + i, m)));                               \
        }                                                                                                   \
    }
ELEMENTWISE(kern_avx2_gelu_erf, gelu_erf8)
ELEMENTWISE(kern_avx2_gelu_tanh, gelu_tanh8)

/* ------------------------------------------------------------- softmax */

/* Sums in 8 lanes (the reference sums in order), exp_avx2 for expf, and a
 * division by the sum as in the reference: relative error per element of a
 * few ulp. */
void KERN_AVX2 kern_avx2_softmax(float *x, size_t n)
{
    if (!n)
        return;
    size_t i = 0, tail = n % 8, body = n - tail;
    __m256i tm = tail_mask(tail);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 mx = ninf;
    for (; i < body; i += 8)
        mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    if (tail)
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + body, tm), _mm256_castsi256_ps(tm)));
    __m256 m = _mm256_set1_ps(hmax_ps(mx));
    __m256 s = _mm256_setzero_ps();
    for (i = 0; i < body; i += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        s = _mm256_add_ps(s, e);
    }
    if (tail) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_maskload_ps(x + body, tm), m));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(tm));
        _mm256_maskstore_ps(x + body, tm, e);
        s = _mm256_add_ps(s, e);
    }
    __m256 sum = _mm256_set1_ps(hsum_ps(s));
    for (i = 0; i < body; i += 8)
        _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), sum));
    if (tail)
        _mm256_maskstore_ps(x + body, tm, _mm256_div_ps(_mm256_maskload_ps(x + body, tm), sum));
}

/* --------------------------------------------------------- conversions */

/* vcvtph2ps converts every half exactly, subnormals included; the one
 * difference from the reference is that a signaling NaN comes out quieted. */
void KERN_AVX2_F16C kern_avx2_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    if (i < n) {
        uint16_t h[8] = {0};
        memcpy(h, src + i, (n - i) * sizeof *h);
        _mm256_maskstore_ps(dst + i, tail_mask(n - i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
    }
}

/* Exact: bf16 is the top half of a float. */
void KERN_AVX2 kern_avx2_bf16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++)
        dst[i] = kern_ref_bf16_to_f32(src[i]);
}

/* ----------------------------------------------------------- distances */

/* Eight 8-lane accumulators (64 partial sums): enough independent FMA
 * chains to hide FMA latency at two loads per FMA.  The sum is in another
 * order than the reference's, and more accurate (partial sums are shorter). */
static inline __attribute__((always_inline)) KERN_AVX2 __m256 dist_step(const int l2, __m256 x, __m256 y,
                                                                         __m256 s)
{
    if (l2)
        x = y = _mm256_sub_ps(x, y);
    return _mm256_fmadd_ps(x, y, s);
}

static inline __attribute__((always_inline)) KERN_AVX2 float dist(const int l2, const float *a, const float *b,
                                                                   size_t n)
{
    __m256 s[8];
#pragma GCC unroll 8
    for (int u = 0; u < 8; u++)
        s[u] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
#pragma GCC unroll 8
        for (int u = 0; u < 8; u++)
            s[u] = dist_step(l2, _mm256_loadu_ps(a + i + 8 * u), _mm256_loadu_ps(b + i + 8 * u), s[u]);
    /* at most 7 whole vectors left, then a partial one (masked-out lanes
     * load as 0 and add 0) */
#pragma GCC unroll 7
    for (int u = 0; u < 7; u++)
        if (i + 8 <= n) {
            s[u] = dist_step(l2, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s[u]);
            i += 8;
        }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        s[7] = dist_step(l2, _mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s[7]);
    }
    __m256 t0 = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
    __m256 t1 = _mm256_add_ps(_mm256_add_ps(s[4], s[5]), _mm256_add_ps(s[6], s[7]));
    return hsum_ps(_mm256_add_ps(t0, t1));
}

/* Eight 8-lane accumulators (64 partial sums): enough independent FMA
 * chains to hide FMA latency at two loads per FMA.  The sum is in another
 * order than the reference's, and more accurate (partial sums are shorter). */
float KERN_AVX2 kern_avx2_dot(const float *a, const float *b, size_t n) { return dist(0, a, b, n); }
float KERN_AVX2 kern_avx2_l2sq(const float *a, const float *b, size_t n) { return dist(1, a, b, n); }

#endif /* KERN_X86 */
