/* cmd_store.c: the store commands but `add` (cmd_add.c): `semdex search`,
 * `semdex rm`, `semdex stats`, `semdex doctor`, and the -d/-c options
 * they share.  The store's work is the public API. */
#include "cli.h"
#include "json.h"
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_store_args_init(cli_store_args *sa)
{
    sa->db = NULL;
    sa->collection = "default";
}

int cli_store_arg(cli_store_args *sa, const char *cmd, int argc, char **argv, int *i)
{
    const char *o = argv[*i];
    int is_db = !strcmp(o, "-d") || !strcmp(o, "--db");
    int is_coll = !strcmp(o, "-c") || !strcmp(o, "--collection");
    if (!is_db && !is_coll)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "semdex %s: %s needs a value\n", cmd, o);
        return -1;
    }
    if (is_db)
        sa->db = argv[++*i];
    else
        sa->collection = argv[++*i];
    return 1;
}

/* Opens an existing store and one of its collections. */
static int open_existing(const char *cmd, const cli_store_args *sa, int want_coll, semdex_db **db,
                         semdex_collection **coll)
{
    semdex_db_options o = semdex_db_options_default();
    o.create = 0;
    semdex_error err = {0};
    *db = NULL;
    if (semdex_db_open(sa->db, &o, db, &err) ||
        (want_coll && semdex_collection_get(*db, sa->collection, NULL, coll, &err))) {
        cli_print_error(cmd, &err);
        semdex_db_close(*db);
        *db = NULL;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- search */

static void search_usage(FILE *f)
{
    fprintf(f,
            "usage: semdex search -d DB [-c COLLECTION] [-k N] [--mode hybrid|vector|keyword]\n"
            "                     [--filter KEY=VALUE]... [--vector JSON_ARRAY] [-m MODEL]\n"
            "                     [--json] [options] QUERY...\n"
            "\n"
            "Searches a collection with the words of QUERY (BM25) and a query vector, fusing\n"
            "the two lists (hybrid, the default).  The vector is --vector, or QUERY embedded\n"
            "by the collection's model (or -m MODEL, which must be the same model).  Without\n"
            "a vector, a hybrid search is a keyword search (said on stderr).\n"
            "\n"
            "Each result line shows the document id and chunk, the fused score and the rank\n"
            "and score in each arm; --json writes one JSON object per result instead:\n"
            "  {\"rank\", \"id\", \"chunk\", \"text\", \"metadata\", \"uri\", \"heading\", \"start\", \"end\",\n"
            "   \"score\", \"vector\": {\"rank\", \"score\"} or null, \"keyword\": {\"rank\", \"score\"} or null}\n"
            "\n"
            "options:\n"
            "  -d, --db DB            the store\n"
            "  -c, --collection NAME  collection (default \"default\")\n"
            "  -k N                   results (default 10)\n"
            "  --mode MODE            hybrid (default), vector or keyword\n"
            "  --filter KEY=VALUE     only documents whose metadata KEY (a.b for nested keys)\n"
            "                         equals VALUE (string, number, true/false/null, or an\n"
            "                         element of an array); repeat to require several\n"
            "  --vector JSON_ARRAY    the query vector, e.g. [0.1, -0.2, ...]\n"
            "  -m, --model DIR        embed QUERY with this model (default: the collection's)\n"
            "  --fusion rrf|weighted  reciprocal rank fusion (default) or weighted scores\n"
            "  --rrf-k K              RRF constant (default 60)\n"
            "  --vector-weight W      weighted fusion: weight of the vector arm (default 0.5)\n"
            "  --candidates N         results per arm before fusion (default max(50, 4k))\n"
            "  --ef N                 HNSW search breadth (default: the collection's)\n"
            "  --exact                exact vector search (no HNSW)\n"
            "  --json                 JSON lines output\n"
            "  -h, --help             show this help\n");
}

/* Parses a JSON array of numbers into a malloc'ed float array. */
static float *parse_vector(const char *s, size_t *dim)
{
    semdex_error err = {0};
    json_doc *doc = json_parse(s, strlen(s), &err);
    const json_value *v = doc ? json_doc_root(doc) : NULL;
    float *out = NULL;
    if (!json_is_arr(v) || !v->n) {
        fprintf(stderr, "semdex search: --vector: expected a JSON array of numbers%s%s\n", doc ? "" : ": ",
                doc ? "" : err.message);
        json_doc_free(doc);
        return NULL;
    }
    out = malloc(v->n * sizeof *out);
    for (uint32_t i = 0; out && i < v->n; i++) {
        const json_value *x = json_arr_at(v, i);
        if (!json_is_num(x) || !isfinite((float)x->u.num)) {
            fprintf(stderr, "semdex search: --vector: element %u is not a finite number\n", i);
            free(out);
            out = NULL;
            break;
        }
        out[i] = (float)x->u.num;
    }
    *dim = v->n;
    json_doc_free(doc);
    return out;
}

/* Embeds the query with -m or the collection's model.  Returns 0 with
 * *vec set (or left NULL when no model is known), 1 on failure. */
static int embed_query(const char *model_dir, semdex_collection *coll, const char *query, float **vec, size_t *dim)
{
    semdex_collection_info info;
    semdex_error err = {0};
    if (semdex_collection_get_info(coll, &info, &err)) {
        cli_print_error("search", &err);
        return 1;
    }
    const char *dir = model_dir ? model_dir : info.model.model;
    if (!dir || !*dir)
        return 0;
    semdex_model *model = NULL;
    if (semdex_model_load(dir, NULL, &model, &err)) {
        cli_print_error("search", &err);
        return 1;
    }
    const semdex_model_info *mi = semdex_model_get_info(model);
    if (info.model.model && info.model.weights_hash && mi->weights_hash != info.model.weights_hash) {
        fprintf(stderr, "semdex search: %s is not the model of collection '%s' (%s)\n", dir, info.name,
                info.model.model);
        semdex_model_free(model);
        return 1;
    }
    semdex_embed_options eo = semdex_embed_options_default();
    for (size_t i = 0; i < mi->n_prompts; i++)
        if (!strcmp(mi->prompt_names[i], "query"))
            eo.prompt_name = "query";
    semdex_embeddings e = {0};
    size_t len = strlen(query);
    int r = 0;
    if (semdex_model_embed(model, &query, &len, 1, &eo, &e, &err)) {
        cli_print_error("search", &err);
        r = 1;
    } else if ((*vec = malloc(e.dim * sizeof **vec))) {
        memcpy(*vec, e.vectors, e.dim * sizeof **vec);
        *dim = e.dim;
    } else {
        r = 1;
    }
    semdex_embeddings_free(&e);
    semdex_model_free(model);
    return r;
}

static void print_hit_json(cli_buf *b, size_t rank, const semdex_hit *h)
{
    b->n = 0;
    cli_buf_printf(b, "{\"rank\": %zu, \"id\": ", rank);
    cli_buf_json_string(b, h->id, strlen(h->id));
    cli_buf_printf(b, ", \"chunk\": %u, \"text\": ", h->ordinal);
    cli_buf_json_string(b, h->text, strlen(h->text));
    cli_buf_printf(b, ", \"metadata\": %s, \"uri\": ", h->metadata);
    if (h->uri)
        cli_buf_json_string(b, h->uri, strlen(h->uri));
    else
        cli_buf_add(b, "null", 4);
    cli_buf_add(b, ", \"heading\": ", 13);
    if (h->heading)
        cli_buf_json_string(b, h->heading, strlen(h->heading));
    else
        cli_buf_add(b, "null", 4);
    cli_buf_printf(b, ", \"start\": %" PRId64 ", \"end\": %" PRId64 ", \"score\": %.9g, \"vector\": ", h->start, h->end,
                   h->score);
    if (h->vector_rank)
        cli_buf_printf(b, "{\"rank\": %zu, \"score\": %.9g}", h->vector_rank, h->vector_score);
    else
        cli_buf_add(b, "null", 4);
    cli_buf_add(b, ", \"keyword\": ", 13);
    if (h->keyword_rank)
        cli_buf_printf(b, "{\"rank\": %zu, \"score\": %.9g}", h->keyword_rank, h->keyword_score);
    else
        cli_buf_add(b, "null", 4);
    cli_buf_add(b, "}\n", 2);
    fwrite(b->s, 1, b->n, stdout);
}

static void print_hit_text(size_t rank, const semdex_hit *h)
{
    printf("%zu. %s#%u  score %.6g", rank, h->id, h->ordinal, h->score);
    if (h->vector_rank || h->keyword_rank) {
        printf("  [");
        if (h->vector_rank)
            printf("vector #%zu %.6g", h->vector_rank, h->vector_score);
        if (h->keyword_rank)
            printf("%skeyword #%zu %.6g", h->vector_rank ? ", " : "", h->keyword_rank, h->keyword_score);
        printf("]");
    }
    printf("\n   ");
    size_t n = strlen(h->text), shown = n > 240 ? 240 : n;
    while (shown < n && ((unsigned char)h->text[shown] & 0xC0) == 0x80)
        shown--; /* whole characters */
    for (size_t i = 0; i < shown; i++)
        putchar(h->text[i] == '\n' || h->text[i] == '\r' || h->text[i] == '\t' ? ' ' : h->text[i]);
    printf("%s\n", shown < n ? " ..." : "");
}

typedef struct search_args {
    cli_store_args sa;
    semdex_search_options so;
    semdex_filter *filters;
    const char *vector_json, *model_dir;
    int json;
    char *query;
} search_args;

/* Parses search's options; returns -1 to go on, else the exit status. */
static int search_parse(int argc, char **argv, search_args *a)
{
    cli_store_args_init(&a->sa);
    a->so = semdex_search_options_default();
    size_t qlen = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int r = cli_store_arg(&a->sa, "search", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r)
            continue;
        if (!strcmp(o, "-h") || !strcmp(o, "--help"))
            return search_usage(stdout), 0;
        else if (!strcmp(o, "--json"))
            a->json = 1;
        else if (!strcmp(o, "--exact"))
            a->so.exact = 1;
        else if (!strcmp(o, "--vector") && i + 1 < argc)
            a->vector_json = argv[++i];
        else if ((!strcmp(o, "-m") || !strcmp(o, "--model")) && i + 1 < argc)
            a->model_dir = argv[++i];
        else if (!strcmp(o, "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (!strcmp(m, "hybrid"))
                a->so.mode = SEMDEX_SEARCH_HYBRID;
            else if (!strcmp(m, "vector"))
                a->so.mode = SEMDEX_SEARCH_VECTOR;
            else if (!strcmp(m, "keyword"))
                a->so.mode = SEMDEX_SEARCH_KEYWORD;
            else
                return fprintf(stderr, "semdex search: --mode must be hybrid, vector or keyword, got '%s'\n", m), 2;
        } else if (!strcmp(o, "--fusion") && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "rrf") && strcmp(m, "weighted"))
                return fprintf(stderr, "semdex search: --fusion must be rrf or weighted, got '%s'\n", m), 2;
            a->so.fusion = !strcmp(m, "rrf") ? SEMDEX_FUSION_RRF : SEMDEX_FUSION_WEIGHTED;
        } else if ((!strcmp(o, "--rrf-k") || !strcmp(o, "--vector-weight")) && i + 1 < argc) {
            char *end;
            double v = strtod(argv[++i], &end);
            if (*end || !argv[i][0] || !(v >= 0) || (!strcmp(o, "--vector-weight") && v > 1))
                return fprintf(stderr, "semdex search: bad %s value '%s'\n", o, argv[i]), 2;
            *(!strcmp(o, "--rrf-k") ? &a->so.rrf_k : &a->so.vector_weight) = v;
        } else if ((!strcmp(o, "-k") || !strcmp(o, "--ef") || !strcmp(o, "--candidates")) && i + 1 < argc) {
            size_t *dst = !strcmp(o, "-k") ? &a->so.k : !strcmp(o, "--ef") ? &a->so.ef_search : &a->so.candidates;
            if (cli_parse_size(argv[++i], dst) || !*dst)
                return fprintf(stderr, "semdex search: %s needs a positive integer, got '%s'\n", o, argv[i]), 2;
        } else if (!strcmp(o, "--filter") && i + 1 < argc) {
            semdex_filter *f = realloc(a->filters, (a->so.n_filters + 1) * sizeof *f);
            if (!f)
                return 1;
            a->filters = f;
            semdex_error err = {0};
            if (semdex_filter_parse(argv[++i], &f[a->so.n_filters], &err)) {
                fprintf(stderr, "semdex search: --filter '%s': %s\n", argv[i], err.message);
                return 2;
            }
            a->so.n_filters++;
        } else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "semdex search: unknown or incomplete option '%s'\n\n", o);
            search_usage(stderr);
            return 2;
        } else {
            size_t n = strlen(o);
            char *q = realloc(a->query, qlen + n + 2);
            if (!q)
                return 1;
            a->query = q;
            if (qlen)
                q[qlen++] = ' ';
            memcpy(q + qlen, o, n + 1);
            qlen += n;
        }
    }
    a->so.filters = a->filters;
    a->so.query = a->query;
    a->so.query_len = qlen;
    if (!a->sa.db)
        return fprintf(stderr, "semdex search: -d DB is required\n\n"), search_usage(stderr), 2;
    if (!a->query && !a->vector_json)
        return fprintf(stderr, "semdex search: give a QUERY (or --vector)\n\n"), search_usage(stderr), 2;
    return -1;
}

int cmd_search(int argc, char **argv)
{
    search_args a = {0};
    int r = search_parse(argc, argv, &a);
    semdex_db *db = NULL;
    semdex_collection *coll = NULL;
    float *vec = NULL;
    if (r < 0 && open_existing("search", &a.sa, 1, &db, &coll))
        r = 1;
    if (r < 0 && a.vector_json && !(vec = parse_vector(a.vector_json, &a.so.dim)))
        r = 2;
    if (r < 0 && !vec && a.query && a.so.mode != SEMDEX_SEARCH_KEYWORD &&
        embed_query(a.model_dir, coll, a.query, &vec, &a.so.dim) && a.so.mode == SEMDEX_SEARCH_VECTOR)
        r = 1;
    if (r < 0) {
        a.so.vector = vec;
        semdex_results res = {0};
        semdex_error err = {0};
        if (semdex_collection_search(coll, &a.so, &res, &err)) {
            cli_print_error("search", &err);
            r = 1;
        } else {
            if (res.note && *res.note)
                fprintf(stderr, "semdex search: %s\n", res.note);
            cli_buf b = {0};
            for (size_t i = 0; i < res.n; i++) {
                if (a.json)
                    print_hit_json(&b, i + 1, &res.hits[i]);
                else
                    print_hit_text(i + 1, &res.hits[i]);
            }
            free(b.s);
            r = fflush(stdout) ? 1 : 0;
        }
        semdex_results_free(&res);
    }
    semdex_db_close(db);
    free(vec);
    free(a.filters);
    free(a.query);
    return r;
}

/* -------------------------------------------------------------------- rm */

static void rm_usage(FILE *f)
{
    fprintf(f,
            "usage: semdex rm -d DB [-c COLLECTION] ID...\n"
            "\n"
            "Removes documents (with their chunks, vectors and index entries) by id, in one\n"
            "transaction.  Exit status 1 when some id was not found.\n"
            "\n"
            "options:\n"
            "  -d, --db DB            the store\n"
            "  -c, --collection NAME  collection (default \"default\")\n"
            "  -h, --help             show this help\n");
}

int cmd_rm(int argc, char **argv)
{
    cli_store_args sa;
    cli_store_args_init(&sa);
    const char **ids = calloc((size_t)argc, sizeof *ids);
    size_t n = 0;
    if (!ids)
        return 1;
    for (int i = 1; i < argc; i++) {
        int r = cli_store_arg(&sa, "rm", argc, argv, &i);
        if (r < 0)
            return free(ids), 2;
        if (r)
            continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return rm_usage(stdout), free(ids), 0;
        if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--"))
            return fprintf(stderr, "semdex rm: unknown option '%s'\n\n", argv[i]), rm_usage(stderr), free(ids), 2;
        if (strcmp(argv[i], "--"))
            ids[n++] = argv[i];
    }
    if (!sa.db || !n) {
        fprintf(stderr, "semdex rm: %s\n\n", !sa.db ? "-d DB is required" : "no ID to remove");
        rm_usage(stderr);
        free(ids);
        return 2;
    }
    semdex_db *db = NULL;
    semdex_collection *coll = NULL;
    int r = open_existing("rm", &sa, 1, &db, &coll);
    size_t removed = 0;
    semdex_error err = {0};
    if (!r && semdex_collection_delete(coll, ids, n, &removed, &err)) {
        cli_print_error("rm", &err);
        r = 1;
    }
    if (!r) {
        printf("removed %zu of %zu documents\n", removed, n);
        if (removed < n) {
            fprintf(stderr, "semdex rm: %zu ids not found in collection '%s'\n", n - removed, sa.collection);
            r = 1;
        }
    }
    semdex_db_close(db);
    free(ids);
    return r;
}

/* ----------------------------------------------------------------- stats */

static void stats_usage(FILE *f)
{
    fprintf(f,
            "usage: semdex stats -d DB [--json]\n"
            "\n"
            "Describes a store: file sizes, schema version, and per collection its counts,\n"
            "metric, dimension, model and HNSW index (image size, changes it lacks).\n"
            "\n"
            "options:\n"
            "  -d, --db DB   the store\n"
            "  --json        one JSON object\n"
            "  -h, --help    show this help\n");
}

static void stats_json(const semdex_db_stats *st)
{
    cli_buf b = {0};
    cli_buf_printf(&b, "{\"schema_version\": %d, \"file_bytes\": %" PRId64 ", \"wal_bytes\": %" PRId64
                       ", \"collections\": [", st->schema_version, st->file_bytes, st->wal_bytes);
    for (size_t i = 0; i < st->n_collections; i++) {
        const semdex_collection_info *c = &st->collections[i];
        cli_buf_add(&b, i ? ", {\"name\": " : "{\"name\": ", i ? 11 : 9);
        cli_buf_json_string(&b, c->name, strlen(c->name));
        cli_buf_printf(&b, ", \"metric\": \"%s\", \"dim\": %zu, \"documents\": %zu, \"chunks\": %zu, \"vectors\": %zu, "
                           "\"model\": ", semdex_metric_name(c->metric), c->model.dim, c->n_documents, c->n_chunks,
                       c->n_vectors);
        if (c->model.model)
            cli_buf_json_string(&b, c->model.model, strlen(c->model.model));
        else
            cli_buf_add(&b, "null", 4);
        cli_buf_printf(&b, ", \"hnsw\": {\"M\": %zu, \"ef_construction\": %zu, \"ef_search\": %zu, "
                           "\"image_bytes\": %zu, \"pending\": %zu}}", c->hnsw_M, c->hnsw_ef_construction,
                       c->hnsw_ef_search, c->index_image_bytes, c->index_pending);
    }
    cli_buf_add(&b, "]}\n", 3);
    fwrite(b.s, 1, b.n, stdout);
    free(b.s);
}

static void stats_text(const char *path, const semdex_db_stats *st)
{
    printf("store %s: schema version %d, %" PRId64 " bytes (+ %" PRId64 " in the WAL), %zu collection%s\n", path,
           st->schema_version, st->file_bytes, st->wal_bytes, st->n_collections, st->n_collections == 1 ? "" : "s");
    for (size_t i = 0; i < st->n_collections; i++) {
        const semdex_collection_info *c = &st->collections[i];
        printf("collection '%s': %zu documents, %zu chunks, %zu vectors; %s, dimension %zu\n", c->name,
               c->n_documents, c->n_chunks, c->n_vectors, semdex_metric_name(c->metric), c->model.dim);
        if (c->model.model)
            printf("  model: %s (%s pooling%s, weights %016" PRIx64 ")\n", c->model.model,
                   c->model.pooling ? c->model.pooling : "unknown", c->model.normalize ? ", normalized" : "",
                   c->model.weights_hash);
        else
            printf("  model: none (vectors come from outside)\n");
        printf("  hnsw: M %zu, ef_construction %zu, ef_search %zu; image %zu bytes, %zu changes behind\n", c->hnsw_M,
               c->hnsw_ef_construction, c->hnsw_ef_search, c->index_image_bytes, c->index_pending);
    }
}

int cmd_stats(int argc, char **argv)
{
    cli_store_args sa;
    cli_store_args_init(&sa);
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_store_arg(&sa, "stats", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r)
            continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return stats_usage(stdout), 0;
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            return fprintf(stderr, "semdex stats: unknown option '%s'\n\n", argv[i]), stats_usage(stderr), 2;
    }
    if (!sa.db)
        return fprintf(stderr, "semdex stats: -d DB is required\n\n"), stats_usage(stderr), 2;
    semdex_db *db = NULL;
    semdex_collection *unused = NULL;
    if (open_existing("stats", &sa, 0, &db, &unused))
        return 1;
    semdex_db_stats st = {0};
    semdex_error err = {0};
    int r = 0;
    if (semdex_db_get_stats(db, &st, &err)) {
        cli_print_error("stats", &err);
        r = 1;
    } else if (json) {
        stats_json(&st);
    } else {
        stats_text(sa.db, &st);
    }
    semdex_db_stats_free(&st);
    semdex_db_close(db);
    return r;
}

/* ---------------------------------------------------------------- doctor */

static void doctor_usage(FILE *f)
{
    fprintf(f,
            "usage: semdex doctor -d DB [--repair]\n"
            "\n"
            "Checks a store: SQLite's integrity check and foreign keys, the schema, every\n"
            "chunk's document, every vector's size and values, each HNSW image against the\n"
            "vectors table, the keyword index.  Prints one line per problem; exit status 0\n"
            "when everything is consistent, 1 otherwise.\n"
            "\n"
            "options:\n"
            "  -d, --db DB   the store\n"
            "  --repair      first rebuild (or repair) and save every collection's HNSW image\n"
            "  -h, --help    show this help\n");
}

static void print_problem(void *ctx, const char *line)
{
    (void)ctx;
    printf("problem: %s\n", line);
}

int cmd_doctor(int argc, char **argv)
{
    cli_store_args sa;
    cli_store_args_init(&sa);
    int repair = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_store_arg(&sa, "doctor", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r)
            continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return doctor_usage(stdout), 0;
        if (!strcmp(argv[i], "--repair"))
            repair = 1;
        else
            return fprintf(stderr, "semdex doctor: unknown option '%s'\n\n", argv[i]), doctor_usage(stderr), 2;
    }
    if (!sa.db)
        return fprintf(stderr, "semdex doctor: -d DB is required\n\n"), doctor_usage(stderr), 2;
    semdex_db *db = NULL;
    semdex_collection *unused = NULL;
    if (open_existing("doctor", &sa, 0, &db, &unused))
        return 1;
    size_t n = 0;
    semdex_error err = {0};
    int r = 0;
    if (semdex_db_doctor(db, repair, print_problem, NULL, &n, &err)) {
        cli_print_error("doctor", &err);
        r = 1;
    } else if (n) {
        printf("%s: %zu problem%s\n", sa.db, n, n == 1 ? "" : "s");
        r = 1;
    } else {
        printf("%s: ok\n", sa.db);
    }
    semdex_db_close(db);
    return r;
}
