/* meta.c: the metadata index.  A document's metadata (a JSON object) is
 * flattened into doc_meta rows (key, kind, value): nested objects give
 * dotted keys ("a.b"), an array gives one row per scalar element; strings
 * are kind 0, numbers kind 1 (stored as REAL), true/false/null kind 2
 * (stored as their spelling).  Rows are written with their document and go
 * with it (foreign key); filters (filter.c) read them through the primary
 * key instead of parsing every document's JSON.  Keys longer than
 * SX_FILTER_MAX_KEY and strings longer than SX_FILTER_MAX_VALUE are not
 * indexed: no filter can name them. */
#include "store.h"
#include "alloc.h"
#include "err.h"
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

typedef struct meta_row {
    char *key;
    int kind;
    const char *str; /* kinds 0 and 2 (into the JSON tree or a literal) */
    size_t len;
    double num; /* kind 1 */
} meta_row;

typedef struct meta_rows {
    json_doc *doc;
    meta_row *rows;
    size_t n, cap;
    int failed;
} meta_rows;

static void rows_free(meta_rows *m)
{
    for (size_t i = 0; i < m->n; i++)
        sx_free(m->rows[i].key);
    sx_free(m->rows);
    json_doc_free(m->doc);
    memset(m, 0, sizeof *m);
}

static void push(meta_rows *m, const char *key, size_t klen, const json_value *v)
{
    meta_row r = {0};
    switch (v->type) {
    case JSON_STRING:
        if (v->n > SX_FILTER_MAX_VALUE)
            return;
        r.kind = 0, r.str = v->u.str, r.len = v->n;
        break;
    case JSON_NUMBER:
        r.kind = 1, r.num = v->u.num;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        r.kind = 2, r.str = json_type_name(v->type), r.len = strlen(r.str);
        break;
    default:
        return;
    }
    if (m->failed || SX_GROW(m->rows, m->cap, m->n + 1) || !(r.key = sx_strndup(key, klen))) {
        m->failed = 1;
        return;
    }
    m->rows[m->n++] = r;
}

/* key[0..klen) is the path of object v's parent ("" at the top). */
static void walk(meta_rows *m, const json_value *obj, char *key, size_t klen, int depth)
{
    if (depth > MAX_DEPTH)
        return;
    for (uint32_t i = 0; i < obj->n && !m->failed; i++) {
        const json_value *k = json_obj_key(obj, i), *v = json_obj_val(obj, i);
        size_t n = klen + (klen ? 1 : 0) + k->n;
        if (n > SX_FILTER_MAX_KEY || memchr(k->u.str, 0, k->n))
            continue;
        if (klen)
            key[klen] = '.';
        memcpy(key + klen + (klen ? 1 : 0), k->u.str, k->n);
        if (v->type == JSON_OBJECT)
            walk(m, v, key, n, depth + 1);
        else if (v->type == JSON_ARRAY)
            for (uint32_t j = 0; j < v->n; j++)
                push(m, key, n, json_arr_at(v, j));
        else
            push(m, key, n, v);
    }
}

static semdex_status flatten(const char *json, meta_rows *m, semdex_error *err)
{
    memset(m, 0, sizeof *m);
    m->doc = json_parse(json, strlen(json), err);
    if (!m->doc)
        return err ? err->status : SEMDEX_ERR_PARSE;
    const json_value *root = json_doc_root(m->doc);
    char key[SX_FILTER_MAX_KEY + 1];
    if (json_is_obj(root))
        walk(m, root, key, 0, 0);
    if (m->failed) {
        rows_free(m);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, "metadata", -1, "out of memory");
    }
    return SEMDEX_OK;
}

static const char SQL_INSERT[] =
    "INSERT OR IGNORE INTO doc_meta(collection_id, key, kind, value, doc_id) VALUES (?1, ?2, ?3, ?4, ?5)";

semdex_status sx_meta_insert(semdex_collection *c, int64_t doc_row, const char *json, semdex_error *err)
{
    if (!json)
        return SEMDEX_OK;
    meta_rows m;
    semdex_status st = flatten(json, &m, err);
    for (size_t i = 0; !st && i < m.n; i++) {
        sqlite3_stmt *s = sx_db_stmt(c->db, SQL_INSERT, err);
        if (!s) {
            st = err ? err->status : SEMDEX_ERR_IO;
            break;
        }
        const meta_row *r = &m.rows[i];
        sqlite3_bind_int64(s, 1, c->id);
        sqlite3_bind_text(s, 2, r->key, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, r->kind);
        if (r->kind == 1)
            sqlite3_bind_double(s, 4, r->num);
        else
            sqlite3_bind_text(s, 4, r->str, (int)r->len, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, doc_row);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            st = sx_db_error(c->db, rc, "doc_meta", err);
    }
    rows_free(&m);
    return st;
}

static int cmp_row(const void *a, const void *b)
{
    const meta_row *x = a, *y = b;
    int k = strcmp(x->key, y->key);
    if (k || x->kind != y->kind)
        return k ? k : x->kind - y->kind;
    if (x->kind == 1)
        return (x->num > y->num) - (x->num < y->num);
    size_t n = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->str, y->str, n);
    return d ? d : (x->len > y->len) - (x->len < y->len);
}

/* Distinct rows a document's metadata should have. */
static semdex_status expected_rows(const char *json, size_t *n, semdex_error *err)
{
    meta_rows m;
    semdex_status st = flatten(json, &m, err);
    if (st)
        return st;
    if (m.n)
        qsort(m.rows, m.n, sizeof *m.rows, cmp_row);
    *n = 0;
    for (size_t i = 0; i < m.n; i++)
        *n += !i || cmp_row(&m.rows[i - 1], &m.rows[i]) != 0;
    rows_free(&m);
    return SEMDEX_OK;
}

static const char SQL_DOCS[] =
    "SELECT d.id, d.ext_id, d.metadata, (SELECT count(*) FROM doc_meta m WHERE m.doc_id = d.id) "
    "FROM documents d WHERE d.collection_id = ?1";

semdex_status sx_meta_check(semdex_collection *c, void (*problem)(void *ctx, const char *line), void *ctx,
                            size_t *n_problems, semdex_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db->db, SQL_DOCS, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return sx_db_error(c->db, rc, "documents", err);
    sqlite3_bind_int64(s, 1, c->id);
    size_t bad = 0;
    char first[128] = "";
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(s, 2);
        size_t want = 0;
        semdex_error e = {0};
        if (json && expected_rows(json, &want, &e) == SEMDEX_ERR_NOMEM) {
            sqlite3_finalize(s);
            return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
        }
        /* unparsable metadata is reported by the doctor's own check */
        if (json && !e.status && (size_t)sqlite3_column_int64(s, 3) != want && !bad++)
            snprintf(first, sizeof first, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return sx_db_error(c->db, rc, "documents", err);
    if (bad) {
        char line[512];
        snprintf(line, sizeof line,
                 "collection '%s': the metadata index disagrees with %zu documents' metadata (first: %s)", c->name,
                 bad, first);
        ++*n_problems;
        if (problem)
            problem(ctx, line);
    }
    return SEMDEX_OK;
}
