/* hnsw_vecs.c: .fvecs/.bvecs/.ivecs reader with size checks (see
 * hnsw_vecs.h).  Knows nothing of the graph. */
#include "hnsw_vecs.h"
#include "alloc.h"
#include "err.h"
#include <stdio.h>
#include <string.h>

static const size_t value_size[HNSW_VECS_KIND_COUNT] = {4, 1, 4};

semdex_status hnsw_vecs_parse(const void *buf, size_t size, hnsw_vecs_kind kind, hnsw_vecs *out,
                              semdex_error *err)
{
    if (!out || (unsigned)kind >= HNSW_VECS_KIND_COUNT || (!buf && size))
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "vecs: bad argument");
    memset(out, 0, sizeof *out);
    if (!size)
        return SEMDEX_OK;
    const uint8_t *p = buf;
    if (size < 4)
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "dim", 0, "truncated record header");
    int32_t d32;
    memcpy(&d32, p, 4);
    if (d32 <= 0 || d32 > HNSW_VECS_MAX_DIM)
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "dim", 0, "bad dimension %d (1..%d)", (int)d32,
                          HNSW_VECS_MAX_DIM);
    size_t dim = (size_t)d32, rec = 4 + dim * value_size[kind];
    if (size % rec)
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, NULL, (int64_t)(size - size % rec),
                          "%zu bytes is not a whole number of %zu-byte records (dimension %zu)", size, rec, dim);
    size_t n = size / rec;
    void *data = kind == HNSW_VECS_I32 ? (void *)sx_malloc(n * dim * sizeof(int32_t))
                                       : (void *)sx_malloc(n * dim * sizeof(float));
    if (!data)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "vecs: %zu x %zu values", n, dim);
    for (size_t r = 0; r < n; r++) {
        const uint8_t *q = p + r * rec;
        int32_t dr;
        memcpy(&dr, q, 4);
        if (dr != d32) {
            sx_free(data);
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "dim", (int64_t)(r * rec),
                              "record %zu has dimension %d, the first has %zu", r, (int)dr, dim);
        }
        q += 4;
        if (kind == HNSW_VECS_U8) {
            float *f = (float *)data + r * dim;
            for (size_t j = 0; j < dim; j++)
                f[j] = q[j];
        } else {
            memcpy((char *)data + r * dim * 4, q, dim * 4);
        }
    }
    out->n = n;
    out->dim = dim;
    if (kind == HNSW_VECS_I32)
        out->i = data;
    else
        out->f = data;
    return SEMDEX_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

semdex_status hnsw_vecs_read(const char *path, hnsw_vecs *out, semdex_error *err)
{
    if (!path || !out)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "vecs: NULL argument");
    hnsw_vecs_kind kind = ends_with(path, ".fvecs")   ? HNSW_VECS_F32
                          : ends_with(path, ".bvecs") ? HNSW_VECS_U8
                          : ends_with(path, ".ivecs") ? HNSW_VECS_I32
                                                      : HNSW_VECS_KIND_COUNT;
    if (kind == HNSW_VECS_KIND_COUNT)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, path, NULL, -1, "not a .fvecs, .bvecs or .ivecs file");
    FILE *f = fopen(path, "rb");
    if (!f)
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "cannot open");
    long size = -1;
    if (!fseek(f, 0, SEEK_END))
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "cannot seek");
    }
    uint8_t *buf = sx_malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, path, NULL, -1, "%ld bytes", size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        sx_free(buf);
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, (int64_t)got, "short read");
    }
    semdex_status st = hnsw_vecs_parse(buf, (size_t)size, kind, out, err);
    sx_free(buf);
    if (st)
        sx_err_set_file(err, path);
    return st;
}

void hnsw_vecs_free(hnsw_vecs *v)
{
    if (!v)
        return;
    sx_free(v->f);
    sx_free(v->i);
    v->f = NULL;
    v->i = NULL;
    v->n = v->dim = 0;
}
