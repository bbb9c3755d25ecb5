/* fuzz_unigram.c: arbitrary bytes through the xlmr-unigram fixture tokenizer (unigram
 * family): valid UTF-8 must encode with offsets inside the text and ids
 * inside the vocabulary, invalid UTF-8 must be refused, never a crash. */
#include "fuzz.h"

int fuzz_unigram(const uint8_t *data, size_t size) { return fuzz_encode_with("xlmr-unigram", data, size); }
FUZZ_ENTRY(fuzz_unigram)
