/* targets.c: the list of fuzz targets replayed by the test runner. */
#include "fuzz.h"

const fuzz_target fuzz_targets[] = {
    {"fuzz_json", fuzz_json},
    {"fuzz_tokenizer_json", fuzz_tokenizer_json},
    {"fuzz_wordpiece", fuzz_wordpiece},
    {"fuzz_unigram", fuzz_unigram},
    {"fuzz_bpe", fuzz_bpe},
    {"fuzz_safetensors", fuzz_safetensors},
    {"fuzz_model_config", fuzz_model_config},
    {"fuzz_hnsw_image", fuzz_hnsw_image},
    {"fuzz_vecs", fuzz_vecs},
    {"fuzz_jsonl_docs", fuzz_jsonl_docs},
    {"fuzz_filter", fuzz_filter},
    {"fuzz_analyze", fuzz_analyze},
    {0, 0},
};
