/* targets.c: the list of fuzz targets replayed by the test runner. */
#include "fuzz.h"

const fuzz_target fuzz_targets[] = {
    {"fuzz_json", fuzz_json},
    {"fuzz_tokenizer_json", fuzz_tokenizer_json},
    {"fuzz_wordpiece", fuzz_wordpiece},
    {"fuzz_unigram", fuzz_unigram},
    {"fuzz_bpe", fuzz_bpe},
    {0, 0},
};
