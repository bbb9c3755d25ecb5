/* tokenizer.c: loading a tokenizer (tokenizer.json, or vocab.txt with
 * tokenizer_config.json) and running the pipeline for one text or pair:
 * added tokens -> normalizer -> pre-tokenizer -> model -> truncation ->
 * post-processor.  This is the public face of src/tok (semdex_tokenizer_*). */
#include "tok_int.h"
#include "added.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int nomem(semdex_error *err)
{
    sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    return -1;
}

/* ------------------------------------------------------------- loading */

/* id -> special flag, so that marking special tokens costs one load. */
static int build_special_table(semdex_tokenizer *t, semdex_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].special && (size_t)t->added[i].id + 1 > n)
            n = (size_t)t->added[i].id + 1;
    if (!n)
        return 0;
    t->special_by_id = sx_calloc(n, 1);
    if (!t->special_by_id)
        return nomem(err);
    t->n_special_by_id = n;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].special)
            t->special_by_id[t->added[i].id] = 1;
    return 0;
}

static int load_added(semdex_tokenizer *t, const json_value *list, semdex_error *err)
{
    if (json_is_null(list))
        return 0;
    if (!json_is_arr(list))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "added_tokens", (int64_t)list->offset,
                          "added_tokens must be an array"), -1;
    t->added = sx_calloc(list->n ? list->n : 1, sizeof *t->added);
    if (!t->added)
        return nomem(err);
    for (uint32_t i = 0; i < list->n; i++) {
        const json_value *e = json_arr_at(list, i);
        const json_value *id = json_get(e, "id"), *content = json_get(e, "content");
        int64_t idv;
        if (!json_int_in(id, 0, TOK_MAX_ID, &idv) || !json_is_str(content))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "added_tokens", (int64_t)e->offset,
                              "added token needs an integer \"id\" (0 to %d) and a string \"content\"",
                              TOK_MAX_ID), -1;
        tok_added *a = &t->added[t->n_added];
        a->content = sx_strndup(content->u.str, content->n);
        if (!a->content)
            return nomem(err);
        a->len = content->n;
        a->id = (int32_t)idv;
        a->special = json_bool(json_get(e, "special"), 0);
        a->normalized = json_bool(json_get(e, "normalized"), !a->special);
        a->lstrip = json_bool(json_get(e, "lstrip"), 0);
        a->rstrip = json_bool(json_get(e, "rstrip"), 0);
        a->single_word = json_bool(json_get(e, "single_word"), 0);
        t->n_added++;
    }
    return 0;
}

/* Builds the two matchers: tokens matched on the original text, and tokens
 * matched after normalization (their content normalized first). */
static int build_added_sets(semdex_tokenizer *t, semdex_error *err)
{
    size_t n = t->n_added;
    if (!n)
        return 0;
    const char **contents = sx_calloc(n, sizeof *contents);
    size_t *lens = sx_calloc(n, sizeof *lens);
    int32_t *members = sx_calloc(n, sizeof *members);
    char **owned = sx_calloc(n, sizeof *owned);
    tok_work w = {0};
    int rc = -1;
    if (!contents || !lens || !members || !owned) {
        nomem(err);
        goto out;
    }
    /* raw set */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (t->added[i].normalized && t->has_normalizer)
            continue;
        contents[k] = t->added[i].content;
        lens[k] = t->added[i].len;
        members[k] = (int32_t)i;
        k++;
    }
    if (k && !(t->added_raw = tok_added_set_build(t->added, n, contents, lens, members, k))) {
        nomem(err);
        goto out;
    }
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(t->added[i].normalized && t->has_normalizer))
            continue;
        tok_nstr ns = {0};
        if (tok_nstr_set(&ns, t->added[i].content, t->added[i].len, 0)) {
            tok_nstr_free(&ns);
            nomem(err);
            goto out;
        }
        if (tok_normalizer_apply(&t->normalizer, &ns, &w, err)) {
            tok_nstr_free(&ns);
            goto out;
        }
        owned[k] = ns.s; /* keep the normalized bytes */
        sx_free(ns.align);
        contents[k] = owned[k];
        lens[k] = ns.len;
        members[k] = (int32_t)i;
        k++;
    }
    if (k && !(t->added_normalized = tok_added_set_build(t->added, n, contents, lens, members, k))) {
        nomem(err);
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n && owned; i++)
        sx_free(owned[i]);
    sx_free(owned);
    sx_free(contents);
    sx_free(lens);
    sx_free(members);
    tok_work_free(&w);
    return rc;
}

static int load_model(semdex_tokenizer *t, const json_value *model, semdex_error *err)
{
    if (!json_is_obj(model))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model", model ? (int64_t)model->offset : -1,
                          "tokenizer.json has no \"model\" object"), -1;
    t->model.unk_id = -1;
    const json_value *type = json_get(model, "type");
    const char *ty = json_is_str(type) ? type->u.str : NULL;
    if (!ty) {
        /* Old files have no model.type: infer it from the fields. */
        const json_value *vocab = json_get(model, "vocab");
        if (json_get(model, "merges"))
            ty = "BPE";
        else if (json_is_arr(vocab))
            ty = "Unigram";
        else if (json_get(model, "continuing_subword_prefix") || json_get(model, "max_input_chars_per_word"))
            ty = "WordPiece";
        else if (json_is_obj(vocab))
            ty = "WordLevel";
        else
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model", (int64_t)model->offset,
                              "cannot tell the model type (no \"type\", no known fields)"), -1;
    }
    if (!strcmp(ty, "WordPiece"))
        return tok_wordpiece_load(model, &t->model, err);
    if (!strcmp(ty, "Unigram")) {
        t->model.type = TOK_MODEL_UNIGRAM;
        return tok_unigram_load(model, &t->model, err);
    }
    if (!strcmp(ty, "BPE")) {
        t->model.type = TOK_MODEL_BPE;
        return tok_bpe_load(model, &t->model, err);
    }
    if (!strcmp(ty, "WordLevel")) {
        t->model.type = TOK_MODEL_WORDLEVEL;
        const json_value *vocab = json_get(model, "vocab");
        if (!json_is_obj(vocab))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", (int64_t)model->offset,
                              "WordLevel model needs a \"vocab\" object"), -1;
        for (uint32_t i = 0; i < vocab->n; i++) {
            const json_value *id = json_obj_val(vocab, i);
            int64_t idv;
            if (!json_int_in(id, 0, TOK_MAX_ID, &idv))
                return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", (int64_t)id->offset,
                                  "vocabulary ids must be integers from 0 to %d", TOK_MAX_ID), -1;
            if (tok_vocab_add(&t->model.vocab, json_obj_key(vocab, i)->u.str, json_obj_key(vocab, i)->n,
                              (int32_t)idv))
                return nomem(err);
        }
        const json_value *unk = json_get(model, "unk_token");
        if (json_is_str(unk))
            t->model.unk_id = tok_vocab_find(&t->model.vocab, unk->u.str, unk->n);
        return 0;
    }
    return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "model.type", type ? (int64_t)type->offset : -1,
                      "unsupported model type \"%s\"", ty), -1;
}

static int load_from_json_inner(semdex_tokenizer *t, const json_value *root, semdex_error *err);

/* Every failure carries a status, even if a component forgot to set one. */
static int load_from_json(semdex_tokenizer *t, const json_value *root, semdex_error *err)
{
    if (err)
        err->status = SEMDEX_OK;
    int rc = load_from_json_inner(t, root, err);
    if (rc && err && err->status == SEMDEX_OK)
        sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, NULL, -1, "cannot load tokenizer");
    return rc;
}

static int load_from_json_inner(semdex_tokenizer *t, const json_value *root, semdex_error *err)
{
    if (!json_is_obj(root))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, NULL, root ? (int64_t)root->offset : -1,
                          "tokenizer.json must be a JSON object"), -1;
    const json_value *v;
    /* has_* are set first so that a partly loaded stage is freed */
    if (!json_is_null(v = json_get(root, "normalizer"))) {
        t->has_normalizer = 1;
        if (tok_normalizer_load(v, &t->normalizer, err))
            return -1;
    }
    if (!json_is_null(v = json_get(root, "pre_tokenizer"))) {
        t->has_pretok = 1;
        if (tok_pretok_load(v, &t->pretok, err))
            return -1;
    }
    if (load_model(t, json_get(root, "model"), err))
        return -1;
    if (load_added(t, json_get(root, "added_tokens"), err))
        return -1;
    for (size_t i = 0; i < t->n_added; i++) {
        /* added tokens take their ids in the vocabulary too (for id_to_token) */
        int32_t have = tok_vocab_find(&t->model.vocab, t->added[i].content, t->added[i].len);
        if (have != t->added[i].id && ((size_t)t->added[i].id >= t->model.vocab.n ||
                                       !t->model.vocab.tokens[t->added[i].id])) {
            if (tok_vocab_add(&t->model.vocab, t->added[i].content, t->added[i].len, t->added[i].id))
                return nomem(err);
        }
    }
    if (tok_post_load(json_get(root, "post_processor"), &t->model.vocab, t->added, t->n_added, &t->post, err))
        return -1;
    if (!json_is_null(v = json_get(root, "decoder"))) {
        t->has_decoder = 1;
        if (tok_decoder_load(v, &t->decoder, err))
            return -1;
    }
    const json_value *tr = json_get(root, "truncation");
    int64_t tmax;
    if (json_is_obj(tr) && json_int_in(json_get(tr, "max_length"), 0, INT32_MAX, &tmax))
        t->truncation_max = (size_t)tmax;
    return build_added_sets(t, err) || build_special_table(t, err) ? -1 : 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static int file_exists(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* vocab.txt + tokenizer_config.json: a BERT WordPiece tokenizer, built the
 * way transformers' BertTokenizerFast converts it. */
static int load_vocab_txt(semdex_tokenizer *t, const char *dir, semdex_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_doc *cfg = NULL;
    if (file_exists(path) && !(cfg = json_parse_file(path, err)))
        return -1;
    const json_value *c = cfg ? json_doc_root(cfg) : NULL;
    int lower = json_bool(json_get(c, "do_lower_case"), 1);
    int chinese = json_bool(json_get(c, "tokenize_chinese_chars"), 1);
    const json_value *sa = json_get(c, "strip_accents");
    int strip = json_is_bool(sa) ? sa->type == JSON_TRUE : lower;
    const char *names[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const char *keys[5] = {"pad_token", "unk_token", "cls_token", "sep_token", "mask_token"};
    char *owned[5] = {0};
    for (int i = 0; i < 5; i++) {
        const json_value *v = json_get(c, keys[i]);
        if (json_is_obj(v))
            v = json_get(v, "content");
        if (json_is_str(v)) {
            owned[i] = sx_strndup(v->u.str, v->n);
            if (owned[i])
                names[i] = owned[i];
        }
    }
    json_doc_free(cfg);
    int rc = -1;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "cannot open: %s", strerror(errno));
        goto out;
    }
    t->model.type = TOK_MODEL_WORDPIECE;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int32_t id = 0;
    int64_t off = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (sx_utf8_validate(line, n) != n) {
            sx_err_set(err, SEMDEX_ERR_UTF8, path, NULL, off, "invalid UTF-8 on line %d", id + 1);
            free(line);
            fclose(f);
            goto out;
        }
        if (tok_vocab_add(&t->model.vocab, line, n, id)) {
            free(line);
            fclose(f);
            nomem(err);
            goto out;
        }
        off += got;
        id++;
    }
    free(line);
    fclose(f);
    t->model.unk_id = tok_vocab_find(&t->model.vocab, names[1], strlen(names[1]));
    if (t->model.unk_id < 0) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, path, "unk_token", -1, "unk token \"%s\" is not in vocab.txt", names[1]);
        goto out;
    }
    t->model.wp.unk_id = t->model.unk_id;
    t->model.wp.prefix = sx_strndup("##", 2);
    t->model.wp.prefix_len = 2;
    t->model.wp.max_input_chars_per_word = 100;
    t->has_normalizer = 1;
    t->normalizer.type = TOK_NORM_BERT;
    t->normalizer.clean_text = 1;
    t->normalizer.handle_chinese_chars = chinese;
    t->normalizer.strip_accents = strip;
    t->normalizer.lowercase = lower;
    t->has_pretok = 1;
    t->pretok.type = TOK_PRE_BERT;
    t->added = sx_calloc(5, sizeof *t->added);
    if (!t->added || !t->model.wp.prefix) {
        nomem(err);
        goto out;
    }
    for (int i = 0; i < 5; i++) {
        int32_t sid = tok_vocab_find(&t->model.vocab, names[i], strlen(names[i]));
        if (sid < 0)
            continue;
        tok_added *a = &t->added[t->n_added++];
        a->content = sx_strndup(names[i], strlen(names[i]));
        if (!a->content) {
            nomem(err);
            goto out;
        }
        a->len = strlen(names[i]);
        a->id = sid;
        a->special = 1;
    }
    int32_t cls = tok_vocab_find(&t->model.vocab, names[2], strlen(names[2]));
    int32_t sep = tok_vocab_find(&t->model.vocab, names[3], strlen(names[3]));
    if (cls < 0 || sep < 0) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, path, NULL, -1, "vocab.txt lacks the CLS or SEP token");
        goto out;
    }
    {
        char js[512];
        /* the post-processor as the converter writes it */
        snprintf(js, sizeof js, "{\"type\":\"BertProcessing\",\"sep\":[\"x\",%d],\"cls\":[\"x\",%d]}", sep, cls);
        json_doc *d = json_parse(js, strlen(js), err);
        if (!d)
            goto out;
        int r = tok_post_load(json_doc_root(d), &t->model.vocab, t->added, t->n_added, &t->post, err);
        json_doc_free(d);
        if (r)
            goto out;
        t->has_decoder = 1;
        t->decoder.type = TOK_DEC_WORDPIECE;
        t->decoder.prefix = sx_strndup("##", 2);
        t->decoder.cleanup = 1;
        if (!t->decoder.prefix) {
            nomem(err);
            goto out;
        }
    }
    rc = build_added_sets(t, err) || build_special_table(t, err) ? -1 : 0;
out:
    for (int i = 0; i < 5; i++)
        sx_free(owned[i]);
    return rc;
}

semdex_status semdex_tokenizer_load(const char *path, semdex_tokenizer **out, semdex_error *err)
{
    if (!out || !path)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "NULL argument");
    *out = NULL;
    semdex_tokenizer *t = sx_calloc(1, sizeof *t);
    if (!t)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, path, NULL, -1, "out of memory");
    char file[4096];
    int rc;
    if (is_dir(path)) {
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
        if (!file_exists(file)) {
            char vocab[4096];
            snprintf(vocab, sizeof vocab, "%s/vocab.txt", path);
            if (!file_exists(vocab)) {
                sx_free(t);
                return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1,
                                  "no tokenizer.json or vocab.txt in this directory");
            }
            rc = load_vocab_txt(t, path, err);
            if (rc) {
                sx_err_set_file(err, vocab);
                semdex_tokenizer_free(t);
                return err ? err->status : SEMDEX_ERR_FORMAT;
            }
            t->path = sx_strndup(path, strlen(path));
            *out = t;
            return SEMDEX_OK;
        }
    } else {
        snprintf(file, sizeof file, "%s", path);
    }
    json_doc *doc = json_parse_file(file, err);
    if (!doc) {
        sx_free(t);
        return err ? err->status : SEMDEX_ERR_PARSE;
    }
    rc = load_from_json(t, json_doc_root(doc), err);
    json_doc_free(doc);
    if (rc) {
        sx_err_set_file(err, file);
        semdex_tokenizer_free(t);
        return err ? err->status : SEMDEX_ERR_FORMAT;
    }
    t->path = sx_strndup(path, strlen(path));
    *out = t;
    return SEMDEX_OK;
}

semdex_status semdex_tokenizer_load_json(const char *json, size_t len, const char *name, semdex_tokenizer **out,
                                         semdex_error *err)
{
    if (!out || (!json && len))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "NULL argument");
    *out = NULL;
    const char *label = name ? name : "tokenizer.json";
    semdex_tokenizer *t = sx_calloc(1, sizeof *t);
    if (!t)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, label, NULL, -1, "out of memory");
    json_doc *doc = json_parse(json ? json : "", len, err);
    if (!doc) {
        sx_err_set_file(err, label);
        sx_free(t);
        return err ? err->status : SEMDEX_ERR_PARSE;
    }
    int rc = load_from_json(t, json_doc_root(doc), err);
    json_doc_free(doc);
    if (rc) {
        sx_err_set_file(err, label);
        semdex_tokenizer_free(t);
        return err ? err->status : SEMDEX_ERR_FORMAT;
    }
    t->path = sx_strndup(label, strlen(label));
    *out = t;
    return SEMDEX_OK;
}

void semdex_tokenizer_free(semdex_tokenizer *t)
{
    if (!t)
        return;
    if (t->has_normalizer)
        tok_normalizer_free(&t->normalizer);
    if (t->has_pretok)
        tok_pretok_free(&t->pretok);
    tok_unigram_free(t->model.unigram);
    tok_bpe_free(t->model.bpe);
    sx_free(t->model.wp.prefix);
    tok_vocab_free(&t->model.vocab);
    tok_post_free(&t->post);
    if (t->has_decoder)
        tok_decoder_free(&t->decoder);
    for (size_t i = 0; i < t->n_added; i++)
        sx_free(t->added[i].content);
    sx_free(t->added);
    tok_added_set_free(t->added_raw);
    tok_added_set_free(t->added_normalized);
    sx_free(t->special_by_id);
    sx_free(t->path);
    sx_free(t);
}

size_t semdex_tokenizer_vocab_size(const semdex_tokenizer *t) { return t ? t->model.vocab.n : 0; }

const char *semdex_tokenizer_id_to_token(const semdex_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || (size_t)id >= t->model.vocab.n)
        return NULL;
    return t->model.vocab.tokens[id];
}

/* ------------------------------------------------------------- encoding */

typedef struct seq_buf {
    int32_t *ids;
    uint32_t (*off)[2];
    size_t n, cap_ids, cap_off;
} seq_buf;

typedef struct enc_state {
    tok_work w;
    seq_buf seq[2];
} enc_state;

static int seq_push(seq_buf *b, int32_t id, uint32_t s, uint32_t e)
{
    if (SX_GROW(b->ids, b->cap_ids, b->n + 1) || SX_GROW(b->off, b->cap_off, b->n + 1))
        return -1;
    b->ids[b->n] = id;
    b->off[b->n][0] = s;
    b->off[b->n][1] = e;
    b->n++;
    return 0;
}

static const tok_added *find_added_by_index(const semdex_tokenizer *t, int32_t idx) { return &t->added[idx]; }

/* Splits pieces of w->pieces on the matches of `set` into w->next. */
static int split_added(const semdex_tokenizer *t, const tok_added_set *set, tok_piece *p, tok_work *w,
                       semdex_error *err)
{
    size_t need = p->ns.len + 1;
    if (SX_GROW(w->matches, w->matches_cap, need))
        return nomem(err);
    size_t nm = 0;
    tok_added_set_find(set, p->ns.s, p->ns.len, w->matches, w->matches_cap, &nm);
    size_t last = 0;
    for (size_t k = 0; k <= nm; k++) {
        size_t a = k < nm ? w->matches[k].start : p->ns.len;
        if (a > last) {
            tok_piece *d = tok_pieces_push(&w->next);
            if (!d || tok_nstr_slice(&d->ns, &p->ns, last, a))
                return nomem(err);
        }
        if (k == nm)
            break;
        tok_piece *d = tok_pieces_push(&w->next);
        if (!d || tok_nstr_slice(&d->ns, &p->ns, w->matches[k].start, w->matches[k].end))
            return nomem(err);
        d->added_id = find_added_by_index(t, w->matches[k].token)->id;
        last = w->matches[k].end;
    }
    return 0;
}

static int encode_sequence(const semdex_tokenizer *t, const char *text, size_t len, tok_work *w, seq_buf *out,
                           semdex_error *err)
{
    out->n = 0;
    w->pieces.n = 0;
    w->next.n = 0;
    tok_piece *p = tok_pieces_push(&w->pieces);
    if (!p || tok_nstr_set(&p->ns, text, len, 0))
        return nomem(err);
    /* 1. added tokens matched on the original text */
    if (t->added_raw) {
        if (split_added(t, t->added_raw, p, w, err))
            return -1;
        tok_work_swap(w);
    }
    /* 2. normalize the rest, then match added tokens on normalized text */
    w->next.n = 0;
    for (size_t i = 0; i < w->pieces.n; i++) {
        tok_piece *q = &w->pieces.v[i];
        if (q->added_id < 0 && t->has_normalizer && tok_normalizer_apply(&t->normalizer, &q->ns, w, err))
            return -1;
        if (q->added_id < 0 && t->added_normalized) {
            if (split_added(t, t->added_normalized, q, w, err))
                return -1;
        } else if (q->ns.len || q->added_id >= 0) {
            tok_piece *d = tok_pieces_push(&w->next);
            if (!d)
                return nomem(err);
            tok_piece tmp = *d;
            *d = *q;
            *q = tmp;
        }
    }
    tok_work_swap(w);
    /* 3. pre-tokenize */
    if (t->has_pretok && tok_pretok_apply(&t->pretok, w, err))
        return -1;
    /* 4. model */
    for (size_t i = 0; i < w->pieces.n; i++) {
        tok_piece *q = &w->pieces.v[i];
        if (q->added_id >= 0) {
            tok_span sp = tok_nstr_orig_range(&q->ns, 0, q->ns.len);
            if (seq_push(out, q->added_id, sp.start, sp.end))
                return nomem(err);
            continue;
        }
        if (!q->ns.len)
            continue;
        w->toks.n = 0;
        if (tok_model_tokenize(&t->model, &q->ns, w, err))
            return -1;
        for (size_t k = 0; k < w->toks.n; k++) {
            tok_span sp = tok_nstr_orig_range(&q->ns, w->toks.v[k].start, w->toks.v[k].end);
            if (seq_push(out, w->toks.v[k].id, sp.start, sp.end))
                return nomem(err);
        }
    }
    return 0;
}

/* truncate_encodings with LongestFirst, as the reference does. */
static size_t truncate_seqs(seq_buf *a, seq_buf *b, size_t max_len)
{
    size_t before = a->n + (b ? b->n : 0);
    if (before <= max_len)
        return 0;
    if (!b) {
        a->n = max_len;
        return before - max_len;
    }
    size_t n1 = a->n, n2 = b->n;
    int swap = 0;
    if (n1 > n2) {
        size_t x = n1;
        n1 = n2;
        n2 = x;
        swap = 1;
    }
    if (n1 > max_len)
        n2 = n1;
    else
        n2 = n1 > max_len - n1 ? n1 : max_len - n1;
    if (n1 + n2 > max_len) {
        n1 = max_len / 2;
        n2 = n1 + max_len % 2;
    }
    if (swap) {
        size_t x = n1;
        n1 = n2;
        n2 = x;
    }
    if (a->n > n1)
        a->n = n1;
    if (b->n > n2)
        b->n = n2;
    return before - a->n - b->n;
}

static int enc_reserve(semdex_encoding *e, size_t n)
{
    if (n <= e->cap)
        return 0;
    size_t cap = e->cap ? e->cap : 64;
    while (cap < n)
        cap *= 2;
    int32_t *ids = sx_realloc(e->ids, cap * sizeof *ids);
    if (!ids)
        return -1;
    e->ids = ids;
    uint32_t *ty = sx_realloc(e->type_ids, cap * sizeof *ty);
    if (!ty)
        return -1;
    e->type_ids = ty;
    uint32_t(*off)[2] = sx_realloc(e->offsets, cap * sizeof *off);
    if (!off)
        return -1;
    e->offsets = off;
    int32_t *sq = sx_realloc(e->sequence_ids, cap * sizeof *sq);
    if (!sq)
        return -1;
    e->sequence_ids = sq;
    uint8_t *sm = sx_realloc(e->special_mask, cap);
    if (!sm)
        return -1;
    e->special_mask = sm;
    e->cap = cap;
    return 0;
}

static void enc_push(semdex_encoding *e, int32_t id, uint32_t type, uint32_t s, uint32_t end, int32_t seq,
                     int special)
{
    size_t i = e->n++;
    e->ids[i] = id;
    e->type_ids[i] = type;
    e->offsets[i][0] = s;
    e->offsets[i][1] = end;
    e->sequence_ids[i] = seq;
    e->special_mask[i] = (uint8_t)special;
}

static int is_special_id(const semdex_tokenizer *t, int32_t id)
{
    return id >= 0 && (size_t)id < t->n_special_by_id && t->special_by_id[id];
}

/* Finds the template processor (directly or inside a Sequence). */
static const tok_post *find_template(const tok_post *p)
{
    if (p->type == TOK_POST_BERT || p->type == TOK_POST_ROBERTA || p->type == TOK_POST_TEMPLATE)
        return p;
    if (p->type == TOK_POST_SEQUENCE)
        for (size_t i = 0; i < p->n_children; i++) {
            const tok_post *c = find_template(&p->children[i]);
            if (c)
                return c;
        }
    return NULL;
}

static int has_offset_trim(const tok_post *p, int *add_prefix_space)
{
    if ((p->type == TOK_POST_BYTE_LEVEL || p->type == TOK_POST_ROBERTA) && p->trim_offsets) {
        *add_prefix_space = p->add_prefix_space;
        return 1;
    }
    if (p->type == TOK_POST_SEQUENCE)
        for (size_t i = 0; i < p->n_children; i++)
            if (has_offset_trim(&p->children[i], add_prefix_space))
                return 1;
    return 0;
}

/* ByteLevel / Roberta offset trimming: leading and trailing spaces ('Ġ' or
 * whitespace) of a token are not part of its offsets. */
static void trim_offsets(const semdex_tokenizer *t, seq_buf *b, int add_prefix_space)
{
    for (size_t i = 0; i < b->n; i++) {
        const char *tok = semdex_tokenizer_id_to_token(t, b->ids[i]);
        if (!tok)
            continue;
        size_t n = strlen(tok), lead = 0, trail = 0;
        size_t j = 0;
        while (j < n) {
            int l;
            uint32_t cp = sx_utf8_decode(tok + j, &l);
            if (cp != 0x120 && !sx_uni_is_whitespace(cp))
                break;
            lead++;
            j += (size_t)l;
        }
        size_t e = n;
        while (e > 0) {
            size_t s = e - 1;
            while (s > 0 && ((unsigned char)tok[s] & 0xC0) == 0x80)
                s--;
            int l;
            uint32_t cp = sx_utf8_decode(tok + s, &l);
            if (cp != 0x120 && !sx_uni_is_whitespace(cp))
                break;
            trail++;
            e = s;
        }
        if (!lead && !trail)
            continue;
        if (lead) {
            int is_first = i == 0 || b->off[i][0] == 0;
            if (is_first && add_prefix_space && lead == 1)
                lead = 0;
            size_t ns = b->off[i][0] + lead;
            b->off[i][0] = (uint32_t)(ns < b->off[i][1] ? ns : b->off[i][1]);
        }
        if (trail && b->off[i][1] >= trail) {
            size_t ne = b->off[i][1] - trail;
            b->off[i][1] = (uint32_t)(ne > b->off[i][0] ? ne : b->off[i][0]);
        }
    }
}

semdex_encode_options semdex_encode_options_default(void)
{
    semdex_encode_options o = {0, 1};
    return o;
}

semdex_status semdex_tokenizer_encode(const semdex_tokenizer *t, const char *text, size_t len, const char *pair,
                                      size_t pair_len, const semdex_encode_options *opts, semdex_encoding *enc,
                                      semdex_error *err)
{
    if (!t || !enc || (!text && len))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "NULL argument");
    semdex_encode_options o = opts ? *opts : semdex_encode_options_default();
    enc->n = 0;
    enc->n_truncated = 0;
    if (len > UINT32_MAX / 2 || pair_len > UINT32_MAX / 2)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, -1, "text longer than 2 GiB");
    size_t bad = sx_utf8_validate(text ? text : "", len);
    if (bad != len)
        return sx_err_set(err, SEMDEX_ERR_UTF8, NULL, "text", (int64_t)bad, "invalid UTF-8 at byte %zu of text", bad);
    if (pair) {
        bad = sx_utf8_validate(pair, pair_len);
        if (bad != pair_len)
            return sx_err_set(err, SEMDEX_ERR_UTF8, NULL, "text_pair", (int64_t)bad,
                              "invalid UTF-8 at byte %zu of text_pair", bad);
    }
    enc_state *st = enc->internal;
    if (!st) {
        st = sx_calloc(1, sizeof *st);
        if (!st)
            return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
        enc->internal = st;
    }
    if (encode_sequence(t, text ? text : "", len, &st->w, &st->seq[0], err))
        return err ? err->status : SEMDEX_ERR_FORMAT;
    if (pair && encode_sequence(t, pair, pair_len, &st->w, &st->seq[1], err))
        return err ? err->status : SEMDEX_ERR_FORMAT;
    seq_buf *a = &st->seq[0], *b = pair ? &st->seq[1] : NULL;
    const tok_post *tmpl = o.add_special_tokens ? find_template(&t->post) : NULL;
    if (o.max_length) {
        size_t added = tmpl ? tok_post_added_count(&t->post, pair != NULL) : 0;
        if (o.max_length < added)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "max_length", -1,
                              "max_length %zu is smaller than the %zu special tokens added", o.max_length, added);
        enc->n_truncated = truncate_seqs(a, b, o.max_length - added);
    }
    int aps = 0;
    if (o.add_special_tokens && has_offset_trim(&t->post, &aps)) {
        trim_offsets(t, a, aps);
        if (b)
            trim_offsets(t, b, aps);
    }
    size_t total = a->n + (b ? b->n : 0) + (tmpl ? tok_post_added_count(&t->post, b != NULL) : 0);
    if (enc_reserve(enc, total))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    if (!tmpl) {
        for (size_t i = 0; i < a->n; i++)
            enc_push(enc, a->ids[i], 0, a->off[i][0], a->off[i][1], 0, is_special_id(t, a->ids[i]));
        for (size_t i = 0; b && i < b->n; i++)
            enc_push(enc, b->ids[i], 1, b->off[i][0], b->off[i][1], 1, is_special_id(t, b->ids[i]));
        return SEMDEX_OK;
    }
    const tok_tmpl_item *items = b ? tmpl->pair : tmpl->single;
    size_t n_items = b ? tmpl->n_pair : tmpl->n_single;
    for (size_t k = 0; k < n_items; k++) {
        const tok_tmpl_item *it = &items[k];
        if (it->is_seq) {
            seq_buf *s = it->seq ? b : a;
            if (!s)
                continue;
            for (size_t i = 0; i < s->n; i++)
                enc_push(enc, s->ids[i], it->type_id, s->off[i][0], s->off[i][1], it->seq,
                         is_special_id(t, s->ids[i]));
        } else {
            for (size_t i = 0; i < it->n_ids; i++)
                enc_push(enc, it->ids[i], it->type_id, 0, 0, -1, 1);
        }
    }
    return SEMDEX_OK;
}

void semdex_encoding_free(semdex_encoding *enc)
{
    if (!enc)
        return;
    enc_state *st = enc->internal;
    if (st) {
        tok_work_free(&st->w);
        for (int i = 0; i < 2; i++) {
            sx_free(st->seq[i].ids);
            sx_free(st->seq[i].off);
        }
        sx_free(st);
    }
    sx_free(enc->ids);
    sx_free(enc->type_ids);
    sx_free(enc->offsets);
    sx_free(enc->sequence_ids);
    sx_free(enc->special_mask);
    memset(enc, 0, sizeof *enc);
}

/* ------------------------------------------------------------- decoding */

semdex_status semdex_tokenizer_decode(const semdex_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                      char **out, semdex_error *err)
{
    if (!t || !out || (!ids && n))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "NULL argument");
    *out = NULL;
    char **toks = sx_calloc(n ? n : 1, sizeof *toks);
    if (!toks)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = semdex_tokenizer_id_to_token(t, ids[i]);
        if (!s)
            continue; /* the reference skips ids it does not know */
        if (skip_special && is_special_id(t, ids[i]))
            continue;
        toks[k++] = (char *)s;
    }
    int rc;
    if (t->has_decoder) {
        rc = tok_decoder_decode(&t->decoder, toks, k, out, err);
    } else {
        tok_decoder none = {0};
        none.type = TOK_DEC_NONE;
        rc = tok_decoder_decode(&none, toks, k, out, err);
    }
    sx_free(toks);
    return rc ? (err ? err->status : SEMDEX_ERR_FORMAT) : SEMDEX_OK;
}
