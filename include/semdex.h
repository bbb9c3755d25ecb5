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
    const char *pooling;        /* "cls", "mean", "max", "mean_sqrt_len", "lasttoken", "weightedmean";
                                 * concatenated modes joined by '+' ("cls+mean") */
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
    size_t batch_size;       /* inputs tokenized and embedded together; 0: 32.  Their tokens
                              * are packed (no padding) into forward passes of at most
                              * max(8192, max_length) tokens */
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

/* Embeds texts[i] (lens[i] bytes of UTF-8), the prompt (if any) prepended,
 * truncated at max_length.  Results do not depend on the batch an input is
 * in.  On failure (an error names the input: "input 3: ...") out->n is 0.
 * Thread-safe: one model serves concurrent calls. */
semdex_status semdex_model_embed(semdex_model *model, const char *const *texts, const size_t *lens, size_t n,
                                 const semdex_embed_options *opts, semdex_embeddings *out, semdex_error *err);
void semdex_embeddings_free(semdex_embeddings *e);

/* ----------------------------------------------------------------- store */

/* A knowledge store: one SQLite database file (WAL mode) holding
 * collections, their documents, chunks, vectors and indexes (HNSW image,
 * BM25 tables).  Every write is one transaction: after a crash the file
 * holds exactly the writes that returned SEMDEX_OK.  A semdex_db is used by
 * one thread at a time; several processes may open the same file. */
typedef struct semdex_db semdex_db;
typedef struct semdex_collection semdex_collection;

typedef struct semdex_db_options {
    int read_only;       /* nonzero: open for reading only */
    int create;          /* nonzero (default): create the file when missing */
    int busy_timeout_ms; /* wait this long for another writer; default 5000 */
} semdex_db_options;

semdex_db_options semdex_db_options_default(void);

/* Opens (or creates) a store.  A file that is not a semdex store, is
 * damaged, or has a newer schema version is refused with a message naming
 * it.  *out is NULL on failure. */
semdex_status semdex_db_open(const char *path, const semdex_db_options *opts, semdex_db **out,
                             semdex_error *err);
/* Saves HNSW images that are far behind their vectors (when writable), then
 * closes.  Collection handles of db become invalid. */
void semdex_db_close(semdex_db *db);

/* Saves every collection's HNSW image that is behind its vectors and
 * checkpoints the WAL into the database file. */
semdex_status semdex_db_checkpoint(semdex_db *db, semdex_error *err);

typedef enum semdex_metric {
    SEMDEX_METRIC_COSINE = 0, /* vectors are stored L2-normalized; score = dot */
    SEMDEX_METRIC_DOT = 1,    /* score = dot */
    SEMDEX_METRIC_L2 = 2,     /* score = -(squared L2 distance) */
    SEMDEX_METRIC_COUNT
} semdex_metric;

/* "cosine", "dot", "l2"; NULL when out of range. */
const char *semdex_metric_name(semdex_metric metric);
/* Parses a metric name; -1 when unknown. */
int semdex_metric_parse(const char *name);

/* The identity of what made a collection's vectors.  model NULL or "":
 * vectors come from outside semdex (only their dimension is checked). */
typedef struct semdex_model_identity {
    const char *model;     /* model name or path */
    size_t dim;            /* 0: fixed by the first vectors added */
    const char *pooling;   /* as semdex_model_info.pooling; NULL when unknown */
    int normalize;         /* nonzero: the model L2-normalizes */
    uint64_t weights_hash; /* semdex_model_info.weights_hash; 0 when unknown */
} semdex_model_identity;

/* The identity of a loaded model (borrows info's strings). */
semdex_model_identity semdex_model_identity_of(const semdex_model_info *info);

typedef struct semdex_collection_options {
    semdex_metric metric;           /* default cosine */
    semdex_model_identity model;    /* default: vectors from outside, any dimension */
    size_t hnsw_M;                  /* HNSW links per node; default 16 */
    size_t hnsw_ef_construction;    /* default 200 */
    size_t hnsw_ef_search;          /* default 64 (a search may override it) */
} semdex_collection_options;

semdex_collection_options semdex_collection_options_default(void);

/* Creates a collection; an existing name is refused.  The handle belongs
 * to db and stays valid until semdex_db_close (or the collection's drop). */
semdex_status semdex_collection_create(semdex_db *db, const char *name, const semdex_collection_options *opts,
                                       semdex_collection **out, semdex_error *err);
/* Looks a collection up by name.  When it does not exist: with
 * create_opts non-NULL it is created with them, else SEMDEX_ERR_INVALID_ARG
 * (field "collection").  The handle is owned as above. */
semdex_status semdex_collection_get(semdex_db *db, const char *name, const semdex_collection_options *create_opts,
                                    semdex_collection **out, semdex_error *err);
/* Deletes a collection with everything in it; its handle becomes invalid. */
semdex_status semdex_collection_drop(semdex_db *db, const char *name, semdex_error *err);

typedef struct semdex_collection_info {
    const char *name;
    semdex_metric metric;
    semdex_model_identity model; /* model.dim: the collection's dimension */
    size_t hnsw_M, hnsw_ef_construction, hnsw_ef_search;
    size_t n_documents, n_chunks, n_vectors;
    size_t index_image_bytes;    /* saved HNSW image; 0 when none */
    size_t index_pending;        /* vector changes newer than the saved image */
    int64_t created;             /* seconds since the epoch */
} semdex_collection_info;

/* Fills info; its strings are valid until the next call on c or the
 * collection's release. */
semdex_status semdex_collection_get_info(semdex_collection *c, semdex_collection_info *info, semdex_error *err);

/* One chunk of a document to add. */
typedef struct semdex_chunk_input {
    const char *text;      /* UTF-8, no NUL */
    size_t len;            /* bytes of text */
    int64_t start, end;    /* byte range in the source; -1 when unknown */
    const char *heading;   /* heading path ("Guide > Install"); NULL when none */
    const float *vector;   /* dim floats; NULL: keyword search only */
    size_t dim;            /* floats in vector: the collection's dimension */
} semdex_chunk_input;

typedef struct semdex_document_input {
    const char *id;          /* unique in the collection; a document with this id is replaced */
    const char *uri;         /* where it came from; NULL when unknown */
    const char *metadata;    /* a JSON object; NULL for {} */
    int64_t mtime;           /* source modification time, seconds; 0 when unknown */
    uint64_t content_hash;   /* hash of the source; 0: computed from the chunks' text */
    const semdex_chunk_input *chunks;
    size_t n_chunks;
} semdex_document_input;

/* Adds (or replaces) n documents in one transaction: all of them or none.
 * vectors_from names the model that made the vectors (NULL: from outside);
 * a collection refuses vectors of another dimension or model.  Errors name
 * the field ("documents[3].chunks[0].vector"). */
semdex_status semdex_collection_add(semdex_collection *c, const semdex_document_input *docs, size_t n,
                                    const semdex_model_identity *vectors_from, semdex_error *err);

/* Deletes documents by id in one transaction; *n_deleted (may be NULL)
 * counts those that existed. */
semdex_status semdex_collection_delete(semdex_collection *c, const char *const *ids, size_t n, size_t *n_deleted,
                                       semdex_error *err);

typedef enum semdex_search_mode {
    SEMDEX_SEARCH_HYBRID = 0,  /* both arms, fused; one arm when the other has no query */
    SEMDEX_SEARCH_VECTOR = 1,
    SEMDEX_SEARCH_KEYWORD = 2,
    SEMDEX_SEARCH_MODE_COUNT
} semdex_search_mode;

typedef enum semdex_fusion {
    SEMDEX_FUSION_RRF = 0,      /* sum of 1 / (rrf_k + rank) */
    SEMDEX_FUSION_WEIGHTED = 1, /* w * vector + (1 - w) * keyword, each min-max normalized */
    SEMDEX_FUSION_COUNT
} semdex_fusion;

/* A metadata filter: the document's metadata value at key (dots separate
 * nested keys) equals value: a string equal to it, a number equal to it
 * read as a number, true/false/null spelled so, or an array holding such
 * an element. */
typedef struct semdex_filter {
    const char *key;
    const char *value;
} semdex_filter;

/* Splits "key=value" (at the first '=') and checks the key.  out's strings
 * point into buf, which is modified. */
semdex_status semdex_filter_parse(char *buf, semdex_filter *out, semdex_error *err);

typedef struct semdex_search_options {
    semdex_search_mode mode;
    size_t k;                     /* results; default 10 */
    const char *query;            /* text for the keyword arm; NULL when none */
    size_t query_len;
    const float *vector;          /* query vector for the vector arm; NULL when none */
    size_t dim;                   /* floats in vector */
    const semdex_filter *filters; /* all must hold */
    size_t n_filters;
    semdex_fusion fusion;
    double rrf_k;                 /* default 60 (0 also means 60) */
    double vector_weight;         /* weighted fusion; default 0.5 */
    size_t candidates;            /* per arm in hybrid mode; 0: max(50, 4k) */
    size_t ef_search;             /* 0: the collection's */
    int exact;                    /* nonzero: exact vector search, no HNSW */
} semdex_search_options;

semdex_search_options semdex_search_options_default(void);

typedef struct semdex_hit {
    int64_t chunk_id;         /* stable id of the chunk in the store */
    const char *id;           /* the document's id */
    uint32_t ordinal;         /* the chunk's position in its document */
    const char *text;
    const char *metadata;     /* the document's metadata, a JSON object */
    const char *uri;          /* NULL when none */
    const char *heading;      /* NULL when none */
    int64_t start, end;       /* byte range in the source; -1 when unknown */
    double score;             /* fused score (or the one arm's score); higher is better */
    size_t vector_rank;       /* 1-based rank in the vector arm; 0: not found by it */
    double vector_score;      /* similarity per the metric */
    size_t keyword_rank;      /* 1-based rank in the keyword arm; 0: not found by it */
    double keyword_score;     /* BM25 */
} semdex_hit;

/* Zero-initialise; reusable; release with semdex_results_free.  Strings
 * are valid until the next search into it or its release. */
typedef struct semdex_results {
    size_t n;
    semdex_hit *hits;
    int vector_exact;         /* the vector arm scanned exactly (filter or request) */
    const char *note;         /* why an arm did not run, "" when both ran as asked */
    void *internal;
} semdex_results;

semdex_status semdex_collection_search(semdex_collection *c, const semdex_search_options *opts,
                                       semdex_results *out, semdex_error *err);
void semdex_results_free(semdex_results *r);

/* Statistics of a whole store. */
typedef struct semdex_db_stats {
    int schema_version;
    int64_t file_bytes, wal_bytes;
    size_t n_collections;
    semdex_collection_info *collections; /* strings valid until semdex_db_stats_free */
    void *internal;
} semdex_db_stats;

semdex_status semdex_db_get_stats(semdex_db *db, semdex_db_stats *out, semdex_error *err);
void semdex_db_stats_free(semdex_db_stats *s);

/* Checks everything: SQLite's integrity_check and foreign keys, every
 * vector's size and values, every chunk's document, each HNSW image against
 * the vectors table, the BM25 tables.  problem() (may be NULL) receives
 * one line per inconsistency; *n_problems counts them.  With repair
 * nonzero, damaged or stale HNSW images are rebuilt and saved first.
 * Returns an error status only when the check itself could not run. */
semdex_status semdex_db_doctor(semdex_db *db, int repair, void (*problem)(void *ctx, const char *line), void *ctx,
                               size_t *n_problems, semdex_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SEMDEX_H */
