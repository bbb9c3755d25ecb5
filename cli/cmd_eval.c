/* cmd_eval.c: `semdex eval`: retrieval quality on a BEIR-style set (corpus,
 * queries, qrels) or on XQuAD read directly, as recall@k, MRR@10 and
 * nDCG@10 per mode.  The keyword mode indexes the corpus with the BM25
 * index (src/index/bm25.h) in a throwaway SQLite database; the vector and
 * hybrid modes (reciprocal rank fusion of the two arms) embed it with a
 * model into a throwaway store (eval_vector.c).  Also converts XQuAD to BEIR
 * files and scores rankings made elsewhere (TREC run files). */
#include "cli.h"
#include "eval_set.h"
#include "alloc.h"
#include "err.h"
#include "../src/index/bm25.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semdex eval --corpus FILE --queries FILE --qrels FILE [options]\n"
            "       semdex eval --xquad DIR --lang en|zh [options]\n"
            "       semdex eval --xquad DIR --lang en|zh --write-beir OUT_DIR\n"
            "       semdex eval (--corpus ... | --xquad ...) --run FILE [--label NAME]\n"
            "\n"
            "Measures retrieval on a BEIR-style set: corpus.jsonl ({\"_id\", \"title\", \"text\"}),\n"
            "queries.jsonl ({\"_id\", \"text\"}) and a qrels TSV (query-id, corpus-id, score; a\n"
            "header line is allowed).  --xquad reads XQuAD's xquad.LANG.json instead: passages\n"
            "are the documents, questions the queries, each question's own passage the one\n"
            "relevant document (--unit sentence: each sentence a document, the one holding\n"
            "the answer relevant); --write-beir writes that set as BEIR files and stops.\n"
            "--run scores a ranking made elsewhere (a TREC run file: qid Q0 docid rank score\n"
            "tag) with the same metrics.\n"
            "Prints recall@K, MRR@10 and nDCG@10 per mode, averaged over the queries that\n"
            "have a relevant document.\n"
            "\n"
            "options:\n"
            "  --mode MODE      keyword (default), vector, hybrid or all\n"
            "  -k N             the K of recall@K (default 10)\n"
            "  -m, --model DIR  embedding model for the vector and hybrid modes (the corpus\n"
            "                   is embedded into a temporary store; hybrid fuses the vector\n"
            "                   and BM25 rankings by reciprocal rank fusion, k = 60)\n"
            "  --k1 X, --b X    BM25 parameters (default 1.2, 0.75)\n"
            "  --no-stem        no Porter stemming of English words\n"
            "  --stopwords      drop English stop words\n"
            "  --zh MODE        Chinese terms: words+chars (default), words, bigrams,\n"
            "                   chars+bigrams, chars\n"
            "  --unit UNIT      XQuAD documents: passage (default) or sentence\n"
            "  --json           one JSON line per mode instead of the table\n"
            "  -h, --help       show this help\n");
}

typedef struct eval_opts {
    size_t k;
    const char *mode, *model;
    bm25_params bm25;
    analyze_options analysis;
    int json;
} eval_opts;

static int has_rel(const eval_set *s, size_t q) { return s->rel_off[q + 1] > s->rel_off[q]; }

static void print_error(const semdex_error *err)
{
    char msg[1024];
    fprintf(stderr, "semdex eval: %s\n", semdex_error_format(err, msg, sizeof msg));
}

/* Indexes the corpus with BM25 in a temporary database and runs the queries. */
static int run_keyword(const eval_set *s, const eval_opts *o, eval_ranking *r)
{
    char path[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/semdex-eval-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "semdex eval: cannot create a temporary database in %s: %s\n", path, strerror(errno));
        return -1;
    }
    close(fd);
    sqlite3 *db = NULL;
    bm25_index *ix = NULL;
    bm25_hit *hits = sx_malloc(r->depth * sizeof *hits);
    semdex_error err = {0};
    int rc = -1;
    if (!hits) {
        eval_oom();
        goto done;
    }
    if (sqlite3_open(path, &db) || sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", 0, 0, 0)) {
        fprintf(stderr, "semdex eval: %s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto done;
    }
    if (!(ix = bm25_open_with(db, 1, &o->bm25, &o->analysis, &err))) {
        print_error(&err);
        goto done;
    }
    double t0 = eval_now_s();
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    for (size_t i = 0; i < s->n_docs; i++) {
        if (bm25_add(ix, (int64_t)i, s->doc_texts[i], strlen(s->doc_texts[i]), &err)) {
            fprintf(stderr, "semdex eval: document \"%s\": ", s->doc_ids[i]);
            print_error(&err);
            goto done;
        }
    }
    if (sqlite3_exec(db, "COMMIT", 0, 0, 0)) {
        fprintf(stderr, "semdex eval: %s: %s\n", path, sqlite3_errmsg(db));
        goto done;
    }
    double t1 = eval_now_s();
    for (size_t q = 0; q < s->n_queries; q++) {
        if (!has_rel(s, q))
            continue;
        size_t n = bm25_search(ix, s->q_texts[q], strlen(s->q_texts[q]), r->depth, NULL, NULL, hits, &err);
        if (err.status) {
            fprintf(stderr, "semdex eval: query \"%s\": ", s->q_ids[q]);
            print_error(&err);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            r->docs[q * r->depth + i] = (uint32_t)hits[i].id;
            r->scores[q * r->depth + i] = hits[i].score;
        }
        r->n[q] = n;
    }
    r->index_s = t1 - t0;
    r->search_s = eval_now_s() - t1;
    rc = 0;
done:
    bm25_close(ix);
    sqlite3_close(db);
    remove(path);
    sx_free(hits);
    return rc;
}

static void print_scores(const eval_set *s, const eval_opts *o, const char *mode, const eval_scores *sc,
                         const eval_ranking *r)
{
    double ms_per_q = sc->n_queries ? r->search_s * 1e3 / (double)sc->n_queries : 0;
    if (o->json) {
        cli_buf b = {0};
        cli_buf_printf(&b, "{\"set\": ");
        cli_buf_json_string(&b, s->name, strlen(s->name));
        cli_buf_printf(&b, ", \"mode\": ");
        cli_buf_json_string(&b, mode, strlen(mode));
        cli_buf_printf(&b,
                       ", \"k\": %zu, \"recall\": %.4f, \"mrr@10\": %.4f, \"ndcg@10\": %.4f, "
                       "\"queries\": %zu, \"documents\": %zu, \"index_s\": %.3f, \"ms_per_query\": %.3f}\n",
                       o->k, sc->recall, sc->mrr, sc->ndcg, sc->n_queries, s->n_docs, r->index_s, ms_per_q);
        if (b.s)
            fputs(b.s, stdout);
        sx_free(b.s);
        return;
    }
    printf("%-16s %9.4f %8.4f %8.4f %8zu", mode, sc->recall, sc->mrr, sc->ndcg, sc->n_queries);
    if (r->index_s > 0 || r->search_s > 0)
        printf(" %9.2f %9.3f\n", r->index_s, ms_per_q);
    else
        printf(" %9s %9s\n", "-", "-");
}

/* ------------------------------------------------------------ options */

static int parse_double(const char *s, double *out)
{
    char *e;
    if (!s || !*s)
        return -1;
    errno = 0;
    *out = strtod(s, &e);
    return errno || *e || !isfinite(*out) ? -1 : 0;
}

static int parse_zh(const char *s, analyze_zh *out)
{
    static const char *const names[] = {"words+chars", "words", "bigrams", "chars+bigrams", "chars"};
    _Static_assert(sizeof names / sizeof names[0] == ANALYZE_ZH_COUNT, "a name per mode");
    for (int i = 0; i < ANALYZE_ZH_COUNT; i++)
        if (s && !strcmp(s, names[i])) {
            *out = (analyze_zh)i;
            return 0;
        }
    return -1;
}

typedef struct args {
    const char *corpus, *queries, *qrels, *xquad, *lang, *write_beir, *run, *label;
    eval_xquad_unit unit;
} args;

/* Returns 0 to go on, 1 when help was printed, 2 on a usage error. */
static int parse_args(int argc, char **argv, args *a, eval_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *x = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (!strcmp(x, "-h") || !strcmp(x, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(x, "--corpus")) a->corpus = v;
        else if (!strcmp(x, "--queries")) a->queries = v;
        else if (!strcmp(x, "--qrels")) a->qrels = v;
        else if (!strcmp(x, "--xquad")) a->xquad = v;
        else if (!strcmp(x, "--lang")) a->lang = v;
        else if (!strcmp(x, "--write-beir")) a->write_beir = v;
        else if (!strcmp(x, "--run")) a->run = v;
        else if (!strcmp(x, "--label")) a->label = v;
        else if (!strcmp(x, "--unit")) {
            if (!v || (strcmp(v, "passage") && strcmp(v, "sentence"))) {
                fprintf(stderr, "semdex eval: --unit wants passage or sentence\n");
                return 2;
            }
            a->unit = strcmp(v, "passage") ? EVAL_XQUAD_SENTENCE : EVAL_XQUAD_PASSAGE;
        }
        else if (!strcmp(x, "--mode")) o->mode = v;
        else if (!strcmp(x, "-m") || !strcmp(x, "--model")) o->model = v;
        else if (!strcmp(x, "-k")) {
            if (cli_parse_size(v, &o->k) || !o->k || o->k > 10000) {
                fprintf(stderr, "semdex eval: -k wants a number from 1 to 10000\n");
                return 2;
            }
        } else if (!strcmp(x, "--k1") || !strcmp(x, "--b")) {
            double d;
            if (parse_double(v, &d) || d < 0 || (x[2] == 'b' && d > 1)) {
                fprintf(stderr, "semdex eval: %s wants a number (k1 >= 0, 0 <= b <= 1)\n", x);
                return 2;
            }
            *(x[2] == 'b' ? &o->bm25.b : &o->bm25.k1) = d;
        } else if (!strcmp(x, "--zh")) {
            if (parse_zh(v, &o->analysis.zh)) {
                fprintf(stderr, "semdex eval: --zh wants words+chars, words, bigrams, chars+bigrams or chars\n");
                return 2;
            }
        } else {
            used = 0;
            if (!strcmp(x, "--no-stem"))
                o->analysis.stem = o->bm25.stem = 0;
            else if (!strcmp(x, "--stopwords"))
                o->analysis.stopwords = 1;
            else if (!strcmp(x, "--json"))
                o->json = 1;
            else {
                fprintf(stderr, "semdex eval: unknown option '%s' (see semdex eval --help)\n", x);
                return 2;
            }
        }
        if (used) {
            if (!v) {
                fprintf(stderr, "semdex eval: %s needs a value\n", x);
                return 2;
            }
            i++;
        }
    }
    if (a->xquad ? (!a->lang || a->corpus || a->queries || a->qrels) : (!a->corpus || !a->queries || !a->qrels)) {
        fprintf(stderr, "semdex eval: give --corpus, --queries and --qrels, or --xquad DIR with --lang\n");
        return 2;
    }
    if (a->write_beir && !a->xquad) {
        fprintf(stderr, "semdex eval: --write-beir converts an --xquad set\n");
        return 2;
    }
    if (strcmp(o->mode, "keyword") && strcmp(o->mode, "vector") && strcmp(o->mode, "hybrid") &&
        strcmp(o->mode, "all")) {
        fprintf(stderr, "semdex eval: --mode wants keyword, vector, hybrid or all\n");
        return 2;
    }
    return 0;
}

/* Runs the vector and hybrid modes asked for. */
static int run_embedding_modes(const eval_set *s, const eval_opts *o, int vector, int hybrid)
{
    if (!o->model) {
        fprintf(stderr, "semdex eval: the vector and hybrid modes need -m MODEL\n");
        return -1;
    }
    eval_vector *v;
    if (eval_vector_open(&v, s, o->model))
        return -1;
    int failed = 0;
    for (int h = 0; h < 2; h++) {
        if (!(h ? hybrid : vector))
            continue;
        eval_ranking r;
        eval_scores sc;
        if (eval_ranking_init(&r, s->n_queries, o->k > 10 ? o->k : 10) || eval_vector_rank(v, s, h, &r)) {
            failed = 1;
        } else {
            eval_scores_compute(s, &r, o->k, &sc);
            print_scores(s, o, h ? "hybrid" : "vector", &sc, &r);
        }
        eval_ranking_free(&r);
    }
    eval_vector_close(v);
    return failed ? -1 : 0;
}

int cmd_eval(int argc, char **argv)
{
    args a = {0};
    eval_opts o = {0};
    o.k = 10;
    o.mode = "keyword";
    o.bm25 = bm25_params_default();
    o.analysis = analyze_options_default();
    int pr = parse_args(argc, argv, &a, &o);
    if (pr)
        return pr == 1 ? 0 : 2;
    eval_set s = {0};
    int rc = a.xquad ? eval_set_load_xquad(&s, a.xquad, a.lang, a.unit) : eval_set_load_beir(&s, a.corpus, a.queries, a.qrels);
    if (!rc && a.write_beir) {
        rc = eval_set_write_beir(&s, a.write_beir);
        eval_set_free(&s);
        return rc ? 1 : 0;
    }
    if (rc) {
        eval_set_free(&s);
        return 1;
    }
    size_t n_eval = 0;
    for (size_t q = 0; q < s.n_queries; q++)
        n_eval += has_rel(&s, q);
    if (!o.json) {
        printf("semdex eval: %s, %zu documents, %zu queries with a relevant document\n", s.name, s.n_docs, n_eval);
        char col[24];
        snprintf(col, sizeof col, "recall@%zu", o.k);
        printf("%-16s %9s %8s %8s %8s %9s %9s\n", "mode", col, "MRR@10", "nDCG@10", "queries", "index_s",
               "ms/query");
    }
    if (a.run) {
        eval_ranking r;
        eval_scores sc;
        int bad = eval_ranking_init(&r, s.n_queries, o.k > 10 ? o.k : 10) || eval_ranking_read_run(&r, &s, a.run);
        if (!bad) {
            eval_scores_compute(&s, &r, o.k, &sc);
            print_scores(&s, &o, a.label ? a.label : "run", &sc, &r);
        }
        eval_ranking_free(&r);
        eval_set_free(&s);
        return bad ? 1 : 0;
    }
    int all = !strcmp(o.mode, "all");
    int failed = 0;
    if (all || !strcmp(o.mode, "keyword")) {
        eval_ranking r;
        eval_scores sc;
        if (eval_ranking_init(&r, s.n_queries, o.k > 10 ? o.k : 10) || run_keyword(&s, &o, &r)) {
            failed = 1;
        } else {
            eval_scores_compute(&s, &r, o.k, &sc);
            print_scores(&s, &o, "keyword", &sc, &r);
        }
        eval_ranking_free(&r);
    }
    int vector = all || !strcmp(o.mode, "vector"), hybrid = all || !strcmp(o.mode, "hybrid");
    if (vector || hybrid)
        failed |= run_embedding_modes(&s, &o, vector, hybrid) != 0;
    eval_set_free(&s);
    return failed ? 1 : 0;
}
