/* hnsw.h: an HNSW graph over float32 vectors (dot, cosine, L2), labelled by
 * int64 ids.  In memory; saved to and loaded from a versioned byte image
 * (magic + version, documented in docs/FORMAT.md) that the store keeps
 * inside its database file.  Uses src/kern for distances; knows nothing of
 * SQLite, BM25 or models.  Contract shared by src/store (the caller).
 *
 * Threads: any number of hnsw_search / hnsw_search_exact / hnsw_contains /
 * hnsw_count / hnsw_save calls may run at once on one index (each search
 * takes its own visited list and heaps from an internal, locked pool);
 * hnsw_add, hnsw_delete, hnsw_reserve and hnsw_free must not run concurrently with
 * anything else on the same index (the caller holds a writer lock).
 *
 * hnsw_new returns NULL also for bad parameters: dim 0 or above 65,536,
 * M of 1 or above 1024, an unknown metric (params NULL or fields 0 take the
 * defaults).  Vectors and queries with a non-finite value are refused
 * (hnsw_add: SEMDEX_ERR_INVALID_ARG; searches: 0 results).  Searches return
 * 0 results also when their scratch cannot be allocated.
 *
 * Filters: the filter is applied to results, not to the traversal, so a
 * selective filter makes the search walk much of the graph (its cost grows
 * as 1/selectivity) while exact filtered search costs one distance per
 * passing row; hnsw_filter_prefers_exact says which to call (measured:
 * docs/ARCHITECTURE.md, "HNSW"). */
#ifndef SX_HNSW_H
#define SX_HNSW_H
#include <stddef.h>
#include <stdint.h>
#include "semdex.h"

typedef enum hnsw_metric { HNSW_METRIC_DOT, HNSW_METRIC_COSINE, HNSW_METRIC_L2, HNSW_METRIC_COUNT } hnsw_metric;

typedef struct hnsw_params {
    size_t M;               /* links per node (layer 0 has 2*M); default 16 */
    size_t ef_construction; /* default 200 */
    uint64_t seed;          /* level generator seed */
} hnsw_params;

typedef struct hnsw_index hnsw_index;

hnsw_params hnsw_params_default(void);
/* NULL on allocation failure. */
hnsw_index *hnsw_new(size_t dim, hnsw_metric metric, const hnsw_params *params);
void hnsw_free(hnsw_index *h);

size_t hnsw_dim(const hnsw_index *h);
size_t hnsw_count(const hnsw_index *h);       /* live (not deleted) vectors */
size_t hnsw_memory_bytes(const hnsw_index *h);

/* Makes room for n vectors in all (optional: the index grows by doubling;
 * reserving avoids the copies and the memory they leave behind). */
semdex_status hnsw_reserve(hnsw_index *h, size_t n, semdex_error *err);

/* Adds (or replaces) the vector of `label`.  Deleted slots are reused. */
semdex_status hnsw_add(hnsw_index *h, int64_t label, const float *vec, semdex_error *err);
/* Removes label; its neighbours are re-linked so recall holds; 0 when absent. */
int hnsw_delete(hnsw_index *h, int64_t label);
int hnsw_contains(const hnsw_index *h, int64_t label);

/* Optional filter: return nonzero to accept a label. */
typedef int (*hnsw_filter_fn)(int64_t label, void *ctx);

/* k nearest to query with search breadth ef (>= k); writes up to k results
 * sorted by distance (smaller is closer: 1 - dot for cosine/dot, squared L2)
 * and returns how many. */
size_t hnsw_search(const hnsw_index *h, const float *query, size_t k, size_t ef, hnsw_filter_fn filter,
                   void *filter_ctx, int64_t *labels, float *distances);

/* Exact k nearest among the live vectors passing filter (brute force,
 * same output convention as hnsw_search; same thread rules). */
size_t hnsw_search_exact(const hnsw_index *h, const float *query, size_t k, hnsw_filter_fn filter,
                         void *filter_ctx, int64_t *labels, float *distances);

/* Nonzero when a filter that n_pass of the live rows pass is better served
 * by hnsw_search_exact than by hnsw_search: when n_pass^2 / live is below
 * HNSW_EXACT_CROSSOVER (graph cost ~ 1/selectivity, exact cost ~ n_pass,
 * equal at selectivity sqrt(C / live): 15% of 100,000 rows, 5% of 1M), and
 * always below 1% of the rows, where graph recall falls. */
#define HNSW_EXACT_CROSSOVER 2500.0
int hnsw_filter_prefers_exact(const hnsw_index *h, size_t n_pass);

/* Serialized image: hnsw_save_size() bytes written by hnsw_save(). */
size_t hnsw_save_size(const hnsw_index *h);
semdex_status hnsw_save(const hnsw_index *h, void *buf, size_t size, semdex_error *err);
/* Loads an image (validated: a damaged image is an error, never a crash). */
hnsw_index *hnsw_load(const void *buf, size_t size, semdex_error *err);
/* The image checksum (CRC-32, zlib's polynomial) over size bytes: an image
 * ends with the checksum of everything before it (for tools and fuzzers). */
uint32_t hnsw_checksum(const void *buf, size_t size);
/* Calls fn for every live label (in no particular order). */
void hnsw_foreach(const hnsw_index *h, void (*fn)(int64_t label, void *ctx), void *ctx);

#endif
