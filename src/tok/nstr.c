/* nstr.c: normalized strings that remember where each byte came from.
 * The edit semantics (transform, filter, strip, prepend, lowercase, Unicode
 * normalization) follow `tokenizers`' NormalizedString exactly, because the
 * offsets every token reports depend on them. */
#include "tok_int.h"
#include "alloc.h"
#include "utf8.h"
#include <string.h>

int tok_edits_push(tok_edits *e, uint32_t cp, int32_t change)
{
    if (SX_GROW(e->v, e->cap, e->n + 1))
        return -1;
    e->v[e->n].cp = cp;
    e->v[e->n].change = change;
    e->n++;
    return 0;
}

static int nstr_reserve(tok_nstr *ns, size_t n)
{
    if (SX_GROW(ns->s, ns->cap, n + 1))
        return -1;
    if (SX_GROW(ns->align, ns->align_cap, n ? n : 1))
        return -1;
    return 0;
}

int tok_nstr_set(tok_nstr *ns, const char *s, size_t n, uint32_t base)
{
    if (nstr_reserve(ns, n))
        return -1;
    memcpy(ns->s, s, n);
    ns->s[n] = 0;
    ns->len = n;
    size_t i = 0;
    while (i < n) {
        int l = sx_utf8_len((unsigned char)s[i]);
        tok_span sp = {base + (uint32_t)i, base + (uint32_t)(i + (size_t)l)};
        for (int k = 0; k < l && i + (size_t)k < n; k++)
            ns->align[i + (size_t)k] = sp;
        i += (size_t)l;
    }
    ns->orig.start = base;
    ns->orig.end = base + (uint32_t)n;
    return 0;
}

tok_span tok_nstr_orig_range(const tok_nstr *ns, size_t a, size_t b)
{
    if (a >= b || b > ns->len) {
        tok_span e = {ns->orig.start, ns->orig.start};
        if (a < ns->len)
            e.start = e.end = ns->align[a].start;
        return e;
    }
    tok_span r = {ns->align[a].start, ns->align[b - 1].end};
    return r;
}

int tok_nstr_slice(tok_nstr *dst, const tok_nstr *src, size_t a, size_t b)
{
    size_t n = b - a;
    if (nstr_reserve(dst, n))
        return -1;
    memcpy(dst->s, src->s + a, n);
    dst->s[n] = 0;
    memcpy(dst->align, src->align + a, n * sizeof *dst->align);
    dst->len = n;
    if (n)
        dst->orig = tok_nstr_orig_range(src, a, b);
    else {
        uint32_t at = a < src->len ? src->align[a].start : src->orig.end;
        dst->orig.start = dst->orig.end = at;
    }
    return 0;
}

void tok_nstr_free(tok_nstr *ns)
{
    sx_free(ns->s);
    sx_free(ns->align);
    memset(ns, 0, sizeof *ns);
}

static void nstr_swap(tok_nstr *a, tok_nstr *b)
{
    tok_nstr t = *a;
    *a = *b;
    *b = t;
}

int tok_nstr_transform_range(tok_nstr *ns, size_t a, size_t b, const tok_edits *ed,
                             size_t initial_offset, tok_nstr *out)
{
    /* Upper bound of the output: prefix + 4 bytes per edit + suffix. */
    size_t need = a + ed->n * 4 + (ns->len - b);
    if (nstr_reserve(out, need))
        return -1;
    memcpy(out->s, ns->s, a);
    memcpy(out->align, ns->align, a * sizeof *ns->align);
    size_t w = a;
    size_t rp = a; /* read position among the replaced characters */
    for (size_t k = 0; k < initial_offset && rp < b; k++)
        rp += (size_t)sx_utf8_len((unsigned char)ns->s[rp]);
    size_t offset = rp;
    for (size_t i = 0; i < ed->n; i++) {
        uint32_t cp = ed->v[i].cp;
        int32_t change = ed->v[i].change;
        tok_span al;
        if (change > 0) {
            if (offset < 1)
                al.start = al.end = 0;
            else
                al = ns->align[offset - 1 < ns->len ? offset - 1 : ns->len - 1];
        } else if (offset < ns->len) {
            al = ns->align[offset];
        } else {
            /* The reference would panic here; keep the end of the piece. */
            al.start = al.end = ns->len ? ns->align[ns->len - 1].end : ns->orig.end;
        }
        if (change <= 0 && rp < b) {
            size_t l = (size_t)sx_utf8_len((unsigned char)ns->s[rp]);
            rp += l;
            offset += l;
        }
        if (change < 0) {
            for (int32_t k = 0; k < -change && rp < b; k++) {
                size_t l = (size_t)sx_utf8_len((unsigned char)ns->s[rp]);
                rp += l;
                offset += l;
            }
        }
        int l = sx_utf8_encode(cp, out->s + w);
        for (int k = 0; k < l; k++)
            out->align[w + (size_t)k] = al;
        w += (size_t)l;
    }
    memcpy(out->s + w, ns->s + b, ns->len - b);
    memcpy(out->align + w, ns->align + b, (ns->len - b) * sizeof *ns->align);
    w += ns->len - b;
    out->s[w] = 0;
    out->len = w;
    out->orig = ns->orig;
    nstr_swap(ns, out);
    return 0;
}

int tok_nstr_transform(tok_nstr *ns, const tok_edits *ed, size_t initial_offset, tok_nstr *scratch)
{
    return tok_nstr_transform_range(ns, 0, ns->len, ed, initial_offset, scratch);
}

static int case_map(tok_nstr *ns, tok_edits *ed, tok_nstr *scratch, int upper)
{
    /* Fast path: nothing to change. */
    int changes = 0;
    for (size_t i = 0; i < ns->len;) {
        int l;
        uint32_t cp = sx_utf8_decode(ns->s + i, &l);
        uint32_t m[3];
        int k = upper ? sx_uni_to_upper(cp, m) : sx_uni_to_lower(cp, m);
        if (k != 1 || m[0] != cp) {
            changes = 1;
            break;
        }
        i += (size_t)l;
    }
    if (!changes)
        return 0;
    ed->n = 0;
    for (size_t i = 0; i < ns->len;) {
        int l;
        uint32_t cp = sx_utf8_decode(ns->s + i, &l);
        uint32_t m[3];
        int k = upper ? sx_uni_to_upper(cp, m) : sx_uni_to_lower(cp, m);
        for (int j = 0; j < k; j++)
            if (tok_edits_push(ed, m[j], j > 0))
                return -1;
        i += (size_t)l;
    }
    return tok_nstr_transform(ns, ed, 0, scratch);
}

int tok_nstr_lowercase(tok_nstr *ns, tok_edits *ed, tok_nstr *scratch) { return case_map(ns, ed, scratch, 0); }
int tok_nstr_uppercase(tok_nstr *ns, tok_edits *ed, tok_nstr *scratch) { return case_map(ns, ed, scratch, 1); }

/* Canonical composition of a pair, or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    uint32_t in[2] = {a, b}, out[2 * 18];
    /* sx_uni_normalize decomposes first; a and b are already decomposed, so
     * NFC of the pair composes exactly this pair when it can. */
    long n = sx_uni_normalize(in, 2, SX_NFC, out, sizeof out / sizeof out[0]);
    return n == 1 ? out[0] : 0;
}

/* Characters an edit takes from the original: 0 for an insertion. */
static int32_t edit_consumes(int32_t change) { return change > 0 ? 0 : 1 - change; }

/* Appends the edits of one normalization segment the way the reference's
 * alignment-keeping normalizer does: every character decomposes into its
 * first code point (replacing it) and insertions; canonical reordering
 * moves edits with their characters; composition folds a character into its
 * starter, which then takes over what the character consumed. */
static int segment_edits(tok_edits *ed, const uint32_t *in, size_t n_in, int form)
{
    int compat = form == SX_NFKD || form == SX_NFKC;
    int compose = form == SX_NFC || form == SX_NFKC;
    size_t base = ed->n;
    for (size_t i = 0; i < n_in; i++) {
        uint32_t d[18 * 4];
        long k = sx_uni_normalize(&in[i], 1, compat ? SX_NFKD : SX_NFD, d, sizeof d / sizeof d[0]);
        if (k < 0)
            return -1;
        for (long j = 0; j < k; j++)
            if (tok_edits_push(ed, d[j], j > 0))
                return -1;
        if (k == 0) {
            /* nothing left of this character: the previous edit removes it */
            if (ed->n > base)
                ed->v[ed->n - 1].change -= 1;
        }
    }
    tok_edit *e = ed->v + base;
    size_t n = ed->n - base;
    for (size_t i = 1; i < n; i++) {
        int cc = sx_uni_combining_class(e[i].cp);
        if (!cc)
            continue;
        size_t j = i;
        while (j > 0) {
            int pc = sx_uni_combining_class(e[j - 1].cp);
            if (!pc || pc <= cc)
                break;
            tok_edit t = e[j];
            e[j] = e[j - 1];
            e[j - 1] = t;
            j--;
        }
    }
    if (!compose)
        return 0;
    size_t w = 0;
    long starter = -1;
    int last_cc = -1; /* class of the last character kept after the starter; -1: none */
    for (size_t i = 0; i < n; i++) {
        tok_edit c = e[i];
        int cc = sx_uni_combining_class(c.cp);
        if (starter >= 0 && (last_cc == -1 || (last_cc != 0 && last_cc < cc))) {
            uint32_t comp = compose_pair(e[starter].cp, c.cp);
            if (comp) {
                e[starter].cp = comp;
                e[starter].change -= edit_consumes(c.change);
                if (e[starter].change > 0 && edit_consumes(c.change))
                    e[starter].change = 0;
                continue;
            }
        }
        if (cc == 0) {
            starter = (long)w;
            last_cc = -1;
        } else {
            last_cc = cc;
        }
        e[w++] = c;
    }
    ed->n = base + w;
    return 0;
}

int tok_nstr_unicode(tok_nstr *ns, int form, tok_edits *ed, tok_nstr *scratch)
{
    /* ASCII is invariant under every normalization form. */
    size_t i;
    for (i = 0; i < ns->len; i++)
        if ((unsigned char)ns->s[i] >= 0x80)
            break;
    if (i == ns->len)
        return 0;
    ed->n = 0;
    uint32_t seg[64], outb[64 * 18];
    int any = 0;
    i = 0;
    while (i < ns->len) {
        /* one segment: a starter and what may reorder or compose with it */
        size_t n_in = 0;
        int l;
        seg[n_in++] = sx_utf8_decode(ns->s + i, &l);
        i += (size_t)l;
        while (i < ns->len && n_in < 64) {
            uint32_t cp = sx_utf8_decode(ns->s + i, &l);
            if (sx_uni_is_norm_segment_start(cp))
                break;
            seg[n_in++] = cp;
            i += (size_t)l;
        }
        long n_out = sx_uni_normalize(seg, n_in, (sx_norm_form)form, outb, sizeof outb / sizeof outb[0]);
        if (n_out < 0)
            return -1;
        if ((size_t)n_out == n_in && !memcmp(seg, outb, n_in * sizeof *seg)) {
            for (size_t k = 0; k < n_in; k++)
                if (tok_edits_push(ed, seg[k], 0))
                    return -1;
            continue;
        }
        any = 1;
        if (segment_edits(ed, seg, n_in, form))
            return -1;
    }
    if (!any)
        return 0;
    return tok_nstr_transform(ns, ed, 0, scratch);
}

int tok_nstr_filter(tok_nstr *ns, int (*keep)(uint32_t, const void *), const void *ctx,
                    tok_edits *ed, tok_nstr *scratch)
{
    ed->n = 0;
    size_t leading = 0;
    int any = 0;
    for (size_t i = 0; i < ns->len;) {
        int l;
        uint32_t cp = sx_utf8_decode(ns->s + i, &l);
        i += (size_t)l;
        if (keep(cp, ctx)) {
            if (tok_edits_push(ed, cp, 0))
                return -1;
        } else {
            any = 1;
            if (ed->n)
                ed->v[ed->n - 1].change--;
            else
                leading++;
        }
    }
    if (!any)
        return 0;
    return tok_nstr_transform(ns, ed, leading, scratch);
}

int tok_nstr_strip(tok_nstr *ns, int left, int right, tok_edits *ed, tok_nstr *scratch)
{
    /* count characters and leading / trailing whitespace */
    size_t nchars = 0, lead = 0, trail = 0;
    int in_lead = 1;
    for (size_t i = 0; i < ns->len;) {
        int l;
        uint32_t cp = sx_utf8_decode(ns->s + i, &l);
        i += (size_t)l;
        int ws = sx_uni_is_whitespace(cp);
        if (in_lead && ws)
            lead++;
        else
            in_lead = 0;
        trail = ws ? trail + 1 : 0;
        nchars++;
    }
    if (!left)
        lead = 0;
    if (!right)
        trail = 0;
    /* all whitespace: everything goes (the reference counts both ends over
     * the whole string, and removes each character once) */
    if (!lead && !trail)
        return 0;
    ed->n = 0;
    size_t ci = 0;
    for (size_t i = 0; i < ns->len; ci++) {
        int l;
        uint32_t cp = sx_utf8_decode(ns->s + i, &l);
        i += (size_t)l;
        if (ci < lead || ci >= nchars - trail)
            continue;
        int32_t change = (ci == nchars - trail - 1) ? -(int32_t)trail : 0;
        if (tok_edits_push(ed, cp, change))
            return -1;
    }
    return tok_nstr_transform(ns, ed, lead, scratch);
}

int tok_nstr_prepend(tok_nstr *ns, const char *s, size_t n, tok_edits *ed, tok_nstr *scratch)
{
    if (!ns->len || !n)
        return 0;
    int nl;
    uint32_t next = sx_utf8_decode(ns->s, &nl);
    ed->n = 0;
    int first = 1;
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t cp = sx_utf8_decode(s + i, &l);
        i += (size_t)l;
        if (tok_edits_push(ed, cp, first ? 0 : 1))
            return -1;
        first = 0;
    }
    if (tok_edits_push(ed, next, 1))
        return -1;
    return tok_nstr_transform_range(ns, 0, (size_t)nl, ed, 0, scratch);
}

int tok_nstr_append(tok_nstr *ns, const char *s, size_t n, tok_edits *ed, tok_nstr *scratch)
{
    if (!ns->len || !n)
        return 0;
    size_t b = ns->len - 1;
    while (b > 0 && ((unsigned char)ns->s[b] & 0xC0) == 0x80)
        b--;
    int pl;
    uint32_t prev = sx_utf8_decode(ns->s + b, &pl);
    ed->n = 0;
    if (tok_edits_push(ed, prev, 0))
        return -1;
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t cp = sx_utf8_decode(s + i, &l);
        i += (size_t)l;
        if (tok_edits_push(ed, cp, 1))
            return -1;
    }
    return tok_nstr_transform_range(ns, b, ns->len, ed, 0, scratch);
}
