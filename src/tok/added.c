/* added.c: matching added tokens in text, as `tokenizers`' AddedVocabulary:
 * leftmost-longest, non-overlapping, with single_word, lstrip and rstrip.
 * Candidates grouped by first byte, longest first; a first-byte table skips
 * positions where nothing can start. */
#include "tok_int.h"
#include "added.h"
#include "alloc.h"
#include "utf8.h"
#include <stdlib.h>
#include <string.h>

/* The candidates, grouped by first byte, longest first within a group (ties:
 * the earlier token wins, as the reference's matcher does).  Matching at a
 * position tries the group of its byte in order; the first hit is the
 * leftmost-longest match.  No recursion and no per-byte nodes, so a token of
 * any length costs only its own bytes. */
typedef struct cand {
    const char *content; /* owned copy */
    size_t len;
    int32_t token;       /* index into the tokenizer's added token list */
    uint32_t order;      /* position among the members, for stable ties */
} cand;

struct tok_added_set {
    const tok_added *tokens; /* borrowed from the tokenizer */
    cand *cands;
    size_t n_cands;
    uint32_t group[257];     /* cands of first byte b: [group[b], group[b + 1]) */
    unsigned char first_byte[256];
};

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    unsigned char fa = (unsigned char)a->content[0], fb = (unsigned char)b->content[0];
    if (fa != fb)
        return fa < fb ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

tok_added_set *tok_added_set_build(const tok_added *tokens, size_t n, const char *const *contents,
                                   const size_t *lens, const int32_t *members, size_t n_members)
{
    (void)n;
    tok_added_set *s = sx_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->tokens = tokens;
    s->cands = sx_calloc(n_members ? n_members : 1, sizeof *s->cands);
    if (!s->cands)
        goto fail;
    for (size_t k = 0; k < n_members; k++) {
        if (!lens[k])
            continue; /* an empty token can never match */
        cand *c = &s->cands[s->n_cands];
        c->content = sx_strndup(contents[k], lens[k]);
        if (!c->content)
            goto fail;
        c->len = lens[k];
        c->token = members[k];
        c->order = (uint32_t)k;
        s->n_cands++;
        s->first_byte[(unsigned char)contents[k][0]] = 1;
    }
    qsort(s->cands, s->n_cands, sizeof *s->cands, cand_cmp);
    size_t k = 0;
    for (int b = 0; b < 256; b++) {
        s->group[b] = (uint32_t)k;
        while (k < s->n_cands && (unsigned char)s->cands[k].content[0] == b)
            k++;
    }
    s->group[256] = (uint32_t)k;
    return s;
fail:
    tok_added_set_free(s);
    return NULL;
}

void tok_added_set_free(tok_added_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_cands; i++)
        sx_free((void *)s->cands[i].content);
    sx_free(s->cands);
    sx_free(s);
}

/* Longest token starting at s[i]; returns its index or -1 and sets *end. */
static int32_t longest_at(const tok_added_set *set, const char *s, size_t n, size_t i, size_t *end)
{
    unsigned char b = (unsigned char)s[i];
    for (uint32_t k = set->group[b]; k < set->group[b + 1]; k++) {
        const cand *c = &set->cands[k];
        if (c->len <= n - i && !memcmp(s + i, c->content, c->len)) {
            *end = i + c->len;
            return c->token;
        }
    }
    return -1;
}

static int is_word_char(uint32_t c)
{
    /* \w as the reference's regex crate: alphanumeric, marks, connector punctuation */
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    int cat = sx_uni_category(c);
    return sx_uni_is_alphanumeric(c) || cat == 5 || cat == 6 || cat == 7 || cat == 12;
}

static uint32_t last_char(const char *s, size_t end)
{
    size_t b = end - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
        b--;
    int l;
    return sx_utf8_decode(s + b, &l);
}

int tok_added_set_find(const tok_added_set *set, const char *s, size_t n, tok_added_match *out,
                       size_t cap, size_t *n_out)
{
    size_t k = 0, start_offset = 0, i = 0;
    if (!set || !set->n_cands) {
        *n_out = 0;
        return 0;
    }
    while (i < n) {
        if (!set->first_byte[(unsigned char)s[i]]) {
            i++;
            continue;
        }
        size_t stop;
        int32_t t = longest_at(set, s, n, i, &stop);
        if (t < 0) {
            i++;
            continue;
        }
        size_t start = i;
        const tok_added *tok = &set->tokens[t];
        size_t resume = stop; /* the matcher resumes at the end of the raw match */
        if (tok->single_word) {
            int start_space = start == 0 || !is_word_char(last_char(s, start));
            int l;
            int stop_space = stop == n || !is_word_char(sx_utf8_decode(s + stop, &l));
            if (!start_space || !stop_space) {
                i = resume;
                continue;
            }
        }
        if (tok->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t b = ns - 1;
                while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
                    b--;
                int l;
                if (!sx_uni_is_whitespace(sx_utf8_decode(s + b, &l)))
                    break;
                ns = b;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (tok->rstrip) {
            while (stop < n) {
                int l;
                if (!sx_uni_is_whitespace(sx_utf8_decode(s + stop, &l)))
                    break;
                stop += (size_t)l;
            }
        }
        if (k >= cap)
            return -1;
        out[k].start = start;
        out[k].end = stop;
        out[k].token = t;
        k++;
        start_offset = stop;
        i = resume > stop ? resume : stop;
    }
    *n_out = k;
    return 0;
}
