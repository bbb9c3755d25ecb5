/* bm25.c: the BM25 keyword index (see bm25.h) in four SQLite tables of the
 * caller's database, shared by all collections:
 *
 *   bm25_meta(collection_id, format, analyzer, n_docs, total_len)
 *       corpus statistics, exact integers, and the analyzer id the terms were
 *       made with (an index is never searched with terms made another way);
 *   bm25_term(term_id, collection_id, term, df)
 *       the dictionary: one row per distinct term of a collection with its
 *       document frequency; a term whose df falls to 0 is deleted;
 *   bm25_posting(term_id, doc_id, tf, doc_len)   WITHOUT ROWID, clustered by term
 *       the inverted lists; doc_len is copied here so that a search reads
 *       one row per posting and nothing else;
 *   bm25_doc(collection_id, doc_id, len, terms)  WITHOUT ROWID
 *       the forward list of each document (varint term_id deltas and tfs,
 *       ascending term_id), so that a delete undoes exactly what an add did
 *       without analyzing the text again.
 *
 * Every add and delete runs inside a savepoint: inside the caller's
 * transaction it commits with it, alone it is its own transaction; either way
 * the statistics, dictionary and postings change together or not at all.
 * Knows nothing of vectors, HNSW or models. */
#include "bm25.h"
#include "alloc.h"
#include "err.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BM25_FORMAT 1

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS bm25_meta(collection_id INTEGER PRIMARY KEY, format INTEGER NOT NULL,"
    " analyzer TEXT NOT NULL, n_docs INTEGER NOT NULL, total_len INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS bm25_term(term_id INTEGER PRIMARY KEY, collection_id INTEGER NOT NULL,"
    " term BLOB NOT NULL, df INTEGER NOT NULL, UNIQUE(collection_id, term));"
    "CREATE TABLE IF NOT EXISTS bm25_posting(term_id INTEGER NOT NULL, doc_id INTEGER NOT NULL,"
    " tf INTEGER NOT NULL, doc_len INTEGER NOT NULL, PRIMARY KEY(term_id, doc_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS bm25_doc(collection_id INTEGER NOT NULL, doc_id INTEGER NOT NULL,"
    " len INTEGER NOT NULL, terms BLOB NOT NULL, PRIMARY KEY(collection_id, doc_id)) WITHOUT ROWID;";

enum {
    Q_META_GET,
    Q_META_INS,
    Q_META_ANALYZER,
    Q_META_ADD,
    Q_TERM_UPSERT,
    Q_TERM_GET,
    Q_TERM_DEC,
    Q_TERM_DEL,
    Q_TERM_COUNT,
    Q_POST_INS,
    Q_POST_DEL,
    Q_POST_SCAN,
    Q_DOC_GET,
    Q_DOC_INS,
    Q_DOC_DEL,
    Q_BEGIN,
    Q_RELEASE,
    Q_ROLLBACK,
    Q_COUNT
};

static const char *const SQL[] = {
    [Q_META_GET] = "SELECT format, analyzer, n_docs, total_len FROM bm25_meta WHERE collection_id = ?1",
    [Q_META_INS] = "INSERT INTO bm25_meta(collection_id, format, analyzer, n_docs, total_len) VALUES(?1, ?2, ?3, 0, 0)",
    [Q_META_ANALYZER] = "UPDATE bm25_meta SET analyzer = ?2, format = ?3 WHERE collection_id = ?1",
    [Q_META_ADD] = "UPDATE bm25_meta SET n_docs = n_docs + ?2, total_len = total_len + ?3 WHERE collection_id = ?1",
    [Q_TERM_UPSERT] = "INSERT INTO bm25_term(collection_id, term, df) VALUES(?1, ?2, 1)"
                      " ON CONFLICT(collection_id, term) DO UPDATE SET df = df + 1 RETURNING term_id",
    [Q_TERM_GET] = "SELECT term_id, df FROM bm25_term WHERE collection_id = ?1 AND term = ?2",
    [Q_TERM_DEC] = "UPDATE bm25_term SET df = df - 1 WHERE term_id = ?1 RETURNING df",
    [Q_TERM_DEL] = "DELETE FROM bm25_term WHERE term_id = ?1",
    [Q_TERM_COUNT] = "SELECT count(*) FROM bm25_term WHERE collection_id = ?1",
    [Q_POST_INS] = "INSERT INTO bm25_posting(term_id, doc_id, tf, doc_len) VALUES(?1, ?2, ?3, ?4)",
    [Q_POST_DEL] = "DELETE FROM bm25_posting WHERE term_id = ?1 AND doc_id = ?2",
    [Q_POST_SCAN] = "SELECT doc_id, tf, doc_len FROM bm25_posting WHERE term_id = ?1",
    [Q_DOC_GET] = "SELECT len, terms FROM bm25_doc WHERE collection_id = ?1 AND doc_id = ?2",
    [Q_DOC_INS] = "INSERT INTO bm25_doc(collection_id, doc_id, len, terms) VALUES(?1, ?2, ?3, ?4)",
    [Q_DOC_DEL] = "DELETE FROM bm25_doc WHERE collection_id = ?1 AND doc_id = ?2",
    [Q_BEGIN] = "SAVEPOINT bm25",
    [Q_RELEASE] = "RELEASE bm25",
    [Q_ROLLBACK] = "ROLLBACK TO bm25",
};
_Static_assert(sizeof SQL / sizeof SQL[0] == Q_COUNT, "every statement has its SQL");

/* A distinct term of the text being added or searched. */
typedef struct uterm {
    const char *p; /* in the analyzer's term bytes */
    uint32_t len;
    uint32_t count;    /* occurrences */
    int64_t term_id;
} uterm;

/* Score accumulator: candidates, and an open-addressing table of their
 * indexes + 1 by doc id. */
typedef struct cand {
    int64_t id;
    double score;
} cand;

struct bm25_index {
    sqlite3 *db;
    int64_t coll;
    bm25_params params;
    analyzer *an;
    sqlite3_stmt *q[Q_COUNT];
    uterm *ut;
    size_t cap_ut;
    unsigned char *blob;
    size_t cap_blob;
    cand *cands;
    size_t n_cands, cap_cands;
    uint32_t *slots;
    size_t cap_slots; /* power of two */
};

bm25_params bm25_params_default(void)
{
    bm25_params p = {1.2, 0.75, 1};
    return p;
}

/* ---------------------------------------------------------------- SQL */

static semdex_status db_err(bm25_index *ix, int rc, const char *what, semdex_error *err)
{
    return sx_err_set(err, rc == SQLITE_NOMEM ? SEMDEX_ERR_NOMEM : SEMDEX_ERR_IO, NULL, "bm25", -1,
                      "keyword index: %s: %s", what, sqlite3_errmsg(ix->db));
}

/* Binds nothing; resets after use.  Steps q to completion, expecting no row. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static semdex_status begin(bm25_index *ix, semdex_error *err)
{
    int rc = step_done(ix->q[Q_BEGIN]);
    return rc ? db_err(ix, rc, "savepoint", err) : SEMDEX_OK;
}

static semdex_status finish(bm25_index *ix, semdex_status st, semdex_error *err)
{
    if (st) {
        step_done(ix->q[Q_ROLLBACK]);
        step_done(ix->q[Q_RELEASE]);
        return st;
    }
    int rc = step_done(ix->q[Q_RELEASE]);
    if (rc) {
        st = db_err(ix, rc, "release", err);
        step_done(ix->q[Q_ROLLBACK]);
        step_done(ix->q[Q_RELEASE]);
    }
    return st;
}

typedef struct meta {
    int64_t format, n_docs, total_len;
    int present;
} meta;

static semdex_status meta_get(bm25_index *ix, meta *m, char *stored, size_t size, semdex_error *err)
{
    sqlite3_stmt *s = ix->q[Q_META_GET];
    sqlite3_bind_int64(s, 1, ix->coll);
    int rc = sqlite3_step(s);
    memset(m, 0, sizeof *m);
    if (rc == SQLITE_ROW) {
        m->present = 1;
        m->format = sqlite3_column_int64(s, 0);
        if (stored) {
            const unsigned char *t = sqlite3_column_text(s, 1);
            snprintf(stored, size, "%s", t ? (const char *)t : "");
        }
        m->n_docs = sqlite3_column_int64(s, 2);
        m->total_len = sqlite3_column_int64(s, 3);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_err(ix, rc, "reading bm25_meta", err);
    if (m->present && (m->n_docs < 0 || m->total_len < 0))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "bm25_meta", -1,
                          "keyword index of collection %lld: negative statistics", (long long)ix->coll);
    return SEMDEX_OK;
}

static semdex_status meta_add(bm25_index *ix, int64_t docs, int64_t len, semdex_error *err)
{
    sqlite3_stmt *s = ix->q[Q_META_ADD];
    sqlite3_bind_int64(s, 1, ix->coll);
    sqlite3_bind_int64(s, 2, docs);
    sqlite3_bind_int64(s, 3, len);
    int rc = step_done(s);
    return rc ? db_err(ix, rc, "updating bm25_meta", err) : SEMDEX_OK;
}

/* ------------------------------------------------------------ open/close */

void bm25_close(bm25_index *ix)
{
    if (!ix)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(ix->q[i]);
    analyzer_free(ix->an);
    sx_free(ix->ut);
    sx_free(ix->blob);
    sx_free(ix->cands);
    sx_free(ix->slots);
    sx_free(ix);
}

bm25_index *bm25_open(sqlite3 *db, int64_t collection_id, const bm25_params *params, semdex_error *err)
{
    bm25_params p = params ? *params : bm25_params_default();
    analyze_options o = analyze_options_default();
    o.stem = p.stem;
    return bm25_open_with(db, collection_id, &p, &o, err);
}

bm25_index *bm25_open_with(sqlite3 *db, int64_t collection_id, const bm25_params *params,
                           const analyze_options *analysis, semdex_error *err)
{
    if (!db) {
        sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "keyword index: no database");
        return NULL;
    }
    bm25_index *ix = sx_calloc(1, sizeof *ix);
    if (!ix) {
        sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory opening the keyword index");
        return NULL;
    }
    ix->db = db;
    ix->coll = collection_id;
    ix->params = params ? *params : bm25_params_default();
    if (!(ix->an = analyzer_new(analysis, err)))
        goto fail;
    int rc = sqlite3_exec(db, SCHEMA, NULL, NULL, NULL);
    if (rc) {
        db_err(ix, rc, "creating the keyword index tables", err);
        goto fail;
    }
    for (int i = 0; i < Q_COUNT; i++) {
        rc = sqlite3_prepare_v3(db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &ix->q[i], NULL);
        if (rc) {
            db_err(ix, rc, SQL[i], err);
            goto fail;
        }
    }
    /* The meta row: created, or checked against this build's analysis. */
    char stored[256];
    meta m;
    if (meta_get(ix, &m, stored, sizeof stored, err))
        goto fail;
    const char *id = analyzer_id(ix->an);
    if (m.present && m.format > BM25_FORMAT) {
        sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "bm25_meta.format", -1,
                   "keyword index of collection %lld has format %lld; this build reads up to %d",
                   (long long)collection_id, (long long)m.format, BM25_FORMAT);
        goto fail;
    }
    if (m.present && strcmp(stored, id) && m.n_docs > 0) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "bm25_meta.analyzer", -1,
                   "keyword index of collection %lld was made by another analysis: re-index the collection "
                   "(index: \"%s\"; this build: \"%s\")",
                   (long long)collection_id, stored, id);
        goto fail;
    }
    if (!m.present || strcmp(stored, id)) {
        sqlite3_stmt *s = ix->q[m.present ? Q_META_ANALYZER : Q_META_INS];
        sqlite3_bind_int64(s, 1, collection_id);
        sqlite3_bind_int(s, m.present ? 3 : 2, BM25_FORMAT);
        sqlite3_bind_text(s, m.present ? 2 : 3, id, -1, SQLITE_STATIC);
        rc = step_done(s);
        if (rc) {
            db_err(ix, rc, "writing bm25_meta", err);
            goto fail;
        }
    }
    return ix;
fail:
    bm25_close(ix);
    return NULL;
}

void bm25_set_params(bm25_index *ix, const bm25_params *params)
{
    ix->params.k1 = params->k1;
    ix->params.b = params->b;
}

const char *bm25_analyzer_id(const bm25_index *ix) { return analyzer_id(ix->an); }

/* ------------------------------------------------------------ terms */

static int cmp_uterm_bytes(const void *pa, const void *pb)
{
    const uterm *a = pa, *b = pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, n);
    if (c)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

/* The distinct terms of r with their counts, sorted by bytes, into ix->ut. */
static semdex_status distinct_terms(bm25_index *ix, const analyze_result *r, size_t *n_out, semdex_error *err)
{
    *n_out = 0;
    if (!r->n)
        return SEMDEX_OK;
    if (SX_GROW(ix->ut, ix->cap_ut, r->n))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in the keyword index");
    for (size_t i = 0; i < r->n; i++)
        ix->ut[i] = (uterm){r->terms + r->tokens[i].term, r->tokens[i].term_len, 1, 0};
    qsort(ix->ut, r->n, sizeof *ix->ut, cmp_uterm_bytes);
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (n && !cmp_uterm_bytes(&ix->ut[n - 1], &ix->ut[i]))
            ix->ut[n - 1].count++;
        else
            ix->ut[n++] = ix->ut[i];
    }
    *n_out = n;
    return SEMDEX_OK;
}

/* ------------------------------------------------------ forward lists */

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static int get_varint(const unsigned char *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *pos < n; shift += 7) {
        unsigned char b = p[(*pos)++];
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static int cmp_uterm_id(const void *pa, const void *pb)
{
    const uterm *a = pa, *b = pb;
    return (a->term_id > b->term_id) - (a->term_id < b->term_id);
}

/* ---------------------------------------------------------- add/delete */

/* Removes doc id if present; *found tells whether it was. */
static semdex_status delete_doc(bm25_index *ix, int64_t id, int *found, semdex_error *err)
{
    *found = 0;
    sqlite3_stmt *s = ix->q[Q_DOC_GET];
    sqlite3_bind_int64(s, 1, ix->coll);
    sqlite3_bind_int64(s, 2, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return SEMDEX_OK;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return db_err(ix, rc, "reading bm25_doc", err);
    }
    int64_t len = sqlite3_column_int64(s, 0);
    const unsigned char *b = sqlite3_column_blob(s, 1);
    size_t n = (size_t)sqlite3_column_bytes(s, 1);
    if (n > ix->cap_blob && SX_GROW(ix->blob, ix->cap_blob, n)) {
        sqlite3_reset(s);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in the keyword index");
    }
    if (n)
        memcpy(ix->blob, b, n);
    sqlite3_reset(s);
    *found = 1;

    size_t pos = 0;
    int64_t term_id = 0;
    while (pos < n) {
        uint64_t delta, tf;
        if (get_varint(ix->blob, n, &pos, &delta) || get_varint(ix->blob, n, &pos, &tf) || !delta)
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "bm25_doc.terms", (int64_t)pos,
                              "keyword index: damaged term list of document %lld", (long long)id);
        term_id += (int64_t)delta;
        s = ix->q[Q_POST_DEL];
        sqlite3_bind_int64(s, 1, term_id);
        sqlite3_bind_int64(s, 2, id);
        if ((rc = step_done(s)))
            return db_err(ix, rc, "deleting from bm25_posting", err);
        s = ix->q[Q_TERM_DEC];
        sqlite3_bind_int64(s, 1, term_id);
        rc = sqlite3_step(s);
        int64_t df = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
        if (rc == SQLITE_ROW)
            rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return db_err(ix, rc, "updating bm25_term", err);
        if (df == 0) {
            s = ix->q[Q_TERM_DEL];
            sqlite3_bind_int64(s, 1, term_id);
            if ((rc = step_done(s)))
                return db_err(ix, rc, "deleting from bm25_term", err);
        }
    }
    s = ix->q[Q_DOC_DEL];
    sqlite3_bind_int64(s, 1, ix->coll);
    sqlite3_bind_int64(s, 2, id);
    if ((rc = step_done(s)))
        return db_err(ix, rc, "deleting from bm25_doc", err);
    return meta_add(ix, -1, -len, err);
}

static semdex_status add_doc(bm25_index *ix, int64_t id, const char *text, size_t len, semdex_error *err)
{
    int found;
    semdex_status st = delete_doc(ix, id, &found, err);
    if (st)
        return st;
    analyze_result r;
    if ((st = analyzer_run(ix->an, text, len, &r, err)))
        return st;
    size_t n;
    if ((st = distinct_terms(ix, &r, &n, err)))
        return st;
    int64_t doc_len = (int64_t)r.n;
    int rc;
    for (size_t i = 0; i < n; i++) {
        uterm *u = &ix->ut[i];
        sqlite3_stmt *s = ix->q[Q_TERM_UPSERT];
        sqlite3_bind_int64(s, 1, ix->coll);
        sqlite3_bind_blob(s, 2, u->p, (int)u->len, SQLITE_STATIC);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            u->term_id = sqlite3_column_int64(s, 0);
            rc = sqlite3_step(s);
        }
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return db_err(ix, rc, "writing bm25_term", err);
        s = ix->q[Q_POST_INS];
        sqlite3_bind_int64(s, 1, u->term_id);
        sqlite3_bind_int64(s, 2, id);
        sqlite3_bind_int64(s, 3, u->count);
        sqlite3_bind_int64(s, 4, doc_len);
        if ((rc = step_done(s)))
            return db_err(ix, rc, "writing bm25_posting", err);
    }
    /* forward list: ascending term ids, each a varint delta and a varint tf */
    if (n)
        qsort(ix->ut, n, sizeof *ix->ut, cmp_uterm_id);
    if (SX_GROW(ix->blob, ix->cap_blob, n * 20 + 1))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in the keyword index");
    size_t b = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        b += put_varint(ix->blob + b, (uint64_t)(ix->ut[i].term_id - prev));
        b += put_varint(ix->blob + b, ix->ut[i].count);
        prev = ix->ut[i].term_id;
    }
    sqlite3_stmt *s = ix->q[Q_DOC_INS];
    sqlite3_bind_int64(s, 1, ix->coll);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_int64(s, 3, doc_len);
    sqlite3_bind_blob(s, 4, ix->blob, (int)b, SQLITE_STATIC);
    if ((rc = step_done(s)))
        return db_err(ix, rc, "writing bm25_doc", err);
    return meta_add(ix, 1, doc_len, err);
}

semdex_status bm25_add(bm25_index *ix, int64_t id, const char *text, size_t len, semdex_error *err)
{
    if (!ix || (!text && len))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "bm25_add: no index or no text");
    semdex_status st = begin(ix, err);
    if (st)
        return st;
    return finish(ix, add_doc(ix, id, text, len, err), err);
}

semdex_status bm25_delete(bm25_index *ix, int64_t id, semdex_error *err)
{
    if (!ix)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "bm25_delete: no index");
    semdex_status st = begin(ix, err);
    if (st)
        return st;
    int found;
    return finish(ix, delete_doc(ix, id, &found, err), err);
}

/* ------------------------------------------------------------- search */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Adds s to doc id's score. */
static int accumulate(bm25_index *ix, int64_t id, double s)
{
    if ((ix->n_cands + 1) * 2 > ix->cap_slots) {
        size_t cap = ix->cap_slots ? ix->cap_slots * 2 : 1024;
        uint32_t *slots = sx_calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < ix->n_cands; i++) {
            size_t h = (size_t)mix64((uint64_t)ix->cands[i].id) & (cap - 1);
            while (slots[h])
                h = (h + 1) & (cap - 1);
            slots[h] = (uint32_t)(i + 1);
        }
        sx_free(ix->slots);
        ix->slots = slots;
        ix->cap_slots = cap;
    }
    size_t h = (size_t)mix64((uint64_t)id) & (ix->cap_slots - 1);
    for (;;) {
        uint32_t c = ix->slots[h];
        if (!c)
            break;
        if (ix->cands[c - 1].id == id) {
            ix->cands[c - 1].score += s;
            return 0;
        }
        h = (h + 1) & (ix->cap_slots - 1);
    }
    if (ix->n_cands >= UINT32_MAX - 1 || SX_GROW(ix->cands, ix->cap_cands, ix->n_cands + 1))
        return -1;
    ix->cands[ix->n_cands] = (cand){id, s};
    ix->slots[h] = (uint32_t)++ix->n_cands;
    return 0;
}

static int cmp_cand(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return (a->id > b->id) - (a->id < b->id);
}

static semdex_status search(bm25_index *ix, const char *query, size_t len, semdex_error *err)
{
    ix->n_cands = 0;
    if (ix->cap_slots)
        memset(ix->slots, 0, ix->cap_slots * sizeof *ix->slots);
    analyze_result r;
    semdex_status st = analyzer_run(ix->an, query, len, &r, err);
    size_t n;
    if (st || (st = distinct_terms(ix, &r, &n, err)))
        return st;
    meta m;
    if ((st = meta_get(ix, &m, NULL, 0, err)) || !m.n_docs)
        return st;
    const double N = (double)m.n_docs, avgdl = (double)m.total_len / N;
    const double k1 = ix->params.k1, b = ix->params.b;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = ix->q[Q_TERM_GET];
        sqlite3_bind_int64(s, 1, ix->coll);
        sqlite3_bind_blob(s, 2, ix->ut[i].p, (int)ix->ut[i].len, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        int64_t term_id = 0, df = 0;
        if (rc == SQLITE_ROW) {
            term_id = sqlite3_column_int64(s, 0);
            df = sqlite3_column_int64(s, 1);
            rc = SQLITE_DONE;
        }
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return db_err(ix, rc, "reading bm25_term", err);
        if (df <= 0)
            continue;
        const double idf = log(1.0 + (N - (double)df + 0.5) / ((double)df + 0.5));
        const double w = idf * (double)ix->ut[i].count;
        s = ix->q[Q_POST_SCAN];
        sqlite3_bind_int64(s, 1, term_id);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            const double tf = (double)sqlite3_column_int64(s, 1), dl = (double)sqlite3_column_int64(s, 2);
            const double norm = avgdl > 0 ? k1 * (1.0 - b + b * dl / avgdl) : k1;
            if (accumulate(ix, sqlite3_column_int64(s, 0), w * tf / (tf + norm))) {
                sqlite3_reset(s);
                return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in a keyword search");
            }
        }
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return db_err(ix, rc, "reading bm25_posting", err);
    }
    return SEMDEX_OK;
}

size_t bm25_search(bm25_index *ix, const char *query, size_t len, size_t k, int (*filter)(int64_t id, void *ctx),
                   void *filter_ctx, bm25_hit *hits, semdex_error *err)
{
    if (err)
        err->status = SEMDEX_OK;
    if (!ix || (!query && len) || (k && !hits)) {
        sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "bm25_search: no index, query or hits");
        return 0;
    }
    if (!k)
        return 0;
    /* one snapshot for the statistics and the postings */
    semdex_status st = begin(ix, err);
    if (!st)
        st = finish(ix, search(ix, query, len, err), err);
    if (st)
        return 0;
    if (ix->n_cands)
        qsort(ix->cands, ix->n_cands, sizeof *ix->cands, cmp_cand);
    size_t got = 0;
    for (size_t i = 0; i < ix->n_cands && got < k; i++) {
        if (filter && !filter(ix->cands[i].id, filter_ctx))
            continue;
        hits[got].id = ix->cands[i].id;
        hits[got].score = ix->cands[i].score;
        got++;
    }
    return got;
}

/* ------------------------------------------------------- stats, drop */

semdex_status bm25_get_stats(bm25_index *ix, bm25_stats *out, semdex_error *err)
{
    memset(out, 0, sizeof *out);
    meta m;
    semdex_status st = meta_get(ix, &m, NULL, 0, err);
    if (st)
        return st;
    out->n_docs = m.n_docs;
    out->total_len = m.total_len;
    sqlite3_stmt *s = ix->q[Q_TERM_COUNT];
    sqlite3_bind_int64(s, 1, ix->coll);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->n_terms = sqlite3_column_int64(s, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SEMDEX_OK : db_err(ix, rc, "counting bm25_term", err);
}

semdex_status bm25_drop(sqlite3 *db, int64_t collection_id, semdex_error *err)
{
    static const char *const sql[] = {
        "SAVEPOINT bm25_drop",
        "DELETE FROM bm25_posting WHERE term_id IN (SELECT term_id FROM bm25_term WHERE collection_id = ?1)",
        "DELETE FROM bm25_term WHERE collection_id = ?1",
        "DELETE FROM bm25_doc WHERE collection_id = ?1",
        "DELETE FROM bm25_meta WHERE collection_id = ?1",
        "RELEASE bm25_drop",
    };
    /* nothing to drop when the tables were never made */
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'bm25_meta'", -1, &s, NULL);
    if (rc)
        return sx_err_set(err, SEMDEX_ERR_IO, NULL, "bm25", -1, "keyword index: %s", sqlite3_errmsg(db));
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return SEMDEX_OK;
    if (rc != SQLITE_ROW)
        return sx_err_set(err, SEMDEX_ERR_IO, NULL, "bm25", -1, "keyword index: %s", sqlite3_errmsg(db));
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        rc = sqlite3_prepare_v2(db, sql[i], -1, &s, NULL);
        if (!rc) {
            if (sqlite3_bind_parameter_count(s))
                sqlite3_bind_int64(s, 1, collection_id);
            rc = sqlite3_step(s);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        sqlite3_finalize(s);
        if (rc) {
            semdex_status st = sx_err_set(err, rc == SQLITE_NOMEM ? SEMDEX_ERR_NOMEM : SEMDEX_ERR_IO, NULL, "bm25",
                                          -1, "keyword index: dropping collection %lld: %s",
                                          (long long)collection_id, sqlite3_errmsg(db));
            if (i > 0) {
                sqlite3_exec(db, "ROLLBACK TO bm25_drop", NULL, NULL, NULL);
                sqlite3_exec(db, "RELEASE bm25_drop", NULL, NULL, NULL);
            }
            return st;
        }
    }
    return SEMDEX_OK;
}
