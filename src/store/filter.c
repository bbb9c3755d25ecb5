/* filter.c: metadata filters ("key=value", dotted keys for nested objects):
 * their syntax, and their evaluation as lookups in the metadata index
 * (doc_meta, written by meta.c).  The syntax is fuzzed
 * (fuzz/fuzz_filter.c): whatever compiles must run without error. */
#include "store.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTERS 32

/* JSON number grammar (RFC 8259), so that "0x10", " 1" or "inf" stay text. */
static int is_json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i == n;
}

void sx_filter_free(sx_filter *f)
{
    if (!f)
        return;
    sx_free(f->key);
    sx_free(f->value);
    memset(f, 0, sizeof *f);
}

semdex_status sx_filter_compile(const char *key, size_t key_len, const char *value, size_t value_len, sx_filter *f,
                                semdex_error *err)
{
    memset(f, 0, sizeof *f);
    if (!key_len)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "filter", 0, "empty key (expected key=value)");
    if (key_len > SX_FILTER_MAX_KEY || value_len > SX_FILTER_MAX_VALUE)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, NULL, "filter", -1, "key above %d or value above %d bytes",
                          SX_FILTER_MAX_KEY, SX_FILTER_MAX_VALUE);
    size_t bad = sx_utf8_validate(key, key_len);
    if (bad != key_len)
        return sx_err_set(err, SEMDEX_ERR_UTF8, NULL, "filter", (int64_t)bad, "invalid UTF-8 in key");
    bad = sx_utf8_validate(value, value_len);
    if (bad != value_len)
        return sx_err_set(err, SEMDEX_ERR_UTF8, NULL, "filter", (int64_t)(key_len + 1 + bad),
                          "invalid UTF-8 in value");
    if (memchr(value, 0, value_len))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "filter", -1, "NUL byte in value");
    for (size_t i = 0, seg = 0; i <= key_len; i++) {
        unsigned char ch = i < key_len ? (unsigned char)key[i] : '.';
        if (ch == '.' && i == seg)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "filter", (int64_t)i,
                              "empty key segment (keys are name or name.name...)");
        if (ch == '.')
            seg = i + 1;
        else if (ch < 0x20 || ch == 0x7f)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "filter", (int64_t)i,
                              "control character in a key");
    }
    f->key = sx_strndup(key, key_len);
    f->value = sx_strndup(value, value_len);
    if (!f->key || !f->value) {
        sx_filter_free(f);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, "filter", -1, "out of memory");
    }
    if (is_json_number(value, value_len)) {
        double d = strtod(f->value, NULL);
        if (isfinite(d)) {
            f->number = d;
            f->is_number = 1;
        }
    }
    return SEMDEX_OK;
}

semdex_status semdex_filter_parse(char *buf, semdex_filter *out, semdex_error *err)
{
    memset(out, 0, sizeof *out);
    char *eq = buf ? strchr(buf, '=') : NULL;
    if (!eq)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "filter", -1, "expected key=value");
    sx_filter f;
    semdex_status st = sx_filter_compile(buf, (size_t)(eq - buf), eq + 1, strlen(eq + 1), &f, err);
    if (st)
        return st;
    sx_filter_free(&f);
    *eq = 0;
    out->key = buf;
    out->value = eq + 1;
    return SEMDEX_OK;
}

/* A document passes filter i when one of its doc_meta rows under the key
 * holds the value: as a string, as a literal, or as a number.  Three
 * lookups of the whole primary key (an OR would only use its prefix and
 * read every row under the key). */
static const char DOCS_OF[] =
    " AND c.doc_id IN (SELECT doc_id FROM doc_meta WHERE collection_id = ?1 AND key = ?%1$d AND kind = 0 AND "
    "value = ?%2$d UNION ALL SELECT doc_id FROM doc_meta WHERE collection_id = ?1 AND key = ?%1$d AND kind = 2 AND "
    "value = ?%2$d UNION ALL SELECT doc_id FROM doc_meta WHERE collection_id = ?1 AND key = ?%1$d AND kind = 1 AND "
    "value = ?%3$d)";

static void bind_filters(sqlite3_stmt *s, const sx_filter *f, size_t n, int base)
{
    for (size_t i = 0; i < n; i++) {
        int b = base + 3 * (int)i;
        sqlite3_bind_text(s, b, f[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, b + 1, f[i].value, -1, SQLITE_STATIC);
        if (f[i].is_number)
            sqlite3_bind_double(s, b + 2, f[i].number);
    }
}

#define SQL_CAP (256 + MAX_FILTERS * 512)

semdex_status sx_filter_select(semdex_collection *c, const sx_filter *f, size_t n, int vectors_only, sx_idset *out,
                               semdex_error *err)
{
    out->n = 0;
    if (n > MAX_FILTERS)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, c->db->path, "filter", -1, "more than %d filters", MAX_FILTERS);
    char sql[SQL_CAP];
    size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT c.id FROM chunks c%s WHERE 1",
                                  vectors_only ? " JOIN vectors v ON v.chunk_id = c.id" : "");
    for (size_t i = 0; i < n; i++) {
        int b = 2 + 3 * (int)i;
        len += (size_t)snprintf(sql + len, sizeof sql - len, DOCS_OF, b, b + 1, b + 2);
    }
    snprintf(sql + len, sizeof sql - len, " ORDER BY c.id");
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return sx_db_error(c->db, rc, "filter", err);
    sqlite3_bind_int64(s, 1, c->id);
    bind_filters(s, f, n, 2);
    semdex_status st = SEMDEX_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (SX_GROW(out->ids, out->cap, out->n + 1)) {
            st = sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, "filter", -1, "out of memory");
            break;
        }
        out->ids[out->n++] = sqlite3_column_int64(s, 0);
    }
    if (!st && rc != SQLITE_DONE)
        st = sx_db_error(c->db, rc, "filter", err);
    sqlite3_finalize(s);
    return st;
}
