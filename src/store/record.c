/* record.c: the JSONL document record parser (record.h).  Strict about
 * what it keeps (types, finite float32 values, UTF-8 without NUL), lenient
 * about keys it does not know. */
#include "record.h"
#include "alloc.h"
#include "err.h"
#include "json.h"
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DIM 65536

void sx_record_free(sx_record *r)
{
    if (!r)
        return;
    sx_free(r->buf);
    sx_free(r->vector);
    memset(r, 0, sizeof *r);
}

/* End of the valid JSON value starting at off (the parser accepted it). */
static size_t value_end(const char *s, size_t len, size_t off)
{
    size_t i = off;
    int depth = 0;
    do {
        char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
        i++;
    } while (i < len && depth > 0);
    return i;
}

static semdex_status fail(semdex_error *err, semdex_status st, const char *field, const json_value *v,
                          const char *msg)
{
    return sx_err_set(err, st, NULL, field, v ? (int64_t)v->offset : 0, "%s", msg);
}

semdex_status sx_record_parse(const char *line, size_t len, sx_record *r, semdex_error *err)
{
    memset(r, 0, sizeof *r);
    if (len > SX_RECORD_MAX_LINE)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, NULL, -1, "line of %zu bytes, limit %zu", len,
                          SX_RECORD_MAX_LINE);
    json_doc *doc = json_parse(line, len, err);
    if (!doc)
        return err ? err->status : SEMDEX_ERR_PARSE;
    const json_value *root = json_doc_root(doc), *id = json_get(root, "id"), *text = json_get(root, "text"),
                     *meta = json_get(root, "metadata"), *vec = json_get(root, "vector"), *uri = json_get(root, "uri");
    semdex_status st = SEMDEX_OK;
    char idnum[32] = "";
    if (!json_is_obj(root))
        st = fail(err, SEMDEX_ERR_FORMAT, NULL, root, "a record is a JSON object");
    else if (!json_is_null(id) && !json_is_str(id) && !json_is_num(id))
        st = fail(err, SEMDEX_ERR_FORMAT, "id", id, "\"id\" must be a string or an integer");
    else if (json_is_str(id) && (!id->n || memchr(id->u.str, 0, id->n)))
        st = fail(err, SEMDEX_ERR_FORMAT, "id", id, "\"id\" must be a non-empty string without NUL");
    else if (json_is_num(id) && (id->u.num != floor(id->u.num) || fabs(id->u.num) > 9007199254740992.0))
        st = fail(err, SEMDEX_ERR_FORMAT, "id", id, "a numeric \"id\" must be an integer below 2^53");
    else if (!json_is_null(text) && !json_is_str(text))
        st = fail(err, SEMDEX_ERR_FORMAT, "text", text, "\"text\" must be a string");
    else if (json_is_str(text) && memchr(text->u.str, 0, text->n))
        st = fail(err, SEMDEX_ERR_FORMAT, "text", text, "NUL character in \"text\"");
    else if (!json_is_null(meta) && !json_is_obj(meta))
        st = fail(err, SEMDEX_ERR_FORMAT, "metadata", meta, "\"metadata\" must be an object");
    else if (!json_is_null(uri) && (!json_is_str(uri) || memchr(uri->u.str, 0, uri->n)))
        st = fail(err, SEMDEX_ERR_FORMAT, "uri", uri, "\"uri\" must be a string without NUL");
    else if (!json_is_null(vec) && (!json_is_arr(vec) || !vec->n || vec->n > MAX_DIM))
        st = fail(err, SEMDEX_ERR_FORMAT, "vector", vec, "\"vector\" must be an array of 1 to 65536 numbers");
    else if (json_is_null(text) && json_is_null(vec))
        st = fail(err, SEMDEX_ERR_FORMAT, NULL, root, "a record needs \"text\" or \"vector\"");
    if (!st && json_is_arr(vec)) {
        r->vector = sx_malloc(vec->n * sizeof(float));
        if (!r->vector)
            st = fail(err, SEMDEX_ERR_NOMEM, "vector", vec, "out of memory");
        for (uint32_t i = 0; !st && i < vec->n; i++) {
            const json_value *x = json_arr_at(vec, i);
            if (!json_is_num(x))
                st = fail(err, SEMDEX_ERR_FORMAT, "vector", x, "\"vector\" holds a value that is not a number");
            else if (!(fabs(x->u.num) <= FLT_MAX))
                st = fail(err, SEMDEX_ERR_FORMAT, "vector", x, "a \"vector\" value does not fit a float32");
            else
                r->vector[i] = (float)x->u.num;
        }
        r->dim = vec->n;
    }
    if (!st && json_is_num(id))
        snprintf(idnum, sizeof idnum, "%" PRId64, (int64_t)id->u.num);
    size_t meta_start = json_is_obj(meta) ? (size_t)meta->offset : 0;
    size_t meta_len = json_is_obj(meta) ? value_end(line, len, meta_start) - meta_start : 0;
    size_t id_len = json_is_str(id) ? id->n : strlen(idnum), text_len = json_is_str(text) ? text->n : 0;
    size_t uri_len = json_is_str(uri) ? uri->n : 0;
    if (!st && !(r->buf = sx_malloc(id_len + text_len + meta_len + uri_len + 4)))
        st = fail(err, SEMDEX_ERR_NOMEM, NULL, root, "out of memory");
    if (st) {
        json_doc_free(doc);
        sx_record_free(r);
        return st;
    }
    char *p = r->buf;
#define KEEP(field, present, src, n)                                                                        \
    do {                                                                                                    \
        if (present) {                                                                                      \
            memcpy(p, src, n);                                                                              \
            p[n] = 0;                                                                                       \
            r->field = p;                                                                                   \
        }                                                                                                   \
        p += (n) + 1;                                                                                       \
    } while (0)
    KEEP(id, json_is_str(id) || json_is_num(id), json_is_str(id) ? id->u.str : idnum, id_len);
    KEEP(text, json_is_str(text), text->u.str, text_len);
    KEEP(metadata, json_is_obj(meta), line + meta_start, meta_len);
    KEEP(uri, json_is_str(uri), uri->u.str, uri_len);
#undef KEEP
    r->text_len = text_len;
    json_doc_free(doc);
    return SEMDEX_OK;
}
