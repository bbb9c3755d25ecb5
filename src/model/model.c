/* model.c: the public model API (semdex_model_*): loading a model directory
 * (sentence-transformers files, config.json, checkpoint, tokenizer), the
 * truncation length, prompts, and semdex_model_embed: tokenize, pack into
 * forward passes of bounded size, run the encoder, pool, normalize.
 * Per-call scratch (tokenizer encoding, packed ids, forward workspace)
 * lives in a free list guarded by a mutex, so concurrent calls are safe and
 * a warm call allocates nothing.  Knows nothing of the store or of the
 * command line. */
#include "model_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Tokens per forward pass (at least one whole input): bounds the
 * workspace, e.g. 8192 x (6 x 1024 + 4096) floats = 330 MB for bge-m3. */
#define PASS_TOKENS 8192

typedef struct model_call model_call;
struct model_call {
    model_call *next;
    semdex_encoding enc;
    model_ws ws;
    int32_t *ids, *types, *pos; /* (T) packed inputs of one pass */
    size_t cap_tok;
    size_t *seq_start;          /* (n + 1) */
    size_t *seq_input;          /* (n) which input each sequence is */
    size_t cap_seq;
    char *text;                 /* prompt + text, lowercased when asked */
    size_t cap_text;
};

struct semdex_model {
    char *dir;
    model_config cfg;
    model_st_config st;
    model_checkpoint ck;
    model_encoder enc;
    semdex_tokenizer *tok;
    kern_pool *pool;
    size_t max_length, dim;
    char pooling_name[96];
    char notes[1024];
    semdex_model_info info;
    pthread_mutex_t lock;
    model_call *free_calls;
};

semdex_model_options semdex_model_options_default(void)
{
    semdex_model_options o = {0};
    return o;
}

semdex_embed_options semdex_embed_options_default(void)
{
    semdex_embed_options o = {.prompt_name = NULL, .normalize = -1, .batch_size = 32};
    return o;
}

static void note(semdex_model *m, const char *s)
{
    size_t n = strlen(m->notes);
    snprintf(m->notes + n, sizeof m->notes - n, "%s%s", n ? "; " : "", s);
}

/* ------------------------------------------------------------------ load */

static semdex_status limits_set(semdex_model *m, semdex_error *err)
{
    /* positions available after the offset RoBERTa reserves for padding */
    size_t cap = m->cfg.max_positions - m->cfg.position_offset;
    size_t ml = m->st.max_seq_length ? m->st.max_seq_length : m->st.model_max_length ? m->st.model_max_length : cap;
    if (ml > cap) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s %zu exceeds the %zu positions of the model: inputs are truncated at %zu",
                 m->st.max_seq_length ? "max_seq_length" : "model_max_length", ml, cap, cap);
        note(m, buf);
        ml = cap;
    }
    m->max_length = ml;
    const model_pooling *p = &m->st.pooling;
    if (p->dimension && p->dimension != m->cfg.hidden) {
        return sx_err_set(err, SEMDEX_ERR_FORMAT, "1_Pooling/config.json", "embedding_dimension", -1,
                          "embedding_dimension %zu does not match config.json hidden_size %zu", p->dimension,
                          m->cfg.hidden);
    }
    m->dim = p->n_modes * m->cfg.hidden;
    m->pooling_name[0] = 0;
    for (size_t i = 0; i < p->n_modes; i++) {
        size_t n = strlen(m->pooling_name);
        snprintf(m->pooling_name + n, sizeof m->pooling_name - n, "%s%s", i ? "+" : "", model_pool_name(p->modes[i]));
    }
    return SEMDEX_OK;
}

static void info_fill(semdex_model *m)
{
    semdex_model_info *i = &m->info;
    i->path = m->dir;
    i->architecture = m->cfg.architecture;
    i->dim = m->dim;
    i->hidden = m->cfg.hidden;
    i->n_layers = m->cfg.n_layers;
    i->n_heads = m->cfg.n_heads;
    i->intermediate = m->cfg.intermediate;
    i->vocab_size = m->cfg.vocab_size;
    i->max_length = m->max_length;
    i->pooling = m->pooling_name;
    i->normalize = m->st.normalize;
    i->weight_dtype = model_dtype_torch_name(m->enc.stored_dtype);
    i->n_prompts = m->st.n_prompts;
    i->prompt_names = (const char *const *)m->st.prompt_names;
    i->prompts = (const char *const *)m->st.prompts;
    i->default_prompt_name = m->st.default_prompt_name;
    i->notes = m->notes;
    i->weights_hash = m->enc.weights_hash;
}

semdex_status semdex_model_load(const char *dir, const semdex_model_options *opts, semdex_model **out,
                                semdex_error *err)
{
    if (out)
        *out = NULL;
    if (!dir || !out)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "NULL argument");
    semdex_model_options o = opts ? *opts : semdex_model_options_default();
    semdex_model *m = sx_calloc(1, sizeof *m);
    if (!m)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    char *tdir = NULL, *cfg_path = NULL;
    semdex_status st = SEMDEX_OK;
    m->dir = sx_strndup(dir, strlen(dir));
    if (!m->dir) {
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "out of memory");
        goto fail;
    }
    if ((st = model_st_config_load(dir, &m->st, err)))
        goto fail;
    if (m->st.notes[0])
        note(m, m->st.notes);
    tdir = model_path_join(dir, m->st.transformer_path);
    cfg_path = tdir ? model_path_join(tdir, "config.json") : NULL;
    if (!cfg_path) {
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "out of memory");
        goto fail;
    }
    if ((st = model_config_load(cfg_path, &m->cfg, err)) || (st = model_checkpoint_open(tdir, &m->ck, err)) ||
        (st = model_encoder_bind(&m->enc, &m->cfg, &m->ck, err)) ||
        (st = semdex_tokenizer_load(tdir, &m->tok, err)) || (st = limits_set(m, err)))
        goto fail;
    if (semdex_tokenizer_vocab_size(m->tok) > m->cfg.vocab_size)
        note(m, "the tokenizer knows more ids than config.json's vocab_size: inputs that use them are refused");
    m->pool = kern_pool_new(o.n_threads);
    if (!m->pool) {
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "cannot start the thread pool");
        goto fail;
    }
    info_fill(m);
    sx_free(tdir);
    sx_free(cfg_path);
    *out = m;
    return SEMDEX_OK;
fail:
    sx_free(tdir);
    sx_free(cfg_path);
    semdex_model_free(m);
    return st;
}

static void call_free(model_call *c)
{
    semdex_encoding_free(&c->enc);
    model_ws_release(&c->ws);
    sx_free(c->ids);
    sx_free(c->types);
    sx_free(c->pos);
    sx_free(c->seq_start);
    sx_free(c->seq_input);
    sx_free(c->text);
    sx_free(c);
}

void semdex_model_free(semdex_model *m)
{
    if (!m)
        return;
    while (m->free_calls) {
        model_call *c = m->free_calls;
        m->free_calls = c->next;
        call_free(c);
    }
    kern_pool_free(m->pool);
    semdex_tokenizer_free(m->tok);
    model_encoder_release(&m->enc);
    model_checkpoint_close(&m->ck);
    model_st_config_free(&m->st);
    pthread_mutex_destroy(&m->lock);
    sx_free(m->dir);
    sx_free(m);
}

const semdex_model_info *semdex_model_get_info(const semdex_model *model) { return model ? &model->info : NULL; }
const semdex_tokenizer *semdex_model_tokenizer(const semdex_model *model) { return model ? model->tok : NULL; }

/* ----------------------------------------------------------- call scratch */

static model_call *call_acquire(semdex_model *m)
{
    pthread_mutex_lock(&m->lock);
    model_call *c = m->free_calls;
    if (c)
        m->free_calls = c->next;
    pthread_mutex_unlock(&m->lock);
    return c ? c : sx_calloc(1, sizeof *c);
}

static void call_release(semdex_model *m, model_call *c)
{
    pthread_mutex_lock(&m->lock);
    c->next = m->free_calls;
    m->free_calls = c;
    pthread_mutex_unlock(&m->lock);
}

static int call_reserve(model_call *c, size_t n_tok, size_t n_seq)
{
    if (n_tok > c->cap_tok) {
        size_t cap = n_tok > 2 * c->cap_tok ? n_tok : 2 * c->cap_tok;
        int32_t *a = sx_realloc(c->ids, cap * sizeof *a);
        if (!a)
            return -1;
        c->ids = a;
        if (!(a = sx_realloc(c->types, cap * sizeof *a)))
            return -1;
        c->types = a;
        if (!(a = sx_realloc(c->pos, cap * sizeof *a)))
            return -1;
        c->pos = a;
        c->cap_tok = cap;
    }
    if (n_seq + 1 > c->cap_seq) {
        size_t cap = n_seq + 1 > 2 * c->cap_seq ? n_seq + 1 : 2 * c->cap_seq;
        size_t *s = sx_realloc(c->seq_start, cap * sizeof *s);
        if (!s)
            return -1;
        c->seq_start = s;
        if (!(s = sx_realloc(c->seq_input, cap * sizeof *s)))
            return -1;
        c->seq_input = s;
        c->cap_seq = cap;
    }
    return 0;
}

/* -------------------------------------------------------------- embedding */

typedef struct embed_ctx {
    semdex_model *m;
    model_call *c;
    const char *prompt;
    size_t prompt_len;
    size_t skip;      /* prompt tokens excluded from pooling */
    int normalize;
    semdex_embeddings *out;
    semdex_error *err;
} embed_ctx;

/* Python's str.lower() of s (valid UTF-8), appended to c->text at *n. */
static int lower_append(model_call *c, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        int l;
        uint32_t cp = sx_utf8_decode(s + i, &l), low[3];
        int k = sx_uni_to_lower(cp, low);
        if (SX_GROW(c->text, c->cap_text, *n + 12 + 1))
            return -1;
        for (int j = 0; j < k; j++)
            *n += (size_t)sx_utf8_encode(low[j], c->text + *n);
        i += (size_t)l;
    }
    return 0;
}

/* The text the tokenizer sees: prompt + text, lowercased when the model says. */
static semdex_status input_text(embed_ctx *e, size_t idx, const char *text, size_t len, const char **s, size_t *n)
{
    model_call *c = e->c;
    int lower = e->m->st.do_lower_case;
    if (!e->prompt_len && !lower) {
        *s = text;
        *n = len;
        return SEMDEX_OK;
    }
    size_t bad = sx_utf8_validate(text, len);
    if (bad < len)
        return sx_err_set(e->err, SEMDEX_ERR_UTF8, NULL, "text", (int64_t)bad, "input %zu: invalid UTF-8 at byte %zu",
                          idx, bad);
    size_t k = 0;
    if (lower) {
        if (lower_append(c, &k, e->prompt, e->prompt_len) || lower_append(c, &k, text, len))
            return sx_err_set(e->err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    } else {
        if (SX_GROW(c->text, c->cap_text, e->prompt_len + len + 1))
            return sx_err_set(e->err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
        memcpy(c->text, e->prompt, e->prompt_len);
        if (len)
            memcpy(c->text + e->prompt_len, text, len);
        k = e->prompt_len + len;
    }
    *s = c->text;
    *n = k;
    return SEMDEX_OK;
}

/* Runs the encoder on the sequences packed so far and pools them. */
static void pass_run(embed_ctx *e, size_t n_seqs)
{
    semdex_model *m = e->m;
    model_call *c = e->c;
    model_batch b = {.n_seqs = n_seqs, .n_tokens = c->seq_start[n_seqs], .ids = c->ids, .types = c->types,
                     .positions = c->pos, .seq_start = c->seq_start};
    model_encoder_forward(&m->enc, &b, &c->ws, m->pool, NULL, NULL);
    size_t D = m->cfg.hidden;
    for (size_t s = 0; s < n_seqs; s++) {
        float *v = e->out->vectors + c->seq_input[s] * m->dim;
        size_t L = c->seq_start[s + 1] - c->seq_start[s];
        model_pool_sequence(&m->st.pooling, c->ws.x + c->seq_start[s] * D, L, D, e->skip, v);
        if (e->normalize)
            model_l2_normalize(v, m->dim);
    }
}

static semdex_status ws_grow(embed_ctx *e, size_t n_tokens, size_t n_seqs)
{
    if (model_ws_reserve(&e->c->ws, &e->m->cfg, n_tokens, n_seqs, (size_t)kern_pool_size(e->m->pool)))
        return sx_err_set(e->err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory for a forward pass of %zu tokens",
                          n_tokens);
    return SEMDEX_OK;
}

/* Tokenizes inputs [i0, i0 + n) and embeds them in passes of at most
 * PASS_TOKENS tokens (one input may exceed that alone). */
static semdex_status embed_batch(embed_ctx *e, const char *const *texts, const size_t *lens, size_t i0, size_t n)
{
    semdex_model *m = e->m;
    model_call *c = e->c;
    semdex_encode_options eo = semdex_encode_options_default();
    eo.max_length = m->max_length;
    size_t budget = m->max_length > PASS_TOKENS ? m->max_length : PASS_TOKENS;
    size_t k = 0, T = 0;
    semdex_status st;
    if (call_reserve(c, 1, n))
        return sx_err_set(e->err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    c->seq_start[0] = 0;
    for (size_t i = i0; i < i0 + n; i++) {
        const char *s;
        size_t len;
        if ((st = input_text(e, i, texts[i] ? texts[i] : "", lens[i], &s, &len)))
            return st;
        semdex_error te = {0};
        if ((st = semdex_tokenizer_encode(m->tok, s, len, NULL, 0, &eo, &c->enc, &te))) {
            int64_t off = te.offset >= (int64_t)e->prompt_len ? te.offset - (int64_t)e->prompt_len : te.offset;
            return sx_err_set(e->err, st, NULL, "text", off, "input %zu: %s", i, te.message);
        }
        const semdex_encoding *enc = &c->enc;
        e->out->n_tokens[i] = enc->n;
        e->out->n_truncated[i] = enc->n_truncated;
        if (k && T + enc->n > budget) {
            if ((st = ws_grow(e, T, k)))
                return st;
            pass_run(e, k);
            k = 0;
            T = 0;
        }
        if (call_reserve(c, T + enc->n, k + 1))
            return sx_err_set(e->err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
        for (size_t t = 0; t < enc->n; t++) {
            if (enc->ids[t] < 0 || (size_t)enc->ids[t] >= m->cfg.vocab_size)
                return sx_err_set(e->err, SEMDEX_ERR_FORMAT, NULL, "vocab_size", -1,
                                  "input %zu: token id %d is outside config.json's vocab_size %zu", i, enc->ids[t],
                                  m->cfg.vocab_size);
            uint32_t type = m->cfg.arch == MODEL_ARCH_BERT ? enc->type_ids[t] : 0;
            c->ids[T + t] = enc->ids[t];
            c->types[T + t] = (int32_t)(type < m->cfg.type_vocab_size ? type : 0);
        }
        model_positions(&m->cfg, c->ids + T, enc->n, c->pos + T);
        c->seq_input[k] = i;
        T += enc->n;
        c->seq_start[++k] = T;
    }
    if (k) {
        if ((st = ws_grow(e, T, k)))
            return st;
        pass_run(e, k);
    }
    return SEMDEX_OK;
}

static semdex_status prompt_resolve(semdex_model *m, const char *name, const char **prompt, semdex_error *err)
{
    *prompt = NULL;
    if (!name)
        name = m->st.default_prompt_name;
    if (!name)
        return SEMDEX_OK;
    for (size_t i = 0; i < m->st.n_prompts; i++)
        if (!strcmp(m->st.prompt_names[i], name)) {
            *prompt = m->st.prompts[i];
            return SEMDEX_OK;
        }
    char known[200] = "";
    for (size_t i = 0; i < m->st.n_prompts; i++) {
        size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", m->st.prompt_names[i]);
    }
    return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, "config_sentence_transformers.json", "prompt_name", -1,
                      "unknown prompt name \"%.64s\" (the model has: %s)", name, known[0] ? known : "none");
}

/* Tokens of the prompt that pooling leaves out with include_prompt false:
 * sentence-transformers counts the tokenized prompt minus one (its last
 * special token). */
static semdex_status prompt_skip(embed_ctx *e)
{
    e->skip = 0;
    if (!e->prompt || e->m->st.pooling.include_prompt)
        return SEMDEX_OK;
    const char *s;
    size_t n;
    semdex_status st = input_text(e, 0, "", 0, &s, &n);
    if (st)
        return st;
    semdex_encode_options eo = semdex_encode_options_default();
    eo.max_length = e->m->max_length;
    semdex_error te = {0};
    if ((st = semdex_tokenizer_encode(e->m->tok, s, n, NULL, 0, &eo, &e->c->enc, &te)))
        return sx_err_set(e->err, st, "config_sentence_transformers.json", "prompts", -1, "prompt: %s", te.message);
    e->skip = e->c->enc.n ? e->c->enc.n - 1 : 0;
    return SEMDEX_OK;
}

static int embeddings_reserve(semdex_embeddings *out, size_t n, size_t dim)
{
    if (n > out->cap || dim != out->dim) {
        size_t cap = n > out->cap ? n : out->cap;
        if (cap && dim > SIZE_MAX / sizeof(float) / cap)
            return -1;
        float *v = sx_realloc(out->vectors, (cap ? cap : 1) * dim * sizeof *v);
        if (!v)
            return -1;
        out->vectors = v;
        size_t *a = sx_realloc(out->n_tokens, (cap ? cap : 1) * sizeof *a);
        if (!a)
            return -1;
        out->n_tokens = a;
        if (!(a = sx_realloc(out->n_truncated, (cap ? cap : 1) * sizeof *a)))
            return -1;
        out->n_truncated = a;
        out->cap = cap;
        out->dim = dim;
    }
    return 0;
}

semdex_status semdex_model_embed(semdex_model *model, const char *const *texts, const size_t *lens, size_t n,
                                 const semdex_embed_options *opts, semdex_embeddings *out, semdex_error *err)
{
    if (!model || !out || (n && (!texts || !lens)))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!texts[i] && lens[i])
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "texts", -1, "input %zu is NULL", i);
    semdex_embed_options o = opts ? *opts : semdex_embed_options_default();
    embed_ctx e = {.m = model, .out = out, .err = err};
    semdex_status st = prompt_resolve(model, o.prompt_name, &e.prompt, err);
    if (st)
        return st;
    e.prompt_len = e.prompt ? strlen(e.prompt) : 0;
    e.normalize = o.normalize < 0 ? model->st.normalize : o.normalize != 0;
    size_t bs = o.batch_size ? o.batch_size : 32;
    if (embeddings_reserve(out, n, model->dim))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory for %zu embeddings", n);
    out->n = 0;
    e.c = call_acquire(model);
    if (!e.c)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    st = prompt_skip(&e);
    for (size_t i0 = 0; i0 < n && !st; i0 += bs)
        st = embed_batch(&e, texts, lens, i0, n - i0 < bs ? n - i0 : bs);
    call_release(model, e.c);
    if (!st)
        out->n = n;
    return st;
}

void semdex_embeddings_free(semdex_embeddings *e)
{
    if (!e)
        return;
    sx_free(e->vectors);
    sx_free(e->n_tokens);
    sx_free(e->n_truncated);
    memset(e, 0, sizeof *e);
}

/* --------------------------------------------------------------- testing */

semdex_status model_forward_ids(semdex_model *m, const int32_t *ids, size_t n, model_layer_fn cb, void *cb_ctx,
                                semdex_error *err)
{
    if (!m || (!ids && n))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "NULL argument");
    if (n > m->cfg.max_positions - m->cfg.position_offset)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, -1, "%zu ids exceed the model's positions", n);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= m->cfg.vocab_size)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, (int64_t)i, "id %d out of range", ids[i]);
    model_call *c = call_acquire(m);
    if (!c || call_reserve(c, n ? n : 1, 1) ||
        model_ws_reserve(&c->ws, &m->cfg, n, 1, (size_t)kern_pool_size(m->pool))) {
        if (c)
            call_release(m, c);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    }
    memcpy(c->ids, ids, n * sizeof *ids);
    memset(c->types, 0, n * sizeof *c->types);
    model_positions(&m->cfg, c->ids, n, c->pos);
    c->seq_start[0] = 0;
    c->seq_start[1] = n;
    model_batch b = {.n_seqs = 1, .n_tokens = n, .ids = c->ids, .types = c->types, .positions = c->pos,
                     .seq_start = c->seq_start};
    model_encoder_forward(&m->enc, &b, &c->ws, m->pool, cb, cb_ctx);
    call_release(m, c);
    return SEMDEX_OK;
}
