/* sgemm.c: the machine's SGEMM ceiling for the encoder benchmark, measured
 * with OpenBLAS (Debian's libopenblas-dev), used when bench/kern has no
 * program of its own.  Links with -lopenblas; declares what it uses itself so
 * that it does not depend on which cblas.h the alternatives system picked.
 *
 *   sgemm [--threads 2] [--min-s 0.3] [--reps 5]
 *
 * Shapes: 1024^3 and the encoder's own (M = 2048 rows of tokens against the
 * 384x384, 384->1536 and 1536->384 weights of all-MiniLM-L6-v2, B transposed
 * as in a Linear layer).  Each shape: repetitions of at least --min-s
 * seconds, the median GFLOP/s.  The ceiling is the best shape's median.
 * Prints one RESULT line per shape, then RESULT ... shape=ceiling. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
char *openblas_get_corename(void);
char *openblas_get_config(void);

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 5;
    double min_s = 0.3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--min-s"))
            min_s = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    if (reps < 1 || reps > 100)
        reps = 5;
    openblas_set_num_threads(threads);
    static const struct {
        const char *name;
        int m, n, k, tb;
    } shapes[] = {
        {"1024x1024x1024", 1024, 1024, 1024, 0},
        {"qkvo_2048x384x384", 2048, 384, 384, 1},
        {"ffn_up_2048x1536x384", 2048, 1536, 384, 1},
        {"ffn_down_2048x384x1536", 2048, 384, 1536, 1},
    };
    double best = 0;
    const char *best_name = "";
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
        float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)n * k),
              *c = malloc(sizeof(float) * (size_t)m * n);
        if (!a || !b || !c)
            return 1;
        for (size_t i = 0; i < (size_t)m * k; i++)
            a[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < (size_t)n * k; i++)
            b[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
        int tb = shapes[s].tb ? TRANS : NO_TRANS, ldb = shapes[s].tb ? k : n;
        double flop = 2.0 * m * n * k;
        /* calibrate (also the warm-up) */
        int iters = 1;
        for (;;) {
            double t0 = now_s();
            for (int i = 0; i < iters; i++)
                cblas_sgemm(ROW_MAJOR, NO_TRANS, tb, m, n, k, 1.0f, a, k, b, ldb, 0.0f, c, n);
            if (now_s() - t0 >= min_s || iters > (1 << 20))
                break;
            iters *= 2;
        }
        double g[100];
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            for (int i = 0; i < iters; i++)
                cblas_sgemm(ROW_MAJOR, NO_TRANS, tb, m, n, k, 1.0f, a, k, b, ldb, 0.0f, c, n);
            g[r] = flop * iters / (now_s() - t0) / 1e9;
        }
        qsort(g, (size_t)reps, sizeof g[0], cmp_double);
        double med = reps % 2 ? g[reps / 2] : 0.5 * (g[reps / 2 - 1] + g[reps / 2]);
        fprintf(stderr, "  sgemm %s: %.1f GFLOP/s (median of %d)\n", shapes[s].name, med, reps);
        printf("RESULT engine=openblas mode=sgemm shape=%s threads=%d gflops=%.2f max_gflops=%.2f\n", shapes[s].name,
               threads, med, g[reps - 1]);
        if (med > best) {
            best = med;
            best_name = shapes[s].name;
        }
        free(a);
        free(b);
        free(c);
    }
    const char *core = openblas_get_corename();
    printf("RESULT engine=openblas mode=sgemm shape=ceiling threads=%d gflops=%.2f best_shape=%s core=%s\n", threads,
           best, best_name, core ? core : "?");
    return 0;
}
