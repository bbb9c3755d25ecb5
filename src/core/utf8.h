/* utf8.h: UTF-8 validation, decoding and encoding, and the Unicode character
 * properties the tokenizers need (from utf8proc).  Knows nothing of
 * tokenizers; the exact rules of each reference tokenizer live in src/tok. */
#ifndef SX_UTF8_H
#define SX_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Returns the length of the longest valid prefix: n when all of s is valid
 * UTF-8 (no surrogates, no overlongs, nothing above U+10FFFF). */
size_t sx_utf8_validate(const char *s, size_t n);

/* Decodes one code point from valid UTF-8 at s; sets *len to its bytes. */
static inline uint32_t sx_utf8_decode(const char *s, int *len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) { *len = 1; return u[0]; }
    if (u[0] < 0xE0) { *len = 2; return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); }
    if (u[0] < 0xF0) { *len = 3; return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F); }
    *len = 4;
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

/* Bytes of the UTF-8 sequence that starts with byte b (1 for stray bytes). */
static inline int sx_utf8_len(unsigned char b)
{
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}
static inline int sx_utf8_cp_len(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Writes cp as UTF-8 into out (room for 4 bytes); returns bytes written. */
int sx_utf8_encode(uint32_t cp, char *out);

/* ---- Unicode properties (utf8proc) ---- */

/* General category, as utf8proc's UTF8PROC_CATEGORY_* values. */
int sx_uni_category(uint32_t cp);
/* Rust's char::is_whitespace: the White_Space property. */
int sx_uni_is_whitespace(uint32_t cp);
/* Any P* category. */
int sx_uni_is_punct(uint32_t cp);
/* Mn: nonspacing mark. */
int sx_uni_is_mark_nonspacing(uint32_t cp);
/* Cc, Cf, Cs, Co, Cn. */
int sx_uni_is_other(uint32_t cp);
/* L* categories */
int sx_uni_is_letter(uint32_t cp);
/* N* categories */
int sx_uni_is_number(uint32_t cp);
/* Rust's char::is_alphanumeric: Alphabetic or Numeric (approximated as L*, Nl, Nd, No, plus Other_Alphabetic marks). */
int sx_uni_is_alphanumeric(uint32_t cp);

/* Full lowercase mapping (SpecialCasing's unconditional rules included) into
 * out (room for 3 code points); returns the count. */
int sx_uni_to_lower(uint32_t cp, uint32_t out[3]);
int sx_uni_to_upper(uint32_t cp, uint32_t out[3]);

/* Normalization forms, for sx_uni_decompose */
typedef enum sx_norm_form { SX_NFD, SX_NFKD, SX_NFC, SX_NFKC } sx_norm_form;

/* Normalizes the code points cps[0..n) into out (capacity out_cap), returning
 * the count written, or -1 when out is too small (n*18 is always enough),
 * or -2 on error. */
long sx_uni_normalize(const uint32_t *cps, size_t n, sx_norm_form form, uint32_t *out, size_t out_cap);

/* True when a normalization segment starts at cp: no code point before it
 * can reorder or compose with it, so text can be normalized piecewise. */
int sx_uni_is_norm_segment_start(uint32_t cp);

/* Unicode version that assigned cp, as major * 10 + minor (60 for anything
 * assigned by 6.0), or 0 when unassigned. */
int sx_uni_age(uint32_t cp);
/* General category of cp as a table of Unicode `version` (major*10+minor)
 * would give it: Cn for code points assigned later.  Reclassifications of
 * existing code points are not modelled. */
int sx_uni_category_at(uint32_t cp, int version);

/* Tests on a category value from sx_uni_category(_at). */
int sx_uni_is_punct_cat(int cat);
int sx_uni_is_mn_cat(int cat);
int sx_uni_is_other_cat(int cat); /* Cc, Cf, Cs, Co, Cn */

/* Combining class of cp (0 for starters). */
int sx_uni_combining_class(uint32_t cp);

/* Grapheme cluster break between two code points, with state as utf8proc's
 * utf8proc_grapheme_break_stateful (init state 0). */
int sx_uni_grapheme_break(uint32_t a, uint32_t b, int32_t *state);

#endif
