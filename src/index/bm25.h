/* bm25.h: a BM25 keyword index kept in SQLite tables of the store's database
 * (created by bm25_open inside the caller's connection), with English
 * analysis (lowercase, optional Porter stemming) and Chinese word
 * segmentation (segment.h).  Updates and deletes are incremental and run
 * inside the caller's transaction, so the index never disagrees with the
 * documents after a crash.  Knows nothing of vectors, HNSW or models.
 * Contract shared by src/store (the caller). */
#ifndef SX_BM25_H
#define SX_BM25_H
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include "semdex.h"

typedef struct bm25_params {
    double k1; /* default 1.2 */
    double b;  /* default 0.75 */
    int stem;  /* English Porter stemming; default 1 */
} bm25_params;

typedef struct bm25_index bm25_index;

bm25_params bm25_params_default(void);
/* Opens (creating its tables if needed) the index of collection_id in db. */
bm25_index *bm25_open(sqlite3 *db, int64_t collection_id, const bm25_params *params, semdex_error *err);
void bm25_close(bm25_index *ix);

/* Indexes a chunk's text under id (replacing what id had); deletes it. */
semdex_status bm25_add(bm25_index *ix, int64_t id, const char *text, size_t len, semdex_error *err);
semdex_status bm25_delete(bm25_index *ix, int64_t id, semdex_error *err);

typedef struct bm25_hit {
    int64_t id;
    double score;
} bm25_hit;

/* Top k ids for query by BM25; optional filter as in hnsw.h. Returns count. */
size_t bm25_search(bm25_index *ix, const char *query, size_t len, size_t k, int (*filter)(int64_t id, void *ctx),
                   void *filter_ctx, bm25_hit *hits, semdex_error *err);

/* ---- Additions of the keyword-search module (the declarations above are the
 * contract with src/store and do not change). ----
 *
 * bm25_search returns 0 on failure with err->status set; after a successful
 * search err->status is SEMDEX_OK.  Scores are Lucene's BM25: per query term
 * (counted as often as it occurs in the query)
 *   idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
 *   idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)),
 * with N the documents of the collection, df those holding the term, dl a
 * document's length in terms and avgdl the mean length, all exact (kept as
 * integers by add and delete).  One bm25_index serves one thread at a time. */
#include "analyze.h"

/* bm25_open with explicit analysis options (params->stem is then ignored). */
bm25_index *bm25_open_with(sqlite3 *db, int64_t collection_id, const bm25_params *params,
                           const analyze_options *analysis, semdex_error *err);
/* k1 and b for the next searches (stem is fixed when the index is opened). */
void bm25_set_params(bm25_index *ix, const bm25_params *params);
/* The analysis the index was made with (analyzer_id). */
const char *bm25_analyzer_id(const bm25_index *ix);

typedef struct bm25_stats {
    int64_t n_docs;    /* documents indexed */
    int64_t total_len; /* terms in all of them */
    int64_t n_terms;   /* distinct terms */
} bm25_stats;
semdex_status bm25_get_stats(bm25_index *ix, bm25_stats *out, semdex_error *err);

/* Removes the whole index of collection_id from db (no bm25_index may be
 * open on it).  Runs inside the caller's transaction like add/delete. */
semdex_status bm25_drop(sqlite3 *db, int64_t collection_id, semdex_error *err);

#endif
