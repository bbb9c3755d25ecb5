/* stats.c: statistics of a whole store (semdex_db_get_stats): file sizes,
 * schema version, and every collection's counts, model and index state. */
#include "store.h"
#include "alloc.h"
#include "err.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct stats_mem {
    char **strs;
    size_t n, cap;
} stats_mem;

static const char *keep(stats_mem *m, const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *d = NULL;
    if (SX_GROW(m->strs, m->cap, m->n + 1) || !(d = sx_strndup(s, strlen(s)))) {
        *failed = 1;
        return NULL;
    }
    m->strs[m->n++] = d;
    return d;
}

void semdex_db_stats_free(semdex_db_stats *s)
{
    if (!s)
        return;
    stats_mem *m = s->internal;
    for (size_t i = 0; m && i < m->n; i++)
        sx_free(m->strs[i]);
    if (m)
        sx_free(m->strs);
    sx_free(m);
    sx_free(s->collections);
    memset(s, 0, sizeof *s);
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

semdex_status semdex_db_get_stats(semdex_db *db, semdex_db_stats *out, semdex_error *err)
{
    memset(out, 0, sizeof *out);
    if (!db)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "no database");
    stats_mem *m = sx_calloc(1, sizeof *m);
    if (!m)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
    out->internal = m;
    int64_t v = 0;
    semdex_status st = sx_db_int(db, "PRAGMA user_version", 0, 0, 0, 0, &v, err);
    out->schema_version = (int)v;
    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", db->path);
    out->file_bytes = file_size(db->path);
    out->wal_bytes = file_size(wal);
    semdex_collection **cs = NULL;
    size_t n = 0;
    if (!st)
        st = sx_collection_all(db, &cs, &n, err);
    if (!st && n && !(out->collections = sx_calloc(n, sizeof *out->collections)))
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
    int failed = 0;
    for (size_t i = 0; !st && i < n; i++) {
        semdex_collection_info *ci = &out->collections[out->n_collections];
        if ((st = semdex_collection_get_info(cs[i], ci, err)))
            break;
        ci->name = keep(m, ci->name, &failed);
        ci->model.model = keep(m, ci->model.model, &failed);
        ci->model.pooling = keep(m, ci->model.pooling, &failed);
        out->n_collections++;
    }
    sx_free(cs);
    if (!st && failed)
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
    if (st)
        semdex_db_stats_free(out);
    return st;
}
