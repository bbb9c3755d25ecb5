/* vindex.c: a collection's vector index: the in-memory HNSW graph
 * (src/index/hnsw.h), its image saved inside the database with the
 * high-water mark of the chunk ids it covers, the repair of a missing,
 * stale or damaged image from the vectors table, and exact search.  The
 * vectors table is the truth; the graph is a cache of it that is current
 * when its change_seq equals the collection's. */
#include "store.h"
#include "../index/hnsw.h"
#include "alloc.h"
#include "err.h"
#include "kern.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vectors are stored as little-endian float32");

/* An image is rewritten when the changes it lacks, times this, reach the
 * number of vectors: repairing costs an HNSW insert per change (hundreds of
 * distance computations) while saving costs one pass over the graph. */
#define SAVE_RATIO 64

struct sx_vindex {
    hnsw_index *h;
    int64_t seq;       /* collection change_seq the graph reflects */
    size_t dim;
    semdex_metric metric;
    float *scratch;    /* [dim]: an aligned copy of a vector read from SQLite */
};

int sx_vindex_prefers_exact(const semdex_collection *c, size_t n_pass)
{
    return !c->vindex || hnsw_filter_prefers_exact(c->vindex->h, n_pass);
}

double sx_vec_normalize(float *v, size_t dim)
{
    double n = sqrt((double)kern_dot(v, v, dim));
    if (n > 0) {
        float inv = (float)(1.0 / n);
        for (size_t i = 0; i < dim; i++)
            v[i] *= inv;
    }
    return n;
}

double sx_vec_score(semdex_metric m, const float *a, const float *b, size_t dim)
{
    return m == SEMDEX_METRIC_L2 ? -(double)kern_l2sq(a, b, dim) : (double)kern_dot(a, b, dim);
}

/* HNSW distances back to scores (higher is better). */
static double score_of(semdex_metric m, float d) { return m == SEMDEX_METRIC_L2 ? -(double)d : 1.0 - (double)d; }

static hnsw_metric hnsw_metric_of(semdex_metric m)
{
    return m == SEMDEX_METRIC_L2 ? HNSW_METRIC_L2 : m == SEMDEX_METRIC_DOT ? HNSW_METRIC_DOT : HNSW_METRIC_COSINE;
}

int sx_idset_has(const sx_idset *s, int64_t id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->ids[lo] == id;
}

void sx_idset_free(sx_idset *s)
{
    sx_free(s->ids);
    memset(s, 0, sizeof *s);
}

static int idset_filter(int64_t label, void *ctx) { return sx_idset_has(ctx, label); }

void sx_vindex_free(sx_vindex *v)
{
    if (!v)
        return;
    hnsw_free(v->h);
    sx_free(v->scratch);
    sx_free(v);
}

void sx_vindex_drop(semdex_collection *c)
{
    sx_vindex_free(c->vindex);
    c->vindex = NULL;
}

/* A vector column as an aligned float array of c->dim, or NULL with err
 * naming the chunk when its size is wrong. */
static const float *read_vector(semdex_collection *c, sqlite3_stmt *s, int col, float *scratch, semdex_error *err)
{
    int64_t id = sqlite3_column_int64(s, 0);
    const void *blob = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (n != c->dim * sizeof(float) || !blob) {
        sx_err_set(err, SEMDEX_ERR_FORMAT, c->db->path, "vectors", -1,
                   "chunk %lld: vector of %zu bytes, collection '%s' has dimension %zu (%zu bytes)", (long long)id,
                   n, c->name, c->dim, c->dim * sizeof(float));
        return NULL;
    }
    memcpy(scratch, blob, n);
    return scratch;
}

static const char SQL_VECTORS_AFTER[] =
    "SELECT chunk_id, vector FROM vectors WHERE collection_id = ?1 AND chunk_id > ?2 ORDER BY chunk_id";

/* Adds every vector with chunk id above `after` to the graph. */
static semdex_status add_after(semdex_collection *c, sx_vindex *v, int64_t after, size_t *n_added, semdex_error *err)
{
    sqlite3_stmt *s = sx_db_stmt(c->db, SQL_VECTORS_AFTER, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_int64(s, 2, after);
    semdex_status st = SEMDEX_OK;
    int rc;
    while (!st && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const float *vec = read_vector(c, s, 1, v->scratch, err);
        if (!vec)
            st = err ? err->status : SEMDEX_ERR_FORMAT;
        else if (!(st = hnsw_add(v->h, sqlite3_column_int64(s, 0), vec, err)))
            ++*n_added;
    }
    if (!st && rc != SQLITE_DONE)
        st = sx_db_error(c->db, rc, "vectors", err);
    sqlite3_reset(s);
    return st;
}

static const char SQL_IMAGE[] =
    "SELECT high_water, n_bytes, n_parts FROM hnsw_images WHERE collection_id = ?1";
static const char SQL_PARTS[] = "SELECT part, data FROM hnsw_image_parts WHERE collection_id = ?1 ORDER BY part";

/* Reads the saved image: *buf NULL when there is none; *damage set (and no
 * buffer) when its parts do not add up. */
static semdex_status read_image(semdex_collection *c, int64_t *hw, void **buf, size_t *size, const char **damage,
                                semdex_error *err)
{
    *buf = NULL;
    *size = 0;
    *damage = NULL;
    sqlite3_stmt *s = sx_db_stmt(c->db, SQL_IMAGE, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    sqlite3_bind_int64(s, 1, c->id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return rc == SQLITE_DONE ? SEMDEX_OK : sx_db_error(c->db, rc, "hnsw_images", err);
    }
    *hw = sqlite3_column_int64(s, 0);
    int64_t n_bytes = sqlite3_column_int64(s, 1), n_parts = sqlite3_column_int64(s, 2);
    sqlite3_reset(s);
    if (n_bytes <= 0 || n_parts <= 0 || (uint64_t)n_bytes > SIZE_MAX / 2 ||
        n_parts != (n_bytes + SX_IMAGE_PART_BYTES - 1) / SX_IMAGE_PART_BYTES) {
        *damage = "bad size or part count";
        return SEMDEX_OK;
    }
    unsigned char *b = sx_malloc((size_t)n_bytes);
    if (!b)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, "hnsw_images", -1,
                          "out of memory reading a %lld-byte HNSW image", (long long)n_bytes);
    s = sx_db_stmt(c->db, SQL_PARTS, err);
    if (!s) {
        sx_free(b);
        return err ? err->status : SEMDEX_ERR_IO;
    }
    sqlite3_bind_int64(s, 1, c->id);
    size_t got = 0;
    int64_t expect = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && !*damage) {
        size_t n = (size_t)sqlite3_column_bytes(s, 1);
        const void *d = sqlite3_column_blob(s, 1);
        int64_t last = n_parts - 1;
        size_t want = expect < last ? SX_IMAGE_PART_BYTES : (size_t)n_bytes - (size_t)last * SX_IMAGE_PART_BYTES;
        if (sqlite3_column_int64(s, 0) != expect || n != want || !d)
            *damage = "missing or wrong-sized parts";
        else
            memcpy(b + got, d, n);
        got += n;
        expect++;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sx_free(b);
        return sx_db_error(c->db, rc, "hnsw_image_parts", err);
    }
    if (!*damage && expect != n_parts)
        *damage = "missing parts";
    if (*damage) {
        sx_free(b);
        return SEMDEX_OK;
    }
    *buf = b;
    *size = (size_t)n_bytes;
    return SEMDEX_OK;
}

static const char SQL_DELETED[] = "SELECT chunk_id FROM hnsw_deleted WHERE collection_id = ?1";
static const char SQL_COUNT[] = "SELECT count(*) FROM vectors WHERE collection_id = ?1";
static const char SQL_HAS[] = "SELECT 1 FROM vectors WHERE chunk_id = ?1 AND collection_id = ?2";

static semdex_status delete_logged(semdex_collection *c, sx_vindex *v, size_t *n_deleted, semdex_error *err)
{
    sqlite3_stmt *s = sx_db_stmt(c->db, SQL_DELETED, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    sqlite3_bind_int64(s, 1, c->id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        *n_deleted += (size_t)hnsw_delete(v->h, sqlite3_column_int64(s, 0));
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SEMDEX_OK : sx_db_error(c->db, rc, "hnsw_deleted", err);
}

typedef struct label_list {
    int64_t *ids;
    size_t n, cap;
    int failed;
} label_list;

static void collect_label(int64_t label, void *ctx)
{
    label_list *l = ctx;
    if (l->failed || SX_GROW(l->ids, l->cap, l->n + 1)) {
        l->failed = 1;
        return;
    }
    l->ids[l->n++] = label;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The slow path when counts disagree: drop labels without a vector, add
 * vectors without a label. */
static semdex_status full_diff(semdex_collection *c, sx_vindex *v, size_t *changes, semdex_error *err)
{
    label_list l = {0};
    hnsw_foreach(v->h, collect_label, &l);
    if (l.failed) {
        sx_free(l.ids);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    }
    semdex_status st = SEMDEX_OK;
    sqlite3_stmt *s = sx_db_stmt(c->db, SQL_HAS, err);
    if (!s)
        st = err ? err->status : SEMDEX_ERR_IO;
    for (size_t i = 0; !st && i < l.n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, l.ids[i]);
        sqlite3_bind_int64(s, 2, c->id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            *changes += (size_t)hnsw_delete(v->h, l.ids[i]);
        else if (rc != SQLITE_ROW)
            st = sx_db_error(c->db, rc, "vectors", err);
    }
    if (s)
        sqlite3_reset(s);
    sx_free(l.ids);
    if (st)
        return st;
    s = sx_db_stmt(c->db, SQL_VECTORS_AFTER, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_int64(s, 2, INT64_MIN);
    int rc;
    while (!st && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (hnsw_contains(v->h, id))
            continue;
        const float *vec = read_vector(c, s, 1, v->scratch, err);
        if (!vec)
            st = err ? err->status : SEMDEX_ERR_FORMAT;
        else if (!(st = hnsw_add(v->h, id, vec, err)))
            ++*changes;
    }
    if (!st && rc != SQLITE_DONE)
        st = sx_db_error(c->db, rc, "vectors", err);
    sqlite3_reset(s);
    return st;
}

static sx_vindex *vindex_new(semdex_collection *c)
{
    sx_vindex *v = sx_calloc(1, sizeof *v);
    if (!v || !(v->scratch = sx_malloc(c->dim * sizeof(float)))) {
        sx_free(v);
        return NULL;
    }
    v->dim = c->dim;
    v->metric = c->metric;
    v->seq = c->change_seq;
    return v;
}

static semdex_status rebuild(semdex_collection *c, sx_vindex *v, semdex_error *err)
{
    hnsw_free(v->h);
    hnsw_params p = hnsw_params_default();
    p.M = c->hnsw_M;
    p.ef_construction = c->hnsw_ef_construction;
    p.seed = (uint64_t)c->id;
    v->h = hnsw_new(c->dim, hnsw_metric_of(c->metric), &p);
    if (!v->h)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory creating an HNSW graph");
    size_t n = 0;
    return add_after(c, v, INT64_MIN, &n, err);
}

semdex_status sx_vindex_ensure(semdex_collection *c, int *stale_out, semdex_error *err)
{
    int stale = 0;
    if (stale_out)
        *stale_out = 0;
    if (c->vindex && (c->vindex->seq != c->change_seq || c->vindex->dim != c->dim))
        sx_vindex_drop(c);
    if (c->vindex || !c->dim)
        return SEMDEX_OK;
    sx_vindex *v = vindex_new(c);
    if (!v)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    int64_t hw = 0;
    void *buf = NULL;
    size_t size = 0;
    const char *damage = NULL;
    semdex_status st = read_image(c, &hw, &buf, &size, &damage, err);
    if (!st && buf) {
        semdex_error lerr = {0};
        v->h = hnsw_load(buf, size, &lerr);
        if (v->h && (hnsw_dim(v->h) != c->dim)) {
            hnsw_free(v->h);
            v->h = NULL;
        }
    }
    sx_free(buf);
    size_t changes = 0;
    if (!st && v->h) {
        st = add_after(c, v, hw, &changes, err);
        if (!st)
            st = delete_logged(c, v, &changes, err);
        int64_t n = 0;
        if (!st)
            st = sx_db_int(c->db, SQL_COUNT, 1, c->id, 0, 0, &n, err);
        if (!st && (size_t)n != hnsw_count(v->h))
            st = full_diff(c, v, &changes, err);
        stale = changes > 0;
    } else if (!st) {
        /* missing, damaged, or of another shape: rebuild from the table */
        st = rebuild(c, v, err);
        stale = 2;
    }
    if (st) {
        sx_vindex_free(v);
        return st;
    }
    c->vindex = v;
    if (stale_out)
        *stale_out = stale;
    return SEMDEX_OK;
}

void sx_vindex_apply(semdex_collection *c, const int64_t *added, const float *vectors, size_t n_added,
                     const int64_t *deleted, size_t n_deleted, int64_t new_seq)
{
    sx_vindex *v = c->vindex;
    if (!v)
        return;
    for (size_t i = 0; i < n_deleted; i++)
        hnsw_delete(v->h, deleted[i]);
    for (size_t i = 0; i < n_added; i++) {
        if (hnsw_add(v->h, added[i], vectors + i * v->dim, NULL)) {
            sx_vindex_drop(c); /* rebuilt from the table when next needed */
            return;
        }
    }
    v->seq = new_seq;
}

typedef struct topk {
    sx_hit *h; /* min-heap on score, k entries at most */
    size_t n, k;
} topk;

static int worse(const sx_hit *a, const sx_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void topk_push(topk *t, int64_t id, double score)
{
    sx_hit x = {id, score};
    if (t->n < t->k) {
        size_t i = t->n++;
        while (i && worse(&x, &t->h[(i - 1) / 2])) {
            t->h[i] = t->h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        t->h[i] = x;
        return;
    }
    if (!worse(&t->h[0], &x))
        return; /* the root is the worst kept; x does not beat it */
    t->h[0] = x;
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && worse(&t->h[l], &t->h[m]))
            m = l;
        if (r < t->n && worse(&t->h[r], &t->h[m]))
            m = r;
        if (m == i)
            break;
        sx_hit tmp = t->h[i];
        t->h[i] = t->h[m];
        t->h[m] = tmp;
        i = m;
    }
}

static int cmp_hit(const void *a, const void *b)
{
    const sx_hit *x = a, *y = b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

static const char SQL_VECTOR_OF[] = "SELECT chunk_id, vector FROM vectors WHERE chunk_id = ?1 AND collection_id = ?2";

semdex_status sx_vindex_search_exact(semdex_collection *c, const float *query, size_t k, const sx_idset *filter,
                                     sx_hit *hits, size_t *n_hits, semdex_error *err)
{
    *n_hits = 0;
    if (!c->dim || !k)
        return SEMDEX_OK;
    sx_vindex *v = c->vindex;
    if (v && v->seq == c->change_seq) {
        /* the graph holds every vector: scan it in memory */
        int64_t *labels = sx_malloc(k * sizeof *labels);
        float *d = sx_malloc(k * sizeof *d);
        if (!labels || !d) {
            sx_free(labels);
            sx_free(d);
            return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
        }
        size_t n = hnsw_search_exact(v->h, query, k, filter ? idset_filter : NULL, (void *)filter, labels, d);
        for (size_t i = 0; i < n; i++)
            hits[i] = (sx_hit){labels[i], score_of(c->metric, d[i])};
        *n_hits = n;
        sx_free(labels);
        sx_free(d);
        return SEMDEX_OK;
    }
    float *scratch = sx_malloc(c->dim * sizeof(float));
    if (!scratch)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    topk t = {hits, 0, k};
    semdex_status st = SEMDEX_OK;
    sqlite3_stmt *s = sx_db_stmt(c->db, filter ? SQL_VECTOR_OF : SQL_VECTORS_AFTER, err);
    if (!s)
        st = err ? err->status : SEMDEX_ERR_IO;
    size_t i = 0;
    while (!st) {
        if (filter) {
            if (i == filter->n)
                break;
            sqlite3_reset(s);
            sqlite3_bind_int64(s, 1, filter->ids[i++]);
            sqlite3_bind_int64(s, 2, c->id);
        } else if (i++ == 0) {
            sqlite3_bind_int64(s, 1, c->id);
            sqlite3_bind_int64(s, 2, INT64_MIN);
        }
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE && filter)
            continue; /* a chunk without a vector */
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            st = sx_db_error(c->db, rc, "vectors", err);
            break;
        }
        const float *vec = read_vector(c, s, 1, scratch, err);
        if (!vec)
            st = err ? err->status : SEMDEX_ERR_FORMAT;
        else
            topk_push(&t, sqlite3_column_int64(s, 0), sx_vec_score(c->metric, query, vec, c->dim));
    }
    if (s)
        sqlite3_reset(s);
    sx_free(scratch);
    if (st)
        return st;
    qsort(hits, t.n, sizeof *hits, cmp_hit);
    *n_hits = t.n;
    return SEMDEX_OK;
}

semdex_status sx_vindex_search(semdex_collection *c, const float *query, size_t k, size_t ef,
                               const sx_idset *filter, sx_hit *hits, size_t *n_hits, semdex_error *err)
{
    *n_hits = 0;
    sx_vindex *v = c->vindex;
    if (!v || !k)
        return SEMDEX_OK;
    int64_t *labels = sx_malloc(k * sizeof *labels);
    float *d = sx_malloc(k * sizeof *d);
    if (!labels || !d) {
        sx_free(labels);
        sx_free(d);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    }
    size_t n = hnsw_search(v->h, query, k, ef < k ? k : ef, filter ? idset_filter : NULL, (void *)filter, labels, d);
    for (size_t i = 0; i < n; i++)
        hits[i] = (sx_hit){labels[i], score_of(c->metric, d[i])};
    *n_hits = n;
    sx_free(labels);
    sx_free(d);
    return SEMDEX_OK;
}

static const char SQL_IMAGE_BYTES[] = "SELECT n_bytes FROM hnsw_images WHERE collection_id = ?1";
static const char SQL_PENDING[] =
    "SELECT (SELECT count(*) FROM vectors WHERE collection_id = ?1 AND chunk_id > "
    "  coalesce((SELECT high_water FROM hnsw_images WHERE collection_id = ?1), -9223372036854775808)) "
    "+ (SELECT count(*) FROM hnsw_deleted WHERE collection_id = ?1)";

semdex_status sx_vindex_pending(semdex_collection *c, size_t *pending, size_t *image_bytes, semdex_error *err)
{
    int64_t p = 0, b = 0;
    semdex_status st = sx_db_int(c->db, SQL_PENDING, 1, c->id, 0, 0, &p, err);
    if (!st)
        st = sx_db_int(c->db, SQL_IMAGE_BYTES, 1, c->id, 0, 0, &b, err);
    *pending = (size_t)p;
    *image_bytes = (size_t)b;
    return st;
}

static const char SQL_HIGH_WATER[] = "SELECT seq FROM sqlite_sequence WHERE name = 'chunks'";
static const char SQL_IMAGE_DEL[] = "DELETE FROM hnsw_images WHERE collection_id = ?1";
static const char SQL_LOG_DEL[] = "DELETE FROM hnsw_deleted WHERE collection_id = ?1";
static const char SQL_IMAGE_INS[] = "INSERT INTO hnsw_images(collection_id, high_water, n_vectors, n_bytes, n_parts, "
                                    "saved) VALUES (?1, ?2, ?3, ?4, ?5, strftime('%s', 'now'))";
static const char SQL_PART_INS[] = "INSERT INTO hnsw_image_parts(collection_id, part, data) VALUES (?1, ?2, ?3)";

static semdex_status step_done(semdex_db *db, sqlite3_stmt *s, const char *what, semdex_error *err)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SEMDEX_OK : sx_db_error(db, rc, what, err);
}

/* Writes the current graph as the image (inside the caller's write
 * transaction, the graph current with it). */
static semdex_status write_image(semdex_collection *c, semdex_error *err)
{
    semdex_db *db = c->db;
    int64_t hw = 0, ignored;
    semdex_status st = sx_db_int(db, SQL_HIGH_WATER, 0, 0, 0, 0, &hw, err);
    if (st)
        return st;
    size_t size = hnsw_save_size(c->vindex->h);
    unsigned char *buf = sx_malloc(size);
    if (!buf)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, "hnsw_images", -1,
                          "out of memory saving a %zu-byte HNSW image", size);
    st = hnsw_save(c->vindex->h, buf, size, err);
    size_t n_parts = (size + SX_IMAGE_PART_BYTES - 1) / SX_IMAGE_PART_BYTES;
    if (!st)
        st = sx_db_int(db, SQL_IMAGE_DEL, 1, c->id, 0, 0, &ignored, err);
    if (!st)
        st = sx_db_int(db, SQL_LOG_DEL, 1, c->id, 0, 0, &ignored, err);
    sqlite3_stmt *s = st ? NULL : sx_db_stmt(db, SQL_IMAGE_INS, err);
    if (!st && !s)
        st = err ? err->status : SEMDEX_ERR_IO;
    if (!st) {
        sqlite3_bind_int64(s, 1, c->id);
        sqlite3_bind_int64(s, 2, hw);
        sqlite3_bind_int64(s, 3, (int64_t)hnsw_count(c->vindex->h));
        sqlite3_bind_int64(s, 4, (int64_t)size);
        sqlite3_bind_int64(s, 5, (int64_t)n_parts);
        st = step_done(db, s, "hnsw_images", err);
    }
    for (size_t i = 0; !st && i < n_parts; i++) {
        if (!(s = sx_db_stmt(db, SQL_PART_INS, err))) {
            st = err ? err->status : SEMDEX_ERR_IO;
            break;
        }
        size_t off = i * SX_IMAGE_PART_BYTES, n = size - off < SX_IMAGE_PART_BYTES ? size - off : SX_IMAGE_PART_BYTES;
        sqlite3_bind_int64(s, 1, c->id);
        sqlite3_bind_int64(s, 2, (int64_t)i);
        sqlite3_bind_blob(s, 3, buf + off, (int)n, SQLITE_STATIC);
        st = step_done(db, s, "hnsw_image_parts", err);
    }
    sx_free(buf);
    return st;
}

/* Whether the image should be written: always, or when it lacks enough
 * changes (none saved yet counts as behind when there are vectors). */
static semdex_status want_save(semdex_collection *c, sx_save_mode mode, int *want, semdex_error *err)
{
    size_t pending = 0, bytes = 0;
    int64_t n = 0;
    semdex_status st = sx_vindex_pending(c, &pending, &bytes, err);
    if (!st)
        st = sx_db_int(c->db, SQL_COUNT, 1, c->id, 0, 0, &n, err);
    *want = !st && (mode == SX_SAVE_ALWAYS || (pending && (!bytes || pending * SAVE_RATIO >= (size_t)n)));
    return st;
}

semdex_status sx_vindex_save(semdex_collection *c, sx_save_mode mode, semdex_error *err)
{
    semdex_db *db = c->db;
    if (db->read_only || c->dropped || (mode == SX_SAVE_IF_LOADED && !c->vindex))
        return SEMDEX_OK;
    int want = 0;
    semdex_status st = mode == SX_SAVE_ALWAYS ? SEMDEX_OK : want_save(c, mode, &want, err);
    if (st || (mode != SX_SAVE_ALWAYS && !want))
        return st; /* checked without the write lock first: usually nothing to do */
    if ((st = sx_db_begin(db, 1, err)))
        return st;
    st = sx_collection_refresh(c, err);
    if (!st)
        st = want_save(c, mode, &want, err);
    if (!st && want && c->dim)
        st = sx_vindex_ensure(c, NULL, err); /* catches up with other writers */
    want = want && c->vindex;
    if (!st && want)
        st = write_image(c, err);
    if (st || !want) {
        sx_db_rollback(db);
        return st;
    }
    return sx_db_commit(db, err);
}

/* ------------------------------------------------------------- doctor */

typedef struct one_label {
    int64_t label;
} one_label;

static int only_label(int64_t label, void *ctx) { return label == ((one_label *)ctx)->label; }

static void report(void (*problem)(void *, const char *), void *ctx, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(void (*problem)(void *, const char *), void *ctx, size_t *n, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ++*n;
    if (problem)
        problem(ctx, line);
}

static const char SQL_IDS_UPTO[] =
    "SELECT chunk_id FROM vectors WHERE collection_id = ?1 AND chunk_id <= ?2 ORDER BY chunk_id";

/* Compares the image's labels with the vectors it should hold: those up to
 * the high-water mark, plus the logged deletions it still holds. */
static semdex_status check_labels(semdex_collection *c, hnsw_index *h, int64_t hw,
                                  void (*problem)(void *, const char *), void *ctx, size_t *n_problems,
                                  semdex_error *err)
{
    label_list l = {0}, del = {0};
    hnsw_foreach(h, collect_label, &l);
    semdex_status st = l.failed ? sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory") : 0;
    sqlite3_stmt *s = st ? NULL : sx_db_stmt(c->db, SQL_DELETED, err);
    if (!st && !s)
        st = err ? err->status : SEMDEX_ERR_IO;
    if (s) {
        sqlite3_bind_int64(s, 1, c->id);
        while (sqlite3_step(s) == SQLITE_ROW)
            collect_label(sqlite3_column_int64(s, 0), &del);
        sqlite3_reset(s);
    }
    if (!st && del.failed)
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    if (st) {
        sx_free(l.ids);
        sx_free(del.ids);
        return st;
    }
    if (l.n)
        qsort(l.ids, l.n, sizeof *l.ids, cmp_i64);
    if (del.n)
        qsort(del.ids, del.n, sizeof *del.ids, cmp_i64);
    sx_idset dset = {del.ids, del.n, del.cap};
    size_t i = 0, extra = 0, missing = 0;
    int64_t first_extra = 0, first_missing = 0;
    s = sx_db_stmt(c->db, SQL_IDS_UPTO, err);
    if (!s)
        st = err ? err->status : SEMDEX_ERR_IO;
    int rc = SQLITE_DONE;
    if (s) {
        sqlite3_bind_int64(s, 1, c->id);
        sqlite3_bind_int64(s, 2, hw);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(s, 0);
            for (; i < l.n && l.ids[i] < id; i++)
                if (!sx_idset_has(&dset, l.ids[i]) && !extra++)
                    first_extra = l.ids[i];
            if (i < l.n && l.ids[i] == id)
                i++;
            else if (!missing++)
                first_missing = id;
        }
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            st = sx_db_error(c->db, rc, "vectors", err);
    }
    for (; !st && i < l.n; i++)
        if (!sx_idset_has(&dset, l.ids[i]) && !extra++)
            first_extra = l.ids[i];
    if (!st && extra)
        report(problem, ctx, n_problems,
               "collection '%s': HNSW image holds %zu labels with no vector and no logged deletion (first: %lld)",
               c->name, extra, (long long)first_extra);
    if (!st && missing)
        report(problem, ctx, n_problems,
               "collection '%s': HNSW image lacks %zu vectors below its high-water mark %lld (first: %lld)", c->name,
               missing, (long long)hw, (long long)first_missing);
    /* Spot-check that labels carry their own vectors. */
    float *scratch = st ? NULL : sx_malloc(c->dim * sizeof(float));
    sqlite3_stmt *q = scratch ? sx_db_stmt(c->db, SQL_VECTOR_OF, err) : NULL;
    size_t step = l.n / 64 + 1, bad = 0;
    for (size_t j = 0; q && j < l.n; j += step) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, l.ids[j]);
        sqlite3_bind_int64(q, 2, c->id);
        if (sqlite3_step(q) != SQLITE_ROW)
            continue;
        const float *vec = read_vector(c, q, 1, scratch, NULL);
        if (!vec)
            continue;
        one_label ol = {l.ids[j]};
        int64_t got = 0;
        float d = 0;
        double want = c->metric == SEMDEX_METRIC_L2 ? 0.0 : 1.0 - (double)kern_dot(vec, vec, c->dim);
        if (c->metric == SEMDEX_METRIC_COSINE)
            want = 0.0;
        if (hnsw_search_exact(h, vec, 1, only_label, &ol, &got, &d) != 1 || got != l.ids[j] ||
            fabs((double)d - want) > 1e-3 * (1.0 + fabs(want)))
            bad++;
    }
    if (q)
        sqlite3_reset(q);
    if (bad)
        report(problem, ctx, n_problems, "collection '%s': %zu sampled HNSW labels do not hold their table vector",
               c->name, bad);
    sx_free(scratch);
    sx_free(l.ids);
    sx_free(del.ids);
    return st;
}

semdex_status sx_vindex_check(semdex_collection *c, void (*problem)(void *ctx, const char *line), void *ctx,
                              size_t *n_problems, semdex_error *err)
{
    int64_t hw = 0;
    void *buf = NULL;
    size_t size = 0;
    const char *damage = NULL;
    semdex_status st = read_image(c, &hw, &buf, &size, &damage, err);
    if (st)
        return st;
    if (damage) {
        report(problem, ctx, n_problems, "collection '%s': HNSW image damaged: %s (doctor --repair rebuilds it)",
               c->name, damage);
        return SEMDEX_OK;
    }
    if (!buf)
        return SEMDEX_OK; /* none saved yet: built from the vectors table when needed */
    semdex_error lerr = {0};
    hnsw_index *h = hnsw_load(buf, size, &lerr);
    sx_free(buf);
    if (!h) {
        char msg[600];
        report(problem, ctx, n_problems, "collection '%s': HNSW image damaged: %s (doctor --repair rebuilds it)",
               c->name, semdex_error_format(&lerr, msg, sizeof msg));
        return SEMDEX_OK;
    }
    if (hnsw_dim(h) != c->dim)
        report(problem, ctx, n_problems, "collection '%s': HNSW image of dimension %zu, collection has %zu", c->name,
               hnsw_dim(h), c->dim);
    else
        st = check_labels(c, h, hw, problem, ctx, n_problems, err);
    hnsw_free(h);
    return st;
}
