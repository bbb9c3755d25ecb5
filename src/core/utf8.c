/* utf8.c: UTF-8 validation and Unicode properties over utf8proc. */
#include "utf8.h"
#include <utf8proc.h>
#include "uni_age.h"

size_t sx_utf8_validate(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            __builtin_memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return i;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
                return i;
            if (c == 0xE0 && s[i + 1] < 0xA0)
                return i; /* overlong */
            if (c == 0xED && s[i + 1] >= 0xA0)
                return i; /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
                (s[i + 3] & 0xC0) != 0x80)
                return i;
            if (c == 0xF0 && s[i + 1] < 0x90)
                return i; /* overlong */
            if (c == 0xF4 && s[i + 1] >= 0x90)
                return i; /* above U+10FFFF */
            i += 4;
        } else {
            return i;
        }
    }
    return n;
}

int sx_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int sx_uni_category(uint32_t cp) { return utf8proc_category((utf8proc_int32_t)cp); }

int sx_uni_is_whitespace(uint32_t cp)
{
    /* The White_Space property (PropList.txt), which Rust's is_whitespace uses. */
    switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

int sx_uni_is_punct(uint32_t cp)
{
    int c = sx_uni_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

int sx_uni_is_mark_nonspacing(uint32_t cp) { return sx_uni_category(cp) == UTF8PROC_CATEGORY_MN; }

int sx_uni_is_other(uint32_t cp)
{
    int c = sx_uni_category(cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CS ||
           c == UTF8PROC_CATEGORY_CO || c == UTF8PROC_CATEGORY_CN;
}

int sx_uni_is_letter(uint32_t cp)
{
    int c = sx_uni_category(cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

int sx_uni_is_number(uint32_t cp)
{
    int c = sx_uni_category(cp);
    return c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
}

int sx_uni_is_alphanumeric(uint32_t cp)
{
    return sx_uni_is_letter(cp) || sx_uni_is_number(cp);
}

int sx_uni_to_lower(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    /* The one unconditional multi-character lowercase mapping of SpecialCasing.txt. */
    if (cp == 0x130) {
        out[0] = 0x69;
        out[1] = 0x307;
        return 2;
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

int sx_uni_to_upper(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
        return 1;
    }
    out[0] = (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp);
    return 1;
}

long sx_uni_normalize(const uint32_t *cps, size_t n, sx_norm_form form, uint32_t *out, size_t out_cap)
{
    utf8proc_option_t dopt = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    if (form == SX_NFKD || form == SX_NFKC)
        dopt |= UTF8PROC_COMPAT;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int last_boundclass = 0;
        if (w >= out_cap)
            return -1;
        utf8proc_ssize_t r = utf8proc_decompose_char((utf8proc_int32_t)cps[i], (utf8proc_int32_t *)out + w,
                                                     (utf8proc_ssize_t)(out_cap - w), dopt, &last_boundclass);
        if (r < 0)
            return -2;
        if ((size_t)r > out_cap - w)
            return -1;
        w += (size_t)r;
    }
    /* Canonical ordering: stable sort of each run of non-starters by class. */
    for (size_t i = 1; i < w; i++) {
        int cc = sx_uni_combining_class(out[i]);
        if (!cc)
            continue;
        size_t j = i;
        while (j > 0) {
            int pc = sx_uni_combining_class(out[j - 1]);
            if (!pc || pc <= cc)
                break;
            uint32_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
            j--;
        }
    }
    if (form == SX_NFC || form == SX_NFKC) {
        utf8proc_ssize_t r = utf8proc_normalize_utf32((utf8proc_int32_t *)out, (utf8proc_ssize_t)w,
                                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r < 0)
            return -2;
        w = (size_t)r;
    }
    return (long)w;
}

int sx_uni_is_norm_segment_start(uint32_t cp)
{
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
    if (p->combining_class)
        return 0;
    if ((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2))
        return 0; /* Hangul vowel and trailing jamo compose with what precedes */
    if (p->comb_index != UINT16_MAX && p->comb_index >= 0x8000)
        return 0; /* can be the second half of a primary composite */
    return 1;
}

int sx_uni_combining_class(uint32_t cp)
{
    return utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
}

int sx_uni_grapheme_break(uint32_t a, uint32_t b, int32_t *state)
{
    return utf8proc_grapheme_break_stateful((utf8proc_int32_t)a, (utf8proc_int32_t)b, state);
}

int sx_uni_age(uint32_t cp)
{
    size_t lo = 0, hi = sizeof sx_uni_age_ranges / sizeof sx_uni_age_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sx_uni_age_ranges[mid].hi < cp)
            lo = mid + 1;
        else if (sx_uni_age_ranges[mid].lo > cp)
            hi = mid;
        else
            return sx_uni_age_ranges[mid].age;
    }
    return sx_uni_category(cp) == UTF8PROC_CATEGORY_CN ? 0 : 60;
}

int sx_uni_category_at(uint32_t cp, int version)
{
    if (cp < 0x37F)
        return sx_uni_category(cp); /* every such code point predates 6.0 */
    int age = sx_uni_age(cp);
    if (!age || age > version)
        return UTF8PROC_CATEGORY_CN;
    return sx_uni_category(cp);
}

int sx_uni_is_punct_cat(int cat) { return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO; }
int sx_uni_is_mn_cat(int cat) { return cat == UTF8PROC_CATEGORY_MN; }
int sx_uni_is_other_cat(int cat)
{
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CS ||
           cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CN;
}
