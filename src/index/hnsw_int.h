/* hnsw_int.h: the inside of an hnsw_index, shared by hnsw.c (graph:
 * insert, delete, search) and hnsw_image.c (save/load).  Not for callers:
 * they use hnsw.h.  Knows nothing of SQLite, BM25 or models.
 *
 * Storage, all indexed by an internal slot number (uint32):
 *   vecs    [cap x dim] float32, one array (cosine: stored normalized)
 *   labels  [cap] int64, levels [cap] uint8, dead [cap] uint8
 *   links0  [cap x (1 + 2M)] uint32: layer-0 list = count, then links
 *   upper   one uint32 array; slot s with level L >= 1 owns the block
 *           upper[upper_off[s] .. + L*(1+M)): per level 1..L, count + M links.
 *           Blocks are appended in slot order, so upper_off is the prefix sum
 *           of levels[s]*(1+M) (a reused slot keeps its level and block).
 * A deleted slot is `dead`, sits on the free list and keeps its vector and
 * its out-links (searches route through it, never return it) until an
 * insert reuses it.  Invariant: a link at level l points to a slot whose
 * level is >= l (reuse keeps the level, so stale in-links stay valid). */
#ifndef SX_HNSW_INT_H
#define SX_HNSW_INT_H
#include "hnsw.h"
#include <pthread.h>

#define HNSW_NONE UINT32_MAX
#define HNSW_MAX_LEVEL 63             /* levels fit a uint8; -ln(2^-53)/ln(2) < 54 */
#define HNSW_MAX_DIM ((size_t)1 << 16) /* a vector of at most 65,536 floats */
#define HNSW_MAX_M ((size_t)1024)
#define HNSW_MAX_EF_CONSTRUCTION ((size_t)1 << 20)
#define HNSW_MAX_SLOTS ((size_t)UINT32_MAX - 1)

typedef struct hnsw_cand {
    float d;     /* distance to the query (smaller is closer) */
    uint32_t id; /* slot */
} hnsw_cand;

/* Per-search scratch: a visited list with generation tags plus the two
 * heaps and the prepared query; pooled so that a search allocates nothing
 * once warm, and so that concurrent searches each take their own. */
typedef struct hnsw_scratch {
    struct hnsw_scratch *next;
    uint16_t *tags; /* [n_tags]: tags[s] == gen when slot s was visited */
    size_t n_tags;
    uint16_t gen;
    hnsw_cand *cand; /* min-heap of candidates to expand */
    size_t cand_cap;
    hnsw_cand *top; /* max-heap of the ef best accepted */
    size_t top_cap;
    hnsw_cand *work; /* neighbour selection (writer only) */
    size_t work_cap;
    float *q; /* [dim] normalized query (cosine) */
} hnsw_scratch;

struct hnsw_index {
    size_t dim;
    hnsw_metric metric;
    size_t M, maxM0, ef_construction;
    uint64_t seed, rng; /* rng: state of the level generator (saved) */
    double mult;        /* 1 / ln(M) */

    size_t cap;     /* slots allocated */
    size_t n_slots; /* slots in use (live + dead), high-water mark */
    size_t n_live;
    float *vecs;
    int64_t *labels;
    uint8_t *levels;
    uint8_t *dead;
    uint32_t *links0;
    size_t *upper_off;
    uint32_t *upper;
    size_t n_upper, upper_cap; /* uint32 words */

    uint32_t *free_slots; /* stack of dead slots, reused last-in first-out */
    size_t n_free, free_cap;

    /* label -> slot: open addressing, linear probing, keys are
     * labels[slot]; HNSW_NONE marks an empty bucket; power-of-two size. */
    uint32_t *map;
    size_t map_cap;

    uint32_t entry; /* a live slot of the highest live level, or HNSW_NONE */
    int max_level;  /* its level, -1 when empty */

    pthread_mutex_t pool_lock;
    hnsw_scratch *pool;
};

/* Layer-0 / upper link list of slot s: [0] = count, then the links. */
static inline uint32_t *hnsw_links(const hnsw_index *h, uint32_t s, int level)
{
    if (level == 0)
        return h->links0 + (size_t)s * (1 + h->maxM0);
    return h->upper + h->upper_off[s] + (size_t)(level - 1) * (1 + h->M);
}

static inline const float *hnsw_vec(const hnsw_index *h, uint32_t s) { return h->vecs + (size_t)s * h->dim; }

/* An empty index with room for `cap` slots and `upper_cap` upper-link words
 * (hnsw.c); NULL on allocation failure or bad parameters. */
hnsw_index *hnsw_alloc(size_t dim, hnsw_metric metric, size_t M, size_t ef_construction, uint64_t seed,
                       size_t cap, size_t upper_cap);
/* Rebuilds the label map from the live slots; -1 on allocation failure,
 * -2 when two live slots share a label. */
int hnsw_map_rebuild(hnsw_index *h);

#endif
