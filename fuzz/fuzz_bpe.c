/* fuzz_bpe.c: arbitrary bytes through the qwen-bpe fixture tokenizer (bpe
 * family): valid UTF-8 must encode with offsets inside the text and ids
 * inside the vocabulary, invalid UTF-8 must be refused, never a crash. */
#include "fuzz.h"

int fuzz_bpe(const uint8_t *data, size_t size) { return fuzz_encode_with("qwen-bpe", data, size); }
FUZZ_ENTRY(fuzz_bpe)
