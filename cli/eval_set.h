/* eval_set.h: the evaluation data of `semdex eval` (cmd_eval.c): a set of
 * documents, queries and graded judgements, rankings of the documents for
 * each query, and the metrics BEIR reports.  Loaders print their errors to
 * stderr and return -1. */
#ifndef SEMDEX_EVAL_SET_H
#define SEMDEX_EVAL_SET_H
#include <stddef.h>
#include <stdint.h>

typedef struct eval_set {
    size_t n_docs, cap_docs;
    char **doc_ids, **doc_texts;
    size_t n_queries, cap_queries;
    char **q_ids, **q_texts;
    /* relevant documents of query q: rel_doc/rel_grade[rel_off[q] .. rel_off[q+1]), grades > 0 */
    size_t *rel_off;
    uint32_t *rel_doc;
    int *rel_grade;
    size_t n_rels;
    char name[64];
} eval_set;

/* The unit of XQuAD documents. */
typedef enum eval_xquad_unit {
    EVAL_XQUAD_PASSAGE,  /* each passage; a question's passage is relevant */
    EVAL_XQUAD_SENTENCE, /* each sentence; the sentence holding the answer is relevant */
    EVAL_XQUAD_UNIT_COUNT
} eval_xquad_unit;

int eval_set_load_beir(eval_set *s, const char *corpus, const char *queries, const char *qrels);
int eval_set_load_xquad(eval_set *s, const char *dir, const char *lang, eval_xquad_unit unit);
int eval_set_write_beir(const eval_set *s, const char *dir);
void eval_set_free(eval_set *s);

/* The ranked documents of every query: docs/scores[q * depth + i], i < n[q]. */
typedef struct eval_ranking {
    size_t depth;
    uint32_t *docs;
    double *scores;
    size_t *n;
    double index_s, search_s; /* wall time to index the corpus, to run all queries (0: unknown) */
} eval_ranking;

int eval_ranking_init(eval_ranking *r, size_t n_queries, size_t depth);
void eval_ranking_free(eval_ranking *r);
/* Reads a TREC run file ("qid Q0 docid rank score tag" lines) into r: each
 * query's documents by descending score (ties: the file's order), the
 * first depth kept; unknown query or document ids are counted and skipped. */
int eval_ranking_read_run(eval_ranking *r, const eval_set *s, const char *path);

/* recall@k, MRR@10 and nDCG@10 (linear gains), as BEIR's pytrec_eval
 * computes them, averaged over the queries with a relevant document. */
typedef struct eval_scores {
    double recall, mrr, ndcg;
    size_t n_queries;
} eval_scores;
void eval_scores_compute(const eval_set *s, const eval_ranking *r, size_t k, eval_scores *out);

/* The vector and hybrid arms (eval_vector.c): the corpus embedded with the
 * model in model_dir into a throwaway store, the queries embedded once. */
typedef struct eval_vector eval_vector;
int eval_vector_open(eval_vector **out, const eval_set *s, const char *model_dir);
/* Ranks every query's documents by vector search, or hybrid (RRF, k = 60). */
int eval_vector_rank(eval_vector *v, const eval_set *s, int hybrid, eval_ranking *r);
void eval_vector_close(eval_vector *v);

double eval_now_s(void);
int eval_oom(void);

#endif
