/* cmd_add.c: `semdex add`: JSONL records and plain text files into a
 * collection of a store, in batches of one transaction each, embedding
 * chunks with a model when -m is given.  The store's work is the public
 * API; records and paragraphs come from src/store's readers. */
#include "cli.h"
#include "../src/store/paragraph.h"
#include "../src/store/record.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semdex add -d DB [-c COLLECTION] [-m MODEL] [options] PATH...\n"
            "\n"
            "Adds documents to a collection of the store DB (created when missing).  A PATH\n"
            "ending in .jsonl or .ndjson, or '-' (standard input), holds one record per line:\n"
            "  {\"id\": \"...\", \"text\": \"...\", \"metadata\": {...}, \"vector\": [...], \"uri\": \"...\"}\n"
            "(all optional, but a record needs text or a vector; the id defaults to PATH:LINE).\n"
            "Any other PATH is a UTF-8 text file: one document (id and uri: the path) cut\n"
            "into paragraph chunks, with Markdown heading paths.  A document whose id exists\n"
            "is replaced.\n"
            "\n"
            "Records are stored in batches, one transaction each.  A bad line stops the run:\n"
            "the batches before it stay stored, nothing of its own batch is.  Without -m,\n"
            "records' vectors are stored as given (the first fixes the collection's\n"
            "dimension) and text without a vector is searchable by keywords only.\n"
            "\n"
            "options:\n"
            "  -d, --db DB            the store (a SQLite file)\n"
            "  -c, --collection NAME  collection (default \"default\")\n"
            "  -m, --model DIR        embed every chunk with this sentence-embedding model;\n"
            "                         the collection then records the model and refuses others\n"
            "  --metric NAME          cosine (default), dot or l2, for a new collection\n"
            "  --hnsw-m N             HNSW links per node for a new collection (default 16)\n"
            "  --ef-construction N    HNSW build breadth for a new collection (default 200)\n"
            "  --ef-search N          HNSW search breadth for a new collection (default 64)\n"
            "  --batch-size N         records per transaction (default 256)\n"
            "  --max-chunk-bytes N    longest text-file chunk (default 2000)\n"
            "  --threads N            model threads (default: all CPUs)\n"
            "  -q, --quiet            no progress or summary on stderr\n"
            "  -h, --help             show this help\n");
}

/* What one document of the batch owns until the batch is stored. */
typedef struct slot {
    semdex_chunk_input *chunks;
    size_t line;   /* JSONL line; 0 for a text file */
    sx_record rec; /* JSONL: the record (strings, vector) */
    char *text;    /* text file: its bytes */
    char *heads;   /* text file: its chunks' heading paths */
} slot;

typedef struct adder {
    const char *path;       /* the input being read, for messages */
    semdex_collection *coll;
    semdex_model *model;
    semdex_model_identity ident;
    semdex_embeddings emb;
    size_t batch_size, max_chunk;
    int quiet;
    /* the batch being built: docs[i] is described by slots[i] */
    semdex_document_input *docs;
    struct slot *slots;
    size_t n, cap;
    size_t first_line;
    /* totals and progress */
    size_t n_docs, n_chunks, n_vectors, n_truncated;
    struct timespec t0, last;
} adder;

static double since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void progress(adder *a)
{
    if (a->quiet || since(&a->t0) < 1.0 || since(&a->last) < 1.0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &a->last);
    fprintf(stderr, "semdex add: %zu documents, %zu chunks stored (%s)%s", a->n_docs, a->n_chunks, a->path,
            isatty(2) ? "\r" : "\n");
}

static void batch_clear(adder *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->slots[i].chunks);
        sx_record_free(&a->slots[i].rec);
        free(a->slots[i].text);
        free(a->slots[i].heads);
        free((char *)a->docs[i].id);
        free((char *)a->docs[i].uri);
    }
    a->n = 0;
}

static void adder_free(adder *a)
{
    batch_clear(a);
    free(a->docs);
    free(a->slots);
    semdex_embeddings_free(&a->emb);
}

/* A new document slot in the batch; NULL on allocation failure. */
static semdex_document_input *batch_push(adder *a, size_t line)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        semdex_document_input *d = realloc(a->docs, cap * sizeof *d);
        if (d)
            a->docs = d;
        slot *sl = realloc(a->slots, cap * sizeof *sl);
        if (sl)
            a->slots = sl;
        if (!d || !sl)
            return NULL;
        a->cap = cap;
    }
    size_t i = a->n++;
    memset(&a->docs[i], 0, sizeof a->docs[i]);
    memset(&a->slots[i], 0, sizeof a->slots[i]);
    a->slots[i].line = line;
    if (a->n == 1)
        a->first_line = line;
    return &a->docs[i];
}

/* Where in the input documents[i] came from, for messages. */
static void where(const adder *a, size_t i, char *buf, size_t size)
{
    if (i < a->n && a->slots[i].line)
        snprintf(buf, size, "%s: line %zu", a->path, a->slots[i].line);
    else if (i < a->n)
        snprintf(buf, size, "%s", a->docs[i].id);
    else
        snprintf(buf, size, "%s", a->path);
}

/* Embeds the chunks that have text and no vector. */
static int embed_batch(adder *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < a->docs[i].n_chunks; j++)
            n += a->slots[i].chunks[j].len > 0;
    if (!n)
        return 0;
    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens);
    if (!texts || !lens) {
        free(texts);
        free(lens);
        fprintf(stderr, "semdex add: out of memory\n");
        return 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < a->docs[i].n_chunks; j++)
            if (a->slots[i].chunks[j].len)
                texts[k] = a->slots[i].chunks[j].text, lens[k++] = a->slots[i].chunks[j].len;
    semdex_embed_options eo = semdex_embed_options_default();
    semdex_error err = {0};
    semdex_status st = semdex_model_embed(a->model, texts, lens, n, &eo, &a->emb, &err);
    free(texts);
    free(lens);
    if (st) {
        cli_print_error("add", &err);
        return 1;
    }
    k = 0;
    for (size_t i = 0; i < a->n; i++) {
        for (size_t j = 0; j < a->docs[i].n_chunks; j++) {
            semdex_chunk_input *c = &a->slots[i].chunks[j];
            if (!c->len)
                continue;
            c->vector = a->emb.vectors + k * a->emb.dim;
            c->dim = a->emb.dim;
            if (a->emb.n_truncated[k]) {
                char w[600];
                where(a, i, w, sizeof w);
                a->n_truncated++;
                if (!a->quiet)
                    fprintf(stderr, "semdex add: %s: chunk %zu: %zu tokens past the model's limit were not embedded\n",
                            w, j, a->emb.n_truncated[k]);
            }
            k++;
        }
    }
    return 0;
}

/* Stores the batch in one transaction.  Returns 0 or 1 (reported). */
static int flush(adder *a)
{
    if (!a->n)
        return 0;
    if (a->model && embed_batch(a)) {
        batch_clear(a);
        return 1;
    }
    semdex_error err = {0};
    semdex_status st = semdex_collection_add(a->coll, a->docs, a->n, a->model ? &a->ident : NULL, &err);
    if (st) {
        size_t i = SIZE_MAX;
        const char *field = err.field;
        if (!strncmp(field, "documents[", 10)) {
            i = strtoul(field + 10, NULL, 10);
            const char *dot = strchr(field, '.');
            field = dot ? dot + 1 : "";
            /* a JSONL record is one chunk: name its field as the line has it */
            if (i < a->n && a->slots[i].line && !strncmp(field, "chunks[0].", 10))
                field += 10;
        }
        char w[600], msg[512];
        where(a, i, w, sizeof w);
        snprintf(msg, sizeof msg, "%s", err.message);
        fprintf(stderr, "semdex add: %s: %s%s%s\n", w, field, *field ? ": " : "", msg);
        if (a->slots[0].line)
            fprintf(stderr, "semdex add: nothing of lines %zu-%zu was stored\n", a->first_line,
                    a->slots[a->n - 1].line);
        batch_clear(a);
        return 1;
    }
    for (size_t i = 0; i < a->n; i++) {
        a->n_chunks += a->docs[i].n_chunks;
        for (size_t j = 0; j < a->docs[i].n_chunks; j++)
            a->n_vectors += a->slots[i].chunks[j].vector != NULL;
    }
    a->n_docs += a->n;
    batch_clear(a);
    progress(a);
    return 0;
}

static int add_record_line(adder *a, const char *line, size_t len, size_t lineno)
{
    sx_record r;
    semdex_error err = {0};
    if (sx_record_parse(line, len, &r, &err)) {
        fprintf(stderr, "semdex add: %s: line %zu: %s%sbyte %lld: %s\n", a->path, lineno, err.field,
                err.field[0] ? ": " : "", (long long)err.offset, err.message);
        return 1;
    }
    if (a->model && r.vector) {
        fprintf(stderr, "semdex add: %s: line %zu: vector: a record with its own vector cannot be added with -m "
                        "(the model embeds the text)\n", a->path, lineno);
        sx_record_free(&r);
        return 1;
    }
    semdex_document_input *d = batch_push(a, lineno);
    semdex_chunk_input *c = calloc(1, sizeof *c);
    char idbuf[4200];
    if (!r.id)
        snprintf(idbuf, sizeof idbuf, "%s:%zu", a->path, lineno);
    char *id = strdup(r.id ? r.id : idbuf);
    if (!d || !c || !id) {
        free(c);
        free(id);
        sx_record_free(&r);
        fprintf(stderr, "semdex add: out of memory\n");
        return 1;
    }
    slot *sl = &a->slots[a->n - 1];
    sl->rec = r;
    sl->chunks = c;
    d->id = id;
    d->uri = r.uri ? strdup(r.uri) : NULL;
    d->metadata = r.metadata;
    d->chunks = c;
    d->n_chunks = 1;
    c->text = r.text ? r.text : "";
    c->len = r.text_len;
    c->start = c->end = -1;
    c->vector = r.vector;
    c->dim = r.dim;
    return 0;
}

static int add_jsonl(adder *a, FILE *f)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int failed = 0;
    while (!failed && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        size_t k = 0;
        while (k < n && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k == n)
            continue; /* blank lines are allowed */
        failed = add_record_line(a, line, n, lineno);
        if (failed && a->n) {
            fprintf(stderr, "semdex add: nothing of lines %zu-%zu was stored\n", a->first_line, lineno);
            batch_clear(a);
        } else if (!failed && a->n >= a->batch_size) {
            failed = flush(a);
        }
    }
    free(line);
    if (!failed && ferror(f)) {
        fprintf(stderr, "semdex add: %s: read error: %s\n", a->path, strerror(errno));
        failed = 1;
    }
    return failed || flush(a);
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf) {
        buf[n] = 0;
        *len = n;
    }
    return buf;
}

/* A text file's bytes and headings stay in its slot until its batch is
 * stored. */
static int add_text(adder *a, FILE *f)
{
    size_t len = 0;
    char *text = read_all(f, &len);
    if (!text) {
        fprintf(stderr, "semdex add: %s: cannot read: %s\n", a->path, strerror(errno));
        return 1;
    }
    sx_span *spans = NULL;
    size_t n = 0;
    semdex_error err = {0};
    if (sx_paragraphs(text, len, a->max_chunk, &spans, &n, &err)) {
        fprintf(stderr, "semdex add: %s: byte %lld: %s\n", a->path, (long long)err.offset, err.message);
        free(text);
        return 1;
    }
    semdex_document_input *d = batch_push(a, 0);
    semdex_chunk_input *c = calloc(n ? n : 1, sizeof *c);
    char *id = strdup(a->path), *uri = strdup(a->path);
    if (!d || !c || !id || !uri) {
        free(c), free(id), free(uri), free(text);
        sx_spans_free(spans, n);
        fprintf(stderr, "semdex add: out of memory\n");
        return 1;
    }
    slot *sl = &a->slots[a->n - 1];
    sl->text = text;
    sl->chunks = c;
    d->id = id;
    d->uri = uri;
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0)
        d->mtime = (int64_t)sb.st_mtime;
    d->chunks = c;
    d->n_chunks = n;
    size_t hbytes = 0;
    for (size_t j = 0; j < n; j++)
        hbytes += spans[j].heading ? strlen(spans[j].heading) + 1 : 0;
    char *heads = hbytes ? malloc(hbytes) : NULL;
    sl->heads = heads;
    size_t off = 0;
    for (size_t j = 0; j < n; j++) {
        c[j].text = text + spans[j].start;
        c[j].len = spans[j].end - spans[j].start;
        c[j].start = (int64_t)spans[j].start;
        c[j].end = (int64_t)spans[j].end;
        if (spans[j].heading && heads) {
            size_t hl = strlen(spans[j].heading) + 1;
            memcpy(heads + off, spans[j].heading, hl);
            c[j].heading = heads + off;
            off += hl;
        }
    }
    sx_spans_free(spans, n);
    return a->n >= a->batch_size ? flush(a) : 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int add_path(adder *a, const char *path)
{
    a->path = !strcmp(path, "-") ? "<stdin>" : path;
    int jsonl = !strcmp(path, "-") || has_suffix(path, ".jsonl") || has_suffix(path, ".ndjson");
    FILE *f = !strcmp(path, "-") ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "semdex add: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct stat sb;
    if (f != stdin && fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "semdex add: %s: is a directory (give the files)\n", path);
        fclose(f);
        return 1;
    }
    /* a batch never spans JSONL files, so that errors name the right lines */
    int r = jsonl ? flush(a) : 0;
    if (!r)
        r = jsonl ? add_jsonl(a, f) : add_text(a, f);
    if (f != stdin)
        fclose(f);
    return r;
}

int cmd_add(int argc, char **argv)
{
    cli_store_args sa;
    cli_store_args_init(&sa);
    const char *model_dir = NULL, *metric = NULL;
    size_t batch = 256, max_chunk = 2000, threads = 0, hnsw_m = 0, efc = 0, efs = 0;
    int quiet = 0, n_paths = 0;
    char **paths = calloc((size_t)argc, sizeof *paths);
    if (!paths)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int r = cli_store_arg(&sa, "add", argc, argv, &i);
        if (r == 1)
            continue;
        if (r < 0) {
            free(paths);
            return 2;
        }
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            free(paths);
            return 0;
        } else if ((!strcmp(o, "-m") || !strcmp(o, "--model")) && i + 1 < argc) {
            model_dir = argv[++i];
        } else if (!strcmp(o, "--metric") && i + 1 < argc) {
            metric = argv[++i];
        } else if ((!strcmp(o, "--batch-size") || !strcmp(o, "--max-chunk-bytes") || !strcmp(o, "--threads") ||
                    !strcmp(o, "--hnsw-m") || !strcmp(o, "--ef-construction") || !strcmp(o, "--ef-search")) &&
                   i + 1 < argc) {
            size_t *dst = !strcmp(o, "--batch-size") ? &batch : !strcmp(o, "--threads") ? &threads
                        : !strcmp(o, "--hnsw-m") ? &hnsw_m : !strcmp(o, "--ef-construction") ? &efc
                        : !strcmp(o, "--ef-search") ? &efs : &max_chunk;
            if (cli_parse_size(argv[++i], dst) || !*dst) {
                fprintf(stderr, "semdex add: %s needs a positive integer, got '%s'\n", o, argv[i]);
                free(paths);
                return 2;
            }
        } else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) {
            quiet = 1;
        } else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "semdex add: unknown or incomplete option '%s'\n\n", o);
            usage(stderr);
            free(paths);
            return 2;
        } else {
            paths[n_paths++] = argv[i];
        }
    }
    if (!sa.db || !n_paths) {
        fprintf(stderr, "semdex add: %s\n\n", !sa.db ? "-d DB is required" : "no PATH to add");
        usage(stderr);
        free(paths);
        return 2;
    }
    semdex_collection_options co = semdex_collection_options_default();
    if (metric && semdex_metric_parse(metric) < 0) {
        fprintf(stderr, "semdex add: --metric must be cosine, dot or l2, got '%s'\n", metric);
        free(paths);
        return 2;
    }
    if (metric)
        co.metric = (semdex_metric)semdex_metric_parse(metric);
    if (hnsw_m)
        co.hnsw_M = hnsw_m;
    if (efc)
        co.hnsw_ef_construction = efc;
    if (efs)
        co.hnsw_ef_search = efs;
    adder a = {.batch_size = batch, .max_chunk = max_chunk, .quiet = quiet};
    clock_gettime(CLOCK_MONOTONIC, &a.t0);
    a.last = a.t0;
    semdex_error err = {0};
    /* the collection records the model's absolute path, so that searches
     * from anywhere can load it to embed their queries */
    char *model_abs = model_dir ? realpath(model_dir, NULL) : NULL;
    if (model_dir) {
        semdex_model_options mo = semdex_model_options_default();
        mo.n_threads = (int)threads;
        if (semdex_model_load(model_abs ? model_abs : model_dir, &mo, &a.model, &err)) {
            free(model_abs);
            cli_print_error("add", &err);
            free(paths);
            return 1;
        }
        a.ident = semdex_model_identity_of(semdex_model_get_info(a.model));
        co.model = a.ident;
    }
    semdex_db *db = NULL;
    int failed = 0;
    if (semdex_db_open(sa.db, NULL, &db, &err) || semdex_collection_get(db, sa.collection, &co, &a.coll, &err)) {
        cli_print_error("add", &err);
        failed = 1;
    }
    for (int i = 0; !failed && i < n_paths; i++)
        failed = add_path(&a, paths[i]);
    if (!failed)
        failed = flush(&a);
    if (!failed && semdex_db_checkpoint(db, &err)) {
        cli_print_error("add", &err); /* the data is stored; only the index image lags */
        failed = 1;
    }
    if (!quiet && db)
        fprintf(stderr, "%ssemdex add: stored %zu documents (%zu chunks, %zu vectors) in collection '%s' of %s\n",
                isatty(2) && since(&a.t0) >= 1.0 ? "\n" : "", a.n_docs, a.n_chunks, a.n_vectors, sa.collection,
                sa.db);
    adder_free(&a);
    semdex_db_close(db);
    semdex_model_free(a.model);
    free(model_abs);
    free(paths);
    return failed;
}
