/* eval_set.c: the data of `semdex eval`: BEIR files (corpus.jsonl,
 * queries.jsonl, a qrels TSV) and XQuAD JSON in, BEIR files out, TREC run
 * files in, and the metrics of a ranking against the judgements.  Knows
 * nothing of how rankings are made. */
#include "eval_set.h"
#include "cli.h"
#include "alloc.h"
#include "err.h"
#include "json.h"
#include "strmap.h"
#include "utf8.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ------------------------------------------------------------ the set */


void eval_set_free(eval_set *s)
{
    for (size_t i = 0; i < s->n_docs; i++) {
        sx_free(s->doc_ids[i]);
        sx_free(s->doc_texts[i]);
    }
    for (size_t i = 0; i < s->n_queries; i++) {
        sx_free(s->q_ids[i]);
        sx_free(s->q_texts[i]);
    }
    sx_free(s->doc_ids);
    sx_free(s->doc_texts);
    sx_free(s->q_ids);
    sx_free(s->q_texts);
    sx_free(s->rel_off);
    sx_free(s->rel_doc);
    sx_free(s->rel_grade);
}

int eval_oom(void)
{
    fprintf(stderr, "semdex eval: out of memory\n");
    return -1;
}

/* Appends a document (text = title, newline, text when there is a title). */
static int add_doc(eval_set *s, const char *id, size_t id_len, const char *title, size_t tn, const char *text,
                   size_t n)
{
    if (s->n_docs == s->cap_docs) {
        size_t cap = s->cap_docs;
        if (SX_GROW(s->doc_ids, cap, s->n_docs + 1))
            return eval_oom();
        cap = s->cap_docs;
        if (SX_GROW(s->doc_texts, cap, s->n_docs + 1))
            return eval_oom();
        s->cap_docs = cap;
    }
    char *d = sx_strndup(id, id_len);
    char *t = sx_malloc(tn + 1 + n + 1);
    if (!d || !t) {
        sx_free(d);
        sx_free(t);
        return eval_oom();
    }
    size_t w = 0;
    if (tn) {
        memcpy(t, title, tn);
        t[tn] = '\n';
        w = tn + 1;
    }
    memcpy(t + w, text, n);
    t[w + n] = 0;
    s->doc_ids[s->n_docs] = d;
    s->doc_texts[s->n_docs++] = t;
    return 0;
}

static int add_query(eval_set *s, const char *id, size_t id_len, const char *text, size_t n)
{
    if (s->n_queries == s->cap_queries) {
        size_t cap = s->cap_queries;
        if (SX_GROW(s->q_ids, cap, s->n_queries + 1))
            return eval_oom();
        cap = s->cap_queries;
        if (SX_GROW(s->q_texts, cap, s->n_queries + 1))
            return eval_oom();
        s->cap_queries = cap;
    }
    char *d = sx_strndup(id, id_len), *t = sx_strndup(text, n);
    if (!d || !t) {
        sx_free(d);
        sx_free(t);
        return eval_oom();
    }
    s->q_ids[s->n_queries] = d;
    s->q_texts[s->n_queries++] = t;
    return 0;
}

typedef struct rel_triple {
    uint32_t q, d;
    int grade;
} rel_triple;

static int cmp_triple(const void *pa, const void *pb)
{
    const rel_triple *a = pa, *b = pb;
    if (a->q != b->q)
        return a->q < b->q ? -1 : 1;
    return (a->d > b->d) - (a->d < b->d);
}

/* Groups the relevance triples by query into the set. */
static int set_rels(eval_set *s, rel_triple *t, size_t n)
{
    if (n)
        qsort(t, n, sizeof *t, cmp_triple);
    s->rel_off = sx_calloc(s->n_queries + 1, sizeof *s->rel_off);
    s->rel_doc = sx_malloc((n ? n : 1) * sizeof *s->rel_doc);
    s->rel_grade = sx_malloc((n ? n : 1) * sizeof *s->rel_grade);
    if (!s->rel_off || !s->rel_doc || !s->rel_grade)
        return eval_oom();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].grade <= 0 || (m && t[i].q == t[m - 1].q && t[i].d == t[m - 1].d))
            continue;
        t[m++] = t[i];
    }
    for (size_t i = 0; i < m; i++) {
        s->rel_off[t[i].q + 1]++;
        s->rel_doc[i] = t[i].d;
        s->rel_grade[i] = t[i].grade;
    }
    for (size_t q = 0; q < s->n_queries; q++)
        s->rel_off[q + 1] += s->rel_off[q];
    s->n_rels = m;
    return 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "semdex eval: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (SX_GROW(buf, cap, n + 65536 + 1)) {
            sx_free(buf);
            fclose(f);
            eval_oom();
            return NULL;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "semdex eval: %s: read error\n", path);
        sx_free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static void report_json_error(const char *path, size_t line, const semdex_error *err)
{
    char msg[1024];
    semdex_error e = *err;
    sx_err_set_file(&e, path);
    fprintf(stderr, "semdex eval: line %zu: %s\n", line, semdex_error_format(&e, msg, sizeof msg));
}

/* Calls fn for each non-empty line of a JSON-lines file, parsed. */
static int each_json_line(const char *path, int (*fn)(eval_set *, const json_value *, const char *, size_t),
                          eval_set *s)
{
    size_t len;
    char *buf = read_all(path, &len);
    if (!buf)
        return -1;
    int rc = 0;
    size_t line = 0;
    for (char *p = buf; p < buf + len && !rc;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *end = nl ? nl : buf + len;
        line++;
        size_t n = (size_t)(end - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n) {
            semdex_error err = {0};
            json_doc *doc = json_parse(p, n, &err);
            if (!doc) {
                report_json_error(path, line, &err);
                rc = -1;
            } else {
                rc = fn(s, json_doc_root(doc), path, line);
                json_doc_free(doc);
            }
        }
        p = end + 1;
    }
    sx_free(buf);
    return rc;
}

/* BEIR ids may be strings or numbers. */
static int json_id(const json_value *v, char *buf, size_t size, const char **s, size_t *n)
{
    if (json_is_str(v)) {
        *s = v->u.str;
        *n = v->n;
        return 0;
    }
    if (json_is_num(v)) {
        int w = snprintf(buf, size, "%.17g", v->u.num);
        *s = buf;
        *n = (size_t)w;
        return 0;
    }
    return -1;
}

static int corpus_line(eval_set *s, const json_value *v, const char *path, size_t line)
{
    char num[32];
    const char *id;
    size_t idn;
    const json_value *text = json_get(v, "text"), *title = json_get(v, "title");
    if (json_id(json_get(v, "_id"), num, sizeof num, &id, &idn) || !json_is_str(text) ||
        (title && !json_is_null(title) && !json_is_str(title))) {
        fprintf(stderr, "semdex eval: %s: line %zu: want {\"_id\", \"title\", \"text\"}\n", path, line);
        return -1;
    }
    int has_title = json_is_str(title) && title->n;
    return add_doc(s, id, idn, has_title ? title->u.str : "", has_title ? title->n : 0, text->u.str, text->n);
}

static int query_line(eval_set *s, const json_value *v, const char *path, size_t line)
{
    char num[32];
    const char *id;
    size_t idn;
    const json_value *text = json_get(v, "text");
    if (json_id(json_get(v, "_id"), num, sizeof num, &id, &idn) || !json_is_str(text)) {
        fprintf(stderr, "semdex eval: %s: line %zu: want {\"_id\", \"text\"}\n", path, line);
        return -1;
    }
    return add_query(s, id, idn, text->u.str, text->n);
}

/* Maps ids to their index; duplicate ids are an error. */
static int index_ids(char **ids, size_t n, sx_strmap *m, const char *what)
{
    if (sx_strmap_reserve(m, n))
        return eval_oom();
    for (size_t i = 0; i < n; i++) {
        int r = sx_strmap_put(m, ids[i], strlen(ids[i]), (int32_t)i, NULL);
        if (r < 0)
            return eval_oom();
        if (r > 0) {
            fprintf(stderr, "semdex eval: %s id \"%s\" appears twice\n", what, ids[i]);
            return -1;
        }
    }
    return 0;
}

/* A file of lines that pair a query id with a document id (qrels, runs):
 * the file in memory, both id maps, the line number, and a count of lines
 * naming ids not in the set (skipped, and reported once at the end). */
typedef struct pair_reader {
    const char *path;
    char *buf, *p, *end;
    size_t line, unknown;
    sx_strmap docs, queries;
} pair_reader;

static int pair_open(pair_reader *r, const eval_set *s, const char *path)
{
    size_t len;
    memset(r, 0, sizeof *r);
    r->path = path;
    if (!(r->buf = read_all(path, &len)))
        return -1;
    r->p = r->buf;
    r->end = r->buf + len;
    if (index_ids(s->doc_ids, s->n_docs, &r->docs, "corpus") ||
        index_ids(s->q_ids, s->n_queries, &r->queries, "query"))
        return -1;
    return 0;
}

/* The next line, NUL-terminated, without its "\r\n" or "\n"; NULL at the end. */
static char *pair_next_line(pair_reader *r)
{
    if (r->p >= r->end)
        return NULL;
    char *line = r->p, *nl = memchr(line, '\n', (size_t)(r->end - line));
    char *e = nl ? nl : r->end;
    r->p = e + 1;
    r->line++;
    if (e > line && e[-1] == '\r')
        e--;
    *e = 0;
    return line;
}

/* Indexes of query q and document d; 0 (and the line counted as unknown)
 * when either is not in the set. */
static int pair_lookup(pair_reader *r, const char *q, const char *d, uint32_t *qi, uint32_t *di)
{
    int32_t a, b;
    if (!sx_strmap_get(&r->queries, q, strlen(q), &a) || !sx_strmap_get(&r->docs, d, strlen(d), &b)) {
        r->unknown++;
        return 0;
    }
    *qi = (uint32_t)a;
    *di = (uint32_t)b;
    return 1;
}

/* Reports the skipped lines when the read went well, and frees. */
static void pair_close(pair_reader *r, int rc)
{
    if (!rc && r->unknown)
        fprintf(stderr, "semdex eval: %s: %zu lines name a query or document not in the set (skipped)\n", r->path,
                r->unknown);
    sx_free(r->buf);
    sx_strmap_free(&r->docs);
    sx_strmap_free(&r->queries);
}

static int load_qrels(eval_set *s, const char *path)
{
    pair_reader r;
    rel_triple *t = NULL;
    size_t n = 0, cap = 0;
    int rc = pair_open(&r, s, path);
    for (char *f1; !rc && (f1 = pair_next_line(&r));) {
        char *f2 = strchr(f1, '\t'), *f3 = f2 ? strchr(f2 + 1, '\t') : NULL;
        if (!*f1)
            continue;
        if (!f2 || !f3) {
            fprintf(stderr, "semdex eval: %s: line %zu: want query-id<TAB>corpus-id<TAB>score\n", path, r.line);
            rc = -1;
            break;
        }
        *f2++ = 0;
        *f3++ = 0;
        char *e;
        long grade = strtol(f3, &e, 10);
        if (e == f3 || *e) {
            if (r.line == 1)
                continue; /* the header */
            fprintf(stderr, "semdex eval: %s: line %zu: score \"%s\" is not an integer\n", path, r.line, f3);
            rc = -1;
            break;
        }
        uint32_t qi, di;
        if (!pair_lookup(&r, f1, f2, &qi, &di))
            continue;
        if (SX_GROW(t, cap, n + 1)) {
            rc = eval_oom();
            break;
        }
        t[n++] = (rel_triple){qi, di, (int)grade};
    }
    pair_close(&r, rc);
    if (!rc)
        rc = set_rels(s, t, n);
    sx_free(t);
    return rc;
}

int eval_set_load_beir(eval_set *s, const char *corpus, const char *queries, const char *qrels)
{
    snprintf(s->name, sizeof s->name, "beir");
    if (each_json_line(corpus, corpus_line, s) || each_json_line(queries, query_line, s))
        return -1;
    return load_qrels(s, qrels);
}

/* Sentence starts of t[0..n) (byte offsets, the first 0): a sentence ends
 * after 。！？ or after . ! ? followed by a space, with the closing quotes
 * or brackets that follow it, and at a line break. */
static size_t sentence_starts(const char *t, size_t n, size_t *starts)
{
    size_t m = 0, i = 0;
    starts[m++] = 0;
    while (i < n) {
        int l;
        uint32_t c = sx_utf8_decode(t + i, &l);
        i += (size_t)l;
        int end = c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == '\n' ||
                  ((c == '.' || c == '!' || c == '?') && (i == n || t[i] == ' ' || t[i] == '"'));
        if (!end)
            continue;
        while (i < n) { /* closing quotes and brackets stay with their sentence */
            uint32_t d = sx_utf8_decode(t + i, &l);
            if (d != '"' && d != 0x201D && d != 0x2019 && d != 0x300D && d != 0x300F && d != 0xFF09 && d != ')')
                break;
            i += (size_t)l;
        }
        while (i < n && (t[i] == ' ' || t[i] == '\n'))
            i++;
        if (i < n)
            starts[m++] = i;
    }
    return m;
}

/* Byte offset of code point `cp` of t[0..n) (n when past the end). */
static size_t byte_of_cp(const char *t, size_t n, size_t cp)
{
    size_t i = 0;
    for (; i < n && cp > 0; cp--)
        i += (size_t)sx_utf8_len((unsigned char)t[i]);
    return i < n ? i : n;
}

/* Adds a paragraph's documents: the passage, or its sentences (their byte
 * starts in starts[0..*n_units)). */
static int add_paragraph(eval_set *s, const json_value *ctx, eval_xquad_unit unit, size_t para, size_t *starts,
                         size_t *n_units)
{
    char id[48];
    if (unit == EVAL_XQUAD_PASSAGE) {
        int idn = snprintf(id, sizeof id, "p%zu", para);
        starts[0] = 0;
        *n_units = 1;
        return add_doc(s, id, (size_t)idn, "", 0, ctx->u.str, ctx->n);
    }
    size_t m = sentence_starts(ctx->u.str, ctx->n, starts);
    for (size_t k = 0; k < m; k++) {
        size_t a = starts[k], b = k + 1 < m ? starts[k + 1] : ctx->n;
        while (b > a && (ctx->u.str[b - 1] == ' ' || ctx->u.str[b - 1] == '\n'))
            b--;
        int idn = snprintf(id, sizeof id, "p%zus%zu", para, k);
        if (add_doc(s, id, (size_t)idn, "", 0, ctx->u.str + a, b - a))
            return -1;
    }
    *n_units = m;
    return 0;
}

/* The unit of a paragraph that holds question qa's first answer. */
static size_t answer_unit(const json_value *qa, const json_value *ctx, const size_t *starts, size_t n_units)
{
    const json_value *ans = json_get(qa, "answers"), *a0 = json_is_arr(ans) && ans->n ? json_arr_at(ans, 0) : NULL;
    const json_value *st = json_get(a0, "answer_start");
    if (n_units <= 1 || !json_is_num(st) || !(st->u.num >= 0 && st->u.num <= (double)ctx->n))
        return 0;
    size_t b = byte_of_cp(ctx->u.str, ctx->n, (size_t)st->u.num), k = 0;
    while (k + 1 < n_units && starts[k + 1] <= b)
        k++;
    return k;
}

/* XQuAD (SQuAD v1.1 JSON): data[].paragraphs[].{context, qas[].{id, question, answers}}. */
int eval_set_load_xquad(eval_set *s, const char *dir, const char *lang, eval_xquad_unit unit)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/xquad.%s.json", dir, lang);
    snprintf(s->name, sizeof s->name, "xquad %s%s", lang, unit == EVAL_XQUAD_SENTENCE ? " sentences" : "");
    semdex_error err = {0};
    json_doc *doc = json_parse_file(path, &err);
    if (!doc) {
        char msg[1024];
        fprintf(stderr, "semdex eval: %s\n", semdex_error_format(&err, msg, sizeof msg));
        return -1;
    }
    rel_triple *t = NULL;
    size_t n = 0, cap = 0, n_para = 0, *starts = NULL, cap_starts = 0;
    int rc = 0;
    const json_value *data = json_get(json_doc_root(doc), "data");
    if (!json_is_arr(data)) {
        fprintf(stderr, "semdex eval: %s: no \"data\" array (not SQuAD JSON)\n", path);
        rc = -1;
    }
    for (uint32_t a = 0; !rc && a < data->n; a++) {
        const json_value *paras = json_get(json_arr_at(data, a), "paragraphs");
        for (uint32_t p = 0; !rc && json_is_arr(paras) && p < paras->n; p++) {
            const json_value *para = json_arr_at(paras, p), *ctx = json_get(para, "context"),
                             *qas = json_get(para, "qas");
            if (!json_is_str(ctx) || !json_is_arr(qas)) {
                fprintf(stderr, "semdex eval: %s: data[%u].paragraphs[%u]: no context or qas\n", path, a, p);
                rc = -1;
                break;
            }
            size_t n_units, first = s->n_docs;
            if (SX_GROW(starts, cap_starts, ctx->n + 1)) {
                rc = eval_oom();
                break;
            }
            if ((rc = add_paragraph(s, ctx, unit, n_para++, starts, &n_units)))
                break;
            for (uint32_t q = 0; !rc && q < qas->n; q++) {
                const json_value *qa = json_arr_at(qas, q), *qid = json_get(qa, "id"),
                                 *question = json_get(qa, "question");
                if (!json_is_str(qid) || !json_is_str(question)) {
                    fprintf(stderr, "semdex eval: %s: data[%u].paragraphs[%u].qas[%u]: no id or question\n", path,
                            a, p, q);
                    rc = -1;
                } else if (!(rc = add_query(s, qid->u.str, qid->n, question->u.str, question->n))) {
                    size_t d = first + answer_unit(qa, ctx, starts, n_units);
                    if (SX_GROW(t, cap, n + 1))
                        rc = eval_oom();
                    else
                        t[n++] = (rel_triple){(uint32_t)(s->n_queries - 1), (uint32_t)d, 1};
                }
            }
        }
    }
    json_doc_free(doc);
    if (!rc)
        rc = set_rels(s, t, n);
    sx_free(t);
    sx_free(starts);
    return rc;
}

/* ----------------------------------------------------------- BEIR out */

static int write_jsonl_record(FILE *f, cli_buf *b, const char *id, const char *title, const char *text)
{
    b->n = 0;
    int rc = cli_buf_add(b, "{\"_id\": ", 8) || cli_buf_json_string(b, id, strlen(id));
    if (title)
        rc = rc || cli_buf_add(b, ", \"title\": ", 11) || cli_buf_json_string(b, title, strlen(title));
    rc = rc || cli_buf_add(b, ", \"text\": ", 10) || cli_buf_json_string(b, text, strlen(text)) ||
         cli_buf_add(b, "}\n", 2);
    return rc || fwrite(b->s, 1, b->n, f) != b->n ? -1 : 0;
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        fprintf(stderr, "semdex eval: %s: %s\n", path, strerror(errno));
    return f;
}

int eval_set_write_beir(const eval_set *s, const char *dir)
{
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/qrels", dir);
    if ((mkdir(dir, 0777) && errno != EEXIST) || (mkdir(sub, 0777) && errno != EEXIST)) {
        fprintf(stderr, "semdex eval: %s: %s\n", sub, strerror(errno));
        return -1;
    }
    FILE *fc = open_out(dir, "corpus.jsonl"), *fq = open_out(dir, "queries.jsonl"),
         *fr = open_out(dir, "qrels/test.tsv");
    int rc = fc && fq && fr ? 0 : -1;
    cli_buf b = {0};
    for (size_t i = 0; !rc && i < s->n_docs; i++)
        rc = write_jsonl_record(fc, &b, s->doc_ids[i], "", s->doc_texts[i]);
    for (size_t i = 0; !rc && i < s->n_queries; i++)
        rc = write_jsonl_record(fq, &b, s->q_ids[i], NULL, s->q_texts[i]);
    if (!rc)
        rc = fputs("query-id\tcorpus-id\tscore\n", fr) < 0;
    for (size_t q = 0; !rc && q < s->n_queries; q++)
        for (size_t r = s->rel_off[q]; !rc && r < s->rel_off[q + 1]; r++)
            rc = fprintf(fr, "%s\t%s\t%d\n", s->q_ids[q], s->doc_ids[s->rel_doc[r]], s->rel_grade[r]) < 0;
    sx_free(b.s);
    if (fc && fclose(fc))
        rc = -1;
    if (fq && fclose(fq))
        rc = -1;
    if (fr && fclose(fr))
        rc = -1;
    if (rc)
        fprintf(stderr, "semdex eval: writing %s failed\n", dir);
    else
        fprintf(stderr, "semdex eval: wrote %zu documents, %zu queries, %zu judgements to %s\n", s->n_docs,
                s->n_queries, s->n_rels, dir);
    return rc;
}

/* ------------------------------------------------------------ eval_ranking */


void eval_ranking_free(eval_ranking *r)
{
    sx_free(r->docs);
    sx_free(r->scores);
    sx_free(r->n);
}

int eval_ranking_init(eval_ranking *r, size_t n_queries, size_t depth)
{
    memset(r, 0, sizeof *r);
    r->depth = depth;
    r->docs = sx_calloc(n_queries * depth, sizeof *r->docs);
    r->scores = sx_calloc(n_queries * depth, sizeof *r->scores);
    r->n = sx_calloc(n_queries ? n_queries : 1, sizeof *r->n);
    return r->docs && r->scores && r->n ? 0 : eval_oom();
}

typedef struct run_line {
    uint32_t q, d;
    double score;
    size_t line;
} run_line;

static int cmp_run_line(const void *pa, const void *pb)
{
    const run_line *a = pa, *b = pb;
    if (a->q != b->q)
        return a->q < b->q ? -1 : 1;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return (a->line > b->line) - (a->line < b->line);
}

int eval_ranking_read_run(eval_ranking *r, const eval_set *s, const char *path)
{
    pair_reader pr;
    run_line *rl = NULL;
    size_t n = 0, cap = 0;
    int rc = pair_open(&pr, s, path);
    for (char *p; !rc && (p = pair_next_line(&pr));) {
        char *save = NULL, *f[6];
        int nf = 0;
        for (char *tok = strtok_r(p, " \t", &save); tok && nf < 6; tok = strtok_r(NULL, " \t", &save))
            f[nf++] = tok;
        if (!nf)
            continue;
        char *e = NULL;
        double score = nf >= 5 ? strtod(f[4], &e) : 0;
        if (nf < 5 || !e || *e) {
            fprintf(stderr, "semdex eval: %s: line %zu: want qid Q0 docid rank score [tag]\n", path, pr.line);
            rc = -1;
            break;
        }
        uint32_t qi, di;
        if (!pair_lookup(&pr, f[0], f[2], &qi, &di))
            continue;
        if (SX_GROW(rl, cap, n + 1)) {
            rc = eval_oom();
            break;
        }
        rl[n++] = (run_line){qi, di, score, pr.line};
    }
    pair_close(&pr, rc);
    if (!rc) {
        if (n)
            qsort(rl, n, sizeof *rl, cmp_run_line);
        for (size_t i = 0; i < n; i++) {
            size_t q = rl[i].q;
            if (r->n[q] < r->depth) {
                r->docs[q * r->depth + r->n[q]] = rl[i].d;
                r->scores[q * r->depth + r->n[q]] = rl[i].score;
                r->n[q]++;
            }
        }
    }
    sx_free(rl);
    return rc;
}

double eval_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
/* ------------------------------------------------------------ metrics */


static int grade_of(const eval_set *s, size_t q, uint32_t d)
{
    for (size_t r = s->rel_off[q]; r < s->rel_off[q + 1]; r++)
        if (s->rel_doc[r] == d)
            return s->rel_grade[r];
    return 0;
}

static int cmp_int_desc(const void *a, const void *b) { return *(const int *)b - *(const int *)a; }

/* recall@k (relevant found in the top k / relevant), MRR@10 and nDCG@10
 * with linear gains, as BEIR (pytrec_eval) computes them. */
void eval_scores_compute(const eval_set *s, const eval_ranking *r, size_t k, eval_scores *out)
{
    memset(out, 0, sizeof *out);
    int grades[10];
    for (size_t q = 0; q < s->n_queries; q++) {
        size_t n_rel = s->rel_off[q + 1] - s->rel_off[q];
        if (!n_rel)
            continue;
        const uint32_t *docs = r->docs + q * r->depth;
        size_t n = r->n[q], found = 0;
        double rr = 0, dcg = 0, idcg = 0;
        for (size_t i = 0; i < n; i++) {
            int g = grade_of(s, q, docs[i]);
            if (!g)
                continue;
            if (i < k)
                found++;
            if (i < 10) {
                if (!rr)
                    rr = 1.0 / (double)(i + 1);
                dcg += g / log2((double)i + 2);
            }
        }
        size_t ng = n_rel < 10 ? n_rel : 10;
        /* the ideal eval_ranking: the best grades first */
        int *all = s->rel_grade + s->rel_off[q];
        size_t m = n_rel;
        int *tmp = m <= 10 ? grades : sx_malloc(m * sizeof *tmp);
        if (!tmp)
            tmp = grades, m = 10; /* out of memory: the first ten judgements stand in */
        memcpy(tmp, all, m * sizeof *tmp);
        qsort(tmp, m, sizeof *tmp, cmp_int_desc);
        for (size_t i = 0; i < ng; i++)
            idcg += tmp[i] / log2((double)i + 2);
        if (tmp != grades)
            sx_free(tmp);
        out->recall += (double)found / (double)n_rel;
        out->mrr += rr;
        out->ndcg += idcg > 0 ? dcg / idcg : 0;
        out->n_queries++;
    }
    if (out->n_queries) {
        out->recall /= (double)out->n_queries;
        out->mrr /= (double)out->n_queries;
        out->ndcg /= (double)out->n_queries;
    }
}
