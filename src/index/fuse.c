/* fuse.c: reciprocal rank fusion and weighted fusion of two ranked lists
 * (see fuse.h).  The arms are merged by id through one sorted array of
 * (id, arm, position) entries; nothing else is allocated.  Knows nothing of
 * vectors, BM25 or SQLite. */
#include "fuse.h"
#include "alloc.h"
#include "err.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    int64_t id;
    uint32_t arm;
    size_t pos; /* 0-based rank in the arm */
} entry;

static int cmp_entry(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    if (a->id != b->id)
        return (a->id > b->id) - (a->id < b->id);
    if (a->arm != b->arm)
        return (a->arm > b->arm) - (a->arm < b->arm);
    return (a->pos > b->pos) - (a->pos < b->pos);
}

static size_t best_rank(const fuse_hit *h)
{
    size_t r = 0;
    for (int a = 0; a < FUSE_ARMS; a++)
        if (h->rank[a] && (!r || h->rank[a] < r))
            r = h->rank[a];
    return r;
}

static int cmp_hit(const void *pa, const void *pb)
{
    const fuse_hit *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    size_t ra = best_rank(a), rb = best_rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

typedef double (*arm_score_fn)(const fuse_list *arm, size_t pos, double w, const void *ctx, int a);

/* Merges the arms by id, scores each distinct id with fn, keeps the best cap. */
static semdex_status fuse(const fuse_list arms[FUSE_ARMS], const double w[FUSE_ARMS], arm_score_fn fn, const void *ctx,
                          fuse_hit *out, size_t cap, size_t *n_out, semdex_error *err)
{
    *n_out = 0;
    size_t total = 0;
    for (int a = 0; a < FUSE_ARMS; a++) {
        if (arms[a].n && !arms[a].ids)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "fusion: arm %d has no ids", a);
        total += arms[a].n;
    }
    if (!total || !cap)
        return SEMDEX_OK;
    entry *e = sx_malloc(total * sizeof *e);
    fuse_hit *all = sx_malloc(total * sizeof *all);
    if (!e || !all) {
        sx_free(e);
        sx_free(all);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory fusing %zu results", total);
    }
    size_t m = 0;
    for (int a = 0; a < FUSE_ARMS; a++)
        for (size_t i = 0; i < arms[a].n; i++)
            e[m++] = (entry){arms[a].ids[i], (uint32_t)a, i};
    qsort(e, m, sizeof *e, cmp_entry);
    size_t n = 0;
    for (size_t i = 0; i < m;) {
        fuse_hit *h = &all[n++];
        memset(h, 0, sizeof *h);
        h->id = e[i].id;
        for (; i < m && e[i].id == h->id; i++) {
            int a = (int)e[i].arm;
            if (h->rank[a]) /* a duplicate id within one arm: its best rank counts */
                continue;
            const fuse_list *arm = &arms[a];
            h->rank[a] = e[i].pos + 1;
            h->arm_score[a] = arm->scores ? arm->scores[e[i].pos] : 0;
            h->score += fn(arm, e[i].pos, w[a], ctx, a);
        }
    }
    qsort(all, n, sizeof *all, cmp_hit);
    if (n > cap)
        n = cap;
    memcpy(out, all, n * sizeof *out);
    *n_out = n;
    sx_free(e);
    sx_free(all);
    return SEMDEX_OK;
}

static double rrf_score(const fuse_list *arm, size_t pos, double w, const void *ctx, int a)
{
    (void)arm, (void)a;
    return w / (*(const double *)ctx + (double)(pos + 1));
}

semdex_status fuse_rrf(const fuse_list arms[FUSE_ARMS], const double *w, double k, fuse_hit *out, size_t cap,
                       size_t *n_out, semdex_error *err)
{
    static const double ones[FUSE_ARMS] = {1, 1};
    double kk = k > 0 ? k : FUSE_RRF_K;
    return fuse(arms, w ? w : ones, rrf_score, &kk, out, cap, n_out, err);
}

typedef struct minmax {
    double lo[FUSE_ARMS], hi[FUSE_ARMS];
} minmax;

static double weighted_score(const fuse_list *arm, size_t pos, double w, const void *ctx, int a)
{
    const minmax *mm = ctx;
    double range = mm->hi[a] - mm->lo[a];
    double s = range > 0 ? (arm->scores[pos] - mm->lo[a]) / range : 1.0;
    return w * s;
}

semdex_status fuse_weighted(const fuse_list arms[FUSE_ARMS], const double w[FUSE_ARMS], fuse_hit *out, size_t cap,
                            size_t *n_out, semdex_error *err)
{
    *n_out = 0;
    minmax mm;
    for (int a = 0; a < FUSE_ARMS; a++) {
        if (arms[a].n && !arms[a].scores)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1,
                              "weighted fusion needs the scores of arm %d", a);
        mm.lo[a] = INFINITY;
        mm.hi[a] = -INFINITY;
        for (size_t i = 0; i < arms[a].n; i++) {
            double s = arms[a].scores[i];
            if (!isfinite(s))
                return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1,
                                  "weighted fusion: arm %d has a score that is not finite at rank %zu", a, i + 1);
            mm.lo[a] = s < mm.lo[a] ? s : mm.lo[a];
            mm.hi[a] = s > mm.hi[a] ? s : mm.hi[a];
        }
    }
    return fuse(arms, w, weighted_score, &mm, out, cap, n_out, err);
}
