/* gen.c: deterministic synthetic data for the ANN benchmark: n base and nq
 * query vectors of dimension dim, clustered (n/100 gaussian centres, each
 * vector a centre plus gaussian noise of the same scale) and normalized, as
 * sentence embeddings are; plus the exact top-100 by inner product (equal to
 * the L2 order on unit vectors) as ground truth.  Writes
 * OUT_base.fvecs, OUT_query.fvecs, OUT_groundtruth.ivecs.
 *
 *   gen N NQ DIM OUT_PREFIX [SEED] */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GT_K 100

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float gauss(uint64_t *s)
{
    double u = ((rng_next(s) >> 11) + 1) * 0x1.0p-53, v = (rng_next(s) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

static size_t n, nq, dim;
static float *base, *query;
static int32_t *gt;

static void make(float *x, size_t count, const float *centres, size_t n_centres, uint64_t *s)
{
    for (size_t i = 0; i < count; i++) {
        const float *c = centres + (rng_next(s) % n_centres) * dim;
        double nrm = 0;
        for (size_t j = 0; j < dim; j++) {
            float v = c[j] + gauss(s);
            x[i * dim + j] = v;
            nrm += (double)v * v;
        }
        float inv = (float)(1 / sqrt(nrm));
        for (size_t j = 0; j < dim; j++)
            x[i * dim + j] *= inv;
    }
}

typedef struct job {
    size_t q0, q1;
} job;

static void *truth(void *arg)
{
    job *jb = arg;
    float *score = malloc(n * sizeof *score);
    for (size_t q = jb->q0; q < jb->q1; q++) {
        const float *qv = query + q * dim;
        for (size_t i = 0; i < n; i++) {
            const float *b = base + i * dim;
            float s = 0;
            for (size_t j = 0; j < dim; j++)
                s += qv[j] * b[j];
            score[i] = s;
        }
        /* top GT_K by selection into a sorted list */
        int32_t *out = gt + q * GT_K;
        float best[GT_K];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            float s = score[i];
            if (m == GT_K && s <= best[GT_K - 1])
                continue;
            size_t p = m < GT_K ? m++ : GT_K - 1;
            while (p > 0 && best[p - 1] < s) {
                best[p] = best[p - 1];
                out[p] = out[p - 1];
                p--;
            }
            best[p] = s;
            out[p] = (int32_t)i;
        }
    }
    free(score);
    return NULL;
}

static int write_vecs(const char *path, const void *data, size_t rows, size_t cols, size_t elem)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int32_t d = (int32_t)cols;
    for (size_t i = 0; i < rows; i++)
        if (fwrite(&d, 4, 1, f) != 1 || fwrite((const char *)data + i * cols * elem, elem, cols, f) != cols) {
            fclose(f);
            return -1;
        }
    return fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: gen N NQ DIM OUT_PREFIX [SEED]\n");
        return 2;
    }
    n = strtoul(argv[1], NULL, 10);
    nq = strtoul(argv[2], NULL, 10);
    dim = strtoul(argv[3], NULL, 10);
    uint64_t seed = argc > 5 ? strtoull(argv[5], NULL, 10) : 2024;
    size_t n_centres = n / 100 ? n / 100 : 1;
    float *centres = malloc(n_centres * dim * sizeof *centres);
    base = malloc(n * dim * sizeof *base);
    query = malloc(nq * dim * sizeof *query);
    gt = malloc(nq * GT_K * sizeof *gt);
    if (!centres || !base || !query || !gt || n < GT_K) {
        fprintf(stderr, "gen: out of memory or N < %d\n", GT_K);
        return 1;
    }
    uint64_t s = seed;
    for (size_t i = 0; i < n_centres * dim; i++)
        centres[i] = gauss(&s);
    make(base, n, centres, n_centres, &s);
    make(query, nq, centres, n_centres, &s);
    enum { T = 2 };
    pthread_t th[T];
    job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (job){nq * t / T, nq * (t + 1) / T};
        pthread_create(&th[t], NULL, truth, &jobs[t]);
    }
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    char path[1024];
    snprintf(path, sizeof path, "%s_base.fvecs", argv[4]);
    int bad = write_vecs(path, base, n, dim, 4);
    snprintf(path, sizeof path, "%s_query.fvecs", argv[4]);
    bad |= write_vecs(path, query, nq, dim, 4);
    snprintf(path, sizeof path, "%s_groundtruth.ivecs", argv[4]);
    bad |= write_vecs(path, gt, nq, GT_K, 4);
    if (bad) {
        fprintf(stderr, "gen: cannot write %s\n", path);
        return 1;
    }
    return 0;
}
