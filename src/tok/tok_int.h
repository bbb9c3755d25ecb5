/* tok_int.h: the internal interface of the tokenizer pipeline.
 *
 * A text goes through the same stages as in Hugging Face `tokenizers`:
 *   added tokens split off -> normalizer -> pre-tokenizer -> model -> post-processor
 * Every stage works on pieces (tok_piece): a normalized string (tok_nstr)
 * that keeps, for each of its bytes, the byte range of the original text it
 * came from, so that every token can report offsets into the caller's text.
 *
 * Each stage is a tagged struct with a loader from its tokenizer.json object
 * and an apply function; stages live in their own files:
 *   nstr.c (alignment-keeping string edits), normalizer.c, pretok.c,
 *   precompiled.c (SentencePiece charsmap), regex.c (PCRE2 patterns),
 *   wordpiece.c, unigram.c, bpe.c, added.c, postproc.c, decoder.c, tokenizer.c.
 * Nothing here knows about models, the store or the command line. */
#ifndef TOK_INT_H
#define TOK_INT_H
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include "semdex.h"
#include "json.h"
#include "strmap.h"

/* The reference classifies punctuation, marks and control characters with
 * the `unicode_categories` crate, whose tables are of this Unicode version
 * (major * 10 + minor); characters assigned later count as unassigned. */
#ifndef TOK_REF_UNICODE_VERSION
#define TOK_REF_UNICODE_VERSION 90
#endif
int tok_ref_is_punct(uint32_t c);
int tok_ref_is_mark_nonspacing(uint32_t c);
int tok_ref_is_other(uint32_t c);

/* Largest token id accepted from a file: ids size tables, so a file must not
 * be able to ask for gigabytes (real vocabularies stay under a million). */
#define TOK_MAX_ID ((1 << 24) - 1)

/* ------------------------------------------------ aligned strings (nstr.c) */

typedef struct tok_span {
    uint32_t start, end; /* byte range in the original text */
} tok_span;

/* A normalized string: `s` (UTF-8, len bytes, NUL-terminated) and, for each
 * byte, the original range it came from.  `orig` is the original range the
 * whole piece covers (used when the normalized string becomes empty). */
typedef struct tok_nstr {
    char *s;
    size_t len, cap;
    tok_span *align;
    size_t align_cap;
    tok_span orig;
} tok_nstr;

/* One edit of a transform: the new character and its change, exactly as in
 * `tokenizers`' NormalizedString::transform: 0 replaces the next original
 * character, 1 inserts a new one (aligned with the previous), -N replaces the
 * next character and removes the N after it. */
typedef struct tok_edit {
    uint32_t cp;
    int32_t change;
} tok_edit;

typedef struct tok_edits {
    tok_edit *v;
    size_t n, cap;
} tok_edits;

int tok_edits_push(tok_edits *e, uint32_t cp, int32_t change);

/* Sets ns to the original text s[0..n) at original offset `base`. */
int tok_nstr_set(tok_nstr *ns, const char *s, size_t n, uint32_t base);
/* Copies the normalized byte range [a, b) of src into dst (a slice). */
int tok_nstr_slice(tok_nstr *dst, const tok_nstr *src, size_t a, size_t b);
/* Applies edits to the normalized byte range [a, b); `initial_offset`
 * characters at the start of the range are removed.  `scratch` is reused. */
int tok_nstr_transform_range(tok_nstr *ns, size_t a, size_t b, const tok_edits *ed,
                             size_t initial_offset, tok_nstr *scratch);
int tok_nstr_transform(tok_nstr *ns, const tok_edits *ed, size_t initial_offset, tok_nstr *scratch);
/* Original range of the normalized byte range [a, b) (expand_alignments). */
tok_span tok_nstr_orig_range(const tok_nstr *ns, size_t a, size_t b);
void tok_nstr_free(tok_nstr *ns);

/* Common edits, each as the reference does it (alignment included). */
int tok_nstr_lowercase(tok_nstr *ns, tok_edits *ed, tok_nstr *scratch);
int tok_nstr_uppercase(tok_nstr *ns, tok_edits *ed, tok_nstr *scratch);
int tok_nstr_unicode(tok_nstr *ns, int form /* sx_norm_form */, tok_edits *ed, tok_nstr *scratch);
/* Keeps the characters for which keep(cp, ctx) is true. */
int tok_nstr_filter(tok_nstr *ns, int (*keep)(uint32_t, const void *), const void *ctx,
                    tok_edits *ed, tok_nstr *scratch);
int tok_nstr_strip(tok_nstr *ns, int left, int right, tok_edits *ed, tok_nstr *scratch);
int tok_nstr_prepend(tok_nstr *ns, const char *s, size_t n, tok_edits *ed, tok_nstr *scratch);
int tok_nstr_append(tok_nstr *ns, const char *s, size_t n, tok_edits *ed, tok_nstr *scratch);

/* ------------------------------------------------------- per-call scratch */

/* A piece of the input being tokenized.  added_id >= 0: an added token
 * matched in the input, already final. */
typedef struct tok_piece {
    tok_nstr ns;
    int32_t added_id;
} tok_piece;

typedef struct tok_piece_list {
    tok_piece *v;
    size_t n, cap; /* entries [n, cap) keep their buffers for reuse */
} tok_piece_list;

/* Appends a piece (reusing buffers); returns it or NULL. */
tok_piece *tok_pieces_push(tok_piece_list *l);
void tok_pieces_free(tok_piece_list *l);

/* A token produced by a model: id and byte range in the piece's normalized
 * string. */
typedef struct tok_token {
    int32_t id;
    uint32_t start, end;
} tok_token;

typedef struct tok_tokens {
    tok_token *v;
    size_t n, cap;
} tok_tokens;

int tok_tokens_push(tok_tokens *t, int32_t id, uint32_t start, uint32_t end);

/* A range of a piece found by a pre-tokenizer's pattern (tok_pieces_split). */
typedef struct tok_match {
    size_t start, end;
    int is_match;
} tok_match;
typedef struct tok_matches {
    tok_match *v;
    size_t n, cap;
} tok_matches;

/* Everything one encode call needs, reused across calls by one thread. */
typedef struct tok_work {
    tok_piece_list pieces, next; /* pre-tokenizers map pieces -> next, then swap */
    tok_tokens toks;             /* model output for one piece */
    tok_edits edits;
    tok_nstr scratch;
    uint32_t *cps;               /* code point scratch */
    size_t cps_cap;
    uint32_t *cps2;
    size_t cps2_cap;
    void *model_scratch;         /* owned by the model; freed with model_scratch_free */
    void (*model_scratch_free)(void *);
    struct tok_added_match *matches; /* added-token matches (added.c) */
    size_t matches_cap;
    tok_matches split;           /* tok_pieces_split's match list */
    /* sequence being encoded: original text */
    const char *text;
    size_t text_len;
} tok_work;

void tok_work_free(tok_work *w);
/* Swaps pieces and next, emptying next. */
void tok_work_swap(tok_work *w);

/* ------------------------------------------------------------- regex.c */

/* A compiled pattern: either a literal string or a PCRE2 regex.  Matching
 * finds all non-overlapping matches left to right, as the reference's
 * Pattern::find_matches. */
typedef struct tok_pattern tok_pattern;
tok_pattern *tok_pattern_from_json(const json_value *pat, semdex_error *err);
void tok_pattern_free(tok_pattern *p);
/* Calls cb(start, end, ctx) for each match in s[0..n); stops when cb != 0. */
int tok_pattern_find(const tok_pattern *p, const char *s, size_t n,
                     int (*cb)(size_t start, size_t end, void *ctx), void *ctx, semdex_error *err);

/* --------------------------------------------------------- normalizer.c */

typedef enum tok_normalizer_type {
    TOK_NORM_SEQUENCE,
    TOK_NORM_BERT,
    TOK_NORM_NFC,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
    TOK_NORM_LOWERCASE,
    TOK_NORM_STRIP,
    TOK_NORM_STRIP_ACCENTS,
    TOK_NORM_REPLACE,
    TOK_NORM_PREPEND,
    TOK_NORM_PRECOMPILED,
    TOK_NORM_TYPE_COUNT
} tok_normalizer_type;

typedef struct tok_precompiled tok_precompiled; /* precompiled.c */

typedef struct tok_normalizer tok_normalizer;
struct tok_normalizer {
    tok_normalizer_type type;
    /* Bert */
    int clean_text, handle_chinese_chars, strip_accents, lowercase;
    /* Strip */
    int strip_left, strip_right;
    /* Replace: pattern -> content; Prepend: content */
    tok_pattern *pattern;
    char *content;
    size_t content_len;
    /* Precompiled */
    tok_precompiled *precompiled;
    /* Sequence */
    tok_normalizer *children;
    size_t n_children;
};

int tok_normalizer_load(const json_value *v, tok_normalizer *out, semdex_error *err);
void tok_normalizer_free(tok_normalizer *n);
int tok_normalizer_apply(const tok_normalizer *n, tok_nstr *ns, tok_work *w, semdex_error *err);

/* precompiled.c: SentencePiece's precompiled charsmap (double-array trie of
 * normalization rules), applied grapheme by grapheme as the reference does. */
tok_precompiled *tok_precompiled_load(const char *base64, size_t n, semdex_error *err);
void tok_precompiled_free(tok_precompiled *p);
int tok_precompiled_apply(const tok_precompiled *p, tok_nstr *ns, tok_work *w, semdex_error *err);

/* ------------------------------------------------------------ pretok.c */

typedef enum tok_pretok_type {
    TOK_PRE_SEQUENCE,
    TOK_PRE_BERT,
    TOK_PRE_WHITESPACE,       /* \w+|[^\w\s]+ */
    TOK_PRE_WHITESPACE_SPLIT,
    TOK_PRE_METASPACE,
    TOK_PRE_SPLIT,
    TOK_PRE_BYTE_LEVEL,
    TOK_PRE_PUNCTUATION,
    TOK_PRE_DIGITS,
    TOK_PRE_TYPE_COUNT
} tok_pretok_type;

typedef enum tok_split_behavior {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_WITH_PREVIOUS,
    TOK_SPLIT_MERGED_WITH_NEXT,
    TOK_SPLIT_CONTIGUOUS
} tok_split_behavior;

typedef enum tok_prepend_scheme {
    TOK_PREPEND_ALWAYS,
    TOK_PREPEND_NEVER,
    TOK_PREPEND_FIRST
} tok_prepend_scheme;

typedef struct tok_pretok tok_pretok;
struct tok_pretok {
    tok_pretok_type type;
    /* Metaspace */
    uint32_t replacement;
    char replacement_utf8[5];
    int replacement_len;
    tok_prepend_scheme prepend_scheme;
    int split;
    /* Split */
    tok_pattern *pattern;
    tok_split_behavior behavior;
    int invert;
    /* ByteLevel */
    int add_prefix_space, trim_offsets, use_regex;
    /* Digits */
    int individual_digits;
    /* Sequence */
    tok_pretok *children;
    size_t n_children;
};

int tok_pretok_load(const json_value *v, tok_pretok *out, semdex_error *err);
void tok_pretok_free(tok_pretok *p);
/* Applies to w->pieces (pieces with added_id >= 0 pass through untouched). */
int tok_pretok_apply(const tok_pretok *p, tok_work *w, semdex_error *err);

/* Splits every non-added piece of w->pieces at the ranges found by find()
 * (match list of normalized byte ranges), with the reference's behaviours.
 * find() appends (start, end, is_match) triples covering the whole string
 * (tok_match, tok_matches: with tok_work above). */
int tok_pieces_split(tok_work *w,
                     int (*find)(const tok_nstr *ns, tok_matches *out, const void *ctx, semdex_error *err),
                     const void *ctx, tok_split_behavior behavior, semdex_error *err);

/* ByteLevel's byte -> printable character table (GPT-2). */
extern const uint32_t tok_byte_to_cp[256];
/* Inverse, -1 for code points that are not in the table. */
int tok_cp_to_byte(uint32_t cp);

/* -------------------------------------------------------------- models */

typedef enum tok_model_type {
    TOK_MODEL_WORDPIECE,
    TOK_MODEL_UNIGRAM,
    TOK_MODEL_BPE,
    TOK_MODEL_WORDLEVEL,
    TOK_MODEL_TYPE_COUNT
} tok_model_type;

typedef struct tok_vocab {
    char **tokens;     /* id -> token (NUL-terminated), NULL for holes */
    uint32_t *lens;
    size_t n;          /* ids [0, n) */
    sx_strmap map;     /* token -> id */
} tok_vocab;

/* Adds token -> id (growing the id table); duplicate tokens keep the first id. */
int tok_vocab_add(tok_vocab *v, const char *s, size_t n, int32_t id);
int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t n);
void tok_vocab_free(tok_vocab *v);

typedef struct tok_wordpiece {
    int32_t unk_id;
    char *prefix; /* continuing_subword_prefix, "##" */
    size_t prefix_len;
    size_t max_input_chars_per_word;
} tok_wordpiece;

typedef struct tok_unigram tok_unigram; /* unigram.c */
typedef struct tok_bpe tok_bpe;         /* bpe.c */

typedef struct tok_model {
    tok_model_type type;
    tok_vocab vocab;       /* every model's piece table */
    tok_wordpiece wp;
    tok_unigram *unigram;
    tok_bpe *bpe;
    int32_t unk_id;        /* -1 when none */
} tok_model;

int tok_wordpiece_load(const json_value *model, tok_model *m, semdex_error *err);
int tok_wordpiece_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err);

/* unigram.c: loads model.vocab ([piece, score] list), unk_id, byte_fallback. */
int tok_unigram_load(const json_value *model, tok_model *m, semdex_error *err);
int tok_unigram_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err);
void tok_unigram_free(tok_unigram *u);

/* bpe.c: loads vocab, merges (both "a b" strings and [a, b] pairs), options. */
int tok_bpe_load(const json_value *model, tok_model *m, semdex_error *err);
int tok_bpe_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err);
void tok_bpe_free(tok_bpe *b);

/* Appends tokens for the whole normalized string of one piece to w->toks. */
int tok_model_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err);

/* ------------------------------------------------------ added tokens */

typedef struct tok_added {
    char *content;
    size_t len;
    int32_t id;
    int special, normalized, lstrip, rstrip, single_word;
} tok_added;

typedef struct tok_added_set tok_added_set; /* matcher over a set of added tokens */

/* ------------------------------------------------------ post-processing */

typedef enum tok_post_type {
    TOK_POST_NONE,
    TOK_POST_BERT,
    TOK_POST_ROBERTA,
    TOK_POST_TEMPLATE,
    TOK_POST_BYTE_LEVEL,
    TOK_POST_SEQUENCE,
    TOK_POST_TYPE_COUNT
} tok_post_type;

/* A template item: a special token (ids) or sequence A (0) / B (1). */
typedef struct tok_tmpl_item {
    int is_seq;
    int seq;           /* 0 = A, 1 = B */
    uint32_t type_id;
    int32_t *ids;      /* special token ids */
    size_t n_ids;
} tok_tmpl_item;

typedef struct tok_post tok_post;
struct tok_post {
    tok_post_type type;
    tok_tmpl_item *single, *pair;
    size_t n_single, n_pair;
    int trim_offsets, add_prefix_space; /* Roberta / ByteLevel */
    tok_post *children;
    size_t n_children;
};

int tok_post_load(const json_value *v, const tok_vocab *vocab, const tok_added *added, size_t n_added,
                  tok_post *out, semdex_error *err);
void tok_post_free(tok_post *p);
/* Number of tokens the post-processor adds for a single (pair=0) or pair. */
size_t tok_post_added_count(const tok_post *p, int pair);

/* --------------------------------------------------------- decoders */

typedef enum tok_decoder_type {
    TOK_DEC_NONE,
    TOK_DEC_WORDPIECE,
    TOK_DEC_METASPACE,
    TOK_DEC_BYTE_LEVEL,
    TOK_DEC_BPE,
    TOK_DEC_BYTE_FALLBACK,
    TOK_DEC_FUSE,
    TOK_DEC_STRIP,
    TOK_DEC_REPLACE,
    TOK_DEC_SEQUENCE,
    TOK_DEC_TYPE_COUNT
} tok_decoder_type;

typedef struct tok_decoder tok_decoder;
struct tok_decoder {
    tok_decoder_type type;
    char *prefix;         /* WordPiece prefix; BPE suffix */
    int cleanup;
    uint32_t replacement; /* Metaspace */
    int add_prefix_space; /* Metaspace: prepend_scheme != never */
    char *content;        /* Replace / Strip content */
    tok_pattern *pattern;
    size_t strip_start, strip_stop;
    tok_decoder *children;
    size_t n_children;
};

int tok_decoder_load(const json_value *v, tok_decoder *out, semdex_error *err);
void tok_decoder_free(tok_decoder *d);
/* Decodes token strings into *out (malloc'ed). */
int tok_decoder_decode(const tok_decoder *d, char **tokens, size_t n, char **out, semdex_error *err);

/* ----------------------------------------------------------- tokenizer */

struct semdex_tokenizer {
    char *path;
    tok_normalizer normalizer;
    int has_normalizer;
    tok_pretok pretok;
    int has_pretok;
    tok_model model;
    tok_post post;
    tok_decoder decoder;
    int has_decoder;
    tok_added *added;
    size_t n_added;
    tok_added_set *added_raw;        /* matched on the original text */
    tok_added_set *added_normalized; /* matched after normalization */
    uint8_t *special_by_id;          /* id -> 1 when a special added token */
    size_t n_special_by_id;
    size_t truncation_max;           /* from tokenizer.json "truncation" (informational) */
};

#endif
