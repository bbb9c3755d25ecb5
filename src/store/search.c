/* search.c: a collection's search: the vector arm (HNSW, or exact when
 * asked or when a metadata filter lets few rows through), the keyword arm
 * (BM25), their fusion (reciprocal rank or weighted), and the rows of the
 * hits.  Every hit keeps its rank and score in each arm. */
#include "store.h"
#include "../index/fuse.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>


semdex_search_options semdex_search_options_default(void)
{
    semdex_search_options o = {0};
    o.mode = SEMDEX_SEARCH_HYBRID;
    o.k = 10;
    o.fusion = SEMDEX_FUSION_RRF;
    o.rrf_k = 60;
    o.vector_weight = 0.5;
    return o;
}

/* A fused candidate. */
typedef struct cand {
    int64_t id;
    double score;
    size_t vrank, krank;
    double vscore, kscore;
} cand;

typedef struct results_mem {
    char **strs;
    size_t n_strs, cap_strs;
    size_t cap_hits;
} results_mem;

static void results_clear(semdex_results *r)
{
    results_mem *m = r->internal;
    if (m) {
        for (size_t i = 0; i < m->n_strs; i++)
            sx_free(m->strs[i]);
        m->n_strs = 0;
    }
    r->n = 0;
    r->vector_exact = 0;
    r->note = "";
}

void semdex_results_free(semdex_results *r)
{
    if (!r)
        return;
    results_clear(r);
    results_mem *m = r->internal;
    if (m)
        sx_free(m->strs);
    sx_free(m);
    sx_free(r->hits);
    memset(r, 0, sizeof *r);
}

static int cmp_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Merges the arms into out (capacity nv + nk) through fuse.h; with one arm
 * the score is that arm's own. */
static semdex_status fuse(const semdex_search_options *o, const sx_hit *v, size_t nv, const sx_hit *k, size_t nk,
                          int both, cand *out, size_t *n_out, semdex_error *err)
{
    *n_out = 0;
    if (!both) {
        const sx_hit *h = nv ? v : k;
        size_t n = nv ? nv : nk;
        for (size_t i = 0; i < n; i++)
            out[i] = nv ? (cand){h[i].id, h[i].score, i + 1, 0, h[i].score, 0}
                        : (cand){h[i].id, h[i].score, 0, i + 1, 0, h[i].score};
        qsort(out, n, sizeof *out, cmp_desc); /* already in order; ties settled by id */
        *n_out = n;
        return SEMDEX_OK;
    }
    size_t cap = nv + nk;
    int64_t *ids = sx_malloc((cap ? cap : 1) * sizeof *ids);
    double *scores = sx_malloc((cap ? cap : 1) * sizeof *scores);
    fuse_hit *fh = sx_malloc((cap ? cap : 1) * sizeof *fh);
    semdex_status st = SEMDEX_OK;
    if (!ids || !scores || !fh)
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    size_t n = 0;
    if (!st) {
        for (size_t i = 0; i < nv; i++)
            ids[i] = v[i].id, scores[i] = v[i].score;
        for (size_t i = 0; i < nk; i++)
            ids[nv + i] = k[i].id, scores[nv + i] = k[i].score;
        fuse_list arms[FUSE_ARMS] = {{ids, scores, nv}, {ids + nv, scores + nv, nk}};
        double w[FUSE_ARMS] = {o->vector_weight, 1 - o->vector_weight};
        st = o->fusion == SEMDEX_FUSION_WEIGHTED ? fuse_weighted(arms, w, fh, cap, &n, err)
                                                 : fuse_rrf(arms, NULL, o->rrf_k, fh, cap, &n, err);
    }
    for (size_t i = 0; !st && i < n; i++)
        out[i] = (cand){fh[i].id, fh[i].score, fh[i].rank[0], fh[i].rank[1], fh[i].arm_score[0], fh[i].arm_score[1]};
    if (!st)
        *n_out = n;
    sx_free(ids);
    sx_free(scores);
    sx_free(fh);
    return st;
}

static semdex_status check_options(semdex_collection *c, const semdex_search_options *o, semdex_error *err)
{
    const char *path = c->db->path;
    if (!o->k || o->k > SX_MAX_K)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "k", -1, "k must be 1..%d, got %zu", SX_MAX_K, o->k);
    if ((unsigned)o->mode >= SEMDEX_SEARCH_MODE_COUNT || (unsigned)o->fusion >= SEMDEX_FUSION_COUNT)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "mode", -1, "unknown search mode or fusion");
    if (!(o->rrf_k >= 0) || !isfinite(o->rrf_k) || !(o->vector_weight >= 0 && o->vector_weight <= 1))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "fusion", -1,
                          "rrf_k must be >= 0 and vector_weight within [0, 1]");
    if (o->candidates > SX_MAX_K || o->ef_search > 100000)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, path, "candidates", -1, "candidates or ef_search too large");
    if (o->query && sx_utf8_validate(o->query, o->query_len) != o->query_len)
        return sx_err_set(err, SEMDEX_ERR_UTF8, path, "query", (int64_t)sx_utf8_validate(o->query, o->query_len),
                          "invalid UTF-8 in the query");
    if (o->vector && (!o->dim || o->dim > SX_MAX_DIM))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "vector", -1, "query vector of dimension %zu", o->dim);
    for (size_t i = 0; o->vector && i < o->dim; i++)
        if (!isfinite(o->vector[i]))
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "vector", (int64_t)i,
                              "query vector value %zu is not finite", i);
    if (o->mode == SEMDEX_SEARCH_VECTOR && !o->vector)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "vector", -1, "a vector search needs a query vector");
    if (o->mode == SEMDEX_SEARCH_KEYWORD && (!o->query || !o->query_len))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "query", -1, "a keyword search needs query text");
    if (o->mode == SEMDEX_SEARCH_HYBRID && !o->vector && (!o->query || !o->query_len))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "query", -1, "nothing to search for");
    return SEMDEX_OK;
}

static char *keep_str(results_mem *m, const unsigned char *s, int n, int *failed)
{
    if (!s)
        return NULL;
    char *d = NULL;
    if (SX_GROW(m->strs, m->cap_strs, m->n_strs + 1) || !(d = sx_strndup((const char *)s, (size_t)n))) {
        *failed = 1;
        return NULL;
    }
    m->strs[m->n_strs++] = d;
    return d;
}

static const char SQL_HIT_ROW[] =
    "SELECT c.ordinal, c.text, c.start_byte, c.end_byte, c.heading, d.ext_id, d.metadata, d.uri "
    "FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1";

/* Reads the rows of the fused candidates into r->hits (a chunk deleted
 * meanwhile is skipped: all of this runs in one read transaction). */
static semdex_status fill_hits(semdex_collection *c, const cand *cs, size_t n, semdex_results *r, semdex_error *err)
{
    results_mem *m = r->internal;
    if (SX_GROW(r->hits, m->cap_hits, n ? n : 1))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    sqlite3_stmt *s = sx_db_stmt(c->db, SQL_HIT_ROW, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, cs[i].id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            continue;
        if (rc != SQLITE_ROW) {
            sqlite3_reset(s);
            return sx_db_error(c->db, rc, "chunks", err);
        }
        semdex_hit *h = &r->hits[r->n++];
        memset(h, 0, sizeof *h);
        h->chunk_id = cs[i].id;
        h->ordinal = (uint32_t)sqlite3_column_int64(s, 0);
        h->text = keep_str(m, sqlite3_column_text(s, 1), sqlite3_column_bytes(s, 1), &failed);
        h->start = sqlite3_column_int64(s, 2);
        h->end = sqlite3_column_int64(s, 3);
        h->heading = keep_str(m, sqlite3_column_text(s, 4), sqlite3_column_bytes(s, 4), &failed);
        h->id = keep_str(m, sqlite3_column_text(s, 5), sqlite3_column_bytes(s, 5), &failed);
        h->metadata = keep_str(m, sqlite3_column_text(s, 6), sqlite3_column_bytes(s, 6), &failed);
        h->uri = keep_str(m, sqlite3_column_text(s, 7), sqlite3_column_bytes(s, 7), &failed);
        h->score = cs[i].score;
        h->vector_rank = cs[i].vrank;
        h->vector_score = cs[i].vscore;
        h->keyword_rank = cs[i].krank;
        h->keyword_score = cs[i].kscore;
        if (!h->text)
            h->text = "";
        if (!h->id)
            h->id = "";
        if (!h->metadata)
            h->metadata = "{}";
    }
    sqlite3_reset(s);
    if (failed)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    return SEMDEX_OK;
}

/* The vector arm, inside the read transaction.  *stale: the saved image
 * is behind and worth rewriting afterwards. */
static semdex_status vector_arm(semdex_collection *c, const semdex_search_options *o, size_t n_cand,
                                const sx_idset *allowed, sx_hit *hits, size_t *n_hits, int *exact, int *stale,
                                semdex_error *err)
{
    *n_hits = 0;
    if (!c->dim)
        return SEMDEX_OK; /* no vectors yet */
    if (o->dim != c->dim)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, c->db->path, "vector", -1,
                          "query vector of dimension %zu, collection '%s' holds dimension %zu", o->dim, c->name,
                          c->dim);
    float *q = sx_malloc(c->dim * sizeof(float));
    if (!q)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    memcpy(q, o->vector, c->dim * sizeof(float));
    semdex_status st = SEMDEX_OK;
    if (c->metric == SEMDEX_METRIC_COSINE && !(sx_vec_normalize(q, c->dim) > 0))
        st = sx_err_set(err, SEMDEX_ERR_INVALID_ARG, c->db->path, "vector", -1,
                        "a zero query vector has no direction (cosine collection)");
    /* A filter that lets few rows through is searched exactly (the graph
     * would walk most of itself to find them): hnsw_filter_prefers_exact
     * holds the measured crossover. */
    *exact = o->exact;
    if (!st && !*exact)
        st = sx_vindex_ensure(c, stale, err);
    if (!st && !*exact && allowed)
        *exact = sx_vindex_prefers_exact(c, allowed->n);
    if (!st && *exact) {
        st = sx_vindex_search_exact(c, q, n_cand, allowed, hits, n_hits, err);
    } else if (!st) {
        size_t ef = o->ef_search ? o->ef_search : c->hnsw_ef_search;
        st = sx_vindex_search(c, q, n_cand, ef < n_cand ? n_cand : ef, allowed, hits, n_hits, err);
    }
    sx_free(q);
    return st;
}

static semdex_status compile_filters(const semdex_search_options *o, sx_filter **out, semdex_error *err)
{
    *out = NULL;
    if (!o->n_filters)
        return SEMDEX_OK;
    if (!o->filters)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "filter", -1, "no filter array");
    sx_filter *f = sx_calloc(o->n_filters, sizeof *f);
    if (!f)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, "filter", -1, "out of memory");
    for (size_t i = 0; i < o->n_filters; i++) {
        const semdex_filter *in = &o->filters[i];
        if (!in->key || !in->value) {
            sx_free(f);
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "filter", -1, "filter %zu has no key or value", i);
        }
        semdex_status st = sx_filter_compile(in->key, strlen(in->key), in->value, strlen(in->value), &f[i], err);
        if (st) {
            for (size_t j = 0; j < i; j++)
                sx_filter_free(&f[j]);
            sx_free(f);
            return st;
        }
    }
    *out = f;
    return SEMDEX_OK;
}

typedef struct search_run {
    sx_filter *filters;
    sx_idset allowed;
    sx_hit *vhits, *khits;
    cand *cands;
} search_run;

static void run_free(search_run *run, size_t n_filters)
{
    for (size_t i = 0; run->filters && i < n_filters; i++)
        sx_filter_free(&run->filters[i]);
    sx_free(run->filters);
    sx_idset_free(&run->allowed);
    sx_free(run->vhits);
    sx_free(run->khits);
    sx_free(run->cands);
}

semdex_status semdex_collection_search(semdex_collection *c, const semdex_search_options *opts,
                                       semdex_results *out, semdex_error *err)
{
    if (!out)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "results", -1, "no results to fill");
    if (!out->internal && !(out->internal = sx_calloc(1, sizeof(results_mem))))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    results_clear(out);
    if (!c || c->dropped)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "collection", -1, "no collection");
    semdex_search_options o = opts ? *opts : semdex_search_options_default();
    semdex_status st = check_options(c, &o, err);
    if (st)
        return st;
    int want_v = o.mode != SEMDEX_SEARCH_KEYWORD && o.vector;
    int want_k = o.mode != SEMDEX_SEARCH_VECTOR && o.query && o.query_len;
    if (o.mode == SEMDEX_SEARCH_HYBRID && !want_v)
        out->note = "no query vector: keyword arm only";
    else if (o.mode == SEMDEX_SEARCH_HYBRID && !want_k)
        out->note = "no query text: vector arm only";
    int both = want_v && want_k;
    size_t n_cand = o.k;
    if (both)
        n_cand = o.candidates ? o.candidates : (o.k * 4 > 50 ? o.k * 4 : 50);
    n_cand = n_cand < o.k ? o.k : n_cand;
    search_run run = {0};
    if ((st = compile_filters(&o, &run.filters, err)))
        return st;
    size_t nv = 0, nk = 0;
    int stale = 0, exact = 0;
    run.vhits = sx_malloc(n_cand * sizeof *run.vhits);
    run.khits = sx_malloc(n_cand * sizeof *run.khits);
    run.cands = sx_malloc(2 * n_cand * sizeof *run.cands);
    if (!run.vhits || !run.khits || !run.cands)
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    if (!st)
        st = sx_db_begin(c->db, 0, err);
    int txn = !st;
    if (!st)
        st = sx_collection_refresh(c, err);
    if (!st && o.n_filters)
        st = sx_filter_select(c, run.filters, o.n_filters, 0, &run.allowed, err);
    const sx_idset *allowed = o.n_filters ? &run.allowed : NULL;
    if (!st && want_v && !c->dim)
        out->note = "the collection holds no vectors: keyword arm only";
    if (!st && want_v)
        st = vector_arm(c, &o, n_cand, allowed, run.vhits, &nv, &exact, &stale, err);
    if (!st && want_k)
        st = sx_keyword_search(c, o.query, o.query_len, n_cand, allowed, run.khits, &nk, err);
    size_t n = 0;
    if (!st)
        st = fuse(&o, run.vhits, nv, run.khits, nk, both, run.cands, &n, err);
    if (!st)
        st = fill_hits(c, run.cands, n < o.k ? n : o.k, out, err);
    if (txn)
        sx_db_rollback(c->db); /* ends the read transaction */
    run_free(&run, o.n_filters);
    out->vector_exact = want_v && exact;
    if (st) {
        results_clear(out);
        return st;
    }
    /* best effort: a later open repairs again */
    if (stale)
        sx_vindex_save(c, stale == 2 ? SX_SAVE_ALWAYS : SX_SAVE_IF_LOADED, NULL);
    return SEMDEX_OK;
}
