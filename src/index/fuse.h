/* fuse.h: fusion of two ranked lists (a vector arm and a keyword arm) into
 * one, keeping for every result its rank and score in each arm.
 *
 *   reciprocal rank fusion: score = sum over the arms that hold the result of
 *     weight / (k + rank), rank from 1 (Cormack et al. 2009; k = 60 as in
 *     Elasticsearch, LangChain, RAGFlow and Milvus);
 *   weighted fusion: each arm's scores are min-max normalized to [0, 1]
 *     over the list given (all equal: 1), then score = sum of
 *     weight * normalized score; an arm that lacks the result adds 0.
 *
 * Inputs are lists best first, with higher-is-better scores (turn distances
 * into similarities first); ids within a list are distinct.  Ties of the
 * fused score go to the better best rank, then the smaller id.  Knows
 * nothing of where the lists come from. */
#ifndef SX_FUSE_H
#define SX_FUSE_H
#include <stddef.h>
#include <stdint.h>
#include "semdex.h"

#define FUSE_RRF_K 60.0
#define FUSE_ARMS 2

typedef struct fuse_list {
    const int64_t *ids;   /* n ids, best first */
    const double *scores; /* n scores, or NULL (RRF does not need them; weighted fusion does) */
    size_t n;
} fuse_list;

typedef struct fuse_hit {
    int64_t id;
    double score;                /* fused */
    size_t rank[FUSE_ARMS];      /* 1-based rank in each arm, 0 when the arm lacks it */
    double arm_score[FUSE_ARMS]; /* the arm's own score (0 when absent or not given) */
} fuse_hit;

/* RRF of arms[0] and arms[1] with weights w (NULL: 1 and 1) and constant k
 * (<= 0: FUSE_RRF_K).  Writes the best min(cap, distinct ids) results into
 * out and their count into *n_out. */
semdex_status fuse_rrf(const fuse_list arms[FUSE_ARMS], const double *w, double k, fuse_hit *out, size_t cap,
                       size_t *n_out, semdex_error *err);

/* Weighted fusion of min-max normalized scores; both arms need scores. */
semdex_status fuse_weighted(const fuse_list arms[FUSE_ARMS], const double w[FUSE_ARMS], fuse_hit *out, size_t cap,
                            size_t *n_out, semdex_error *err);

#endif
