/* pooling.c: sentence embeddings from token embeddings, as
 * sentence-transformers' Pooling module computes them on one unpadded
 * sequence (cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken,
 * concatenated in the configured order), and L2 normalization as its
 * Normalize module.  Excluded prompt tokens (include_prompt false) are
 * masked exactly where the reference masks them.  Sums are accumulated in
 * double.  Knows nothing of the encoder or of tokenizers. */
#include "model_int.h"
#include <math.h>
#include <string.h>

static void pool_one(model_pool mode, const float *h, size_t L, size_t D, size_t skip, float *out)
{
    /* tokens [skip, L) are in the mask; skip >= L leaves none */
    size_t first = skip < L ? skip : L;
    size_t n = L - first;
    switch (mode) {
    case MODEL_POOL_CLS:
        /* the first token still in the mask; with none, argmax of an empty mask is 0 */
        if (L)
            memcpy(out, h + (n ? first : 0) * D, D * sizeof *out);
        else
            memset(out, 0, D * sizeof *out);
        return;
    case MODEL_POOL_LASTTOKEN:
        /* the reference multiplies by the mask: no token in it gives zeros */
        if (n)
            memcpy(out, h + (L - 1) * D, D * sizeof *out);
        else
            memset(out, 0, D * sizeof *out);
        return;
    case MODEL_POOL_MAX:
        /* the reference gives -inf with an empty mask; zeros keep outputs finite */
        if (!n) {
            memset(out, 0, D * sizeof *out);
            return;
        }
        memcpy(out, h + first * D, D * sizeof *out);
        for (size_t t = first + 1; t < L; t++)
            for (size_t d = 0; d < D; d++)
                out[d] = h[t * D + d] > out[d] ? h[t * D + d] : out[d];
        return;
    case MODEL_POOL_MEAN:
    case MODEL_POOL_MEAN_SQRT_LEN:
    case MODEL_POOL_WEIGHTEDMEAN:
    case MODEL_POOL_COUNT:
        break;
    }
    int weighted = mode == MODEL_POOL_WEIGHTEDMEAN;
    double wsum = 0;
    for (size_t t = first; t < L; t++)
        wsum += weighted ? (double)(t + 1) : 1.0; /* weights are 1-based positions */
    if (wsum < 1e-9)
        wsum = 1e-9; /* torch.clamp(min=1e-9) */
    double div = mode == MODEL_POOL_MEAN_SQRT_LEN ? sqrt(wsum) : wsum;
    /* chunks of 8 dimensions summed in double over all tokens */
    for (size_t d0 = 0; d0 < D; d0 += 8) {
        size_t nd = D - d0 < 8 ? D - d0 : 8;
        double acc[8] = {0};
        for (size_t t = first; t < L; t++) {
            double w = weighted ? (double)(t + 1) : 1.0;
            for (size_t d = 0; d < nd; d++)
                acc[d] += w * h[t * D + d0 + d];
        }
        for (size_t d = 0; d < nd; d++)
            out[d0 + d] = (float)(acc[d] / div);
    }
}

void model_pool_sequence(const model_pooling *p, const float *h, size_t L, size_t D, size_t skip, float *out)
{
    for (size_t i = 0; i < p->n_modes; i++)
        pool_one(p->modes[i], h, L, D, skip, out + i * D);
}

void model_l2_normalize(float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    double norm = sqrt(s);
    if (norm < 1e-12)
        norm = 1e-12;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(x[i] / norm);
}
