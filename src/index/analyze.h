/* analyze.h: text analysis for keyword search: UTF-8 text in, index terms
 * out, the same way for documents and queries.  Steps: validation (invalid
 * UTF-8 is refused with its byte offset), NFKC normalization (full-width and
 * compatibility forms fold to their plain forms) and lowercasing, splitting
 * into words by Unicode character classes, English possessives and Porter
 * stemming, Chinese word segmentation (segment.h) of runs of Han characters,
 * overlapping bigrams for kana.  Every term keeps the byte range of the source
 * text it came from.  Knows nothing of SQLite or scoring.
 *
 * Words: letters, digits and marks, with '_' inside; an apostrophe joins two
 * letters ("don't", "o'neill"), '.' and ',' join two digits ("3.14",
 * "1,000"); everything else (spaces, punctuation, symbols, emoji) separates.
 * Terms longer than ANALYZE_MAX_TERM_BYTES are dropped. */
#ifndef SX_ANALYZE_H
#define SX_ANALYZE_H
#include <stddef.h>
#include <stdint.h>
#include "semdex.h"

#define ANALYZE_MAX_TERM_BYTES 255
#define ANALYZE_MAX_TEXT_BYTES ((size_t)1 << 30) /* one text; longer is SEMDEX_ERR_LIMIT */

/* What a run of Han characters becomes. */
typedef enum analyze_zh {
    ANALYZE_ZH_WORDS_CHARS, /* each word, and each character of a longer word (the default) */
    ANALYZE_ZH_WORDS,       /* each word */
    ANALYZE_ZH_BIGRAMS,     /* overlapping bigrams, a lone character as itself (Lucene's CJKAnalyzer) */
    ANALYZE_ZH_CHARS_BIGRAMS, /* each character and the overlapping bigrams */
    ANALYZE_ZH_CHARS,       /* each character */
    ANALYZE_ZH_COUNT
} analyze_zh;

/* A word segmenter of a run of Han characters s[0..len) (valid UTF-8): writes
 * the end byte offset of each word, in order, into ends (room for one per
 * character) and sets *n.  NULL in analyze_options: the built-in dictionary
 * segmenter (segment.h). */
typedef semdex_status (*analyze_seg_fn)(void *ctx, const char *s, size_t len, size_t *ends, size_t *n,
                                        semdex_error *err);

typedef struct analyze_options {
    int stem;         /* Porter stemming of words of ASCII letters; default 1 */
    int stopwords;    /* drop the English stop words of Lucene's EnglishAnalyzer; default 0 */
    analyze_zh zh;    /* default ANALYZE_ZH_WORDS_CHARS */
    analyze_seg_fn seg; /* NULL: the built-in segmenter */
    void *seg_ctx;
    const char *seg_name; /* names a custom seg in analyzer_id(); NULL: "custom" */
} analyze_options;

analyze_options analyze_options_default(void);

/* One term of the analyzed text. */
typedef struct analyze_token {
    uint32_t term, term_len; /* the term's bytes: terms[term .. term + term_len) */
    uint32_t start, end;     /* the source bytes it came from: text[start .. end) */
} analyze_token;

typedef struct analyze_result {
    size_t n;
    const analyze_token *tokens; /* n tokens in text order (a word before its characters) */
    const char *terms;           /* term bytes, not NUL-terminated */
} analyze_result;

/* An analyzer holds the options and per-call scratch: one per thread. */
typedef struct analyzer analyzer;

analyzer *analyzer_new(const analyze_options *opts, semdex_error *err);
void analyzer_free(analyzer *a);

/* A string naming everything that decides which terms come out ("semdex/1
 * nfkc-lower porter zh=jieba5:words+chars" ...), stored with an index so that
 * it is never queried with terms made another way.  Valid while a lives. */
const char *analyzer_id(const analyzer *a);

/* Analyzes text[0..len).  The result is valid until the next call or
 * analyzer_free.  Errors: SEMDEX_ERR_UTF8 (offset of the first bad byte),
 * SEMDEX_ERR_LIMIT, SEMDEX_ERR_NOMEM, or what a custom segmenter returns. */
semdex_status analyzer_run(analyzer *a, const char *text, size_t len, analyze_result *out, semdex_error *err);

/* Porter's stemming algorithm (1980, as his reference C implementation) on
 * word[0..len) of ASCII lowercase letters, in place; returns the new length. */
size_t analyze_porter_stem(char *word, size_t len);

/* True when the lowercase word w[0..len) is one of Lucene's English stop words. */
int analyze_is_stopword(const char *w, size_t len);

#endif
