/* normalizer.c: the normalizers of tokenizer.json (BertNormalizer, NFC/NFD/
 * NFKC/NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Precompiled,
 * Sequence), loaded from JSON and applied to an aligned string. */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <string.h>

static int is_chinese_char(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int bert_is_whitespace(uint32_t c)
{
    return c == '\t' || c == '\n' || c == '\r' || sx_uni_is_whitespace(c);
}

int tok_ref_is_punct(uint32_t c)
{
    return sx_uni_is_punct_cat(sx_uni_category_at(c, TOK_REF_UNICODE_VERSION));
}

int tok_ref_is_mark_nonspacing(uint32_t c)
{
    return sx_uni_is_mn_cat(sx_uni_category_at(c, TOK_REF_UNICODE_VERSION));
}

/* `unicode_categories`' is_other(): its tables come from UnicodeData.txt,
 * where no code point is listed as Cn, so unassigned code points are not
 * "other" and are kept. */
int tok_ref_is_other(uint32_t c)
{
    int cat = sx_uni_category_at(c, TOK_REF_UNICODE_VERSION);
    return cat != sx_uni_category(0x378) /* Cn */ && sx_uni_is_other_cat(cat);
}

static int bert_is_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    return tok_ref_is_other(c);
}

static int keep_clean(uint32_t c, const void *ctx)
{
    (void)ctx;
    return !(c == 0 || c == 0xFFFD || bert_is_control(c));
}

static int keep_not_mn(uint32_t c, const void *ctx)
{
    (void)ctx;
    return c < 0x300 ? 1 : !tok_ref_is_mark_nonspacing(c);
}

static int bert_normalize(const tok_normalizer *n, tok_nstr *ns, tok_work *w)
{
    if (n->clean_text) {
        if (tok_nstr_filter(ns, keep_clean, NULL, &w->edits, &w->scratch))
            return -1;
        /* map whitespace to ' ' in place: same byte length only for ASCII,
         * so use a transform when a non-ASCII space is present */
        int need = 0;
        for (size_t i = 0; i < ns->len;) {
            int l;
            uint32_t cp = sx_utf8_decode(ns->s + i, &l);
            if (cp != ' ' && bert_is_whitespace(cp)) {
                if (l == 1)
                    ns->s[i] = ' ';
                else
                    need = 1;
            }
            i += (size_t)l;
        }
        if (need) {
            w->edits.n = 0;
            for (size_t i = 0; i < ns->len;) {
                int l;
                uint32_t cp = sx_utf8_decode(ns->s + i, &l);
                i += (size_t)l;
                if (tok_edits_push(&w->edits, bert_is_whitespace(cp) ? ' ' : cp, 0))
                    return -1;
            }
            if (tok_nstr_transform(ns, &w->edits, 0, &w->scratch))
                return -1;
        }
    }
    if (n->handle_chinese_chars) {
        int any = 0;
        for (size_t i = 0; i < ns->len;) {
            int l;
            uint32_t cp = sx_utf8_decode(ns->s + i, &l);
            i += (size_t)l;
            if (is_chinese_char(cp)) {
                any = 1;
                break;
            }
        }
        if (any) {
            w->edits.n = 0;
            for (size_t i = 0; i < ns->len;) {
                int l;
                uint32_t cp = sx_utf8_decode(ns->s + i, &l);
                i += (size_t)l;
                if (is_chinese_char(cp)) {
                    if (tok_edits_push(&w->edits, ' ', 1) || tok_edits_push(&w->edits, cp, 0) ||
                        tok_edits_push(&w->edits, ' ', 1))
                        return -1;
                } else if (tok_edits_push(&w->edits, cp, 0)) {
                    return -1;
                }
            }
            if (tok_nstr_transform(ns, &w->edits, 0, &w->scratch))
                return -1;
        }
    }
    if (n->strip_accents) {
        if (tok_nstr_unicode(ns, SX_NFD, &w->edits, &w->scratch) ||
            tok_nstr_filter(ns, keep_not_mn, NULL, &w->edits, &w->scratch))
            return -1;
    }
    if (n->lowercase && tok_nstr_lowercase(ns, &w->edits, &w->scratch))
        return -1;
    return 0;
}

typedef struct replace_ctx {
    tok_nstr *ns;
    const tok_normalizer *n;
    tok_work *w;
    long shift; /* bytes added so far by earlier replacements */
    int failed;
} replace_ctx;

static int replace_cb(size_t start, size_t end, void *vctx)
{
    replace_ctx *c = vctx;
    size_t a = (size_t)((long)start + c->shift), b = (size_t)((long)end + c->shift);
    size_t removed = 0;
    for (size_t i = a; i < b; i += (size_t)sx_utf8_len((unsigned char)c->ns->s[i]))
        removed++;
    c->w->edits.n = 0;
    for (size_t i = 0; i < c->n->content_len;) {
        int l;
        uint32_t cp = sx_utf8_decode(c->n->content + i, &l);
        i += (size_t)l;
        if (tok_edits_push(&c->w->edits, cp, 1)) {
            c->failed = 1;
            return 1;
        }
    }
    if (tok_nstr_transform_range(c->ns, a, b, &c->w->edits, removed, &c->w->scratch)) {
        c->failed = 1;
        return 1;
    }
    c->shift += (long)c->n->content_len - (long)(end - start);
    return 0;
}

/* Replace runs on a copy of the matches' positions in the string as it was
 * before any replacement, exactly like the reference. */
typedef struct match_list {
    size_t (*v)[2];
    size_t n, cap;
} match_list;

static int collect_cb(size_t start, size_t end, void *ctx)
{
    match_list *m = ctx;
    if (SX_GROW(m->v, m->cap, m->n + 1))
        return 1;
    m->v[m->n][0] = start;
    m->v[m->n][1] = end;
    m->n++;
    return 0;
}

static int replace_normalize(const tok_normalizer *n, tok_nstr *ns, tok_work *w, semdex_error *err)
{
    match_list m = {0};
    if (tok_pattern_find(n->pattern, ns->s, ns->len, collect_cb, &m, err)) {
        sx_free(m.v);
        return -1;
    }
    replace_ctx c = {ns, n, w, 0, 0};
    for (size_t i = 0; i < m.n && !c.failed; i++)
        replace_cb(m.v[i][0], m.v[i][1], &c);
    sx_free(m.v);
    return c.failed ? -1 : 0;
}

int tok_normalizer_apply(const tok_normalizer *n, tok_nstr *ns, tok_work *w, semdex_error *err)
{
    int rc = 0;
    switch (n->type) {
    case TOK_NORM_SEQUENCE:
        for (size_t i = 0; i < n->n_children && !rc; i++)
            rc = tok_normalizer_apply(&n->children[i], ns, w, err);
        return rc;
    case TOK_NORM_BERT: rc = bert_normalize(n, ns, w); break;
    case TOK_NORM_NFC: rc = tok_nstr_unicode(ns, SX_NFC, &w->edits, &w->scratch); break;
    case TOK_NORM_NFD: rc = tok_nstr_unicode(ns, SX_NFD, &w->edits, &w->scratch); break;
    case TOK_NORM_NFKC: rc = tok_nstr_unicode(ns, SX_NFKC, &w->edits, &w->scratch); break;
    case TOK_NORM_NFKD: rc = tok_nstr_unicode(ns, SX_NFKD, &w->edits, &w->scratch); break;
    case TOK_NORM_LOWERCASE: rc = tok_nstr_lowercase(ns, &w->edits, &w->scratch); break;
    case TOK_NORM_STRIP: rc = tok_nstr_strip(ns, n->strip_left, n->strip_right, &w->edits, &w->scratch); break;
    case TOK_NORM_STRIP_ACCENTS: rc = tok_nstr_filter(ns, keep_not_mn, NULL, &w->edits, &w->scratch); break;
    case TOK_NORM_REPLACE: return replace_normalize(n, ns, w, err);
    case TOK_NORM_PREPEND: rc = tok_nstr_prepend(ns, n->content, n->content_len, &w->edits, &w->scratch); break;
    case TOK_NORM_PRECOMPILED: return tok_precompiled_apply(n->precompiled, ns, w, err);
    case TOK_NORM_TYPE_COUNT: break;
    }
    if (rc)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in normalizer"), -1;
    return 0;
}

static int opt_bool(const json_value *obj, const char *key, int def)
{
    return json_bool(json_get(obj, key), def);
}

int tok_normalizer_load(const json_value *v, tok_normalizer *out, semdex_error *err)
{
    memset(out, 0, sizeof *out);
    const json_value *type = json_get(v, "type");
    if (!json_is_str(type))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "normalizer.type", v ? (int64_t)v->offset : -1,
                          "normalizer has no \"type\""), -1;
    const char *t = type->u.str;
    if (!strcmp(t, "Sequence")) {
        out->type = TOK_NORM_SEQUENCE;
        const json_value *list = json_get(v, "normalizers");
        if (!json_is_arr(list))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "normalizer.normalizers", (int64_t)v->offset,
                              "Sequence normalizer needs a \"normalizers\" array"), -1;
        out->children = sx_calloc(list->n ? list->n : 1, sizeof *out->children);
        if (!out->children)
            return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1;
        for (uint32_t i = 0; i < list->n; i++) {
            out->n_children++; /* counted first: a partial child is freed too */
            if (tok_normalizer_load(json_arr_at(list, i), &out->children[i], err))
                return -1;
        }
        return 0;
    }
    if (!strcmp(t, "BertNormalizer")) {
        out->type = TOK_NORM_BERT;
        out->clean_text = opt_bool(v, "clean_text", 1);
        out->handle_chinese_chars = opt_bool(v, "handle_chinese_chars", 1);
        out->lowercase = opt_bool(v, "lowercase", 1);
        out->strip_accents = opt_bool(v, "strip_accents", out->lowercase);
        return 0;
    }
    if (!strcmp(t, "NFC")) { out->type = TOK_NORM_NFC; return 0; }
    if (!strcmp(t, "NFD")) { out->type = TOK_NORM_NFD; return 0; }
    if (!strcmp(t, "NFKC")) { out->type = TOK_NORM_NFKC; return 0; }
    if (!strcmp(t, "NFKD")) { out->type = TOK_NORM_NFKD; return 0; }
    if (!strcmp(t, "Lowercase")) { out->type = TOK_NORM_LOWERCASE; return 0; }
    if (!strcmp(t, "StripAccents")) { out->type = TOK_NORM_STRIP_ACCENTS; return 0; }
    if (!strcmp(t, "Strip")) {
        out->type = TOK_NORM_STRIP;
        out->strip_left = opt_bool(v, "strip_left", 1);
        out->strip_right = opt_bool(v, "strip_right", 1);
        return 0;
    }
    if (!strcmp(t, "Replace") || !strcmp(t, "Prepend")) {
        int is_replace = t[0] == 'R';
        out->type = is_replace ? TOK_NORM_REPLACE : TOK_NORM_PREPEND;
        const json_value *c = json_get(v, is_replace ? "content" : "prepend");
        if (!json_is_str(c))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, is_replace ? "normalizer.content" : "normalizer.prepend",
                              (int64_t)v->offset, "%s normalizer needs a string", t), -1;
        out->content = sx_strndup(c->u.str, c->n);
        out->content_len = c->n;
        if (!out->content)
            return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1;
        if (is_replace) {
            out->pattern = tok_pattern_from_json(json_get(v, "pattern"), err);
            if (!out->pattern)
                return -1;
        }
        return 0;
    }
    if (!strcmp(t, "Precompiled")) {
        out->type = TOK_NORM_PRECOMPILED;
        const json_value *map = json_get(v, "precompiled_charsmap");
        if (json_is_null(map))
            return 0; /* an empty charsmap normalizes nothing */
        if (!json_is_str(map))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "normalizer.precompiled_charsmap", (int64_t)v->offset,
                              "precompiled_charsmap must be a base64 string"), -1;
        out->precompiled = tok_precompiled_load(map->u.str, map->n, err);
        if (!out->precompiled) {
            if (err && !err->field[0])
                strcpy(err->field, "normalizer.precompiled_charsmap");
            if (err && err->offset < 0)
                err->offset = (int64_t)map->offset;
            return -1;
        }
        return 0;
    }
    return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "normalizer.type", (int64_t)type->offset,
                      "unsupported normalizer type \"%s\"", t), -1;
}

void tok_normalizer_free(tok_normalizer *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_children; i++)
        tok_normalizer_free(&n->children[i]);
    sx_free(n->children);
    tok_pattern_free(n->pattern);
    sx_free(n->content);
    tok_precompiled_free(n->precompiled);
    memset(n, 0, sizeof *n);
}
