/* fuzz_filter.c: the --filter syntax (key=value, dotted keys) on arbitrary
 * bytes: it is accepted or refused with a message; whatever is accepted
 * runs against the metadata index of a small in-memory store without an
 * error; semdex_filter_parse agrees with the compiler. */
#include "fuzz.h"
#include "semdex.h"
#include "../src/store/store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const samples[] = {
    "{}",
    "{\"a\": \"x\", \"b\": 1, \"c\": [1, \"y\", true], \"d\": {\"e\": null, \"f\": 2.5}}",
    "{\"k\": \"\\u00e9\", \"n\": -0.0, \"t\": false, \"x\": [[1]], \"a.b\": \"dot\"}",
};

/* A store with one document per sample, made once. */
static semdex_collection *store(void)
{
    static semdex_db *db;
    static semdex_collection *c;
    if (c || db)
        return c;
    semdex_error err = {0};
    if (semdex_db_open(":memory:", NULL, &db, &err) || semdex_collection_get(db, "f", &(semdex_collection_options){
                                                            SEMDEX_METRIC_COSINE, {0}, 16, 200, 64}, &c, &err))
        return NULL;
    semdex_chunk_input ch = {"text", 4, -1, -1, NULL, NULL, 0};
    semdex_document_input docs[3];
    char ids[3][8];
    for (int i = 0; i < 3; i++) {
        snprintf(ids[i], sizeof ids[i], "d%d", i);
        docs[i] = (semdex_document_input){ids[i], NULL, samples[i], 0, 0, &ch, 1};
    }
    if (semdex_collection_add(c, docs, 3, NULL, &err))
        c = NULL;
    return c;
}

int fuzz_filter(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *eq = memchr(s, '=', size);
    size_t kn = eq ? (size_t)(eq - s) : size;
    const char *v = eq ? eq + 1 : "";
    size_t vn = eq ? size - kn - 1 : 0;
    semdex_error err = {0};
    sx_filter f;
    semdex_status st = sx_filter_compile(s, kn, v, vn, &f, &err);
    if (st) {
        FUZZ_CHECK(err.message[0]);
    } else {
        semdex_collection *c = store();
        FUZZ_CHECK(c);
        sx_idset ids = {0};
        semdex_error e = {0};
        FUZZ_CHECK(!c || !sx_filter_select(c, &f, 1, 0, &ids, &e));
        FUZZ_CHECK(ids.n <= 3);
        sx_idset_free(&ids);
        sx_filter_free(&f);
    }
    /* the public parser on the same bytes, when they make a C string */
    if (eq && !memchr(s, 0, size)) {
        char *buf = malloc(size + 1);
        if (buf) {
            memcpy(buf, s, size);
            buf[size] = 0;
            semdex_filter pf;
            semdex_status ps = semdex_filter_parse(buf, &pf, &err);
            FUZZ_CHECK((ps == SEMDEX_OK) == (st == SEMDEX_OK));
            free(buf);
        }
    }
    return 0;
}
FUZZ_ENTRY(fuzz_filter)
