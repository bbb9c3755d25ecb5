/* cmd_bench.c: `semdex bench ann`, the ANN benchmark of the HNSW index on
 * TEXMEX vector files (.fvecs/.bvecs base and queries, .ivecs ground
 * truth): build time and memory, then recall@k and single-thread QPS per
 * search ef; optionally deletes (recall after removing a fraction, slot
 * reuse), filtered search against exact filtered search, and exact-search
 * speed in GB/s.  Result lines are `KIND key=value ...` for scripts
 * (bench/ann/run.sh reads them). */
#include "cli.h"
#include "../src/index/hnsw.h"
#include "../src/index/hnsw_vecs.h"
#include "kern.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_EFS 64

static void bench_usage(FILE *f)
{
    fprintf(f,
            "usage: semdex bench ann --base F --query F --gt F [options]\n"
            "\n"
            "Builds an HNSW index over the base vectors (single thread) and reports build time,\n"
            "memory, and per-ef recall@k against the ground truth with single-thread QPS.\n"
            "Files: .fvecs (float32) or .bvecs (uint8) vectors, .ivecs ground truth (row ids).\n"
            "\n"
            "options:\n"
            "  --metric l2|cosine|dot    distance (default l2; the ground truth must match it)\n"
            "  --M N                     links per node (default 16)\n"
            "  --ef-construction N       build breadth (default 200)\n"
            "  --ef LIST                 search breadths, comma-separated (default 10,20,40,80,160)\n"
            "  --k N                     recall@k (default 10)\n"
            "  --reps N                  timed passes per ef, the median is reported (default 3)\n"
            "  --queries N               use the first N queries only\n"
            "  --delete-frac F           then delete this fraction of the base: recall against exact\n"
            "                            search over what remains, and slot reuse by reinserts\n"
            "  --filter-frac F[,F...]    then filtered search keeping these fractions of the rows,\n"
            "                            against exact filtered search (and its QPS)\n"
            "  --filter-ef LIST          search breadths of the filtered runs (default 10,40,160)\n"
            "  --extra-queries N         queries for exact, filter and delete runs (default 200)\n"
            "  --exact                   also time exact search (GB/s of vectors scanned)\n"
            "  --persist                 also save the index as an image to a file, read it back and\n"
            "                            load it (what reopening a collection costs), and check that\n"
            "                            both answer the queries alike\n");
}

/* Process CPU time: on a shared machine, time slices lost to other
 * processes do not count (the work is single-threaded, so CPU time is the
 * single-thread time).  Wall time is printed beside the build. */
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double wall_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* CPU seconds of one streaming read of x[0..n) (64-bit words, four
 * independent sums: memory-bound on any x86-64). */
static volatile uint64_t stream_sink; /* keeps the sums alive */

static double stream_seconds(const float *x, size_t n)
{
    size_t words = n / 2;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, w[4];
    double t0 = now_s();
    size_t i = 0;
    for (; i + 4 <= words; i += 4) {
        memcpy(w, (const uint64_t *)(const void *)x + i, sizeof w);
        s0 += w[0];
        s1 += w[1];
        s2 += w[2];
        s3 += w[3];
    }
    double t = now_s() - t0;
    stream_sink = s0 ^ s1 ^ s2 ^ s3;
    return t > 0 ? t : 1e-9;
}

/* A filter keeping about `frac` of the labels, spread evenly by a hash. */
typedef struct frac_filter {
    uint64_t keep_below; /* of 2^32 */
} frac_filter;

static int frac_keep(int64_t label, void *ctx)
{
    const frac_filter *f = ctx;
    uint64_t x = (uint64_t)label * 0x9e3779b97f4a7c15ULL;
    return (x >> 32) < f->keep_below;
}

/* What one measurement runs: queries against the shipped ground truth, or
 * (gt NULL) against exact search on the index, with an optional filter and
 * the deleted labels that must never come back. */
typedef struct bench_state {
    const hnsw_index *h;
    const hnsw_vecs *q;
    const hnsw_vecs *gt; /* NULL: compare with exact search on the index */
    size_t nq, k;
    hnsw_filter_fn filter;
    void *filter_ctx;
    const uint8_t *gone; /* by label, or NULL */
    int64_t *truth;      /* [nq x k] exact results when gt is NULL */
    size_t *n_truth;
    int64_t *labels; /* [k] */
} bench_state;

static void compute_truth(bench_state *b)
{
    for (size_t i = 0; i < b->nq; i++)
        b->n_truth[i] = hnsw_search_exact(b->h, b->q->f + i * b->q->dim, b->k, b->filter, b->filter_ctx,
                                          b->truth + i * b->k, NULL);
}

/* Recall@k at ef, and the number of deleted labels returned. */
static double measure_recall(bench_state *b, size_t ef, size_t *bad)
{
    size_t hit = 0, total = 0;
    *bad = 0;
    for (size_t i = 0; i < b->nq; i++) {
        size_t got = hnsw_search(b->h, b->q->f + i * b->q->dim, b->k, ef, b->filter, b->filter_ctx, b->labels, NULL);
        if (b->gt) {
            for (size_t a = 0; a < b->k; a++) {
                int64_t w = b->gt->i[i * b->gt->dim + a];
                for (size_t c = 0; c < got; c++)
                    if (b->labels[c] == w) {
                        hit++;
                        break;
                    }
            }
            total += b->k;
        } else {
            const int64_t *want = b->truth + i * b->k;
            size_t n_want = b->n_truth[i];
            for (size_t a = 0; a < n_want; a++)
                for (size_t c = 0; c < got; c++)
                    if (b->labels[c] == want[a]) {
                        hit++;
                        break;
                    }
            total += n_want;
        }
        for (size_t c = 0; b->gone && c < got; c++)
            if (b->gone[b->labels[c]])
                (*bad)++;
    }
    return total ? (double)hit / (double)total : 1.0;
}

/* Median queries per CPU second over reps passes (exact search when ef 0). */
static double measure_qps(bench_state *b, size_t ef, int reps)
{
    double t[32];
    if (reps > 32)
        reps = 32;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        for (size_t i = 0; i < b->nq; i++) {
            const float *q = b->q->f + i * b->q->dim;
            if (ef)
                hnsw_search(b->h, q, b->k, ef, b->filter, b->filter_ctx, b->labels, NULL);
            else
                hnsw_search_exact(b->h, q, b->k, b->filter, b->filter_ctx, b->labels, NULL);
        }
        t[r] = now_s() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return (double)b->nq / t[reps / 2];
}

static void run_efs(bench_state *b, const char *kind, const size_t *efs, size_t n_efs, int reps)
{
    for (size_t e = 0; e < n_efs; e++) {
        size_t bad;
        double r = measure_recall(b, efs[e], &bad);
        double qps = measure_qps(b, efs[e], reps);
        printf("%s ef=%zu recall@%zu=%.4f qps=%.1f", kind, efs[e], b->k, r, qps);
        if (b->gone)
            printf(" deleted_returned=%zu", bad);
        printf("\n");
        fflush(stdout);
    }
}

static int parse_efs(const char *s, size_t *efs, size_t *n)
{
    *n = 0;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || !v || *n == MAX_EFS)
            return -1;
        efs[(*n)++] = v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return *n ? 0 : -1;
}

static int parse_fracs(const char *s, double *out, size_t *n)
{
    *n = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !(v > 0 && v <= 1) || *n == 16)
            return -1;
        out[(*n)++] = v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return *n ? 0 : -1;
}

/* What reopening a collection costs instead of rebuilding its graph: the
 * index saved as an image into a file, read back and loaded (validated, as
 * the store does), then the same searches on both, which must agree. */
static int bench_persist(const hnsw_index *h, const hnsw_vecs *q, size_t nq, size_t k, size_t ef)
{
    semdex_error err = {0};
    size_t size = hnsw_save_size(h);
    char path[] = "/tmp/semdex-bench-image-XXXXXX";
    int fd = mkstemp(path), rc = -1;
    uint8_t *buf = malloc(size), *back = malloc(size);
    int64_t *l1 = malloc(k * sizeof *l1), *l2 = malloc(k * sizeof *l2);
    hnsw_index *h2 = NULL;
    FILE *f = fd >= 0 ? fdopen(fd, "w+b") : NULL;
    if (!f || !buf || !back || !l1 || !l2) {
        fprintf(stderr, "semdex bench ann: --persist: cannot make the image file or buffers\n");
        goto out;
    }
    double t0 = now_s();
    if (hnsw_save(h, buf, size, &err)) {
        cli_print_error("bench ann", &err);
        goto out;
    }
    if (fwrite(buf, 1, size, f) != size || fflush(f) || fsync(fileno(f))) {
        fprintf(stderr, "semdex bench ann: --persist: cannot write %s\n", path);
        goto out;
    }
    double t_save = now_s() - t0;
    t0 = now_s();
    rewind(f);
    if (fread(back, 1, size, f) != size) {
        fprintf(stderr, "semdex bench ann: --persist: cannot read %s back\n", path);
        goto out;
    }
    if (!(h2 = hnsw_load(back, size, &err))) {
        cli_print_error("bench ann", &err);
        goto out;
    }
    double t_load = now_s() - t0;
    size_t differ = 0;
    for (size_t i = 0; i < nq; i++) {
        const float *v = q->f + i * q->dim;
        size_t n1 = hnsw_search(h, v, k, ef, NULL, NULL, l1, NULL), n2 = hnsw_search(h2, v, k, ef, NULL, NULL, l2, NULL);
        differ += n1 != n2 || memcmp(l1, l2, n1 * sizeof *l1) != 0;
    }
    printf("persist image_mb=%.1f save_seconds=%.3f load_seconds=%.3f queries=%zu ef=%zu differing=%zu\n",
           (double)size / 1e6, t_save, t_load, nq, ef, differ);
    rc = differ ? -1 : 0;
    if (differ)
        fprintf(stderr, "semdex bench ann: --persist: the loaded index answers %zu queries differently\n", differ);
out:
    hnsw_free(h2);
    if (f)
        fclose(f);
    else if (fd >= 0)
        close(fd);
    if (fd >= 0)
        unlink(path);
    free(buf);
    free(back);
    free(l1);
    free(l2);
    return rc;
}

static int bench_ann(int argc, char **argv)
{
    const char *base_path = NULL, *query_path = NULL, *gt_path = NULL, *metric_name = "l2";
    size_t M = 16, efc = 200, k = 10, max_q = 0, efs[MAX_EFS], n_efs = 5;
    size_t def_efs[] = {10, 20, 40, 80, 160}, fefs[MAX_EFS] = {10, 40, 160}, n_fefs = 3;
    memcpy(efs, def_efs, sizeof def_efs);
    int reps = 3, exact = 0, persist = 0;
    double delete_frac = 0, filter_fracs[16];
    size_t n_filter = 0, extra_q = 200;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t z;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--exact")) {
            exact = 1;
            continue;
        }
        if (!strcmp(a, "--persist")) {
            persist = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "semdex bench ann: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--base"))
            base_path = v;
        else if (!strcmp(a, "--query"))
            query_path = v;
        else if (!strcmp(a, "--gt"))
            gt_path = v;
        else if (!strcmp(a, "--metric"))
            metric_name = v;
        else if (!strcmp(a, "--M") && !cli_parse_size(v, &z))
            M = z;
        else if (!strcmp(a, "--ef-construction") && !cli_parse_size(v, &z))
            efc = z;
        else if (!strcmp(a, "--k") && !cli_parse_size(v, &z) && z > 0 && z <= 1000)
            k = z;
        else if (!strcmp(a, "--reps") && !cli_parse_size(v, &z) && z > 0 && z <= 32)
            reps = (int)z;
        else if (!strcmp(a, "--queries") && !cli_parse_size(v, &z))
            max_q = z;
        else if (!strcmp(a, "--ef") && !parse_efs(v, efs, &n_efs))
            ;
        else if (!strcmp(a, "--filter-ef") && !parse_efs(v, fefs, &n_fefs))
            ;
        else if (!strcmp(a, "--delete-frac") && (delete_frac = atof(v)) > 0 && delete_frac < 1)
            ;
        else if (!strcmp(a, "--filter-frac") && !parse_fracs(v, filter_fracs, &n_filter))
            ;
        else if (!strcmp(a, "--extra-queries") && !cli_parse_size(v, &z) && z > 0)
            extra_q = z;
        else {
            fprintf(stderr, "semdex bench ann: bad option %s %s\n\n", a, v);
            bench_usage(stderr);
            return 2;
        }
    }
    hnsw_metric metric = !strcmp(metric_name, "l2")       ? HNSW_METRIC_L2
                         : !strcmp(metric_name, "cosine") ? HNSW_METRIC_COSINE
                         : !strcmp(metric_name, "dot")    ? HNSW_METRIC_DOT
                                                          : HNSW_METRIC_COUNT;
    if (!base_path || !query_path || !gt_path || metric == HNSW_METRIC_COUNT) {
        bench_usage(stderr);
        return 2;
    }
    hnsw_vecs base = {0}, q = {0}, gt = {0};
    semdex_error err = {0};
    int rc = 1;
    hnsw_index *h = NULL;
    int64_t *truth = NULL;
    size_t *n_truth = NULL;
    int64_t *labels = NULL;
    uint8_t *gone = NULL;
    if (hnsw_vecs_read(base_path, &base, &err) || hnsw_vecs_read(query_path, &q, &err) ||
        hnsw_vecs_read(gt_path, &gt, &err)) {
        cli_print_error("bench ann", &err);
        goto done;
    }
    if (!base.f || !q.f || !gt.i || q.dim != base.dim || gt.n < q.n || gt.dim < k || !base.n) {
        fprintf(stderr, "semdex bench ann: mismatched files (base %zu x %zu, queries %zu x %zu, truth %zu x %zu, k %zu)\n",
                base.n, base.dim, q.n, q.dim, gt.n, gt.dim, k);
        goto done;
    }
    for (size_t i = 0; i < gt.n * gt.dim; i++)
        if (gt.i[i] < 0 || (size_t)gt.i[i] >= base.n) {
            fprintf(stderr, "semdex bench ann: %s: id %d out of range\n", gt_path, gt.i[i]);
            goto done;
        }
    size_t nq = max_q && max_q < q.n ? max_q : q.n;
    printf("data base=%s n=%zu dim=%zu queries=%zu truth_k=%zu metric=%s M=%zu ef_construction=%zu kernel=%s\n",
           base_path, base.n, base.dim, nq, gt.dim, metric_name, M, efc, kern_name());
    hnsw_params p = hnsw_params_default();
    p.M = M;
    p.ef_construction = efc;
    double rss0 = rss_mb();
    h = hnsw_new(base.dim, metric, &p);
    if (!h) {
        fprintf(stderr, "semdex bench ann: cannot create the index (M %zu, dim %zu)\n", M, base.dim);
        goto done;
    }
    double t0 = now_s(), w0 = wall_s();
    if (hnsw_reserve(h, base.n, &err)) {
        cli_print_error("bench ann", &err);
        goto done;
    }
    for (size_t i = 0; i < base.n; i++)
        if (hnsw_add(h, (int64_t)i, base.f + i * base.dim, &err)) {
            cli_print_error("bench ann", &err);
            goto done;
        }
    double build = now_s() - t0, wall = wall_s() - w0;
    printf("build seconds=%.3f wall_seconds=%.3f vectors_per_s=%.1f index_mb=%.1f rss_mb=%.1f\n", build, wall,
           (double)base.n / build, (double)hnsw_memory_bytes(h) / 1e6, rss_mb() - rss0);
    fflush(stdout);
    labels = malloc(k * sizeof *labels);
    truth = malloc(nq * k * sizeof *truth);
    n_truth = malloc(nq * sizeof *n_truth);
    gone = calloc(2 * base.n, 1);
    if (!labels || !truth || !n_truth || !gone)
        goto done;
    bench_state b = {h, &q, &gt, nq, k, NULL, NULL, NULL, truth, n_truth, labels};
    run_efs(&b, "search", efs, n_efs, reps);
    if (persist && bench_persist(h, &q, nq, k, efs[n_efs - 1]))
        goto done;
    /* exact search, filters and deletes run on the first --extra-queries
     * queries (exact search of 1M x 384 takes a tenth of a second each) */
    b.nq = extra_q < nq ? extra_q : nq;
    if (exact) {
        /* interleaved with a streaming read of as many bytes (the base
         * array), so that both see the same load on a shared machine */
        double bytes = (double)hnsw_count(h) * (double)base.dim * sizeof(float), tq[32], ts[32];
        for (int r = 0; r < reps; r++) {
            ts[r] = bytes / stream_seconds(base.f, base.n * base.dim) / 1e9;
            tq[r] = measure_qps(&b, 0, 1);
        }
        qsort(tq, (size_t)reps, sizeof tq[0], cmp_double);
        qsort(ts, (size_t)reps, sizeof ts[0], cmp_double);
        double qps = tq[reps / 2];
        printf("exact qps=%.2f gb_per_s=%.3f stream_gb_per_s=%.3f\n", qps, qps * bytes / 1e9, ts[reps / 2]);
    }
    for (size_t fi = 0; fi < n_filter; fi++) {
        frac_filter f = {(uint64_t)(filter_fracs[fi] * 4294967296.0)};
        b.gt = NULL;
        b.filter = frac_keep;
        b.filter_ctx = &f;
        compute_truth(&b);
        printf("filter frac=%.4f exact_qps=%.1f\n", filter_fracs[fi], measure_qps(&b, 0, reps));
        char kind[64];
        snprintf(kind, sizeof kind, "filtered frac=%.4f", filter_fracs[fi]);
        run_efs(&b, kind, fefs, n_fefs, 1);
        b.filter = NULL;
        b.filter_ctx = NULL;
        b.gt = &gt;
    }
    if (delete_frac > 0) {
        size_t n_del = (size_t)(delete_frac * (double)base.n), mem = hnsw_memory_bytes(h);
        b.gt = NULL;
        compute_truth(&b);
        run_efs(&b, "before_delete", efs, n_efs, 1);
        uint64_t s = 12345;
        double td = now_s();
        for (size_t done_n = 0; done_n < n_del;) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t i = (size_t)(s >> 33) % base.n;
            if (!gone[i] && hnsw_delete(h, (int64_t)i)) {
                gone[i] = 1;
                done_n++;
            }
        }
        td = now_s() - td;
        printf("delete n=%zu seconds=%.3f live=%zu\n", n_del, td, hnsw_count(h));
        b.gone = gone;
        compute_truth(&b);
        run_efs(&b, "after_delete", efs, n_efs, 1);
        double ti = now_s();
        for (size_t i = 0, j = 0; i < base.n && j < n_del; i++)
            if (gone[i]) { /* the deleted vectors come back under new labels */
                if (hnsw_add(h, (int64_t)(base.n + j), base.f + i * base.dim, &err)) {
                    cli_print_error("bench ann", &err);
                    goto done;
                }
                j++;
            }
        ti = now_s() - ti;
        printf("reinsert n=%zu seconds=%.3f live=%zu memory_growth_bytes=%lld\n", n_del, ti, hnsw_count(h),
               (long long)hnsw_memory_bytes(h) - (long long)mem);
        compute_truth(&b);
        run_efs(&b, "after_reinsert", efs, n_efs, 1);
    }
    rc = 0;
done:
    hnsw_free(h);
    hnsw_vecs_free(&base);
    hnsw_vecs_free(&q);
    hnsw_vecs_free(&gt);
    free(truth);
    free(n_truth);
    free(labels);
    free(gone);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "ann"))
        return bench_ann(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        bench_usage(stdout);
        return 0;
    }
    fprintf(stderr, "usage: semdex bench ann ... (see semdex bench ann --help)\n");
    return 2;
}
