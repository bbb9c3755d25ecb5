/* encoder.c: the forward pass of a BERT / XLM-RoBERTa encoder over a packed
 * batch: all tokens of all sequences are rows of one matrix (T, D), so the
 * dense layers (QKV, output projection, FFN) are single products with no
 * padding; only attention looks at sequence boundaries (attention.c).  Per
 * layer, as transformers computes it (post-norm):
 *   qkv = x Wqkv^T + b;  ctx = attention(qkv);  a = LN(ctx Wo^T + bo + x)
 *   x = LN(act(a Wi^T + bi) Wf^T + bf + a)
 * All scratch is in the caller's model_ws; nothing is allocated here.
 * Knows nothing of tokenizers, pooling or files. */
#include "model_int.h"
#include "alloc.h"
#include <string.h>

void model_positions(const model_config *cfg, const int32_t *ids, size_t n, int32_t *pos)
{
    if (cfg->arch == MODEL_ARCH_BERT) {
        for (size_t i = 0; i < n; i++)
            pos[i] = (int32_t)i;
        return;
    }
    /* create_position_ids_from_input_ids: padding_idx + cumsum(non-pad) for
     * non-pad tokens, padding_idx for pad tokens */
    int32_t pad = (int32_t)cfg->pad_token_id, count = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] != pad)
            count++;
        pos[i] = ids[i] != pad ? pad + count : pad;
    }
}

/* ------------------------------------------------------------ workspace */

int model_ws_reserve(model_ws *ws, const model_config *cfg, size_t n_tokens, size_t n_seqs, size_t n_slots)
{
    if (n_tokens <= ws->cap_tokens && n_seqs <= ws->cap_seqs && n_slots <= ws->n_slots)
        return 0;
    /* grow by doubling so that a run of slightly larger batches reallocates rarely */
    size_t cap = ws->cap_tokens, seqs = ws->cap_seqs;
    if (n_tokens > cap)
        cap = n_tokens > 2 * cap ? n_tokens : 2 * cap;
    if (n_seqs > seqs)
        seqs = n_seqs > 2 * seqs ? n_seqs : 2 * seqs;
    size_t D = cfg->hidden, I = cfg->intermediate;
    if (cap > SIZE_MAX / sizeof(float) / (6 * D + I + 1) || seqs > SIZE_MAX / sizeof(float) / (32 * D + 1))
        return -1;
    model_ws n = {0};
    n.cap_tokens = cap;
    n.cap_seqs = seqs;
    n.n_slots = n_slots > ws->n_slots ? n_slots : ws->n_slots;
    n.x = sx_malloc(cap * D * sizeof(float));
    n.qkv = sx_malloc(cap * 3 * D * sizeof(float));
    n.ctx = sx_malloc(cap * D * sizeof(float));
    n.tmp = sx_malloc(cap * D * sizeof(float));
    n.ffn = sx_malloc(cap * I * sizeof(float));
    n.kt = sx_malloc(model_attention_kt_floats(cap, seqs, D) * sizeof(float));
    n.attn = sx_malloc(n.n_slots * model_attention_scratch_floats(D / cfg->n_heads) * sizeof(float));
    if (!n.x || !n.qkv || !n.ctx || !n.tmp || !n.ffn || !n.kt || !n.attn) {
        model_ws_release(&n);
        return -1;
    }
    model_ws_release(ws);
    *ws = n;
    return 0;
}

void model_ws_release(model_ws *ws)
{
    sx_free(ws->x);
    sx_free(ws->qkv);
    sx_free(ws->ctx);
    sx_free(ws->tmp);
    sx_free(ws->ffn);
    sx_free(ws->kt);
    sx_free(ws->attn);
    memset(ws, 0, sizeof *ws);
}

/* ------------------------------------------------- row-parallel helpers */

typedef struct rows_job {
    float *x;
    const float *res;
    size_t rows, dim, per_task;
    const float *gamma, *beta;
    float eps;
    model_act act;
} rows_job;

static void layernorm_task(void *ctx, size_t i)
{
    const rows_job *j = ctx;
    size_t r0 = i * j->per_task, n = j->rows - r0 < j->per_task ? j->rows - r0 : j->per_task;
    kern_add_layernorm(j->x + r0 * j->dim, j->res ? j->res + r0 * j->dim : NULL, n, j->dim, j->gamma, j->beta,
                       j->eps);
}

static void act_task(void *ctx, size_t i)
{
    const rows_job *j = ctx;
    size_t r0 = i * j->per_task, n = j->rows - r0 < j->per_task ? j->rows - r0 : j->per_task;
    float *x = j->x + r0 * j->dim;
    size_t len = n * j->dim;
    switch (j->act) {
    case MODEL_ACT_GELU_ERF:
        kern_gelu_erf(x, len);
        break;
    case MODEL_ACT_GELU_TANH:
        kern_gelu_tanh(x, len);
        break;
    case MODEL_ACT_RELU:
    case MODEL_ACT_COUNT:
        for (size_t k = 0; k < len; k++)
            x[k] = x[k] > 0 ? x[k] : 0;
        break;
    }
}

/* Splits rows into tasks of about 16K elements. */
static void rows_run(kern_pool *pool, void (*fn)(void *, size_t), rows_job *j)
{
    j->per_task = (16384 + j->dim - 1) / j->dim;
    size_t tasks = (j->rows + j->per_task - 1) / j->per_task;
    kern_pool_run(pool, fn, j, tasks);
}

static void layernorm(kern_pool *pool, float *x, const float *res, size_t rows, size_t dim, const float *g,
                      const float *b, float eps)
{
    rows_job j = {.x = x, .res = res, .rows = rows, .dim = dim, .gamma = g, .beta = b, .eps = eps};
    rows_run(pool, layernorm_task, &j);
}

/* ---------------------------------------------------------------- forward */

static void embed(const model_encoder *enc, const model_batch *b, float *x, float *row)
{
    size_t D = enc->cfg.hidden;
    for (size_t t = 0; t < b->n_tokens; t++) {
        float *xt = x + t * D;
        model_table_row(&enc->word, (size_t)b->ids[t], xt);
        model_table_row(&enc->token_type, (size_t)b->types[t], row);
        for (size_t d = 0; d < D; d++)
            xt[d] += row[d];
        model_table_row(&enc->position, (size_t)b->positions[t], row);
        for (size_t d = 0; d < D; d++)
            xt[d] += row[d];
    }
}

void model_encoder_forward(const model_encoder *enc, const model_batch *b, model_ws *ws, kern_pool *pool,
                           model_layer_fn cb, void *cb_ctx)
{
    const model_config *c = &enc->cfg;
    size_t T = b->n_tokens, D = c->hidden, I = c->intermediate;
    if (!T)
        return;
    float *x = ws->x;    /* (T, D) */
    embed(enc, b, x, ws->tmp);
    layernorm(pool, x, NULL, T, D, enc->emb_ln_gamma, enc->emb_ln_beta, c->layer_norm_eps);
    if (cb)
        cb(cb_ctx, 0, x, T, D);
    for (size_t l = 0; l < c->n_layers; l++) {
        const model_layer *L = &enc->layers[l];
        model_matrix_mul(&L->qkv, T, x, ws->qkv, L->qkv_bias, pool);              /* (T, 3D) */
        model_attention(b, ws->qkv, ws->ctx, D, c->n_heads, ws->attn, ws->kt, ws->n_slots, pool); /* (T, D) */
        model_matrix_mul(&L->attn_out, T, ws->ctx, ws->tmp, L->attn_out_bias, pool);  /* (T, D) */
        layernorm(pool, ws->tmp, x, T, D, L->ln1_gamma, L->ln1_beta, c->layer_norm_eps);
        model_matrix_mul(&L->ffn_in, T, ws->tmp, ws->ffn, L->ffn_in_bias, pool);      /* (T, I) */
        rows_job aj = {.x = ws->ffn, .rows = T, .dim = I, .act = c->act};
        rows_run(pool, act_task, &aj);
        model_matrix_mul(&L->ffn_out, T, ws->ffn, x, L->ffn_out_bias, pool);          /* (T, D) */
        layernorm(pool, x, ws->tmp, T, D, L->ln2_gamma, L->ln2_beta, c->layer_norm_eps);
        if (cb)
            cb(cb_ctx, l + 1, x, T, D);
    }
}
