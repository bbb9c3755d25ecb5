/* test_store.c: the knowledge store (src/store/) through the public API:
 * round trips, replacement and deletion, the dimension and model rules,
 * metadata filters, fusion, the HNSW image's persistence and repair,
 * damaged files, allocation failures, and the crash test (a child killed
 * with SIGKILL while it ingests, then checked).  The store commands are
 * tested in test_store_cli.c. */
#include "test.h"
#include "semdex.h"
#include "alloc.h"
#include "../src/store/paragraph.h"
#include "../src/store/record.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIM 16

/* ---------------------------------------------------------------- helpers */

typedef struct tmpdb {
    char dir[64];
    char path[96];
} tmpdb;

/* A fresh directory for a store: in /tmp, or in memory-backed /dev/shm
 * when fast (where fsync costs nothing). */
static int tmpdb_make_in(tmpdb *t, int fast)
{
    snprintf(t->dir, sizeof t->dir, "%s/semdex-store-XXXXXX", fast && !access("/dev/shm", W_OK) ? "/dev/shm" : "/tmp");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof t->path, "%s/store.db", t->dir);
    return 0;
}

static int tmpdb_make(tmpdb *t) { return tmpdb_make_in(t, 0); }

static void tmpdb_remove_files(const tmpdb *t)
{
    char p[128];
    unlink(t->path);
    snprintf(p, sizeof p, "%s-wal", t->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", t->path);
    unlink(p);
}

static void tmpdb_free(const tmpdb *t)
{
    tmpdb_remove_files(t);
    rmdir(t->dir);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fill_vec(float *v, size_t dim, uint64_t seed)
{
    uint64_t s = seed * 7919 + 1;
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)((double)(splitmix(&s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* A word of letters only, unique per n (keyword analyzers keep it whole). */
static void word_of(unsigned n, char *buf)
{
    static const char letters[] = "bcdfghjklmnpqrstvwxz";
    buf[0] = 'q';
    for (int i = 1; i <= 5; i++) {
        buf[i] = letters[n % 20];
        n /= 20;
    }
    buf[6] = 0;
}

static semdex_db *open_db(const char *path)
{
    semdex_db *db = NULL;
    semdex_error err = {0};
    if (semdex_db_open(path, NULL, &db, &err)) {
        char buf[600];
        fprintf(stderr, "open %s: %s\n", path, semdex_error_format(&err, buf, sizeof buf));
    }
    return db;
}

/* n documents "doc-i" with one chunk each: text "... <word(i)> ...",
 * vector fill_vec(i), metadata {"i": i, "parity": "even"|"odd"}. */
typedef struct docset {
    semdex_document_input *docs;
    semdex_chunk_input *chunks;
    char (*ids)[32];
    char (*texts)[96];
    char (*meta)[80];
    float *vecs;
} docset;

static void docset_make(docset *d, unsigned first, size_t n, int with_vectors)
{
    d->docs = calloc(n, sizeof *d->docs);
    d->chunks = calloc(n, sizeof *d->chunks);
    d->ids = calloc(n, sizeof *d->ids);
    d->texts = calloc(n, sizeof *d->texts);
    d->meta = calloc(n, sizeof *d->meta);
    d->vecs = calloc(n * DIM, sizeof *d->vecs);
    for (size_t i = 0; i < n; i++) {
        unsigned k = first + (unsigned)i;
        char w[8];
        word_of(k, w);
        snprintf(d->ids[i], sizeof d->ids[i], "doc-%u", k);
        snprintf(d->texts[i], sizeof d->texts[i], "shared words and %s in the middle", w);
        snprintf(d->meta[i], sizeof d->meta[i], "{\"i\": %u, \"parity\": \"%s\", \"tags\": [\"t%u\"], \"all\": true}", k,
                 k % 2 ? "odd" : "even", k % 5);
        fill_vec(d->vecs + i * DIM, DIM, k);
        d->chunks[i] = (semdex_chunk_input){d->texts[i], strlen(d->texts[i]), 0, (int64_t)strlen(d->texts[i]), NULL,
                                            with_vectors ? d->vecs + i * DIM : NULL, with_vectors ? DIM : 0};
        d->docs[i] = (semdex_document_input){d->ids[i], NULL, d->meta[i], 0, 0, &d->chunks[i], 1};
    }
}

static void docset_free(docset *d)
{
    free(d->docs);
    free(d->chunks);
    free(d->ids);
    free(d->texts);
    free(d->meta);
    free(d->vecs);
}

static semdex_collection *make_collection(semdex_db *db, const char *name, semdex_metric metric)
{
    semdex_collection_options o = semdex_collection_options_default();
    o.metric = metric;
    semdex_collection *c = NULL;
    semdex_error err = {0};
    semdex_collection_get(db, name, &o, &c, &err);
    return c;
}

/* Top hit's document id of a search, or "" when none. */
static const char *top_id(semdex_collection *c, const semdex_search_options *o, semdex_results *r)
{
    semdex_error err = {0};
    if (semdex_collection_search(c, o, r, &err)) {
        char buf[600];
        fprintf(stderr, "search: %s\n", semdex_error_format(&err, buf, sizeof buf));
        return "";
    }
    return r->n ? r->hits[0].id : "";
}

typedef struct doctor_lines {
    char text[2048];
    size_t n;
} doctor_lines;

static void keep_problem(void *ctx, const char *line)
{
    doctor_lines *p = ctx;
    size_t n = strlen(p->text);
    snprintf(p->text + n, sizeof p->text - n, "\n      %s", line);
}

/* Runs the doctor; fails the test (listing the problems) unless it finds
 * exactly `expected` of them. */
#define CHECK_DOCTOR(db, expected)                                                                          \
    do {                                                                                                    \
        doctor_lines p_ = {{0}, 0};                                                                             \
        semdex_error e_ = {0};                                                                              \
        CHECKF(!semdex_db_doctor((db), 0, keep_problem, &p_, &p_.n, &e_), "doctor: %s", e_.message);        \
        CHECKF(p_.n == (expected), "doctor found %zu problems, expected %d:%s", p_.n, (int)(expected), p_.text); \
    } while (0)

static size_t doctor_problems(semdex_db *db)
{
    size_t n = 0;
    semdex_error err = {0};
    if (semdex_db_doctor(db, 0, NULL, NULL, &n, &err))
        return 1000;
    return n;
}

static size_t count_docs(semdex_collection *c)
{
    semdex_collection_info info;
    semdex_error err = {0};
    return semdex_collection_get_info(c, &info, &err) ? SIZE_MAX : info.n_documents;
}

/* ------------------------------------------------------------------ tests */

TEST(store_round_trip_vector_keyword_hybrid)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    semdex_db *db = open_db(t.path);
    CHECK(db);
    semdex_collection *c = make_collection(db, "docs", SEMDEX_METRIC_COSINE);
    CHECK(c);
    docset d;
    docset_make(&d, 0, 200, 1);
    semdex_error err = {0};
    CHECK(!semdex_collection_add(c, d.docs, 200, NULL, &err));
    semdex_results r = {0};
    semdex_search_options o = semdex_search_options_default();
    o.mode = SEMDEX_SEARCH_VECTOR;
    o.k = 3;
    o.dim = DIM;
    for (int exact = 0; exact < 2; exact++) {
        o.exact = exact;
        for (unsigned i = 0; i < 200; i += 17) {
            o.vector = d.vecs + i * DIM;
            CHECKF(!strcmp(top_id(c, &o, &r), d.ids[i]), "exact %d: doc %u: got %s", exact, i,
                   r.n ? r.hits[0].id : "-");
            CHECK(fabs(r.hits[0].vector_score - 1.0) < 1e-4 && r.hits[0].vector_rank == 1 && !r.hits[0].keyword_rank);
            CHECK(r.vector_exact == exact);
        }
    }
    o = semdex_search_options_default();
    o.mode = SEMDEX_SEARCH_KEYWORD;
    char w[8];
    word_of(123, w);
    o.query = w;
    o.query_len = strlen(w);
    CHECK(!strcmp(top_id(c, &o, &r), "doc-123"));
    CHECK(r.hits[0].keyword_rank == 1 && r.hits[0].keyword_score > 0 && !r.hits[0].vector_rank);
    CHECK(!strcmp(r.hits[0].metadata, d.meta[123]) && !strcmp(r.hits[0].text, d.texts[123]));
    CHECK(r.hits[0].start == 0 && r.hits[0].end == (int64_t)strlen(d.texts[123]) && r.hits[0].ordinal == 0);
    /* hybrid: the same document first in both arms wins with 2 / (60 + 1) */
    o.mode = SEMDEX_SEARCH_HYBRID;
    o.vector = d.vecs + 123 * DIM;
    o.dim = DIM;
    CHECK(!strcmp(top_id(c, &o, &r), "doc-123"));
    CHECK(r.hits[0].vector_rank == 1 && r.hits[0].keyword_rank == 1);
    CHECKF(fabs(r.hits[0].score - 2.0 / 61.0) < 1e-12, "score %.17g", r.hits[0].score);
    for (size_t i = 1; i < r.n; i++) {
        const semdex_hit *h = &r.hits[i];
        double want = (h->vector_rank ? 1.0 / (60.0 + (double)h->vector_rank) : 0) +
                      (h->keyword_rank ? 1.0 / (60.0 + (double)h->keyword_rank) : 0);
        CHECK(fabs(h->score - want) < 1e-12 && h->score <= r.hits[i - 1].score);
    }
    /* weighted fusion: the top of both arms scores w + (1 - w) = 1 */
    o.fusion = SEMDEX_FUSION_WEIGHTED;
    o.vector_weight = 0.3;
    CHECK(!strcmp(top_id(c, &o, &r), "doc-123") && fabs(r.hits[0].score - 1.0) < 1e-9);
    /* hybrid without a vector is the keyword arm, said in the note */
    o = semdex_search_options_default();
    o.query = w;
    o.query_len = strlen(w);
    CHECK(!strcmp(top_id(c, &o, &r), "doc-123") && strstr(r.note, "keyword arm only"));
    semdex_results_free(&r);
    CHECK_DOCTOR(db, 0);
    semdex_db_close(db);
    /* reopened: everything still there */
    db = open_db(t.path);
    CHECK(db);
    CHECK(!semdex_collection_get(db, "docs", NULL, &c, &err));
    CHECK(count_docs(c) == 200);
    o = semdex_search_options_default();
    o.mode = SEMDEX_SEARCH_VECTOR;
    o.vector = d.vecs + 77 * DIM;
    o.dim = DIM;
    CHECK(!strcmp(top_id(c, &o, &r), "doc-77"));
    semdex_results_free(&r);
    semdex_db_close(db);
    docset_free(&d);
    tmpdb_free(&t);
}

TEST(store_metrics_dot_and_l2)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    semdex_db *db = open_db(t.path);
    CHECK(db);
    docset d;
    docset_make(&d, 0, 60, 1);
    semdex_error err = {0};
    for (int m = SEMDEX_METRIC_DOT; m <= SEMDEX_METRIC_L2; m++) {
        semdex_collection *c = make_collection(db, semdex_metric_name((semdex_metric)m), (semdex_metric)m);
        CHECK(c && !semdex_collection_add(c, d.docs, 60, NULL, &err));
        semdex_results r = {0};
        semdex_search_options o = semdex_search_options_default();
        o.mode = SEMDEX_SEARCH_VECTOR;
        o.vector = d.vecs + 5 * DIM;
        o.dim = DIM;
        o.k = 60;
        for (int exact = 0; exact < 2; exact++) {
            o.exact = exact;
            CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 60);
            double dot = 0, l2 = 0;
            for (int i = 0; i < DIM; i++)
                dot += (double)d.vecs[5 * DIM + i] * d.vecs[5 * DIM + i];
            if (m == SEMDEX_METRIC_L2)
                CHECK(!strcmp(r.hits[0].id, "doc-5") && fabs(r.hits[0].vector_score - l2) < 1e-5);
            else
                CHECKF(fabs(r.hits[0].vector_score - dot) < 1e-3 || r.hits[0].vector_score > dot,
                       "dot %g top %g", dot, r.hits[0].vector_score);
            for (size_t i = 1; i < r.n; i++)
                CHECK(r.hits[i].vector_score <= r.hits[i - 1].vector_score + 1e-6);
        }
        semdex_results_free(&r);
    }
    CHECK_DOCTOR(db, 0);
    semdex_db_close(db);
    docset_free(&d);
    tmpdb_free(&t);
}

TEST(store_replace_and_delete)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    semdex_db *db = open_db(t.path);
    semdex_collection *c = make_collection(db, "default", SEMDEX_METRIC_COSINE);
    CHECK(c);
    docset d;
    docset_make(&d, 0, 40, 1);
    semdex_error err = {0};
    CHECK(!semdex_collection_add(c, d.docs, 40, NULL, &err));
    /* replace doc-3 by two chunks with doc-30's vector and a new word */
    semdex_chunk_input ch[2] = {
        {"zebra crossing", 14, 0, 14, "Intro", d.vecs + 30 * DIM, DIM},
        {"quiet harbour", 13, 15, 28, NULL, NULL, 0},
    };
    semdex_document_input nd = {"doc-3", "file:///x", "{\"v\": 2}", 17, 0, ch, 2};
    CHECK(!semdex_collection_add(c, &nd, 1, NULL, &err));
    CHECK(count_docs(c) == 40);
    semdex_collection_info info;
    CHECK(!semdex_collection_get_info(c, &info, &err) && info.n_chunks == 41 && info.n_vectors == 40);
    semdex_results r = {0};
    semdex_search_options o = semdex_search_options_default();
    o.mode = SEMDEX_SEARCH_KEYWORD;
    o.query = "harbour";
    o.query_len = 7;
    CHECK(!strcmp(top_id(c, &o, &r), "doc-3") && r.hits[0].ordinal == 1 && !r.hits[0].heading);
    CHECK(r.hits[0].uri && !strcmp(r.hits[0].uri, "file:///x") && r.hits[0].start == 15);
    char w[8];
    word_of(3, w);
    o.query = w;
    o.query_len = strlen(w);
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 0); /* old text gone */
    o.mode = SEMDEX_SEARCH_VECTOR;
    o.vector = d.vecs + 30 * DIM;
    o.dim = DIM;
    o.k = 2;
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 2);
    CHECK((!strcmp(r.hits[0].id, "doc-3") || !strcmp(r.hits[0].id, "doc-30")) &&
          (!strcmp(r.hits[1].id, "doc-3") || !strcmp(r.hits[1].id, "doc-30")));
    CHECK(r.hits[0].heading || r.hits[1].heading);
    /* delete */
    const char *ids[] = {"doc-3", "doc-30", "nope"};
    size_t removed = 0;
    CHECK(!semdex_collection_delete(c, ids, 3, &removed, &err) && removed == 2);
    CHECK(count_docs(c) == 38);
    o.k = 40;
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 38);
    for (size_t i = 0; i < r.n; i++)
        CHECK(strcmp(r.hits[i].id, "doc-3") && strcmp(r.hits[i].id, "doc-30"));
    semdex_results_free(&r);
    CHECK_DOCTOR(db, 0);
    /* drop */
    CHECK(!semdex_collection_drop(db, "default", &err));
    CHECK(semdex_collection_get(db, "default", NULL, &c, &err) == SEMDEX_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "no collection"));
    CHECK_DOCTOR(db, 0);
    semdex_db_close(db);
    docset_free(&d);
    tmpdb_free(&t);
}

TEST(store_refuses_other_dimensions_and_models)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    semdex_db *db = open_db(t.path);
    semdex_collection *c = make_collection(db, "default", SEMDEX_METRIC_COSINE);
    CHECK(c);
    docset d;
    docset_make(&d, 0, 3, 1);
    semdex_error err = {0};
    d.chunks[2].dim = 8; /* the third of a batch is wrong: none is stored */
    CHECK(semdex_collection_add(c, d.docs, 3, NULL, &err) == SEMDEX_ERR_INVALID_ARG);
    CHECKF(!strcmp(err.field, "documents[2].chunks[0].vector") && strstr(err.message, "dimension"), "%s: %s",
           err.field, err.message);
    CHECK(count_docs(c) == 0);
    d.chunks[2].dim = DIM;
    CHECK(!semdex_collection_add(c, d.docs, 3, NULL, &err));
    docset e;
    docset_make(&e, 10, 1, 1);
    e.chunks[0].dim = DIM - 1;
    CHECK(semdex_collection_add(c, e.docs, 1, NULL, &err) == SEMDEX_ERR_INVALID_ARG && strstr(err.message, "16"));
    /* a model's vectors into a collection of outside vectors */
    semdex_model_identity m = {"models/a", DIM, "mean", 1, 0x1234};
    e.chunks[0].dim = DIM;
    CHECK(semdex_collection_add(c, e.docs, 1, &m, &err) == SEMDEX_ERR_INVALID_ARG && strstr(err.message, "outside"));
    /* a collection made for model a */
    semdex_collection_options co = semdex_collection_options_default();
    co.model = m;
    semdex_collection *cm = NULL;
    CHECK(!semdex_collection_create(db, "m", &co, &cm, &err));
    CHECK(semdex_collection_create(db, "m", &co, &cm, &err) == SEMDEX_ERR_INVALID_ARG);
    CHECK(!semdex_collection_get(db, "m", NULL, &cm, &err));
    CHECK(semdex_collection_add(cm, e.docs, 1, NULL, &err) == SEMDEX_ERR_INVALID_ARG && strstr(err.message, "refused"));
    semdex_model_identity other = m;
    other.weights_hash = 0x9999;
    CHECK(semdex_collection_add(cm, e.docs, 1, &other, &err) == SEMDEX_ERR_INVALID_ARG &&
          strstr(err.message, "models/a"));
    other = m;
    other.pooling = "cls";
    CHECK(semdex_collection_add(cm, e.docs, 1, &other, &err) == SEMDEX_ERR_INVALID_ARG);
    other = m;
    other.model = "moved/elsewhere"; /* same weights, another path: the same model */
    CHECK(!semdex_collection_add(cm, e.docs, 1, &other, &err));
    semdex_collection_info info;
    CHECK(!semdex_collection_get_info(cm, &info, &err) && info.model.dim == DIM && info.model.weights_hash == 0x1234);
    CHECK(!strcmp(info.model.model, "models/a") && !strcmp(info.model.pooling, "mean") && info.model.normalize);
    /* keyword-only documents go anywhere */
    e.chunks[0].vector = NULL;
    CHECK(!semdex_collection_add(c, e.docs, 1, NULL, &err));
    /* bad inputs name their field */
    float nanv[DIM] = {0};
    nanv[3] = NAN;
    e.chunks[0].vector = nanv;
    CHECK(semdex_collection_add(c, e.docs, 1, NULL, &err) == SEMDEX_ERR_INVALID_ARG && err.offset == 3);
    float zero[DIM] = {0};
    e.chunks[0].vector = zero;
    CHECK(semdex_collection_add(c, e.docs, 1, NULL, &err) == SEMDEX_ERR_INVALID_ARG && strstr(err.message, "zero"));
    e.chunks[0].vector = NULL;
    e.docs[0].metadata = "[1]";
    CHECK(semdex_collection_add(c, e.docs, 1, NULL, &err) == SEMDEX_ERR_FORMAT &&
          !strcmp(err.field, "documents[0].metadata"));
    e.docs[0].metadata = "{\"a\": }";
    CHECK(semdex_collection_add(c, e.docs, 1, NULL, &err) == SEMDEX_ERR_PARSE && err.offset == 6);
    e.docs[0].metadata = NULL;
    e.chunks[0].text = "bad \xff utf8";
    e.chunks[0].len = 10;
    CHECK(semdex_collection_add(c, e.docs, 1, NULL, &err) == SEMDEX_ERR_UTF8 && err.offset == 4);
    semdex_document_input two[2] = {d.docs[0], d.docs[0]};
    CHECK(semdex_collection_add(c, two, 2, NULL, &err) == SEMDEX_ERR_INVALID_ARG && strstr(err.message, "repeats"));
    CHECK(count_docs(c) == 4);
    CHECK_DOCTOR(db, 0);
    semdex_db_close(db);
    docset_free(&d);
    docset_free(&e);
    tmpdb_free(&t);
}

TEST(store_metadata_filters)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    semdex_db *db = open_db(t.path);
    semdex_collection_options co = semdex_collection_options_default();
    co.hnsw_ef_construction = 40;
    semdex_collection *c = NULL;
    semdex_error err = {0};
    CHECK(!semdex_collection_create(db, "default", &co, &c, &err));
    docset d;
    docset_make(&d, 0, 3000, 1);
    CHECK(!semdex_collection_add(c, d.docs, 3000, NULL, &err));
    semdex_results r = {0};
    semdex_search_options o = semdex_search_options_default();
    o.mode = SEMDEX_SEARCH_VECTOR;
    o.vector = d.vecs + 10 * DIM;
    o.dim = DIM;
    o.k = 5;
    semdex_filter f[3] = {{"all", "true"}, {"parity", "odd"}, {"tags", "t1"}};
    o.filters = f;
    o.n_filters = 1; /* every row passes: through the graph */
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 5 && !r.vector_exact);
    CHECK(!strcmp(r.hits[0].id, "doc-10"));
    o.n_filters = 3; /* odd and tag t1: i = 1 mod 10, a tenth: exact */
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 5 && r.vector_exact);
    for (size_t i = 0; i < r.n; i++)
        CHECK(strstr(r.hits[i].metadata, "\"odd\"") && strstr(r.hits[i].metadata, "[\"t1\"]"));
    semdex_filter one = {"i", "2021"}; /* a number; selective: exact */
    o.filters = &one;
    o.n_filters = 1;
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 1 && !strcmp(r.hits[0].id, "doc-2021"));
    CHECK(r.vector_exact);
    one.value = "2021.0";
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 1);
    one.value = "x2021";
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 0);
    one.key = "missing.key";
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 0);
    one.key = "bad\x01key";
    CHECK(semdex_collection_search(c, &o, &r, &err) == SEMDEX_ERR_INVALID_ARG && !strcmp(err.field, "filter"));
    /* keyword arm with a filter */
    o.mode = SEMDEX_SEARCH_KEYWORD;
    o.query = "shared";
    o.query_len = 6;
    one = (semdex_filter){"i", "7"};
    CHECK(!semdex_collection_search(c, &o, &r, &err) && r.n == 1 && !strcmp(r.hits[0].id, "doc-7"));
    /* parsing "key=value" */
    char buf[] = "a.b=c=d";
    semdex_filter pf;
    CHECK(!semdex_filter_parse(buf, &pf, &err) && !strcmp(pf.key, "a.b") && !strcmp(pf.value, "c=d"));
    char bad1[] = "novalue", bad2[] = "=x", bad3[] = "a..b=1";
    CHECK(semdex_filter_parse(bad1, &pf, &err) && semdex_filter_parse(bad2, &pf, &err) &&
          semdex_filter_parse(bad3, &pf, &err));
    semdex_results_free(&r);
    semdex_db_close(db);
    docset_free(&d);
    tmpdb_free(&t);
}

static int sql_exec(const char *path, const char *sql)
{
    sqlite3 *s = NULL;
    int rc = sqlite3_open(path, &s);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s, sql, NULL, NULL, NULL);
    sqlite3_close(s);
    return rc;
}

static size_t pending_of(semdex_collection *c, size_t *image_bytes)
{
    semdex_collection_info info;
    semdex_error err = {0};
    if (semdex_collection_get_info(c, &info, &err))
        return SIZE_MAX;
    *image_bytes = info.index_image_bytes;
    return info.index_pending;
}

TEST(store_hnsw_image_saved_repaired_rebuilt)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    semdex_db *db = open_db(t.path);
    semdex_collection *c = make_collection(db, "default", SEMDEX_METRIC_COSINE);
    docset d;
    docset_make(&d, 0, 1000, 1);
    semdex_error err = {0};
    CHECK(!semdex_collection_add(c, d.docs, 900, NULL, &err));
    size_t bytes = 0;
    CHECK(pending_of(c, &bytes) == 900 && bytes == 0);
    CHECK(!semdex_db_checkpoint(db, &err)); /* builds and saves the image */
    CHECK(pending_of(c, &bytes) == 0 && bytes > 900 * DIM * 4);
    /* a few changes: below the save threshold, so the image stays behind */
    CHECK(!semdex_collection_add(c, d.docs + 900, 5, NULL, &err));
    const char *gone[] = {"doc-1", "doc-2"};
    CHECK(!semdex_collection_delete(c, gone, 2, NULL, &err));
    CHECK(pending_of(c, &bytes) == 7);
    semdex_db_close(db);
    CHECK(db = open_db(t.path));
    CHECK(!semdex_collection_get(db, "default", NULL, &c, &err));
    CHECK_DOCTOR(db, 0); /* behind is not damaged */
    semdex_results r = {0};
    semdex_search_options o = semdex_search_options_default();
    o.mode = SEMDEX_SEARCH_VECTOR;
    o.dim = DIM;
    o.k = 1;
    o.vector = d.vecs + 903 * DIM;
    CHECK(!strcmp(top_id(c, &o, &r), "doc-903")); /* repaired: the new vector is found */
    o.vector = d.vecs + 1 * DIM;
    CHECK(strcmp(top_id(c, &o, &r), "doc-1")); /* and the deleted one is not */
    CHECK(pending_of(c, &bytes) == 7);
    /* many changes: the search that repairs them saves the image */
    CHECK(!semdex_collection_add(c, d.docs + 905, 95, NULL, &err));
    semdex_db_close(db);
    CHECK(db = open_db(t.path));
    CHECK(!semdex_collection_get(db, "default", NULL, &c, &err));
    o.vector = d.vecs + 990 * DIM;
    CHECK(!strcmp(top_id(c, &o, &r), "doc-990"));
    CHECK(pending_of(c, &bytes) == 0);
    semdex_db_close(db);
    /* damage the image: doctor says so, searches rebuild, --repair fixes */
    CHECK(sql_exec(t.path, "UPDATE hnsw_image_parts SET data = zeroblob(length(data))") == SQLITE_OK);
    CHECK(db = open_db(t.path));
    CHECK(!semdex_collection_get(db, "default", NULL, &c, &err));
    CHECK_DOCTOR(db, 1);
    o.vector = d.vecs + 500 * DIM;
    CHECK(!strcmp(top_id(c, &o, &r), "doc-500"));
    CHECK_DOCTOR(db, 0); /* the search rebuilt the graph and rewrote the image */
    size_t n = 0;
    CHECK(sql_exec(t.path, "UPDATE hnsw_image_parts SET data = zeroblob(length(data))") == SQLITE_OK);
    CHECK_DOCTOR(db, 1);
    CHECK(!semdex_db_doctor(db, 1, NULL, NULL, &n, &err) && n == 0);
    semdex_db_close(db);
    /* an image whose parts are missing, and one whose labels disagree */
    CHECK(sql_exec(t.path, "DELETE FROM hnsw_image_parts") == SQLITE_OK);
    CHECK(db = open_db(t.path));
    CHECK_DOCTOR(db, 1);
    CHECK(!semdex_db_doctor(db, 1, NULL, NULL, &n, &err) && n == 0);
    semdex_db_close(db);
    CHECK(sql_exec(t.path, "PRAGMA foreign_keys = ON; DELETE FROM chunks WHERE id = 10; "
                           "DELETE FROM hnsw_deleted") == SQLITE_OK);
    CHECK(db = open_db(t.path));
    CHECK(!semdex_collection_get(db, "default", NULL, &c, &err));
    CHECK_DOCTOR(db, 2); /* a label with no vector nor logged deletion; a keyword entry with no chunk */
    o.vector = d.vecs + 9 * DIM;     /* chunk 10 is doc-9 */
    CHECK(strcmp(top_id(c, &o, &r), "doc-9")); /* the count check repairs it */
    semdex_results_free(&r);
    semdex_db_close(db);
    docset_free(&d);
    tmpdb_free(&t);
}

TEST(store_two_connections_and_read_only)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    semdex_db *a = open_db(t.path), *b = open_db(t.path);
    CHECK(a && b);
    semdex_collection *ca = make_collection(a, "default", SEMDEX_METRIC_COSINE), *cb = NULL;
    semdex_error err = {0};
    CHECK(ca && !semdex_collection_get(b, "default", NULL, &cb, &err));
    docset d;
    docset_make(&d, 0, 300, 1);
    CHECK(!semdex_collection_add(ca, d.docs, 100, NULL, &err));
    semdex_results r = {0};
    semdex_search_options o = semdex_search_options_default();
    o.mode = SEMDEX_SEARCH_VECTOR;
    o.dim = DIM;
    o.k = 1;
    o.vector = d.vecs + 50 * DIM;
    CHECK(!strcmp(top_id(ca, &o, &r), "doc-50")); /* a's graph is loaded */
    /* b writes: a's graph is stale and must notice */
    CHECK(!semdex_collection_add(cb, d.docs + 100, 100, NULL, &err));
    const char *gone[] = {"doc-50"};
    CHECK(!semdex_collection_delete(cb, gone, 1, NULL, &err));
    o.vector = d.vecs + 150 * DIM;
    CHECK(!strcmp(top_id(ca, &o, &r), "doc-150"));
    o.vector = d.vecs + 50 * DIM;
    CHECK(strcmp(top_id(ca, &o, &r), "doc-50"));
    /* a writes on top of b's changes, then both see everything */
    CHECK(!semdex_collection_add(ca, d.docs + 200, 100, NULL, &err));
    CHECK(!semdex_db_checkpoint(b, &err));
    for (unsigned i = 0; i < 300; i += 37) {
        if (i == 50)
            continue;
        o.vector = d.vecs + i * DIM;
        CHECK(!strcmp(top_id(ca, &o, &r), d.ids[i]) && !strcmp(top_id(cb, &o, &r), d.ids[i]));
    }
    CHECK_DOCTOR(a, 0);
    semdex_db_close(b);
    semdex_db_close(a);
    /* read-only: searches work, writes are refused */
    semdex_db_options ro = semdex_db_options_default();
    ro.read_only = 1;
    CHECK(!semdex_db_open(t.path, &ro, &a, &err));
    CHECK(!semdex_collection_get(a, "default", NULL, &ca, &err));
    o.vector = d.vecs + 222 * DIM;
    CHECK(!strcmp(top_id(ca, &o, &r), "doc-222"));
    o.mode = SEMDEX_SEARCH_KEYWORD;
    o.query = "shared";
    o.query_len = 6;
    CHECK(!semdex_collection_search(ca, &o, &r, &err) && r.n == 1);
    CHECK(semdex_collection_add(ca, d.docs, 1, NULL, &err) == SEMDEX_ERR_INVALID_ARG && strstr(err.message, "read-only"));
    CHECK(semdex_collection_get(a, "new", &(semdex_collection_options){SEMDEX_METRIC_COSINE, {0}, 16, 200, 64}, &cb,
                                &err) != SEMDEX_OK);
    CHECK_DOCTOR(a, 0);
    semdex_results_free(&r);
    semdex_db_close(a);
    CHECK(semdex_db_open("/nonexistent/dir/x.db", NULL, &a, &err) == SEMDEX_ERR_IO && !a);
    docset_free(&d);
    tmpdb_free(&t);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

/* Opening, then (when it opens) doctor and a search: an error or problems,
 * never a crash.  Returns the open status. */
static semdex_status open_damaged(const char *path, semdex_error *err, size_t *problems)
{
    semdex_db *db = NULL;
    semdex_db_options opt = semdex_db_options_default();
    opt.create = 0;
    *problems = 0;
    semdex_status st = semdex_db_open(path, &opt, &db, err);
    if (st)
        return st;
    semdex_error e = {0};
    if (semdex_db_doctor(db, 0, NULL, NULL, problems, &e))
        *problems = 1000;
    semdex_collection *c = NULL;
    if (!semdex_collection_get(db, "default", NULL, &c, &e)) {
        semdex_results r = {0};
        semdex_search_options o = semdex_search_options_default();
        float v[DIM] = {1};
        o.vector = v;
        o.dim = DIM;
        o.query = "shared";
        o.query_len = 6;
        semdex_collection_search(c, &o, &r, &e);
        semdex_results_free(&r);
    }
    semdex_db_close(db);
    return SEMDEX_OK;
}

TEST(store_damaged_files_give_clear_errors)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    semdex_error err = {0};
    size_t problems = 0;
    /* random bytes */
    char junk[8192];
    uint64_t s = 42;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)splitmix(&s);
    write_file(t.path, junk, sizeof junk);
    CHECK(open_damaged(t.path, &err, &problems) == SEMDEX_ERR_FORMAT);
    CHECKF(strstr(err.message, "not a SQLite database") && strstr(err.file, "store.db"), "%s", err.message);
    /* a text file */
    write_file(t.path, "hello\n", 6);
    CHECK(open_damaged(t.path, &err, &problems) == SEMDEX_ERR_FORMAT);
    tmpdb_remove_files(&t);
    /* another application's SQLite database */
    CHECK(sql_exec(t.path, "CREATE TABLE t(x); PRAGMA application_id = 1234") == SQLITE_OK);
    CHECK(open_damaged(t.path, &err, &problems) == SEMDEX_ERR_FORMAT && strstr(err.message, "not a semdex store"));
    tmpdb_remove_files(&t);
    CHECK(sql_exec(t.path, "CREATE TABLE t(x)") == SQLITE_OK);
    CHECK(open_damaged(t.path, &err, &problems) == SEMDEX_ERR_FORMAT);
    tmpdb_remove_files(&t);
    /* a newer schema version */
    semdex_db *db = open_db(t.path);
    CHECK(db);
    semdex_collection *c = make_collection(db, "default", SEMDEX_METRIC_COSINE);
    docset d;
    docset_make(&d, 0, 400, 1);
    CHECK(c && !semdex_collection_add(c, d.docs, 400, NULL, &err));
    CHECK(!semdex_db_checkpoint(db, &err));
    semdex_db_close(db);
    size_t len = 0;
    char *good = test_read_file(t.path, &len);
    CHECK(good && len > 4096);
    CHECK(sql_exec(t.path, "PRAGMA user_version = 99") == SQLITE_OK);
    CHECK(open_damaged(t.path, &err, &problems) == SEMDEX_ERR_UNSUPPORTED);
    CHECKF(strstr(err.message, "newer") && strstr(err.message, "99"), "%s", err.message);
    /* truncated at many places, and pages overwritten: never a crash, and
     * either an error at open or problems found by doctor */
    size_t cuts = 0, refused = 0, found = 0;
    for (size_t cut = 512; cut < len; cut += len / 23 + 1) {
        tmpdb_remove_files(&t);
        write_file(t.path, good, cut);
        semdex_status st = open_damaged(t.path, &err, &problems);
        cuts++;
        refused += st != SEMDEX_OK;
        found += st == SEMDEX_OK && problems > 0;
        CHECKF(st != SEMDEX_OK || problems > 0, "truncated at %zu of %zu: opened and doctor found nothing", cut, len);
        CHECK(st == SEMDEX_OK || err.message[0]);
    }
    size_t pages = 0, p_refused = 0, p_found = 0;
    for (size_t page = 1; page * 4096 < len; page += 2) {
        char *bad = malloc(len);
        memcpy(bad, good, len);
        for (size_t i = 0; i < 4096; i++)
            bad[page * 4096 + i] = (char)splitmix(&s);
        tmpdb_remove_files(&t);
        write_file(t.path, bad, len);
        free(bad);
        semdex_status st = open_damaged(t.path, &err, &problems); /* must not crash */
        pages++;
        p_refused += st != SEMDEX_OK;
        p_found += st == SEMDEX_OK && problems > 0;
    }
    test_note("%zu truncations (%zu refused at open, %zu doctor problems); %zu pages overwritten (%zu refused, "
              "%zu doctor problems)", cuts, refused, found, pages, p_refused, p_found);
    free(good);
    docset_free(&d);
    tmpdb_free(&t);
}

TEST(store_allocation_failures_are_clean)
{
    tmpdb t;
    CHECK(!tmpdb_make_in(&t, 1));
    docset d;
    docset_make(&d, 0, 6, 1);
    size_t failures = 0;
    for (long n = 0; n < 400; n++) {
        tmpdb_remove_files(&t);
        semdex_db *db = NULL;
        semdex_error err = {0};
        sx_alloc_fail_after(n);
        semdex_status st = semdex_db_open(t.path, NULL, &db, &err);
        semdex_collection *c = NULL;
        if (!st)
            st = semdex_collection_get(db, "default", &(semdex_collection_options){SEMDEX_METRIC_COSINE, {0}, 16, 200, 64},
                                       &c, &err);
        if (!st)
            st = semdex_collection_add(c, d.docs, 6, NULL, &err);
        semdex_results r = {0};
        semdex_search_options o = semdex_search_options_default();
        o.vector = d.vecs;
        o.dim = DIM;
        o.query = "shared";
        o.query_len = 6;
        if (!st)
            st = semdex_collection_search(c, &o, &r, &err);
        semdex_results_free(&r);
        semdex_db_close(db);
        sx_alloc_fail_after(-1);
        if (st) {
            failures++;
            CHECKF(err.message[0], "allocation %ld: failure without a message", n);
            /* what was committed is consistent */
            if ((db = open_db(t.path))) {
                size_t p = doctor_problems(db);
                semdex_db_close(db);
                CHECKF(p == 0, "allocation %ld: %zu problems after a failure", n, p);
            }
        } else {
            break;
        }
    }
    test_note("%zu failing allocations", failures);
    docset_free(&d);
    tmpdb_free(&t);
}

/* ------------------------------------------------------------ crash test */

#define CRASH_BATCHES 30
#define CRASH_PER_BATCH 20
#define CRASH_KILLS 24

static void crash_record(unsigned b, unsigned r, char *id, char *text, char *meta, float *vec)
{
    char w[8];
    word_of(b * CRASH_PER_BATCH + r + 5000, w);
    sprintf(id, "b%02u-r%02u", b, r);
    sprintf(text, "crash record %s common", w);
    sprintf(meta, "{\"batch\": %u}", b);
    fill_vec(vec, DIM, 100000 + b * CRASH_PER_BATCH + r);
}

/* The child: adds batches from `first` on, reporting each commit on fd;
 * checkpoints (saving the HNSW image) and replaces a record now and then,
 * so that kills land in every kind of write. */
static void crash_child(const char *path, unsigned first, int fd)
{
    semdex_db *db = NULL;
    semdex_error err = {0};
    semdex_collection *c = NULL;
    if (semdex_db_open(path, NULL, &db, &err) ||
        semdex_collection_get(db, "default", &(semdex_collection_options){SEMDEX_METRIC_COSINE, {0}, 8, 40, 40}, &c,
                              &err))
        _exit(3);
    static char ids[CRASH_PER_BATCH][16], texts[CRASH_PER_BATCH][64], metas[CRASH_PER_BATCH][32];
    static float vecs[CRASH_PER_BATCH][DIM];
    semdex_document_input docs[CRASH_PER_BATCH];
    semdex_chunk_input chunks[CRASH_PER_BATCH];
    for (unsigned b = first; b < CRASH_BATCHES; b++) {
        for (unsigned r = 0; r < CRASH_PER_BATCH; r++) {
            crash_record(b, r, ids[r], texts[r], metas[r], vecs[r]);
            chunks[r] = (semdex_chunk_input){texts[r], strlen(texts[r]), -1, -1, NULL, vecs[r], DIM};
            docs[r] = (semdex_document_input){ids[r], NULL, metas[r], 0, 0, &chunks[r], 1};
        }
        if (semdex_collection_add(c, docs, CRASH_PER_BATCH, NULL, &err))
            _exit(4);
        if (write(fd, &b, sizeof b) != sizeof b)
            _exit(5);
        if (b % 4 == 3 && semdex_db_checkpoint(db, &err))
            _exit(6);
        if (b % 5 == 4 && b > 0) { /* replace a record of the batch before, unchanged */
            crash_record(b - 1, 7, ids[0], texts[0], metas[0], vecs[0]);
            chunks[0] = (semdex_chunk_input){texts[0], strlen(texts[0]), -1, -1, NULL, vecs[0], DIM};
            docs[0] = (semdex_document_input){ids[0], NULL, metas[0], 0, 0, &chunks[0], 1};
            if (semdex_collection_add(c, docs, 1, NULL, &err))
                _exit(7);
        }
    }
    semdex_db_close(db);
    _exit(0);
}

/* Checks the store after a kill: doctor (the program), then every batch
 * whole or absent, the committed ones present and findable by id, text and
 * vector.  Returns the number of batches present, or -1 (test failed). */
static int crash_check(const char *path, int committed_max, size_t *n_checks)
{
    struct stat sb;
    if (committed_max < 0 && stat(path, &sb) != 0 && errno == ENOENT)
        return 0; /* killed before the database file was created */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s doctor -d %s > /dev/null 2>&1", test_semdex_bin(), path);
    int st = system(cmd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(cmd, sizeof cmd, "%s doctor -d %s", test_semdex_bin(), path);
        if (system(cmd)) {
        }
        test_fail(__FILE__, __LINE__, "semdex doctor failed after a kill (status %d)", st);
        return -1;
    }
    semdex_db *db = open_db(path);
    semdex_collection *c = NULL;
    semdex_error err = {0};
    if (!db || semdex_collection_get(db, "default", NULL, &c, &err)) {
        semdex_db_close(db);
        if (committed_max < 0)
            return 0; /* killed before the collection existed */
        test_fail(__FILE__, __LINE__, "store or collection missing after commits");
        return -1;
    }
    int present = 0, failed = 0;
    semdex_results r = {0};
    semdex_search_options o = semdex_search_options_default();
    char id[16], text[64], meta[32], bs[16];
    float vec[DIM];
    semdex_filter f = {"batch", bs};
    for (unsigned b = 0; b < CRASH_BATCHES && !failed; b++) {
        /* whole or absent: the batch's records through a filtered search */
        snprintf(bs, sizeof bs, "%u", b);
        o = semdex_search_options_default();
        o.mode = SEMDEX_SEARCH_KEYWORD;
        o.query = "common";
        o.query_len = 6;
        o.k = 100;
        o.filters = &f;
        o.n_filters = 1;
        if (semdex_collection_search(c, &o, &r, &err) || (r.n != 0 && r.n != CRASH_PER_BATCH)) {
            test_fail(__FILE__, __LINE__, "batch %u: %zu of %d records visible", b, r.n, CRASH_PER_BATCH);
            failed = 1;
            break;
        }
        ++*n_checks;
        if (!r.n) {
            if ((int)b <= committed_max) {
                test_fail(__FILE__, __LINE__, "committed batch %u is missing", b);
                failed = 1;
            }
            break;
        }
        if (present != (int)b) {
            test_fail(__FILE__, __LINE__, "batch %u present after a missing batch", b);
            failed = 1;
        }
        present++;
        for (unsigned k = 0; k < CRASH_PER_BATCH && !failed; k++) {
            crash_record(b, k, id, text, meta, vec);
            o = semdex_search_options_default();
            o.mode = SEMDEX_SEARCH_KEYWORD;
            o.query = text + 13; /* the unique word */
            o.query_len = 6;
            o.k = 1;
            const char *got = top_id(c, &o, &r);
            if (strcmp(got, id) || strcmp(r.hits[0].text, text)) {
                test_fail(__FILE__, __LINE__, "record %s: keyword search found '%s'", id, got);
                failed = 1;
            }
            o.mode = SEMDEX_SEARCH_VECTOR;
            o.vector = vec;
            o.dim = DIM;
            got = top_id(c, &o, &r);
            if (strcmp(got, id)) {
                test_fail(__FILE__, __LINE__, "record %s: vector search found '%s'", id, got);
                failed = 1;
            }
            *n_checks += 2;
        }
    }
    if (!failed && present < committed_max + 1) {
        test_fail(__FILE__, __LINE__, "%d batches present, %d committed", present, committed_max + 1);
        failed = 1;
    }
    if (!failed && count_docs(c) != (size_t)present * CRASH_PER_BATCH) {
        test_fail(__FILE__, __LINE__, "%zu documents for %d batches", count_docs(c), present);
        failed = 1;
    }
    semdex_results_free(&r);
    semdex_db_close(db);
    return failed ? -1 : present;
}

TEST(store_crash_safety_sigkill)
{
    tmpdb t;
    CHECK(!tmpdb_make(&t));
    uint64_t rng = (uint64_t)time(NULL);
    uint64_t seed = rng;
    double full_ms = 0; /* an uninterrupted run's time, measured as we go */
    int kills = 0, rounds = 0, present = 0, completed = 0, committed = 0;
    size_t checks = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (kills < CRASH_KILLS) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        unsigned first = (unsigned)present;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(t.path, first, fds[1]);
        }
        close(fds[1]);
        /* kill at a random moment of the run that is left (or a little
         * after it: some runs complete, which measures a run's time) */
        double left = full_ms * (CRASH_BATCHES - first) / CRASH_BATCHES;
        useconds_t delay = (useconds_t)((double)(splitmix(&rng) % 1000) / 1000.0 * 1.1 * left * 1000.0);
        int killed = 0;
        if (rounds > 0) { /* the first run is not killed: it measures a run */
            usleep(delay);
            killed = kill(pid, SIGKILL) == 0;
        }
        int status = 0;
        waitpid(pid, &status, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int committed_max = (int)first - 1;
        unsigned b;
        while (read(fds[0], &b, sizeof b) == sizeof b)
            committed_max = (int)b, committed++;
        close(fds[0]);
        int was_killed = killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        if (!was_killed) {
            CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d", status);
            double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            if (first == 0)
                full_ms = ms;
        }
        kills += was_killed;
        rounds++;
        present = crash_check(t.path, committed_max, &checks);
        CHECKF(present >= 0, "after round %d (seed %llu)", rounds, (unsigned long long)seed);
        if (present == CRASH_BATCHES) { /* done: start again from an empty store */
            completed++;
            tmpdb_remove_files(&t);
            present = 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECKF(t1.tv_sec - start.tv_sec < 120, "crash test too slow: %d kills in %d rounds", kills, rounds);
    }
    test_note("%d kills in %d rounds (%d batches committed, %d full runs), %zu checks", kills, rounds, committed,
              completed, checks);
    tmpdb_free(&t);
}

/* ----------------------------------------------------------- JSONL records */

TEST(store_jsonl_records)
{
    sx_record r;
    semdex_error err = {0};
    const char *ok = "{\"id\": \"a\", \"text\": \"hi\", \"metadata\": {\"k\": [1, \"}\"]}, \"vector\": [1, 2.5], "
                     "\"uri\": \"u\", \"extra\": 1}";
    CHECK(!sx_record_parse(ok, strlen(ok), &r, &err));
    CHECK(!strcmp(r.id, "a") && !strcmp(r.text, "hi") && r.text_len == 2 && !strcmp(r.uri, "u"));
    CHECK(!strcmp(r.metadata, "{\"k\": [1, \"}\"]}") && r.dim == 2 && r.vector[1] == 2.5f);
    sx_record_free(&r);
    CHECK(!sx_record_parse("{\"id\": 17, \"vector\": [0]}", 25, &r, &err) && !strcmp(r.id, "17") && !r.text);
    sx_record_free(&r);
    static const struct {
        const char *line, *field;
        int64_t offset;
    } bad[] = {
        {"{\"text\": 1}", "text", 9},
        {"{\"id\": \"\", \"text\": \"x\"}", "id", 7},
        {"{\"id\": 1.5, \"text\": \"x\"}", "id", 7},
        {"{\"text\": \"x\", \"vector\": [1, \"a\"]}", "vector", 28},
        {"{\"text\": \"x\", \"vector\": [1e39]}", "vector", 25},
        {"{\"text\": \"x\", \"vector\": []}", "vector", 24},
        {"{\"text\": \"x\", \"metadata\": [1]}", "metadata", 26},
        {"{\"metadata\": {}}", "", 0},
        {"[1]", "", 0},
        {"{\"text\": \"a\\u0000b\"}", "text", 9},
        {"{\"text\": \"x\",}", "", 13},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        CHECKF(sx_record_parse(bad[i].line, strlen(bad[i].line), &r, &err), "accepted %s", bad[i].line);
        CHECKF(!strcmp(err.field, bad[i].field) && err.offset == bad[i].offset, "%s: field '%s' offset %lld: %s",
               bad[i].line, err.field, (long long)err.offset, err.message);
        CHECK(!r.buf && !r.vector);
    }
}

/* -------------------------------------------------------------- paragraphs */

TEST(store_paragraph_chunks)
{
    const char *t = "Intro line one\nline two\n\n\n# Top\n\nUnder top.\n\n## Sub ##\ntext a\n\ntext b\n"
                    "# Next\n   \n\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9\n";
    sx_span *sp = NULL;
    size_t n = 0;
    semdex_error err = {0};
    CHECK(!sx_paragraphs(t, strlen(t), 9, &sp, &n, &err));
    static const struct {
        const char *text, *heading;
    } want[] = {
        {"Intro", NULL}, {"line one", NULL}, {"line two", NULL}, {"# Top", "Top"}, {"Under", "Top"},
        {"top.", "Top"}, {"## Sub ##", "Top > Sub"}, {"text a", "Top > Sub"}, {"text b", "Top > Sub"},
        {"# Next", "Next"}, {"\xc3\xa9t\xc3\xa9", "Next"}, {"\xc3\xa9t\xc3\xa9", "Next"},
        {"\xc3\xa9t\xc3\xa9", "Next"},
    };
    CHECKF(n == sizeof want / sizeof want[0], "%zu spans", n);
    for (size_t i = 0; i < n; i++) {
        size_t len = sp[i].end - sp[i].start;
        CHECKF(len == strlen(want[i].text) && !memcmp(t + sp[i].start, want[i].text, len), "span %zu: '%.*s'", i,
               (int)len, t + sp[i].start);
        CHECKF(want[i].heading ? sp[i].heading && !strcmp(sp[i].heading, want[i].heading) : !sp[i].heading,
               "span %zu heading %s", i, sp[i].heading ? sp[i].heading : "(none)");
    }
    sx_spans_free(sp, n);
    /* a word longer than the limit is cut between characters */
    const char *w = "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad";
    CHECK(!sx_paragraphs(w, strlen(w), 4, &sp, &n, &err) && n == 4 && sp[1].start == 3 && sp[1].end == 6);
    sx_spans_free(sp, n);
    CHECK(!sx_paragraphs("", 0, 100, &sp, &n, &err) && n == 0);
    sx_spans_free(sp, n);
    CHECK(sx_paragraphs("ok\n\xff", 4, 100, &sp, &n, &err) == SEMDEX_ERR_UTF8 && err.offset == 3 && !sp);
}
