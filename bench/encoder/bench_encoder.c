/* bench_encoder.c: semdex side of the encoder benchmark (bench/encoder/run.sh).
 * Uses only include/semdex.h.
 *
 *   bench_encoder throughput MODEL INPUTS [--threads 2] [--batch 32] [--reps 1] [--warmup 2] [--texts 0]
 *   bench_encoder latency MODEL QUERY [--threads 1] [--runs 200]
 *   bench_encoder embed MODEL INPUTS OUT.f32 [--n 16] [--batch 8] [--threads 2]
 *   bench_encoder memory MODEL INPUT [--threads 2]
 *
 * MODEL is a model directory (semdex_model_load), INPUTS a file of texts and
 * their expected token ids written by gen.py (format in bench/README.md).
 * Texts go through semdex_model_embed, which tokenizes them itself: the timed
 * figures include tokenization.  Before timing, the ids of every text are
 * checked against the file's with the model's tokenizer.
 *
 * throughput: per order (as they come; sorted by token count), the texts are
 * embedded in consecutive groups of --batch, one semdex_model_embed call per
 * group (batch_size = --batch); --warmup groups first, untimed, then --reps
 * timed passes over all texts.
 * memory: loads MODEL, embeds a short prefix of INPUT (warm-up), resets the
 * peak RSS (writes 5 to /proc/self/clear_refs), embeds INPUT and reports
 * VmHWM - VmRSS(before): the peak memory the call added beyond the weights.
 *
 * Prints progress on stderr and RESULT lines on stdout. */
#define _GNU_SOURCE
#include "semdex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n_ids;
} record;

static void die(const char *fmt, const char *a)
{
    fprintf(stderr, "bench_encoder: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    exit(1);
}

static void die_err(const char *what, semdex_status st, const semdex_error *err)
{
    char buf[1024];
    fprintf(stderr, "bench_encoder: %s: %s: %s\n", what, semdex_strerror(st), semdex_error_format(err, buf, sizeof buf));
    exit(1);
}

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

static double median(double *v, size_t n)
{
    double *s = malloc(n * sizeof *s);
    if (!s)
        die("%s", "out of memory");
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static record *read_inputs(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
        die("cannot read %s", path);
    fclose(f);
    if (size < 12 || memcmp(buf, "SDXENCI1", 8) != 0)
        die("%s: not an inputs file", path);
    size_t n = rd_u32(buf + 8), pos = 12;
    record *r = calloc(n ? n : 1, sizeof *r);
    if (!r)
        die("%s", "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (pos + 8 > (size_t)size)
            die("%s: truncated", path);
        size_t tl = rd_u32(buf + pos), ni = rd_u32(buf + pos + 4);
        pos += 8;
        if (pos + tl + 4 * ni > (size_t)size)
            die("%s: truncated", path);
        r[i].text = malloc(tl + 1);
        r[i].ids = malloc(ni * sizeof(int32_t) + 1);
        if (!r[i].text || !r[i].ids)
            die("%s", "out of memory");
        memcpy(r[i].text, buf + pos, tl);
        r[i].text[tl] = 0;
        r[i].len = tl;
        pos += tl;
        for (size_t j = 0; j < ni; j++)
            r[i].ids[j] = (int32_t)rd_u32(buf + pos + 4 * j);
        r[i].n_ids = ni;
        pos += 4 * ni;
    }
    free(buf);
    *count = n;
    return r;
}

typedef struct {
    int threads, batch, reps, warmup, runs, n, texts;
} options;

static void parse_opts(int argc, char **argv, int first, options *o)
{
    for (int i = first; i < argc; i++) {
        if (i + 1 >= argc)
            die("option %s needs a value", argv[i]);
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--threads"))
            o->threads = v;
        else if (!strcmp(argv[i], "--batch"))
            o->batch = v;
        else if (!strcmp(argv[i], "--reps"))
            o->reps = v;
        else if (!strcmp(argv[i], "--warmup"))
            o->warmup = v;
        else if (!strcmp(argv[i], "--runs"))
            o->runs = v;
        else if (!strcmp(argv[i], "--n"))
            o->n = v;
        else if (!strcmp(argv[i], "--texts"))
            o->texts = v;
        else
            die("unknown option %s", argv[i]);
        i++;
    }
}

static semdex_model *load(const char *dir, int threads)
{
    semdex_model_options mo = semdex_model_options_default();
    mo.n_threads = threads;
    semdex_model *m = NULL;
    semdex_error err;
    semdex_status st = semdex_model_load(dir, &mo, &m, &err);
    if (st != SEMDEX_OK)
        die_err(dir, st, &err);
    return m;
}

/* Ids of every record through the model's tokenizer against the file's. */
static size_t check_ids(const semdex_model *m, const record *r, size_t n)
{
    const semdex_tokenizer *tok = semdex_model_tokenizer(m);
    semdex_encoding enc;
    memset(&enc, 0, sizeof enc);
    semdex_encode_options eo = semdex_encode_options_default();
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        semdex_error err;
        semdex_status st = semdex_tokenizer_encode(tok, r[i].text, r[i].len, NULL, 0, &eo, &enc, &err);
        if (st != SEMDEX_OK || enc.n != r[i].n_ids || memcmp(enc.ids, r[i].ids, enc.n * sizeof(int32_t)) != 0) {
            if (!bad)
                fprintf(stderr, "bench_encoder: text %zu: semdex's ids differ from the inputs file's\n", i);
            bad++;
        }
    }
    semdex_encoding_free(&enc);
    return bad;
}

/* Embeds texts[0..n) in one call; returns the tokens the model saw. */
static size_t embed(semdex_model *m, const char *const *texts, const size_t *lens, size_t n, size_t batch,
                    semdex_embeddings *out)
{
    semdex_embed_options eo = semdex_embed_options_default();
    eo.batch_size = batch;
    semdex_error err;
    semdex_status st = semdex_model_embed(m, texts, lens, n, &eo, out, &err);
    if (st != SEMDEX_OK)
        die_err("semdex_model_embed", st, &err);
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += out->n_tokens[i];
    return t;
}

static size_t *g_order_len;
static int cmp_by_len(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (g_order_len[x] != g_order_len[y])
        return g_order_len[x] < g_order_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int cmd_throughput(const char *dir, const char *inputs, options o)
{
    size_t n;
    record *r = read_inputs(inputs, &n);
    if (o.texts > 0 && (size_t)o.texts < n)
        n = (size_t)o.texts;
    semdex_model *m = load(dir, o.threads);
    size_t bad = check_ids(m, r, n);
    size_t expect = 0;
    for (size_t i = 0; i < n; i++)
        expect += r[i].n_ids;

    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens), *idx = malloc(n * sizeof *idx), *nid = malloc(n * sizeof *nid);
    double *times = malloc((size_t)(o.reps > 0 ? o.reps : 1) * sizeof *times);
    if (!texts || !lens || !idx || !nid || !times)
        die("%s", "out of memory");
    semdex_embeddings out;
    memset(&out, 0, sizeof out);
    size_t bs = (size_t)o.batch;

    for (int sorted = 0; sorted <= 1; sorted++) {
        for (size_t i = 0; i < n; i++) {
            idx[i] = i;
            nid[i] = r[i].n_ids;
        }
        if (sorted) {
            g_order_len = nid;
            qsort(idx, n, sizeof *idx, cmp_by_len);
        }
        for (size_t i = 0; i < n; i++) {
            texts[i] = r[idx[i]].text;
            lens[i] = r[idx[i]].len;
        }
        for (size_t s = 0, b = 0; s < n && b < (size_t)o.warmup; s += bs, b++)
            embed(m, texts + s, lens + s, n - s < bs ? n - s : bs, bs, &out);
        size_t seen = 0;
        for (int rep = 0; rep < o.reps; rep++) {
            seen = 0;
            double t0 = now_s();
            for (size_t s = 0; s < n; s += bs)
                seen += embed(m, texts + s, lens + s, n - s < bs ? n - s : bs, bs, &out);
            times[rep] = now_s() - t0;
        }
        double med = median(times, (size_t)o.reps);
        fprintf(stderr, "  semdex %s: %.3f s, %.0f tok/s\n", sorted ? "sorted" : "asis", med, (double)expect / med);
        printf("RESULT engine=semdex mode=throughput order=%s threads=%d batch=%d texts=%zu tokens=%zu "
               "model_tokens=%zu id_mismatches=%zu reps=%d times=",
               sorted ? "sorted" : "asis", o.threads, o.batch, n, expect, seen, bad, o.reps);
        for (int rep = 0; rep < o.reps; rep++)
            printf(rep ? ",%.6f" : "%.6f", times[rep]);
        printf(" median_s=%.6f\n", med);
        fflush(stdout);
    }
    semdex_embeddings_free(&out);
    semdex_model_free(m);
    return 0;
}

static int cmd_latency(const char *dir, const char *query, options o)
{
    size_t n;
    record *r = read_inputs(query, &n);
    if (n < 1)
        die("%s: no text", query);
    semdex_model *m = load(dir, o.threads);
    size_t bad = check_ids(m, r, 1);
    semdex_embeddings out;
    memset(&out, 0, sizeof out);
    const char *t = r[0].text;
    size_t len = r[0].len;
    for (int i = 0; i < 10; i++)
        embed(m, &t, &len, 1, 1, &out);
    double *times = malloc((size_t)o.runs * sizeof *times), mn = 1e30;
    if (!times)
        die("%s", "out of memory");
    for (int i = 0; i < o.runs; i++) {
        double t0 = now_s();
        embed(m, &t, &len, 1, 1, &out);
        times[i] = now_s() - t0;
        if (times[i] < mn)
            mn = times[i];
    }
    double med = median(times, (size_t)o.runs);
    fprintf(stderr, "  semdex latency: %.3f ms\n", med * 1e3);
    printf("RESULT engine=semdex mode=latency threads=%d tokens=%zu id_mismatches=%zu runs=%d median_s=%.7f "
           "min_s=%.7f\n",
           o.threads, out.n_tokens[0], bad, o.runs, med, mn);
    semdex_embeddings_free(&out);
    semdex_model_free(m);
    return 0;
}

static int cmd_embed(const char *dir, const char *inputs, const char *outpath, options o)
{
    size_t n;
    record *r = read_inputs(inputs, &n);
    if ((size_t)o.n < n)
        n = (size_t)o.n;
    semdex_model *m = load(dir, o.threads);
    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens);
    if (!texts || !lens)
        die("%s", "out of memory");
    for (size_t i = 0; i < n; i++) {
        texts[i] = r[i].text;
        lens[i] = r[i].len;
    }
    semdex_embeddings out;
    memset(&out, 0, sizeof out);
    embed(m, texts, lens, n, (size_t)o.batch, &out);
    for (size_t i = 0; i < n; i++)
        if (out.n_tokens[i] != r[i].n_ids || out.n_truncated[i])
            fprintf(stderr, "bench_encoder: text %zu: the model saw %zu tokens (%zu truncated), the file has %zu\n",
                    i, out.n_tokens[i], out.n_truncated[i], r[i].n_ids);
    FILE *f = fopen(outpath, "wb");
    if (!f || fwrite(out.vectors, sizeof(float), out.n * out.dim, f) != out.n * out.dim || fclose(f))
        die("cannot write %s", outpath);
    fprintf(stderr, "  semdex: %zu embeddings of %zu -> %s\n", out.n, out.dim, outpath);
    semdex_embeddings_free(&out);
    semdex_model_free(m);
    return 0;
}

/* kB value of a "Name:   123 kB" line of /proc/self/status, or -1. */
static long status_kb(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, nl) && line[nl] == ':') {
            v = strtol(line + nl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static int cmd_memory(const char *dir, const char *input, options o)
{
    size_t n;
    record *r = read_inputs(input, &n);
    if (n < 1)
        die("%s: no text", input);
    long rss_start = status_kb("VmRSS");
    semdex_model *m = load(dir, o.threads);
    long rss_loaded = status_kb("VmRSS");
    size_t bad = check_ids(m, r, 1);
    semdex_embeddings out;
    memset(&out, 0, sizeof out);
    /* warm-up: the first 400 bytes, cut at a space */
    size_t wl = r[0].len < 400 ? r[0].len : 400;
    while (wl > 0 && wl < r[0].len && r[0].text[wl] != ' ')
        wl--;
    const char *t = r[0].text;
    embed(m, &t, &wl, 1, 1, &out);
    long rss_before = status_kb("VmRSS");
    int reset = reset_peak();
    long hwm_before = status_kb("VmHWM");
    size_t len = r[0].len;
    double t0 = now_s();
    size_t tokens = embed(m, &t, &len, 1, 1, &out);
    double dt = now_s() - t0;
    long hwm = status_kb("VmHWM"), rss_after = status_kb("VmRSS");
    long base = reset ? rss_before : hwm_before;
    struct stat sb;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    long long wbytes = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    fprintf(stderr, "  semdex memory: %zu tokens: peak +%.1f MiB beyond the loaded model (%.2f s)\n", tokens,
            (double)(hwm - base) / 1024.0, dt);
    printf("RESULT engine=semdex mode=memory threads=%d tokens=%zu truncated=%zu id_mismatches=%zu "
           "peak_growth_kb=%ld hwm_kb=%ld rss_before_kb=%ld rss_after_kb=%ld rss_loaded_kb=%ld rss_start_kb=%ld "
           "weights_file_bytes=%lld peak_reset=%d embed_s=%.3f\n",
           o.threads, tokens, out.n_truncated[0], bad, hwm - base, hwm, rss_before, rss_after, rss_loaded,
           rss_start, wbytes, reset, dt);
    semdex_embeddings_free(&out);
    semdex_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    options o = {.threads = 2, .batch = 32, .reps = 1, .warmup = 2, .runs = 200, .n = 16, .texts = 0};
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: bench_encoder throughput|latency|embed|memory ... (see bench/README.md)\n");
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "throughput") && argc >= 4) {
        parse_opts(argc, argv, 4, &o);
        return cmd_throughput(argv[2], argv[3], o);
    }
    if (!strcmp(cmd, "latency") && argc >= 4) {
        o.threads = 1;
        parse_opts(argc, argv, 4, &o);
        return cmd_latency(argv[2], argv[3], o);
    }
    if (!strcmp(cmd, "embed") && argc >= 5) {
        o.batch = 8;
        parse_opts(argc, argv, 5, &o);
        return cmd_embed(argv[2], argv[3], argv[4], o);
    }
    if (!strcmp(cmd, "memory") && argc >= 4) {
        parse_opts(argc, argv, 4, &o);
        return cmd_memory(argv[2], argv[3], o);
    }
    fprintf(stderr, "bench_encoder: bad command line (see bench/README.md)\n");
    return 2;
}
