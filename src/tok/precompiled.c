/* precompiled.c: SentencePiece's precompiled charsmap normalizer, as the
 * reference's `Precompiled` normalizer (tokenizers + spm_precompiled) runs it.
 *
 * The charsmap is base64 of [u32 trie size in bytes][trie units][normalized
 * strings blob]: a darts-clone double-array trie whose leaf values are byte
 * offsets of NUL-terminated replacement strings in the blob.  The reference
 * walks the text grapheme by grapheme: a grapheme shorter than 6 bytes is
 * replaced whole when its *shortest* prefix in the trie matches (whatever
 * follows that prefix inside the grapheme is dropped), otherwise each
 * character is looked up alone.  Edits are recorded as the reference's
 * `replace` does (extra new characters are insertions, a shortfall is a
 * removal on the last edit recorded so far, even an earlier character's), so
 * the alignments come out the same.
 *
 * This file knows the charsmap format and the normalizer's rules; it knows
 * nothing of models, pre-tokenizers or JSON. */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <string.h>

struct tok_precompiled {
    uint32_t *units;  /* double-array units */
    size_t n_units;
    char *norm;       /* replacement strings, NUL-separated (valid UTF-8) */
    size_t norm_len;
    size_t root_pos;  /* node position after leaving the root */
    /* For each byte: 1 when the trie has a key starting with it. */
    uint8_t starts[256];
};

/* ------------------------------------------------------------- base64 */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict standard base64 with canonical padding (what the reference's
 * BASE64_STANDARD engine accepts).  Returns the decoded length or -1 and
 * sets *bad to the offending input offset. */
static long b64_decode(const char *in, size_t n, unsigned char *out, size_t *bad)
{
    if (n % 4) {
        *bad = n;
        return -1;
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + (size_t)k];
            if (c == '=' && i + 4 == n && k >= 2) {
                /* padding only at the end: "xx==" or "xxx=" */
                if (k == 2 && in[i + 3] != '=') {
                    *bad = i + (size_t)k;
                    return -1;
                }
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) {
                *bad = i + (size_t)k;
                return -1;
            }
            v[k] = b64_value(c);
            if (v[k] < 0) {
                *bad = i + (size_t)k;
                return -1;
            }
        }
        uint32_t x = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
        out[w++] = (unsigned char)(x >> 16);
        if (pad < 2)
            out[w++] = (unsigned char)(x >> 8);
        if (pad < 1)
            out[w++] = (unsigned char)x;
        /* trailing bits must be zero */
        if ((pad == 2 && (v[1] & 0xF)) || (pad == 1 && (v[2] & 0x3))) {
            *bad = i;
            return -1;
        }
    }
    return (long)w;
}

/* --------------------------------------------------------- double array */

static inline int unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static inline uint32_t unit_label(uint32_t u) { return u & (0x80000000u | 0xFFu); }
static inline size_t unit_offset(uint32_t u) { return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6); }

/* The value of the shortest key that is a prefix of s[0..n) (the walk stops
 * at a NUL byte, as the reference's does), or -1.  Out-of-range positions,
 * which only a malformed charsmap has, end the walk without a match. */
static long shortest_match(const tok_precompiled *p, const unsigned char *s, size_t n)
{
    size_t pos = p->root_pos;
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (!c)
            return -1;
        pos ^= c;
        if (pos >= p->n_units)
            return -1;
        uint32_t u = p->units[pos];
        if (unit_label(u) != c)
            return -1;
        pos ^= unit_offset(u);
        if (unit_has_leaf(u))
            return pos < p->n_units ? (long)unit_value(p->units[pos]) : -1;
    }
    return -1;
}

/* The replacement string at blob offset v; 0 when v is not usable (past the
 * blob or inside a character: the reference would panic there). */
static int replacement_at(const tok_precompiled *p, long v, const char **s, size_t *n)
{
    size_t i = (size_t)v;
    if (v < 0 || i > p->norm_len)
        return 0;
    if (i < p->norm_len && ((unsigned char)p->norm[i] & 0xC0) == 0x80)
        return 0;
    const char *z = memchr(p->norm + i, 0, p->norm_len - i);
    *s = p->norm + i;
    *n = z ? (size_t)(z - (p->norm + i)) : p->norm_len - i;
    return 1;
}

/* transform(): the replacement for the chunk s[0..n), when the trie has one. */
static int transform(const tok_precompiled *p, const char *s, size_t n, const char **out, size_t *out_n)
{
    if (!p->starts[(unsigned char)s[0]])
        return 0;
    long v = shortest_match(p, (const unsigned char *)s, n);
    return v >= 0 && replacement_at(p, v, out, out_n);
}

/* -------------------------------------------------------------- loading */

tok_precompiled *tok_precompiled_load(const char *b64, size_t n, semdex_error *err)
{
    unsigned char *raw = sx_malloc(n / 4 * 3 + 3);
    tok_precompiled *p = sx_calloc(1, sizeof *p);
    if (!raw || !p) {
        sx_free(raw);
        sx_free(p);
        sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
        return NULL;
    }
    size_t bad = 0;
    long len = b64_decode(b64, n, raw, &bad);
    if (len < 0) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "normalizer.precompiled_charsmap", -1,
                   "precompiled_charsmap is not valid base64 (at character %zu)", bad);
        goto fail;
    }
    if (len < 4) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "normalizer.precompiled_charsmap", -1,
                   "precompiled_charsmap is truncated: %ld bytes, no trie size", len);
        goto fail;
    }
    uint32_t trie_bytes = (uint32_t)raw[0] | ((uint32_t)raw[1] << 8) | ((uint32_t)raw[2] << 16) |
                          ((uint32_t)raw[3] << 24);
    size_t nu = trie_bytes / 4;
    if (nu > ((size_t)len - 4) / 4) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "normalizer.precompiled_charsmap", -1,
                   "precompiled_charsmap is truncated: trie of %u bytes in %ld bytes of data",
                   (unsigned)trie_bytes, len);
        goto fail;
    }
    size_t blob_at = 4 + nu * 4, blob_n = (size_t)len - blob_at;
    if (sx_utf8_validate((const char *)raw + blob_at, blob_n) != blob_n) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "normalizer.precompiled_charsmap", -1,
                   "precompiled_charsmap: normalized strings are not valid UTF-8 (at byte %zu)",
                   blob_at + sx_utf8_validate((const char *)raw + blob_at, blob_n));
        goto fail;
    }
    p->units = sx_malloc((nu ? nu : 1) * sizeof *p->units);
    p->norm = sx_malloc(blob_n + 1);
    if (!p->units || !p->norm) {
        sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nu; i++) {
        const unsigned char *b = raw + 4 + i * 4;
        p->units[i] = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
    }
    p->n_units = nu;
    memcpy(p->norm, raw + blob_at, blob_n);
    p->norm[blob_n] = 0;
    p->norm_len = blob_n;
    sx_free(raw);
    raw = NULL;
    /* An empty trie matches nothing (the reference would fail on first use). */
    if (nu) {
        p->root_pos = unit_offset(p->units[0]);
        for (unsigned c = 1; c < 256; c++) {
            size_t pos = p->root_pos ^ c;
            p->starts[c] = pos < nu && unit_label(p->units[pos]) == c;
        }
    }
    return p;
fail:
    sx_free(raw);
    tok_precompiled_free(p);
    return NULL;
}

void tok_precompiled_free(tok_precompiled *p)
{
    if (!p)
        return;
    sx_free(p->units);
    sx_free(p->norm);
    sx_free(p);
}

/* ------------------------------------------------------------- applying */

/* Pushes the edits of old_count characters replaced by r[0..rn), with the
 * reference's `replace` logic: every new character replaces (change 0);
 * when there are more new characters than old, the last extra ones are
 * insertions; when fewer, the last edit pushed so far (possibly one of an
 * earlier character) removes the difference. */
static int push_replacement(tok_edits *ed, size_t old_count, const char *r, size_t rn)
{
    size_t new_count = 0;
    for (size_t i = 0; i < rn;) {
        int l;
        uint32_t cp = sx_utf8_decode(r + i, &l);
        i += (size_t)l;
        if (tok_edits_push(ed, cp, 0))
            return -1;
        new_count++;
    }
    if (new_count > old_count) {
        for (size_t k = 0; k < new_count - old_count; k++)
            ed->v[ed->n - 1 - k].change = 1;
    } else if (new_count < old_count && ed->n) {
        ed->v[ed->n - 1].change -= (int32_t)(old_count - new_count);
    }
    return 0;
}

/* A start from which grapheme segmentation can begin afresh without
 * changing any boundary: 0, or a position between two ASCII characters
 * that are not CR LF (always a boundary, and no state carries over it). */
static size_t safe_start(const char *s, size_t i)
{
    while (i > 0) {
        unsigned char a = (unsigned char)s[i - 1], b = (unsigned char)s[i];
        if (a < 0x80 && b < 0x80 && !(a == '\r' && b == '\n'))
            return i;
        i--;
    }
    return 0;
}

int tok_precompiled_apply(const tok_precompiled *p, tok_nstr *ns, tok_work *w, semdex_error *err)
{
    if (!p || !ns->len || !p->n_units)
        return 0;
    const char *s = ns->s;
    size_t n = ns->len;
    /* Fast scan: nothing changes unless a key of the trie starts at some
     * character. */
    size_t first = n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!p->starts[c] || (c & 0xC0) == 0x80)
            continue;
        if (shortest_match(p, (const unsigned char *)s + i, n - i) >= 0) {
            first = i;
            break;
        }
    }
    if (first == n)
        return 0;
    /* Segmentation starts afresh at `start`; the edits (and the transform)
     * at `begin`: the ASCII character before `start`, unchanged, stays in
     * the edit list, where the reference records a removal right after it. */
    size_t start = safe_start(s, first), begin = start;
    tok_edits *ed = &w->edits;
    ed->n = 0;
    if (start > 0) {
        begin = start - 1;
        if (tok_edits_push(ed, (unsigned char)s[begin], 0))
            goto nomem;
    }
    int modified = 0;
    int32_t state = 0;
    size_t i = start;
    int l;
    uint32_t cp = sx_utf8_decode(s + i, &l);
    while (i < n) {
        /* the grapheme [i, g) */
        size_t g = i + (size_t)l, nchars = 1;
        uint32_t prev = cp, next = 0;
        int nl = 0;
        while (g < n) {
            next = sx_utf8_decode(s + g, &nl);
            int brk;
            if (prev < 0x80 && next < 0x80) {
                brk = !(prev == '\r' && next == '\n');
                state = 0;
            } else {
                brk = sx_uni_grapheme_break(prev, next, &state);
            }
            if (brk)
                break;
            g += (size_t)nl;
            nchars++;
            prev = next;
        }
        const char *r;
        size_t rn;
        if (g - i < 6 && transform(p, s + i, g - i, &r, &rn)) {
            modified = 1;
            if (push_replacement(ed, nchars, r, rn))
                goto nomem;
        } else {
            for (size_t k = i; k < g;) {
                int cl;
                uint32_t c = sx_utf8_decode(s + k, &cl);
                if (transform(p, s + k, (size_t)cl, &r, &rn)) {
                    modified = 1;
                    if (push_replacement(ed, 1, r, rn))
                        goto nomem;
                } else if (tok_edits_push(ed, c, 0)) {
                    goto nomem;
                }
                k += (size_t)cl;
            }
        }
        i = g;
        cp = next;
        l = nl;
    }
    if (!modified)
        return 0;
    if (tok_nstr_transform_range(ns, begin, n, ed, 0, &w->scratch))
        goto nomem;
    return 0;
nomem:
    sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in Precompiled normalizer");
    return -1;
}
