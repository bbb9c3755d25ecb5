/* bw.c: single-thread streaming-read memory bandwidth, the yardstick of
 * exact search: sums a buffer much larger than the caches with several
 * independent AVX accumulators (build with -mavx2), median of 7 passes.  Prints
 * "bandwidth gb_per_s=X mb=Y".
 *
 *   bw [MB]   (default 1024) */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); /* CPU time, as the searches are timed */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    size_t n = mb * 1024 * 1024 / sizeof(float);
    float *x = aligned_alloc(64, n * sizeof *x);
    if (!x)
        return 1;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(i & 7);
    double t[7], sink = 0;
    for (int r = 0; r < 7; r++) {
        double t0 = now_s();
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i + 32 <= n; i += 32) {
            a0 = _mm256_add_ps(a0, _mm256_load_ps(x + i));
            a1 = _mm256_add_ps(a1, _mm256_load_ps(x + i + 8));
            a2 = _mm256_add_ps(a2, _mm256_load_ps(x + i + 16));
            a3 = _mm256_add_ps(a3, _mm256_load_ps(x + i + 24));
        }
        t[r] = now_s() - t0;
        float acc[8];
        _mm256_storeu_ps(acc, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (int j = 0; j < 8; j++)
            sink += acc[j];
    }
    qsort(t, 7, sizeof t[0], cmp);
    printf("bandwidth gb_per_s=%.3f mb=%zu sink=%g\n", (double)(n * sizeof *x) / t[3] / 1e9, mb, sink);
    free(x);
    return 0;
}
