/* unigram.c: the Unigram model of tokenizer.json (SentencePiece's unigram
 * language model), as the reference's Unigram::encode_optimized runs it:
 * a Viterbi pass over the byte positions of the piece, each vocabulary
 * entry that starts at a character contributing its score, an unknown
 * character costing min_score - 10; consecutive unknowns fused into one
 * token; byte fallback to <0xXX> pieces when enabled.
 *
 * The vocabulary is held in a double-array trie (base + check, built once
 * from the sorted pieces) for the common-prefix searches; the model is
 * read-only after loading, and per-call arrays live in the caller's
 * tok_work, so one model serves many threads.  This file knows nothing of
 * normalizers, pre-tokenizers or post-processing. */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <math.h>
#include <string.h>

#define DA_FREE 0xFFFFFFFFu
#define DA_ROOT_CHECK 0xFFFFFFFEu
#define UNK_PENALTY 10.0

/* A cell of the double array.  A node whose subtree holds a single piece
 * ends in a tail instead of a chain of cells: base is then -(offset + 1) of
 * [u32 length][bytes] in `tails`, the rest of the piece, and id is that
 * piece's id. */
typedef struct da_cell {
    int32_t base;   /* >= 0: children of this node are at base + byte; < 0: tail */
    uint32_t check; /* position of the parent; DA_FREE when unused */
    int32_t id;     /* piece id when a piece ends here (at the tail's end), else -1 */
} da_cell;

struct tok_unigram {
    da_cell *da;
    size_t da_n, da_cap;
    unsigned char *tails;
    size_t tails_n, tails_cap;
    double *scores; /* by id */
    size_t n;       /* pieces */
    double min_score, unk_score;
    int32_t unk_id;
    int byte_fallback;
    int32_t byte_ids[256]; /* id of "<0xXX>", -1 when absent */
};

static int nomem(semdex_error *err)
{
    sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    return -1;
}

/* ------------------------------------------------------ building the trie */

#define KEY_PFX 8

/* A piece to place: its bytes, with the first KEY_PFX kept inline so that
 * sorting and grouping by the leading bytes do not chase the pointer. */
typedef struct key {
    const char *s;
    uint32_t len;
    int32_t id;
    unsigned char pfx[KEY_PFX];
} key;

/* Byte d of k (d < k->len). */
static inline unsigned key_byte(const key *k, uint32_t d)
{
    return d < KEY_PFX ? k->pfx[d] : (unsigned char)k->s[d];
}

/* Orders two keys that agree on their first `depth` bytes: by bytes, then
 * length, then id (so repeated pieces stay in id order). */
static int key_cmp_from(const key *x, const key *y, uint32_t depth)
{
    uint32_t m = x->len < y->len ? x->len : y->len;
    int c = m > depth ? memcmp(x->s + depth, y->s + depth, m - depth) : 0;
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct sort_frame {
    uint32_t lo, hi, depth;
} sort_frame;

/* Sorts keys[0..n) with key_cmp_from order: MSD radix sort (stable counting
 * passes, one byte per level), insertion sort for small ranges.  tmp has
 * room for n keys. */
static int sort_keys(key *keys, key *tmp, uint32_t n)
{
    sort_frame *st = NULL;
    size_t st_n = 0, st_cap = 0;
    if (SX_GROW(st, st_cap, 1))
        return -1;
    st[st_n++] = (sort_frame){0, n, 0};
    while (st_n) {
        sort_frame f = st[--st_n];
        key *a = keys + f.lo;
        uint32_t m = f.hi - f.lo;
        if (m <= 24) {
            for (uint32_t i = 1; i < m; i++) {
                key x = a[i];
                uint32_t j = i;
                while (j > 0 && key_cmp_from(&x, &a[j - 1], f.depth) < 0) {
                    a[j] = a[j - 1];
                    j--;
                }
                a[j] = x;
            }
            continue;
        }
        uint32_t cnt[257] = {0};
        for (uint32_t i = 0; i < m; i++)
            cnt[a[i].len > f.depth ? key_byte(&a[i], f.depth) + 1u : 0u]++;
        /* all in one bucket: nothing moves */
        uint32_t only = 257;
        for (uint32_t b = 0; b < 257; b++)
            if (cnt[b]) {
                only = cnt[b] == m ? b : 257;
                break;
            }
        if (only == 0)
            continue; /* all the same string: already in id order */
        if (only < 257) {
            if (SX_GROW(st, st_cap, st_n + 1))
                goto fail;
            st[st_n++] = (sort_frame){f.lo, f.hi, f.depth + 1};
            continue;
        }
        uint32_t off[257], at = 0;
        for (uint32_t b = 0; b < 257; b++) {
            off[b] = at;
            at += cnt[b];
        }
        for (uint32_t i = 0; i < m; i++)
            tmp[off[a[i].len > f.depth ? key_byte(&a[i], f.depth) + 1u : 0u]++] = a[i];
        memcpy(a, tmp, m * sizeof *a);
        if (SX_GROW(st, st_cap, st_n + 256))
            goto fail;
        at = cnt[0];
        for (uint32_t b = 1; b < 257; b++) {
            if (cnt[b] > 1)
                st[st_n++] = (sort_frame){f.lo + at, f.lo + at + cnt[b], f.depth + 1};
            at += cnt[b];
        }
    }
    sx_free(st);
    return 0;
fail:
    sx_free(st);
    return -1;
}

static int da_reserve(tok_unigram *u, size_t need)
{
    if (need <= u->da_n)
        return 0;
    if (need > u->da_cap) {
        size_t cap = u->da_cap ? u->da_cap : 1024;
        while (cap < need)
            cap *= 2;
        if (cap > (size_t)DA_ROOT_CHECK)
            return -1;
        da_cell *d = sx_realloc(u->da, cap * sizeof *d);
        if (!d)
            return -1;
        u->da = d;
        u->da_cap = cap;
    }
    for (size_t i = u->da_n; i < need; i++) {
        u->da[i].base = 0;
        u->da[i].check = DA_FREE;
        u->da[i].id = -1;
    }
    u->da_n = need;
    return 0;
}

typedef struct frame {
    uint32_t pos, lo, hi, depth;
} frame;

typedef struct child {
    uint32_t lo, hi;
    unsigned char label;
} child;

/* Builds the double array from keys sorted by bytes (then id), depth first.
 * A node's children take the first base, scanning up from next_free, at
 * which every child's cell is free (Kudo's darts placement: next_free
 * moves past regions that are 95% full). */
static int da_build(tok_unigram *u, const key *keys, uint32_t nk)
{
    frame *st = NULL;
    size_t st_n = 0, st_cap = 0;
    child ch[256];
    size_t next_free = 1, top = 1; /* top: past the highest cell in use */
    int rc = -1;
    if (da_reserve(u, 512))
        return -1;
    u->da[0].check = DA_ROOT_CHECK;
    if (SX_GROW(st, st_cap, 1))
        return -1;
    st[st_n++] = (frame){0, 0, nk, 0};
    while (st_n) {
        frame f = st[--st_n];
        uint32_t k = f.lo;
        while (k < f.hi && keys[k].len == f.depth)
            k++;
        if (k > f.lo && f.depth > 0)
            u->da[f.pos].id = keys[k - 1].id; /* repeated piece: the last id wins */
        if (k == f.hi)
            continue;
        size_t nc = 0;
        if (f.hi - k == 1) {
            ch[0].lo = k;
            ch[0].hi = f.hi;
            ch[0].label = (unsigned char)key_byte(&keys[k], f.depth);
            nc = 1;
        } else {
            while (k < f.hi) {
                unsigned c = key_byte(&keys[k], f.depth);
                uint32_t e = k + 1;
                while (e < f.hi && key_byte(&keys[e], f.depth) == c)
                    e++;
                ch[nc].lo = k;
                ch[nc].hi = e;
                ch[nc].label = (unsigned char)c;
                nc++;
                k = e;
            }
        }
        /* find a base */
        size_t first_label = ch[0].label;
        size_t pos = (first_label + 1 > next_free ? first_label + 1 : next_free) - 1;
        size_t used = 0, tries = 0;
        int seen_free = 0;
        size_t base;
        for (;;) {
            pos++;
            if (pos + 257 > u->da_n && da_reserve(u, pos + 257))
                goto out;
            if (u->da[pos].check != DA_FREE) {
                used++;
                continue;
            }
            if (!seen_free) {
                next_free = pos;
                seen_free = 1;
            }
            base = pos - first_label;
            size_t j;
            for (j = 1; j < nc; j++)
                if (u->da[base + ch[j].label].check != DA_FREE)
                    break;
            if (j == nc)
                break;
            if (++tries == 64) {
                /* crowded: past the highest cell in use, all is free */
                base = top > first_label ? top - first_label : 1;
                pos = base + first_label;
                if (pos + 257 > u->da_n && da_reserve(u, pos + 257))
                    goto out;
                break;
            }
        }
        if (used && (double)used / (double)(pos - next_free + 1) >= 0.95)
            next_free = pos;
        if (base > (size_t)INT32_MAX)
            goto out;
        u->da[f.pos].base = (int32_t)base;
        if (SX_GROW(st, st_cap, st_n + nc))
            goto out;
        /* pushed in reverse: children are visited in label order */
        for (size_t j = nc; j-- > 0;) {
            uint32_t cpos = (uint32_t)(base + ch[j].label);
            u->da[cpos].check = f.pos;
            if (cpos >= top)
                top = (size_t)cpos + 1;
            const key *ky = &keys[ch[j].lo];
            if (ch[j].hi - ch[j].lo == 1 && ky->len > f.depth + 1) {
                /* one piece below: the rest of it is a tail */
                uint32_t tl = ky->len - f.depth - 1;
                if (u->tails_n + 4 + tl > (size_t)INT32_MAX || SX_GROW(u->tails, u->tails_cap, u->tails_n + 4 + tl))
                    goto out;
                memcpy(u->tails + u->tails_n, &tl, 4);
                memcpy(u->tails + u->tails_n + 4, ky->s + f.depth + 1, tl);
                u->da[cpos].base = -(int32_t)u->tails_n - 1;
                u->da[cpos].id = ky->id;
                u->tails_n += 4 + tl;
                continue;
            }
            st[st_n++] = (frame){cpos, ch[j].lo, ch[j].hi, f.depth + 1};
        }
    }
    /* drop the unused end and give back the slack */
    while (u->da_n > 1 && u->da[u->da_n - 1].check == DA_FREE)
        u->da_n--;
    da_cell *d = sx_realloc(u->da, u->da_n * sizeof *d);
    if (d) {
        u->da = d;
        u->da_cap = u->da_n;
    }
    rc = 0;
out:
    sx_free(st);
    return rc;
}

/* ---------------------------------------------------------------- load */

int tok_unigram_load(const json_value *model, tok_model *m, semdex_error *err)
{
    m->type = TOK_MODEL_UNIGRAM;
    m->unk_id = -1;
    const json_value *vocab = json_get(model, "vocab");
    if (!json_is_arr(vocab))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", model ? (int64_t)model->offset : -1,
                          "Unigram model needs a \"vocab\" array of [piece, score]"), -1;
    uint32_t n = vocab->n;
    if (n > (uint32_t)INT32_MAX)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, "model.vocab", (int64_t)vocab->offset,
                          "vocabulary too large"), -1;
    const json_value *unk = json_get(model, "unk_id");
    int32_t unk_id = -1;
    if (!json_is_null(unk)) {
        if (!json_is_num(unk) || unk->u.num < 0 || unk->u.num != floor(unk->u.num) || unk->u.num > 4e9)
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.unk_id", (int64_t)unk->offset,
                              "unk_id must be a non-negative integer"), -1;
        if (n == 0)
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", (int64_t)vocab->offset,
                              "the vocabulary is empty but at least <unk> is needed"), -1;
        if (unk->u.num >= (double)n)
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.unk_id", (int64_t)unk->offset,
                              "unk_id %.0f is not below the vocabulary size %u", unk->u.num, (unsigned)n), -1;
        unk_id = (int32_t)unk->u.num;
    }
    const json_value *bf = json_get(model, "byte_fallback");
    if (!json_is_null(bf) && !json_is_bool(bf))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.byte_fallback", (int64_t)bf->offset,
                          "byte_fallback must be a boolean"), -1;

    tok_unigram *u = sx_calloc(1, sizeof *u);
    if (!u)
        return nomem(err);
    m->unigram = u;
    u->n = n;
    u->unk_id = unk_id;
    u->byte_fallback = json_bool(bf, 0);
    u->scores = sx_malloc((n ? n : 1) * sizeof *u->scores);
    key *keys = sx_malloc((n ? n : 1) * sizeof *keys);
    if (!u->scores || !keys) {
        sx_free(keys);
        return nomem(err);
    }
    if (sx_strmap_reserve(&m->vocab.map, n)) {
        sx_free(keys);
        return nomem(err);
    }
    double min_score = INFINITY;
    for (uint32_t i = 0; i < n; i++) {
        const json_value *e = json_arr_at(vocab, i);
        const json_value *ps = json_is_arr(e) && e->n == 2 ? json_arr_at(e, 0) : NULL;
        const json_value *sc = json_is_arr(e) && e->n == 2 ? json_arr_at(e, 1) : NULL;
        if (!json_is_str(ps) || !json_is_num(sc)) {
            sx_free(keys);
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.vocab", (int64_t)e->offset,
                              "vocabulary entry %u is not a [piece, score] pair", (unsigned)i), -1;
        }
        /* the reference reads scores with serde_json's default float
         * parsing, not always correctly rounded: ties in the Viterbi pass
         * depend on the last bit */
        double score = json_num_serde(sc);
        u->scores[i] = score;
        if (score < min_score)
            min_score = score;
        keys[i].s = ps->u.str;
        keys[i].len = ps->n;
        keys[i].id = (int32_t)i;
        memset(keys[i].pfx, 0, KEY_PFX);
        memcpy(keys[i].pfx, ps->u.str, ps->n < KEY_PFX ? ps->n : KEY_PFX);
    }
    /* Added from the last id down: the id table is sized once, and a
     * repeated piece maps to its last id, as in the reference's token -> id
     * map (the vocabulary keeps the first id it is given for a string). */
    for (uint32_t i = n; i-- > 0;)
        if (tok_vocab_add(&m->vocab, keys[i].s, keys[i].len, (int32_t)i)) {
            sx_free(keys);
            return nomem(err);
        }
    u->min_score = min_score;
    u->unk_score = min_score - UNK_PENALTY;
    key *tmp = sx_malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp || sort_keys(keys, tmp, n)) {
        sx_free(tmp);
        sx_free(keys);
        return nomem(err);
    }
    sx_free(tmp);
    int rc = da_build(u, keys, n);
    sx_free(keys);
    if (rc)
        return nomem(err);
    for (int b = 0; b < 256; b++) {
        char name[8];
        static const char hex[] = "0123456789ABCDEF";
        memcpy(name, "<0x", 3);
        name[3] = hex[b >> 4];
        name[4] = hex[b & 15];
        name[5] = '>';
        int32_t id = tok_vocab_find(&m->vocab, name, 6);
        u->byte_ids[b] = id >= 0 && (uint32_t)id < n ? id : -1;
    }
    m->unk_id = unk_id;
    return 0;
}

void tok_unigram_free(tok_unigram *u)
{
    if (!u)
        return;
    sx_free(u->da);
    sx_free(u->tails);
    sx_free(u->scores);
    sx_free(u);
}

/* ------------------------------------------------------------ tokenize */

typedef struct ug_node {
    double score;  /* best path score ending here */
    int32_t start; /* start of the last token of that path, -1: none yet */
    int32_t id;
} ug_node;

typedef struct ug_seg {
    uint32_t start, end;
    int32_t id;
} ug_seg;

typedef struct ug_scratch {
    ug_node *nodes;
    size_t nodes_cap;
    ug_seg *segs;
    size_t segs_cap;
} ug_scratch;

static void ug_scratch_free(void *p)
{
    ug_scratch *s = p;
    if (!s)
        return;
    sx_free(s->nodes);
    sx_free(s->segs);
    sx_free(s);
}

static ug_scratch *get_scratch(tok_work *w)
{
    if (w->model_scratch && w->model_scratch_free == ug_scratch_free)
        return w->model_scratch;
    ug_scratch *s = sx_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (w->model_scratch && w->model_scratch_free)
        w->model_scratch_free(w->model_scratch);
    w->model_scratch = s;
    w->model_scratch_free = ug_scratch_free;
    return s;
}

/* Emits the token(s) for s[a..b) that the reference's tokenize() gives a
 * fused run of unknowns: the piece itself when the vocabulary has it, else
 * byte fallback when every byte has a piece, else unk. */
static int emit_unknown(const tok_model *m, const tok_unigram *u, const char *s, uint32_t a, uint32_t b,
                        tok_work *w)
{
    /* ids past the model's pieces are added tokens, which the model's own
     * map does not hold */
    int32_t id = tok_vocab_find(&m->vocab, s + a, b - a);
    if (id >= 0 && (uint32_t)id < u->n)
        return tok_tokens_push(&w->toks, id, a, b);
    if (u->byte_fallback) {
        uint32_t k;
        for (k = a; k < b; k++)
            if (u->byte_ids[(unsigned char)s[k]] < 0)
                break;
        if (k == b) {
            for (k = a; k < b; k++)
                if (tok_tokens_push(&w->toks, u->byte_ids[(unsigned char)s[k]], a, b))
                    return -1;
            return 0;
        }
    }
    return tok_tokens_push(&w->toks, u->unk_id, a, b);
}

int tok_unigram_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err)
{
    const tok_unigram *u = m->unigram;
    const char *s = ns->s;
    size_t n = ns->len;
    if (!n)
        return 0;
    if (n >= (size_t)INT32_MAX)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, -1, "piece too long for the Unigram model"), -1;
    ug_scratch *sc = get_scratch(w);
    if (!sc || SX_GROW(sc->nodes, sc->nodes_cap, n + 1))
        return nomem(err);
    ug_node *nd = sc->nodes;
    nd[0].score = 0;
    nd[0].start = 0;
    nd[0].id = -1;
    for (size_t i = 1; i <= n; i++)
        nd[i].start = -1;
    const da_cell *da = u->da;
    const uint32_t da_n = (uint32_t)u->da_n;
    const double *scores = u->scores;
    const unsigned char *tails = u->tails;
    size_t mblen;
    for (size_t i = 0; i < n; i += mblen) {
        mblen = (size_t)sx_utf8_len((unsigned char)s[i]);
        if (i + mblen > n)
            mblen = n - i;
        double here = nd[i].start >= 0 ? nd[i].score : 0.0;
        int has_single = 0;
        uint32_t pos = 0;
        for (size_t k = i; k < n; k++) {
            uint32_t nx = (uint32_t)da[pos].base + (unsigned char)s[k];
            if (nx >= da_n || da[nx].check != pos)
                break;
            pos = nx;
            int32_t id = da[pos].id;
            size_t e = k + 1;
            if (da[pos].base < 0) {
                /* a tail: the one piece below, if the text goes on with it */
                const unsigned char *t = tails + (uint32_t)(-(da[pos].base + 1));
                uint32_t tl;
                memcpy(&tl, t, 4);
                if (tl > n - e || memcmp(s + e, t + 4, tl))
                    break;
                e += tl;
                k = n; /* nothing below a tail */
            } else if (id < 0) {
                continue;
            }
            double cand = scores[id] + here;
            if (nd[e].start < 0 || cand > nd[e].score) {
                nd[e].score = cand;
                nd[e].start = (int32_t)i;
                nd[e].id = id;
            }
            if (e - i == mblen)
                has_single = 1;
        }
        if (!has_single) {
            size_t e = i + mblen;
            double cand = u->unk_score + here;
            if (nd[e].start < 0 || cand > nd[e].score) {
                if (u->unk_id < 0)
                    return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "model.unk_id", -1,
                                      "an unknown character was met but the model has no unk_id"), -1;
                nd[e].score = cand;
                nd[e].start = (int32_t)i;
                nd[e].id = u->unk_id;
            }
        }
    }
    /* backtrack: segments from the end */
    size_t nseg = 0;
    for (size_t e = n; e > 0; e = (size_t)nd[e].start) {
        if (SX_GROW(sc->segs, sc->segs_cap, nseg + 1))
            return nomem(err);
        sc->segs[nseg].start = (uint32_t)nd[e].start;
        sc->segs[nseg].end = (uint32_t)e;
        sc->segs[nseg].id = nd[e].id;
        nseg++;
    }
    /* forward, fusing runs of unknowns */
    const ug_seg *sg = sc->segs;
    for (size_t k = nseg; k-- > 0;) {
        if (u->unk_id < 0 || sg[k].id != u->unk_id) {
            if (tok_tokens_push(&w->toks, sg[k].id, sg[k].start, sg[k].end))
                return nomem(err);
            continue;
        }
        uint32_t a = sg[k].start, b = sg[k].end;
        while (k > 0 && sg[k - 1].id == u->unk_id) {
            k--;
            b = sg[k].end;
        }
        if (emit_unknown(m, u, s, a, b, w))
            return nomem(err);
    }
    return 0;
}
