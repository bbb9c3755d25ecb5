/* sgemm.c: the SGEMM ceiling of this machine and how close semdex's packed
 * kernel (src/kern/gemm_avx2.c) gets to it.  Measures, in one run:
 *   1. the FMA peak: independent AVX2 FMA chains in registers, 1 and 2
 *      threads (what no matrix product can beat);
 *   2. kern_sgemm_packed, C = A B^T, on 1024^3 and the encoder's shapes, with
 *      no pool (1 thread) and a pool of 2;
 *   3. OpenBLAS's cblas_sgemm on the same shapes (RowMajor, NoTrans, Trans),
 *      1 and 2 threads, as an anchor, when libopenblas.so.0 can be loaded
 *      (Debian's libopenblas0 / libopenblas-dev; loaded with dlopen, so the
 *      program builds without it).
 * Figures are GFLOP/s (2 M N K / s), the median of BENCH_REPS (5)
 * repetitions of at least BENCH_MIN_REP_S (0.2) seconds each.  Uses the
 * kernel layer's internal header; knows nothing of models. */
#include "kern.h"
#include <dlfcn.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int reps = 5;
static double min_rep_s = 0.2;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double proc_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------ FMA peak */

static volatile float fma_sink;

/* 12 independent chains of 8-float FMAs: 2 FMA ports x 4 cycles latency
 * needs at least 8 in flight.  The result goes to a volatile so that the
 * compiler can neither drop the call nor move it past the clock reads. */
__attribute__((target("avx2,fma"), noinline)) static void fma_loop(long iters, float seed)
{
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_set1_ps(seed + (float)i);
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    fma_sink = out[0];
}

typedef struct peak_arg {
    long iters;
    double seconds, cpu_seconds;
} peak_arg;

static void *peak_thread(void *arg)
{
    peak_arg *p = arg;
    double t0 = now_s(), c0 = cpu_s();
    fma_loop(p->iters, 1.0f);
    p->cpu_seconds = cpu_s() - c0;
    p->seconds = now_s() - t0;
    return NULL;
}

/* FMA peak of n_threads running the loop at once: median GFLOP/s by the
 * wall clock, and (*per_cpu) the median per second of CPU time of one
 * thread. */
static double fma_peak(int n_threads, double *per_cpu)
{
    long iters = 1000000;
    while (1) { /* calibrate on one thread */
        peak_arg a = {iters, 0, 0};
        peak_thread(&a);
        if (a.seconds >= min_rep_s / 2)
            break;
        iters *= 2;
    }
    double r[16], u[16];
    for (int k = 0; k < reps; k++) {
        pthread_t th[8];
        peak_arg a[8];
        double t0 = now_s();
        for (int t = 0; t < n_threads; t++) {
            a[t] = (peak_arg){iters, 0, 0};
            pthread_create(&th[t], NULL, peak_thread, &a[t]);
        }
        for (int t = 0; t < n_threads; t++)
            pthread_join(th[t], NULL);
        double s = now_s() - t0;
        r[k] = (double)n_threads * (double)iters * 12 * 8 * 2 / s / 1e9;
        u[k] = (double)iters * 12 * 8 * 2 / a[0].cpu_seconds / 1e9;
    }
    qsort(r, (size_t)reps, sizeof *r, cmp_double);
    qsort(u, (size_t)reps, sizeof *u, cmp_double);
    *per_cpu = u[reps / 2];
    return r[reps / 2];
}

/* ----------------------------------------------------------- OpenBLAS */

typedef void (*cblas_sgemm_fn)(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                               int lda, const float *B, int ldb, float beta, float *C, int ldc);
static cblas_sgemm_fn blas_sgemm;
static void (*blas_set_threads)(int);
static char *(*blas_corename)(void);
static char *(*blas_config)(void);

static void blas_load(void)
{
    static const char *names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *h = NULL;
    for (size_t i = 0; i < 2 && !h; i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    blas_sgemm = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
    blas_set_threads = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    blas_corename = (char *(*)(void))dlsym(h, "openblas_get_corename");
    blas_config = (char *(*)(void))dlsym(h, "openblas_get_config");
    if (!blas_sgemm || !blas_set_threads)
        blas_sgemm = NULL;
}

/* ------------------------------------------------------------ products */

typedef struct shape {
    const char *name;
    size_t M, N, K;
    size_t copies; /* > 1: a call runs over that many distinct B matrices, as a
                      model's layers do, so that B comes from memory, not cache */
} shape;

typedef struct bench_case {
    const shape *s;
    const float *A, *B; /* B: copies x N x K */
    float *C;
    kern_packed **P;    /* copies */
    kern_pool *pool;
    int blas_threads; /* 0: ours */
} bench_case;

static void run_once(const bench_case *c)
{
    const shape *s = c->s;
    for (size_t i = 0; i < s->copies; i++) {
        if (c->blas_threads)
            blas_sgemm(101 /* RowMajor */, 111 /* NoTrans */, 112 /* Trans */, (int)s->M, (int)s->N, (int)s->K,
                       1.0f, c->A, (int)s->K, c->B + i * s->N * s->K, (int)s->K, 0.0f, c->C, (int)s->N);
        else
            kern_sgemm_packed(s->M, c->A, s->K, c->P[i], c->C, s->N, NULL, c->pool);
    }
}

typedef struct figure {
    double wall, wall_lo, wall_hi; /* GFLOP/s by the wall clock: median, min, max */
    double cpu;                    /* GFLOP per second of the calling thread's CPU time: median */
    double cpu_all;                /* GFLOP per second of the process's CPU time (all threads) */
} figure;

/* reps repetitions of enough calls to last min_rep_s.  On a shared machine
 * the single-thread figure by CPU time is the one to read: it counts only
 * the time the thread had a core.  With threads, the figure per CPU-second
 * of all threads shows what the threading wastes (spinning, idling at the
 * end) without being a speed. */
static figure measure(const bench_case *c)
{
    const shape *s = c->s;
    double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K * (double)s->copies;
    long calls = 1;
    for (;;) { /* calibration, also the warm-up */
        double t0 = now_s();
        for (long i = 0; i < calls; i++)
            run_once(c);
        if (now_s() - t0 >= min_rep_s / 4)
            break;
        calls *= 2;
    }
    calls *= 4;
    double w[16], u[16], a[16];
    for (int k = 0; k < reps; k++) {
        double t0 = now_s(), c0 = cpu_s(), p0 = proc_cpu_s();
        for (long i = 0; i < calls; i++)
            run_once(c);
        w[k] = flop * (double)calls / (now_s() - t0) / 1e9;
        u[k] = flop * (double)calls / (cpu_s() - c0) / 1e9;
        a[k] = flop * (double)calls / (proc_cpu_s() - p0) / 1e9;
    }
    qsort(w, (size_t)reps, sizeof *w, cmp_double);
    qsort(u, (size_t)reps, sizeof *u, cmp_double);
    qsort(a, (size_t)reps, sizeof *a, cmp_double);
    return (figure){w[reps / 2], w[0], w[reps - 1], u[reps / 2], a[reps / 2]};
}

/* Largest |ours - blas| relative to the magnitude of the products, as a
 * check that both compute the same thing. */
static double compare(const shape *s, const float *A, const float *B, kern_packed *P)
{
    float *C1 = malloc(s->M * s->N * sizeof *C1), *C2 = malloc(s->M * s->N * sizeof *C2);
    if (!C1 || !C2)
        exit(1);
    kern_sgemm_packed(s->M, A, s->K, P, C1, s->N, NULL, NULL);
    blas_set_threads(1);
    blas_sgemm(101, 111, 112, (int)s->M, (int)s->N, (int)s->K, 1.0f, A, (int)s->K, B, (int)s->K, 0.0f, C2, (int)s->N);
    double worst = 0;
    for (size_t i = 0; i < s->M * s->N; i++) {
        double d = fabs((double)C1[i] - C2[i]) / sqrt((double)s->K);
        worst = d > worst ? d : worst;
    }
    free(C1);
    free(C2);
    return worst;
}

/* The machine may be shared: say how busy it was. */
static void print_load(const char *when)
{
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128];
    if (f && fgets(line, sizeof line, f))
        printf("%s: %s", when, line);
    if (f)
        fclose(f);
}

int main(void)
{
    static const shape shapes[] = {
        {"square 1024", 1024, 1024, 1024, 1},
        {"qkv    2048x1152x384", 2048, 1152, 384, 1},
        {"attn-o 2048x384x384", 2048, 384, 384, 1},
        {"ffn-up 2048x1536x384", 2048, 1536, 384, 1},
        {"ffn-dn 2048x384x1536", 2048, 384, 1536, 1},
        {"query  16x384x384", 16, 384, 384, 1},
        /* a query against 71 MB of weights (more than L3): memory-bound
         * unless the panels are prefetched */
        {"query  16x1536x384 x30", 16, 1536, 384, 30},
    };
    const char *e;
    if ((e = getenv("BENCH_REPS")) && atoi(e) > 0 && atoi(e) <= 15)
        reps = atoi(e);
    if ((e = getenv("BENCH_MIN_REP_S")) && atof(e) > 0)
        min_rep_s = atof(e);
    kern_init();
    blas_load();
    e = getenv("OPENBLAS_CORETYPE");
    printf("semdex kernels: %s\n", kern_name());
    printf("OpenBLAS: %s%s%s; OPENBLAS_CORETYPE=%s\n", blas_sgemm ? "loaded" : "not found",
           blas_sgemm && blas_config ? ", " : "", blas_sgemm && blas_config ? blas_config() : "", e ? e : "(unset)");
    if (blas_sgemm && blas_corename)
        printf("OpenBLAS core: %s\n", blas_corename());
    print_load("load average at the start");
    printf("median of %d repetitions of >= %.2f s each; GFLOP/s = 2MNK/s\n\n", reps, min_rep_s);

    double peak1_cpu, peak2_cpu, peak1 = fma_peak(1, &peak1_cpu), peak2 = fma_peak(2, &peak2_cpu);
    printf("FMA peak (AVX2 FMA in registers): 1 thread %.1f GFLOP/s (%.1f per CPU-second), 2 threads %.1f GFLOP/s\n",
           peak1, peak1_cpu, peak2);
    printf("RESULT kind=peak threads=1 gflops=%.2f gflops_cpu=%.2f\nRESULT kind=peak threads=2 gflops=%.2f\n\n", peak1,
           peak1_cpu, peak2);

    kern_pool *pool2 = kern_pool_new(2);
    if (!pool2)
        return 1;
    printf("GFLOP/s.  1t: per CPU-second of the thread [by the wall clock]; 2t: by the wall clock "
           "[per CPU-second of all threads]\n");
    printf("%-22s %16s %16s | %16s %16s | %s\n", "shape (MxNxK)", "ours 1t", "ours 2t", "OpenBLAS 1t", "OpenBLAS 2t",
           "ours 1t/peak");
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const shape *s = &shapes[si];
        float *A = malloc(s->M * s->K * sizeof *A), *B = malloc(s->copies * s->N * s->K * sizeof *B);
        float *C = malloc(s->M * s->N * sizeof *C);
        kern_packed **P = calloc(s->copies, sizeof *P);
        if (!A || !B || !C || !P)
            return 1;
        srand(1);
        for (size_t i = 0; i < s->M * s->K; i++)
            A[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t i = 0; i < s->copies * s->N * s->K; i++)
            B[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t i = 0; i < s->copies; i++)
            if (!(P[i] = kern_pack_nt(B + i * s->N * s->K, s->N, s->K, s->K)))
                return 1;
        bench_case c = {s, A, B, C, P, NULL, 0};
        figure o1 = measure(&c), o2, b1 = {0}, b2 = {0};
        c.pool = pool2;
        o2 = measure(&c);
        if (blas_sgemm) {
            c.pool = NULL;
            blas_set_threads(1);
            c.blas_threads = 1;
            b1 = measure(&c);
            blas_set_threads(2);
            c.blas_threads = 2;
            b2 = measure(&c);
        }
        printf("%-22s %7.1f [%6.1f] %7.1f [%6.1f] | %7.1f [%6.1f] %7.1f [%6.1f] | %3.0f%%\n", s->name, o1.cpu, o1.wall,
               o2.wall, o2.cpu_all, b1.cpu, b1.wall, b2.wall, b2.cpu_all, 100 * o1.cpu / peak1_cpu);
        printf("RESULT kind=sgemm M=%zu N=%zu K=%zu copies=%zu ours_1t_cpu=%.2f ours_1t=%.2f ours_2t=%.2f ours_2t_min=%.2f "
               "ours_2t_max=%.2f ours_2t_cpu_all=%.2f blas_1t_cpu=%.2f blas_1t=%.2f blas_2t=%.2f blas_2t_cpu_all=%.2f",
               s->M, s->N, s->K, s->copies, o1.cpu, o1.wall, o2.wall, o2.wall_lo, o2.wall_hi, o2.cpu_all, b1.cpu, b1.wall,
               b2.wall, b2.cpu_all);
        if (blas_sgemm)
            printf(" max_diff_over_sqrtK=%.3g", compare(s, A, B, P[0]));
        printf("\n");
        fflush(stdout);
        for (size_t i = 0; i < s->copies; i++)
            kern_packed_free(P[i]);
        free(P);
        free(A);
        free(B);
        free(C);
    }
    kern_pool_free(pool2);
    print_load("load average at the end");
    return 0;
}
