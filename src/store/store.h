/* store.h: the internal interface of the knowledge store (src/store/).
 * Read this first.  The store is the public semdex_db / semdex_collection
 * API over one SQLite connection; the schema is in schema.c and described
 * in docs/FORMAT.md.  The database is the truth: the in-memory HNSW graph
 * (vindex.c) and its saved image are caches that are repaired from the
 * vectors table whenever they are behind it.  Knows nothing of models or
 * tokenizers. */
#ifndef SX_STORE_H
#define SX_STORE_H
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include "semdex.h"

/* Schema version kept in PRAGMA user_version; application_id is the magic
 * number 'SDEX' telling a semdex store from any other SQLite file. */
#define SX_SCHEMA_VERSION 1
#define SX_APPLICATION_ID 0x53444558

#define SX_MAX_DIM 65536              /* floats per vector */
#define SX_MAX_NAME 256               /* bytes in a collection name */
#define SX_MAX_K 10000                /* results per search */
#define SX_IMAGE_PART_BYTES (16u << 20) /* HNSW image stored in parts of this size */

typedef struct sx_vindex sx_vindex; /* vindex.c */
typedef struct sx_keyword sx_keyword; /* keyword.c */

struct semdex_collection {
    semdex_db *db;
    int64_t id;
    char *name;
    /* the collections row, refreshed by sx_collection_refresh */
    semdex_metric metric;
    size_t dim;
    char *model, *pooling; /* NULL when none */
    int normalize;
    uint64_t weights_hash;
    size_t hnsw_M, hnsw_ef_construction, hnsw_ef_search;
    int64_t change_seq; /* bumped by every write that touches the collection's vectors or chunks */
    int64_t created;
    int dropped;
    sx_vindex *vindex;   /* NULL until a vector search or add needs it */
    sx_keyword *keyword; /* NULL until a keyword search or add needs it */
    char *info_model, *info_pooling; /* copies handed out by get_info */
};

typedef struct sx_stmt_slot {
    const char *sql; /* a static string: cache key by address */
    sqlite3_stmt *stmt;
} sx_stmt_slot;

struct semdex_db {
    sqlite3 *db;
    char *path;
    int read_only;
    int in_txn;
    semdex_collection **colls;
    size_t n_colls, cap_colls;
    sx_stmt_slot *stmts;
    size_t n_stmts, cap_stmts;
};

/* ------------------------------------------------------------- db.c */

/* Fills err from SQLite's state after rc, naming the database file and
 * `what` (a table or operation); maps rc to a semdex_status. */
semdex_status sx_db_error(semdex_db *db, int rc, const char *what, semdex_error *err);
/* A cached prepared statement for the static string sql, reset and with
 * bindings cleared; NULL (err filled) on failure. */
sqlite3_stmt *sx_db_stmt(semdex_db *db, const char *sql, semdex_error *err);
/* Runs SQL with no result rows. */
semdex_status sx_db_exec(semdex_db *db, const char *sql, semdex_error *err);
/* BEGIN IMMEDIATE (write) or BEGIN (read); COMMIT; ROLLBACK (never fails). */
semdex_status sx_db_begin(semdex_db *db, int write, semdex_error *err);
semdex_status sx_db_commit(semdex_db *db, semdex_error *err);
void sx_db_rollback(semdex_db *db);
/* Single integer result of sql with up to two int64 bindings (n_bind of
 * them); *out = def when there is no row or the value is NULL. */
semdex_status sx_db_int(semdex_db *db, const char *sql, int n_bind, int64_t a, int64_t b, int64_t def,
                        int64_t *out, semdex_error *err);

/* --------------------------------------------------------- schema.c */

/* Checks the file is a semdex store of a version this build reads,
 * creating or migrating the schema when writable. */
semdex_status sx_schema_open(semdex_db *db, semdex_error *err);

/* ----------------------------------------------------- collection.c */

/* Re-reads the collection's row (dimension, model, change_seq may have been
 * changed by another writer).  Fails when the collection was dropped. */
semdex_status sx_collection_refresh(semdex_collection *c, semdex_error *err);
/* Releases the cached index objects of c (not the handle). */
void sx_collection_release_indexes(semdex_collection *c);
void sx_collection_free(semdex_collection *c);
/* Handles of every collection in the file, by name (borrowed, as from
 * semdex_collection_get); *out is sx_free'd by the caller. */
semdex_status sx_collection_all(semdex_db *db, semdex_collection ***out, size_t *n, semdex_error *err);
/* Bumps change_seq inside the caller's write transaction. */
semdex_status sx_collection_bump(semdex_collection *c, semdex_error *err);
/* Checks vectors from `from` may enter c, adopting dimension and model when
 * c has no vectors yet (inside the caller's write transaction). */
semdex_status sx_collection_accept_vectors(semdex_collection *c, const semdex_model_identity *from, size_t dim,
                                           semdex_error *err);

/* --------------------------------------------------------- vindex.c */

/* One vector-arm candidate. */
typedef struct sx_hit {
    int64_t id;   /* chunk id */
    double score; /* higher is better */
} sx_hit;

/* Allowed chunk ids of a filtered search: sorted, unique. */
typedef struct sx_idset {
    int64_t *ids;
    size_t n, cap;
} sx_idset;
int sx_idset_has(const sx_idset *s, int64_t id);
void sx_idset_free(sx_idset *s);

/* Whether a filter passing n_pass rows is better searched exactly than
 * through the (loaded) graph. */
int sx_vindex_prefers_exact(const semdex_collection *c, size_t n_pass);
/* Makes c->vindex current with the database: loads the saved image,
 * repairs it from the vectors table (adds what is newer than its
 * high-water mark, removes deleted labels) or rebuilds it.  Inside the
 * caller's transaction.  *stale_out (may be NULL) is 1 when the saved
 * image is behind the table (worth rewriting when far behind), 2 when it
 * was missing or unusable (to be rewritten), else 0. */
semdex_status sx_vindex_ensure(semdex_collection *c, int *stale_out, semdex_error *err);
/* After a committed write: applies added and deleted labels to a loaded
 * graph (or drops it when that fails; it is rebuilt when next needed). */
void sx_vindex_apply(semdex_collection *c, const int64_t *added, const float *vectors, size_t n_added,
                     const int64_t *deleted, size_t n_deleted, int64_t new_seq);
void sx_vindex_drop(semdex_collection *c);
void sx_vindex_free(sx_vindex *v);
/* Approximate search through the graph (filter may be NULL). */
semdex_status sx_vindex_search(semdex_collection *c, const float *query, size_t k, size_t ef,
                               const sx_idset *filter, sx_hit *hits, size_t *n_hits, semdex_error *err);
/* Exact scan of the vectors table (over filter's ids when non-NULL). */
semdex_status sx_vindex_search_exact(semdex_collection *c, const float *query, size_t k, const sx_idset *filter,
                                     sx_hit *hits, size_t *n_hits, semdex_error *err);
typedef enum sx_save_mode {
    SX_SAVE_IF_LOADED, /* a loaded graph, when the image is far enough behind */
    SX_SAVE_IF_BEHIND, /* loading the graph if needed, when the image is far enough behind */
    SX_SAVE_ALWAYS,    /* rebuilt or repaired as needed, then written */
    SX_SAVE_MODE_COUNT
} sx_save_mode;
/* Writes the graph as the collection's image in its own write transaction. */
semdex_status sx_vindex_save(semdex_collection *c, sx_save_mode mode, semdex_error *err);
/* Changes newer than the saved image, and its size. */
semdex_status sx_vindex_pending(semdex_collection *c, size_t *pending, size_t *image_bytes, semdex_error *err);
/* Doctor: checks the saved image against the vectors table. */
semdex_status sx_vindex_check(semdex_collection *c, void (*problem)(void *ctx, const char *line), void *ctx,
                              size_t *n_problems, semdex_error *err);
/* Normalizes v in place; returns its original L2 norm. */
double sx_vec_normalize(float *v, size_t dim);
/* Similarity per the metric (query already normalized for cosine). */
double sx_vec_score(semdex_metric m, const float *a, const float *b, size_t dim);

/* -------------------------------------------------------- keyword.c */

/* The keyword arm (BM25 tables in the same database), opened on first use;
 * created with the collection (so that searches never have to write) and
 * dropped with it, inside the caller's write transaction. */
semdex_status sx_keyword_create(semdex_collection *c, semdex_error *err);
semdex_status sx_keyword_drop(semdex_collection *c, semdex_error *err);
semdex_status sx_keyword_add(semdex_collection *c, int64_t chunk_id, const char *text, size_t len,
                             semdex_error *err);
semdex_status sx_keyword_delete(semdex_collection *c, int64_t chunk_id, semdex_error *err);
semdex_status sx_keyword_search(semdex_collection *c, const char *query, size_t len, size_t k,
                                const sx_idset *filter, sx_hit *hits, size_t *n_hits, semdex_error *err);
void sx_keyword_free(sx_keyword *kw);
/* Doctor: checks the keyword tables against the chunks table. */
semdex_status sx_keyword_check(semdex_collection *c, void (*problem)(void *ctx, const char *line), void *ctx,
                               size_t *n_problems, semdex_error *err);

/* --------------------------------------------------------- filter.c */

#define SX_FILTER_MAX_KEY 256    /* bytes in a filter key (longer metadata keys are not indexed) */
#define SX_FILTER_MAX_VALUE 4096 /* bytes in a filter value (longer strings are not indexed) */

/* A metadata filter checked and ready to run: the key, the value as text
 * and (when it reads as a JSON number) as a number. */
typedef struct sx_filter {
    char *key;
    char *value;
    double number;
    int is_number;
} sx_filter;

/* Checks key (dotted path: no empty segment, no control characters, valid
 * UTF-8) and value, and fills f.  Errors name the field "filter". */
semdex_status sx_filter_compile(const char *key, size_t key_len, const char *value, size_t value_len, sx_filter *f,
                                semdex_error *err);
void sx_filter_free(sx_filter *f);
/* The chunk ids of c (with a vector when vectors_only) whose document
 * passes every filter, sorted. */
semdex_status sx_filter_select(semdex_collection *c, const sx_filter *f, size_t n, int vectors_only, sx_idset *out,
                               semdex_error *err);

/* ----------------------------------------------------------- meta.c */

/* Writes the metadata index rows of document doc_row (inside the caller's
 * write transaction); json is the document's metadata, NULL for none. */
semdex_status sx_meta_insert(semdex_collection *c, int64_t doc_row, const char *json, semdex_error *err);
/* Doctor: every document's index rows against its metadata. */
semdex_status sx_meta_check(semdex_collection *c, void (*problem)(void *ctx, const char *line), void *ctx,
                            size_t *n_problems, semdex_error *err);

/* ----------------------------------------------------------- hash.c */

/* 64-bit hash of bytes (FNV-1a over 8-byte words; stable across builds:
 * stored in the database). */
uint64_t sx_hash64(const void *data, size_t n, uint64_t seed);

#endif
