/* collection.c: collections: create, look up, drop, describe, and the rule
 * that a collection refuses vectors of another dimension or model.  The
 * handles are cached in their semdex_db and live until it closes. */
#include "store.h"
#include "alloc.h"
#include "err.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const metric_names[] = {
    [SEMDEX_METRIC_COSINE] = "cosine",
    [SEMDEX_METRIC_DOT] = "dot",
    [SEMDEX_METRIC_L2] = "l2",
};
_Static_assert(sizeof metric_names / sizeof metric_names[0] == SEMDEX_METRIC_COUNT, "every metric has a name");

const char *semdex_metric_name(semdex_metric metric)
{
    return (unsigned)metric < SEMDEX_METRIC_COUNT ? metric_names[metric] : NULL;
}

int semdex_metric_parse(const char *name)
{
    for (int i = 0; name && i < SEMDEX_METRIC_COUNT; i++)
        if (!strcmp(name, metric_names[i]))
            return i;
    return -1;
}

semdex_model_identity semdex_model_identity_of(const semdex_model_info *info)
{
    semdex_model_identity m = {0};
    if (!info)
        return m;
    m.model = info->path;
    m.dim = info->dim;
    m.pooling = info->pooling;
    m.normalize = info->normalize;
    m.weights_hash = info->weights_hash;
    return m;
}

semdex_collection_options semdex_collection_options_default(void)
{
    semdex_collection_options o = {0};
    o.metric = SEMDEX_METRIC_COSINE;
    o.hnsw_M = 16;
    o.hnsw_ef_construction = 200;
    o.hnsw_ef_search = 64;
    return o;
}

void sx_collection_release_indexes(semdex_collection *c)
{
    sx_vindex_free(c->vindex);
    c->vindex = NULL;
    sx_keyword_free(c->keyword);
    c->keyword = NULL;
}

void sx_collection_free(semdex_collection *c)
{
    if (!c)
        return;
    sx_collection_release_indexes(c);
    sx_free(c->name);
    sx_free(c->model);
    sx_free(c->pooling);
    sx_free(c->info_model);
    sx_free(c->info_pooling);
    sx_free(c);
}

static int has_model(const char *s) { return s && *s; }

static char *dup_col(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? sx_strndup((const char *)t, (size_t)sqlite3_column_bytes(s, col)) : NULL;
}

static const char SQL_ROW[] = "SELECT id, metric, dim, model, pooling, normalize, weights_hash, hnsw_m, "
                              "hnsw_ef_construction, hnsw_ef_search, change_seq, created "
                              "FROM collections WHERE name = ?1";

/* Reads the row of c->name into c; *found = 0 when there is none. */
static semdex_status read_row(semdex_collection *c, int *found, semdex_error *err)
{
    semdex_db *db = c->db;
    sqlite3_stmt *s = sx_db_stmt(db, SQL_ROW, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    sqlite3_bind_text(s, 1, c->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return rc == SQLITE_DONE ? SEMDEX_OK : sx_db_error(db, rc, "collections", err);
    }
    int metric = semdex_metric_parse((const char *)sqlite3_column_text(s, 1));
    int64_t dim = sqlite3_column_int64(s, 2);
    int64_t m = sqlite3_column_int64(s, 7), efc = sqlite3_column_int64(s, 8), efs = sqlite3_column_int64(s, 9);
    if (metric < 0 || dim < 0 || dim > SX_MAX_DIM || m < 2 || m > 1024 || efc < 1 || efs < 1) {
        sqlite3_reset(s);
        return sx_err_set(err, SEMDEX_ERR_FORMAT, db->path, "collections", -1,
                          "collection '%s': bad metric, dimension or HNSW parameters in its row", c->name);
    }
    c->id = sqlite3_column_int64(s, 0);
    c->metric = (semdex_metric)metric;
    c->dim = (size_t)dim;
    sx_free(c->model);
    sx_free(c->pooling);
    c->model = dup_col(s, 3);
    c->pooling = dup_col(s, 4);
    c->normalize = sqlite3_column_int(s, 5) != 0;
    const char *wh = (const char *)sqlite3_column_text(s, 6);
    c->weights_hash = wh ? strtoull(wh, NULL, 16) : 0;
    c->hnsw_M = (size_t)m;
    c->hnsw_ef_construction = (size_t)efc;
    c->hnsw_ef_search = (size_t)efs;
    c->change_seq = sqlite3_column_int64(s, 10);
    c->created = sqlite3_column_int64(s, 11);
    sqlite3_reset(s);
    return SEMDEX_OK;
}

semdex_status sx_collection_refresh(semdex_collection *c, semdex_error *err)
{
    int found = 0;
    int64_t old_id = c->id;
    semdex_status st = read_row(c, &found, err);
    if (st)
        return st;
    if (!found || c->id != old_id) {
        /* dropped (and maybe re-created) by another writer */
        c->dropped = !found;
        sx_collection_release_indexes(c);
        if (!found)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, c->db->path, "collection", -1,
                              "collection '%s' no longer exists", c->name);
    }
    return SEMDEX_OK;
}

static const char SQL_BUMP[] = "UPDATE collections SET change_seq = change_seq + 1 WHERE id = ?1";

semdex_status sx_collection_bump(semdex_collection *c, semdex_error *err)
{
    sqlite3_stmt *s = sx_db_stmt(c->db, SQL_BUMP, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    sqlite3_bind_int64(s, 1, c->id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return sx_db_error(c->db, rc, "collections", err);
    c->change_seq++;
    return SEMDEX_OK;
}

static int same_str(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static const char SQL_ADOPT[] = "UPDATE collections SET dim = ?2, model = ?3, pooling = ?4, normalize = ?5, "
                                "weights_hash = ?6 WHERE id = ?1";
static const char SQL_N_VECTORS[] = "SELECT count(*) FROM vectors WHERE collection_id = ?1";

/* Two identities name the same model when their weights hash agrees (the
 * path may have moved), or, without hashes, their names do; pooling and
 * normalization change the vectors, so they must agree too. */
static int same_model(const semdex_collection *c, const semdex_model_identity *m)
{
    if (c->weights_hash && m->weights_hash) {
        if (c->weights_hash != m->weights_hash)
            return 0;
    } else if (!same_str(c->model, m->model)) {
        return 0;
    }
    return same_str(c->pooling, m->pooling) && (c->normalize != 0) == (m->normalize != 0);
}

semdex_status sx_collection_accept_vectors(semdex_collection *c, const semdex_model_identity *from, size_t dim,
                                           semdex_error *err)
{
    semdex_db *db = c->db;
    const char *path = db->path;
    int from_model = from && has_model(from->model);
    if (from && from->dim && from->dim != dim)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "vector", -1,
                          "vectors of dimension %zu do not match their model's dimension %zu", dim, from->dim);
    if (c->dim && c->dim != dim)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "vector", -1,
                          "vector of dimension %zu, collection '%s' holds dimension %zu", dim, c->name, c->dim);
    if (has_model(c->model) && !from_model)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "vector", -1,
                          "collection '%s' holds vectors of model %s; vectors from outside are refused "
                          "(embed with that model)", c->name, c->model);
    if (has_model(c->model) && !same_model(c, from))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "vector", -1,
                          "collection '%s' holds vectors of model %s (%s pooling%s, weights %016" PRIx64
                          "); these come from %s (%s pooling%s, weights %016" PRIx64 ")",
                          c->name, c->model, c->pooling ? c->pooling : "unknown", c->normalize ? ", normalized" : "",
                          c->weights_hash, from->model, from->pooling ? from->pooling : "unknown",
                          from->normalize ? ", normalized" : "", from->weights_hash);
    if (c->dim && (has_model(c->model) || !from_model))
        return SEMDEX_OK;
    /* The first vectors fix the dimension, and the model when they come
     * from one; a collection that already holds outside vectors keeps them
     * apart from a model's. */
    if (!has_model(c->model) && from_model) {
        int64_t n = 0;
        semdex_status st = sx_db_int(db, SQL_N_VECTORS, 1, c->id, 0, 0, &n, err);
        if (st)
            return st;
        if (n > 0)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "vector", -1,
                              "collection '%s' holds vectors from outside semdex; vectors of model %s are "
                              "refused (use another collection)", c->name, from->model);
    }
    sqlite3_stmt *s = sx_db_stmt(db, SQL_ADOPT, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    char hash[17] = "";
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_int64(s, 2, (int64_t)dim);
    if (from_model) {
        sqlite3_bind_text(s, 3, from->model, -1, SQLITE_STATIC);
        if (from->pooling)
            sqlite3_bind_text(s, 4, from->pooling, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 5, from->normalize != 0);
        if (from->weights_hash) {
            snprintf(hash, sizeof hash, "%016" PRIx64, from->weights_hash);
            sqlite3_bind_text(s, 6, hash, -1, SQLITE_STATIC);
        }
    } else {
        sqlite3_bind_int(s, 5, 0);
    }
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return sx_db_error(db, rc, "collections", err);
    return sx_collection_refresh(c, err);
}

static semdex_status check_name(const char *path, const char *name, semdex_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (!n || n > SX_MAX_NAME)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "collection", -1,
                          "a collection name has 1 to %d bytes", SX_MAX_NAME);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20)
            return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "collection", (int64_t)i,
                              "control character in collection name");
    return SEMDEX_OK;
}

static semdex_status check_options(const char *path, const semdex_collection_options *o, semdex_error *err)
{
    if ((unsigned)o->metric >= SEMDEX_METRIC_COUNT)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "metric", -1, "unknown metric %d", (int)o->metric);
    if (o->model.dim > SX_MAX_DIM)
        return sx_err_set(err, SEMDEX_ERR_LIMIT, path, "dim", -1, "dimension %zu above %d", o->model.dim,
                          SX_MAX_DIM);
    if (o->hnsw_M < 2 || o->hnsw_M > 1024)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "hnsw_M", -1, "M must be 2..1024, got %zu", o->hnsw_M);
    if (o->hnsw_ef_construction < 1 || o->hnsw_ef_construction > 100000 || o->hnsw_ef_search < 1 ||
        o->hnsw_ef_search > 100000)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, "hnsw_ef", -1, "ef values must be 1..100000");
    return SEMDEX_OK;
}

static semdex_collection *cached(semdex_db *db, const char *name)
{
    for (size_t i = 0; i < db->n_colls; i++)
        if (!db->colls[i]->dropped && !strcmp(db->colls[i]->name, name))
            return db->colls[i];
    return NULL;
}

static semdex_status new_handle(semdex_db *db, const char *name, semdex_collection **out, semdex_error *err)
{
    semdex_collection *c = sx_calloc(1, sizeof *c);
    if (!c || !(c->name = sx_strndup(name, strlen(name))) || SX_GROW(db->colls, db->cap_colls, db->n_colls + 1)) {
        sx_collection_free(c);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
    }
    c->db = db;
    *out = c;
    return SEMDEX_OK;
}

static const char SQL_INSERT[] =
    "INSERT INTO collections(name, metric, dim, model, pooling, normalize, weights_hash, hnsw_m, "
    "hnsw_ef_construction, hnsw_ef_search, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

static semdex_status insert_row(semdex_db *db, const char *name, const semdex_collection_options *o,
                                semdex_error *err)
{
    sqlite3_stmt *s = sx_db_stmt(db, SQL_INSERT, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    char hash[17] = "";
    int model = has_model(o->model.model);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, semdex_metric_name(o->metric), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)o->model.dim);
    if (model) {
        sqlite3_bind_text(s, 4, o->model.model, -1, SQLITE_STATIC);
        if (o->model.pooling)
            sqlite3_bind_text(s, 5, o->model.pooling, -1, SQLITE_STATIC);
        if (o->model.weights_hash) {
            snprintf(hash, sizeof hash, "%016" PRIx64, o->model.weights_hash);
            sqlite3_bind_text(s, 7, hash, -1, SQLITE_STATIC);
        }
    }
    sqlite3_bind_int(s, 6, model && o->model.normalize);
    sqlite3_bind_int64(s, 8, (int64_t)o->hnsw_M);
    sqlite3_bind_int64(s, 9, (int64_t)o->hnsw_ef_construction);
    sqlite3_bind_int64(s, 10, (int64_t)o->hnsw_ef_search);
    sqlite3_bind_int64(s, 11, (int64_t)time(NULL));
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, db->path, "collection", -1, "collection '%s' already exists",
                          name);
    if (rc != SQLITE_DONE)
        return sx_db_error(db, rc, "collections", err);
    return SEMDEX_OK;
}

/* Looks name up; creates it with o when missing (o non-NULL) or when
 * must_create (then an existing one is an error). */
static semdex_status get_or_create(semdex_db *db, const char *name, const semdex_collection_options *o,
                                   int must_create, semdex_collection **out, semdex_error *err)
{
    *out = NULL;
    semdex_status st = check_name(db ? db->path : NULL, name, err);
    if (!st && !db)
        st = sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "no database");
    if (!st && o)
        st = check_options(db->path, o, err);
    if (st)
        return st;
    semdex_collection *c = cached(db, name);
    if (c && !must_create) {
        st = sx_collection_refresh(c, err);
        if (!st) {
            *out = c;
            return SEMDEX_OK;
        }
        if (!c->dropped || !o)
            return st;
    }
    if ((st = new_handle(db, name, &c, err)))
        return st;
    int found = 0;
    st = read_row(c, &found, err);
    if (!st && found && must_create)
        st = sx_err_set(err, SEMDEX_ERR_INVALID_ARG, db->path, "collection", -1, "collection '%s' already exists",
                        name);
    if (!st && !found && !o)
        st = sx_err_set(err, SEMDEX_ERR_INVALID_ARG, db->path, "collection", -1, "no collection named '%s'", name);
    if (!st && !found) {
        st = sx_db_begin(db, 1, err);
        if (!st)
            st = read_row(c, &found, err); /* another process may have created it */
        if (!st && found && must_create)
            st = sx_err_set(err, SEMDEX_ERR_INVALID_ARG, db->path, "collection", -1,
                            "collection '%s' already exists", name);
        if (!st && !found)
            st = insert_row(db, name, o, err);
        if (!st)
            st = read_row(c, &found, err);
        if (!st)
            st = sx_keyword_create(c, err);
        if (!st)
            st = sx_db_commit(db, err);
        else
            sx_db_rollback(db);
    }
    if (st) {
        sx_collection_free(c);
        return st;
    }
    db->colls[db->n_colls++] = c;
    *out = c;
    return SEMDEX_OK;
}

semdex_status semdex_collection_create(semdex_db *db, const char *name, const semdex_collection_options *opts,
                                       semdex_collection **out, semdex_error *err)
{
    semdex_collection_options o = opts ? *opts : semdex_collection_options_default();
    return get_or_create(db, name, &o, 1, out, err);
}

semdex_status semdex_collection_get(semdex_db *db, const char *name, const semdex_collection_options *create_opts,
                                    semdex_collection **out, semdex_error *err)
{
    return get_or_create(db, name, create_opts, 0, out, err);
}

static const char SQL_DROP[] = "DELETE FROM collections WHERE id = ?1";
static const char SQL_DROP_LOG[] = "DELETE FROM hnsw_deleted WHERE collection_id = ?1";

semdex_status semdex_collection_drop(semdex_db *db, const char *name, semdex_error *err)
{
    semdex_collection *c = NULL;
    semdex_status st = semdex_collection_get(db, name, NULL, &c, err);
    if (st)
        return st;
    if ((st = sx_db_begin(db, 1, err)))
        return st;
    st = sx_collection_refresh(c, err);
    /* The keyword tables are not reached by foreign keys. */
    if (!st)
        st = sx_keyword_drop(c, err);
    sqlite3_stmt *d = st ? NULL : sx_db_stmt(db, SQL_DROP, err);
    if (d) {
        sqlite3_bind_int64(d, 1, c->id);
        int rc = sqlite3_step(d);
        sqlite3_reset(d);
        if (rc != SQLITE_DONE)
            st = sx_db_error(db, rc, "collections", err);
    } else if (!st) {
        st = err ? err->status : SEMDEX_ERR_IO;
    }
    int64_t ignored;
    if (!st)
        st = sx_db_int(db, SQL_DROP_LOG, 1, c->id, 0, 0, &ignored, err);
    if (!st)
        st = sx_db_commit(db, err);
    else
        sx_db_rollback(db);
    if (!st) {
        c->dropped = 1;
        sx_collection_release_indexes(c);
    }
    return st;
}

static const char SQL_COUNTS[] =
    "SELECT (SELECT count(*) FROM documents WHERE collection_id = ?1), "
    "(SELECT count(*) FROM chunks c JOIN documents d ON c.doc_id = d.id WHERE d.collection_id = ?1), "
    "(SELECT count(*) FROM vectors WHERE collection_id = ?1)";

semdex_status semdex_collection_get_info(semdex_collection *c, semdex_collection_info *info, semdex_error *err)
{
    memset(info, 0, sizeof *info);
    if (!c || c->dropped)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "collection", -1, "collection was dropped");
    semdex_db *db = c->db;
    semdex_status st = sx_db_begin(db, 0, err);
    if (st)
        return st;
    st = sx_collection_refresh(c, err);
    sqlite3_stmt *s = st ? NULL : sx_db_stmt(db, SQL_COUNTS, err);
    if (s) {
        sqlite3_bind_int64(s, 1, c->id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            info->n_documents = (size_t)sqlite3_column_int64(s, 0);
            info->n_chunks = (size_t)sqlite3_column_int64(s, 1);
            info->n_vectors = (size_t)sqlite3_column_int64(s, 2);
        } else {
            st = sx_db_error(db, rc, "collections", err);
        }
        sqlite3_reset(s);
    } else if (!st) {
        st = err ? err->status : SEMDEX_ERR_IO;
    }
    if (!st)
        st = sx_vindex_pending(c, &info->index_pending, &info->index_image_bytes, err);
    sx_db_rollback(db);
    if (st)
        return st;
    sx_free(c->info_model);
    sx_free(c->info_pooling);
    c->info_model = c->model ? sx_strndup(c->model, strlen(c->model)) : NULL;
    c->info_pooling = c->pooling ? sx_strndup(c->pooling, strlen(c->pooling)) : NULL;
    info->name = c->name;
    info->metric = c->metric;
    info->model.model = c->info_model;
    info->model.dim = c->dim;
    info->model.pooling = c->info_pooling;
    info->model.normalize = c->normalize;
    info->model.weights_hash = c->weights_hash;
    info->hnsw_M = c->hnsw_M;
    info->hnsw_ef_construction = c->hnsw_ef_construction;
    info->hnsw_ef_search = c->hnsw_ef_search;
    info->created = c->created;
    return SEMDEX_OK;
}

static const char SQL_NAMES[] = "SELECT name FROM collections ORDER BY name";

semdex_status sx_collection_all(semdex_db *db, semdex_collection ***out, size_t *n, semdex_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = sx_db_stmt(db, SQL_NAMES, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    char **names = NULL;
    size_t nn = 0, cap = 0;
    semdex_status st = SEMDEX_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        char *d = t ? sx_strndup(t, strlen(t)) : NULL;
        if (!d || SX_GROW(names, cap, nn + 1)) {
            sx_free(d);
            st = sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
            break;
        }
        names[nn++] = d;
    }
    sqlite3_reset(s);
    if (!st && rc != SQLITE_DONE)
        st = sx_db_error(db, rc, "collections", err);
    semdex_collection **cs = st || !nn ? NULL : sx_malloc(nn * sizeof *cs);
    if (!st && nn && !cs)
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
    size_t k = 0;
    for (size_t i = 0; !st && i < nn; i++) {
        semdex_error e = {0};
        /* a collection dropped since the listing is left out */
        if (!semdex_collection_get(db, names[i], NULL, &cs[k], &e))
            k++;
        else if (e.status != SEMDEX_ERR_INVALID_ARG)
            st = err ? (*err = e, e.status) : e.status;
    }
    for (size_t i = 0; i < nn; i++)
        sx_free(names[i]);
    sx_free(names);
    if (st) {
        sx_free(cs);
        return st;
    }
    *out = cs;
    *n = k;
    return SEMDEX_OK;
}
