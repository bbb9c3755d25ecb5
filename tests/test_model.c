/* test_model.c: the encoder against the reference fixtures
 * (../shared/fixtures/models: every expected embedding, the tokenizer ids
 * behind it, and the layer-by-layer hidden states), batch invariance,
 * concurrent calls, tiled attention against a plain softmax on odd sizes,
 * pooling modes, the safetensors and config parsers on broken inputs,
 * broken model directories made by copying and corrupting bert-mean,
 * sharded and prefixed checkpoints, allocation failures, and the `semdex
 * embed` / `semdex info` commands. */
#include "test.h"
#include "alloc.h"
#include "json.h"
#include "model_int.h"
#include "semdex.h"
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static char *fixture_path(char *buf, size_t n, const char *model, const char *file)
{
    snprintf(buf, n, "%s/models/%s%s%s", test_fixtures_dir(), model, file ? "/" : "", file ? file : "");
    return buf;
}

static semdex_model *load_model(const char *dir, int threads)
{
    semdex_error err = {0};
    semdex_model *m = NULL;
    semdex_model_options o = semdex_model_options_default();
    o.n_threads = threads;
    if (semdex_model_load(dir, &o, &m, &err)) {
        char buf[1024];
        test_fail(__FILE__, __LINE__, "load %s: %s", dir, semdex_error_format(&err, buf, sizeof buf));
        return NULL;
    }
    return m;
}

static int unlink_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir) { nftw(dir, unlink_cb, 16, FTW_DEPTH | FTW_PHYS); }

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    return (fclose(f) || w != n) ? -1 : 0;
}

static int write_str(const char *dir, const char *name, const char *s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return write_file(path, s, strlen(s));
}

static int copy_file(const char *src, const char *dst)
{
    size_t n;
    char *p = test_read_file(src, &n);
    if (!p)
        return -1;
    int r = write_file(dst, p, n);
    free(p);
    return r;
}

/* Replaces the first `from` by `to` in dir/name; -1 when not found. */
static int edit_file(const char *dir, const char *name, const char *from, const char *to)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n;
    char *p = test_read_file(path, &n);
    if (!p)
        return -1;
    char *at = memmem(p, n, from, strlen(from));
    if (!at) {
        free(p);
        return -1;
    }
    size_t fl = strlen(from), tl = strlen(to), off = (size_t)(at - p);
    char *q = malloc(n - fl + tl + 1);
    memcpy(q, p, off);
    memcpy(q + off, to, tl);
    memcpy(q + off + tl, p + off + fl, n - off - fl);
    int r = write_file(path, q, n - fl + tl);
    free(p);
    free(q);
    return r;
}

static int make_tmp(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/semdex-model-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

/* A copy of a fixture model directory (expected outputs left out). */
static int copy_fixture(const char *model, char *dir, size_t n)
{
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                                        "modules.json", "sentence_bert_config.json",
                                        "config_sentence_transformers.json", "1_Pooling/config.json"};
    if (make_tmp(dir, n))
        return -1;
    char a[1024], b[1024];
    snprintf(b, sizeof b, "%s/1_Pooling", dir);
    mkdir(b, 0700);
    snprintf(b, sizeof b, "%s/2_Normalize", dir);
    mkdir(b, 0700);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        if (copy_file(fixture_path(a, sizeof a, model, files[i]), b))
            return -1;
    }
    return 0;
}

/* Loading must fail; returns the formatted error (static buffer). */
static const char *load_error(const char *dir, semdex_error *err)
{
    static char buf[1024];
    semdex_model *m = NULL;
    memset(err, 0, sizeof *err);
    semdex_status st = semdex_model_load(dir, NULL, &m, err);
    if (st == SEMDEX_OK) {
        semdex_model_free(m);
        return NULL;
    }
    return semdex_error_format(err, buf, sizeof buf);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d)
            m = d != d ? INFINITY : d;
    }
    return m;
}

static double cosine(const float *a, const double *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += b[i] * b[i];
    }
    return aa && bb ? ab / sqrt(aa * bb) : (aa == bb ? 1 : 0);
}

/* ------------------------------------------------------- fixture cases */

typedef struct fx_case {
    size_t line;
    const json_value *text, *ids, *emb;
    const char *prompt; /* prompt_name or NULL */
} fx_case;

typedef struct fx_file {
    char *data;
    json_doc **docs;
    fx_case *cases;
    size_t n;
} fx_file;

static void fx_free(fx_file *f)
{
    for (size_t i = 0; i < f->n; i++)
        json_doc_free(f->docs[i]);
    free(f->docs);
    free(f->cases);
    free(f->data);
}

static int fx_read(const char *path, fx_file *f)
{
    memset(f, 0, sizeof *f);
    size_t len;
    f->data = test_read_file(path, &len);
    if (!f->data)
        return -1;
    size_t cap = 0, line = 0;
    for (char *p = f->data, *end = f->data + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (ll) {
            semdex_error err = {0};
            json_doc *d = json_parse(p, ll, &err);
            if (!d)
                return -1;
            if (f->n == cap) {
                cap = cap ? 2 * cap : 512;
                f->docs = realloc(f->docs, cap * sizeof *f->docs);
                f->cases = realloc(f->cases, cap * sizeof *f->cases);
            }
            const json_value *r = json_doc_root(d), *pn = json_get(r, "prompt_name");
            f->docs[f->n] = d;
            f->cases[f->n] = (fx_case){line, json_get(r, "text"), json_get(r, "ids"), json_get(r, "embedding"),
                                       json_is_str(pn) ? pn->u.str : NULL};
            f->n++;
        }
        p += ll + 1;
    }
    return 0;
}

static const char *prompt_text(const semdex_model_info *info, const char *name)
{
    for (size_t i = 0; name && i < info->n_prompts; i++)
        if (!strcmp(info->prompt_names[i], name))
            return info->prompts[i];
    return "";
}

/* Checks that the tokenizer gives the fixture's ids for prompt + text. */
static int check_ids(semdex_model *m, const fx_case *c, semdex_encoding *enc, size_t n_tokens)
{
    const semdex_model_info *info = semdex_model_get_info(m);
    const char *p = prompt_text(info, c->prompt);
    size_t pl = strlen(p), tl = c->text->n;
    char *s = malloc(pl + tl + 1);
    memcpy(s, p, pl);
    memcpy(s + pl, c->text->u.str, tl);
    semdex_encode_options o = semdex_encode_options_default();
    o.max_length = info->max_length;
    semdex_error err = {0};
    semdex_status st = semdex_tokenizer_encode(semdex_model_tokenizer(m), s, pl + tl, NULL, 0, &o, enc, &err);
    free(s);
    if (st) {
        test_fail(__FILE__, __LINE__, "line %zu: tokenize: %s", c->line, err.message);
        return 0;
    }
    if (enc->n != c->ids->n || n_tokens != c->ids->n) {
        test_fail(__FILE__, __LINE__, "line %zu: %zu ids (embed saw %zu), the fixture has %u", c->line, enc->n,
                  n_tokens, c->ids->n);
        return 0;
    }
    for (size_t i = 0; i < enc->n; i++)
        if (enc->ids[i] != (int32_t)json_arr_at(c->ids, (uint32_t)i)->u.num) {
            test_fail(__FILE__, __LINE__, "line %zu: id %zu is %d, the fixture has %d", c->line, i, enc->ids[i],
                      (int)json_arr_at(c->ids, (uint32_t)i)->u.num);
            return 0;
        }
    return 1;
}

/* Every expected embedding of a fixture model, embedded in batches of 32
 * per prompt. */
static void run_embedding_fixture(const char *model)
{
    char dir[1024], path[1024];
    fixture_path(dir, sizeof dir, model, NULL);
    fx_file f;
    CHECKF(!fx_read(fixture_path(path, sizeof path, model, "expected_embeddings.jsonl"), &f), "cannot read %s", path);
    semdex_model *m = load_model(dir, 0);
    if (!m) {
        fx_free(&f);
        return;
    }
    const semdex_model_info *info = semdex_model_get_info(m);
    const char **texts = malloc(f.n * sizeof *texts);
    size_t *lens = malloc(f.n * sizeof *lens), *idx = malloc(f.n * sizeof *idx);
    double *want = malloc(info->dim * sizeof *want);
    semdex_embeddings e = {0};
    semdex_encoding enc = {0};
    double worst = 0, min_cos = 1;
    size_t truncated = 0, longest = 0;
    int ok = 1;
    /* one group per prompt name (NULL first) */
    const char *groups[8] = {NULL};
    size_t n_groups = 1;
    for (size_t i = 0; i < f.n; i++) {
        size_t g = 0;
        while (g < n_groups && !(groups[g] == f.cases[i].prompt ||
                                 (groups[g] && f.cases[i].prompt && !strcmp(groups[g], f.cases[i].prompt))))
            g++;
        if (g == n_groups && n_groups < 8)
            groups[n_groups++] = f.cases[i].prompt;
    }
    for (size_t g = 0; g < n_groups && ok; g++) {
        size_t k = 0;
        for (size_t i = 0; i < f.n; i++)
            if (groups[g] == f.cases[i].prompt || (groups[g] && f.cases[i].prompt && !strcmp(groups[g], f.cases[i].prompt))) {
                texts[k] = f.cases[i].text->u.str;
                lens[k] = f.cases[i].text->n;
                idx[k++] = i;
            }
        if (!k)
            continue;
        semdex_embed_options o = semdex_embed_options_default();
        o.prompt_name = groups[g];
        semdex_error err = {0};
        if (semdex_model_embed(m, texts, lens, k, &o, &e, &err)) {
            test_fail(__FILE__, __LINE__, "embed: %s", err.message);
            ok = 0;
            break;
        }
        for (size_t j = 0; j < k && ok; j++) {
            const fx_case *c = &f.cases[idx[j]];
            if (!(ok = check_ids(m, c, &enc, e.n_tokens[j])))
                break;
            truncated += e.n_truncated[j] > 0;
            longest = e.n_tokens[j] > longest ? e.n_tokens[j] : longest;
            if (c->emb->n != info->dim) {
                test_fail(__FILE__, __LINE__, "line %zu: dimension %u, model has %zu", c->line, c->emb->n, info->dim);
                ok = 0;
                break;
            }
            double md = 0;
            for (size_t d = 0; d < info->dim; d++) {
                want[d] = json_arr_at(c->emb, (uint32_t)d)->u.num;
                double diff = fabs(want[d] - e.vectors[j * info->dim + d]);
                md = diff > md || diff != diff ? diff : md;
            }
            double cs = cosine(e.vectors + j * info->dim, want, info->dim);
            worst = md > worst ? md : worst;
            min_cos = cs < min_cos ? cs : min_cos;
            if (!(md <= 1e-4 && cs >= 0.99999)) {
                test_fail(__FILE__, __LINE__, "line %zu (%s%s%zu tokens, \"%.50s\"): max abs diff %.3g, cosine %.8f",
                          c->line, c->prompt ? "prompt " : "", c->prompt ? c->prompt : "", e.n_tokens[j],
                          c->text->u.str, md, cs);
                ok = 0;
            }
        }
    }
    if (ok)
        test_note("%zu cases, max abs diff %.2g, min cosine %.9f, %zu truncated, longest %zu tokens", f.n, worst,
                  min_cos, truncated, longest);
    semdex_encoding_free(&enc);
    semdex_embeddings_free(&e);
    free(texts);
    free(lens);
    free(idx);
    free(want);
    semdex_model_free(m);
    fx_free(&f);
}

TEST(model_fixture_bert_mean) { run_embedding_fixture("bert-mean"); }
TEST(model_fixture_bert_zh_cls_fp16) { run_embedding_fixture("bert-zh-cls-fp16"); }
TEST(model_fixture_xlmr_cls_long) { run_embedding_fixture("xlmr-cls-long"); }
TEST(model_fixture_xlmr_384_mean_fp16) { run_embedding_fixture("xlmr-384-mean-fp16"); }

/* ------------------------------------------------------ hidden states */

typedef struct hs_check {
    const json_value *layers; /* [layer][token][dim] */
    size_t line;
    double worst;
    int bad;
} hs_check;

static void hs_compare(void *ctx, size_t layer, const float *x, size_t n_tokens, size_t dim)
{
    hs_check *h = ctx;
    if (h->bad)
        return;
    const json_value *L = json_arr_at(h->layers, (uint32_t)layer);
    if (layer >= h->layers->n || L->n != n_tokens) {
        test_fail(__FILE__, __LINE__, "line %zu: layer %zu: shape differs", h->line, layer);
        h->bad = 1;
        return;
    }
    for (size_t t = 0; t < n_tokens; t++) {
        const json_value *row = json_arr_at(L, (uint32_t)t);
        for (size_t d = 0; d < dim && d < row->n; d++) {
            double diff = fabs(json_arr_at(row, (uint32_t)d)->u.num - x[t * dim + d]);
            h->worst = diff > h->worst ? diff : h->worst;
            if (!(diff <= 1e-4)) {
                test_fail(__FILE__, __LINE__, "line %zu: layer %zu (0 = embeddings), token %zu, dim %zu: %.7g vs %.7g",
                          h->line, layer, t, d, x[t * dim + d], json_arr_at(row, (uint32_t)d)->u.num);
                h->bad = 1;
                return;
            }
        }
    }
}

static void run_hidden_states(const char *model)
{
    char dir[1024], path[1024];
    fixture_path(dir, sizeof dir, model, NULL);
    fx_file f;
    CHECKF(!fx_read(fixture_path(path, sizeof path, model, "expected_hidden_states.jsonl"), &f), "cannot read %s", path);
    semdex_model *m = load_model(dir, 0);
    semdex_encoding enc = {0};
    hs_check h = {0};
    size_t layers = 0;
    for (size_t i = 0; m && i < f.n && !h.bad; i++) {
        const fx_case *c = &f.cases[i];
        CHECK(check_ids(m, c, &enc, c->ids->n));
        h.layers = json_get(json_doc_root(f.docs[i]), "hidden_states");
        h.line = c->line;
        CHECK(json_is_arr(h.layers) && h.layers->n == semdex_model_get_info(m)->n_layers + 1);
        layers = h.layers->n;
        semdex_error err = {0};
        CHECKF(!model_forward_ids(m, enc.ids, enc.n, hs_compare, &h, &err), "forward: %s", err.message);
    }
    if (!h.bad && m)
        test_note("%zu inputs x %zu layers, max abs diff %.2g", f.n, layers, h.worst);
    semdex_encoding_free(&enc);
    semdex_model_free(m);
    fx_free(&f);
}

TEST(model_hidden_states_bert_mean) { run_hidden_states("bert-mean"); }
TEST(model_hidden_states_xlmr_cls_long) { run_hidden_states("xlmr-cls-long"); }

/* ------------------------------------------------- batch and threads */

/* 64 inputs of mixed lengths: each alone and all in one batch agree. */
TEST(model_batch_of_64_equals_alone)
{
    char dir[1024], path[1024];
    fixture_path(dir, sizeof dir, "xlmr-384-mean-fp16", NULL);
    fx_file f;
    CHECK(!fx_read(fixture_path(path, sizeof path, "xlmr-384-mean-fp16", "expected_embeddings.jsonl"), &f));
    semdex_model *m = load_model(dir, 0);
    CHECK(m);
    const char *texts[64];
    size_t lens[64], total = 0;
    for (size_t i = 0; i < 64; i++) {
        const fx_case *c = &f.cases[(i * 37) % f.n];
        texts[i] = c->text->u.str;
        lens[i] = c->text->n;
    }
    semdex_embeddings all = {0}, one = {0};
    semdex_embed_options o = semdex_embed_options_default();
    o.batch_size = 64;
    semdex_error err = {0};
    CHECK(!semdex_model_embed(m, texts, lens, 64, &o, &all, &err));
    double worst = 0;
    size_t dim = all.dim;
    for (size_t i = 0; i < 64; i += 3) { /* every third alone: the rest of the time goes to sanitizers */
        CHECK(!semdex_model_embed(m, texts + i, lens + i, 1, &o, &one, &err));
        double d = max_abs_diff(all.vectors + i * dim, one.vectors, dim);
        worst = d > worst ? d : worst;
        CHECKF(d <= 1e-6, "input %zu (%zu tokens): alone and in a batch of 64 differ by %.3g", i, one.n_tokens[0], d);
    }
    for (size_t i = 0; i < 64; i++)
        total += all.n_tokens[i];
    test_note("%zu tokens in the batch, 22 inputs alone, max abs diff %.2g", total, worst);
    semdex_embeddings_free(&all);
    semdex_embeddings_free(&one);
    semdex_model_free(m);
    fx_free(&f);
}

/* Once calls have grown the workspace, the same call allocates nothing:
 * every allocation failing must not matter.  (Warmed three times: the
 * tokenizer's per-piece scratch settles over a few calls of varied texts;
 * the model's own workspace after one.) */
TEST(model_warm_embed_allocates_nothing)
{
    char dir[1024];
    semdex_model *m = load_model(fixture_path(dir, sizeof dir, "xlmr-384-mean-fp16", NULL), 2);
    CHECK(m);
    const char *texts[3] = {"a first text", "", "Ein zweiter, etwas l\xc3\xa4ngerer Text mit mehr W\xc3\xb6rtern."};
    size_t lens[3] = {strlen(texts[0]), 0, strlen(texts[2])};
    semdex_embeddings e = {0};
    semdex_error err = {0};
    for (int rep = 0; rep < 3; rep++)
        CHECK(!semdex_model_embed(m, texts, lens, 3, NULL, &e, &err));
    float first = e.vectors[0];
    sx_alloc_fail_after(0);
    semdex_status st = semdex_model_embed(m, texts, lens, 3, NULL, &e, &err);
    long made = sx_alloc_fail_after(-1);
    CHECKF(st == SEMDEX_OK && made == 0, "status %d, %ld allocations attempted", st, made);
    CHECK(e.vectors[0] == first);
    semdex_embeddings_free(&e);
    semdex_model_free(m);
}

typedef struct thread_arg {
    semdex_model *m;
    const char **texts;
    size_t *lens, n;
    semdex_embeddings out;
    semdex_status st;
} thread_arg;

static void *embed_thread(void *p)
{
    thread_arg *a = p;
    for (int rep = 0; rep < 3 && !a->st; rep++)
        a->st = semdex_model_embed(a->m, a->texts, a->lens, a->n, NULL, &a->out, NULL);
    return NULL;
}

TEST(model_concurrent_calls_agree)
{
    char dir[1024], path[1024];
    fixture_path(dir, sizeof dir, "bert-mean", NULL);
    fx_file f;
    CHECK(!fx_read(fixture_path(path, sizeof path, "bert-mean", "expected_embeddings.jsonl"), &f));
    semdex_model *m = load_model(dir, 2);
    CHECK(m);
    enum { N_THREADS = 4, N = 40 };
    const char *texts[N];
    size_t lens[N];
    for (size_t i = 0; i < N; i++) {
        texts[i] = f.cases[i * 7 % 400].text->u.str;
        lens[i] = f.cases[i * 7 % 400].text->n;
    }
    semdex_embeddings ref = {0};
    CHECK(!semdex_model_embed(m, texts, lens, N, NULL, &ref, NULL));
    thread_arg args[N_THREADS];
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        args[t] = (thread_arg){.m = m, .texts = texts + t, .lens = lens + t, .n = N - (size_t)t};
        pthread_create(&th[t], NULL, embed_thread, &args[t]);
    }
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < N_THREADS; t++) {
        CHECK(args[t].st == SEMDEX_OK && args[t].out.n == N - (size_t)t);
        CHECK(max_abs_diff(args[t].out.vectors, ref.vectors + (size_t)t * ref.dim, args[t].out.n * ref.dim) <= 1e-6);
        semdex_embeddings_free(&args[t].out);
    }
    semdex_embeddings_free(&ref);
    semdex_model_free(m);
    fx_free(&f);
}

/* ------------------------------------------------------------ attention */

static uint64_t rng_state = 88172645463325252ull;
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* The tiled online softmax (portable and SIMD paths, one and two threads)
 * against a plain softmax, on lengths that straddle the tiles. */
TEST(model_attention_tiles_match_plain_softmax)
{
    static const size_t lens[] = {1, 7, 17, 0, 64, 65, 300, 2};
    static const struct {
        size_t dim, heads;
    } shapes[] = {{8, 1}, {24, 2}, {64, 1}, {128, 2}, {36, 3}, {96, 1}};
    size_t n_seqs = sizeof lens / sizeof lens[0], starts[16] = {0};
    for (size_t s = 0; s < n_seqs; s++)
        starts[s + 1] = starts[s] + lens[s];
    size_t T = starts[n_seqs];
    kern_pool *pool = kern_pool_new(2);
    CHECK(pool);
    model_batch b = {.n_seqs = n_seqs, .n_tokens = T, .seq_start = starts};
    double worst = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t D = shapes[k].dim, H = shapes[k].heads;
        float *qkv = malloc(T * 3 * D * sizeof *qkv), *want = malloc(T * D * sizeof *want);
        float *got = malloc(T * D * sizeof *got);
        float *scratch = malloc(2 * model_attention_scratch_floats(D / H) * sizeof *scratch);
        float *kt = malloc(model_attention_kt_floats(T, n_seqs, D) * sizeof *kt);
        for (size_t i = 0; i < T * 3 * D; i++)
            qkv[i] = 3.0f * frand(); /* large enough that the running max matters */
        model_attention_reference(&b, qkv, want, D, H);
        for (int scalar = 0; scalar < 2; scalar++)
            for (size_t slots = 1; slots <= 2; slots++) {
                memset(got, 0xFF, T * D * sizeof *got);
                model_attention_run(&b, qkv, got, D, H, scratch, kt, slots, slots > 1 ? pool : NULL, scalar);
                double d = max_abs_diff(got, want, T * D);
                worst = d > worst ? d : worst;
                if (!(d <= 2e-5)) {
                    free(qkv), free(want), free(got), free(scratch), free(kt);
                    kern_pool_free(pool);
                    CHECKF(0, "dim %zu heads %zu %s %zu slots: max abs diff %.3g", D, H, scalar ? "scalar" : "simd",
                           slots, d);
                }
            }
        free(qkv);
        free(want);
        free(got);
        free(scratch);
        free(kt);
    }
    kern_pool_free(pool);
    test_note("%s path, max abs diff %.2g", model_attention_path(), worst);
}

/* ----------------------------------------------------------------- pooling */

TEST(model_pooling_modes)
{
    /* 4 tokens x 2 dims */
    const float h[8] = {1, -1, 2, 5, 3, 0, -4, 2};
    float out[12];
    model_pooling p = {.modes = {MODEL_POOL_CLS, MODEL_POOL_MAX, MODEL_POOL_MEAN, MODEL_POOL_MEAN_SQRT_LEN,
                                 MODEL_POOL_WEIGHTEDMEAN, MODEL_POOL_LASTTOKEN},
                       .n_modes = 6};
    model_pool_sequence(&p, h, 4, 2, 0, out);
    const float want[12] = {1, -1, 3, 5, 0.5f, 1.5f, 1.0f, 3.0f, (1 + 4 + 9 - 16) / 10.0f, (-1 + 10 + 0 + 8) / 10.0f,
                            -4, 2};
    for (int i = 0; i < 12; i++)
        CHECKF(fabsf(out[i] - want[i]) < 1e-6f, "value %d: %g, expected %g", i, out[i], want[i]);
    /* the first two tokens excluded (a prompt with include_prompt false) */
    model_pool_sequence(&p, h, 4, 2, 2, out);
    const float want2[12] = {3, 0, 3, 2, -0.5f, 1.0f, -1.0f / sqrtf(2), 2.0f / sqrtf(2), (9 - 16) / 7.0f, 8 / 7.0f, -4, 2};
    for (int i = 0; i < 12; i++)
        CHECKF(fabsf(out[i] - want2[i]) < 1e-6f, "skip 2: value %d: %g, expected %g", i, out[i], want2[i]);
    /* everything excluded: cls falls back to token 0, the rest are zeros */
    model_pool_sequence(&p, h, 4, 2, 9, out);
    CHECK(out[0] == 1 && out[1] == -1);
    for (int i = 2; i < 12; i++)
        CHECK(out[i] == 0);
    float v[3] = {3, 0, 4};
    model_l2_normalize(v, 3);
    CHECK(fabsf(v[0] - 0.6f) < 1e-7f && fabsf(v[2] - 0.8f) < 1e-7f);
    float z[2] = {0, 0};
    model_l2_normalize(z, 2);
    CHECK(z[0] == 0 && z[1] == 0);
}

TEST(model_pooling_config_both_spellings)
{
    model_pooling p;
    semdex_error err = {0};
    const char *newer = "{\"embedding_dimension\": 32, \"pooling_mode\": \"cls\", \"include_prompt\": false}";
    CHECK(!model_st_pooling_parse(newer, strlen(newer), NULL, &p, &err));
    CHECK(p.n_modes == 1 && p.modes[0] == MODEL_POOL_CLS && !p.include_prompt && p.dimension == 32);
    const char *list = "{\"pooling_mode\": [\"mean\", \"max\"]}";
    CHECK(!model_st_pooling_parse(list, strlen(list), NULL, &p, &err));
    CHECK(p.n_modes == 2 && p.modes[0] == MODEL_POOL_MEAN && p.modes[1] == MODEL_POOL_MAX && p.include_prompt);
    const char *legacy = "{\"word_embedding_dimension\": 384, \"pooling_mode_cls_token\": false, "
                         "\"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": false, "
                         "\"pooling_mode_mean_sqrt_len_tokens\": false, \"pooling_mode_weightedmean_tokens\": false, "
                         "\"pooling_mode_lasttoken\": false}";
    CHECK(!model_st_pooling_parse(legacy, strlen(legacy), NULL, &p, &err));
    CHECK(p.n_modes == 1 && p.modes[0] == MODEL_POOL_MEAN && p.dimension == 384);
    const char *legacy2 = "{\"pooling_mode_lasttoken\": true, \"pooling_mode_cls_token\": true, "
                          "\"pooling_mode_mean_sqrt_len_tokens\": true}";
    CHECK(!model_st_pooling_parse(legacy2, strlen(legacy2), NULL, &p, &err));
    CHECK(p.n_modes == 3 && p.modes[0] == MODEL_POOL_CLS && p.modes[1] == MODEL_POOL_MEAN_SQRT_LEN &&
          p.modes[2] == MODEL_POOL_LASTTOKEN);
    const char *none = "{\"pooling_mode_mean_tokens\": false}";
    CHECK(!model_st_pooling_parse(none, strlen(none), NULL, &p, &err));
    CHECK(p.n_modes == 1 && p.modes[0] == MODEL_POOL_MEAN);
    const char *bad = "{\"pooling_mode\": \"median\"}";
    CHECK(model_st_pooling_parse(bad, strlen(bad), "1_Pooling/config.json", &p, &err) == SEMDEX_ERR_UNSUPPORTED);
    CHECK(!strcmp(err.field, "pooling_mode") && strstr(err.message, "median"));
    const char *bad2 = "{\"pooling_mode_mean_tokens\": 1}";
    CHECK(model_st_pooling_parse(bad2, strlen(bad2), NULL, &p, &err) == SEMDEX_ERR_FORMAT);
}

/* ------------------------------------------------------------ safetensors */

/* A safetensors image: header text then data bytes. */
static uint8_t *st_image(const char *header, size_t data_len, size_t *size)
{
    size_t hl = strlen(header);
    *size = 8 + hl + data_len;
    uint8_t *p = calloc(1, *size);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(p + 8, header, hl);
    return p;
}

static semdex_status st_try(const char *header, size_t data_len, semdex_error *err)
{
    size_t size;
    uint8_t *p = st_image(header, data_len, &size);
    model_st_file f;
    semdex_status st = model_safetensors_parse(p, size, "t.safetensors", &f, err);
    if (!st)
        model_st_file_release(&f);
    free(p);
    return st;
}

TEST(model_safetensors_header_checks)
{
    semdex_error err = {0};
    CHECK(!st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"__metadata__\":{\"format\":\"pt\"}}",
                  16, &err));
    CHECK(!st_try("{\"e\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
                  "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}",
                  8, &err));
    /* size not shape x dtype */
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, &err) == SEMDEX_ERR_FORMAT);
    CHECK(!strcmp(err.field, "a") && strstr(err.message, "needs 12") && err.offset > 8);
    /* past the end */
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 15, &err) == SEMDEX_ERR_FORMAT);
    CHECK(strstr(err.message, "past the end"));
    /* overlap */
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                 16, &err) == SEMDEX_ERR_FORMAT);
    CHECK(strstr(err.message, "overlap"));
    /* unknown dtype, bad shape, bad offsets, duplicate names */
    CHECK(st_try("{\"a\":{\"dtype\":\"F33\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, &err) == SEMDEX_ERR_FORMAT);
    CHECK(strstr(err.message, "unknown dtype") && !strcmp(err.field, "a"));
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, &err) == SEMDEX_ERR_FORMAT);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4.5],\"data_offsets\":[0,16]}}", 16, &err) == SEMDEX_ERR_FORMAT);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16, &err) == SEMDEX_ERR_FORMAT);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", 16, &err) == SEMDEX_ERR_FORMAT);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,16]}}", 16,
                 &err) == SEMDEX_ERR_FORMAT);
    CHECK(st_try("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                 "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                 2, &err) == SEMDEX_ERR_FORMAT);
    CHECK(strstr(err.message, "twice"));
    CHECK(st_try("[1,2]", 0, &err) == SEMDEX_ERR_FORMAT);
    CHECK(st_try("{\"a\": 3}", 0, &err) == SEMDEX_ERR_FORMAT);
    CHECK(st_try("{\"a\":{\"dtype\":\"F32\"", 0, &err) == SEMDEX_ERR_PARSE);
    CHECK(st_try("{\"__metadata__\":{\"x\":1}}", 0, &err) == SEMDEX_ERR_FORMAT);
    /* header length lies */
    uint8_t small[12] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, '{', '}', ' ', ' '};
    model_st_file f;
    CHECK(model_safetensors_parse(small, sizeof small, "x", &f, &err) == SEMDEX_ERR_LIMIT);
    small[0] = 5;
    small[1] = small[2] = small[3] = 0;
    CHECK(model_safetensors_parse(small, sizeof small, "x", &f, &err) == SEMDEX_ERR_FORMAT);
    CHECK(strstr(err.message, "runs past the end"));
    CHECK(model_safetensors_parse(small, 5, "x", &f, &err) == SEMDEX_ERR_FORMAT);
}

TEST(model_config_checks)
{
    model_config c;
    semdex_error err = {0};
    const char *ok = "{\"architectures\": [\"XLMRobertaModel\"], \"model_type\": \"xlm-roberta\", \"hidden_size\": 64, "
                     "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 128, "
                     "\"vocab_size\": 100, \"max_position_embeddings\": 514, \"pad_token_id\": 1, "
                     "\"hidden_act\": \"gelu_new\", \"layer_norm_eps\": 1e-5}";
    CHECK(!model_config_parse(ok, strlen(ok), NULL, &c, &err));
    CHECK(c.arch == MODEL_ARCH_ROBERTA && c.position_offset == 2 && c.act == MODEL_ACT_GELU_TANH &&
          fabsf(c.layer_norm_eps - 1e-5f) < 1e-12f && c.type_vocab_size == 2);
    static const struct {
        const char *json, *field;
        semdex_status st;
    } bad[] = {
        {"{\"architectures\": [\"GPT2Model\"], \"hidden_size\": 8}", "architectures", SEMDEX_ERR_UNSUPPORTED},
        {"{\"architectures\": [\"XLMRobertaForSequenceClassification\"]}", "architectures", SEMDEX_ERR_UNSUPPORTED},
        {"{\"model_type\": \"t5\"}", "model_type", SEMDEX_ERR_UNSUPPORTED},
        {"{}", "architectures", SEMDEX_ERR_FORMAT},
        {"{\"model_type\": \"bert\", \"num_hidden_layers\": 2}", "hidden_size", SEMDEX_ERR_FORMAT},
        {"{\"model_type\": \"bert\", \"hidden_size\": 30, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 8, \"vocab_size\": 10}",
         "num_attention_heads", SEMDEX_ERR_FORMAT},
        {"{\"model_type\": \"bert\", \"hidden_size\": 32.5}", "hidden_size", SEMDEX_ERR_FORMAT},
        {"{\"model_type\": \"bert\", \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
         "\"intermediate_size\": 8, \"vocab_size\": 10, \"hidden_act\": \"swish\"}",
         "hidden_act", SEMDEX_ERR_UNSUPPORTED},
        {"{\"model_type\": \"bert\", \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
         "\"intermediate_size\": 8, \"vocab_size\": 10, \"position_embedding_type\": \"relative_key\"}",
         "position_embedding_type", SEMDEX_ERR_UNSUPPORTED},
        {"{\"architectures\": [\"BertModel\"], \"model_type\": \"roberta\"}", "model_type", SEMDEX_ERR_UNSUPPORTED},
        {"{\"model_type\": \"roberta\", \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
         "\"intermediate_size\": 8, \"vocab_size\": 10, \"max_position_embeddings\": 2, \"pad_token_id\": 1}",
         "max_position_embeddings", SEMDEX_ERR_FORMAT},
        {"[1]", "", SEMDEX_ERR_FORMAT},
        {"{", "", SEMDEX_ERR_PARSE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        semdex_status st = model_config_parse(bad[i].json, strlen(bad[i].json), "config.json", &c, &err);
        CHECKF(st == bad[i].st && !strcmp(err.field, bad[i].field) && !strcmp(err.file, "config.json"),
               "case %zu: status %d field '%s' (%s)", i, st, err.field, err.message);
    }
}

/* -------------------------------------------------- broken directories */

TEST(model_broken_directories_name_file_and_field)
{
    char dir[256], path[1024];
    CHECK(!copy_fixture("bert-mean", dir, sizeof dir));
    semdex_error err;
    const char *msg;
    semdex_model *m = load_model(dir, 1);
    CHECK(m);
    semdex_model_free(m);

    /* missing config.json */
    snprintf(path, sizeof path, "%s/config.json", dir);
    char cfg_keep[1100];
    snprintf(cfg_keep, sizeof cfg_keep, "%s.keep", path);
    CHECK(!rename(path, cfg_keep));
    CHECK((msg = load_error(dir, &err)) && strstr(err.file, "config.json") && err.status == SEMDEX_ERR_IO);
    CHECK(!rename(cfg_keep, path));

    /* missing model.safetensors */
    char st_path[1024], st_keep[1100];
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    snprintf(st_keep, sizeof st_keep, "%s.keep", st_path);
    CHECK(!rename(st_path, st_keep));
    CHECK((msg = load_error(dir, &err)) && strstr(err.file, "model.safetensors") && strstr(msg, "missing"));

    /* truncated safetensors: in the data, then in the header */
    size_t n;
    char *orig = test_read_file(st_keep, &n);
    CHECK(orig);
    CHECK(!write_file(st_path, orig, n / 2));
    CHECK((msg = load_error(dir, &err)) && strstr(err.file, "model.safetensors") && strstr(msg, "truncated") &&
          err.field[0] && strstr(msg, "data_offsets"));
    CHECK(!write_file(st_path, orig, 1000));
    CHECK((msg = load_error(dir, &err)) && strstr(msg, "header length") && strstr(msg, "truncated"));
    CHECK(!write_file(st_path, orig, 5));
    CHECK((msg = load_error(dir, &err)) && strstr(msg, "header length"));

    /* header lies (same-length edits keep the header length right) */
    static const struct {
        const char *from, *to, *field, *what;
    } lies[] = {
        {"\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\",\"shape\":[32],\"data_offsets\":[0,128]}",
         "\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\",\"shape\":[32],\"data_offsets\":[0,124]}",
         "embeddings.LayerNorm.bias", "needs 128"},
        {"\"data_offsets\":[128,256]", "\"data_offsets\":[120,248]", "embeddings.LayerNorm.weight", "overlap"},
        {"\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\",\"shape\":[32]",
         "\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\",\"shape\":[31]", "embeddings.LayerNorm.bias", "needs 124"},
        {"\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\"", "\"embeddings.LayerNorm.bias\":{\"dtype\":\"X32\"",
         "embeddings.LayerNorm.bias", "unknown dtype"},
        {"\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\"", "\"embeddings.LayerNorm.bias\":{\"dtype\":\"I32\"",
         "embeddings.LayerNorm.bias", "not a weight type"},
        {"encoder.layer.1.output.dense.weight", "encoder.layer.1.output.dense.weighz",
         "encoder.layer.1.output.dense.weight", "missing tensor"},
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        CHECK(!write_file(st_path, orig, n));
        CHECKF(!edit_file(dir, "model.safetensors", lies[i].from, lies[i].to), "edit %zu", i);
        msg = load_error(dir, &err);
        CHECKF(msg && strstr(err.file, "model.safetensors") && !strcmp(err.field, lies[i].field) &&
                   strstr(msg, lies[i].what),
               "lie %zu: %s", i, msg ? msg : "(loaded)");
    }
    CHECK(!write_file(st_path, orig, n));
    free(orig);
    remove(st_keep);

    /* config.json disagrees with the tensors, or names what semdex lacks */
    static const struct {
        const char *from, *to, *file, *field, *what;
    } cfgs[] = {
        {"\"hidden_size\": 32", "\"hidden_size\": 48", "model.safetensors", "embeddings.word_embeddings.weight",
         "hidden_size"},
        {"\"intermediate_size\": 64", "\"intermediate_size\": 96", "model.safetensors",
         "encoder.layer.0.intermediate.dense.weight", "intermediate_size"},
        {"\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3", "model.safetensors",
         "encoder.layer.2.attention.self.query.weight", "missing tensor"},
        {"\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1", "model.safetensors",
         "encoder.layer.1.attention.self.query.weight", "num_hidden_layers"},
        {"\"vocab_size\": 30522", "\"vocab_size\": 30000", "model.safetensors", "embeddings.word_embeddings.weight",
         "vocab_size"},
        {"\"BertModel\"", "\"GPT2Model\"", "config.json", "architectures", "unsupported architecture"},
        {"\"hidden_act\": \"gelu\"", "\"hidden_act\": \"mish\"", "config.json", "hidden_act", "mish"},
        {"\"model_type\": \"bert\"", "\"position_embedding_type\": \"relative_key\", \"model_type\": \"bert\"",
         "config.json", "position_embedding_type", "absolute"},
        {"\"hidden_size\": 32", "\"hidden_size\": \"32\"", "config.json", "hidden_size", "integer"},
    };
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *cfg = test_read_file(path, &n);
    CHECK(cfg);
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        CHECK(!write_file(path, cfg, n));
        CHECKF(!edit_file(dir, "config.json", cfgs[i].from, cfgs[i].to), "config edit %zu", i);
        msg = load_error(dir, &err);
        CHECKF(msg && strstr(err.file, cfgs[i].file) && !strcmp(err.field, cfgs[i].field) && strstr(msg, cfgs[i].what),
               "config %zu: %s", i, msg ? msg : "(loaded)");
    }
    CHECK(!write_file(path, cfg, n));
    free(cfg);

    /* sentence-transformers files */
    CHECK(!edit_file(dir, "modules.json", "normalize.Normalize", "dense.Dense"));
    CHECK((msg = load_error(dir, &err)) && strstr(err.file, "modules.json") && strstr(msg, "Dense"));
    CHECK(!edit_file(dir, "modules.json", "dense.Dense", "normalize.Normalize"));
    CHECK(!edit_file(dir, "1_Pooling/config.json", "\"mean\"", "\"median\""));
    CHECK((msg = load_error(dir, &err)) && strstr(err.file, "1_Pooling/config.json") &&
          !strcmp(err.field, "pooling_mode"));
    CHECK(!edit_file(dir, "1_Pooling/config.json", "\"median\"", "\"mean\""));
    CHECK(!edit_file(dir, "1_Pooling/config.json", "\"embedding_dimension\": 32", "\"embedding_dimension\": 64"));
    CHECK((msg = load_error(dir, &err)) && !strcmp(err.field, "embedding_dimension"));
    CHECK(!edit_file(dir, "1_Pooling/config.json", "\"embedding_dimension\": 64", "\"embedding_dimension\": 32"));
    CHECK(!edit_file(dir, "config_sentence_transformers.json", "\"default_prompt_name\": null",
                     "\"default_prompt_name\": \"nope\""));
    CHECK((msg = load_error(dir, &err)) && strstr(err.file, "config_sentence_transformers.json") &&
          !strcmp(err.field, "default_prompt_name"));
    CHECK(!edit_file(dir, "config_sentence_transformers.json", "\"nope\"", "\"query\""));
    m = load_model(dir, 1);
    CHECK(m && !strcmp(semdex_model_get_info(m)->default_prompt_name, "query"));
    semdex_model_free(m);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    remove(path);
    CHECK((msg = load_error(dir, &err)) && strstr(msg, "tokenizer.json"));
    rm_rf(dir);
}

/* ------------------------------------------------------- tiny models */

/* A safetensors writer for tests: name, dtype, shape and bytes. */
typedef struct st_entry {
    char name[128];
    const char *dtype;
    size_t n_dims, shape[2];
    const void *data;
    size_t bytes;
} st_entry;

static int st_write(const char *path, const st_entry *e, size_t n)
{
    size_t cap = 4096 + n * 256, hl = 0, off = 0;
    char *h = malloc(cap);
    hl += (size_t)snprintf(h + hl, cap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        hl += (size_t)snprintf(h + hl, cap - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e[i].name, e[i].dtype);
        for (size_t d = 0; d < e[i].n_dims; d++)
            hl += (size_t)snprintf(h + hl, cap - hl, "%s%zu", d ? "," : "", e[i].shape[d]);
        hl += (size_t)snprintf(h + hl, cap - hl, "],\"data_offsets\":[%zu,%zu]}", off, off + e[i].bytes);
        off += e[i].bytes;
    }
    hl += (size_t)snprintf(h + hl, cap - hl, "}");
    while (hl % 8)
        h[hl++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h);
        return -1;
    }
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(h, 1, hl, f);
    for (size_t i = 0; i < n; i++)
        fwrite(e[i].data, 1, e[i].bytes, f);
    free(h);
    return fclose(f);
}

#define TINY_D 8
#define TINY_I 16
#define TINY_V 32
#define TINY_P 16
#define TINY_L 2

typedef struct tiny_weights {
    st_entry e[64];
    size_t n;
    float pool[8192];
    size_t used;
} tiny_weights;

static void tiny_add(tiny_weights *w, const char *prefix, const char *name, size_t rows, size_t cols, float base)
{
    st_entry *e = &w->e[w->n++];
    snprintf(e->name, sizeof e->name, "%s%s", prefix, name);
    e->dtype = "F32";
    e->n_dims = cols ? 2 : 1;
    e->shape[0] = rows;
    e->shape[1] = cols;
    size_t n = rows * (cols ? cols : 1);
    float *p = w->pool + w->used;
    for (size_t i = 0; i < n; i++)
        p[i] = base + 0.5f * frand();
    w->used += n;
    e->data = p;
    e->bytes = n * sizeof(float);
}

/* The tensors of a 2-layer BERT (hidden 8) with reproducible values. */
static void tiny_weights_make(tiny_weights *w, const char *prefix)
{
    memset(w, 0, sizeof *w);
    rng_state = 0x243F6A8885A308D3ull;
    tiny_add(w, prefix, "embeddings.word_embeddings.weight", TINY_V, TINY_D, 0);
    tiny_add(w, prefix, "embeddings.position_embeddings.weight", TINY_P, TINY_D, 0);
    tiny_add(w, prefix, "embeddings.token_type_embeddings.weight", 2, TINY_D, 0);
    tiny_add(w, prefix, "embeddings.LayerNorm.weight", TINY_D, 0, 1);
    tiny_add(w, prefix, "embeddings.LayerNorm.bias", TINY_D, 0, 0);
    for (int l = 0; l < TINY_L; l++) {
        char n[128];
        static const char *const lin[] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                          "attention.output.dense", "intermediate.dense", "output.dense"};
        for (int k = 0; k < 6; k++) {
            size_t rows = k == 4 ? TINY_I : TINY_D, cols = k == 5 ? TINY_I : TINY_D;
            snprintf(n, sizeof n, "encoder.layer.%d.%s.weight", l, lin[k]);
            tiny_add(w, prefix, n, rows, cols, 0);
            snprintf(n, sizeof n, "encoder.layer.%d.%s.bias", l, lin[k]);
            tiny_add(w, prefix, n, rows, 0, 0);
        }
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
        tiny_add(w, prefix, n, TINY_D, 0, 1);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.LayerNorm.bias", l);
        tiny_add(w, prefix, n, TINY_D, 0, 0);
        snprintf(n, sizeof n, "encoder.layer.%d.output.LayerNorm.weight", l);
        tiny_add(w, prefix, n, TINY_D, 0, 1);
        snprintf(n, sizeof n, "encoder.layer.%d.output.LayerNorm.bias", l);
        tiny_add(w, prefix, n, TINY_D, 0, 0);
    }
    tiny_add(w, prefix, "pooler.dense.weight", TINY_D, TINY_D, 0); /* unused */
}

/* A tiny sentence-transformers directory: config, tokenizer (the tiny
 * WordPiece of tests/data), weights in one file or `shards` files. */
static int tiny_model(char *dir, size_t n, const char *prefix, int shards, const char *pooling, int with_modules)
{
    if (make_tmp(dir, n))
        return -1;
    char path[1024];
    write_str(dir, "config.json",
              "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_size\": 8, "
              "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"intermediate_size\": 16, "
              "\"vocab_size\": 32, \"max_position_embeddings\": 16, \"type_vocab_size\": 2, "
              "\"hidden_act\": \"gelu_pytorch_tanh\", \"layer_norm_eps\": 1e-12, \"pad_token_id\": 0}");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (copy_file("tests/data/tokenizers/tiny-wordpiece.json", path))
        return -1;
    if (with_modules) {
        write_str(dir, "modules.json",
                  "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                  " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"},"
                  " {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", \"type\": "
                  "\"sentence_transformers.models.Normalize\"}]");
        snprintf(path, sizeof path, "%s/1_Pooling", dir);
        mkdir(path, 0700);
        write_str(dir, "1_Pooling/config.json", pooling);
        write_str(dir, "sentence_bert_config.json", "{\"max_seq_length\": 12, \"do_lower_case\": false}");
        write_str(dir, "config_sentence_transformers.json",
                  "{\"prompts\": {\"q\": \"hello world \", \"empty\": \"\"}, \"default_prompt_name\": null}");
    }
    tiny_weights *w = malloc(sizeof *w);
    tiny_weights_make(w, prefix);
    int r = 0;
    if (shards <= 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        r = st_write(path, w->e, w->n);
    } else {
        /* tensors dealt round-robin into the shards, and an index */
        char *idx = malloc(65536);
        size_t il = (size_t)snprintf(idx, 65536, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
        for (int s = 0; s < shards && !r; s++) {
            st_entry part[64];
            size_t k = 0;
            for (size_t i = (size_t)s; i < w->n; i += (size_t)shards) {
                part[k++] = w->e[i];
                il += (size_t)snprintf(idx + il, 65536 - il, "%s\"%s\": \"model-%05d-of-%05d.safetensors\"",
                                       il > 60 ? ", " : "", w->e[i].name, s + 1, shards);
            }
            snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, shards);
            r = st_write(path, part, k);
        }
        snprintf(idx + il, 65536 - il, "}}");
        write_str(dir, "model.safetensors.index.json", idx);
        free(idx);
    }
    free(w);
    return r;
}

static const char *const tiny_texts[] = {"hello world", "hello", "world hello world", "", "[UNK] x y z hello"};
#define N_TINY (sizeof tiny_texts / sizeof tiny_texts[0])

static int tiny_embed(semdex_model *m, const char *prompt, semdex_embeddings *e)
{
    size_t lens[N_TINY];
    for (size_t i = 0; i < N_TINY; i++)
        lens[i] = strlen(tiny_texts[i]);
    semdex_embed_options o = semdex_embed_options_default();
    o.prompt_name = prompt;
    o.batch_size = 2;
    return semdex_model_embed(m, tiny_texts, lens, N_TINY, &o, e, NULL);
}

TEST(model_sharded_and_prefixed_checkpoints_are_the_same_model)
{
    const char *pool = "{\"pooling_mode\": \"mean\"}";
    char d1[256], d2[256], d3[256];
    CHECK(!tiny_model(d1, sizeof d1, "", 1, pool, 1));
    CHECK(!tiny_model(d2, sizeof d2, "", 3, pool, 1));
    CHECK(!tiny_model(d3, sizeof d3, "bert.", 1, pool, 1));
    semdex_model *a = load_model(d1, 1), *b = load_model(d2, 1), *c = load_model(d3, 1);
    CHECK(a && b && c);
    const semdex_model_info *ia = semdex_model_get_info(a);
    CHECK(ia->weights_hash == semdex_model_get_info(b)->weights_hash);
    CHECK(ia->weights_hash == semdex_model_get_info(c)->weights_hash);
    CHECK(ia->max_length == 12 && ia->normalize && !strcmp(ia->weight_dtype, "float32"));
    semdex_embeddings ea = {0}, eb = {0}, ec = {0};
    CHECK(!tiny_embed(a, NULL, &ea) && !tiny_embed(b, NULL, &eb) && !tiny_embed(c, NULL, &ec));
    CHECK(max_abs_diff(ea.vectors, eb.vectors, N_TINY * ea.dim) == 0);
    CHECK(max_abs_diff(ea.vectors, ec.vectors, N_TINY * ea.dim) == 0);
    semdex_embeddings_free(&ea);
    semdex_embeddings_free(&eb);
    semdex_embeddings_free(&ec);
    semdex_model_free(a);
    semdex_model_free(b);
    semdex_model_free(c);
    /* an index naming a file outside the directory, or a tensor its shard lacks */
    CHECK(!edit_file(d2, "model.safetensors.index.json", "\"model-00002-of-00003.safetensors\"",
                     "\"../model-00002-of-00003.safetensors\""));
    semdex_error err;
    const char *msg = load_error(d2, &err);
    CHECK(msg && strstr(err.file, "model.safetensors.index.json"));
    CHECK(!edit_file(d2, "model.safetensors.index.json", "\"../model-00002-of-00003.safetensors\"",
                     "\"model-00001-of-00003.safetensors\""));
    msg = load_error(d2, &err);
    CHECK(msg && strstr(msg, "does not hold it"));
    rm_rf(d1);
    rm_rf(d2);
    rm_rf(d3);
}

/* The same ids through model_forward_ids: the last layer, pooled by hand. */
typedef struct last_layer {
    float h[64 * TINY_D];
    size_t n;
} last_layer;

static void keep_last(void *ctx, size_t layer, const float *x, size_t n_tokens, size_t dim)
{
    last_layer *l = ctx;
    if (layer == TINY_L && n_tokens <= 64) {
        memcpy(l->h, x, n_tokens * dim * sizeof *x);
        l->n = n_tokens;
    }
}

TEST(model_prompts_and_include_prompt)
{
    char dir[256];
    CHECK(!tiny_model(dir, sizeof dir, "", 1, "{\"pooling_mode\": \"mean\", \"include_prompt\": false}", 1));
    semdex_model *m = load_model(dir, 1);
    CHECK(m);
    const semdex_model_info *info = semdex_model_get_info(m);
    CHECK(info->n_prompts == 2 && !info->default_prompt_name);
    semdex_embeddings e = {0};
    CHECK(!tiny_embed(m, "q", &e));
    /* sentence-transformers: prompt_length = len(tokenize(prompt)) - 1 ([CLS] hello world) */
    semdex_encoding enc = {0}, penc = {0};
    semdex_encode_options o = semdex_encode_options_default();
    o.max_length = info->max_length;
    const semdex_tokenizer *tok = semdex_model_tokenizer(m);
    CHECK(!semdex_tokenizer_encode(tok, "hello world ", 12, NULL, 0, &o, &penc, NULL));
    size_t skip = penc.n - 1;
    CHECK(skip == 2); /* "hello world" is one added token */
    for (size_t i = 0; i < N_TINY; i++) {
        char s[128];
        snprintf(s, sizeof s, "hello world %s", tiny_texts[i]);
        CHECK(!semdex_tokenizer_encode(tok, s, strlen(s), NULL, 0, &o, &enc, NULL));
        last_layer ll = {0};
        CHECK(!model_forward_ids(m, enc.ids, enc.n, keep_last, &ll, NULL));
        float want[TINY_D];
        model_pooling p = {.modes = {MODEL_POOL_MEAN}, .n_modes = 1};
        model_pool_sequence(&p, ll.h, ll.n, TINY_D, skip, want);
        model_l2_normalize(want, TINY_D);
        CHECKF(max_abs_diff(want, e.vectors + i * TINY_D, TINY_D) < 1e-6, "input %zu", i);
        CHECK(e.n_tokens[i] == enc.n);
    }
    /* an unknown prompt name is refused, naming the known ones */
    semdex_error err = {0};
    size_t one = 1;
    semdex_embed_options eo = semdex_embed_options_default();
    eo.prompt_name = "passage";
    CHECK(semdex_model_embed(m, tiny_texts, &one, 1, &eo, &e, &err) == SEMDEX_ERR_INVALID_ARG);
    CHECK(!strcmp(err.field, "prompt_name") && strstr(err.message, "q"));
    /* invalid UTF-8 names the input and the byte */
    const char *bad[2] = {"fine", "ab\xff"};
    size_t bl[2] = {4, 3};
    CHECK(semdex_model_embed(m, bad, bl, 2, NULL, &e, &err) == SEMDEX_ERR_UTF8);
    CHECK(strstr(err.message, "input 1") && err.offset == 2);
    /* truncation at max_seq_length 12 is reported, never silent */
    const char *lng = "hello hello hello hello hello hello hello hello hello hello hello hello hello hello";
    size_t ll = strlen(lng);
    CHECK(!semdex_model_embed(m, &lng, &ll, 1, NULL, &e, &err));
    CHECK(e.n_tokens[0] == 12 && e.n_truncated[0] == 4);
    semdex_encoding_free(&enc);
    semdex_encoding_free(&penc);
    semdex_embeddings_free(&e);
    semdex_model_free(m);
    rm_rf(dir);
}

TEST(model_without_modules_json_is_mean_without_normalize)
{
    char dir[256];
    CHECK(!tiny_model(dir, sizeof dir, "", 1, NULL, 0));
    semdex_model *m = load_model(dir, 1);
    CHECK(m);
    const semdex_model_info *info = semdex_model_get_info(m);
    CHECK(!strcmp(info->pooling, "mean") && !info->normalize && strstr(info->notes, "modules.json"));
    CHECK(info->max_length == TINY_P && info->n_prompts == 0);
    semdex_embeddings e = {0};
    CHECK(!tiny_embed(m, NULL, &e));
    double norm = 0;
    for (size_t d = 0; d < e.dim; d++)
        norm += (double)e.vectors[d] * e.vectors[d];
    CHECK(fabs(norm - 1) > 1e-3); /* not normalized */
    semdex_embed_options o = semdex_embed_options_default();
    o.normalize = 1;
    size_t len = 11;
    CHECK(!semdex_model_embed(m, tiny_texts, &len, 1, &o, &e, NULL));
    norm = 0;
    for (size_t d = 0; d < e.dim; d++)
        norm += (double)e.vectors[d] * e.vectors[d];
    CHECK(fabs(norm - 1) < 1e-5);
    semdex_embeddings_free(&e);
    semdex_model_free(m);
    rm_rf(dir);
}

/* Every allocation of a load and a first embed failing in turn gives a
 * clean out-of-memory error (and, under the sanitizers, no leak). */
TEST(model_load_and_embed_survive_every_failed_allocation)
{
    char dir[256];
    CHECK(!tiny_model(dir, sizeof dir, "", 2, "{\"pooling_mode\": [\"cls\", \"mean\"]}", 1));
    int n;
    for (n = 0; n < 20000; n++) {
        sx_alloc_fail_after(n);
        semdex_error err = {0};
        semdex_model *m = NULL;
        semdex_model_options mo = {1};
        semdex_status st = semdex_model_load(dir, &mo, &m, &err);
        if (st == SEMDEX_OK) {
            semdex_embeddings e = {0};
            st = tiny_embed(m, "q", &e);
            semdex_embeddings_free(&e);
            semdex_model_free(m);
            sx_alloc_fail_after(-1);
            if (st == SEMDEX_OK)
                break;
            CHECKF(st == SEMDEX_ERR_NOMEM, "embed, allocation %d: status %d", n, st);
            continue;
        }
        sx_alloc_fail_after(-1);
        CHECKF(st == SEMDEX_ERR_NOMEM, "load, allocation %d: status %d (%s)", n, st, err.message);
        CHECK(m == NULL);
    }
    CHECK(n > 20 && n < 20000);
    test_note("%d allocation failure points", n);
    rm_rf(dir);
}

TEST(model_weights_hash_is_stable)
{
    /* stores compare this value: it must never change for the same weights */
    char dir[1024];
    semdex_model *m = load_model(fixture_path(dir, sizeof dir, "bert-mean", NULL), 1);
    CHECK(m);
    CHECKF(semdex_model_get_info(m)->weights_hash == 0xbca2ada7e0fd96c9ull, "hash %016llx",
           (unsigned long long)semdex_model_get_info(m)->weights_hash);
    semdex_model_free(m);
    CHECK(model_hash_bytes(0, "", 0) != model_hash_bytes(1, "", 0));
    CHECK(model_hash_bytes(0, "abc", 3) != model_hash_bytes(0, "abd", 3));
}

/* ---------------------------------------------------------- commands */

TEST(cli_embed_lines_errors_and_order)
{
    char dir[1024], args[1200];
    fixture_path(dir, sizeof dir, "bert-mean", NULL);
    snprintf(args, sizeof args, "embed -m %s --batch 2 --threads 1", dir);
    char *out, *err;
    int st = test_run_semdex(args, "{\"text\": \"a first line\"}\nnot json\n{\"text\": 5}\n{\"text\": \"second\"}\n{\"text\": \"x\"}\n",
                 &out, &err);
    CHECKF(st == 1 && out, "status %d", st);
    CHECK(test_count_lines(out) == 5);
    const char *l2 = strchr(out, '\n') + 1, *l3 = strchr(l2, '\n') + 1, *l4 = strchr(l3, '\n') + 1;
    CHECK(!strncmp(out, "{\"embedding\": [", 15) && strstr(out, "\"n_tokens\": 5, \"truncated\": 0}\n"));
    CHECK(!strncmp(l2, "{\"error\": \"bad JSON", 19) && strstr(l2, "\"line\": 2}"));
    CHECK(!strncmp(l3, "{\"error\": ", 10) && strstr(l3, "\"line\": 3}"));
    CHECK(!strncmp(l4, "{\"embedding\": [", 15) && strstr(l4, "\"n_tokens\": 3,"));
    CHECK(strstr(err, "line 2"));
    /* the same vector as the library, printed to round-trip */
    semdex_model *m = load_model(dir, 1);
    CHECK(m);
    const char *t = "a first line";
    size_t tl = strlen(t);
    semdex_embeddings e = {0};
    CHECK(!semdex_model_embed(m, &t, &tl, 1, NULL, &e, NULL));
    semdex_error jerr = {0};
    json_doc *doc = json_parse(out, (size_t)(l2 - out - 1), &jerr);
    CHECK(doc);
    const json_value *emb = json_get(json_doc_root(doc), "embedding");
    CHECK(json_is_arr(emb) && emb->n == e.dim);
    for (uint32_t i = 0; i < emb->n; i++)
        CHECK((float)json_arr_at(emb, i)->u.num == e.vectors[i]);
    json_doc_free(doc);
    semdex_embeddings_free(&e);
    semdex_model_free(m);
    free(out);
    free(err);
    /* plain lines, no normalization, a prompt name */
    snprintf(args, sizeof args, "embed -m %s --plain --no-normalize --prompt-name query", dir);
    st = test_run_semdex(args, "plain text one\n\nthird\n", &out, &err);
    CHECK(st == 0 && test_count_lines(out) == 3 && strstr(out, "\"n_tokens\": 2,"));
    free(out);
    free(err);
    snprintf(args, sizeof args, "embed -m %s --prompt-name nope", dir);
    st = test_run_semdex(args, "{\"text\": \"x\"}\n", &out, &err);
    CHECK(st == 1 && strstr(out, "unknown prompt name"));
    free(out);
    free(err);
    st = test_run_semdex("embed -m /nonexistent/model", "", &out, &err);
    CHECK(st == 1 && strstr(err, "config.json"));
    free(out);
    free(err);
    st = test_run_semdex("embed --batch 0 -m x", "", &out, &err);
    CHECK(st == 2);
    free(out);
    free(err);
    st = test_run_semdex("embed --help", "", &out, &err);
    CHECK(st == 0 && strstr(out, "--prompt-name") && strstr(out, "--plain"));
    free(out);
    free(err);
}

TEST(cli_info_describes_the_model)
{
    char dir[1024], args[1200];
    snprintf(args, sizeof args, "info -m %s", fixture_path(dir, sizeof dir, "bert-zh-cls-fp16", NULL));
    char *out, *err;
    int st = test_run_semdex(args, "", &out, &err);
    CHECK(st == 0 && out);
    CHECK(strstr(out, "architecture:  BertModel\n") && strstr(out, "dimension:     32\n") &&
          strstr(out, "layers:        3\n") && strstr(out, "heads:         2\n") && strstr(out, "pooling:       cls\n") &&
          strstr(out, "normalize:     yes") && strstr(out, "max length:    512 tokens") &&
          strstr(out, "weight dtype:  float16") && strstr(out, "query: \"") && strstr(out, "notes:         none"));
    free(out);
    free(err);
    st = test_run_semdex("info --help", "", &out, &err);
    CHECK(st == 0 && strstr(out, "usage: semdex info"));
    free(out);
    free(err);
}
