/* semdex.h: the one public header of libsemdex.
 *
 * Conventions: every function that can fail returns a semdex_status and, when
 * the caller passes a non-NULL semdex_error, fills it with a message and the
 * file, byte offset or field that caused the failure.  Objects are created by
 * one constructor and released by the destructor declared next to it;
 * destructors accept NULL.  Nothing here calls exit() or abort().
 */
#ifndef SEMDEX_H
#define SEMDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEMDEX_VERSION_MAJOR 0
#define SEMDEX_VERSION_MINOR 1
#define SEMDEX_VERSION_PATCH 0
#define SEMDEX_VERSION_STRING "0.1.0"

/* Library version at run time ("MAJOR.MINOR.PATCH"). */
const char *semdex_version(void);

/* ---------------------------------------------------------------- errors */

/* Values are never renumbered; new ones are appended before the COUNT. */
typedef enum semdex_status {
    SEMDEX_OK = 0,
    SEMDEX_ERR_NOMEM = 1,       /* an allocation failed */
    SEMDEX_ERR_IO = 2,          /* a file could not be opened or read */
    SEMDEX_ERR_PARSE = 3,       /* malformed input (JSON, UTF-8, ...) */
    SEMDEX_ERR_FORMAT = 4,      /* well-formed but not what was expected */
    SEMDEX_ERR_UNSUPPORTED = 5, /* a valid feature semdex does not implement */
    SEMDEX_ERR_INVALID_ARG = 6, /* a caller passed a bad argument */
    SEMDEX_ERR_LIMIT = 7,       /* an input exceeds a documented limit */
    SEMDEX_ERR_UTF8 = 8,        /* invalid UTF-8 in text input */
    SEMDEX_STATUS_COUNT
} semdex_status;

/* Detail for a failure.  `file` and `field` are empty strings when unknown;
 * `offset` is a byte offset into `file` (or into the text being processed),
 * or -1 when it does not apply. */
typedef struct semdex_error {
    semdex_status status;
    char message[256];
    char file[256];
    char field[128];
    int64_t offset;
} semdex_error;

/* Static English name of a status ("out of memory", ...). */
const char *semdex_strerror(semdex_status status);

/* Writes "file: offset N: field F: message" (parts that are unknown are left
 * out) into buf, always NUL-terminated. Returns buf. */
char *semdex_error_format(const semdex_error *err, char *buf, size_t size);

/* ------------------------------------------------------------ tokenizers */

typedef struct semdex_tokenizer semdex_tokenizer;

/* Loads a tokenizer from `path`: a tokenizer.json file, or a model
 * directory holding tokenizer.json, or vocab.txt (+ tokenizer_config.json)
 * for BERT models without one.  *out is set to NULL on failure. */
semdex_status semdex_tokenizer_load(const char *path, semdex_tokenizer **out,
                                    semdex_error *err);
void semdex_tokenizer_free(semdex_tokenizer *tok);

/* Loads a tokenizer from the bytes of a tokenizer.json held in memory;
 * `name` is used in error messages in place of a file name (may be NULL). */
semdex_status semdex_tokenizer_load_json(const char *json, size_t len, const char *name,
                                         semdex_tokenizer **out, semdex_error *err);

/* Number of ids in the vocabulary, added tokens included. */
size_t semdex_tokenizer_vocab_size(const semdex_tokenizer *tok);

/* Token string of an id, or NULL when out of range.  Valid as long as the
 * tokenizer is not freed. */
const char *semdex_tokenizer_id_to_token(const semdex_tokenizer *tok, int32_t id);

/* One tokenized input.  Arrays have n entries; offsets are UTF-8 byte
 * offsets [start, end) into the input that produced the token (text or
 * text_pair, as given by type of sequence), [0, 0] for special tokens added
 * by the post-processor. */
typedef struct semdex_encoding {
    size_t n;
    int32_t *ids;
    uint32_t *type_ids;
    uint32_t (*offsets)[2];
    int32_t *sequence_ids;  /* 0 for text, 1 for text_pair, -1 for added special tokens */
    uint8_t *special_mask;  /* 1 where the token is special */
    size_t n_truncated;     /* tokens dropped by truncation (0 when none) */
    size_t cap;             /* allocated capacity (internal) */
    void *internal;         /* per-thread scratch reused across calls (internal) */
} semdex_encoding;

typedef struct semdex_encode_options {
    size_t max_length;        /* 0: no truncation; else total length, special tokens included */
    int add_special_tokens;   /* nonzero: apply the post-processor (the default) */
} semdex_encode_options;

/* Defaults: no truncation, special tokens added. */
semdex_encode_options semdex_encode_options_default(void);

/* Encodes `text` (len bytes of UTF-8) and, when pair is non-NULL, the pair.
 * `enc` must be zero-initialised before first use; it is reused across calls
 * and released with semdex_encoding_free.  Invalid UTF-8 is refused with
 * SEMDEX_ERR_UTF8 and the byte offset of the first bad byte.  A tokenizer may
 * be used by several threads at once. */
semdex_status semdex_tokenizer_encode(const semdex_tokenizer *tok,
                                      const char *text, size_t len,
                                      const char *pair, size_t pair_len,
                                      const semdex_encode_options *opts,
                                      semdex_encoding *enc, semdex_error *err);
void semdex_encoding_free(semdex_encoding *enc);

/* Decodes ids back to text with the tokenizer's decoder; skip_special drops
 * special tokens.  *out is malloc'ed, NUL-terminated; free it with free(). */
semdex_status semdex_tokenizer_decode(const semdex_tokenizer *tok,
                                      const int32_t *ids, size_t n,
                                      int skip_special, char **out,
                                      semdex_error *err);


/* ---------------------------------------------------------------- models */

/* A sentence-embedding model loaded from a directory as the Hugging Face hub
 * serves it (config.json, model.safetensors or a sharded index, the
 * tokenizer files, and the sentence-transformers module files). */
typedef struct semdex_model semdex_model;

typedef struct semdex_model_options {
    int n_threads; /* 0: all online CPUs */
} semdex_model_options;

semdex_model_options semdex_model_options_default(void);

/* *out is NULL on failure; errors name the file and the tensor or field. */
semdex_status semdex_model_load(const char *dir, const semdex_model_options *opts, semdex_model **out,
                                semdex_error *err);
void semdex_model_free(semdex_model *model);

typedef struct semdex_model_info {
    const char *path;           /* the directory it was loaded from */
    const char *architecture;   /* "BertModel", "XLMRobertaModel", ... */
    size_t dim;                 /* embedding dimension */
    size_t hidden, n_layers, n_heads, intermediate, vocab_size;
    size_t max_length;          /* tokens per input, special tokens included */
    const char *pooling;        /* "cls", "mean", "max", "mean_sqrt_len", "lasttoken", "weightedmean" */
    int normalize;              /* nonzero: outputs are L2-normalized */
    const char *weight_dtype;   /* "float32", "float16", "bfloat16" (as stored) */
    size_t n_prompts;
    const char *const *prompt_names; /* n_prompts entries */
    const char *const *prompts;      /* n_prompts entries */
    const char *default_prompt_name; /* NULL when none */
    const char *notes;          /* what was assumed, e.g. missing module files; "" when nothing */
    uint64_t weights_hash;      /* identity of the weights, for stores */
} semdex_model_info;

/* Valid as long as the model is not freed. */
const semdex_model_info *semdex_model_get_info(const semdex_model *model);
const semdex_tokenizer *semdex_model_tokenizer(const semdex_model *model);

typedef struct semdex_embed_options {
    const char *prompt_name; /* NULL: the model's default prompt, if any */
    int normalize;           /* -1: as the model says; 0: never; 1: always */
    size_t batch_size;       /* inputs per forward pass; 0: 32 */
} semdex_embed_options;

semdex_embed_options semdex_embed_options_default(void);

/* Embeddings of n inputs.  Zero-initialise before first use; reusable;
 * release with semdex_embeddings_free. */
typedef struct semdex_embeddings {
    size_t n, dim;
    float *vectors;       /* n x dim, row-major */
    size_t *n_tokens;     /* tokens fed to the model per input, special tokens included */
    size_t *n_truncated;  /* tokens dropped per input at max_length (never silent) */
    size_t cap;           /* allocated inputs (internal) */
} semdex_embeddings;

/* Embeds texts[i] (lens[i] bytes of UTF-8).  Thread-safe: one model serves
 * concurrent calls. */
semdex_status semdex_model_embed(semdex_model *model, const char *const *texts, const size_t *lens, size_t n,
                                 const semdex_embed_options *opts, semdex_embeddings *out, semdex_error *err);
void semdex_embeddings_free(semdex_embeddings *e);

#ifdef __cplusplus
}
#endif
#endif /* SEMDEX_H */
