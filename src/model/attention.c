/* attention.c: scaled dot-product attention of every sequence and head of a
 * packed batch, in tiles of MODEL_ATTN_TQ queries x MODEL_ATTN_TK keys with
 * an online softmax (running max and sum per query, the accumulator
 * rescaled when the max grows), so that memory stays O(tile x head_dim)
 * whatever the length: no L x L matrix for L = 8192.  Work items (one query
 * tile of one head of one sequence) are handed out to the pool's threads
 * from an atomic counter; each thread slot has its own scratch.  The SIMD
 * path first transposes each sequence's keys per head (once, not once per
 * query tile) into the caller's kt buffer.  Two paths:
 * portable C (the specification) and AVX2/FMA, chosen once by asking the
 * CPU; SEMDEX_KERNEL=reference pins the portable one.  Knows nothing of
 * weights, tokenizers or pooling: it sees rows of Q, K, V. */
#include "model_int.h"
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ATTN_X86 1
#endif

#define TQ MODEL_ATTN_TQ
#define TK MODEL_ATTN_TK
_Static_assert(TQ % 4 == 0 && TK % 16 == 0, "tiles are whole micro-tiles");

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* One slot's scratch, carved from model_ws.attn. */
typedef struct tile_buf {
    float *q;    /* (TQ, dhp) query tile */
    float *s;    /* (TQ, TK) scores, then probabilities */
    float *v;    /* (TK, dhp) value tile, when head_dim is not a multiple of 8 */
    float *acc;  /* (TQ, dhp) unnormalized output */
    float *m;    /* (TQ) running max of the raw scores */
    float *l;    /* (TQ) running sum of exp */
    float *corr; /* (TQ) rescaling of the accumulator for the current key tile */
} tile_buf;

size_t model_attention_scratch_floats(size_t head_dim)
{
    size_t dhp = round_up(head_dim, 8);
    return TQ * dhp + TQ * TK + TK * dhp + TQ * dhp + 3 * TQ;
}

size_t model_attention_kt_floats(size_t n_tokens, size_t n_seqs, size_t dim)
{
    return (n_tokens + 16 * n_seqs) * dim;
}

static tile_buf carve(float *p, size_t dhp)
{
    tile_buf t;
    t.q = p;
    p += TQ * dhp;
    t.s = p;
    p += TQ * TK;
    t.v = p;
    p += TK * dhp;
    t.acc = p;
    p += TQ * dhp;
    t.m = p;
    t.l = p + TQ;
    t.corr = p + 2 * TQ;
    return t;
}

/* Keys of sequence s, head h, transposed tile by tile: key tile t is a
 * (dh, w_t) block at offset t * dh * TK, w_t = min(TK, keys left rounded up
 * to 16; zero columns).  Contiguous tiles keep the rows a scores product
 * reads close together (a row stride of the whole length, a multiple of
 * 4 KiB for long inputs, would make them collide in the cache).  Sequence
 * s starts at (seq_start[s] + 16 s) * D, head h at h * dh * round16(L). */
static float *kt_block(float *kt, const size_t *start, size_t s, size_t D, size_t h, size_t dh)
{
    size_t L = start[s + 1] - start[s];
    return kt + (start[s] + 16 * s) * D + h * dh * round_up(L, 16);
}

/* One work item: query rows [q0, q0 + nq) of head h of the sequence whose
 * rows are [o, o + L). */
typedef struct item {
    size_t s, o, L, q0, nq, h;
} item;

typedef struct job job;
typedef void (*tile_fn)(const job *j, const item *it, const tile_buf *tb);

struct job {
    const model_batch *b;
    float *kt;        /* transposed keys (model_attention_kt_floats) or NULL */
    const float *qkv; /* (T, 3D) */
    float *ctx;       /* (T, D) */
    size_t D, H, dh, dhp;
    float scale;      /* 1/sqrt(dh) */
    float *scratch;
    size_t per_slot;
    size_t n_items;
    atomic_size_t next;
    tile_fn fn;
};

/* ------------------------------------------------------------ portable C */

static void tile_scalar(const job *j, const item *it, const tile_buf *tb)
{
    size_t D3 = 3 * j->D, dh = j->dh, dhp = j->dhp;
    const float *Q = j->qkv + it->o * D3 + it->h * dh, *K = Q + j->D, *V = Q + 2 * j->D;
    for (size_t i = 0; i < it->nq; i++) {
        tb->m[i] = -INFINITY;
        tb->l[i] = 0;
        memset(tb->acc + i * dhp, 0, dh * sizeof *tb->acc);
    }
    for (size_t k0 = 0; k0 < it->L; k0 += TK) {
        size_t nk = it->L - k0 < TK ? it->L - k0 : TK;
        for (size_t i = 0; i < it->nq; i++) {
            const float *qi = Q + (it->q0 + i) * D3;
            float *s = tb->s + i * TK, *a = tb->acc + i * dhp;
            float mx = -INFINITY;
            for (size_t k = 0; k < nk; k++) {
                const float *kk = K + (k0 + k) * D3;
                float dot = 0;
                for (size_t d = 0; d < dh; d++)
                    dot += qi[d] * kk[d];
                s[k] = dot;
                mx = dot > mx ? dot : mx;
            }
            float mnew = tb->m[i] > mx ? tb->m[i] : mx;
            float corr = tb->m[i] == -INFINITY ? 0.0f : expf((tb->m[i] - mnew) * j->scale);
            float l = tb->l[i] * corr;
            for (size_t d = 0; d < dh; d++)
                a[d] *= corr;
            for (size_t k = 0; k < nk; k++) {
                float p = expf((s[k] - mnew) * j->scale);
                const float *vk = V + (k0 + k) * D3;
                l += p;
                for (size_t d = 0; d < dh; d++)
                    a[d] += p * vk[d];
            }
            tb->l[i] = l;
            tb->m[i] = mnew;
        }
    }
    for (size_t i = 0; i < it->nq; i++) {
        float *out = j->ctx + (it->o + it->q0 + i) * j->D + it->h * dh;
        const float *a = tb->acc + i * dhp;
        for (size_t d = 0; d < dh; d++)
            out[d] = a[d] / tb->l[i];
    }
}

/* ------------------------------------------------------------- AVX2 + FMA */

#ifdef ATTN_X86
#define AVX2 __attribute__((target("avx2,fma")))

/* exp(x) for x <= 0 (Cephes' single-precision polynomial, about 1 ulp). */
AVX2 static inline __m256 exp256(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f));
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, z, x);
    y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127));
    e = _mm256_slli_epi32(e, 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

AVX2 static inline float hmax256(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

AVX2 static inline float hsum256(__m256 v)
{
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* s (4 x 16 block) = q rows i..i+3 . kt columns k..k+15 over dh (kt rows
 * ldk apart). */
AVX2 static inline void scores_4x16(const float *q, size_t dhp, const float *kt, size_t ldk, size_t dh, float *s)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (size_t d = 0; d < dh; d++) {
        __m256 k0 = _mm256_loadu_ps(kt + d * ldk), k1 = _mm256_loadu_ps(kt + d * ldk + 8);
        __m256 q0 = _mm256_broadcast_ss(q + d), q1 = _mm256_broadcast_ss(q + dhp + d);
        __m256 q2 = _mm256_broadcast_ss(q + 2 * dhp + d), q3 = _mm256_broadcast_ss(q + 3 * dhp + d);
        c00 = _mm256_fmadd_ps(q0, k0, c00);
        c01 = _mm256_fmadd_ps(q0, k1, c01);
        c10 = _mm256_fmadd_ps(q1, k0, c10);
        c11 = _mm256_fmadd_ps(q1, k1, c11);
        c20 = _mm256_fmadd_ps(q2, k0, c20);
        c21 = _mm256_fmadd_ps(q2, k1, c21);
        c30 = _mm256_fmadd_ps(q3, k0, c30);
        c31 = _mm256_fmadd_ps(q3, k1, c31);
    }
    _mm256_storeu_ps(s, c00);
    _mm256_storeu_ps(s + 8, c01);
    _mm256_storeu_ps(s + TK, c10);
    _mm256_storeu_ps(s + TK + 8, c11);
    _mm256_storeu_ps(s + 2 * TK, c20);
    _mm256_storeu_ps(s + 2 * TK + 8, c21);
    _mm256_storeu_ps(s + 3 * TK, c30);
    _mm256_storeu_ps(s + 3 * TK + 8, c31);
}

/* a (dhp) = a * corr + sum_k p[k] v[k] over nk rows of v (row stride ldv).
 * Two keys per step so that twice as many FMA chains are in flight. */
AVX2 static inline void accumulate(float *a, float corr, const float *p, const float *v, size_t ldv, size_t nk,
                                   size_t dhp)
{
    __m256 c = _mm256_set1_ps(corr);
    size_t d0 = 0;
    for (; d0 + 32 <= dhp; d0 += 32) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(a + d0), c), a1 = _mm256_mul_ps(_mm256_loadu_ps(a + d0 + 8), c);
        __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(a + d0 + 16), c), a3 = _mm256_mul_ps(_mm256_loadu_ps(a + d0 + 24), c);
        __m256 b0 = _mm256_setzero_ps(), b1 = b0, b2 = b0, b3 = b0;
        size_t k = 0;
        for (; k + 2 <= nk; k += 2) {
            __m256 pk = _mm256_broadcast_ss(p + k), pl = _mm256_broadcast_ss(p + k + 1);
            const float *vk = v + k * ldv + d0, *vl = vk + ldv;
            a0 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vk), a0);
            a1 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vk + 8), a1);
            a2 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vk + 16), a2);
            a3 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vk + 24), a3);
            b0 = _mm256_fmadd_ps(pl, _mm256_loadu_ps(vl), b0);
            b1 = _mm256_fmadd_ps(pl, _mm256_loadu_ps(vl + 8), b1);
            b2 = _mm256_fmadd_ps(pl, _mm256_loadu_ps(vl + 16), b2);
            b3 = _mm256_fmadd_ps(pl, _mm256_loadu_ps(vl + 24), b3);
        }
        if (k < nk) {
            __m256 pk = _mm256_broadcast_ss(p + k);
            const float *vk = v + k * ldv + d0;
            a0 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vk), a0);
            a1 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vk + 8), a1);
            a2 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vk + 16), a2);
            a3 = _mm256_fmadd_ps(pk, _mm256_loadu_ps(vk + 24), a3);
        }
        _mm256_storeu_ps(a + d0, _mm256_add_ps(a0, b0));
        _mm256_storeu_ps(a + d0 + 8, _mm256_add_ps(a1, b1));
        _mm256_storeu_ps(a + d0 + 16, _mm256_add_ps(a2, b2));
        _mm256_storeu_ps(a + d0 + 24, _mm256_add_ps(a3, b3));
    }
    for (; d0 < dhp; d0 += 8) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(a + d0), c), a1 = _mm256_setzero_ps(), a2 = a1, a3 = a1;
        size_t k = 0;
        for (; k + 4 <= nk; k += 4) {
            const float *vk = v + k * ldv + d0;
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + k), _mm256_loadu_ps(vk), a0);
            a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + k + 1), _mm256_loadu_ps(vk + ldv), a1);
            a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + k + 2), _mm256_loadu_ps(vk + 2 * ldv), a2);
            a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + k + 3), _mm256_loadu_ps(vk + 3 * ldv), a3);
        }
        for (; k < nk; k++)
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + k), _mm256_loadu_ps(v + k * ldv + d0), a0);
        _mm256_storeu_ps(a + d0, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
}

/* The same for two rows at once (a, b with their p rows): each value
 * vector loaded feeds two FMAs. */
AVX2 static inline void accumulate2(float *a, float *b, float ca, float cb, const float *pa, const float *pb,
                                    const float *v, size_t ldv, size_t nk, size_t dhp)
{
    __m256 va = _mm256_set1_ps(ca), vb = _mm256_set1_ps(cb);
    size_t d0 = 0;
    for (; d0 + 32 <= dhp; d0 += 32) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(a + d0), va), a1 = _mm256_mul_ps(_mm256_loadu_ps(a + d0 + 8), va);
        __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(a + d0 + 16), va), a3 = _mm256_mul_ps(_mm256_loadu_ps(a + d0 + 24), va);
        __m256 b0 = _mm256_mul_ps(_mm256_loadu_ps(b + d0), vb), b1 = _mm256_mul_ps(_mm256_loadu_ps(b + d0 + 8), vb);
        __m256 b2 = _mm256_mul_ps(_mm256_loadu_ps(b + d0 + 16), vb), b3 = _mm256_mul_ps(_mm256_loadu_ps(b + d0 + 24), vb);
        for (size_t k = 0; k < nk; k++) {
            const float *vk = v + k * ldv + d0;
            __m256 x0 = _mm256_loadu_ps(vk), x1 = _mm256_loadu_ps(vk + 8);
            __m256 x2 = _mm256_loadu_ps(vk + 16), x3 = _mm256_loadu_ps(vk + 24);
            __m256 p = _mm256_broadcast_ss(pa + k), q = _mm256_broadcast_ss(pb + k);
            a0 = _mm256_fmadd_ps(p, x0, a0);
            a1 = _mm256_fmadd_ps(p, x1, a1);
            a2 = _mm256_fmadd_ps(p, x2, a2);
            a3 = _mm256_fmadd_ps(p, x3, a3);
            b0 = _mm256_fmadd_ps(q, x0, b0);
            b1 = _mm256_fmadd_ps(q, x1, b1);
            b2 = _mm256_fmadd_ps(q, x2, b2);
            b3 = _mm256_fmadd_ps(q, x3, b3);
        }
        _mm256_storeu_ps(a + d0, a0);
        _mm256_storeu_ps(a + d0 + 8, a1);
        _mm256_storeu_ps(a + d0 + 16, a2);
        _mm256_storeu_ps(a + d0 + 24, a3);
        _mm256_storeu_ps(b + d0, b0);
        _mm256_storeu_ps(b + d0 + 8, b1);
        _mm256_storeu_ps(b + d0 + 16, b2);
        _mm256_storeu_ps(b + d0 + 24, b3);
    }
    for (; d0 < dhp; d0 += 8) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(a + d0), va), a1 = _mm256_setzero_ps();
        __m256 b0 = _mm256_mul_ps(_mm256_loadu_ps(b + d0), vb), b1 = _mm256_setzero_ps();
        size_t k = 0;
        for (; k + 2 <= nk; k += 2) {
            __m256 x0 = _mm256_loadu_ps(v + k * ldv + d0), x1 = _mm256_loadu_ps(v + (k + 1) * ldv + d0);
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(pa + k), x0, a0);
            b0 = _mm256_fmadd_ps(_mm256_broadcast_ss(pb + k), x0, b0);
            a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(pa + k + 1), x1, a1);
            b1 = _mm256_fmadd_ps(_mm256_broadcast_ss(pb + k + 1), x1, b1);
        }
        if (k < nk) {
            __m256 x0 = _mm256_loadu_ps(v + k * ldv + d0);
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(pa + k), x0, a0);
            b0 = _mm256_fmadd_ps(_mm256_broadcast_ss(pb + k), x0, b0);
        }
        _mm256_storeu_ps(a + d0, _mm256_add_ps(a0, a1));
        _mm256_storeu_ps(b + d0, _mm256_add_ps(b0, b1));
    }
}

/* Four rows at once over 16-wide slices (8 accumulators): each value
 * vector loaded feeds four FMAs, so the value tile is read once per four
 * query rows. */
AVX2 static inline void accumulate4(float *a, size_t lda, const float *corr, const float *p, size_t ldp,
                                    const float *v, size_t ldv, size_t nk, size_t dhp)
{
    __m256 c0 = _mm256_set1_ps(corr[0]), c1 = _mm256_set1_ps(corr[1]);
    __m256 c2 = _mm256_set1_ps(corr[2]), c3 = _mm256_set1_ps(corr[3]);
    float *a0p = a, *a1p = a + lda, *a2p = a + 2 * lda, *a3p = a + 3 * lda;
    const float *p0 = p, *p1 = p + ldp, *p2 = p + 2 * ldp, *p3 = p + 3 * ldp;
    size_t d0 = 0;
    for (; d0 + 16 <= dhp; d0 += 16) {
        __m256 x00 = _mm256_mul_ps(_mm256_loadu_ps(a0p + d0), c0), x01 = _mm256_mul_ps(_mm256_loadu_ps(a0p + d0 + 8), c0);
        __m256 x10 = _mm256_mul_ps(_mm256_loadu_ps(a1p + d0), c1), x11 = _mm256_mul_ps(_mm256_loadu_ps(a1p + d0 + 8), c1);
        __m256 x20 = _mm256_mul_ps(_mm256_loadu_ps(a2p + d0), c2), x21 = _mm256_mul_ps(_mm256_loadu_ps(a2p + d0 + 8), c2);
        __m256 x30 = _mm256_mul_ps(_mm256_loadu_ps(a3p + d0), c3), x31 = _mm256_mul_ps(_mm256_loadu_ps(a3p + d0 + 8), c3);
        for (size_t k = 0; k < nk; k++) {
            const float *vk = v + k * ldv + d0;
            __m256 v0 = _mm256_loadu_ps(vk), v1 = _mm256_loadu_ps(vk + 8), w;
            w = _mm256_broadcast_ss(p0 + k);
            x00 = _mm256_fmadd_ps(w, v0, x00);
            x01 = _mm256_fmadd_ps(w, v1, x01);
            w = _mm256_broadcast_ss(p1 + k);
            x10 = _mm256_fmadd_ps(w, v0, x10);
            x11 = _mm256_fmadd_ps(w, v1, x11);
            w = _mm256_broadcast_ss(p2 + k);
            x20 = _mm256_fmadd_ps(w, v0, x20);
            x21 = _mm256_fmadd_ps(w, v1, x21);
            w = _mm256_broadcast_ss(p3 + k);
            x30 = _mm256_fmadd_ps(w, v0, x30);
            x31 = _mm256_fmadd_ps(w, v1, x31);
        }
        _mm256_storeu_ps(a0p + d0, x00);
        _mm256_storeu_ps(a0p + d0 + 8, x01);
        _mm256_storeu_ps(a1p + d0, x10);
        _mm256_storeu_ps(a1p + d0 + 8, x11);
        _mm256_storeu_ps(a2p + d0, x20);
        _mm256_storeu_ps(a2p + d0 + 8, x21);
        _mm256_storeu_ps(a3p + d0, x30);
        _mm256_storeu_ps(a3p + d0 + 8, x31);
    }
    for (; d0 < dhp; d0 += 8) {
        __m256 x0 = _mm256_mul_ps(_mm256_loadu_ps(a0p + d0), c0), x1 = _mm256_mul_ps(_mm256_loadu_ps(a1p + d0), c1);
        __m256 x2 = _mm256_mul_ps(_mm256_loadu_ps(a2p + d0), c2), x3 = _mm256_mul_ps(_mm256_loadu_ps(a3p + d0), c3);
        for (size_t k = 0; k < nk; k++) {
            __m256 v0 = _mm256_loadu_ps(v + k * ldv + d0);
            x0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p0 + k), v0, x0);
            x1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p1 + k), v0, x1);
            x2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p2 + k), v0, x2);
            x3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p3 + k), v0, x3);
        }
        _mm256_storeu_ps(a0p + d0, x0);
        _mm256_storeu_ps(a1p + d0, x1);
        _mm256_storeu_ps(a2p + d0, x2);
        _mm256_storeu_ps(a3p + d0, x3);
    }
}

AVX2 static void tile_avx2(const job *j, const item *it, const tile_buf *tb)
{
    size_t D3 = 3 * j->D, dh = j->dh, dhp = j->dhp, nq = it->nq, nq4 = round_up(nq, 4);
    const float *Q = j->qkv + it->o * D3 + it->h * dh, *V = Q + 2 * j->D;
    const float *kt = kt_block(j->kt, j->b->seq_start, it->s, j->D, it->h, dh);
    for (size_t i = 0; i < nq4; i++) {
        if (i < nq)
            memcpy(tb->q + i * dhp, Q + (it->q0 + i) * D3, dh * sizeof *tb->q);
        else
            memset(tb->q + i * dhp, 0, dh * sizeof *tb->q);
        tb->m[i] = -INFINITY;
        tb->l[i] = 0;
        memset(tb->acc + i * dhp, 0, dhp * sizeof *tb->acc);
    }
    __m256 scale = _mm256_set1_ps(j->scale);
    for (size_t k0 = 0; k0 < it->L; k0 += TK) {
        size_t nk = it->L - k0 < TK ? it->L - k0 : TK, nk16 = round_up(nk, 16);
        /* the value tile copied contiguous (padded to whole vectors): rows
         * 3D apart in qkv can share cache sets (3 x 1024 floats is 3 x 4 KiB) */
        for (size_t k = 0; k < nk; k++) {
            memcpy(tb->v + k * dhp, V + (k0 + k) * D3, dh * sizeof *tb->v);
            for (size_t d = dh; d < dhp; d++)
                tb->v[k * dhp + d] = 0;
        }
        const float *vt = tb->v;
        size_t ldv = dhp;
        const float *ktile = kt + k0 * dh; /* (dh, nk16) */
        for (size_t i = 0; i < nq4; i += 4)
            for (size_t k = 0; k < nk16; k += 16)
                scores_4x16(tb->q + i * dhp, dhp, ktile + k, nk16, dh, tb->s + i * TK + k);
        for (size_t i = 0; i < nq; i++) {
            float *s = tb->s + i * TK;
            size_t k8 = nk & ~(size_t)7;
            __m256 vm = _mm256_set1_ps(-INFINITY);
            for (size_t k = 0; k < k8; k += 8)
                vm = _mm256_max_ps(vm, _mm256_loadu_ps(s + k));
            float mx = hmax256(vm);
            for (size_t k = k8; k < nk; k++)
                mx = s[k] > mx ? s[k] : mx;
            float mnew = tb->m[i] > mx ? tb->m[i] : mx;
            float corr = tb->m[i] == -INFINITY ? 0.0f : expf((tb->m[i] - mnew) * j->scale);
            __m256 vmax = _mm256_set1_ps(mnew), vs = _mm256_setzero_ps();
            for (size_t k = 0; k < nk16; k += 8) {
                __m256 p = exp256(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(s + k), vmax), scale));
                if (k + 8 > nk) { /* padded keys weigh nothing */
                    __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                    __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nk), idx);
                    p = _mm256_and_ps(p, _mm256_castsi256_ps(live));
                }
                _mm256_storeu_ps(s + k, p);
                vs = _mm256_add_ps(vs, p);
            }
            tb->l[i] = tb->l[i] * corr + hsum256(vs);
            tb->m[i] = mnew;
            tb->corr[i] = corr;
        }
        size_t i = 0;
        for (; i + 4 <= nq; i += 4)
            accumulate4(tb->acc + i * dhp, dhp, tb->corr + i, tb->s + i * TK, TK, vt, ldv, nk, dhp);
        for (; i + 2 <= nq; i += 2)
            accumulate2(tb->acc + i * dhp, tb->acc + (i + 1) * dhp, tb->corr[i], tb->corr[i + 1], tb->s + i * TK,
                        tb->s + (i + 1) * TK, vt, ldv, nk, dhp);
        if (i < nq)
            accumulate(tb->acc + i * dhp, tb->corr[i], tb->s + i * TK, vt, ldv, nk, dhp);
    }
    for (size_t i = 0; i < nq; i++) {
        float *out = j->ctx + (it->o + it->q0 + i) * j->D + it->h * dh;
        const float *a = tb->acc + i * dhp;
        float inv_l = 1.0f / tb->l[i];
        for (size_t d = 0; d < dh; d++)
            out[d] = a[d] * inv_l;
    }
}
#endif

/* ------------------------------------------------------------- dispatch */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int have_avx2;

static void choose(void)
{
    const char *pin = getenv("SEMDEX_KERNEL");
#ifdef ATTN_X86
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !(pin && !strcmp(pin, "reference"));
#else
    (void)pin;
#endif
}

const char *model_attention_path(void)
{
    pthread_once(&once, choose);
    return have_avx2 ? "avx2-fma" : "scalar";
}

static size_t n_tiles(size_t L) { return (L + TQ - 1) / TQ; }

static void slot_run(void *ctx, size_t slot)
{
    job *j = ctx;
    tile_buf tb = carve(j->scratch + slot * j->per_slot, j->dhp);
    const size_t *start = j->b->seq_start;
    size_t s = 0, g0 = 0; /* this slot's cursor: sequence s, whose first tile is g0 */
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n_items)
            break;
        size_t g = i / j->H, h = i % j->H;
        while (g >= g0 + n_tiles(start[s + 1] - start[s])) {
            g0 += n_tiles(start[s + 1] - start[s]);
            s++;
        }
        item it = {.s = s, .o = start[s], .L = start[s + 1] - start[s], .q0 = (g - g0) * TQ, .h = h};
        it.nq = it.L - it.q0 < TQ ? it.L - it.q0 : TQ;
        j->fn(j, &it, &tb);
    }
}

/* Task s * H + h: the keys of sequence s, head h, into kt (zero padded). */
static void transpose_task(void *ctx, size_t task)
{
    const job *j = ctx;
    const size_t *start = j->b->seq_start;
    size_t s = task / j->H, h = task % j->H, L = start[s + 1] - start[s], dh = j->dh;
    float *kt = kt_block(j->kt, start, s, j->D, h, dh);
    const float *K = j->qkv + start[s] * 3 * j->D + j->D + h * dh;
    for (size_t k0 = 0; k0 < L; k0 += TK) {
        size_t nk = L - k0 < TK ? L - k0 : TK, w = round_up(nk, 16);
        float *tile = kt + k0 * dh; /* (dh, w) */
        for (size_t k = 0; k < nk; k++) {
            const float *row = K + (k0 + k) * 3 * j->D;
            for (size_t d = 0; d < dh; d++)
                tile[d * w + k] = row[d];
        }
        for (size_t d = 0; d < dh; d++)
            for (size_t k = nk; k < w; k++)
                tile[d * w + k] = 0;
    }
}

void model_attention_run(const model_batch *b, const float *qkv, float *ctx, size_t dim, size_t n_heads,
                         float *scratch, float *kt, size_t n_slots, kern_pool *pool, int scalar)
{
    pthread_once(&once, choose);
    job j = {.b = b, .kt = kt, .qkv = qkv, .ctx = ctx, .D = dim, .H = n_heads, .dh = dim / n_heads,
             .scratch = scratch};
    j.dhp = round_up(j.dh, 8);
    j.scale = 1.0f / sqrtf((float)j.dh);
    j.per_slot = model_attention_scratch_floats(j.dh);
    j.fn = tile_scalar;
#ifdef ATTN_X86
    if (!scalar && have_avx2 && kt)
        j.fn = tile_avx2;
#else
    (void)scalar;
#endif
    size_t g = 0;
    for (size_t s = 0; s < b->n_seqs; s++)
        g += n_tiles(b->seq_start[s + 1] - b->seq_start[s]);
    j.n_items = g * n_heads;
    atomic_init(&j.next, 0);
    size_t slots = n_slots < j.n_items ? n_slots : j.n_items;
    if (!slots)
        return;
    if (j.fn != tile_scalar)
        kern_pool_run(pool, transpose_task, &j, b->n_seqs * n_heads);
    kern_pool_run(slots > 1 ? pool : NULL, slot_run, &j, slots);
}

void model_attention(const model_batch *b, const float *qkv, float *ctx, size_t dim, size_t n_heads, float *scratch,
                     float *kt, size_t n_slots, kern_pool *pool)
{
    model_attention_run(b, qkv, ctx, dim, n_heads, scratch, kt, n_slots, pool, 0);
}

void model_attention_reference(const model_batch *b, const float *qkv, float *ctx, size_t dim, size_t n_heads)
{
    size_t dh = dim / n_heads, D3 = 3 * dim;
    float scale = 1.0f / sqrtf((float)dh);
    for (size_t s = 0; s < b->n_seqs; s++) {
        size_t o = b->seq_start[s], L = b->seq_start[s + 1] - o;
        float *p = malloc((L ? L : 1) * sizeof *p);
        if (!p)
            return;
        for (size_t h = 0; h < n_heads; h++)
            for (size_t i = 0; i < L; i++) {
                const float *q = qkv + (o + i) * D3 + h * dh;
                for (size_t k = 0; k < L; k++) {
                    const float *kk = qkv + (o + k) * D3 + dim + h * dh;
                    float dot = 0;
                    for (size_t d = 0; d < dh; d++)
                        dot += q[d] * kk[d];
                    p[k] = dot * scale;
                }
                kern_ref_softmax(p, L);
                float *out = ctx + (o + i) * dim + h * dh;
                for (size_t d = 0; d < dh; d++) {
                    float a = 0;
                    for (size_t k = 0; k < L; k++)
                        a += p[k] * qkv[(o + k) * D3 + 2 * dim + h * dh + d];
                    out[d] = a;
                }
            }
        free(p);
    }
}
