/* fuzz_common.c: encoding arbitrary bytes with a fixture tokenizer, shared
 * by the per-family harnesses. */
#include "fuzz.h"
#include "semdex.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENIZERS 8
static struct {
    const char *name;
    semdex_tokenizer *tok;
} loaded[MAX_TOKENIZERS];

static semdex_tokenizer *get(const char *name)
{
    for (int i = 0; i < MAX_TOKENIZERS; i++) {
        if (loaded[i].name && !strcmp(loaded[i].name, name))
            return loaded[i].tok;
        if (!loaded[i].name) {
            const char *fx = getenv("SEMDEX_FIXTURES");
            char path[1024];
            snprintf(path, sizeof path, "%s/tokenizers/%s", fx && *fx ? fx : "../shared/fixtures", name);
            semdex_error err = {0};
            if (semdex_tokenizer_load(path, &loaded[i].tok, &err)) {
                char buf[512];
                fprintf(stderr, "fuzz: cannot load %s: %s\n", path, semdex_error_format(&err, buf, sizeof buf));
                FUZZ_CHECK(!"fixture tokenizer loads");
                return NULL;
            }
            loaded[i].name = name;
            return loaded[i].tok;
        }
    }
    return NULL;
}

int fuzz_encode_with(const char *name, const uint8_t *data, size_t size)
{
    semdex_tokenizer *tok = get(name);
    if (!tok || size < 2)
        return 0;
    size_t max_length = data[0] & 0x3F; /* 0: no truncation */
    size_t split = data[1] % size;
    const char *text = (const char *)data + 2;
    size_t n = size - 2;
    semdex_encoding enc = {0};
    semdex_error err = {0};
    semdex_encode_options o = semdex_encode_options_default();
    o.max_length = max_length;
    o.add_special_tokens = !(data[0] & 0x40);
    for (int pass = 0; pass < 2; pass++) {
        size_t a = pass ? (split < n ? split : n) : n;
        semdex_status st = semdex_tokenizer_encode(tok, text, a, pass ? text + a : NULL, pass ? n - a : 0, &o, &enc, &err);
        if (st == SEMDEX_OK) {
            for (size_t i = 0; i < enc.n; i++) {
                FUZZ_CHECK(enc.ids[i] >= 0 && (size_t)enc.ids[i] < semdex_tokenizer_vocab_size(tok));
                size_t lim = enc.sequence_ids[i] == 1 ? n - a : a;
                /* offsets stay inside their text */
                FUZZ_CHECK(enc.offsets[i][0] <= enc.offsets[i][1] && enc.offsets[i][1] <= lim);
            }
            FUZZ_CHECK(!o.max_length || enc.n <= o.max_length);
            char *out = NULL;
            if (!semdex_tokenizer_decode(tok, enc.ids, enc.n, 1, &out, &err))
                free(out);
        } else {
            FUZZ_CHECK(st == SEMDEX_ERR_UTF8 || st == SEMDEX_ERR_INVALID_ARG);
        }
    }
    semdex_encoding_free(&enc);
    return 0;
}
