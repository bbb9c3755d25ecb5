/* metaspace.c: the Metaspace pre-tokenizer of tokenizer.json (SentencePiece
 * style): every ' ' becomes the replacement character (U+2581 by default),
 * the replacement is prepended as the prepend scheme says, and with split
 * the piece is cut before every replacement character (the reference's
 * MergedWithNext split on that character).
 *
 * Alignments are those the reference's NormalizedString edits give: a
 * replaced space keeps the space's original range, a prepended replacement
 * takes the range of the character it precedes.  This file knows nothing of
 * normalizers or models. */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <string.h>

int tok_metaspace_load(const json_value *v, tok_pretok *out, semdex_error *err);
int tok_metaspace_apply(const tok_pretok *p, tok_work *w, semdex_error *err);

int tok_metaspace_load(const json_value *v, tok_pretok *out, semdex_error *err)
{
    const json_value *r = json_get(v, "replacement");
    if (!json_is_str(r))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pre_tokenizer.replacement", v ? (int64_t)v->offset : -1,
                          "Metaspace needs a \"replacement\" character"), -1;
    int l = r->n ? sx_utf8_len((unsigned char)r->u.str[0]) : 0;
    if (!r->n || (size_t)l != r->n || sx_utf8_validate(r->u.str, r->n) != r->n)
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pre_tokenizer.replacement", (int64_t)r->offset,
                          "Metaspace replacement must be exactly one character"), -1;
    out->replacement = sx_utf8_decode(r->u.str, &l);
    memcpy(out->replacement_utf8, r->u.str, r->n);
    out->replacement_utf8[r->n] = 0;
    out->replacement_len = (int)r->n;

    out->prepend_scheme = TOK_PREPEND_ALWAYS;
    const json_value *ps = json_get(v, "prepend_scheme");
    if (!json_is_null(ps)) {
        if (!json_is_str(ps))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pre_tokenizer.prepend_scheme", (int64_t)ps->offset,
                              "prepend_scheme must be \"always\", \"never\" or \"first\""), -1;
        if (!strcmp(ps->u.str, "always"))
            out->prepend_scheme = TOK_PREPEND_ALWAYS;
        else if (!strcmp(ps->u.str, "never"))
            out->prepend_scheme = TOK_PREPEND_NEVER;
        else if (!strcmp(ps->u.str, "first"))
            out->prepend_scheme = TOK_PREPEND_FIRST;
        else
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pre_tokenizer.prepend_scheme", (int64_t)ps->offset,
                              "unknown prepend_scheme \"%s\"", ps->u.str), -1;
    }
    /* Legacy files: add_prefix_space false means "never"; the reference
     * refuses it next to any other scheme (also the defaulted "always"). */
    const json_value *aps = json_get(v, "add_prefix_space");
    if (json_is_bool(aps) && aps->type == JSON_FALSE) {
        if (out->prepend_scheme != TOK_PREPEND_NEVER)
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pre_tokenizer.add_prefix_space", (int64_t)aps->offset,
                              "add_prefix_space does not match declared prepend_scheme"), -1;
        out->prepend_scheme = TOK_PREPEND_NEVER;
    }
    out->split = json_bool(json_get(v, "split"), 1);
    return 0;
}

static int nomem(semdex_error *err)
{
    sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in Metaspace");
    return -1;
}

static int reserve(tok_nstr *ns, size_t n)
{
    if (SX_GROW(ns->s, ns->cap, n + 1))
        return -1;
    if (SX_GROW(ns->align, ns->align_cap, n ? n : 1))
        return -1;
    return 0;
}

/* Replaces the spaces of ns and prepends the replacement when asked, in one
 * pass through `tmp` (swapped with ns when anything changed). */
static int rewrite(const tok_pretok *p, tok_nstr *ns, tok_nstr *tmp)
{
    const char *rep = p->replacement_utf8;
    size_t rl = (size_t)p->replacement_len;
    size_t spaces = 0;
    for (size_t i = 0; i < ns->len; i++)
        spaces += ns->s[i] == ' ';
    int starts_rep = ns->s[0] == ' ' || (ns->len >= rl && !memcmp(ns->s, rep, rl));
    int prepend = 0;
    if (!starts_rep) {
        if (p->prepend_scheme == TOK_PREPEND_ALWAYS)
            prepend = 1;
        else if (p->prepend_scheme == TOK_PREPEND_FIRST)
            prepend = ns->orig.start == 0; /* the piece starts the original text */
    }
    if (!spaces && !prepend)
        return 0;
    if (rl == 1 && !prepend) {
        /* an ASCII replacement: same length, in place */
        for (size_t i = 0; i < ns->len; i++)
            if (ns->s[i] == ' ')
                ns->s[i] = rep[0];
        return 0;
    }
    size_t need = ns->len + spaces * (rl - 1) + (prepend ? rl : 0);
    if (reserve(tmp, need))
        return -1;
    size_t o = 0;
    if (prepend) {
        memcpy(tmp->s, rep, rl);
        for (size_t k = 0; k < rl; k++)
            tmp->align[k] = ns->align[0];
        o = rl;
    }
    size_t last = 0;
    for (size_t i = 0; i < ns->len; i++) {
        if (ns->s[i] != ' ')
            continue;
        memcpy(tmp->s + o, ns->s + last, i - last);
        memcpy(tmp->align + o, ns->align + last, (i - last) * sizeof *ns->align);
        o += i - last;
        memcpy(tmp->s + o, rep, rl);
        for (size_t k = 0; k < rl; k++)
            tmp->align[o + k] = ns->align[i];
        o += rl;
        last = i + 1;
    }
    memcpy(tmp->s + o, ns->s + last, ns->len - last);
    memcpy(tmp->align + o, ns->align + last, (ns->len - last) * sizeof *ns->align);
    o += ns->len - last;
    tmp->s[o] = 0;
    tmp->len = o;
    tmp->orig = ns->orig;
    tok_nstr t = *ns;
    *ns = *tmp;
    *tmp = t;
    return 0;
}

/* Moves piece q to the end of w->next without copying its buffers. */
static int move_to_next(tok_work *w, tok_piece *q)
{
    tok_piece *d = tok_pieces_push(&w->next);
    if (!d)
        return -1;
    tok_piece t = *d;
    *d = *q;
    *q = t;
    return 0;
}

int tok_metaspace_apply(const tok_pretok *p, tok_work *w, semdex_error *err)
{
    const char *rep = p->replacement_utf8;
    size_t rl = (size_t)p->replacement_len;
    w->next.n = 0;
    for (size_t i = 0; i < w->pieces.n; i++) {
        tok_piece *q = &w->pieces.v[i];
        if (q->added_id >= 0) {
            if (move_to_next(w, q))
                return nomem(err);
            continue;
        }
        if (!q->ns.len)
            continue; /* empty pieces are dropped, as the reference does */
        if (rewrite(p, &q->ns, &w->scratch))
            return nomem(err);
        /* split: a new piece starts at every replacement character */
        size_t start = 0;
        if (p->split) {
            const char *s = q->ns.s;
            size_t n = q->ns.len;
            for (size_t k = 1; k + rl <= n;) {
                const char *f = memchr(s + k, (unsigned char)rep[0], n - k);
                if (!f || (size_t)(f - s) + rl > n)
                    break;
                k = (size_t)(f - s);
                if (memcmp(f, rep, rl)) {
                    k++;
                    continue;
                }
                tok_piece *d = tok_pieces_push(&w->next);
                /* q may move when w->next grows: they are different lists */
                if (!d || tok_nstr_slice(&d->ns, &q->ns, start, k))
                    return nomem(err);
                start = k;
                k += rl;
            }
        }
        if (start == 0) {
            if (move_to_next(w, q))
                return nomem(err);
        } else {
            tok_piece *d = tok_pieces_push(&w->next);
            if (!d || tok_nstr_slice(&d->ns, &q->ns, start, q->ns.len))
                return nomem(err);
        }
    }
    tok_work_swap(w);
    return 0;
}
