/* regex.c: the patterns of tokenizer.json ({"String": s} or {"Regex": r})
 * over PCRE2 with UTF and Unicode properties, JIT-compiled when available.
 * The reference uses the Oniguruma-compatible `onig` crate; the patterns that
 * real tokenizers ship (\p{L}, \s, look-ahead, (?i:...)) mean the same in
 * PCRE2 with PCRE2_UCP. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include <pcre2.h>
#include <string.h>

struct tok_pattern {
    char *literal; /* String pattern */
    size_t literal_len;
    pcre2_code *re;
};

tok_pattern *tok_pattern_from_json(const json_value *pat, semdex_error *err)
{
    const json_value *str = json_get(pat, "String");
    const json_value *rx = json_get(pat, "Regex");
    if (!json_is_str(str) && !json_is_str(rx)) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pattern", pat ? (int64_t)pat->offset : -1,
                   "pattern must be {\"String\": ...} or {\"Regex\": ...}");
        return NULL;
    }
    tok_pattern *p = sx_calloc(1, sizeof *p);
    if (!p) {
        sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
        return NULL;
    }
    if (json_is_str(str)) {
        p->literal = sx_strndup(str->u.str, str->n);
        p->literal_len = str->n;
        if (!p->literal) {
            sx_free(p);
            sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
            return NULL;
        }
        return p;
    }
    int ecode;
    PCRE2_SIZE eoff;
    p->re = pcre2_compile((PCRE2_SPTR)rx->u.str, rx->n, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK,
                          &ecode, &eoff, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "pattern.Regex", (int64_t)rx->offset,
                   "cannot compile regex at pattern byte %zu: %s", (size_t)eoff, (const char *)msg);
        sx_free(p);
        return NULL;
    }
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* best effort */
    return p;
}

void tok_pattern_free(tok_pattern *p)
{
    if (!p)
        return;
    sx_free(p->literal);
    if (p->re)
        pcre2_code_free(p->re);
    sx_free(p);
}

int tok_pattern_find(const tok_pattern *p, const char *s, size_t n,
                     int (*cb)(size_t start, size_t end, void *ctx), void *ctx, semdex_error *err)
{
    if (p->literal) {
        if (!p->literal_len)
            return 0;
        size_t i = 0;
        while (i + p->literal_len <= n) {
            const char *hit = memmem(s + i, n - i, p->literal, p->literal_len);
            if (!hit)
                break;
            size_t a = (size_t)(hit - s);
            if (cb(a, a + p->literal_len, ctx))
                return 0;
            i = a + p->literal_len;
        }
        return 0;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!md) {
        sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
        return -1;
    }
    size_t start = 0;
    while (start <= n) {
        int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            pcre2_match_data_free(md);
            sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, (int64_t)start, "regex match failed (%d)", rc);
            return -1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (a == b) {
            /* empty match: the reference skips it; advance one character */
            if (a >= n)
                break;
            start = a + 1;
            while (start < n && ((unsigned char)s[start] & 0xC0) == 0x80)
                start++;
            continue;
        }
        if (cb(a, b, ctx))
            break;
        start = b;
    }
    pcre2_match_data_free(md);
    return 0;
}
