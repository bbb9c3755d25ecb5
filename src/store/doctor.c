/* doctor.c: the integrity check of a whole store (semdex_db_doctor):
 * SQLite's own checks, the schema's objects, the links between tables,
 * every vector's size and values, each HNSW image against the vectors
 * table (vindex.c) and the keyword tables (keyword.c).  A check that SQLite
 * cannot run on a damaged file is itself reported as a problem. */
#include "store.h"
#include "alloc.h"
#include "err.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_LINES_PER_CHECK 20

typedef struct doctor {
    semdex_db *db;
    void (*problem)(void *ctx, const char *line);
    void *ctx;
    size_t n;
} doctor;

static void say(doctor *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(doctor *d, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    d->n++;
    if (d->problem)
        d->problem(d->ctx, line);
}

/* Runs a query whose rows are problems (the first column is the text). */
static void rows_are_problems(doctor *d, const char *what, const char *sql, int64_t bind)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->db->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK && bind >= 0)
        sqlite3_bind_int64(s, 1, bind);
    size_t n = 0;
    while (s && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        if (t && !strcmp(t, "ok") && !strcmp(what, "integrity_check"))
            continue;
        if (n++ < MAX_LINES_PER_CHECK)
            say(d, "%s: %s", what, t ? t : "(null)");
        else
            d->n++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        say(d, "%s: could not run: %s", what, sqlite3_errmsg(d->db->db));
    sqlite3_finalize(s);
}

static const char *const schema_objects[] = {
    "table meta", "table collections", "table documents", "table doc_meta", "index doc_meta_by_doc",
    "table chunks", "table vectors",
    "index vectors_by_collection", "table hnsw_images", "table hnsw_image_parts", "table hnsw_deleted",
    "trigger vectors_deleted",
};

static void check_schema(doctor *d)
{
    char sql[256];
    for (size_t i = 0; i < sizeof schema_objects / sizeof schema_objects[0]; i++) {
        const char *sp = strchr(schema_objects[i], ' ');
        snprintf(sql, sizeof sql, "SELECT 'missing %s' WHERE NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE "
                 "type = '%.*s' AND name = '%s')", schema_objects[i], (int)(sp - schema_objects[i]),
                 schema_objects[i], sp + 1);
        rows_are_problems(d, "schema", sql, -1);
    }
}

/* Links between tables, beyond the foreign keys that foreign_key_check sees. */
static void check_links(doctor *d)
{
    rows_are_problems(d, "foreign_key_check",
                      "SELECT 'table ' || \"table\" || ' row ' || coalesce(rowid, '?') || ' refers to a missing "
                      "row of ' || parent FROM pragma_foreign_key_check", -1);
    rows_are_problems(d, "chunks",
                      "SELECT 'chunk ' || c.id || ' belongs to missing document ' || c.doc_id FROM chunks c "
                      "LEFT JOIN documents d ON d.id = c.doc_id WHERE d.id IS NULL", -1);
    rows_are_problems(d, "vectors",
                      "SELECT 'vector ' || v.chunk_id || ' has no chunk' FROM vectors v LEFT JOIN chunks c "
                      "ON c.id = v.chunk_id WHERE c.id IS NULL", -1);
    rows_are_problems(d, "vectors",
                      "SELECT 'vector ' || v.chunk_id || ' is filed under collection ' || v.collection_id || "
                      "' but its document is in ' || d.collection_id FROM vectors v JOIN chunks c ON c.id = "
                      "v.chunk_id JOIN documents d ON d.id = c.doc_id WHERE d.collection_id != v.collection_id", -1);
    rows_are_problems(d, "documents",
                      "SELECT 'document ' || d.id || ' belongs to missing collection ' || d.collection_id FROM "
                      "documents d LEFT JOIN collections c ON c.id = d.collection_id WHERE c.id IS NULL", -1);
    rows_are_problems(d, "doc_meta",
                      "SELECT 'metadata index rows of document ' || m.doc_id || ' are filed under collection ' || "
                      "m.collection_id || ' but the document is in ' || d.collection_id FROM doc_meta m JOIN "
                      "documents d ON d.id = m.doc_id WHERE m.collection_id != d.collection_id GROUP BY m.doc_id", -1);
    rows_are_problems(d, "documents",
                      "SELECT 'document ' || id || ' (' || ext_id || '): metadata is not a JSON object' FROM "
                      "documents WHERE NOT json_valid(metadata) OR json_type(metadata) != 'object'", -1);
    rows_are_problems(d, "chunks",
                      "SELECT 'chunk ' || id || ': byte range [' || start_byte || ', ' || end_byte || ') is "
                      "reversed' FROM chunks WHERE start_byte >= 0 AND end_byte >= 0 AND end_byte < start_byte", -1);
    rows_are_problems(d, "chunks",
                      "SELECT 'chunk ' || id || ': ids are past sqlite_sequence (reused ids would confuse the "
                      "HNSW image)' FROM chunks WHERE id > (SELECT coalesce(max(seq), 0) FROM sqlite_sequence "
                      "WHERE name = 'chunks')", -1);
}

static const char SQL_SCAN_VECTORS[] = "SELECT chunk_id, vector FROM vectors WHERE collection_id = ?1";

/* Sizes and values of every vector of c. */
static void check_vectors(doctor *d, semdex_collection *c)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->db->db, SQL_SCAN_VECTORS, -1, &s, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_int64(s, 1, c->id);
    size_t bad_size = 0, bad_value = 0, bad_norm = 0;
    int64_t first_size = 0, first_value = 0, first_norm = 0;
    float *v = c->dim ? sx_malloc(c->dim * sizeof(float)) : NULL;
    while (s && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 1);
        const void *blob = sqlite3_column_blob(s, 1);
        if (!c->dim || n != c->dim * sizeof(float) || !blob) {
            if (!bad_size++)
                first_size = id;
            continue;
        }
        if (!v)
            continue;
        memcpy(v, blob, n);
        double norm = 0;
        int finite = 1;
        for (size_t i = 0; i < c->dim; i++) {
            finite &= isfinite(v[i]) != 0;
            norm += (double)v[i] * v[i];
        }
        if (!finite && !bad_value++)
            first_value = id;
        if (finite && c->metric == SEMDEX_METRIC_COSINE && fabs(sqrt(norm) - 1.0) > 1e-3 && !bad_norm++)
            first_norm = id;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        say(d, "collection '%s': vectors could not be read: %s", c->name, sqlite3_errmsg(d->db->db));
    sqlite3_finalize(s);
    sx_free(v);
    if (bad_size)
        say(d, "collection '%s': %zu vectors are not %zu float32 values (first: chunk %lld)", c->name, bad_size,
            c->dim, (long long)first_size);
    if (bad_value)
        say(d, "collection '%s': %zu vectors hold non-finite values (first: chunk %lld)", c->name, bad_value,
            (long long)first_value);
    if (bad_norm)
        say(d, "collection '%s': %zu vectors of a cosine collection are not normalized (first: chunk %lld)",
            c->name, bad_norm, (long long)first_norm);
}

static void forward(void *ctx, const char *line) { say(ctx, "%s", line); }

static void check_collection(doctor *d, semdex_collection *c)
{
    check_vectors(d, c);
    semdex_error e = {0};
    size_t n = 0;
    if (sx_vindex_check(c, forward, d, &n, &e)) {
        char buf[600];
        say(d, "collection '%s': HNSW image could not be checked: %s", c->name, semdex_error_format(&e, buf, sizeof buf));
    }
    memset(&e, 0, sizeof e);
    if (sx_meta_check(c, forward, d, &n, &e)) {
        char buf[600];
        say(d, "collection '%s': metadata index could not be checked: %s", c->name,
            semdex_error_format(&e, buf, sizeof buf));
    }
    memset(&e, 0, sizeof e);
    if (sx_keyword_check(c, forward, d, &n, &e)) {
        char buf[600];
        say(d, "collection '%s': keyword index could not be checked: %s", c->name,
            semdex_error_format(&e, buf, sizeof buf));
    }
}

semdex_status semdex_db_doctor(semdex_db *db, int repair, void (*problem)(void *ctx, const char *line), void *ctx,
                               size_t *n_problems, semdex_error *err)
{
    if (n_problems)
        *n_problems = 0;
    if (!db)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "no database");
    doctor d = {db, problem, ctx, 0};
    semdex_collection **cs = NULL;
    size_t n = 0;
    semdex_status st = SEMDEX_OK;
    if (repair && !db->read_only) {
        if ((st = sx_collection_all(db, &cs, &n, err)))
            return st;
        for (size_t i = 0; !st && i < n; i++)
            st = sx_vindex_save(cs[i], SX_SAVE_ALWAYS, err);
        sx_free(cs);
        cs = NULL;
        if (st)
            return st;
    }
    if ((st = sx_db_begin(db, 0, err)))
        return st;
    rows_are_problems(&d, "integrity_check", "PRAGMA integrity_check", -1);
    check_schema(&d);
    check_links(&d);
    semdex_error e = {0};
    if (sx_collection_all(db, &cs, &n, &e)) {
        char buf[600];
        say(&d, "collections could not be read: %s", semdex_error_format(&e, buf, sizeof buf));
        n = 0;
    }
    for (size_t i = 0; i < n; i++)
        check_collection(&d, cs[i]);
    sx_free(cs);
    sx_db_rollback(db);
    if (n_problems)
        *n_problems = d.n;
    return SEMDEX_OK;
}
