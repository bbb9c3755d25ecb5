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

#endif
