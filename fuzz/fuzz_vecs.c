/* fuzz_vecs.c: the .fvecs/.bvecs/.ivecs reader (src/index/hnsw_vecs.h) on
 * arbitrary bytes, as each of the three kinds: it must refuse with an offset
 * inside the input or return whole records. */
#include "fuzz.h"
#include "../src/index/hnsw_vecs.h"

int fuzz_vecs(const uint8_t *data, size_t size)
{
    for (int kind = 0; kind < HNSW_VECS_KIND_COUNT; kind++) {
        hnsw_vecs v;
        semdex_error err = {0};
        if (hnsw_vecs_parse(data, size, (hnsw_vecs_kind)kind, &v, &err)) {
            FUZZ_CHECK(err.offset >= 0 && (size_t)err.offset <= size);
            continue;
        }
        size_t value = kind == HNSW_VECS_U8 ? 1 : 4;
        FUZZ_CHECK(v.n * (4 + v.dim * value) == size);
        if (v.n) {
            /* touch the last value */
            volatile float f = kind == HNSW_VECS_I32 ? (float)v.i[v.n * v.dim - 1] : v.f[v.n * v.dim - 1];
            (void)f;
        }
        hnsw_vecs_free(&v);
    }
    return 0;
}
FUZZ_ENTRY(fuzz_vecs)
