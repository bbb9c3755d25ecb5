/* weights.c: binds a checkpoint's tensors to the encoder's weights.  Every
 * tensor the architecture needs is looked up (with or without the "bert.",
 * "roberta." or "model." prefix; "LayerNorm.gamma/beta" as older
 * checkpoints spell them), its dtype and shape checked against config.json,
 * then converted: vectors to float32, matrices to float32 packed for
 * kern_sgemm_packed (query, key and value stacked into one), lookup tables
 * left in the map in their stored dtype.  Tensors nobody asks for (pooler,
 * heads, lm_head, position_ids buffers) are ignored.  The weights hash is
 * computed here.  Knows nothing of tokenizers or of pooling. */
#include "model_int.h"
#include "alloc.h"
#include "err.h"
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ hash */

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

#define HP1 0x9E3779B185EBCA87ull
#define HP2 0xC2B2AE3D27D4EB4Full

static inline uint64_t hround(uint64_t acc, uint64_t w) { return rotl64(acc + w * HP2, 31) * HP1; }

/* Fixed forever: stores compare it across versions.  Four independent
 * lanes over 32-byte blocks (xxHash64's round), then the tail word by word
 * and a final avalanche.  Chained: h is the running value. */
uint64_t model_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t a = h + HP1 + HP2, b = h + HP2, c = h, d = h - HP1;
    size_t left = n;
    while (left >= 32) {
        uint64_t w[4];
        memcpy(w, s, 32);
        a = hround(a, w[0]);
        b = hround(b, w[1]);
        c = hround(c, w[2]);
        d = hround(d, w[3]);
        s += 32;
        left -= 32;
    }
    uint64_t r = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18) + (uint64_t)n;
    while (left >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        r = rotl64(r ^ hround(0, w), 27) * HP1 + 0x85EBCA77C2B2AE63ull;
        s += 8;
        left -= 8;
    }
    while (left) {
        r = rotl64(r ^ (*s++ * 0x27D4EB2F165667C5ull), 11) * HP1;
        left--;
    }
    r ^= r >> 33;
    r *= HP2;
    r ^= r >> 29;
    r *= 0x165667B19E3779F9ull;
    r ^= r >> 32;
    return r;
}

/* Tensors above this are sampled: a 4 KiB block every 1 MiB and the last
 * 4 KiB, so that hashing a 500 MB embedding table does not read it all. */
#define HASH_FULL_LIMIT ((uint64_t)64 << 20)
#define HASH_BLOCK 4096
#define HASH_STRIDE ((uint64_t)1 << 20)

static uint64_t hash_tensor(uint64_t h, const char *canonical, const model_tensor *t)
{
    h = model_hash_bytes(h, canonical, strlen(canonical) + 1);
    const char *dn = model_dtype_name(t->dtype);
    h = model_hash_bytes(h, dn, strlen(dn) + 1);
    uint64_t dims[MODEL_MAX_DIMS + 1];
    dims[0] = t->n_dims;
    memcpy(dims + 1, t->shape, t->n_dims * sizeof *dims);
    h = model_hash_bytes(h, dims, (t->n_dims + 1) * sizeof *dims);
    uint64_t size = t->end - t->begin;
    if (size <= HASH_FULL_LIMIT)
        return model_hash_bytes(h, t->data, (size_t)size);
    for (uint64_t off = 0; off + HASH_BLOCK <= size; off += HASH_STRIDE)
        h = model_hash_bytes(h, t->data + off, HASH_BLOCK);
    return model_hash_bytes(h, t->data + size - HASH_BLOCK, HASH_BLOCK);
}

/* ---------------------------------------------------------------- binding */

typedef struct binder {
    const model_checkpoint *ck;
    const model_config *cfg;
    const char *prefix;
    uint64_t hash;
    model_dtype dtype; /* MODEL_DTYPE_COUNT: not seen yet or mixed */
    int mixed;
    kern_arena *arena; /* where packed matrices go */
    semdex_error *err;
} binder;

static const char *ck_name(const model_checkpoint *ck)
{
    return ck->n_files ? ck->files[0].path : "model.safetensors";
}

/* Finds prefix+name (or its gamma/beta spelling) and checks dtype and shape:
 * [rows] when cols is 0, [rows, cols] otherwise.  `why` names the config
 * fields the shape comes from. */
static semdex_status tensor_get(binder *b, const char *name, size_t rows, size_t cols, const char *why,
                                const model_tensor **out)
{
    char full[256], alt[256];
    snprintf(full, sizeof full, "%s%s", b->prefix, name);
    const model_tensor *t = model_checkpoint_find(b->ck, full);
    if (!t) {
        size_t n = strlen(full);
        if (n > 16 && !strcmp(full + n - 16, "LayerNorm.weight")) {
            snprintf(alt, sizeof alt, "%.*sgamma", (int)(n - 6), full);
            t = model_checkpoint_find(b->ck, alt);
        } else if (n > 14 && !strcmp(full + n - 14, "LayerNorm.bias")) {
            snprintf(alt, sizeof alt, "%.*sbeta", (int)(n - 4), full);
            t = model_checkpoint_find(b->ck, alt);
        }
    }
    if (!t) {
        return sx_err_set(b->err, SEMDEX_ERR_FORMAT, ck_name(b->ck), full, -1,
                          "missing tensor %s (%s needs it)", full, b->cfg->architecture);
    }
    const char *file = model_checkpoint_path(b->ck, t);
    if (t->dtype != MODEL_DTYPE_F32 && t->dtype != MODEL_DTYPE_F16 && t->dtype != MODEL_DTYPE_BF16) {
        return sx_err_set(b->err, SEMDEX_ERR_UNSUPPORTED, file, full, t->header_offset,
                          "dtype %s of tensor %s is not a weight type (F32, F16, BF16)", model_dtype_name(t->dtype),
                          full);
    }
    int ok = cols ? (t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols)
                  : (t->n_dims == 1 && t->shape[0] == rows);
    if (!ok) {
        char got[96] = "[", want[64];
        for (uint32_t i = 0; i < t->n_dims; i++) {
            size_t l = strlen(got);
            snprintf(got + l, sizeof got - l, "%s%llu", i ? ", " : "", (unsigned long long)t->shape[i]);
        }
        strncat(got, "]", sizeof got - strlen(got) - 1);
        if (cols)
            snprintf(want, sizeof want, "[%zu, %zu]", rows, cols);
        else
            snprintf(want, sizeof want, "[%zu]", rows);
        return sx_err_set(b->err, SEMDEX_ERR_FORMAT, file, full, t->header_offset,
                          "tensor %s has shape %s but config.json (%s) says %s", full, got, why, want);
    }
    if (b->dtype == MODEL_DTYPE_COUNT && !b->mixed)
        b->dtype = t->dtype;
    else if (b->dtype != t->dtype) {
        b->mixed = 1;
        b->dtype = MODEL_DTYPE_COUNT;
    }
    b->hash = hash_tensor(b->hash, name, t);
    *out = t;
    return SEMDEX_OK;
}

/* Converts n elements of t (aligned or not) to float32. */
static void convert(const model_tensor *t, float *dst, size_t n, size_t first)
{
    const uint8_t *src = t->data + first * model_dtype_size(t->dtype);
    if (t->dtype == MODEL_DTYPE_F32) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
    uint16_t buf[1024];
    for (size_t i = 0; i < n; i += 1024) {
        size_t k = n - i < 1024 ? n - i : 1024;
        memcpy(buf, src + 2 * i, 2 * k);
        if (t->dtype == MODEL_DTYPE_F16)
            kern_f16_to_f32(buf, dst + i, k);
        else
            kern_bf16_to_f32(buf, dst + i, k);
    }
}

static semdex_status nomem(binder *b) { return sx_err_set(b->err, SEMDEX_ERR_NOMEM, ck_name(b->ck), NULL, -1, "out of memory"); }

static semdex_status vector_get(binder *b, const char *name, size_t n, const char *why, float **out)
{
    const model_tensor *t;
    semdex_status st = tensor_get(b, name, n, 0, why, &t);
    if (st)
        return st;
    *out = sx_malloc(n * sizeof **out);
    if (!*out)
        return nomem(b);
    convert(t, *out, n, 0);
    return SEMDEX_OK;
}

/* Stacks the given [rows_i x cols] tensors into one float32 matrix and packs it. */
static semdex_status matrix_pack(binder *b, const model_tensor *const *parts, size_t n_parts, size_t cols,
                                 model_matrix *m)
{
    size_t rows = 0;
    for (size_t i = 0; i < n_parts; i++)
        rows += (size_t)parts[i]->shape[0];
    float *tmp = sx_malloc(rows * cols * sizeof *tmp);
    if (!tmp)
        return nomem(b);
    size_t r = 0;
    for (size_t i = 0; i < n_parts; i++) {
        convert(parts[i], tmp + r * cols, (size_t)parts[i]->shape[0] * cols, 0);
        r += (size_t)parts[i]->shape[0];
    }
    m->dtype = MODEL_DTYPE_F32;
    m->rows = rows;
    m->cols = cols;
    m->packed = kern_pack_nt_in(b->arena, tmp, rows, cols, cols);
    sx_free(tmp);
    return m->packed ? SEMDEX_OK : nomem(b);
}

static semdex_status linear_get(binder *b, const char *name, size_t rows, size_t cols, const char *why,
                                model_matrix *m, float **bias)
{
    char wn[200], bn[200];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    const model_tensor *w;
    semdex_status st = tensor_get(b, wn, rows, cols, why, &w);
    if (!st)
        st = vector_get(b, bn, rows, why, bias);
    if (!st)
        st = matrix_pack(b, &w, 1, cols, m);
    return st;
}

static semdex_status table_get(binder *b, const char *name, size_t rows, size_t cols, const char *why,
                               model_table *tab)
{
    const model_tensor *t;
    semdex_status st = tensor_get(b, name, rows, cols, why, &t);
    if (st)
        return st;
    tab->dtype = t->dtype;
    tab->rows = rows;
    tab->cols = cols;
    tab->data = t->data;
    size_t es = model_dtype_size(t->dtype);
    if ((uintptr_t)t->data % es) { /* a header of odd length: keep an aligned copy */
        size_t bytes = (size_t)(t->end - t->begin);
        tab->owned = sx_malloc(bytes ? bytes : 1);
        if (!tab->owned)
            return nomem(b);
        memcpy(tab->owned, t->data, bytes);
        tab->data = tab->owned;
    }
    return SEMDEX_OK;
}

static semdex_status layer_bind(binder *b, size_t l, model_layer *L)
{
    const model_config *c = b->cfg;
    size_t D = c->hidden, I = c->intermediate;
    char n[160], n2[160];
    semdex_status st;
    /* query, key, value stacked: one product gives (T, 3D) */
    static const char *const qkv[3] = {"query", "key", "value"};
    const model_tensor *w[3];
    const model_tensor *bias[3];
    for (int i = 0; i < 3; i++) {
        snprintf(n, sizeof n, "encoder.layer.%zu.attention.self.%s.weight", l, qkv[i]);
        snprintf(n2, sizeof n2, "encoder.layer.%zu.attention.self.%s.bias", l, qkv[i]);
        if ((st = tensor_get(b, n, D, D, "hidden_size", &w[i])) || (st = tensor_get(b, n2, D, 0, "hidden_size", &bias[i])))
            return st;
    }
    if ((st = matrix_pack(b, w, 3, D, &L->qkv)))
        return st;
    if (!(L->qkv_bias = sx_malloc(3 * D * sizeof *L->qkv_bias)))
        return nomem(b);
    for (int i = 0; i < 3; i++)
        convert(bias[i], L->qkv_bias + (size_t)i * D, D, 0);

    snprintf(n, sizeof n, "encoder.layer.%zu.attention.output.dense", l);
    if ((st = linear_get(b, n, D, D, "hidden_size", &L->attn_out, &L->attn_out_bias)))
        return st;
    snprintf(n, sizeof n, "encoder.layer.%zu.attention.output.LayerNorm.weight", l);
    snprintf(n2, sizeof n2, "encoder.layer.%zu.attention.output.LayerNorm.bias", l);
    if ((st = vector_get(b, n, D, "hidden_size", &L->ln1_gamma)) || (st = vector_get(b, n2, D, "hidden_size", &L->ln1_beta)))
        return st;
    snprintf(n, sizeof n, "encoder.layer.%zu.intermediate.dense", l);
    if ((st = linear_get(b, n, I, D, "intermediate_size, hidden_size", &L->ffn_in, &L->ffn_in_bias)))
        return st;
    snprintf(n, sizeof n, "encoder.layer.%zu.output.dense", l);
    if ((st = linear_get(b, n, D, I, "hidden_size, intermediate_size", &L->ffn_out, &L->ffn_out_bias)))
        return st;
    snprintf(n, sizeof n, "encoder.layer.%zu.output.LayerNorm.weight", l);
    snprintf(n2, sizeof n2, "encoder.layer.%zu.output.LayerNorm.bias", l);
    if ((st = vector_get(b, n, D, "hidden_size", &L->ln2_gamma)) || (st = vector_get(b, n2, D, "hidden_size", &L->ln2_beta)))
        return st;
    return SEMDEX_OK;
}

/* The prefix under which the checkpoint stores the encoder. */
static const char *prefix_find(const model_checkpoint *ck)
{
    static const char *const prefixes[] = {"", "bert.", "roberta.", "model."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", prefixes[i]);
        if (model_checkpoint_find(ck, name))
            return prefixes[i];
    }
    return "";
}

semdex_status model_encoder_bind(model_encoder *enc, const model_config *cfg, const model_checkpoint *ck,
                                 semdex_error *err)
{
    memset(enc, 0, sizeof *enc);
    enc->cfg = *cfg;
    binder b = {.ck = ck, .cfg = cfg, .prefix = prefix_find(ck), .hash = 0x5EED5EED5EED5EEDull,
                .dtype = MODEL_DTYPE_COUNT, .err = err};
    snprintf(enc->prefix, sizeof enc->prefix, "%s", b.prefix);
    size_t D = cfg->hidden;
    semdex_status st;
    if (!(b.arena = enc->arena = kern_arena_new()))
        return nomem(&b);
    if ((st = table_get(&b, "embeddings.word_embeddings.weight", cfg->vocab_size, D, "vocab_size, hidden_size",
                        &enc->word)) ||
        (st = table_get(&b, "embeddings.position_embeddings.weight", cfg->max_positions, D,
                        "max_position_embeddings, hidden_size", &enc->position)) ||
        (st = table_get(&b, "embeddings.token_type_embeddings.weight", cfg->type_vocab_size, D,
                        "type_vocab_size, hidden_size", &enc->token_type)) ||
        (st = vector_get(&b, "embeddings.LayerNorm.weight", D, "hidden_size", &enc->emb_ln_gamma)) ||
        (st = vector_get(&b, "embeddings.LayerNorm.bias", D, "hidden_size", &enc->emb_ln_beta)))
        goto fail;
    enc->layers = sx_calloc(cfg->n_layers, sizeof *enc->layers);
    if (!enc->layers) {
        st = nomem(&b);
        goto fail;
    }
    for (size_t l = 0; l < cfg->n_layers; l++)
        if ((st = layer_bind(&b, l, &enc->layers[l])))
            goto fail;
    /* a checkpoint with more layers than config.json says is another model */
    char extra[96];
    snprintf(extra, sizeof extra, "%sencoder.layer.%zu.attention.self.query.weight", b.prefix, cfg->n_layers);
    const model_tensor *t = model_checkpoint_find(ck, extra);
    if (t) {
        st = sx_err_set(err, SEMDEX_ERR_FORMAT, model_checkpoint_path(ck, t), extra, t->header_offset,
                        "the checkpoint has more layers than config.json's num_hidden_layers %zu", cfg->n_layers);
        goto fail;
    }
    enc->stored_dtype = b.dtype;
    enc->weights_hash = b.hash;
    return SEMDEX_OK;
fail:
    model_encoder_release(enc);
    return st;
}

static void matrix_release(model_matrix *m) { kern_packed_free(m->packed); }

void model_encoder_release(model_encoder *enc)
{
    if (!enc)
        return;
    if (enc->layers)
        for (size_t l = 0; l < enc->cfg.n_layers; l++) {
            model_layer *L = &enc->layers[l];
            matrix_release(&L->qkv);
            matrix_release(&L->attn_out);
            matrix_release(&L->ffn_in);
            matrix_release(&L->ffn_out);
            sx_free(L->qkv_bias);
            sx_free(L->attn_out_bias);
            sx_free(L->ln1_gamma);
            sx_free(L->ln1_beta);
            sx_free(L->ffn_in_bias);
            sx_free(L->ffn_out_bias);
            sx_free(L->ln2_gamma);
            sx_free(L->ln2_beta);
        }
    sx_free(enc->layers);
    sx_free(enc->word.owned);
    sx_free(enc->position.owned);
    sx_free(enc->token_type.owned);
    sx_free(enc->emb_ln_gamma);
    sx_free(enc->emb_ln_beta);
    kern_arena_free(enc->arena); /* after the matrices carved from it */
    memset(enc, 0, sizeof *enc);
}

/* ------------------------------------------------------------- operations */

void model_matrix_mul(const model_matrix *w, size_t M, const float *x, float *out, const float *bias, kern_pool *pool)
{
    /* only float32 for now; a quantized dtype dispatches here */
    kern_sgemm_packed(M, x, w->cols, w->packed, out, w->rows, bias, pool);
}

void model_table_row(const model_table *t, size_t r, float *out)
{
    const uint8_t *src = t->data + r * t->cols * model_dtype_size(t->dtype);
    switch (t->dtype) {
    case MODEL_DTYPE_F16:
        kern_f16_to_f32((const uint16_t *)(const void *)src, out, t->cols);
        break;
    case MODEL_DTYPE_BF16:
        kern_bf16_to_f32((const uint16_t *)(const void *)src, out, t->cols);
        break;
    default:
        memcpy(out, src, t->cols * sizeof *out);
        break;
    }
}
