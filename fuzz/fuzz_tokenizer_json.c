/* fuzz_tokenizer_json.c: loading tokenizer.json from arbitrary bytes (the
 * corpus holds small but complete tokenizers of every family), then
 * encoding a fixed text with whatever loaded. */
#include "fuzz.h"
#include "semdex.h"
#include <stdlib.h>
#include <string.h>

int fuzz_tokenizer_json(const uint8_t *data, size_t size)
{
    semdex_error err = {0};
    semdex_tokenizer *tok = NULL;
    if (semdex_tokenizer_load_json((const char *)data, size, "fuzz.json", &tok, &err)) {
        FUZZ_CHECK(!tok && err.message[0]); /* a failure leaves no object and says why */
        return 0;
    }
    static const char *const texts[] = {"Hello, world! 你好世界 [CLS] <s> é ﬁ", "", "  ", "a\xcc\x81 \xe2\x80\x8b x"};
    semdex_encoding enc = {0};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        semdex_encode_options o = semdex_encode_options_default();
        o.max_length = i == 3 ? 4 : 0;
        if (!semdex_tokenizer_encode(tok, texts[i], strlen(texts[i]), i == 2 ? "pair" : NULL, i == 2 ? 4 : 0, &o,
                                     &enc, &err)) {
            char *out = NULL;
            if (!semdex_tokenizer_decode(tok, enc.ids, enc.n, i & 1, &out, &err))
                free(out);
        }
    }
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(tok);
    return 0;
}
FUZZ_ENTRY(fuzz_tokenizer_json)
