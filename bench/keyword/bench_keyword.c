/* bench_keyword.c: the other sides of the keyword-search comparison
 * (bench/keyword/run.sh).  Reads a BEIR corpus and queries, ranks the corpus
 * for every query with one engine, and writes a TREC run file that
 * `semdex eval --run` scores with the very code that scores semdex itself.
 *
 *   bench_keyword ENGINE CORPUS.jsonl QUERIES.jsonl OUT.run
 *
 * Engines:
 *   fts5-unicode61  SQLite FTS5, tokenize='unicode61' (its default), bm25()
 *   fts5-trigram    SQLite FTS5, tokenize='trigram', bm25()
 *   icu-words, icu-words+chars   (built with -DBENCH_ICU, -licuuc)
 *                   semdex's own BM25 index and analyzer, with Chinese runs
 *                   segmented by ICU's dictionary word break iterator (locale
 *                   zh) instead of semdex's dictionary segmenter: the
 *                   segmenter comparison of docs/ARCHITECTURE.md
 *
 * FTS5 queries are bags of words as semdex's are: the query's terms joined by
 * OR, each quoted (FTS5 tokenizes a quoted string itself, so it sees its own
 * tokens): for unicode61 the runs of letters, digits and marks; for trigram
 * every three consecutive characters (what the trigram tokenizer indexes).
 * bm25() uses k1 = 1.2, b = 0.75 as semdex does; its scores are negated so
 * that higher is better.
 *
 * Output: the run file (top 100 per query), and on stdout one line
 *   RESULT engine=.. documents=.. queries=.. index_s=.. ms_per_query=..
 * Exit status 0 on success, 1 on an error, 2 on bad usage. */
#include "semdex.h"
#include "../../src/core/json.h"
#include "../../src/core/utf8.h"
#include "../../src/index/bm25.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#ifdef BENCH_ICU
#include <unicode/ubrk.h>
#include <unicode/ustring.h>
#endif

#define DEPTH 100

typedef struct texts {
    size_t n, cap;
    char **ids, **text;
} texts;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "bench_keyword: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        die("%s", "out of memory");
    return p;
}

static char *xstrdup(const char *s, size_t n)
{
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Reads a BEIR JSON-lines file: _id and title + newline + text (as semdex eval does). */
static void read_jsonl(const char *path, texts *t)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (!len)
            continue;
        semdex_error err = {0};
        json_doc *doc = json_parse(line, (size_t)len, &err);
        if (!doc)
            die("bad JSON line in %s", path);
        const json_value *root = json_doc_root(doc), *id = json_get(root, "_id"), *title = json_get(root, "title"),
                         *text = json_get(root, "text");
        if (!json_is_str(id) || !json_is_str(text))
            die("a line of %s has no string _id or text", path);
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 1024;
            t->ids = xrealloc(t->ids, t->cap * sizeof *t->ids);
            t->text = xrealloc(t->text, t->cap * sizeof *t->text);
        }
        size_t tn = json_is_str(title) ? title->n : 0;
        char *s = xrealloc(NULL, tn + 1 + text->n + 1);
        size_t w = 0;
        if (tn) {
            memcpy(s, title->u.str, tn);
            s[tn] = '\n';
            w = tn + 1;
        }
        memcpy(s + w, text->u.str, text->n);
        s[w + text->n] = 0;
        t->ids[t->n] = xstrdup(id->u.str, id->n);
        t->text[t->n++] = s;
        json_doc_free(doc);
    }
    free(line);
    fclose(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------- FTS5 */

typedef struct qbuf {
    char *s;
    size_t n, cap;
} qbuf;

static void qb_add(qbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

/* Appends `OR "term"` (the first without OR), doubling quotes. */
static void qb_term(qbuf *b, const char *s, size_t n)
{
    if (b->n)
        qb_add(b, " OR ", 4);
    qb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            qb_add(b, "\"\"", 2);
        else
            qb_add(b, s + i, 1);
    }
    qb_add(b, "\"", 1);
}

static int is_token_char(uint32_t c)
{
    int cat = sx_uni_category(c);
    return sx_uni_is_letter(c) || sx_uni_is_number(c) || cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
           cat == UTF8PROC_CATEGORY_CO;
}

static void fts_query(const char *q, int trigram, qbuf *b)
{
    b->n = 0;
    if (b->s)
        b->s[0] = 0;
    size_t n = strlen(q);
    if (trigram) {
        /* every window of three characters */
        size_t starts[4] = {0}, k = 0;
        for (size_t i = 0; i < n;) {
            int l;
            sx_utf8_decode(q + i, &l);
            starts[k % 4] = i;
            k++;
            i += (size_t)l;
            if (k >= 3) {
                size_t a = starts[(k - 3) % 4];
                qb_term(b, q + a, i - a);
            }
        }
        return;
    }
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t c = sx_utf8_decode(q + i, &l);
        if (!is_token_char(c)) {
            i += (size_t)l;
            continue;
        }
        size_t a = i;
        while (i < n && is_token_char(sx_utf8_decode(q + i, &l)))
            i += (size_t)l;
        qb_term(b, q + a, i - a);
    }
}

static void run_fts5(const char *engine, const texts *docs, const texts *qs, FILE *out)
{
    int trigram = !strcmp(engine, "fts5-trigram");
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db))
        die("%s", "cannot open an in-memory database");
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE VIRTUAL TABLE d USING fts5(text, tokenize='%s')",
             trigram ? "trigram" : "unicode61");
    if (sqlite3_exec(db, sql, 0, 0, 0))
        die("FTS5: %s", sqlite3_errmsg(db));
    double t0 = now_s();
    sqlite3_stmt *ins, *sel;
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    sqlite3_prepare_v2(db, "INSERT INTO d(rowid, text) VALUES(?, ?)", -1, &ins, 0);
    for (size_t i = 0; i < docs->n; i++) {
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)i);
        sqlite3_bind_text(ins, 2, docs->text[i], -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("FTS5 insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    double t1 = now_s();
    /* bm25()'s arguments are column weights; its k1 and b are fixed at 1.2 and 0.75 */
    if (sqlite3_prepare_v2(db, "SELECT rowid, bm25(d) FROM d WHERE d MATCH ?1 ORDER BY bm25(d) LIMIT 100", -1, &sel, 0))
        die("FTS5 query: %s", sqlite3_errmsg(db));
    qbuf b = {0};
    size_t failed = 0;
    for (size_t q = 0; q < qs->n; q++) {
        fts_query(qs->text[q], trigram, &b);
        if (!b.n)
            continue;
        sqlite3_bind_text(sel, 1, b.s, (int)b.n, SQLITE_STATIC);
        int rank = 0, rc;
        while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
            size_t d = (size_t)sqlite3_column_int64(sel, 0);
            fprintf(out, "%s Q0 %s %d %.9g %s\n", qs->ids[q], docs->ids[d], ++rank, -sqlite3_column_double(sel, 1),
                    engine);
        }
        if (rc != SQLITE_DONE && !failed++)
            fprintf(stderr, "bench_keyword: query %s: %s\n", qs->ids[q], sqlite3_errmsg(db));
        sqlite3_reset(sel);
    }
    double t2 = now_s();
    sqlite3_finalize(sel);
    sqlite3_close(db);
    free(b.s);
    if (failed)
        fprintf(stderr, "bench_keyword: %zu queries failed\n", failed);
    printf("RESULT engine=%s documents=%zu queries=%zu index_s=%.3f ms_per_query=%.3f\n", engine, docs->n, qs->n,
           t1 - t0, (t2 - t1) * 1e3 / (double)(qs->n ? qs->n : 1));
}

/* -------------------------------------------------------------- ICU */

#ifdef BENCH_ICU
typedef struct icu_ctx {
    UBreakIterator *bi;
    UChar *u16;
    int32_t cap16;
    size_t *u16_to_u8; /* byte offset of each UTF-16 unit */
    size_t cap_map;
} icu_ctx;

/* analyze_seg_fn: ICU word boundaries of a run of Han characters. */
static semdex_status icu_cut(void *ctx, const char *s, size_t len, size_t *ends, size_t *n, semdex_error *err)
{
    icu_ctx *c = ctx;
    UErrorCode st = U_ZERO_ERROR;
    int32_t n16 = 0;
    if ((int32_t)len + 1 > c->cap16) {
        c->cap16 = (int32_t)len * 2 + 16;
        c->u16 = xrealloc(c->u16, (size_t)c->cap16 * sizeof *c->u16);
    }
    u_strFromUTF8(c->u16, c->cap16, &n16, s, (int32_t)len, &st);
    if (U_FAILURE(st))
        return SEMDEX_ERR_UTF8;
    if ((size_t)n16 + 1 > c->cap_map) {
        c->cap_map = (size_t)n16 * 2 + 16;
        c->u16_to_u8 = xrealloc(c->u16_to_u8, c->cap_map * sizeof *c->u16_to_u8);
    }
    for (size_t i = 0, u = 0; i < len;) {
        int l;
        uint32_t cp = sx_utf8_decode(s + i, &l);
        c->u16_to_u8[u++] = i;
        if (cp >= 0x10000)
            c->u16_to_u8[u++] = i;
        i += (size_t)l;
    }
    c->u16_to_u8[n16] = len;
    ubrk_setText(c->bi, c->u16, n16, &st);
    if (U_FAILURE(st))
        return SEMDEX_ERR_UNSUPPORTED;
    size_t k = 0;
    ubrk_first(c->bi);
    for (int32_t b = ubrk_next(c->bi); b != UBRK_DONE; b = ubrk_next(c->bi))
        ends[k++] = c->u16_to_u8[b];
    *n = k;
    (void)err;
    return SEMDEX_OK;
}

static void run_icu(const char *engine, const texts *docs, const texts *qs, FILE *out)
{
    icu_ctx c = {0};
    UErrorCode st = U_ZERO_ERROR;
    c.bi = ubrk_open(UBRK_WORD, "zh", NULL, 0, &st);
    if (U_FAILURE(st))
        die("ICU: %s", u_errorName(st));
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db))
        die("%s", "cannot open an in-memory database");
    analyze_options o = analyze_options_default();
    o.zh = !strcmp(engine, "icu-words") ? ANALYZE_ZH_WORDS : ANALYZE_ZH_WORDS_CHARS;
    o.seg = icu_cut;
    o.seg_ctx = &c;
    o.seg_name = "icu";
    bm25_params p = bm25_params_default();
    semdex_error err = {0};
    bm25_index *ix = bm25_open_with(db, 1, &p, &o, &err);
    if (!ix)
        die("bm25_open: %s", err.message);
    double t0 = now_s();
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    for (size_t i = 0; i < docs->n; i++)
        if (bm25_add(ix, (int64_t)i, docs->text[i], strlen(docs->text[i]), &err))
            die("bm25_add: %s", err.message);
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    double t1 = now_s();
    bm25_hit hits[DEPTH];
    for (size_t q = 0; q < qs->n; q++) {
        size_t n = bm25_search(ix, qs->text[q], strlen(qs->text[q]), DEPTH, NULL, NULL, hits, &err);
        if (err.status)
            die("bm25_search: %s", err.message);
        for (size_t i = 0; i < n; i++)
            fprintf(out, "%s Q0 %s %zu %.17g %s\n", qs->ids[q], docs->ids[hits[i].id], i + 1, hits[i].score, engine);
    }
    double t2 = now_s();
    bm25_close(ix);
    sqlite3_close(db);
    ubrk_close(c.bi);
    free(c.u16);
    free(c.u16_to_u8);
    printf("RESULT engine=%s documents=%zu queries=%zu index_s=%.3f ms_per_query=%.3f\n", engine, docs->n, qs->n,
           t1 - t0, (t2 - t1) * 1e3 / (double)(qs->n ? qs->n : 1));
}
#endif

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_keyword ENGINE CORPUS.jsonl QUERIES.jsonl OUT.run\n"
                        "engines: fts5-unicode61, fts5-trigram"
#ifdef BENCH_ICU
                        ", icu-words, icu-words+chars"
#endif
                        "\n");
        return 2;
    }
    const char *engine = argv[1];
    texts docs = {0}, qs = {0};
    read_jsonl(argv[2], &docs);
    read_jsonl(argv[3], &qs);
    FILE *out = fopen(argv[4], "w");
    if (!out)
        die("cannot write %s", argv[4]);
    if (!strcmp(engine, "fts5-unicode61") || !strcmp(engine, "fts5-trigram"))
        run_fts5(engine, &docs, &qs, out);
#ifdef BENCH_ICU
    else if (!strcmp(engine, "icu-words") || !strcmp(engine, "icu-words+chars"))
        run_icu(engine, &docs, &qs, out);
#endif
    else {
        fprintf(stderr, "bench_keyword: unknown engine %s\n", engine);
        return 2;
    }
    if (fclose(out))
        die("cannot write %s", argv[4]);
    for (size_t i = 0; i < docs.n; i++)
        free(docs.ids[i]), free(docs.text[i]);
    for (size_t i = 0; i < qs.n; i++)
        free(qs.ids[i]), free(qs.text[i]);
    free(docs.ids), free(docs.text), free(qs.ids), free(qs.text);
    return 0;
}
