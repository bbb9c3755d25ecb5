/* fuzz_wordpiece.c: arbitrary bytes through the all-MiniLM-L6-v2 fixture tokenizer (wordpiece
 * family): valid UTF-8 must encode with offsets inside the text and ids
 * inside the vocabulary, invalid UTF-8 must be refused, never a crash. */
#include "fuzz.h"

int fuzz_wordpiece(const uint8_t *data, size_t size) { return fuzz_encode_with("all-MiniLM-L6-v2", data, size); }
FUZZ_ENTRY(fuzz_wordpiece)
