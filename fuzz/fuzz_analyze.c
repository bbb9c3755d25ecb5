/* fuzz_analyze.c: the keyword analyzer on arbitrary bytes, with options
 * chosen by the first byte (stemming, stop words, Chinese mode).  Valid
 * UTF-8 must analyze into terms that are non-empty, valid UTF-8, at most
 * ANALYZE_MAX_TERM_BYTES long and tied to a byte range inside the text, and
 * analyzing the same text again must give the same terms; invalid UTF-8 must
 * be refused at the offset of its first bad byte.  The dictionary segmenter
 * must cover a run exactly, with increasing word ends. */
#include "fuzz.h"
#include "../src/index/analyze.h"
#include "../src/index/segment.h"
#include "utf8.h"
#include <string.h>

static void check_segmenter(const char *s, size_t n)
{
    static seg_scratch sc;
    static size_t ends[4096];
    const seg_dict *d = seg_dict_builtin(NULL);
    if (!d || n > sizeof ends / sizeof ends[0])
        return;
    size_t nw = 0;
    semdex_status st = seg_cut(d, s, n, &sc, ends, &nw, NULL);
    FUZZ_CHECK(st == SEMDEX_OK || st == SEMDEX_ERR_NOMEM);
    if (st)
        return;
    size_t prev = 0;
    for (size_t i = 0; i < nw; i++) {
        FUZZ_CHECK(ends[i] > prev && ends[i] <= n);
        prev = ends[i];
    }
    FUZZ_CHECK(prev == n);
}

int fuzz_analyze(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    analyze_options o = analyze_options_default();
    o.stem = data[0] & 1;
    o.stopwords = (data[0] >> 1) & 1;
    o.zh = (analyze_zh)((data[0] >> 2) % ANALYZE_ZH_COUNT);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    semdex_error err = {0};
    analyzer *a = analyzer_new(&o, &err);
    if (!a)
        return 0;
    analyze_result r;
    semdex_status st = analyzer_run(a, text, len, &r, &err);
    size_t valid = sx_utf8_validate(text, len);
    if (valid != len) {
        FUZZ_CHECK(st == SEMDEX_ERR_UTF8 && err.offset == (int64_t)valid);
        analyzer_free(a);
        return 0;
    }
    FUZZ_CHECK(st == SEMDEX_OK || st == SEMDEX_ERR_NOMEM);
    if (st == SEMDEX_OK) {
        size_t n = r.n, sum = 0;
        uint64_t h = 0;
        for (size_t i = 0; i < n; i++) {
            const analyze_token *t = &r.tokens[i];
            FUZZ_CHECK(t->term_len > 0 && t->term_len <= ANALYZE_MAX_TERM_BYTES);
            FUZZ_CHECK(sx_utf8_validate(r.terms + t->term, t->term_len) == t->term_len);
            FUZZ_CHECK(t->start < t->end && t->end <= len);
            sum += t->term_len;
            for (uint32_t k = 0; k < t->term_len; k++)
                h = h * 31 + (unsigned char)r.terms[t->term + k];
        }
        /* deterministic: the same text gives the same terms */
        analyze_result r2;
        if (analyzer_run(a, text, len, &r2, &err) == SEMDEX_OK) {
            FUZZ_CHECK(r2.n == n);
            uint64_t h2 = 0;
            size_t sum2 = 0;
            for (size_t i = 0; i < r2.n; i++) {
                sum2 += r2.tokens[i].term_len;
                for (uint32_t k = 0; k < r2.tokens[i].term_len; k++)
                    h2 = h2 * 31 + (unsigned char)r2.terms[r2.tokens[i].term + k];
            }
            FUZZ_CHECK(h2 == h && sum2 == sum);
        }
        check_segmenter(text, len);
    }
    analyzer_free(a);
    return 0;
}
FUZZ_ENTRY(fuzz_analyze)
