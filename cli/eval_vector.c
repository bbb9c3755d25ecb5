/* eval_vector.c: the vector and hybrid modes of `semdex eval`: the corpus is
 * embedded with a model and stored, one chunk per document, in a throwaway
 * store (a temporary directory); queries are embedded once and searched
 * through semdex_collection_search, vector alone or fused with the store's
 * BM25 arm (reciprocal rank fusion, k = 60).  Uses only the public API. */
#include "eval_set.h"
#include "alloc.h"
#include "semdex.h"
#include "strmap.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EMBED_BATCH 32

struct eval_vector {
    semdex_model *model;
    semdex_db *db;
    semdex_collection *coll;
    char dir[64], path[96];
    float *qvecs; /* n_queries x dim */
    size_t dim;
    double index_s, query_embed_s;
    sx_strmap docs; /* document id -> index */
};

static void print_err(const char *what, const semdex_error *err)
{
    char msg[1024];
    fprintf(stderr, "semdex eval: %s: %s\n", what, semdex_error_format(err, msg, sizeof msg));
}

/* The model's prompt called one of names, or NULL (the model's default). */
static const char *prompt_named(const semdex_model_info *info, const char *a, const char *b)
{
    for (size_t i = 0; i < info->n_prompts; i++)
        if (!strcmp(info->prompt_names[i], a) || (b && !strcmp(info->prompt_names[i], b)))
            return info->prompt_names[i];
    return NULL;
}

/* Embeds texts[0..n) into out (n x dim), EMBED_BATCH at a time. */
static int embed_all(eval_vector *v, char *const *texts, size_t n, const char *prompt, float *out)
{
    semdex_embeddings e = {0};
    semdex_embed_options eo = semdex_embed_options_default();
    eo.prompt_name = prompt;
    size_t lens[EMBED_BATCH];
    for (size_t i = 0; i < n; i += EMBED_BATCH) {
        size_t m = n - i < EMBED_BATCH ? n - i : EMBED_BATCH;
        for (size_t j = 0; j < m; j++)
            lens[j] = strlen(texts[i + j]);
        semdex_error err = {0};
        if (semdex_model_embed(v->model, (const char *const *)texts + i, lens, m, &eo, &e, &err)) {
            print_err("embedding", &err);
            semdex_embeddings_free(&e);
            return -1;
        }
        memcpy(out + i * v->dim, e.vectors, m * v->dim * sizeof *out);
    }
    semdex_embeddings_free(&e);
    return 0;
}

/* Embeds and adds the corpus, one chunk per document, in batches. */
static int add_corpus(eval_vector *v, const eval_set *s, const semdex_model_identity *id, const char *prompt)
{
    size_t batch = 256;
    float *vecs = sx_malloc(batch * v->dim * sizeof *vecs);
    semdex_chunk_input *ch = sx_calloc(batch, sizeof *ch);
    semdex_document_input *docs = sx_calloc(batch, sizeof *docs);
    int rc = vecs && ch && docs ? 0 : eval_oom();
    for (size_t i = 0; !rc && i < s->n_docs; i += batch) {
        size_t m = s->n_docs - i < batch ? s->n_docs - i : batch;
        if ((rc = embed_all(v, s->doc_texts + i, m, prompt, vecs)))
            break;
        for (size_t j = 0; j < m; j++) {
            ch[j] = (semdex_chunk_input){s->doc_texts[i + j], strlen(s->doc_texts[i + j]), -1, -1, NULL,
                                         vecs + j * v->dim, v->dim};
            docs[j] = (semdex_document_input){0};
            docs[j].id = s->doc_ids[i + j];
            docs[j].chunks = &ch[j];
            docs[j].n_chunks = 1;
        }
        semdex_error err = {0};
        if (semdex_collection_add(v->coll, docs, m, id, &err)) {
            print_err("storing the corpus", &err);
            rc = -1;
        }
    }
    sx_free(vecs);
    sx_free(ch);
    sx_free(docs);
    return rc;
}

void eval_vector_close(eval_vector *v)
{
    if (!v)
        return;
    semdex_db_close(v->db);
    semdex_model_free(v->model);
    if (v->path[0]) {
        char p[128];
        remove(v->path);
        snprintf(p, sizeof p, "%s-wal", v->path);
        remove(p);
        snprintf(p, sizeof p, "%s-shm", v->path);
        remove(p);
        rmdir(v->dir);
    }
    sx_free(v->qvecs);
    sx_strmap_free(&v->docs);
    sx_free(v);
}

int eval_vector_open(eval_vector **out, const eval_set *s, const char *model_dir)
{
    *out = NULL;
    eval_vector *v = sx_calloc(1, sizeof *v);
    if (!v)
        return eval_oom();
    semdex_error err = {0};
    semdex_model_options mo = semdex_model_options_default();
    if (semdex_model_load(model_dir, &mo, &v->model, &err)) {
        print_err("loading the model", &err);
        eval_vector_close(v);
        return -1;
    }
    const semdex_model_info *info = semdex_model_get_info(v->model);
    v->dim = info->dim;
    const char *tmp = getenv("TMPDIR");
    snprintf(v->dir, sizeof v->dir, "%.40s/semdex-eval-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(v->dir)) {
        fprintf(stderr, "semdex eval: cannot make a temporary directory %s\n", v->dir);
        eval_vector_close(v);
        return -1;
    }
    snprintf(v->path, sizeof v->path, "%s/eval.db", v->dir);
    semdex_db_options dbo = semdex_db_options_default();
    semdex_collection_options co = semdex_collection_options_default();
    semdex_model_identity id = semdex_model_identity_of(info);
    co.model = id;
    int rc = 0;
    double t0 = eval_now_s();
    if (semdex_db_open(v->path, &dbo, &v->db, &err) || semdex_collection_create(v->db, "eval", &co, &v->coll, &err)) {
        print_err(v->path, &err);
        rc = -1;
    }
    if (!rc)
        rc = add_corpus(v, s, &id, prompt_named(info, "document", "passage"));
    v->index_s = eval_now_s() - t0;
    if (!rc && !(v->qvecs = sx_malloc((s->n_queries ? s->n_queries : 1) * v->dim * sizeof *v->qvecs)))
        rc = eval_oom();
    t0 = eval_now_s();
    if (!rc)
        rc = embed_all(v, s->q_texts, s->n_queries, prompt_named(info, "query", NULL), v->qvecs);
    v->query_embed_s = eval_now_s() - t0;
    if (!rc && sx_strmap_reserve(&v->docs, s->n_docs))
        rc = eval_oom();
    for (size_t i = 0; !rc && i < s->n_docs; i++)
        if (sx_strmap_put(&v->docs, s->doc_ids[i], strlen(s->doc_ids[i]), (int32_t)i, NULL) < 0)
            rc = eval_oom();
    if (rc) {
        eval_vector_close(v);
        return -1;
    }
    *out = v;
    return 0;
}

int eval_vector_rank(eval_vector *v, const eval_set *s, int hybrid, eval_ranking *r)
{
    semdex_results res = {0};
    double t0 = eval_now_s();
    int rc = 0;
    for (size_t q = 0; !rc && q < s->n_queries; q++) {
        if (s->rel_off[q + 1] == s->rel_off[q])
            continue;
        semdex_search_options so = semdex_search_options_default();
        so.mode = hybrid ? SEMDEX_SEARCH_HYBRID : SEMDEX_SEARCH_VECTOR;
        so.k = r->depth;
        so.vector = v->qvecs + q * v->dim;
        so.dim = v->dim;
        if (hybrid) {
            so.query = s->q_texts[q];
            so.query_len = strlen(s->q_texts[q]);
        }
        semdex_error err = {0};
        if (semdex_collection_search(v->coll, &so, &res, &err)) {
            print_err("search", &err);
            rc = -1;
            break;
        }
        size_t n = 0;
        for (size_t i = 0; i < res.n && n < r->depth; i++) {
            int32_t d;
            if (!sx_strmap_get(&v->docs, res.hits[i].id, strlen(res.hits[i].id), &d))
                continue;
            r->docs[q * r->depth + n] = (uint32_t)d;
            r->scores[q * r->depth + n++] = res.hits[i].score;
        }
        r->n[q] = n;
    }
    semdex_results_free(&res);
    r->index_s = v->index_s;
    r->search_s = eval_now_s() - t0 + v->query_embed_s;
    return rc;
}
