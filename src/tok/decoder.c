/* decoder.c: decoders of tokenizer.json (WordPiece, Metaspace, ByteLevel,
 * BPE, ByteFallback, Fuse, Strip, Replace, Sequence): token strings back to
 * text, each step a decode_chain over the token list as in the reference. */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <string.h>

typedef struct strbuf {
    char *s;
    size_t n, cap;
} strbuf;

static int sb_add(strbuf *b, const char *s, size_t n)
{
    if (SX_GROW(b->s, b->cap, b->n + n + 1))
        return -1;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

static int sb_cp(strbuf *b, uint32_t cp)
{
    char u[4];
    return sb_add(b, u, (size_t)sx_utf8_encode(cp, u));
}

/* Replaces every occurrence of `from` with `to` in b. */
static int sb_replace(strbuf *b, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    if (!b->n || !memmem(b->s, b->n, from, fl))
        return 0;
    strbuf o = {0};
    size_t i = 0;
    while (i < b->n) {
        if (i + fl <= b->n && !memcmp(b->s + i, from, fl)) {
            if (sb_add(&o, to, tl))
                goto fail;
            i += fl;
        } else {
            if (sb_add(&o, b->s + i, 1))
                goto fail;
            i++;
        }
    }
    sx_free(b->s);
    *b = o;
    return 0;
fail:
    sx_free(o.s);
    return -1;
}

static int wordpiece_cleanup(strbuf *b)
{
    static const char *const pairs[][2] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (sb_replace(b, pairs[i][0], pairs[i][1]))
            return -1;
    return 0;
}

typedef struct tokv {
    strbuf *v;
    size_t n;
} tokv;

static void tokv_free(tokv *t)
{
    for (size_t i = 0; i < t->n; i++)
        sx_free(t->v[i].s);
    sx_free(t->v);
    t->v = NULL;
    t->n = 0;
}

static int utf8_lossy(strbuf *o, const unsigned char *bytes, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t ok = sx_utf8_validate((const char *)bytes + i, n - i);
        if (sb_add(o, (const char *)bytes + i, ok))
            return -1;
        i += ok;
        if (i < n) {
            if (sb_cp(o, 0xFFFD))
                return -1;
            /* skip the maximal invalid subpart: at least one byte */
            i++;
            while (i < n && (bytes[i] & 0xC0) == 0x80 && sx_utf8_validate((const char *)bytes + i, 1) != 1)
                i++;
        }
    }
    return 0;
}

typedef struct replace_ctx {
    const strbuf *in;
    strbuf out;
    size_t last;
    const char *content;
    int failed;
} replace_ctx;

static int replace_cb(size_t a, size_t b, void *vctx)
{
    replace_ctx *c = vctx;
    if (sb_add(&c->out, c->in->s + c->last, a - c->last) || sb_add(&c->out, c->content, strlen(c->content))) {
        c->failed = 1;
        return 1;
    }
    c->last = b;
    return 0;
}

static int decode_chain(const tok_decoder *d, tokv *t)
{
    switch (d->type) {
    case TOK_DEC_SEQUENCE:
        for (size_t i = 0; i < d->n_children; i++)
            if (decode_chain(&d->children[i], t))
                return -1;
        return 0;
    case TOK_DEC_WORDPIECE: {
        size_t pl = strlen(d->prefix);
        for (size_t i = 0; i < t->n; i++) {
            strbuf *b = &t->v[i];
            if (i != 0) {
                if (b->n >= pl && !memcmp(b->s, d->prefix, pl)) {
                    memmove(b->s, b->s + pl, b->n - pl + 1);
                    b->n -= pl;
                } else {
                    strbuf o = {0};
                    if (sb_add(&o, " ", 1) || sb_add(&o, b->s, b->n)) {
                        sx_free(o.s);
                        return -1;
                    }
                    sx_free(b->s);
                    *b = o;
                }
            }
            if (d->cleanup && wordpiece_cleanup(b))
                return -1;
        }
        return 0;
    }
    case TOK_DEC_METASPACE:
        for (size_t i = 0; i < t->n; i++) {
            strbuf o = {0};
            strbuf *b = &t->v[i];
            size_t j = 0;
            int first = 1;
            while (j < b->n) {
                int l;
                uint32_t cp = sx_utf8_decode(b->s + j, &l);
                j += (size_t)l;
                if (cp == d->replacement) {
                    if (!(first && i == 0 && d->add_prefix_space) && sb_add(&o, " ", 1))
                        goto mfail;
                } else if (sb_cp(&o, cp)) {
                    goto mfail;
                }
                first = 0;
                continue;
            mfail:
                sx_free(o.s);
                return -1;
            }
            if (!o.s && sb_add(&o, "", 0))
                return -1;
            sx_free(b->s);
            *b = o;
        }
        return 0;
    case TOK_DEC_BYTE_LEVEL: {
        strbuf bytes = {0}, o = {0};
        for (size_t i = 0; i < t->n; i++) {
            strbuf *b = &t->v[i];
            size_t start = bytes.n;
            int ok = 1;
            for (size_t j = 0; j < b->n;) {
                int l;
                uint32_t cp = sx_utf8_decode(b->s + j, &l);
                j += (size_t)l;
                int byte = tok_cp_to_byte(cp);
                if (byte < 0) {
                    ok = 0;
                    break;
                }
                char c = (char)byte;
                if (sb_add(&bytes, &c, 1))
                    goto bfail;
            }
            if (!ok) {
                bytes.n = start;
                if (sb_add(&bytes, b->s, b->n))
                    goto bfail;
            }
        }
        if (utf8_lossy(&o, (const unsigned char *)(bytes.s ? bytes.s : ""), bytes.n) || sb_add(&o, "", 0))
            goto bfail;
        sx_free(bytes.s);
        tokv_free(t);
        t->v = sx_calloc(1, sizeof *t->v);
        if (!t->v) {
            sx_free(o.s);
            return -1;
        }
        t->v[0] = o;
        t->n = 1;
        return 0;
    bfail:
        sx_free(bytes.s);
        sx_free(o.s);
        return -1;
    }
    case TOK_DEC_BPE: {
        size_t sl = strlen(d->prefix);
        for (size_t i = 0; i < t->n; i++) {
            strbuf *b = &t->v[i];
            const char *rep = i + 1 == t->n ? "" : " ";
            if (sl && sb_replace(b, d->prefix, rep))
                return -1;
        }
        return 0;
    }
    case TOK_DEC_BYTE_FALLBACK: {
        /* <0xAB> tokens: runs of them become bytes, decoded as UTF-8 or
         * one U+FFFD per byte when invalid */
        tokv o = {0};
        o.v = sx_calloc(t->n ? t->n : 1, sizeof *o.v);
        if (!o.v)
            return -1;
        unsigned char *run = sx_malloc(t->n + 1);
        size_t rn = 0;
        if (!run) {
            sx_free(o.v);
            return -1;
        }
        for (size_t i = 0; i <= t->n; i++) {
            int is_byte = 0;
            unsigned v = 0;
            if (i < t->n) {
                strbuf *b = &t->v[i];
                if (b->n == 6 && !memcmp(b->s, "<0x", 3) && b->s[5] == '>') {
                    is_byte = 1;
                    for (int k = 3; k < 5; k++) {
                        char c = b->s[k];
                        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                        if (h < 0)
                            is_byte = 0;
                        v = v * 16 + (unsigned)(h < 0 ? 0 : h);
                    }
                }
            }
            if (is_byte) {
                run[rn++] = (unsigned char)v;
                continue;
            }
            if (rn) {
                strbuf s = {0};
                if (sx_utf8_validate((const char *)run, rn) == rn) {
                    if (sb_add(&s, (const char *)run, rn))
                        goto ffail;
                } else {
                    for (size_t k = 0; k < rn; k++)
                        if (sb_cp(&s, 0xFFFD))
                            goto ffail;
                }
                o.v[o.n++] = s;
                rn = 0;
            }
            if (i < t->n) {
                o.v[o.n++] = t->v[i];
                t->v[i].s = NULL;
            }
            continue;
        ffail:
            sx_free(run);
            tokv_free(&o);
            return -1;
        }
        sx_free(run);
        tokv_free(t);
        *t = o;
        return 0;
    }
    case TOK_DEC_FUSE: {
        strbuf o = {0};
        for (size_t i = 0; i < t->n; i++)
            if (sb_add(&o, t->v[i].s ? t->v[i].s : "", t->v[i].n)) {
                sx_free(o.s);
                return -1;
            }
        if (sb_add(&o, "", 0))
            return -1;
        tokv_free(t);
        t->v = sx_calloc(1, sizeof *t->v);
        if (!t->v) {
            sx_free(o.s);
            return -1;
        }
        t->v[0] = o;
        t->n = 1;
        return 0;
    }
    case TOK_DEC_STRIP: {
        /* remove up to `start` leading and `stop` trailing copies of content (one char) */
        int cl;
        uint32_t c = d->content && d->content[0] ? sx_utf8_decode(d->content, &cl) : 0;
        for (size_t i = 0; i < t->n; i++) {
            strbuf *b = &t->v[i];
            size_t a = 0, e = b->n;
            for (size_t k = 0; k < d->strip_start && a < e; k++) {
                int l;
                if (sx_utf8_decode(b->s + a, &l) != c)
                    break;
                a += (size_t)l;
            }
            for (size_t k = 0; k < d->strip_stop && e > a; k++) {
                size_t s = e - 1;
                while (s > a && ((unsigned char)b->s[s] & 0xC0) == 0x80)
                    s--;
                int l;
                if (sx_utf8_decode(b->s + s, &l) != c)
                    break;
                e = s;
            }
            memmove(b->s, b->s + a, e - a);
            b->n = e - a;
            b->s[b->n] = 0;
        }
        return 0;
    }
    case TOK_DEC_REPLACE:
        for (size_t i = 0; i < t->n; i++) {
            replace_ctx c = {&t->v[i], {0}, 0, d->content, 0};
            if (tok_pattern_find(d->pattern, t->v[i].s, t->v[i].n, replace_cb, &c, NULL) || c.failed ||
                sb_add(&c.out, t->v[i].s + c.last, t->v[i].n - c.last)) {
                sx_free(c.out.s);
                return -1;
            }
            sx_free(t->v[i].s);
            t->v[i] = c.out;
        }
        return 0;
    case TOK_DEC_NONE:
    case TOK_DEC_TYPE_COUNT:
        return 0;
    }
    return 0;
}

int tok_decoder_decode(const tok_decoder *d, char **tokens, size_t n, char **out, semdex_error *err)
{
    tokv t = {0};
    t.v = sx_calloc(n ? n : 1, sizeof *t.v);
    if (!t.v)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (sb_add(&t.v[i], tokens[i], strlen(tokens[i])))
            goto nomem;
        t.n++;
    }
    if (decode_chain(d, &t))
        goto nomem;
    strbuf o = {0};
    for (size_t i = 0; i < t.n; i++) {
        if (d->type == TOK_DEC_NONE && i > 0 && sb_add(&o, " ", 1))
            goto nomem_o;
        if (sb_add(&o, t.v[i].s ? t.v[i].s : "", t.v[i].n))
            goto nomem_o;
    }
    if (sb_add(&o, "", 0))
        goto nomem_o;
    tokv_free(&t);
    *out = o.s;
    return 0;
nomem_o:
    sx_free(o.s);
nomem:
    tokv_free(&t);
    sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory while decoding");
    return -1;
}

int tok_decoder_load(const json_value *v, tok_decoder *out, semdex_error *err)
{
    memset(out, 0, sizeof *out);
    const json_value *type = json_get(v, "type");
    if (!json_is_str(type))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "decoder.type", v ? (int64_t)v->offset : -1,
                          "decoder has no \"type\""), -1;
    const char *t = type->u.str;
    if (!strcmp(t, "Sequence")) {
        out->type = TOK_DEC_SEQUENCE;
        const json_value *list = json_get(v, "decoders");
        if (!json_is_arr(list))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "decoder.decoders", (int64_t)v->offset,
                              "Sequence decoder needs a \"decoders\" array"), -1;
        out->children = sx_calloc(list->n ? list->n : 1, sizeof *out->children);
        if (!out->children)
            goto nomem;
        for (uint32_t i = 0; i < list->n; i++) {
            out->n_children++; /* counted first: a partial child is freed too */
            if (tok_decoder_load(json_arr_at(list, i), &out->children[i], err))
                return -1;
        }
        return 0;
    }
    if (!strcmp(t, "WordPiece")) {
        out->type = TOK_DEC_WORDPIECE;
        const json_value *p = json_get(v, "prefix");
        out->prefix = json_is_str(p) ? sx_strndup(p->u.str, p->n) : sx_strndup("##", 2);
        out->cleanup = json_bool(json_get(v, "cleanup"), 1);
        if (!out->prefix)
            goto nomem;
        return 0;
    }
    if (!strcmp(t, "Metaspace")) {
        out->type = TOK_DEC_METASPACE;
        const json_value *r = json_get(v, "replacement");
        int l;
        out->replacement = json_is_str(r) && r->n ? sx_utf8_decode(r->u.str, &l) : 0x2581;
        const json_value *ps = json_get(v, "prepend_scheme");
        if (json_is_str(ps))
            out->add_prefix_space = strcmp(ps->u.str, "never") != 0;
        else
            out->add_prefix_space = json_bool(json_get(v, "add_prefix_space"), 1);
        return 0;
    }
    if (!strcmp(t, "ByteLevel")) {
        out->type = TOK_DEC_BYTE_LEVEL;
        return 0;
    }
    if (!strcmp(t, "BPEDecoder")) {
        out->type = TOK_DEC_BPE;
        const json_value *s = json_get(v, "suffix");
        out->prefix = json_is_str(s) ? sx_strndup(s->u.str, s->n) : sx_strndup("</w>", 4);
        if (!out->prefix)
            goto nomem;
        return 0;
    }
    if (!strcmp(t, "ByteFallback")) {
        out->type = TOK_DEC_BYTE_FALLBACK;
        return 0;
    }
    if (!strcmp(t, "Fuse")) {
        out->type = TOK_DEC_FUSE;
        return 0;
    }
    if (!strcmp(t, "Strip")) {
        out->type = TOK_DEC_STRIP;
        const json_value *c = json_get(v, "content");
        out->content = json_is_str(c) ? sx_strndup(c->u.str, c->n) : sx_strndup(" ", 1);
        const json_value *a = json_get(v, "start"), *b = json_get(v, "stop");
        int64_t sa = 0, sb = 0;
        if ((!json_is_null(a) && !json_int_in(a, 0, INT32_MAX, &sa)) ||
            (!json_is_null(b) && !json_int_in(b, 0, INT32_MAX, &sb)))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "decoder.start", (int64_t)v->offset,
                              "Strip decoder's start and stop must be non-negative integers"), -1;
        out->strip_start = (size_t)sa;
        out->strip_stop = (size_t)sb;
        if (!out->content)
            goto nomem;
        return 0;
    }
    if (!strcmp(t, "Replace")) {
        out->type = TOK_DEC_REPLACE;
        const json_value *c = json_get(v, "content");
        if (!json_is_str(c))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "decoder.content", (int64_t)v->offset,
                              "Replace decoder needs a string \"content\""), -1;
        out->content = sx_strndup(c->u.str, c->n);
        if (!out->content)
            goto nomem;
        out->pattern = tok_pattern_from_json(json_get(v, "pattern"), err);
        return out->pattern ? 0 : -1;
    }
    return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "decoder.type", (int64_t)type->offset,
                      "unsupported decoder type \"%s\"", t), -1;
nomem:
    return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory"), -1;
}

void tok_decoder_free(tok_decoder *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_children; i++)
        tok_decoder_free(&d->children[i]);
    sx_free(d->children);
    sx_free(d->prefix);
    sx_free(d->content);
    tok_pattern_free(d->pattern);
    memset(d, 0, sizeof *d);
}
