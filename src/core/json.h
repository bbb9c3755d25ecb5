/* json.h: a strict JSON (RFC 8259) reader into an arena-allocated tree.
 * Values keep the byte offset where they start so that callers can report
 * where a bad field is.  Strings are unescaped, NUL-terminated, and may hold
 * embedded NULs (use len).  Knows nothing of tokenizers or models. */
#ifndef SX_JSON_H
#define SX_JSON_H
#include <stddef.h>
#include <stdint.h>
#include "semdex.h"

typedef enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
    JSON_TYPE_COUNT
} json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    uint32_t n;      /* string: bytes; array: items; object: members; number: see json_num_serde */
    uint64_t offset; /* byte offset of the value in the source */
    union {
        double num;
        const char *str;
        json_value *items; /* array: n values; object: 2n values, key then value */
    } u;
};

typedef struct json_doc json_doc;

#define JSON_MAX_DEPTH 256

/* Parses `len` bytes.  On failure returns NULL and fills err with the byte
 * offset (err->file is left for the caller to set). */
json_doc *json_parse(const char *src, size_t len, semdex_error *err);
void json_doc_free(json_doc *doc);
const json_value *json_doc_root(const json_doc *doc);

/* Reads a whole file and parses it; errors name the file. */
json_doc *json_parse_file(const char *path, semdex_error *err);

/* Member of an object by key, or NULL (also when v is not an object). */
const json_value *json_get(const json_value *v, const char *key);
/* i-th key / value of an object. */
static inline const json_value *json_obj_key(const json_value *v, uint32_t i) { return &v->u.items[2 * i]; }
static inline const json_value *json_obj_val(const json_value *v, uint32_t i) { return &v->u.items[2 * i + 1]; }
static inline const json_value *json_arr_at(const json_value *v, uint32_t i) { return &v->u.items[i]; }

static inline int json_is_str(const json_value *v) { return v && v->type == JSON_STRING; }
static inline int json_is_num(const json_value *v) { return v && v->type == JSON_NUMBER; }
static inline int json_is_arr(const json_value *v) { return v && v->type == JSON_ARRAY; }
static inline int json_is_obj(const json_value *v) { return v && v->type == JSON_OBJECT; }
static inline int json_is_null(const json_value *v) { return !v || v->type == JSON_NULL; }
static inline int json_is_bool(const json_value *v) { return v && (v->type == JSON_TRUE || v->type == JSON_FALSE); }
/* A number as Rust's serde_json reads it by default (no float_roundtrip):
 * not always the correctly rounded u.num, a few ULPs off for some long
 * decimals.  For readers that must agree with that bit for bit. */
double json_num_serde(const json_value *v);
/* True when v is `true`; def when v is absent or null. */
int json_bool(const json_value *v, int def);
const char *json_type_name(json_type t);
/* 1 when v is an integral number in [lo, hi] (sets *out), else 0.  Every
 * conversion of a JSON number to an integer goes through this: a cast of an
 * out-of-range double is undefined behaviour. */
int json_int_in(const json_value *v, int64_t lo, int64_t hi, int64_t *out);

/* Appends a JSON string literal (quotes included) for s[0..n) to a growable
 * buffer. Returns 0 or -1 on allocation failure. */
int json_write_string(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

#endif
