/* json.c: strict recursive-descent JSON reader into an arena.  Built for
 * loading tokenizer.json files of tens of megabytes quickly: one pass, no
 * per-value malloc, children gathered on a scratch stack and copied into the
 * arena when their container closes. */
#include "json.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

struct json_doc {
    arena_block *blocks;
    json_value root;
};

typedef struct parser {
    const unsigned char *s, *end, *start;
    json_doc *doc;
    json_value *stack; /* scratch for children of open containers */
    size_t stack_len, stack_cap;
    semdex_error *err;
    int failed;
} parser;

static void *arena_alloc(json_doc *doc, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_block *b = doc->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        b = sx_malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = doc->blocks;
        doc->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static int fail(parser *p, const unsigned char *at, semdex_status st, const char *msg)
{
    if (!p->failed) {
        p->failed = 1;
        sx_err_set(p->err, st, NULL, NULL, (int64_t)(at - p->start), "%s", msg);
    }
    return -1;
}

static void skip_ws(parser *p)
{
    const unsigned char *s = p->s;
    while (s < p->end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    p->s = s;
}

static int push(parser *p, const json_value *v)
{
    if (SX_GROW(p->stack, p->stack_cap, p->stack_len + 1))
        return fail(p, p->s, SEMDEX_ERR_NOMEM, "out of memory");
    p->stack[p->stack_len++] = *v;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(parser *p, const unsigned char *s, unsigned *out)
{
    if (p->end - s < 4)
        return fail(p, s, SEMDEX_ERR_PARSE, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return fail(p, s + i, SEMDEX_ERR_PARSE, "bad hex digit in \\u escape");
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* p->s points after the opening quote. */
static int parse_string(parser *p, json_value *v)
{
    const unsigned char *s = p->s, *open = s - 1;
    /* Fast scan: find the closing quote; most strings have no escape. */
    const unsigned char *q = s;
    int has_escape = 0;
    while (q < p->end && *q != '"') {
        if (*q == '\\') {
            has_escape = 1;
            q++;
        } else if (*q < 0x20) {
            return fail(p, q, SEMDEX_ERR_PARSE, "control character in string");
        }
        q++;
    }
    if (q >= p->end)
        return fail(p, open, SEMDEX_ERR_PARSE, "unterminated string");
    size_t raw = (size_t)(q - s);
    if (raw > UINT32_MAX)
        return fail(p, open, SEMDEX_ERR_LIMIT, "string too long");
    char *out = arena_alloc(p->doc, raw + 1);
    if (!out)
        return fail(p, open, SEMDEX_ERR_NOMEM, "out of memory");
    size_t n = 0;
    if (!has_escape) {
        size_t bad = sx_utf8_validate((const char *)s, raw);
        if (bad != raw)
            return fail(p, s + bad, SEMDEX_ERR_UTF8, "invalid UTF-8 in string");
        memcpy(out, s, raw);
        n = raw;
    } else {
        const unsigned char *r = s;
        while (r < q) {
            if (*r != '\\') {
                const unsigned char *run = r;
                while (r < q && *r != '\\')
                    r++;
                size_t bad = sx_utf8_validate((const char *)run, (size_t)(r - run));
                if (bad != (size_t)(r - run))
                    return fail(p, run + bad, SEMDEX_ERR_UTF8, "invalid UTF-8 in string");
                memcpy(out + n, run, (size_t)(r - run));
                n += (size_t)(r - run);
                continue;
            }
            const unsigned char *esc = r;
            r++;
            switch (*r) {
            case '"': out[n++] = '"'; r++; break;
            case '\\': out[n++] = '\\'; r++; break;
            case '/': out[n++] = '/'; r++; break;
            case 'b': out[n++] = '\b'; r++; break;
            case 'f': out[n++] = '\f'; r++; break;
            case 'n': out[n++] = '\n'; r++; break;
            case 'r': out[n++] = '\r'; r++; break;
            case 't': out[n++] = '\t'; r++; break;
            case 'u': {
                unsigned cp;
                if (read_hex4(p, r + 1, &cp))
                    return -1;
                r += 5;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (q - r < 6 || r[0] != '\\' || r[1] != 'u')
                        return fail(p, esc, SEMDEX_ERR_PARSE, "unpaired surrogate in \\u escape");
                    if (read_hex4(p, r + 2, &lo))
                        return -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail(p, esc, SEMDEX_ERR_PARSE, "unpaired surrogate in \\u escape");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    r += 6;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail(p, esc, SEMDEX_ERR_PARSE, "unpaired surrogate in \\u escape");
                }
                /* An escape is 6 bytes and encodes to at most 4 (or 12 -> 4). */
                n += sx_utf8_encode(cp, out + n);
                break;
            }
            default:
                return fail(p, esc, SEMDEX_ERR_PARSE, "bad escape in string");
            }
        }
    }
    out[n] = 0;
    v->type = JSON_STRING;
    v->n = (uint32_t)n;
    v->u.str = out;
    p->s = q + 1;
    return 0;
}

/* Rust's serde_json, without its float_roundtrip feature (the default, and
 * what Hugging Face `tokenizers` reads tokenizer.json with), does not round
 * every number correctly: the decimal digits become a u64 significand
 * (digits past its range are dropped), converted to double, then multiplied
 * or divided once by a power of ten.  serde_number() gives that value, so
 * that a reader that must agree with it bit for bit can have it
 * (json_num_serde). */
static const double serde_pow10[309] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
    1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23,
    1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
    1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39,
    1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47,
    1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55,
    1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63,
    1e64, 1e65, 1e66, 1e67, 1e68, 1e69, 1e70, 1e71,
    1e72, 1e73, 1e74, 1e75, 1e76, 1e77, 1e78, 1e79,
    1e80, 1e81, 1e82, 1e83, 1e84, 1e85, 1e86, 1e87,
    1e88, 1e89, 1e90, 1e91, 1e92, 1e93, 1e94, 1e95,
    1e96, 1e97, 1e98, 1e99, 1e100, 1e101, 1e102, 1e103,
    1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110, 1e111,
    1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119,
    1e120, 1e121, 1e122, 1e123, 1e124, 1e125, 1e126, 1e127,
    1e128, 1e129, 1e130, 1e131, 1e132, 1e133, 1e134, 1e135,
    1e136, 1e137, 1e138, 1e139, 1e140, 1e141, 1e142, 1e143,
    1e144, 1e145, 1e146, 1e147, 1e148, 1e149, 1e150, 1e151,
    1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159,
    1e160, 1e161, 1e162, 1e163, 1e164, 1e165, 1e166, 1e167,
    1e168, 1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175,
    1e176, 1e177, 1e178, 1e179, 1e180, 1e181, 1e182, 1e183,
    1e184, 1e185, 1e186, 1e187, 1e188, 1e189, 1e190, 1e191,
    1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199,
    1e200, 1e201, 1e202, 1e203, 1e204, 1e205, 1e206, 1e207,
    1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214, 1e215,
    1e216, 1e217, 1e218, 1e219, 1e220, 1e221, 1e222, 1e223,
    1e224, 1e225, 1e226, 1e227, 1e228, 1e229, 1e230, 1e231,
    1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239,
    1e240, 1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247,
    1e248, 1e249, 1e250, 1e251, 1e252, 1e253, 1e254, 1e255,
    1e256, 1e257, 1e258, 1e259, 1e260, 1e261, 1e262, 1e263,
    1e264, 1e265, 1e266, 1e267, 1e268, 1e269, 1e270, 1e271,
    1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279,
    1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287,
    1e288, 1e289, 1e290, 1e291, 1e292, 1e293, 1e294, 1e295,
    1e296, 1e297, 1e298, 1e299, 1e300, 1e301, 1e302, 1e303,
    1e304, 1e305, 1e306, 1e307, 1e308
};

static int u64_mul10_overflows(uint64_t a, unsigned d)
{
    return a > UINT64_MAX / 10 || (a == UINT64_MAX / 10 && d > UINT64_MAX % 10);
}

/* b[0..n) is a valid JSON number.  Returns 0 when serde_json's value is the
 * correctly rounded one, else 1 with it in *out. */
static int serde_number(const unsigned char *b, size_t n, double *out)
{
    size_t i = 0;
    int neg = b[0] == '-', stop = 0, is_float = 0;
    uint64_t sig = 0;
    int32_t exp = 0;
    i += (size_t)neg;
    for (; i < n && b[i] >= '0' && b[i] <= '9'; i++) {
        unsigned d = b[i] - '0';
        if (!stop && u64_mul10_overflows(sig, d))
            stop = 1;
        if (stop)
            exp += exp < INT32_MAX;
        else
            sig = sig * 10 + d;
    }
    int truncated = stop;
    if (i < n && b[i] == '.') {
        is_float = 1;
        stop = 0;
        for (i++; i < n && b[i] >= '0' && b[i] <= '9'; i++) {
            unsigned d = b[i] - '0';
            if (!stop && u64_mul10_overflows(sig, d))
                stop = truncated = 1;
            if (!stop) {
                sig = sig * 10 + d;
                exp--;
            }
        }
    }
    if (i < n && (b[i] == 'e' || b[i] == 'E')) {
        is_float = 1;
        i++;
        int eneg = b[i] == '-';
        if (b[i] == '-' || b[i] == '+')
            i++;
        int32_t e = 0;
        for (; i < n; i++) {
            int d = b[i] - '0';
            if (e > (INT32_MAX - d) / 10)
                return 0; /* serde: 0 or an out-of-range error */
            e = e * 10 + d;
        }
        if (eneg)
            exp = exp < INT32_MIN + e ? INT32_MIN : exp - e;
        else
            exp = exp > INT32_MAX - e ? INT32_MAX : exp + e;
    }
    if (!is_float && !truncated)
        return 0; /* integers convert correctly rounded */
    if (!truncated && sig <= (1ull << 53) && exp >= -22 && exp <= 22)
        return 0; /* one exact operand, one rounding: correct */
    double f = (double)sig;
    for (;;) {
        uint32_t a = exp < 0 ? 0u - (uint32_t)exp : (uint32_t)exp;
        if (a <= 308) {
            if (exp >= 0)
                f *= serde_pow10[a];
            else
                f /= serde_pow10[a];
            break;
        }
        if (f == 0.0)
            break;
        if (exp >= 0)
            return 0; /* serde: out of range */
        f /= 1e308;
        exp += 308;
    }
    if (isinf(f))
        return 0;
    *out = neg ? -f : f;
    return 1;
}

static int parse_number(parser *p, json_value *v)
{
    const unsigned char *s = p->s, *b = s;
    if (s < p->end && *s == '-')
        s++;
    if (s >= p->end || !(*s >= '0' && *s <= '9'))
        return fail(p, b, SEMDEX_ERR_PARSE, "bad number");
    if (*s == '0')
        s++;
    else
        while (s < p->end && *s >= '0' && *s <= '9')
            s++;
    if (s < p->end && *s == '.') {
        s++;
        if (s >= p->end || !(*s >= '0' && *s <= '9'))
            return fail(p, s, SEMDEX_ERR_PARSE, "bad number: digit expected after '.'");
        while (s < p->end && *s >= '0' && *s <= '9')
            s++;
    }
    if (s < p->end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < p->end && (*s == '+' || *s == '-'))
            s++;
        if (s >= p->end || !(*s >= '0' && *s <= '9'))
            return fail(p, s, SEMDEX_ERR_PARSE, "bad number: digit expected in exponent");
        while (s < p->end && *s >= '0' && *s <= '9')
            s++;
    }
    char tmp[64];
    size_t n = (size_t)(s - b);
    double d;
    if (n < sizeof tmp) {
        memcpy(tmp, b, n);
        tmp[n] = 0;
        d = strtod(tmp, NULL);
    } else {
        char *big = sx_strndup((const char *)b, n);
        if (!big)
            return fail(p, b, SEMDEX_ERR_NOMEM, "out of memory");
        d = strtod(big, NULL);
        sx_free(big);
    }
    v->type = JSON_NUMBER;
    v->u.num = d;
    v->n = 0;
    /* n: how many ULPs serde_json's value lies from d (see serde_number) */
    double sd;
    if (serde_number(b, n, &sd) && sd != d && !signbit(sd) == !signbit(d)) {
        int64_t bd, bs;
        memcpy(&bd, &d, 8);
        memcpy(&bs, &sd, 8);
        if (bs - bd >= INT32_MIN && bs - bd <= INT32_MAX)
            v->n = (uint32_t)(int32_t)(bs - bd);
    }
    p->s = s;
    return 0;
}

static int lit(parser *p, const char *word, json_type t, json_value *v)
{
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n))
        return fail(p, p->s, SEMDEX_ERR_PARSE, "unexpected character");
    p->s += n;
    v->type = t;
    v->n = 0;
    return 0;
}

static int parse_value(parser *p, json_value *v, int depth);

static int close_container(parser *p, json_value *v, size_t base, json_type t, size_t count)
{
    size_t nvals = p->stack_len - base;
    json_value *items = NULL;
    if (nvals) {
        items = arena_alloc(p->doc, nvals * sizeof *items);
        if (!items)
            return fail(p, p->s, SEMDEX_ERR_NOMEM, "out of memory");
        memcpy(items, p->stack + base, nvals * sizeof *items);
    }
    p->stack_len = base;
    if (count > UINT32_MAX)
        return fail(p, p->s, SEMDEX_ERR_LIMIT, "container too large");
    v->type = t;
    v->n = (uint32_t)count;
    v->u.items = items;
    return 0;
}

static int parse_array(parser *p, json_value *v, int depth)
{
    size_t base = p->stack_len, count = 0;
    p->s++; /* '[' */
    skip_ws(p);
    if (p->s < p->end && *p->s == ']') {
        p->s++;
        return close_container(p, v, base, JSON_ARRAY, 0);
    }
    for (;;) {
        json_value item;
        if (parse_value(p, &item, depth + 1) || push(p, &item))
            return -1;
        count++;
        skip_ws(p);
        if (p->s >= p->end)
            return fail(p, p->s, SEMDEX_ERR_PARSE, "unterminated array");
        if (*p->s == ',') {
            p->s++;
            continue;
        }
        if (*p->s == ']') {
            p->s++;
            return close_container(p, v, base, JSON_ARRAY, count);
        }
        return fail(p, p->s, SEMDEX_ERR_PARSE, "expected ',' or ']' in array");
    }
}

static int parse_object(parser *p, json_value *v, int depth)
{
    size_t base = p->stack_len, count = 0;
    p->s++; /* '{' */
    skip_ws(p);
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        return close_container(p, v, base, JSON_OBJECT, 0);
    }
    for (;;) {
        skip_ws(p);
        if (p->s >= p->end || *p->s != '"')
            return fail(p, p->s, SEMDEX_ERR_PARSE, "expected a string key in object");
        json_value key;
        key.offset = (uint64_t)(p->s - p->start);
        p->s++;
        if (parse_string(p, &key) || push(p, &key))
            return -1;
        skip_ws(p);
        if (p->s >= p->end || *p->s != ':')
            return fail(p, p->s, SEMDEX_ERR_PARSE, "expected ':' after key");
        p->s++;
        json_value val;
        if (parse_value(p, &val, depth + 1) || push(p, &val))
            return -1;
        count++;
        skip_ws(p);
        if (p->s >= p->end)
            return fail(p, p->s, SEMDEX_ERR_PARSE, "unterminated object");
        if (*p->s == ',') {
            p->s++;
            continue;
        }
        if (*p->s == '}') {
            p->s++;
            return close_container(p, v, base, JSON_OBJECT, count);
        }
        return fail(p, p->s, SEMDEX_ERR_PARSE, "expected ',' or '}' in object");
    }
}

static int parse_value(parser *p, json_value *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return fail(p, p->s, SEMDEX_ERR_LIMIT, "nesting too deep");
    skip_ws(p);
    if (p->s >= p->end)
        return fail(p, p->s, SEMDEX_ERR_PARSE, "unexpected end of input");
    v->offset = (uint64_t)(p->s - p->start);
    switch (*p->s) {
    case '{': return parse_object(p, v, depth);
    case '[': return parse_array(p, v, depth);
    case '"': p->s++; return parse_string(p, v);
    case 't': return lit(p, "true", JSON_TRUE, v);
    case 'f': return lit(p, "false", JSON_FALSE, v);
    case 'n': return lit(p, "null", JSON_NULL, v);
    default:
        if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9'))
            return parse_number(p, v);
        return fail(p, p->s, SEMDEX_ERR_PARSE, "unexpected character");
    }
}

json_doc *json_parse(const char *src, size_t len, semdex_error *err)
{
    json_doc *doc = sx_calloc(1, sizeof *doc);
    if (!doc) {
        sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
        return NULL;
    }
    parser p = {0};
    p.s = p.start = (const unsigned char *)src;
    p.end = p.s + len;
    p.doc = doc;
    p.err = err;
    int rc = parse_value(&p, &doc->root, 0);
    if (!rc) {
        skip_ws(&p);
        if (p.s != p.end)
            rc = fail(&p, p.s, SEMDEX_ERR_PARSE, "trailing characters after JSON value");
    }
    sx_free(p.stack);
    if (rc) {
        json_doc_free(doc);
        return NULL;
    }
    return doc;
}

void json_doc_free(json_doc *doc)
{
    if (!doc)
        return;
    arena_block *b = doc->blocks;
    while (b) {
        arena_block *next = b->next;
        sx_free(b);
        b = next;
    }
    sx_free(doc);
}

const json_value *json_doc_root(const json_doc *doc) { return &doc->root; }

json_doc *json_parse_file(const char *path, semdex_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "not a regular file");
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *buf = sx_malloc(size + 1);
    if (!buf) {
        fclose(f);
        sx_err_set(err, SEMDEX_ERR_NOMEM, path, NULL, -1, "out of memory reading %zu bytes", size);
        return NULL;
    }
    size_t got = fread(buf, 1, size, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got != size) {
        sx_free(buf);
        sx_err_set(err, SEMDEX_ERR_IO, path, NULL, (int64_t)got, "read failed");
        return NULL;
    }
    json_doc *doc = json_parse(buf, size, err);
    sx_free(buf);
    if (!doc)
        sx_err_set_file(err, path);
    return doc;
}

const json_value *json_get(const json_value *v, const char *key)
{
    if (!json_is_obj(v))
        return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < v->n; i++) {
        const json_value *k = json_obj_key(v, i);
        if (k->n == kl && !memcmp(k->u.str, key, kl))
            return json_obj_val(v, i);
    }
    return NULL;
}

double json_num_serde(const json_value *v)
{
    if (!v || v->type != JSON_NUMBER || !v->n)
        return v && v->type == JSON_NUMBER ? v->u.num : 0.0;
    int64_t bits;
    memcpy(&bits, &v->u.num, 8);
    bits += (int32_t)v->n;
    double r;
    memcpy(&r, &bits, 8);
    return r;
}

int json_bool(const json_value *v, int def)
{
    if (json_is_null(v))
        return def;
    return v->type == JSON_TRUE;
}

int json_int_in(const json_value *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!json_is_num(v))
        return 0;
    double d = v->u.num;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
        return 0;
    *out = (int64_t)d;
    return 1;
}

const char *json_type_name(json_type t)
{
    static const char *const names[] = {"null", "false", "true", "number", "string", "array", "object"};
    return (unsigned)t < JSON_TYPE_COUNT ? names[t] : "?";
}

int json_write_string(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    /* worst case: every byte becomes \u00XX (6 bytes) plus quotes */
    if (SX_GROW(*buf, *cap, *len + n * 6 + 3))
        return -1;
    char *o = *buf + *len;
    *o++ = '"';
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        case '\b': *o++ = '\\'; *o++ = 'b'; break;
        case '\f': *o++ = '\\'; *o++ = 'f'; break;
        default:
            if (c < 0x20) {
                *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = hex[c >> 4]; *o++ = hex[c & 15];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    *len = (size_t)(o - *buf);
    return 0;
}
