/* keyword.c: a collection's keyword arm: the BM25 index of src/index/bm25.h,
 * whose tables live in the store's database and are updated inside the
 * store's transactions, and the doctor's check of those tables against the
 * chunks.  Knows nothing of vectors. */
#include "store.h"
#include "../index/bm25.h"
#include "alloc.h"
#include "err.h"
#include <stdio.h>
#include <string.h>

struct sx_keyword {
    bm25_index *ix;
};

void sx_keyword_free(sx_keyword *kw)
{
    if (!kw)
        return;
    bm25_close(kw->ix);
    sx_free(kw);
}

static semdex_status kw_open(semdex_collection *c, semdex_error *err)
{
    if (c->keyword)
        return SEMDEX_OK;
    sx_keyword *kw = sx_calloc(1, sizeof *kw);
    if (!kw)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    bm25_params p = bm25_params_default();
    semdex_error e = {0};
    kw->ix = bm25_open(c->db->db, c->id, &p, &e);
    if (!kw->ix) {
        sx_free(kw);
        if (!e.status)
            sx_err_set(&e, SEMDEX_ERR_IO, NULL, "bm25", -1, "cannot open the keyword index");
        sx_err_set_file(&e, c->db->path);
        if (err)
            *err = e;
        return e.status;
    }
    c->keyword = kw;
    return SEMDEX_OK;
}

semdex_status sx_keyword_create(semdex_collection *c, semdex_error *err) { return kw_open(c, err); }

semdex_status sx_keyword_drop(semdex_collection *c, semdex_error *err)
{
    sx_keyword_free(c->keyword);
    c->keyword = NULL;
    semdex_status st = bm25_drop(c->db->db, c->id, err);
    sx_err_set_file(err, c->db->path);
    return st;
}

semdex_status sx_keyword_add(semdex_collection *c, int64_t chunk_id, const char *text, size_t len, semdex_error *err)
{
    semdex_status st = kw_open(c, err);
    if (!st && (st = bm25_add(c->keyword->ix, chunk_id, text, len, err)))
        sx_err_set_file(err, c->db->path);
    return st;
}

semdex_status sx_keyword_delete(semdex_collection *c, int64_t chunk_id, semdex_error *err)
{
    semdex_status st = kw_open(c, err);
    if (!st && (st = bm25_delete(c->keyword->ix, chunk_id, err)))
        sx_err_set_file(err, c->db->path);
    return st;
}

static int idset_filter(int64_t id, void *ctx) { return sx_idset_has(ctx, id); }

semdex_status sx_keyword_search(semdex_collection *c, const char *query, size_t len, size_t k,
                                const sx_idset *filter, sx_hit *hits, size_t *n_hits, semdex_error *err)
{
    *n_hits = 0;
    semdex_status st = kw_open(c, err);
    if (st || !k)
        return st;
    bm25_hit *bh = sx_malloc(k * sizeof *bh);
    if (!bh)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    semdex_error e = {0};
    size_t n = bm25_search(c->keyword->ix, query, len, k, filter ? idset_filter : NULL, (void *)filter, bh, &e);
    if (e.status) {
        sx_free(bh);
        sx_err_set_file(&e, c->db->path);
        if (err)
            *err = e;
        return e.status;
    }
    for (size_t i = 0; i < n; i++)
        hits[i] = (sx_hit){bh[i].id, bh[i].score};
    *n_hits = n;
    sx_free(bh);
    return SEMDEX_OK;
}

/* The doctor reads the keyword tables as bm25.c describes them (its header
 * comment): every chunk with text has exactly one forward list, the
 * statistics add up, document frequencies match the postings. */
static const char *const checks[] = {
    "SELECT count(*) || ' chunks with text are missing from the keyword index (first: ' || min(c.id) || ')' "
    "FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.collection_id = ?1 AND length(c.text) > 0 "
    "AND NOT EXISTS (SELECT 1 FROM bm25_doc b WHERE b.collection_id = ?1 AND b.doc_id = c.id) HAVING count(*) > 0",
    "SELECT count(*) || ' keyword index entries have no chunk (first: ' || min(b.doc_id) || ')' "
    "FROM bm25_doc b WHERE b.collection_id = ?1 AND NOT EXISTS (SELECT 1 FROM chunks c JOIN documents d "
    "ON d.id = c.doc_id WHERE c.id = b.doc_id AND d.collection_id = ?1 AND length(c.text) > 0) "
    "HAVING count(*) > 0",
    "SELECT 'keyword statistics say ' || m.n_docs || ' documents of ' || m.total_len || ' terms; the index "
    "holds ' || (SELECT count(*) FROM bm25_doc WHERE collection_id = ?1) || ' of ' || "
    "(SELECT coalesce(sum(len), 0) FROM bm25_doc WHERE collection_id = ?1) FROM bm25_meta m "
    "WHERE m.collection_id = ?1 AND (m.n_docs != (SELECT count(*) FROM bm25_doc WHERE collection_id = ?1) "
    "OR m.total_len != (SELECT coalesce(sum(len), 0) FROM bm25_doc WHERE collection_id = ?1))",
    "SELECT count(*) || ' keyword terms have a document frequency unlike their postings' FROM bm25_term t "
    "WHERE t.collection_id = ?1 AND t.df != (SELECT count(*) FROM bm25_posting p WHERE p.term_id = t.term_id) "
    "HAVING count(*) > 0",
};

semdex_status sx_keyword_check(semdex_collection *c, void (*problem)(void *ctx, const char *line), void *ctx,
                               size_t *n_problems, semdex_error *err)
{
    (void)err;
    char line[512];
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(c->db->db, checks[i], -1, &s, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(s, 1, c->id);
            while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                const char *t = (const char *)sqlite3_column_text(s, 0);
                snprintf(line, sizeof line, "collection '%s': %s", c->name, t ? t : "?");
                ++*n_problems;
                if (problem)
                    problem(ctx, line);
            }
        }
        if (rc != SQLITE_DONE) {
            snprintf(line, sizeof line, "collection '%s': keyword index could not be checked: %s", c->name,
                     sqlite3_errmsg(c->db->db));
            ++*n_problems;
            if (problem)
                problem(ctx, line);
        }
        sqlite3_finalize(s);
    }
    return SEMDEX_OK;
}
