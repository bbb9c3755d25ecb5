/* pretok.c: pre-tokenizers of tokenizer.json that split pieces into words
 * (BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Digits,
 * Split, Sequence), the shared split machinery with the reference's five
 * delimiter behaviours, and dispatch to Metaspace (metaspace.c) and
 * ByteLevel (bytelevel.c). */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <string.h>

/* implemented in metaspace.c and bytelevel.c */
int tok_metaspace_load(const json_value *v, tok_pretok *out, semdex_error *err);
int tok_metaspace_apply(const tok_pretok *p, tok_work *w, semdex_error *err);
int tok_bytelevel_load(const json_value *v, tok_pretok *out, semdex_error *err);
int tok_bytelevel_apply(const tok_pretok *p, tok_work *w, semdex_error *err);

static int nomem(semdex_error *err)
{
    sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in pre-tokenizer");
    return -1;
}

/* Moves piece p (from w->pieces) to the end of w->next without copying. */
static int move_to_next(tok_work *w, tok_piece *p)
{
    tok_piece *d = tok_pieces_push(&w->next);
    if (!d)
        return -1;
    tok_piece t = *d;
    *d = *p;
    *p = t;
    return 0;
}

static int match_push(tok_matches *m, size_t a, size_t b, int is_match)
{
    if (SX_GROW(m->v, m->cap, m->n + 1))
        return -1;
    m->v[m->n].start = a;
    m->v[m->n].end = b;
    m->v[m->n].is_match = is_match;
    m->n++;
    return 0;
}

/* Applies a delimiter behaviour to a match list in place (reference:
 * NormalizedString::split).  After it, entries with is_match set are to be
 * removed. */
static void apply_behavior(tok_matches *m, tok_split_behavior behavior)
{
    size_t w = 0;
    int prev = 0;
    switch (behavior) {
    case TOK_SPLIT_REMOVED:
        return;
    case TOK_SPLIT_ISOLATED:
        for (size_t i = 0; i < m->n; i++)
            m->v[i].is_match = 0;
        return;
    case TOK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < m->n; i++) {
            tok_match x = m->v[i];
            if (x.is_match == prev && w > 0)
                m->v[w - 1].end = x.end;
            else {
                m->v[w] = x;
                m->v[w].is_match = 0;
                w++;
            }
            prev = x.is_match;
        }
        m->n = w;
        return;
    case TOK_SPLIT_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < m->n; i++) {
            tok_match x = m->v[i];
            if (x.is_match && !prev && w > 0)
                m->v[w - 1].end = x.end;
            else {
                m->v[w] = x;
                m->v[w].is_match = 0;
                w++;
            }
            prev = x.is_match;
        }
        m->n = w;
        return;
    case TOK_SPLIT_MERGED_WITH_NEXT: {
        /* walk backwards, merging a match into the split after it */
        size_t n = m->n;
        w = n;
        for (size_t k = n; k-- > 0;) {
            tok_match x = m->v[k];
            if (x.is_match && !prev && w < n)
                m->v[w].start = x.start;
            else {
                w--;
                m->v[w] = x;
                m->v[w].is_match = 0;
            }
            prev = x.is_match;
        }
        memmove(m->v, m->v + w, (n - w) * sizeof *m->v);
        m->n = n - w;
        return;
    }
    }
}

int tok_pieces_split(tok_work *w,
                     int (*find)(const tok_nstr *ns, tok_matches *out, const void *ctx, semdex_error *err),
                     const void *ctx, tok_split_behavior behavior, semdex_error *err)
{
    tok_matches *mp = &w->split, m = *mp;
    int rc = 0;
    w->next.n = 0;
    for (size_t i = 0; i < w->pieces.n && !rc; i++) {
        tok_piece *p = &w->pieces.v[i];
        if (p->added_id >= 0) {
            if (move_to_next(w, p))
                rc = nomem(err);
            continue;
        }
        m.n = 0;
        if (p->ns.len == 0) {
            continue; /* empty pieces are dropped, as the reference does */
        }
        if (find(&p->ns, &m, ctx, err)) {
            rc = -1;
            break;
        }
        apply_behavior(&m, behavior);
        for (size_t k = 0; k < m.n; k++) {
            if (m.v[k].is_match || m.v[k].end <= m.v[k].start)
                continue;
            if (m.v[k].start == 0 && m.v[k].end == p->ns.len) {
                if (move_to_next(w, p))
                    rc = nomem(err);
                break;
            }
            tok_piece *d = tok_pieces_push(&w->next);
            if (!d || tok_nstr_slice(&d->ns, &p->ns, m.v[k].start, m.v[k].end)) {
                rc = nomem(err);
                break;
            }
        }
    }
    *mp = m; /* kept for the next call */
    if (!rc)
        tok_work_swap(w);
    return rc;
}

/* Each character for which pred() holds is its own match (reference: the
 * Pattern impl for Fn(char) -> bool). */
static int find_chars(const tok_nstr *ns, tok_matches *out, int (*pred)(uint32_t))
{
    size_t last = 0;
    for (size_t i = 0; i < ns->len;) {
        int l;
        uint32_t cp = sx_utf8_decode(ns->s + i, &l);
        if (pred(cp)) {
            if (last < i && match_push(out, last, i, 0))
                return -1;
            if (match_push(out, i, i + (size_t)l, 1))
                return -1;
            last = i + (size_t)l;
        }
        i += (size_t)l;
    }
    if (last < ns->len && match_push(out, last, ns->len, 0))
        return -1;
    return 0;
}

static int is_bert_punct(uint32_t c)
{
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    return tok_ref_is_punct(c);
}

static int is_numeric_char(uint32_t c)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    return sx_uni_is_number(c);
}

static int find_whitespace(const tok_nstr *ns, tok_matches *out, const void *ctx, semdex_error *err)
{
    (void)ctx;
    return find_chars(ns, out, sx_uni_is_whitespace) ? nomem(err) : 0;
}

static int find_punct(const tok_nstr *ns, tok_matches *out, const void *ctx, semdex_error *err)
{
    (void)ctx;
    return find_chars(ns, out, is_bert_punct) ? nomem(err) : 0;
}

static int find_digits(const tok_nstr *ns, tok_matches *out, const void *ctx, semdex_error *err)
{
    (void)ctx;
    return find_chars(ns, out, is_numeric_char) ? nomem(err) : 0;
}

/* BertPreTokenizer in one pass: whitespace removed, punctuation isolated. */
static int bert_pretok(tok_work *w, semdex_error *err)
{
    w->next.n = 0;
    for (size_t i = 0; i < w->pieces.n; i++) {
        tok_piece *p = &w->pieces.v[i];
        if (p->added_id >= 0) {
            if (move_to_next(w, p))
                return nomem(err);
            continue;
        }
        const char *s = p->ns.s;
        size_t n = p->ns.len, start = 0, j = 0;
        while (j < n) {
            int l;
            uint32_t cp = (unsigned char)s[j] < 0x80 ? (l = 1, (unsigned char)s[j]) : sx_utf8_decode(s + j, &l);
            int ws = cp < 0x80 ? (cp == ' ' || (cp >= 9 && cp <= 13)) : sx_uni_is_whitespace(cp);
            int pu = !ws && is_bert_punct(cp);
            if (ws || pu) {
                if (start < j) {
                    tok_piece *d = tok_pieces_push(&w->next);
                    if (!d || tok_nstr_slice(&d->ns, &p->ns, start, j))
                        return nomem(err);
                }
                if (pu) {
                    tok_piece *d = tok_pieces_push(&w->next);
                    if (!d || tok_nstr_slice(&d->ns, &p->ns, j, j + (size_t)l))
                        return nomem(err);
                }
                start = j + (size_t)l;
            }
            j += (size_t)l;
        }
        if (start < n) {
            tok_piece *d = tok_pieces_push(&w->next);
            if (!d || tok_nstr_slice(&d->ns, &p->ns, start, n))
                return nomem(err);
        }
    }
    tok_work_swap(w);
    return 0;
}

/* Whitespace: \w+|[^\w\s]+ kept, the rest removed. */
static int word_class(uint32_t c)
{
    /* 0: whitespace, 1: word (\w), 2: other */
    if (c < 0x80) {
        if (c == ' ' || (c >= 9 && c <= 13))
            return 0;
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
            return 1;
        return 2;
    }
    if (sx_uni_is_whitespace(c))
        return 0;
    if (sx_uni_is_alphanumeric(c) || sx_uni_is_mark_nonspacing(c))
        return 1;
    int cat = sx_uni_category(c);
    if (cat == 6 /* Mc */ || cat == 8 /* Me */ || cat == 12 /* Pc */)
        return 1;
    return 2;
}

static int find_whitespace_words(const tok_nstr *ns, tok_matches *out, const void *ctx, semdex_error *err)
{
    (void)ctx;
    size_t i = 0, last = 0;
    while (i < ns->len) {
        int l;
        uint32_t cp = sx_utf8_decode(ns->s + i, &l);
        int cls = word_class(cp);
        if (!cls) {
            i += (size_t)l;
            continue;
        }
        size_t a = i;
        while (i < ns->len) {
            uint32_t c2 = sx_utf8_decode(ns->s + i, &l);
            if (word_class(c2) != cls)
                break;
            i += (size_t)l;
        }
        /* inverted pattern: the words are the kept (non-match) parts */
        if (last < a && match_push(out, last, a, 1))
            return nomem(err);
        if (match_push(out, a, i, 0))
            return nomem(err);
        last = i;
    }
    if (last < ns->len && match_push(out, last, ns->len, 1))
        return nomem(err);
    return 0;
}

typedef struct split_ctx {
    const tok_pretok *p;
    tok_matches *out;
    size_t last;
    int failed;
} split_ctx;

static int split_cb(size_t a, size_t b, void *vctx)
{
    split_ctx *c = vctx;
    int inv = c->p->invert;
    if (c->last < a && match_push(c->out, c->last, a, inv)) {
        c->failed = 1;
        return 1;
    }
    if (match_push(c->out, a, b, !inv)) {
        c->failed = 1;
        return 1;
    }
    c->last = b;
    return 0;
}

static int find_pattern(const tok_nstr *ns, tok_matches *out, const void *ctx, semdex_error *err)
{
    const tok_pretok *p = ctx;
    split_ctx c = {p, out, 0, 0};
    if (tok_pattern_find(p->pattern, ns->s, ns->len, split_cb, &c, err))
        return -1;
    if (c.failed)
        return nomem(err);
    if (c.last < ns->len && match_push(out, c.last, ns->len, p->invert))
        return nomem(err);
    return 0;
}

int tok_pretok_apply(const tok_pretok *p, tok_work *w, semdex_error *err)
{
    switch (p->type) {
    case TOK_PRE_SEQUENCE:
        for (size_t i = 0; i < p->n_children; i++)
            if (tok_pretok_apply(&p->children[i], w, err))
                return -1;
        return 0;
    case TOK_PRE_BERT: return bert_pretok(w, err);
    case TOK_PRE_WHITESPACE: return tok_pieces_split(w, find_whitespace_words, NULL, TOK_SPLIT_REMOVED, err);
    case TOK_PRE_WHITESPACE_SPLIT: return tok_pieces_split(w, find_whitespace, NULL, TOK_SPLIT_REMOVED, err);
    case TOK_PRE_PUNCTUATION: return tok_pieces_split(w, find_punct, NULL, p->behavior, err);
    case TOK_PRE_DIGITS:
        return tok_pieces_split(w, find_digits, NULL,
                                p->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS, err);
    case TOK_PRE_SPLIT: return tok_pieces_split(w, find_pattern, p, p->behavior, err);
    case TOK_PRE_METASPACE: return tok_metaspace_apply(p, w, err);
    case TOK_PRE_BYTE_LEVEL: return tok_bytelevel_apply(p, w, err);
    case TOK_PRE_TYPE_COUNT: break;
    }
    return 0;
}

static int parse_behavior(const json_value *v, tok_split_behavior def, tok_split_behavior *out, semdex_error *err)
{
    const json_value *b = json_get(v, "behavior");
    if (json_is_null(b)) {
        *out = def;
        return 0;
    }
    static const struct { const char *name; tok_split_behavior b; } names[] = {
        {"Removed", TOK_SPLIT_REMOVED}, {"Isolated", TOK_SPLIT_ISOLATED},
        {"MergedWithPrevious", TOK_SPLIT_MERGED_WITH_PREVIOUS}, {"MergedWithNext", TOK_SPLIT_MERGED_WITH_NEXT},
        {"Contiguous", TOK_SPLIT_CONTIGUOUS},
    };
    if (json_is_str(b))
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(b->u.str, names[i].name)) {
                *out = names[i].b;
                return 0;
            }
    return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pre_tokenizer.behavior", (int64_t)b->offset,
                      "unknown split behavior"), -1;
}

int tok_pretok_load(const json_value *v, tok_pretok *out, semdex_error *err)
{
    memset(out, 0, sizeof *out);
    const json_value *type = json_get(v, "type");
    if (!json_is_str(type))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pre_tokenizer.type", v ? (int64_t)v->offset : -1,
                          "pre_tokenizer has no \"type\""), -1;
    const char *t = type->u.str;
    if (!strcmp(t, "Sequence")) {
        out->type = TOK_PRE_SEQUENCE;
        const json_value *list = json_get(v, "pretokenizers");
        if (!json_is_arr(list))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pre_tokenizer.pretokenizers", (int64_t)v->offset,
                              "Sequence pre-tokenizer needs a \"pretokenizers\" array"), -1;
        out->children = sx_calloc(list->n ? list->n : 1, sizeof *out->children);
        if (!out->children)
            return nomem(err);
        for (uint32_t i = 0; i < list->n; i++) {
            out->n_children++; /* counted first: a partial child is freed too */
            if (tok_pretok_load(json_arr_at(list, i), &out->children[i], err))
                return -1;
        }
        return 0;
    }
    if (!strcmp(t, "BertPreTokenizer")) { out->type = TOK_PRE_BERT; return 0; }
    if (!strcmp(t, "Whitespace")) { out->type = TOK_PRE_WHITESPACE; return 0; }
    if (!strcmp(t, "WhitespaceSplit")) { out->type = TOK_PRE_WHITESPACE_SPLIT; return 0; }
    if (!strcmp(t, "Punctuation")) {
        out->type = TOK_PRE_PUNCTUATION;
        return parse_behavior(v, TOK_SPLIT_ISOLATED, &out->behavior, err);
    }
    if (!strcmp(t, "Digits")) {
        out->type = TOK_PRE_DIGITS;
        out->individual_digits = json_bool(json_get(v, "individual_digits"), 0);
        return 0;
    }
    if (!strcmp(t, "Split")) {
        out->type = TOK_PRE_SPLIT;
        out->invert = json_bool(json_get(v, "invert"), 0);
        if (parse_behavior(v, TOK_SPLIT_REMOVED, &out->behavior, err))
            return -1;
        out->pattern = tok_pattern_from_json(json_get(v, "pattern"), err);
        return out->pattern ? 0 : -1;
    }
    if (!strcmp(t, "Metaspace")) {
        out->type = TOK_PRE_METASPACE;
        return tok_metaspace_load(v, out, err);
    }
    if (!strcmp(t, "ByteLevel")) {
        out->type = TOK_PRE_BYTE_LEVEL;
        return tok_bytelevel_load(v, out, err);
    }
    return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "pre_tokenizer.type", (int64_t)type->offset,
                      "unsupported pre-tokenizer type \"%s\"", t), -1;
}

void tok_pretok_free(tok_pretok *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_children; i++)
        tok_pretok_free(&p->children[i]);
    sx_free(p->children);
    tok_pattern_free(p->pattern);
    memset(p, 0, sizeof *p);
}
