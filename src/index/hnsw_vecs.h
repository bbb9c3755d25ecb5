/* hnsw_vecs.h: a reader of the TEXMEX vector files used by ANN benchmarks
 * (.fvecs float32, .bvecs uint8, .ivecs int32: each record is an int32
 * little-endian dimension followed by that many values).  Used by the ANN
 * benchmark (semdex bench ann) and the tests; knows nothing of the graph. */
#ifndef SX_HNSW_VECS_H
#define SX_HNSW_VECS_H
#include <stddef.h>
#include <stdint.h>
#include "semdex.h"

typedef enum hnsw_vecs_kind { HNSW_VECS_F32, HNSW_VECS_U8, HNSW_VECS_I32, HNSW_VECS_KIND_COUNT } hnsw_vecs_kind;

#define HNSW_VECS_MAX_DIM 65536

/* n records of dim values: fvecs and bvecs become float32 (f), ivecs int32
 * (i); the other pointer is NULL.  Free with hnsw_vecs_free. */
typedef struct hnsw_vecs {
    size_t n, dim;
    float *f;   /* [n x dim] */
    int32_t *i; /* [n x dim] */
} hnsw_vecs;

/* Parses a whole file image.  Every record must have the first record's
 * dimension (1..HNSW_VECS_MAX_DIM) and the size must be a whole number of
 * records; errors name the byte offset.  An empty image is 0 records. */
semdex_status hnsw_vecs_parse(const void *buf, size_t size, hnsw_vecs_kind kind, hnsw_vecs *out,
                              semdex_error *err);
/* Reads a file; the kind comes from its extension (.fvecs, .bvecs, .ivecs). */
semdex_status hnsw_vecs_read(const char *path, hnsw_vecs *out, semdex_error *err);
void hnsw_vecs_free(hnsw_vecs *v);

#endif
