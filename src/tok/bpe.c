/* bpe.c: the BPE model of tokenizer.json (as `tokenizers`' models/bpe):
 * loading the vocabulary, the merges (both the "a b" strings and the
 * ["a", "b"] pairs spellings) and the options, and tokenizing one word:
 * split into characters (continuing_subword_prefix, end_of_word_suffix,
 * unk_token with fuse_unk, byte_fallback), then merges applied lowest rank
 * first, leftmost first among equal ranks, exactly as Word::merge_all does
 * with its priority queue.  A per-work-area cache remembers the tokens of
 * recent words.
 *
 * Knows the vocabulary and the per-call work area of tok_int.h; knows
 * nothing of normalizers, pre-tokenizers (ByteLevel included: its table
 * characters are plain vocabulary strings here), post-processing or the
 * public API. */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Code points below this get their one-character token id from a table. */
#define DIRECT_CPS 0x800

/* The word cache: direct-mapped, per work area.  Words of up to KEY_MAX
 * bytes that give up to TOK_MAX tokens are cached. */
#define CACHE_BITS 12
#define KEY_MAX 38
#define TOK_MAX 10

typedef struct merge_slot {
    uint32_t a, b;    /* pair of ids */
    uint32_t rank;    /* UINT32_MAX: empty slot */
    int32_t new_id;
} merge_slot;

struct tok_bpe {
    merge_slot *merges; /* open addressing on (a, b) */
    size_t merge_mask;
    int32_t *rank_new;  /* rank -> id of the merged token */
    size_t n_ranks;
    uint8_t *in_model;  /* ids of the model's own vocabulary (added tokens join it later) */
    size_t n_model;
    int32_t direct[DIRECT_CPS]; /* id of the token that is exactly this character, or -1 */
    int32_t byte_id[256];       /* id of "<0xXX>", or -1 */
    char *prefix, *suffix, *unk;
    size_t prefix_len, suffix_len, unk_len;
    int has_prefix, has_suffix, has_unk;
    int fuse_unk, byte_fallback, ignore_merges;
    uint64_t uid; /* tells work areas of different models apart */
};

typedef struct bpe_sym {
    int32_t id;
    int32_t prev, next;
    uint32_t len; /* bytes of the word it covers; 0 once merged away */
} bpe_sym;

typedef struct cache_slot {
    uint32_t hash;
    uint8_t klen; /* 0: empty */
    uint8_t ntok;
    char key[KEY_MAX];
    int32_t id[TOK_MAX];
    uint8_t len[TOK_MAX];
} cache_slot;

typedef struct bpe_scratch {
    uint64_t owner;
    bpe_sym *sym;
    size_t sym_cap;
    uint64_t *heap; /* rank << 32 | position */
    size_t heap_cap;
    char *buf;      /* one character with prefix / suffix */
    size_t buf_cap;
    cache_slot *cache;
} bpe_scratch;

static atomic_uint_fast64_t next_uid = 1;

static int nomem(semdex_error *err)
{
    sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in BPE model");
    return -1;
}

/* ------------------------------------------------------------ merges */

static size_t pair_hash(uint32_t a, uint32_t b)
{
    uint64_t k = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ull;
    return (size_t)(k ^ (k >> 29));
}

static const merge_slot *merge_find(const tok_bpe *bp, int32_t a, int32_t b)
{
    size_t i = pair_hash((uint32_t)a, (uint32_t)b) & bp->merge_mask;
    for (;;) {
        const merge_slot *s = &bp->merges[i];
        if (s->rank == UINT32_MAX)
            return NULL;
        if (s->a == (uint32_t)a && s->b == (uint32_t)b)
            return s;
        i = (i + 1) & bp->merge_mask;
    }
}

/* Inserts or overwrites (a later duplicate pair wins, as the reference's
 * HashMap collect does). */
static void merge_put(tok_bpe *bp, int32_t a, int32_t b, uint32_t rank, int32_t new_id)
{
    size_t i = pair_hash((uint32_t)a, (uint32_t)b) & bp->merge_mask;
    for (;;) {
        merge_slot *s = &bp->merges[i];
        if (s->rank == UINT32_MAX || (s->a == (uint32_t)a && s->b == (uint32_t)b)) {
            s->a = (uint32_t)a;
            s->b = (uint32_t)b;
            s->rank = rank;
            s->new_id = new_id;
            return;
        }
        i = (i + 1) & bp->merge_mask;
    }
}

/* ------------------------------------------------------------ loading */

static int32_t model_find(const tok_model *m, const tok_bpe *bp, const char *s, size_t n)
{
    int32_t id = tok_vocab_find(&m->vocab, s, n);
    if (id < 0 || (size_t)id >= bp->n_model || !bp->in_model[id])
        return -1;
    return id;
}

static int opt_string(const json_value *model, const char *key, char **out, size_t *len, int *has,
                      semdex_error *err)
{
    const json_value *v = json_get(model, key);
    *has = 0;
    if (json_is_null(v))
        return 0;
    if (!json_is_str(v))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, key, (int64_t)v->offset,
                          "model.%s must be a string or null", key), -1;
    *out = sx_strndup(v->u.str, v->n);
    if (!*out)
        return nomem(err);
    *len = v->n;
    *has = 1;
    return 0;
}

static int opt_bool(const json_value *model, const char *key, int *out, semdex_error *err)
{
    const json_value *v = json_get(model, key);
    if (!json_is_null(v) && !json_is_bool(v))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, key, (int64_t)v->offset,
                          "model.%s must be true or false", key), -1;
    *out = json_bool(v, 0);
    return 0;
}

static int merge_error(const json_value *at, semdex_error *err, const char *what, const char *tok, size_t n)
{
    return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.merges", at ? (int64_t)at->offset : -1,
                      "%s \"%.*s\" is not in the vocabulary", what, (int)(n > 200 ? 200 : n), tok), -1;
}

/* Adds merge number `rank`: a + b. */
static int add_merge(const tok_model *m, tok_bpe *bp, uint32_t rank, const char *a, size_t an, const char *b,
                     size_t bn, const json_value *at, char **buf, size_t *cap, semdex_error *err)
{
    int32_t ia = tok_vocab_find(&m->vocab, a, an);
    if (ia < 0)
        return merge_error(at, err, "merge token", a, an);
    int32_t ib = tok_vocab_find(&m->vocab, b, bn);
    if (ib < 0)
        return merge_error(at, err, "merge token", b, bn);
    /* the merged token drops b's continuing_subword_prefix */
    size_t skip = bp->has_prefix ? bp->prefix_len : 0;
    if (skip > bn || (skip < bn && ((unsigned char)b[skip] & 0xC0) == 0x80))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.merges", at ? (int64_t)at->offset : -1,
                          "merge token \"%.*s\" is shorter than continuing_subword_prefix",
                          (int)(bn > 200 ? 200 : bn), b), -1;
    size_t nn = an + bn - skip;
    if (SX_GROW(*buf, *cap, nn + 1))
        return nomem(err);
    memcpy(*buf, a, an);
    memcpy(*buf + an, b + skip, bn - skip);
    int32_t inew = tok_vocab_find(&m->vocab, *buf, nn);
    if (inew < 0)
        return merge_error(at, err, "merged token", *buf, nn);
    merge_put(bp, ia, ib, rank, inew);
    bp->rank_new[rank] = inew;
    return 0;
}

static int load_merges(const tok_model *m, tok_bpe *bp, const json_value *merges, semdex_error *err)
{
    uint32_t n = merges->n;
    size_t cap = 16; /* load factor at most 3/4 */
    while (cap / 4 * 3 < (size_t)n)
        cap *= 2;
    bp->merges = sx_malloc(cap * sizeof *bp->merges);
    bp->rank_new = sx_malloc((n ? n : 1) * sizeof *bp->rank_new);
    if (!bp->merges || !bp->rank_new)
        return nomem(err);
    for (size_t i = 0; i < cap; i++)
        bp->merges[i].rank = UINT32_MAX;
    bp->merge_mask = cap - 1;
    /* the reference reads either a list of pairs or a list of "a b" strings */
    int pairs = n > 0 && json_is_arr(json_arr_at(merges, 0));
    char *buf = NULL;
    size_t buf_cap = 0;
    uint32_t rank = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        const json_value *e = json_arr_at(merges, i);
        const char *a, *b;
        size_t an, bn;
        if (pairs) {
            if (!json_is_arr(e) || e->n != 2 || !json_is_str(json_arr_at(e, 0)) || !json_is_str(json_arr_at(e, 1))) {
                sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.merges", (int64_t)e->offset,
                           "each merge must be a pair of strings, as the first one is");
                rc = -1;
                break;
            }
            a = json_arr_at(e, 0)->u.str;
            an = json_arr_at(e, 0)->n;
            b = json_arr_at(e, 1)->u.str;
            bn = json_arr_at(e, 1)->n;
        } else {
            if (!json_is_str(e)) {
                sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.merges", (int64_t)e->offset,
                           "each merge must be a string \"a b\", as the first one is");
                rc = -1;
                break;
            }
            if (e->n >= 8 && !memcmp(e->u.str, "#version", 8))
                continue; /* a merges.txt header line: skipped, takes no rank */
            const char *sp = memchr(e->u.str, ' ', e->n);
            if (!sp || memchr(sp + 1, ' ', e->n - (size_t)(sp + 1 - e->u.str))) {
                sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.merges", (int64_t)e->offset,
                           "merge %u is not two tokens separated by one space", rank + 1);
                rc = -1;
                break;
            }
            a = e->u.str;
            an = (size_t)(sp - e->u.str);
            b = sp + 1;
            bn = e->n - an - 1;
        }
        rc = add_merge(m, bp, rank++, a, an, b, bn, e, &buf, &buf_cap, err);
    }
    bp->n_ranks = rank;
    sx_free(buf);
    return rc;
}

int tok_bpe_load(const json_value *model, tok_model *m, semdex_error *err)
{
    m->type = TOK_MODEL_BPE;
    m->unk_id = -1;
    const json_value *vocab = json_get(model, "vocab");
    const json_value *merges = json_get(model, "merges");
    if (!json_is_obj(vocab))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", model ? (int64_t)model->offset : -1,
                          "BPE model needs a \"vocab\" object"), -1;
    if (!json_is_arr(merges))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.merges", model ? (int64_t)model->offset : -1,
                          "BPE model needs a \"merges\" array"), -1;
    const json_value *dropout = json_get(model, "dropout");
    if (!json_is_null(dropout) && !(json_is_num(dropout) && dropout->u.num == 0.0))
        return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "model.dropout", (int64_t)dropout->offset,
                          "BPE dropout is random; only null (or 0) is supported"), -1;
    tok_bpe *bp = sx_calloc(1, sizeof *bp);
    if (!bp)
        return nomem(err);
    m->bpe = bp;
    bp->uid = atomic_fetch_add(&next_uid, 1);
    if (opt_string(model, "unk_token", &bp->unk, &bp->unk_len, &bp->has_unk, err) ||
        opt_string(model, "continuing_subword_prefix", &bp->prefix, &bp->prefix_len, &bp->has_prefix, err) ||
        opt_string(model, "end_of_word_suffix", &bp->suffix, &bp->suffix_len, &bp->has_suffix, err) ||
        opt_bool(model, "fuse_unk", &bp->fuse_unk, err) || opt_bool(model, "byte_fallback", &bp->byte_fallback, err) ||
        opt_bool(model, "ignore_merges", &bp->ignore_merges, err))
        return -1;

    if (sx_strmap_reserve(&m->vocab.map, vocab->n))
        return nomem(err);
    for (uint32_t i = 0; i < vocab->n; i++) {
        const json_value *k = json_obj_key(vocab, i), *id = json_obj_val(vocab, i);
        int64_t idv;
        if (!json_int_in(id, 0, TOK_MAX_ID, &idv))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", (int64_t)id->offset,
                              "vocabulary ids must be non-negative integers"), -1;
        if (tok_vocab_add(&m->vocab, k->u.str, k->n, (int32_t)idv))
            return nomem(err);
    }
    bp->n_model = m->vocab.n;
    bp->in_model = sx_calloc(bp->n_model ? bp->n_model : 1, 1);
    if (!bp->in_model)
        return nomem(err);
    for (size_t i = 0; i < bp->n_model; i++)
        bp->in_model[i] = m->vocab.tokens[i] != NULL;

    if (load_merges(m, bp, merges, err))
        return -1;

    for (uint32_t cp = 0; cp < DIRECT_CPS; cp++) {
        char u[4];
        int l = sx_utf8_encode(cp, u);
        bp->direct[cp] = tok_vocab_find(&m->vocab, u, (size_t)l);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        bp->byte_id[b] = tok_vocab_find(&m->vocab, name, 6);
    }
    if (bp->has_unk)
        m->unk_id = tok_vocab_find(&m->vocab, bp->unk, bp->unk_len);
    return 0;
}

void tok_bpe_free(tok_bpe *bp)
{
    if (!bp)
        return;
    sx_free(bp->merges);
    sx_free(bp->rank_new);
    sx_free(bp->in_model);
    sx_free(bp->prefix);
    sx_free(bp->suffix);
    sx_free(bp->unk);
    sx_free(bp);
}

/* ------------------------------------------------------------ scratch */

static void scratch_free(void *p)
{
    bpe_scratch *s = p;
    if (!s)
        return;
    sx_free(s->sym);
    sx_free(s->heap);
    sx_free(s->buf);
    sx_free(s->cache);
    sx_free(s);
}

/* The work area's BPE scratch, created (or taken over from another model)
 * on first use. */
static bpe_scratch *get_scratch(const tok_bpe *bp, tok_work *w)
{
    bpe_scratch *s = w->model_scratch_free == scratch_free ? w->model_scratch : NULL;
    if (!s) {
        if (w->model_scratch && w->model_scratch_free)
            w->model_scratch_free(w->model_scratch);
        w->model_scratch = NULL;
        w->model_scratch_free = NULL;
        s = sx_calloc(1, sizeof *s);
        if (!s)
            return NULL;
        s->cache = sx_calloc((size_t)1 << CACHE_BITS, sizeof *s->cache);
        if (!s->cache) {
            sx_free(s);
            return NULL;
        }
        s->owner = bp->uid;
        w->model_scratch = s;
        w->model_scratch_free = scratch_free;
    }
    if (s->owner != bp->uid) {
        memset(s->cache, 0, ((size_t)1 << CACHE_BITS) * sizeof *s->cache);
        s->owner = bp->uid;
    }
    return s;
}

/* ------------------------------------------------------------ tokenize */

/* Appends a symbol (tok_bpe_tokenize reserved the room). */
static void add_sym(bpe_scratch *s, size_t *n, int32_t id, uint32_t len)
{
    bpe_sym *y = &s->sym[*n];
    y->id = id;
    y->len = len;
    y->prev = (int32_t)*n - 1;
    y->next = -1;
    if (*n)
        s->sym[*n - 1].next = (int32_t)*n;
    (*n)++;
}

/* Min-heap of rank << 32 | position: lowest rank first, then leftmost. */
static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m && h[c + 1] < h[c])
            c++;
        if (v <= h[c])
            break;
        h[i] = h[c];
        i = c;
    }
    if (m)
        h[i] = v;
    return top;
}

/* Word::merge_all.  Every queued merge of a pair that has since changed is
 * skipped when popped (unless the new pair merges into the same token, as
 * in the reference). */
static void merge_all(const tok_bpe *bp, bpe_scratch *s, size_t n)
{
    bpe_sym *sym = s->sym;
    uint64_t *heap = s->heap;
    size_t hn = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const merge_slot *ms = merge_find(bp, sym[i].id, sym[i + 1].id);
        if (ms)
            heap_push(heap, &hn, (uint64_t)ms->rank << 32 | i);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        uint32_t rank = (uint32_t)(top >> 32);
        size_t pos = (uint32_t)top;
        if (!sym[pos].len || sym[pos].next < 0)
            continue;
        size_t nx = (size_t)sym[pos].next;
        int32_t new_id = bp->rank_new[rank];
        const merge_slot *ms = merge_find(bp, sym[pos].id, sym[nx].id);
        if (!ms || ms->new_id != new_id)
            continue;
        bpe_sym right = sym[nx];
        sym[pos].id = new_id;
        sym[pos].len += right.len;
        sym[pos].next = right.next;
        sym[nx].len = 0;
        if (right.next >= 0)
            sym[right.next].prev = (int32_t)pos;
        if (sym[pos].prev >= 0) {
            size_t pv = (size_t)sym[pos].prev;
            ms = merge_find(bp, sym[pv].id, new_id);
            if (ms)
                heap_push(heap, &hn, (uint64_t)ms->rank << 32 | pv);
        }
        if (right.next >= 0) {
            ms = merge_find(bp, new_id, sym[right.next].id);
            if (ms)
                heap_push(heap, &hn, (uint64_t)ms->rank << 32 | pos);
        }
    }
}

/* Builds the symbols of word s[0..n) (BPE::merge_word); returns their
 * count, or -1 with err set. */
static long make_symbols(const tok_model *m, const tok_bpe *bp, bpe_scratch *sc, const char *s, size_t n,
                         semdex_error *err)
{
    size_t ns = 0;
    int have_unk = 0;
    int32_t unk_id = -1;
    uint32_t unk_len = 0;
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t cp = sx_utf8_decode(s + i, &l);
        if (i + (size_t)l > n)
            l = (int)(n - i);
        int is_first = i == 0, is_last = i + (size_t)l == n;
        int pre = !is_first && bp->has_prefix, suf = is_last && bp->has_suffix;
        const char *key = s + i;
        size_t klen = (size_t)l;
        int32_t id;
        if (!pre && !suf && cp < DIRECT_CPS) {
            id = bp->direct[cp];
        } else {
            klen = (pre ? bp->prefix_len : 0) + (size_t)l + (suf ? bp->suffix_len : 0);
            if (SX_GROW(sc->buf, sc->buf_cap, klen + 1))
                return nomem(err);
            char *o = sc->buf;
            if (pre) {
                memcpy(o, bp->prefix, bp->prefix_len);
                o += bp->prefix_len;
            }
            memcpy(o, s + i, (size_t)l);
            o += l;
            if (suf)
                memcpy(o, bp->suffix, bp->suffix_len);
            key = sc->buf;
            id = model_find(m, bp, key, klen);
        }
        i += (size_t)l;
        if (id >= 0) {
            if (have_unk) {
                add_sym(sc, &ns, unk_id, unk_len);
                have_unk = 0;
            }
            add_sym(sc, &ns, id, (uint32_t)l);
            continue;
        }
        if (bp->byte_fallback) {
            size_t k;
            for (k = 0; k < klen; k++)
                if (bp->byte_id[(unsigned char)key[k]] < 0)
                    break;
            if (k == klen) {
                /* every byte of the (prefixed) character, one symbol each;
                 * a pending unknown stays pending, as in the reference */
                for (k = 0; k < klen; k++)
                    add_sym(sc, &ns, bp->byte_id[(unsigned char)key[k]], 1);
                continue;
            }
        }
        if (!bp->has_unk)
            continue; /* no unk_token: the character is dropped */
        if (have_unk && bp->fuse_unk) {
            unk_len += (uint32_t)l;
            continue;
        }
        if (have_unk)
            add_sym(sc, &ns, unk_id, unk_len);
        unk_id = model_find(m, bp, bp->unk, bp->unk_len);
        if (unk_id < 0)
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.unk_token", -1,
                              "unk_token \"%.*s\" is not in the vocabulary", (int)(bp->unk_len > 200 ? 200 : bp->unk_len),
                              bp->unk), -1;
        unk_len = (uint32_t)l;
        have_unk = 1;
    }
    if (have_unk)
        add_sym(sc, &ns, unk_id, unk_len);
    return (long)ns;
}

int tok_bpe_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err)
{
    const tok_bpe *bp = m->bpe;
    const char *s = ns->s;
    size_t n = ns->len;
    if (!n)
        return 0;
    if (bp->ignore_merges) {
        int32_t id = model_find(m, bp, s, n);
        if (id >= 0)
            return tok_tokens_push(&w->toks, id, 0, (uint32_t)n) ? nomem(err) : 0;
    }
    bpe_scratch *sc = get_scratch(bp, w);
    if (!sc)
        return nomem(err);
    cache_slot *slot = NULL;
    uint32_t h = 0;
    if (n <= KEY_MAX) {
        h = (uint32_t)sx_hash_bytes(s, n);
        slot = &sc->cache[h & ((1u << CACHE_BITS) - 1)];
        if (slot->klen == n && slot->hash == h && !memcmp(slot->key, s, n)) {
            uint32_t at = 0;
            for (unsigned k = 0; k < slot->ntok; k++) {
                if (tok_tokens_push(&w->toks, slot->id[k], at, at + slot->len[k]))
                    return nomem(err);
                at += slot->len[k];
            }
            return 0;
        }
    }
    /* at most one symbol per byte of every character with its prefix and
     * suffix (byte fallback), and the queue never holds more than the first
     * pairs and two new pairs per merge */
    size_t max_sym = n * (1 + (bp->has_prefix ? bp->prefix_len : 0)) + (bp->has_suffix ? bp->suffix_len : 0);
    if (SX_GROW(sc->sym, sc->sym_cap, max_sym) || SX_GROW(sc->heap, sc->heap_cap, 3 * max_sym))
        return nomem(err);
    long nsym = make_symbols(m, bp, sc, s, n, err);
    if (nsym < 0)
        return -1;
    merge_all(bp, sc, (size_t)nsym);
    size_t first = w->toks.n;
    uint32_t at = 0;
    for (long i = 0; i < nsym; i++) {
        const bpe_sym *y = &sc->sym[i];
        if (!y->len)
            continue;
        /* byte-fallback symbols of a prefixed character can count more
         * bytes than the word has: keep offsets inside the word */
        uint32_t a = at < n ? at : (uint32_t)n, b = at + y->len < n ? at + y->len : (uint32_t)n;
        if (tok_tokens_push(&w->toks, y->id, a, b))
            return nomem(err);
        at += y->len;
    }
    size_t nt = w->toks.n - first;
    if (slot && nt <= TOK_MAX && at == n) {
        slot->hash = h;
        slot->klen = (uint8_t)n;
        slot->ntok = (uint8_t)nt;
        memcpy(slot->key, s, n);
        for (size_t k = 0; k < nt; k++) {
            slot->id[k] = w->toks.v[first + k].id;
            slot->len[k] = (uint8_t)(w->toks.v[first + k].end - w->toks.v[first + k].start);
        }
    }
    return 0;
}
