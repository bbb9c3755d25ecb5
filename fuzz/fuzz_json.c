/* fuzz_json.c: the JSON reader on arbitrary bytes: it must accept or refuse
 * with an offset inside the input, never crash, and a parsed document must
 * be walkable. */
#include "fuzz.h"
#include "json.h"
#include <stdlib.h>

static size_t walk(const json_value *v, int depth)
{
    size_t n = 1;
    FUZZ_CHECK(depth <= JSON_MAX_DEPTH + 1);
    if (v->type == JSON_ARRAY)
        for (uint32_t i = 0; i < v->n; i++)
            n += walk(json_arr_at(v, i), depth + 1);
    if (v->type == JSON_OBJECT)
        for (uint32_t i = 0; i < v->n; i++)
            n += walk(json_obj_val(v, i), depth + 1);
    return n;
}

int fuzz_json(const uint8_t *data, size_t size)
{
    semdex_error err = {0};
    json_doc *doc = json_parse((const char *)data, size, &err);
    if (!doc) {
        FUZZ_CHECK(err.offset >= 0 && (size_t)err.offset <= size); /* an error points inside the input */
        return 0;
    }
    walk(json_doc_root(doc), 0);
    json_doc_free(doc);
    return 0;
}
FUZZ_ENTRY(fuzz_json)
