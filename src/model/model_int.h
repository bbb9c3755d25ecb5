/* model_int.h: the internal interface of src/model (read this first).
 *
 * A model directory is read in four independent steps, one file each:
 *   safetensors.c  safetensors headers (one file, or the shards of an index),
 *                  memory-mapped, every field checked
 *   config.c       config.json: architecture and sizes
 *   st_modules.c   the sentence-transformers files: modules.json, pooling,
 *                  normalization, max_seq_length, prompts
 *   weights.c      binds checkpoint tensors to the encoder's weights, checks
 *                  them against the config, converts and packs them; hash
 * and run by three:
 *   encoder.c      the forward pass over a packed batch [tokens x hidden]
 *   attention.c    tiled attention with an online softmax, per sequence/head
 *   pooling.c      sentence pooling and L2 normalization
 * model.c puts them together behind the public semdex_model_* API.
 *
 * Nothing here knows of the store, the indexes or the command line. */
#ifndef SX_MODEL_INT_H
#define SX_MODEL_INT_H
#include <stddef.h>
#include <stdint.h>
#include "json.h"
#include "kern.h"
#include "semdex.h"
#include "strmap.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; big-endian hosts are not supported"
#endif

/* ------------------------------------------------------------------ files */

/* Reads a whole file of at most `limit` bytes (NUL-terminated copy). */
semdex_status model_file_read(const char *path, size_t limit, char **out, size_t *out_len, semdex_error *err);
int model_file_exists(const char *path); /* a regular file */
/* "dir/name" (just dir when name is empty); sx_free it; NULL when out of memory. */
char *model_path_join(const char *dir, const char *name);

/* ------------------------------------------------------------ safetensors */

/* Element types of the safetensors format.  Only F32, F16 and BF16 can be
 * used as weights; the others are parsed (and sized) so that unused tensors
 * of any type (int64 position_ids buffers...) do not stop a load. */
typedef enum model_dtype {
    MODEL_DTYPE_F32,
    MODEL_DTYPE_F16,
    MODEL_DTYPE_BF16,
    MODEL_DTYPE_F64,
    MODEL_DTYPE_I64,
    MODEL_DTYPE_I32,
    MODEL_DTYPE_I16,
    MODEL_DTYPE_I8,
    MODEL_DTYPE_U64,
    MODEL_DTYPE_U32,
    MODEL_DTYPE_U16,
    MODEL_DTYPE_U8,
    MODEL_DTYPE_BOOL,
    MODEL_DTYPE_F8_E4M3,
    MODEL_DTYPE_F8_E5M2,
    MODEL_DTYPE_F8_E8M0,
    MODEL_DTYPE_COUNT
} model_dtype;

/* "F32", "BF16"... as the format spells them. */
const char *model_dtype_name(model_dtype t);
/* "float32", "bfloat16"... as PyTorch spells them. */
const char *model_dtype_torch_name(model_dtype t);
size_t model_dtype_size(model_dtype t);

#define MODEL_MAX_DIMS 8
/* The reference implementation refuses headers above 100 MB. */
#define MODEL_ST_MAX_HEADER ((uint64_t)100 << 20)

typedef struct model_tensor {
    const char *name;   /* NUL-terminated, lives in the header's JSON document */
    model_dtype dtype;
    uint32_t n_dims;
    uint64_t shape[MODEL_MAX_DIMS];
    uint64_t begin, end;   /* data_offsets: bytes from the start of the data section */
    const uint8_t *data;   /* the bytes (end - begin of them) */
    int64_t header_offset; /* byte offset of the tensor's entry in the file (errors) */
    uint32_t file;         /* index of its file in the checkpoint */
} model_tensor;

/* One safetensors file (or buffer). */
typedef struct model_st_file {
    char *path;            /* for error messages */
    const uint8_t *map;    /* mmap of the whole file; NULL when parsed from a caller's buffer */
    size_t map_size;
    json_doc *header;
    model_tensor *tensors;
    size_t n_tensors;
    uint64_t data_start;   /* 8 + header length */
} model_st_file;

/* Parses and checks the header of a safetensors file held in buf[0..size):
 * the header length, the JSON, every entry's dtype, shape and data_offsets
 * (inside the data section, not overlapping, size = product of shape x
 * dtype size).  `name` is used in errors.  Tensor data pointers point into
 * buf, which must outlive *out.  *out is zeroed on failure. */
semdex_status model_safetensors_parse(const uint8_t *buf, size_t size, const char *name, model_st_file *out,
                                      semdex_error *err);
/* Memory-maps `path` and parses it. */
semdex_status model_safetensors_map(const char *path, model_st_file *out, semdex_error *err);
void model_st_file_release(model_st_file *f);

/* All tensors of a model: model.safetensors, or the shards named by
 * model.safetensors.index.json. */
typedef struct model_checkpoint {
    model_st_file *files;
    size_t n_files;
    sx_strmap names;            /* tensor name -> index in `all` */
    const model_tensor **all;
    size_t n_all;
} model_checkpoint;

semdex_status model_checkpoint_open(const char *dir, model_checkpoint *ck, semdex_error *err);
const model_tensor *model_checkpoint_find(const model_checkpoint *ck, const char *name);
/* Path of the file that holds t. */
const char *model_checkpoint_path(const model_checkpoint *ck, const model_tensor *t);
void model_checkpoint_close(model_checkpoint *ck);

/* ----------------------------------------------------------------- config */

typedef enum model_arch {
    MODEL_ARCH_BERT,    /* BertModel: positions 0.., token types */
    MODEL_ARCH_ROBERTA, /* XLMRobertaModel, RobertaModel: positions from pad_token_id + 1 */
    MODEL_ARCH_COUNT
} model_arch;

typedef enum model_act {
    MODEL_ACT_GELU_ERF,  /* "gelu" */
    MODEL_ACT_GELU_TANH, /* "gelu_new", "gelu_pytorch_tanh" */
    MODEL_ACT_RELU,
    MODEL_ACT_COUNT
} model_act;

typedef struct model_config {
    model_arch arch;
    char architecture[64]; /* as config.json names it ("BertModel") */
    size_t hidden, n_layers, n_heads, intermediate, vocab_size, max_positions, type_vocab_size;
    int64_t pad_token_id;  /* -1 when absent */
    model_act act;
    float layer_norm_eps;
    size_t position_offset; /* first position id: 0 (BERT) or pad_token_id + 1 (RoBERTa) */
} model_config;

/* Parses config.json's bytes; `file` names it in errors. */
semdex_status model_config_parse(const char *json, size_t len, const char *file, model_config *cfg,
                                 semdex_error *err);
semdex_status model_config_load(const char *path, model_config *cfg, semdex_error *err);

/* ------------------------------------------------- sentence-transformers */

/* In the order sentence-transformers concatenates legacy modes. */
typedef enum model_pool {
    MODEL_POOL_CLS,
    MODEL_POOL_MAX,
    MODEL_POOL_MEAN,
    MODEL_POOL_MEAN_SQRT_LEN,
    MODEL_POOL_WEIGHTEDMEAN,
    MODEL_POOL_LASTTOKEN,
    MODEL_POOL_COUNT
} model_pool;

const char *model_pool_name(model_pool p);

typedef struct model_pooling {
    model_pool modes[MODEL_POOL_COUNT]; /* concatenated in this order */
    size_t n_modes;
    int include_prompt;
    size_t dimension;                   /* embedding_dimension, 0 when not given */
} model_pooling;

typedef struct model_st_config {
    int has_modules;          /* modules.json was found */
    char *transformer_path;   /* the Transformer module's directory, relative ("" = the root) */
    model_pooling pooling;
    int normalize;            /* a Normalize module follows pooling */
    size_t max_seq_length;    /* sentence_bert_config.json; 0 when absent */
    int do_lower_case;        /* sentence_bert_config.json */
    size_t model_max_length;  /* tokenizer_config.json; 0 when absent or unbounded */
    size_t n_prompts;
    char **prompt_names, **prompts;
    char *default_prompt_name; /* NULL when none */
    char notes[512];           /* what was assumed */
} model_st_config;

/* Parsers of each file's bytes (fuzzed). */
semdex_status model_st_modules_parse(const char *json, size_t len, const char *file, model_st_config *st,
                                     char **pooling_path, semdex_error *err);
semdex_status model_st_pooling_parse(const char *json, size_t len, const char *file, model_pooling *p,
                                     semdex_error *err);
semdex_status model_st_sbert_parse(const char *json, size_t len, const char *file, model_st_config *st,
                                   semdex_error *err);
semdex_status model_st_prompts_parse(const char *json, size_t len, const char *file, model_st_config *st,
                                     semdex_error *err);
semdex_status model_st_tokenizer_config_parse(const char *json, size_t len, const char *file,
                                              model_st_config *st, semdex_error *err);
/* Reads all of them from a model directory (missing optional files are
 * defaults; a missing modules.json is a note). */
semdex_status model_st_config_load(const char *dir, model_st_config *st, semdex_error *err);
void model_st_config_free(model_st_config *st);

/* ---------------------------------------------------------------- weights */

/* A matrix [rows x cols] (PyTorch Linear layout [out, in]) ready for
 * products.  The dtype is what the product runs on: float32 for now; a
 * later int8/float16 path adds its own packed form next to `packed`. */
typedef struct model_matrix {
    model_dtype dtype;
    size_t rows, cols;
    kern_packed *packed; /* float32 */
} model_matrix;

/* out[M x rows] = x[M x cols] * W^T + bias. */
void model_matrix_mul(const model_matrix *w, size_t M, const float *x, float *out, const float *bias,
                      kern_pool *pool);

/* A lookup table [rows x cols] kept as stored (in the map), converted one
 * row at a time. */
typedef struct model_table {
    model_dtype dtype;
    size_t rows, cols;
    const uint8_t *data;  /* in the map, or `owned` when the map's copy was misaligned */
    uint8_t *owned;
} model_table;

/* out[0..cols) = row r as float32. */
void model_table_row(const model_table *t, size_t r, float *out);

typedef struct model_layer {
    model_matrix qkv;       /* (3D, D): query, key, value rows stacked */
    float *qkv_bias;        /* (3D) */
    model_matrix attn_out;  /* (D, D) */
    float *attn_out_bias;   /* (D) */
    float *ln1_gamma, *ln1_beta;
    model_matrix ffn_in;    /* (I, D) */
    float *ffn_in_bias;     /* (I) */
    model_matrix ffn_out;   /* (D, I) */
    float *ffn_out_bias;    /* (D) */
    float *ln2_gamma, *ln2_beta;
} model_layer;

typedef struct model_encoder {
    model_config cfg;
    model_table word, position, token_type;
    float *emb_ln_gamma, *emb_ln_beta; /* (D) */
    model_layer *layers;
    kern_arena *arena;         /* the packed matrices of the layers */
    model_dtype stored_dtype;  /* of the weights on disk; MODEL_DTYPE_COUNT when mixed */
    uint64_t weights_hash;
    char prefix[16];           /* tensor name prefix found ("bert.", "roberta.", "") */
} model_encoder;

/* Binds, checks and converts the checkpoint's tensors; the checkpoint must
 * stay open while the encoder's tables are used. */
semdex_status model_encoder_bind(model_encoder *enc, const model_config *cfg, const model_checkpoint *ck,
                                 semdex_error *err);
void model_encoder_release(model_encoder *enc);

/* The weights' identity (see docs/ARCHITECTURE.md, "Models"): a 64-bit hash
 * over names, dtypes, shapes and bytes (large tensors sampled). */
uint64_t model_hash_bytes(uint64_t h, const void *p, size_t n);

/* ---------------------------------------------------------------- forward */

/* The packed input of one forward pass: n_seqs sequences, their tokens in
 * consecutive rows. */
typedef struct model_batch {
    size_t n_seqs, n_tokens;
    const int32_t *ids;       /* (T) */
    const int32_t *types;     /* (T) */
    const int32_t *positions; /* (T) */
    const size_t *seq_start;  /* (n_seqs + 1): rows of sequence s are [seq_start[s], seq_start[s+1]) */
} model_batch;

/* Attention tile sizes: memory per worker is O(TQ x TK + TK x head_dim),
 * independent of the sequence length. */
#define MODEL_ATTN_TQ 64
#define MODEL_ATTN_TK 128

/* Per-call scratch of the forward pass, grown to the largest batch seen,
 * reused (no allocation once grown). */
typedef struct model_ws {
    size_t cap_tokens;
    float *x;    /* (T, D) hidden states */
    float *qkv;  /* (T, 3D) */
    float *ctx;  /* (T, D) attention output */
    float *tmp;  /* (T, D) */
    float *ffn;  /* (T, I) */
    float *kt;   /* model_attention_kt_floats(T, n_seqs, D): keys transposed */
    float *attn; /* n_slots x model_attention_scratch_floats() */
    size_t cap_seqs, n_slots;
} model_ws;

/* Grows ws for n_tokens in n_seqs sequences; 0 or -1 on allocation failure. */
int model_ws_reserve(model_ws *ws, const model_config *cfg, size_t n_tokens, size_t n_seqs, size_t n_slots);
void model_ws_release(model_ws *ws);

/* Called with the hidden states (T, D) after the embeddings (layer 0) and
 * after each layer (1..n_layers); for tests and debugging. */
typedef void (*model_layer_fn)(void *ctx, size_t layer, const float *x, size_t n_tokens, size_t dim);

/* Runs the encoder; the last hidden states are left in ws->x. */
void model_encoder_forward(const model_encoder *enc, const model_batch *b, model_ws *ws, kern_pool *pool,
                           model_layer_fn cb, void *cb_ctx);

/* Position ids of one sequence as the reference computes them. */
void model_positions(const model_config *cfg, const int32_t *ids, size_t n, int32_t *pos);

/* Attention of every sequence and head: ctx (T, D) from qkv (T, 3D).
 * scratch: n_slots x model_attention_scratch_floats(head_dim); kt:
 * model_attention_kt_floats(T, n_seqs, D) for the transposed keys (NULL
 * runs the portable path). */
size_t model_attention_scratch_floats(size_t head_dim);
size_t model_attention_kt_floats(size_t n_tokens, size_t n_seqs, size_t dim);
void model_attention(const model_batch *b, const float *qkv, float *ctx, size_t dim, size_t n_heads, float *scratch,
                     float *kt, size_t n_slots, kern_pool *pool);
/* The same on a chosen path: scalar nonzero runs the portable C path (the
 * specification of the tiled algorithm), else the best the CPU has. */
void model_attention_run(const model_batch *b, const float *qkv, float *ctx, size_t dim, size_t n_heads,
                         float *scratch, float *kt, size_t n_slots, kern_pool *pool, int scalar);
/* Plain reference: full softmax per row (O(L) memory per row); tests only. */
void model_attention_reference(const model_batch *b, const float *qkv, float *ctx, size_t dim, size_t n_heads);
/* "avx2-fma" or "scalar". */
const char *model_attention_path(void);

/* ---------------------------------------------------------------- pooling */

/* Pools the hidden states h (L, D) of one sequence into out (n_modes x D).
 * The first `skip` tokens (the prompt with include_prompt false) are
 * excluded as sentence-transformers excludes them. */
void model_pool_sequence(const model_pooling *p, const float *h, size_t L, size_t D, size_t skip, float *out);
/* x / max(||x||, 1e-12), as torch.nn.functional.normalize. */
void model_l2_normalize(float *x, size_t n);

/* ---------------------------------------------------------------- model.c */

/* Runs one sequence of ids through the model, calling cb per layer (tests:
 * the reference's hidden states). */
semdex_status model_forward_ids(semdex_model *m, const int32_t *ids, size_t n, model_layer_fn cb, void *cb_ctx,
                                semdex_error *err);

#endif
