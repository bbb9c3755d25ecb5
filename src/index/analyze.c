/* analyze.c: the keyword analyzer (see analyze.h).  Two passes: the source is
 * normalized (NFKC, then lowercase) one normalization segment at a time, each
 * output code point remembering the source bytes of its segment; then the
 * normalized code points are split into words, Han runs and kana runs, and
 * terms are written into one byte buffer.  All memory is per-analyzer scratch
 * reused from call to call.  Knows nothing of SQLite or scoring. */
#include "analyze.h"
#include "alloc.h"
#include "err.h"
#include "segment.h"
#include "utf8.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct ncp {
    uint32_t cp;
    uint32_t start, end; /* source bytes */
} ncp;

struct analyzer {
    analyze_options opt;
    const seg_dict *dict; /* built-in segmenter, when used */
    char id[192];

    ncp *cps; /* normalized text */
    size_t n_cps, cap_cps;
    uint32_t *seg_in, *seg_out; /* one normalization segment, before and after */
    size_t cap_seg_in, cap_seg_out;
    analyze_token *toks;
    size_t n_toks, cap_toks;
    char *terms;
    size_t n_terms, cap_terms;
    char *run; /* UTF-8 of a Han run */
    size_t cap_run;
    uint32_t *run_cp; /* byte offset of each character of the run, then its length */
    size_t cap_run_cp;
    size_t *ends; /* word ends of a run */
    size_t cap_ends;
    seg_scratch seg;
};

analyze_options analyze_options_default(void)
{
    analyze_options o = {0};
    o.stem = 1;
    o.stopwords = 0;
    o.zh = ANALYZE_ZH_WORDS_CHARS;
    return o;
}

static const char *const zh_mode_names[] = {
    [ANALYZE_ZH_WORDS_CHARS] = "words+chars", [ANALYZE_ZH_WORDS] = "words",
    [ANALYZE_ZH_BIGRAMS] = "bigrams",         [ANALYZE_ZH_CHARS_BIGRAMS] = "chars+bigrams",
    [ANALYZE_ZH_CHARS] = "chars",
};
_Static_assert(sizeof zh_mode_names / sizeof zh_mode_names[0] == ANALYZE_ZH_COUNT, "every zh mode has a name");

static int uses_segmenter(analyze_zh zh) { return zh == ANALYZE_ZH_WORDS_CHARS || zh == ANALYZE_ZH_WORDS; }

analyzer *analyzer_new(const analyze_options *opts, semdex_error *err)
{
    analyze_options o = opts ? *opts : analyze_options_default();
    if ((unsigned)o.zh >= ANALYZE_ZH_COUNT) {
        sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "zh", -1, "unknown Chinese analysis mode %d", (int)o.zh);
        return NULL;
    }
    analyzer *a = sx_calloc(1, sizeof *a);
    if (!a) {
        sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory creating an analyzer");
        return NULL;
    }
    a->opt = o;
    if (uses_segmenter(o.zh) && !o.seg && !(a->dict = seg_dict_builtin(err))) {
        sx_free(a);
        return NULL;
    }
    const char *seg = !uses_segmenter(o.zh) ? "" : o.seg ? (o.seg_name ? o.seg_name : "custom") : seg_dict_name();
    snprintf(a->id, sizeof a->id, "semdex-analyzer/1 nfkc-lower words possessive%s%s zh=%s%s%s kana=bigrams",
             o.stem ? " porter" : "", o.stopwords ? " stop=lucene-en" : "", seg, *seg ? ":" : "",
             zh_mode_names[o.zh]);
    return a;
}

void analyzer_free(analyzer *a)
{
    if (!a)
        return;
    sx_free(a->cps);
    sx_free(a->seg_in);
    sx_free(a->seg_out);
    sx_free(a->toks);
    sx_free(a->terms);
    sx_free(a->run);
    sx_free(a->run_cp);
    sx_free(a->ends);
    seg_scratch_free(&a->seg);
    sx_free(a);
}

const char *analyzer_id(const analyzer *a) { return a->id; }

/* ------------------------------------------------------------ classes */

/* Han ideographs (and the iteration and zero marks).  Keep in step with
 * tools/gen_zh_dict.py, which keeps the dictionary words made of these. */
static int is_han(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || c == 0x3005 || c == 0x3007 ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2EBEF) ||
           (c >= 0x2F800 && c <= 0x2FA1F) || (c >= 0x30000 && c <= 0x323AF);
}

/* Hiragana, katakana and their extensions: written without spaces, no dictionary here. */
static int is_kana(uint32_t c)
{
    return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) || (c >= 0x1B000 && c <= 0x1B16F);
}

enum { CL_SEP, CL_LETTER, CL_DIGIT, CL_NUMBER, CL_MARK, CL_CONNECT, CL_HAN, CL_KANA };

static int classify(uint32_t c)
{
    if (c < 0x80) {
        if ((c | 32) >= 'a' && (c | 32) <= 'z')
            return CL_LETTER;
        if (c >= '0' && c <= '9')
            return CL_DIGIT;
        return c == '_' ? CL_CONNECT : CL_SEP;
    }
    if (is_han(c))
        return CL_HAN;
    if (is_kana(c))
        return CL_KANA;
    switch (sx_uni_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CL_LETTER;
    case UTF8PROC_CATEGORY_ND:
        return CL_DIGIT;
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CL_NUMBER;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return CL_MARK;
    case UTF8PROC_CATEGORY_PC:
        return CL_CONNECT;
    default:
        return CL_SEP;
    }
}

static int is_apostrophe(uint32_t c) { return c == '\'' || c == 0x2019; }

/* -------------------------------------------------------- normalization */

static semdex_status nomem(semdex_error *err)
{
    return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory analyzing text");
}

static int push_cp(analyzer *a, uint32_t cp, size_t start, size_t end)
{
    if (a->n_cps == a->cap_cps && SX_GROW(a->cps, a->cap_cps, a->n_cps + 1))
        return -1;
    a->cps[a->n_cps++] = (ncp){cp, (uint32_t)start, (uint32_t)end};
    return 0;
}

/* NFKC then lowercase of the segment s[start..end) (its code points in
 * a->seg_in[0..n)), appended to a->cps. */
static semdex_status normalize_segment(analyzer *a, size_t n, size_t start, size_t end, semdex_error *err)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t need = n * 18 + 4; /* the most one code point can become */
        if (a->cap_seg_out < need && SX_GROW(a->seg_out, a->cap_seg_out, need))
            return nomem(err);
        long w = sx_uni_normalize(a->seg_in, n, SX_NFKC, a->seg_out, a->cap_seg_out);
        if (w < 0) /* cannot happen on valid UTF-8 with room for n*18 */
            return sx_err_set(err, SEMDEX_ERR_UTF8, NULL, NULL, (int64_t)start, "cannot normalize the text here");
        /* lowercase into seg_in (room: 3 per code point) */
        size_t m = 0;
        int changed = 0;
        if (a->cap_seg_in < (size_t)w * 3 + 3 && SX_GROW(a->seg_in, a->cap_seg_in, (size_t)w * 3 + 3))
            return nomem(err);
        for (long i = 0; i < w; i++) {
            uint32_t lo[3];
            int k = sx_uni_to_lower(a->seg_out[i], lo);
            changed |= k != 1 || lo[0] != a->seg_out[i];
            for (int j = 0; j < k; j++)
                a->seg_in[m++] = lo[j];
        }
        n = m;
        if (!changed || pass == 1)
            break;
        /* lowercasing can leave text that is not NFKC (U+0130): once more */
    }
    for (size_t i = 0; i < n; i++)
        if (push_cp(a, a->seg_in[i], start, end))
            return nomem(err);
    return SEMDEX_OK;
}

static semdex_status normalize(analyzer *a, const char *s, size_t len, semdex_error *err)
{
    a->n_cps = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char b = (unsigned char)s[i];
        /* ASCII followed by ASCII (or the end) is a segment of its own */
        if (b < 0x80 && (i + 1 == len || (unsigned char)s[i + 1] < 0x80)) {
            if (push_cp(a, (b >= 'A' && b <= 'Z') ? b + 32u : b, i, i + 1))
                return nomem(err);
            i++;
            continue;
        }
        size_t start = i, n = 0;
        do {
            int l;
            uint32_t cp = sx_utf8_decode(s + i, &l);
            if (n == a->cap_seg_in && SX_GROW(a->seg_in, a->cap_seg_in, n + 1))
                return nomem(err);
            a->seg_in[n++] = cp;
            i += (size_t)l;
            if (i < len) {
                int l2;
                if (sx_uni_is_norm_segment_start(sx_utf8_decode(s + i, &l2)))
                    break;
            }
        } while (i < len);
        semdex_status st = normalize_segment(a, n, start, i, err);
        if (st)
            return st;
    }
    return SEMDEX_OK;
}

/* ------------------------------------------------------------- emitting */

static semdex_status add_token(analyzer *a, const char *term, size_t n, size_t start, size_t end, semdex_error *err)
{
    if (n == 0 || n > ANALYZE_MAX_TERM_BYTES)
        return SEMDEX_OK;
    if (a->n_terms + n > UINT32_MAX)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, (int64_t)start, "the text makes more than 4 GiB of terms");
    if (SX_GROW(a->terms, a->cap_terms, a->n_terms + n) ||
        (a->n_toks == a->cap_toks && SX_GROW(a->toks, a->cap_toks, a->n_toks + 1)))
        return nomem(err);
    memcpy(a->terms + a->n_terms, term, n);
    a->toks[a->n_toks++] = (analyze_token){(uint32_t)a->n_terms, (uint32_t)n, (uint32_t)start, (uint32_t)end};
    a->n_terms += n;
    return SEMDEX_OK;
}

/* A word of cps[i..j): apostrophes unified, possessive dropped, stop words
 * skipped, Porter stemming when it is all ASCII letters. */
static semdex_status emit_word(analyzer *a, size_t i, size_t j, semdex_error *err)
{
    char buf[ANALYZE_MAX_TERM_BYTES + 4];
    size_t n = 0;
    int ascii_letters = 1;
    for (size_t k = i; k < j; k++) {
        uint32_t c = a->cps[k].cp;
        if (is_apostrophe(c))
            c = '\'';
        if (n + 4 > sizeof buf)
            return SEMDEX_OK; /* longer than any term is allowed to be */
        n += (size_t)sx_utf8_encode(c, buf + n);
        ascii_letters &= c >= 'a' && c <= 'z';
    }
    if (n >= 2 && buf[n - 2] == '\'' && buf[n - 1] == 's') {
        n -= 2;
        ascii_letters = 1;
        for (size_t k = 0; k < n; k++)
            ascii_letters &= buf[k] >= 'a' && buf[k] <= 'z';
    }
    if (a->opt.stopwords && analyze_is_stopword(buf, n))
        return SEMDEX_OK;
    if (a->opt.stem && ascii_letters)
        n = analyze_porter_stem(buf, n);
    return add_token(a, buf, n, a->cps[i].start, a->cps[j - 1].end, err);
}

/* Characters p..q of the current run (a->run, a->run_cp) as one term; the
 * source range comes from cps[base + p .. base + q). */
static semdex_status emit_run_part(analyzer *a, size_t base, size_t p, size_t q, semdex_error *err)
{
    return add_token(a, a->run + a->run_cp[p], a->run_cp[q] - a->run_cp[p], a->cps[base + p].start,
                     a->cps[base + q - 1].end, err);
}

/* Copies cps[i..j) into a->run as UTF-8, with the offset of each character. */
static semdex_status load_run(analyzer *a, size_t i, size_t j, semdex_error *err)
{
    size_t n = j - i;
    if (SX_GROW(a->run, a->cap_run, n * 4 + 1) || SX_GROW(a->run_cp, a->cap_run_cp, n + 1))
        return nomem(err);
    size_t b = 0;
    for (size_t k = 0; k < n; k++) {
        a->run_cp[k] = (uint32_t)b;
        b += (size_t)sx_utf8_encode(a->cps[i + k].cp, a->run + b);
    }
    a->run_cp[n] = (uint32_t)b;
    return SEMDEX_OK;
}

static semdex_status emit_bigrams(analyzer *a, size_t i, size_t j, int with_chars, semdex_error *err)
{
    size_t n = j - i;
    semdex_status st = load_run(a, i, j, err);
    for (size_t k = 0; !st && k < n; k++) {
        if (with_chars || n == 1)
            st = emit_run_part(a, i, k, k + 1, err);
        if (!st && k + 1 < n)
            st = emit_run_part(a, i, k, k + 2, err);
    }
    return st;
}

/* Character index of byte offset b in the current run (b is a boundary). */
static size_t run_char_at(const analyzer *a, size_t n, size_t b)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->run_cp[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static semdex_status emit_han(analyzer *a, size_t i, size_t j, semdex_error *err)
{
    switch (a->opt.zh) {
    case ANALYZE_ZH_BIGRAMS:
        return emit_bigrams(a, i, j, 0, err);
    case ANALYZE_ZH_CHARS_BIGRAMS:
        return emit_bigrams(a, i, j, 1, err);
    case ANALYZE_ZH_CHARS: {
        semdex_status st = load_run(a, i, j, err);
        for (size_t k = 0; !st && k < j - i; k++)
            st = emit_run_part(a, i, k, k + 1, err);
        return st;
    }
    default:
        break;
    }
    size_t n = j - i;
    semdex_status st = load_run(a, i, j, err);
    if (st)
        return st;
    size_t len = a->run_cp[n];
    if (SX_GROW(a->ends, a->cap_ends, n + 1))
        return nomem(err);
    size_t n_words = 0;
    st = a->opt.seg ? a->opt.seg(a->opt.seg_ctx, a->run, len, a->ends, &n_words, err)
                    : seg_cut(a->dict, a->run, len, &a->seg, a->ends, &n_words, err);
    if (st)
        return st;
    size_t p = 0; /* character where the word starts */
    for (size_t w = 0; w < n_words; w++) {
        size_t e = a->ends[w];
        size_t q = run_char_at(a, n, e);
        if (e > len || q <= p || a->run_cp[q] != e)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1,
                              "the segmenter returned word end %zu, not a character boundary after %u",
                              e, a->run_cp[p]);
        st = emit_run_part(a, i, p, q, err);
        if (!st && a->opt.zh == ANALYZE_ZH_WORDS_CHARS && q - p > 1)
            for (size_t k = p; !st && k < q; k++)
                st = emit_run_part(a, i, k, k + 1, err);
        if (st)
            return st;
        p = q;
    }
    if (p != n)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "the segmenter left the end of a run out");
    return SEMDEX_OK;
}

/* End of the word starting at cps[i] (a letter, digit, number or connector). */
static size_t word_end(const analyzer *a, size_t i)
{
    size_t n = a->n_cps, j = i + 1;
    while (j < n) {
        uint32_t c = a->cps[j].cp;
        int cl = classify(c);
        if (cl == CL_LETTER || cl == CL_DIGIT || cl == CL_NUMBER || cl == CL_MARK || cl == CL_CONNECT) {
            j++;
            continue;
        }
        if (j + 1 < n) {
            int prev = classify(a->cps[j - 1].cp), next = classify(a->cps[j + 1].cp);
            if (is_apostrophe(c) && prev == CL_LETTER && next == CL_LETTER) {
                j += 2;
                continue;
            }
            if ((c == '.' || c == ',') && prev == CL_DIGIT && next == CL_DIGIT) {
                j += 2;
                continue;
            }
        }
        break;
    }
    return j;
}

static semdex_status tokenize(analyzer *a, semdex_error *err)
{
    size_t n = a->n_cps, i = 0;
    while (i < n) {
        int cl = classify(a->cps[i].cp);
        size_t j = i + 1;
        semdex_status st = SEMDEX_OK;
        if (cl == CL_HAN || cl == CL_KANA) {
            while (j < n && classify(a->cps[j].cp) == cl)
                j++;
            st = cl == CL_HAN ? emit_han(a, i, j, err) : emit_bigrams(a, i, j, 0, err);
        } else if (cl == CL_LETTER || cl == CL_DIGIT || cl == CL_NUMBER || cl == CL_CONNECT) {
            j = word_end(a, i);
            st = emit_word(a, i, j, err);
        }
        if (st)
            return st;
        i = j;
    }
    return SEMDEX_OK;
}

semdex_status analyzer_run(analyzer *a, const char *text, size_t len, analyze_result *out, semdex_error *err)
{
    a->n_toks = a->n_terms = 0;
    *out = (analyze_result){0, a->toks, a->terms};
    if (len > ANALYZE_MAX_TEXT_BYTES)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, -1, "text of %zu bytes exceeds the limit of %zu", len,
                          ANALYZE_MAX_TEXT_BYTES);
    if (len && !text)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "NULL text");
    size_t valid = sx_utf8_validate(text, len);
    if (valid != len)
        return sx_err_set(err, SEMDEX_ERR_UTF8, NULL, NULL, (int64_t)valid, "invalid UTF-8 at byte %zu", valid);
    semdex_status st = normalize(a, text, len, err);
    if (!st)
        st = tokenize(a, err);
    if (st) {
        a->n_toks = a->n_terms = 0;
        return st;
    }
    *out = (analyze_result){a->n_toks, a->toks, a->terms};
    return SEMDEX_OK;
}

/* Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, sorted. */
static const char *const stopwords[] = {
    "a",    "an",   "and",  "are",   "as",   "at",    "be",    "but",  "by",   "for",  "if",
    "in",   "into", "is",   "it",    "no",   "not",   "of",    "on",   "or",   "such", "that",
    "the",  "their", "then", "there", "these", "they", "this", "to",   "was",  "will", "with",
};

static int cmp_stop(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

int analyze_is_stopword(const char *w, size_t len)
{
    char buf[8];
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, w, len);
    buf[len] = 0;
    return bsearch(buf, stopwords, sizeof stopwords / sizeof stopwords[0], sizeof stopwords[0], cmp_stop) != NULL;
}
