/* fuzz_hnsw_image.c: hnsw_load on arbitrary bytes, as they are and with the
 * trailing checksum recomputed (so that mutations reach the structural
 * checks behind it).  A refused image must carry an error; an accepted one
 * must save back to the same bytes and survive searches, deletes and
 * inserts.  Seeds: small saved images (tests/test_hnsw.c writes them). */
#include "fuzz.h"
#include "../src/index/hnsw.h"
#include <stdlib.h>
#include <string.h>

static void exercise(const uint8_t *data, size_t size)
{
    semdex_error err = {0};
    hnsw_index *h = hnsw_load(data, size, &err);
    if (!h) {
        FUZZ_CHECK(err.status != SEMDEX_OK);
        return;
    }
    size_t n = hnsw_save_size(h);
    FUZZ_CHECK(n == size);
    uint8_t *again = malloc(n ? n : 1);
    if (again) {
        FUZZ_CHECK(hnsw_save(h, again, n, &err) == SEMDEX_OK);
        FUZZ_CHECK(!memcmp(again, data, n));
        free(again);
    }
    size_t dim = hnsw_dim(h);
    float *q = calloc(dim, sizeof *q);
    if (q) {
        for (size_t i = 0; i < dim; i++)
            q[i] = (float)(i % 3) - 0.5f;
        int64_t lab[8];
        float d[8];
        size_t got = hnsw_search(h, q, 8, 16, NULL, NULL, lab, d);
        FUZZ_CHECK(got <= hnsw_count(h));
        for (size_t i = 0; i < got; i++)
            FUZZ_CHECK(hnsw_contains(h, lab[i]) && (i == 0 || d[i] >= d[i - 1]));
        got = hnsw_search_exact(h, q, 8, NULL, NULL, lab, d);
        FUZZ_CHECK(got == (hnsw_count(h) < 8 ? hnsw_count(h) : 8));
        if (got) {
            FUZZ_CHECK(hnsw_delete(h, lab[0]) == 1);
            FUZZ_CHECK(!hnsw_contains(h, lab[0]));
        }
        for (int64_t i = 0; i < 4; i++) {
            q[i % dim] += 1.0f;
            FUZZ_CHECK(hnsw_add(h, INT64_MIN + i, q, &err) == SEMDEX_OK);
        }
        hnsw_search(h, q, 8, 16, NULL, NULL, lab, d);
        free(q);
    }
    hnsw_free(h);
}

int fuzz_hnsw_image(const uint8_t *data, size_t size)
{
    exercise(data, size);
    if (size < 4 || size > (1u << 20))
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint32_t c = hnsw_checksum(copy, size - 4);
    memcpy(copy + size - 4, &c, 4);
    exercise(copy, size);
    free(copy);
    return 0;
}
FUZZ_ENTRY(fuzz_hnsw_image)
