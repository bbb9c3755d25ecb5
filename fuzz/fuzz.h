/* fuzz.h: the fuzz harnesses of semdex.  Each fuzz/fuzz_NAME.c defines
 * fuzz_NAME() and, unless built with FUZZ_REPLAY, libFuzzer's entry point
 * calling it.  The test runner (FUZZ_REPLAY) replays fuzz/corpus/NAME/
 * through every target listed in fuzz_targets (fuzz/targets.c). */
#ifndef SEMDEX_FUZZ_H
#define SEMDEX_FUZZ_H
#include <stddef.h>
#include <stdint.h>

typedef struct fuzz_target {
    const char *name;
    int (*fn)(const uint8_t *data, size_t size);
} fuzz_target;

extern const fuzz_target fuzz_targets[]; /* ends with {NULL, NULL} */

int fuzz_json(const uint8_t *data, size_t size);
int fuzz_tokenizer_json(const uint8_t *data, size_t size);
int fuzz_wordpiece(const uint8_t *data, size_t size);
int fuzz_unigram(const uint8_t *data, size_t size);
int fuzz_bpe(const uint8_t *data, size_t size);
int fuzz_safetensors(const uint8_t *data, size_t size);
int fuzz_model_config(const uint8_t *data, size_t size);
int fuzz_hnsw_image(const uint8_t *data, size_t size);
int fuzz_vecs(const uint8_t *data, size_t size);
int fuzz_jsonl_docs(const uint8_t *data, size_t size);
int fuzz_filter(const uint8_t *data, size_t size);
int fuzz_analyze(const uint8_t *data, size_t size);

/* Shared by the family harnesses: loads the fixture tokenizer NAME once
 * (from $SEMDEX_FIXTURES/tokenizers/NAME, default ../shared/fixtures) and
 * encodes data as text (and, split at a data-chosen byte, as a pair),
 * with a data-chosen max_length, then decodes the ids. */
int fuzz_encode_with(const char *name, const uint8_t *data, size_t size);

/* An invariant of a harness: libFuzzer builds abort (a finding); the test
 * runner's replay reports a failed test instead of dying. */
void fuzz_report(const char *file, int line, const char *what);
#ifdef FUZZ_REPLAY
#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            fuzz_report(__FILE__, __LINE__, #cond);                                      \
    } while (0)
#else
#include <stdlib.h>
#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)
#endif

#ifdef FUZZ_REPLAY
#define FUZZ_ENTRY(fn)
#else
#define FUZZ_ENTRY(fn)                                                                   \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                        \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fn(data, size); }
#endif

#endif
