/* model.c: the vocabulary shared by every model, model dispatch, and the
 * WordPiece model (greedy longest-match-first, as BERT's). */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <string.h>

int tok_vocab_add(tok_vocab *v, const char *s, size_t n, int32_t id)
{
    if (id < 0)
        return -1;
    const char *stored;
    int r = sx_strmap_put(&v->map, s, n, id, &stored);
    if (r < 0)
        return -1;
    if ((size_t)id >= v->n) {
        /* the tables' capacity: 1024 doubled until it holds n (entries
         * past n are kept zeroed) */
        size_t need = (size_t)id + 1, cap = v->tokens ? 1024 : 0;
        while (cap && cap < v->n)
            cap *= 2;
        if (need > cap) {
            size_t ncap = cap ? cap : 1024;
            while (ncap < need)
                ncap *= 2;
            /* tokens and lens grow together; capacity tracked by ncap */
            char **t = sx_realloc(v->tokens, ncap * sizeof *t);
            if (!t)
                return -1;
            v->tokens = t;
            uint32_t *l = sx_realloc(v->lens, ncap * sizeof *l);
            if (!l)
                return -1;
            v->lens = l;
            memset(v->tokens + v->n, 0, (ncap - v->n) * sizeof *t);
            memset(v->lens + v->n, 0, (ncap - v->n) * sizeof *l);
        }
        v->n = need;
    }
    if (!v->tokens[id]) {
        v->tokens[id] = (char *)stored;
        v->lens[id] = (uint32_t)n;
    }
    return 0;
}

int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t n)
{
    int32_t id;
    return sx_strmap_get(&v->map, s, n, &id) ? id : -1;
}

void tok_vocab_free(tok_vocab *v)
{
    sx_free(v->tokens);
    sx_free(v->lens);
    sx_strmap_free(&v->map);
    memset(v, 0, sizeof *v);
}

int tok_wordpiece_load(const json_value *model, tok_model *m, semdex_error *err)
{
    m->type = TOK_MODEL_WORDPIECE;
    const json_value *vocab = json_get(model, "vocab");
    if (!json_is_obj(vocab))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", model ? (int64_t)model->offset : -1,
                          "WordPiece model needs a \"vocab\" object"), -1;
    if (sx_strmap_reserve(&m->vocab.map, vocab->n))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1;
    for (uint32_t i = 0; i < vocab->n; i++) {
        const json_value *k = json_obj_key(vocab, i), *id = json_obj_val(vocab, i);
        int64_t idv;
        if (!json_int_in(id, 0, TOK_MAX_ID, &idv))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", (int64_t)id->offset,
                              "vocabulary ids must be integers from 0 to %d", TOK_MAX_ID), -1;
        if (tok_vocab_add(&m->vocab, k->u.str, k->n, (int32_t)idv))
            return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1;
    }
    const json_value *unk = json_get(model, "unk_token");
    const char *unk_s = json_is_str(unk) ? unk->u.str : "[UNK]";
    m->unk_id = tok_vocab_find(&m->vocab, unk_s, strlen(unk_s));
    m->wp.unk_id = m->unk_id;
    if (m->unk_id < 0)
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.unk_token", unk ? (int64_t)unk->offset : -1,
                          "unk_token \"%s\" is not in the vocabulary", unk_s), -1;
    const json_value *pre = json_get(model, "continuing_subword_prefix");
    const char *ps = json_is_str(pre) ? pre->u.str : "##";
    m->wp.prefix_len = json_is_str(pre) ? pre->n : 2;
    m->wp.prefix = sx_strndup(ps, m->wp.prefix_len);
    if (!m->wp.prefix)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1;
    const json_value *mx = json_get(model, "max_input_chars_per_word");
    int64_t mxv = 100;
    if (!json_is_null(mx) && !json_int_in(mx, 0, INT32_MAX, &mxv))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.max_input_chars_per_word", (int64_t)mx->offset,
                          "max_input_chars_per_word must be a non-negative integer"), -1;
    m->wp.max_input_chars_per_word = (size_t)mxv;
    return 0;
}

int tok_wordpiece_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err)
{
    const char *s = ns->s;
    size_t n = ns->len;
    size_t nchars = 0;
    for (size_t i = 0; i < n; i++)
        nchars += ((unsigned char)s[i] & 0xC0) != 0x80;
    size_t first = w->toks.n;
    if (nchars > m->wp.max_input_chars_per_word)
        goto unk;
    char buf[512];
    size_t pl = m->wp.prefix_len;
    size_t start = 0;
    while (start < n) {
        size_t end = n;
        int32_t id = -1;
        /* no vocabulary entry is longer than the buffer allows; longer
         * candidates cannot match, so skip them */
        while (start < end) {
            size_t len = end - start;
            if (start > 0 && len + pl <= sizeof buf) {
                memcpy(buf, m->wp.prefix, pl);
                memcpy(buf + pl, s + start, len);
                id = tok_vocab_find(&m->vocab, buf, pl + len);
            } else if (start == 0) {
                id = tok_vocab_find(&m->vocab, s, len);
            }
            if (id >= 0)
                break;
            /* drop the last character */
            end--;
            while (end > start && ((unsigned char)s[end] & 0xC0) == 0x80)
                end--;
        }
        if (id < 0)
            goto unk;
        if (tok_tokens_push(&w->toks, id, (uint32_t)start, (uint32_t)end))
            return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1;
        start = end;
    }
    return 0;
unk:
    w->toks.n = first;
    if (tok_tokens_push(&w->toks, m->wp.unk_id, 0, (uint32_t)n))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1;
    return 0;
}

int tok_model_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err)
{
    switch (m->type) {
    case TOK_MODEL_WORDPIECE: return tok_wordpiece_tokenize(m, ns, w, err);
    case TOK_MODEL_UNIGRAM: return tok_unigram_tokenize(m, ns, w, err);
    case TOK_MODEL_BPE: return tok_bpe_tokenize(m, ns, w, err);
    case TOK_MODEL_WORDLEVEL: {
        int32_t id = tok_vocab_find(&m->vocab, ns->s, ns->len);
        if (id < 0)
            id = m->unk_id;
        if (id < 0)
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.unk_token", -1,
                              "word not in vocabulary and no unk_token"), -1;
        return tok_tokens_push(&w->toks, id, 0, (uint32_t)ns->len)
                   ? (sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1) : 0;
    }
    case TOK_MODEL_TYPE_COUNT: break;
    }
    return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "model.type", -1, "unsupported model"), -1;
}
