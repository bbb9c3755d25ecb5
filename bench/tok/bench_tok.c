/* bench_tok.c: the semdex side of the tokenizer benchmark (bench/tok/run.sh).
 * Times semdex_tokenizer_encode over a corpus file written by corpus.js, or
 * semdex_tokenizer_load alone.  Uses only the public header include/semdex.h;
 * knows nothing of the library's internals or of the Hugging Face side, which
 * hf_bench.js mirrors (same corpus, same pass/repetition scheme, same output).
 *
 *   bench_tok encode TOKENIZER CORPUS [--reps N] [--min-rep-s S]
 *   bench_tok load TOKENIZER [--reps N]
 *
 * encode: one thread, one semdex_tokenizer_encode call per record (text, and
 * text_pair where the record has one), special tokens added, no truncation,
 * one semdex_encoding reused throughout.  A pass is one walk over the corpus;
 * the first pass checks every record's ids against the expected ids stored in
 * the corpus and is not timed.  Then the number of passes per repetition is
 * calibrated (those runs are the warm-up) so that a repetition lasts at least
 * --min-rep-s seconds (0.3), and --reps repetitions (5) are timed.  The
 * figure is the median, over repetitions, of seconds per pass.
 * load: one untimed warm-up load, then --reps timed loads (each freed outside
 * the timed region).
 *
 * Output: progress on stderr, one line on stdout:
 *   RESULT side=semdex mode=encode version=.. records=.. bytes=.. tokens=.. id_mismatches=..
 *          first_mismatch=.. passes=.. reps=.. median_pass_s=.. min_pass_s=.. max_pass_s=..
 *   RESULT side=semdex mode=load version=.. reps=.. median_s=.. min_s=.. max_s=.. vocab_size=..
 * Exit status 0 on success, 1 on a library or file error, 2 on bad usage.
 *
 * Corpus file (see corpus.js): "SDXTOKC1", u32 count, then per record u32
 * text_len, u32 pair_len (0xFFFFFFFF: none), u32 n_ids (0xFFFFFFFF: none),
 * text bytes, pair bytes, n_ids int32 ids; all little-endian.
 */
#define _POSIX_C_SOURCE 200809L

#include "semdex.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CORPUS_MAGIC "SDXTOKC1"
#define CORPUS_NONE 0xFFFFFFFFu

typedef struct bench_record {
    const char *text;
    size_t text_len;
    const char *pair; /* NULL when the record has no pair */
    size_t pair_len;
    int32_t *ids;     /* expected ids; NULL when the corpus has none */
    size_t n_ids;
} bench_record;

typedef struct bench_corpus {
    unsigned char *data; /* the whole file; texts point into it */
    size_t size;
    bench_record *recs;
    size_t n_recs;
    size_t n_bytes; /* UTF-8 bytes of text and pair, over all records */
} bench_corpus;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts xs in place. */
static double median(double *xs, size_t n)
{
    qsort(xs, n, sizeof *xs, cmp_double);
    return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void corpus_free(bench_corpus *c)
{
    if (c->recs)
        for (size_t i = 0; i < c->n_recs; i++)
            free(c->recs[i].ids);
    free(c->recs);
    free(c->data);
    memset(c, 0, sizeof *c);
}

static int read_file(const char *path, unsigned char **out, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_tok: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "bench_tok: %s: out of memory\n", path);
            fclose(f);
            return -1;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        unsigned char *grown = realloc(buf, cap * 2);
        if (!grown)
            free(buf);
        buf = grown;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "bench_tok: %s: read error\n", path);
        free(buf);
        return -1;
    }
    *out = buf;
    *size = n;
    return 0;
}

/* Checks every length against the file size before use: a truncated or
 * foreign file gives a message, never an out-of-bounds read. */
static int corpus_load(const char *path, bench_corpus *c)
{
    memset(c, 0, sizeof *c);
    if (read_file(path, &c->data, &c->size))
        return -1;
    const unsigned char *d = c->data;
    size_t off = 12;
    if (c->size < 12 || memcmp(d, CORPUS_MAGIC, 8) != 0) {
        fprintf(stderr, "bench_tok: %s: not a " CORPUS_MAGIC " corpus file\n", path);
        goto fail;
    }
    uint32_t count = rd_u32(d + 8);
    if (count > (c->size - 12) / 12) {
        fprintf(stderr, "bench_tok: %s: record count %u too large for the file\n", path, count);
        goto fail;
    }
    c->recs = calloc(count ? count : 1, sizeof *c->recs);
    if (!c->recs) {
        fprintf(stderr, "bench_tok: out of memory\n");
        goto fail;
    }
    c->n_recs = count;
    for (uint32_t i = 0; i < count; i++) {
        bench_record *r = &c->recs[i];
        if (c->size - off < 12)
            goto truncated;
        uint32_t tl = rd_u32(d + off), pl = rd_u32(d + off + 4), ni = rd_u32(d + off + 8);
        off += 12;
        if (c->size - off < tl)
            goto truncated;
        r->text = (const char *)d + off;
        r->text_len = tl;
        off += tl;
        if (pl != CORPUS_NONE) {
            if (c->size - off < pl)
                goto truncated;
            r->pair = (const char *)d + off;
            r->pair_len = pl;
            off += pl;
        }
        if (ni != CORPUS_NONE) {
            if ((c->size - off) / 4 < ni)
                goto truncated;
            r->ids = malloc(ni ? (size_t)ni * sizeof *r->ids : 1);
            if (!r->ids) {
                fprintf(stderr, "bench_tok: out of memory\n");
                goto fail;
            }
            for (uint32_t k = 0; k < ni; k++)
                r->ids[k] = (int32_t)rd_u32(d + off + 4 * (size_t)k);
            r->n_ids = ni;
            off += 4 * (size_t)ni;
        }
        c->n_bytes += r->text_len + r->pair_len;
    }
    if (off != c->size) {
        fprintf(stderr, "bench_tok: %s: %zu trailing bytes\n", path, c->size - off);
        goto fail;
    }
    return 0;
truncated:
    fprintf(stderr, "bench_tok: %s: truncated at byte %zu\n", path, off);
fail:
    corpus_free(c);
    return -1;
}

static void report_error(const char *what, const semdex_error *err)
{
    char buf[1024];
    fprintf(stderr, "bench_tok: %s: %s (%s)\n", what, semdex_error_format(err, buf, sizeof buf),
            semdex_strerror(err->status));
}

static semdex_tokenizer *load_or_report(const char *path)
{
    semdex_tokenizer *tok = NULL;
    semdex_error err;
    memset(&err, 0, sizeof err);
    if (semdex_tokenizer_load(path, &tok, &err) != SEMDEX_OK) {
        report_error("load", &err);
        return NULL;
    }
    return tok;
}

typedef struct encode_ctx {
    const semdex_tokenizer *tok;
    const bench_corpus *corpus;
    semdex_encode_options opts;
    semdex_encoding enc;
    size_t tokens;     /* ids produced by the last pass */
    size_t failed_rec; /* record that failed, when a pass returns nonzero */
    semdex_error err;
} encode_ctx;

/* One walk over the corpus.  With `check`, compares each record's ids with
 * the expected ones and counts the records that differ. */
static int encode_pass(encode_ctx *x, int check, size_t *mismatches, long *first_mismatch)
{
    size_t tokens = 0;
    for (size_t i = 0; i < x->corpus->n_recs; i++) {
        const bench_record *r = &x->corpus->recs[i];
        if (semdex_tokenizer_encode(x->tok, r->text, r->text_len, r->pair, r->pair_len, &x->opts,
                                    &x->enc, &x->err) != SEMDEX_OK) {
            x->failed_rec = i;
            return -1;
        }
        tokens += x->enc.n;
        if (check && r->ids &&
            (x->enc.n != r->n_ids ||
             (r->n_ids && memcmp(x->enc.ids, r->ids, r->n_ids * sizeof *r->ids) != 0))) {
            if ((*mismatches)++ == 0)
                *first_mismatch = (long)i;
        }
    }
    x->tokens = tokens;
    return 0;
}

static int encode_passes(encode_ctx *x, long passes, double *secs)
{
    double t0 = now_s();
    for (long p = 0; p < passes; p++)
        if (encode_pass(x, 0, NULL, NULL))
            return -1;
    *secs = now_s() - t0;
    return 0;
}

static int bench_encode(const char *tok_path, const char *corpus_path, int reps, double min_rep_s)
{
    bench_corpus corpus;
    if (corpus_load(corpus_path, &corpus))
        return 1;
    semdex_tokenizer *tok = load_or_report(tok_path);
    if (!tok) {
        corpus_free(&corpus);
        return 1;
    }
    encode_ctx x;
    memset(&x, 0, sizeof x);
    x.tok = tok;
    x.corpus = &corpus;
    x.opts = semdex_encode_options_default();
    x.opts.max_length = 0;
    x.opts.add_special_tokens = 1;

    int rc = 1;
    double *per_pass = calloc((size_t)reps, sizeof *per_pass);
    size_t mismatches = 0, tokens = 0;
    long first_mismatch = -1, passes = 1;
    if (!per_pass) {
        fprintf(stderr, "bench_tok: out of memory\n");
        goto done;
    }
    if (encode_pass(&x, 1, &mismatches, &first_mismatch))
        goto encode_failed;
    tokens = x.tokens;

    for (;;) { /* calibration, which is also the warm-up */
        double t;
        if (encode_passes(&x, passes, &t))
            goto encode_failed;
        if (t >= min_rep_s)
            break;
        double grow = (double)passes * min_rep_s * 1.2 / (t > 1e-9 ? t : 1e-9);
        long next = grow > 1e9 ? 1000000000L : (long)grow + 1;
        if (next < passes + 1)
            next = passes + 1;
        if (next > passes * 100)
            next = passes * 100;
        passes = next;
    }
    for (int r = 0; r < reps; r++) {
        double t;
        if (encode_passes(&x, passes, &t))
            goto encode_failed;
        per_pass[r] = t / (double)passes;
    }
    if (x.tokens != tokens) {
        fprintf(stderr, "bench_tok: token count changed between passes (%zu, then %zu)\n", tokens,
                x.tokens);
        goto done;
    }
    fprintf(stderr, "  semdex encode: %ld passes/rep, per pass", passes);
    for (int r = 0; r < reps; r++)
        fprintf(stderr, " %.2f", per_pass[r] * 1e3);
    fprintf(stderr, " ms\n");

    double lo = per_pass[0], hi = per_pass[0];
    for (int r = 1; r < reps; r++) {
        lo = per_pass[r] < lo ? per_pass[r] : lo;
        hi = per_pass[r] > hi ? per_pass[r] : hi;
    }
    double med = median(per_pass, (size_t)reps);
    printf("RESULT side=semdex mode=encode version=%s records=%zu bytes=%zu tokens=%zu "
           "id_mismatches=%zu first_mismatch=%ld passes=%ld reps=%d median_pass_s=%.9g "
           "min_pass_s=%.9g max_pass_s=%.9g\n",
           semdex_version(), corpus.n_recs, corpus.n_bytes, tokens, mismatches, first_mismatch,
           passes, reps, med, lo, hi);
    rc = 0;
    goto done;

encode_failed: {
    char what[64];
    snprintf(what, sizeof what, "encode record %zu", x.failed_rec);
    report_error(what, &x.err);
}
done:
    free(per_pass);
    semdex_encoding_free(&x.enc);
    semdex_tokenizer_free(tok);
    corpus_free(&corpus);
    return rc;
}

static int bench_load(const char *tok_path, int reps)
{
    semdex_tokenizer *tok = load_or_report(tok_path); /* warm-up */
    if (!tok)
        return 1;
    size_t vocab_size = semdex_tokenizer_vocab_size(tok);
    semdex_tokenizer_free(tok);

    double *ts = calloc((size_t)reps, sizeof *ts);
    if (!ts) {
        fprintf(stderr, "bench_tok: out of memory\n");
        return 1;
    }
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        tok = load_or_report(tok_path);
        ts[r] = now_s() - t0;
        if (!tok) {
            free(ts);
            return 1;
        }
        semdex_tokenizer_free(tok);
    }
    fprintf(stderr, "  semdex load:");
    double lo = ts[0], hi = ts[0];
    for (int r = 0; r < reps; r++) {
        fprintf(stderr, " %.1f", ts[r] * 1e3);
        lo = ts[r] < lo ? ts[r] : lo;
        hi = ts[r] > hi ? ts[r] : hi;
    }
    fprintf(stderr, " ms\n");
    double med = median(ts, (size_t)reps);
    printf("RESULT side=semdex mode=load version=%s reps=%d median_s=%.9g min_s=%.9g max_s=%.9g "
           "vocab_size=%zu\n",
           semdex_version(), reps, med, lo, hi, vocab_size);
    free(ts);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_tok encode TOKENIZER CORPUS [--reps N] [--min-rep-s S]\n"
                    "       bench_tok load TOKENIZER [--reps N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *pos[3] = {NULL, NULL, NULL};
    int n_pos = 0, reps = 5;
    double min_rep_s = 0.3;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000)
                return usage();
            reps = (int)v;
        } else if (strcmp(argv[i], "--min-rep-s") == 0 && i + 1 < argc) {
            min_rep_s = strtod(argv[++i], &end);
            if (*end || !(min_rep_s >= 0 && min_rep_s <= 3600))
                return usage();
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return usage();
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[i];
        } else {
            return usage();
        }
    }
    if (n_pos == 3 && strcmp(pos[0], "encode") == 0)
        return bench_encode(pos[1], pos[2], reps, min_rep_s);
    if (n_pos == 2 && strcmp(pos[0], "load") == 0)
        return bench_load(pos[1], reps);
    return usage();
}
