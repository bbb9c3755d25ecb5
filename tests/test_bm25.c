/* test_bm25.c: keyword search: the analyzer (English words and stemming,
 * Chinese segmentation against jieba, mixed text, full-width forms, empty
 * and invalid input), BM25 scores against a hand-computed example,
 * incremental updates and deletes against a from-scratch index, filters,
 * transactions and allocation failures, fusion, and `semdex eval` on XQuAD. */
#include "test.h"
#include "../src/index/analyze.h"
#include "../src/index/bm25.h"
#include "../src/index/fuse.h"
#include "../src/index/segment.h"
#include "alloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

/* The terms of text, space-separated, into out (or "ERR <status>"). */
static void terms_of(const analyze_options *o, const char *text, size_t len, char *out, size_t size)
{
    semdex_error err = {0};
    analyzer *a = analyzer_new(o, &err);
    if (!a) {
        snprintf(out, size, "ERR new %d", err.status);
        return;
    }
    analyze_result r;
    semdex_status st = analyzer_run(a, text, len, &r, &err);
    if (st) {
        snprintf(out, size, "ERR %d at %lld", st, (long long)err.offset);
        analyzer_free(a);
        return;
    }
    size_t w = 0;
    out[0] = 0;
    for (size_t i = 0; i < r.n && w + 1 < size; i++)
        w += (size_t)snprintf(out + w, size - w, "%s%.*s", i ? " " : "", (int)r.tokens[i].term_len,
                              r.terms + r.tokens[i].term);
    analyzer_free(a);
}

static void terms(const char *text, char *out, size_t size)
{
    analyze_options o = analyze_options_default();
    terms_of(&o, text, strlen(text), out, size);
}

static sqlite3 *mem_db(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* --------------------------------------------------------- analyzer */

TEST(analyze_english_words_and_stemming)
{
    char got[512];
    terms("The Running dogs' owners were RUNNING quickly; John's cat isn't here.", got, sizeof got);
    CHECKF(!strcmp(got, "the run dog owner were run quickli john cat isn't here"), "got %s", got);
    analyze_options o = analyze_options_default();
    o.stem = 0;
    const char *t = "Relational databases, generalizations";
    terms_of(&o, t, strlen(t), got, sizeof got);
    CHECKF(!strcmp(got, "relational databases generalizations"), "got %s", got);
    terms("Relational databases, generalizations", got, sizeof got);
    CHECKF(!strcmp(got, "relat databas gener"), "got %s", got);
    /* numbers keep their separators between digits; hyphens and dots between letters split */
    terms("pi is 3.14, 1,000 people; state-of-the-art U.S. e-mail covid19 foo_bar", got, sizeof got);
    CHECKF(!strcmp(got, "pi is 3.14 1,000 peopl state of the art u s e mail covid19 foo_bar"), "got %s", got);
    /* stop words are optional */
    o = analyze_options_default();
    o.stopwords = 1;
    t = "The cat is on the mat";
    terms_of(&o, t, strlen(t), got, sizeof got);
    CHECKF(!strcmp(got, "cat mat"), "got %s", got);
    /* other scripts are words too; accents are kept, case is folded */
    terms("Café ΣΟΦΙΑ Москва 서울 특별시", got, sizeof got);
    CHECKF(!strcmp(got, "café σοφια москва 서울 특별시"), "got %s", got);
}

TEST(analyze_porter_matches_the_reference_on_xquad_words)
{
    size_t len;
    char *data = test_read_file("tests/data/keyword/porter.tsv", &len);
    CHECKF(data, "no tests/data/keyword/porter.tsv");
    size_t n = 0, bad = 0;
    char first_bad[160] = "";
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = 0;
        char w[128];
        snprintf(w, sizeof w, "%s", line);
        size_t l = analyze_porter_stem(w, strlen(w));
        w[l] = 0;
        n++;
        if (strcmp(w, tab + 1) && !bad++)
            snprintf(first_bad, sizeof first_bad, "%s -> %s, want %s", line, w, tab + 1);
    }
    free(data);
    CHECKF(n > 6000, "only %zu words", n);
    CHECKF(!bad, "%zu of %zu words differ, first: %s", bad, n, first_bad);
    test_note("%zu words", n);
}

TEST(analyze_chinese_segmentation_matches_jieba)
{
    size_t len;
    char *data = test_read_file("tests/data/keyword/segment_zh.tsv", &len);
    CHECKF(data, "no tests/data/keyword/segment_zh.tsv");
    semdex_error err = {0};
    const seg_dict *d = seg_dict_builtin(&err);
    CHECK(d && seg_dict_words(d) > 100000);
    seg_scratch sc = {0};
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = 0;
        size_t ends[256], nw;
        CHECK(seg_cut(d, line, strlen(line), &sc, ends, &nw, &err) == SEMDEX_OK);
        char got[1024];
        size_t w = 0, p = 0;
        for (size_t i = 0; i < nw; i++) {
            w += (size_t)snprintf(got + w, sizeof got - w, "%s%.*s", i ? " " : "", (int)(ends[i] - p), line + p);
            p = ends[i];
        }
        CHECKF(!strcmp(got, tab + 1), "%s: got %s, want %s", line, got, tab + 1);
        n++;
    }
    seg_scratch_free(&sc);
    free(data);
    CHECK(n >= 20);
    test_note("%zu sentences", n);
}

TEST(analyze_chinese_terms_words_and_their_characters)
{
    char got[512];
    terms("黑豹队的防守只丢了", got, sizeof got);
    CHECKF(!strcmp(got, "黑豹 黑 豹 队 的 防守 防 守 只 丢 了"), "got %s", got);
    analyze_options o = analyze_options_default();
    const char *t = "黑豹队的防守";
    static const char *const want[ANALYZE_ZH_COUNT] = {
        [ANALYZE_ZH_WORDS_CHARS] = "黑豹 黑 豹 队 的 防守 防 守",
        [ANALYZE_ZH_WORDS] = "黑豹 队 的 防守",
        [ANALYZE_ZH_BIGRAMS] = "黑豹 豹队 队的 的防 防守",
        [ANALYZE_ZH_CHARS_BIGRAMS] = "黑 黑豹 豹 豹队 队 队的 的 的防 防 防守 守",
        [ANALYZE_ZH_CHARS] = "黑 豹 队 的 防 守",
    };
    for (int m = 0; m < ANALYZE_ZH_COUNT; m++) {
        o.zh = (analyze_zh)m;
        terms_of(&o, t, strlen(t), got, sizeof got);
        CHECKF(!strcmp(got, want[m]), "mode %d: got %s", m, got);
    }
    /* a lone character stays itself in bigram mode; kana become bigrams */
    o.zh = ANALYZE_ZH_BIGRAMS;
    terms_of(&o, "我 カタカナ", strlen("我 カタカナ"), got, sizeof got);
    CHECKF(!strcmp(got, "我 カタ タカ カナ"), "got %s", got);
}

TEST(analyze_mixed_chinese_english_and_full_width)
{
    char got[512];
    terms("我用iPhone 15拍照，然后上传到GitHub。", got, sizeof got);
    CHECKF(!strcmp(got, "我 用 iphon 15 拍照 拍 照 然后 然 后 上 传到 传 到 github"), "got %s", got);
    /* full-width letters, digits and spaces fold to ASCII (NFKC), and are lowercased */
    const char *fw = "ＨＥＬＬＯ　Ｗｏｒｌｄ１２３，ＮＦＬ球队";
    terms(fw, got, sizeof got);
    CHECKF(!strcmp(got, "hello world123 nfl 球队 球 队"), "got %s", got);
    /* compatibility forms: ligatures, circled digits, half-width katakana */
    terms("ﬁnd ① ㍿", got, sizeof got);
    CHECKF(!strcmp(got, "find 1 株式会社 株 式 会 社"), "got %s", got);
    /* offsets point at the source bytes, full-width ones included */
    semdex_error err = {0};
    analyzer *a = analyzer_new(NULL, &err);
    CHECK(a);
    analyze_result r;
    CHECK(analyzer_run(a, fw, strlen(fw), &r, &err) == SEMDEX_OK);
    CHECK(r.n == 6);
    CHECK(r.tokens[0].start == 0 && r.tokens[0].end == 15); /* ＨＥＬＬＯ: 5 x 3 bytes */
    CHECK(r.tokens[1].start == 18 && r.tokens[1].end == 42);
    CHECK(!memcmp(fw + r.tokens[3].start, "球队", r.tokens[3].end - r.tokens[3].start));
    CHECK(!memcmp(fw + r.tokens[5].start, "队", 3) && r.tokens[5].end - r.tokens[5].start == 3);
    analyzer_free(a);
}

TEST(analyze_empty_whitespace_and_invalid_utf8)
{
    char got[256];
    terms("", got, sizeof got);
    CHECK(!strcmp(got, ""));
    terms(" \t\n\r\u3000  ", got, sizeof got);
    CHECK(!strcmp(got, ""));
    terms("... !!! ??? 😀 — ", got, sizeof got);
    CHECK(!strcmp(got, ""));
    analyze_options o = analyze_options_default();
    terms_of(&o, NULL, 0, got, sizeof got);
    CHECK(!strcmp(got, ""));
    /* invalid UTF-8 is refused with the offset of the first bad byte */
    struct {
        const char *s;
        size_t len;
        long long off;
    } bad[] = {
        {"abc\xff", 4, 3},           {"\xe4\xb8", 2, 0},       {"ok \xed\xa0\x80", 6, 3},
        {"\xc0\xaf", 2, 0},          {"a\x80" "b", 3, 1},      {"中文\xf4\x90\x80\x80", 10, 6},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        terms_of(&o, bad[i].s, bad[i].len, got, sizeof got);
        char want[64];
        snprintf(want, sizeof want, "ERR %d at %lld", SEMDEX_ERR_UTF8, bad[i].off);
        CHECKF(!strcmp(got, want), "case %zu: got %s, want %s", i, got, want);
    }
    /* embedded NULs separate words, they are not the end */
    terms_of(&o, "ab\0cd", 5, got, sizeof got);
    CHECKF(!strcmp(got, "ab cd"), "got %s", got);
    /* a word longer than the term limit is dropped, its neighbours kept */
    char longw[400];
    memset(longw, 'x', 300);
    strcpy(longw + 300, " short");
    terms(longw, got, sizeof got);
    CHECK(!strcmp(got, "short"));
}

TEST(analyze_ids_name_the_options)
{
    semdex_error err = {0};
    analyze_options o = analyze_options_default();
    analyzer *a = analyzer_new(&o, &err);
    CHECK(a);
    CHECKF(strstr(analyzer_id(a), "porter") && strstr(analyzer_id(a), "jieba") &&
               strstr(analyzer_id(a), "words+chars"),
           "id %s", analyzer_id(a));
    analyzer_free(a);
    o.stem = 0;
    o.zh = ANALYZE_ZH_BIGRAMS;
    a = analyzer_new(&o, &err);
    CHECK(a && !strstr(analyzer_id(a), "porter") && strstr(analyzer_id(a), "zh=bigrams"));
    analyzer_free(a);
    o.zh = (analyze_zh)99;
    CHECK(!analyzer_new(&o, &err) && err.status == SEMDEX_ERR_INVALID_ARG);
}

/* ----------------------------------------------------------- BM25 */

static bm25_index *open_ix(sqlite3 *db, int64_t coll, int stem)
{
    bm25_params p = bm25_params_default();
    p.stem = stem;
    semdex_error err = {0};
    bm25_index *ix = bm25_open(db, coll, &p, &err);
    if (!ix)
        test_fail(__FILE__, __LINE__, "bm25_open: %s", err.message);
    return ix;
}

static int add(bm25_index *ix, int64_t id, const char *text)
{
    semdex_error err = {0};
    semdex_status st = bm25_add(ix, id, text, strlen(text), &err);
    if (st)
        test_fail(__FILE__, __LINE__, "bm25_add %lld: %s", (long long)id, err.message);
    return st;
}

static size_t search(bm25_index *ix, const char *q, size_t k, bm25_hit *hits)
{
    semdex_error err = {0};
    size_t n = bm25_search(ix, q, strlen(q), k, NULL, NULL, hits, &err);
    if (err.status)
        test_fail(__FILE__, __LINE__, "bm25_search: %s", err.message);
    return n;
}

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * (fabs(b) > 1 ? fabs(b) : 1); }

TEST(bm25_scores_match_a_hand_computed_example)
{
    sqlite3 *db = mem_db();
    CHECK(db);
    bm25_index *ix = open_ix(db, 7, 0);
    CHECK(ix);
    /* N = 3 documents of 3, 2 and 4 terms: avgdl = 3; k1 = 1.2, b = 0.75 */
    CHECK(!add(ix, 1, "apple banana apple"));
    CHECK(!add(ix, 2, "banana cherry"));
    CHECK(!add(ix, 3, "cherry cherry cherry date"));
    bm25_hit h[8];
    /* apple: df 1, idf = ln(1 + 2.5/1.5) = 0.98082925301172...; d1: tf 2, dl 3:
     * norm = 1.2 * (0.25 + 0.75 * 3/3) = 1.2, so 0.980829... * 2 / 3.2 */
    CHECK(search(ix, "apple", 8, h) == 1 && h[0].id == 1);
    CHECKF(near(h[0].score, 0.6130182831323289), "%.17g", h[0].score);
    /* banana, cherry: df 2 each, idf = ln(1 + 1.5/2.5) = 0.470003629245735...
     * d2 (dl 2, norm 0.9): 2 * idf / 1.9; d3 (cherry tf 3, dl 4, norm 1.5): idf * 3/4.5;
     * d1 (banana tf 1, norm 1.2): idf / 2.2 */
    CHECK(search(ix, "Banana, CHERRY!", 8, h) == 3);
    CHECK(h[0].id == 2 && h[1].id == 3 && h[2].id == 1);
    CHECKF(near(h[0].score, 0.49474066236393227), "%.17g", h[0].score);
    CHECKF(near(h[1].score, 0.3133357528304904), "%.17g", h[1].score);
    CHECKF(near(h[2].score, 0.21363801329351617), "%.17g", h[2].score);
    /* a query term counts as often as it occurs */
    CHECK(search(ix, "apple apple", 8, h) == 1 && near(h[0].score, 2 * 0.6130182831323289));
    /* k limits, unknown terms and empty queries find nothing */
    CHECK(search(ix, "banana cherry", 1, h) == 1 && h[0].id == 2);
    CHECK(search(ix, "durian", 8, h) == 0);
    CHECK(search(ix, "", 8, h) == 0);
    CHECK(search(ix, " ,; ", 8, h) == 0);
    /* k1 and b are parameters: k1 = 2, b = 0 makes d1's apple 2 / (2 + 2) */
    bm25_params p = {2.0, 0.0, 0};
    bm25_set_params(ix, &p);
    CHECK(search(ix, "apple", 8, h) == 1);
    CHECKF(near(h[0].score, 0.49041462650586315), "%.17g", h[0].score);
    bm25_stats st;
    semdex_error err = {0};
    CHECK(bm25_get_stats(ix, &st, &err) == SEMDEX_OK);
    CHECK(st.n_docs == 3 && st.total_len == 9 && st.n_terms == 4);
    /* the query is analyzed as the documents are: invalid UTF-8 is an error */
    CHECK(bm25_search(ix, "\xff", 1, 8, NULL, NULL, h, &err) == 0 && err.status == SEMDEX_ERR_UTF8);
    bm25_close(ix);
    sqlite3_close(db);
}

/* A deterministic corpus: document i is made of words drawn from a small
 * mixed English/Chinese vocabulary, so that terms are shared. */
static const char *const VOCAB[] = {
    "search",  "engine",   "index",  "vector", "keyword", "ranking", "running", "runs",  "database", "file",
    "检索",    "向量",     "关键词", "数据库", "中文",    "分词",    "黑豹队",  "防守",  "SQLite",   "BM25",
    "Chinese", "segment",  "fusion", "query",  "倒数",    "排名",    "融合",    "document",
};
#define N_VOCAB (sizeof VOCAB / sizeof VOCAB[0])

static void make_doc(unsigned seed, char *buf, size_t size)
{
    size_t w = 0, n = 3 + seed % 11;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        w += (size_t)snprintf(buf + w, size - w, "%s%s", i ? " " : "", VOCAB[(seed >> 16) % N_VOCAB]);
    }
}

static const char *const QUERIES[] = {
    "search engine", "running index", "检索 向量", "黑豹队的防守", "BM25 fusion query", "中文分词 Chinese segment",
    "database file runs", "排名融合", "document", "keyword ranking 关键词",
};

/* Every query gives the same ids and bit-identical scores on both indexes. */
static int same_results(bm25_index *a, bm25_index *b)
{
    bm25_hit ha[64], hb[64];
    for (size_t q = 0; q < sizeof QUERIES / sizeof QUERIES[0]; q++) {
        size_t na = search(a, QUERIES[q], 64, ha), nb = search(b, QUERIES[q], 64, hb);
        if (na != nb || !na) {
            test_fail(__FILE__, __LINE__, "query %s: %zu and %zu hits", QUERIES[q], na, nb);
            return 0;
        }
        for (size_t i = 0; i < na; i++)
            if (ha[i].id != hb[i].id || ha[i].score != hb[i].score) {
                test_fail(__FILE__, __LINE__, "query %s rank %zu: %lld %.17g vs %lld %.17g", QUERIES[q], i,
                          (long long)ha[i].id, ha[i].score, (long long)hb[i].id, hb[i].score);
                return 0;
            }
    }
    return 1;
}

TEST(bm25_updates_and_deletes_keep_statistics_exact)
{
    sqlite3 *db = mem_db();
    CHECK(db);
    bm25_index *inc = open_ix(db, 1, 1), *fresh = open_ix(db, 2, 1);
    CHECK(inc && fresh);
    char buf[512];
    /* incremental: 200 documents, then delete 60, re-add 30 of them with
     * other text, replace 40 in place (add on an existing id) */
    for (unsigned i = 0; i < 200; i++) {
        make_doc(i, buf, sizeof buf);
        CHECK(!add(inc, i, buf));
    }
    semdex_error err = {0};
    for (unsigned i = 0; i < 200; i += 3 + (i % 2))
        CHECK(bm25_delete(inc, i, &err) == SEMDEX_OK);
    for (unsigned i = 0; i < 200; i += 7) {
        make_doc(i + 1000, buf, sizeof buf);
        CHECK(!add(inc, i, buf));
    }
    CHECK(bm25_delete(inc, 123456, &err) == SEMDEX_OK); /* absent: nothing happens */
    /* from scratch: the final state, in another order */
    int present[200] = {0};
    unsigned seed_of[200];
    for (unsigned i = 0; i < 200; i++)
        present[i] = 1, seed_of[i] = i;
    for (unsigned i = 0; i < 200; i += 3 + (i % 2))
        present[i] = 0;
    for (unsigned i = 0; i < 200; i += 7)
        present[i] = 1, seed_of[i] = i + 1000;
    for (unsigned j = 200; j-- > 0;)
        if (present[j]) {
            make_doc(seed_of[j], buf, sizeof buf);
            CHECK(!add(fresh, j, buf));
        }
    bm25_stats sa, sb;
    CHECK(bm25_get_stats(inc, &sa, &err) == SEMDEX_OK && bm25_get_stats(fresh, &sb, &err) == SEMDEX_OK);
    CHECKF(sa.n_docs == sb.n_docs && sa.total_len == sb.total_len && sa.n_terms == sb.n_terms,
           "%lld/%lld/%lld vs %lld/%lld/%lld", (long long)sa.n_docs, (long long)sa.total_len, (long long)sa.n_terms,
           (long long)sb.n_docs, (long long)sb.total_len, (long long)sb.n_terms);
    CHECK(same_results(inc, fresh));
    /* delete everything: no terms, no postings are left behind */
    for (unsigned i = 0; i < 200; i++)
        CHECK(bm25_delete(inc, i, &err) == SEMDEX_OK);
    CHECK(bm25_get_stats(inc, &sa, &err) == SEMDEX_OK && sa.n_docs == 0 && sa.total_len == 0 && sa.n_terms == 0);
    sqlite3_stmt *s;
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT count(*) FROM bm25_posting p JOIN bm25_term t USING(term_id) "
                             "WHERE t.collection_id = 1",
                             -1, &s, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) == 0);
    sqlite3_finalize(s);
    bm25_hit h[4];
    CHECK(search(inc, "search engine", 4, h) == 0);
    /* and re-adding everything gives the from-scratch index again */
    for (unsigned j = 0; j < 200; j++)
        if (present[j]) {
            make_doc(seed_of[j], buf, sizeof buf);
            CHECK(!add(inc, j, buf));
        }
    CHECK(same_results(inc, fresh));
    bm25_close(inc);
    bm25_close(fresh);
    sqlite3_close(db);
}

static int even_only(int64_t id, void *ctx)
{
    (*(int *)ctx)++;
    return id % 2 == 0;
}

TEST(bm25_filter_keeps_k_accepted_results)
{
    sqlite3 *db = mem_db();
    CHECK(db);
    bm25_index *ix = open_ix(db, 1, 1);
    CHECK(ix);
    char buf[64];
    for (int i = 0; i < 50; i++) {
        /* more "alpha" in the lower ids: they rank first */
        snprintf(buf, sizeof buf, "alpha %s beta gamma", i < 25 ? "alpha alpha" : "delta");
        CHECK(!add(ix, i, buf));
    }
    bm25_hit h[10];
    semdex_error err = {0};
    int calls = 0;
    size_t n = bm25_search(ix, "alpha", 5, 10, even_only, &calls, h, &err);
    CHECK(err.status == SEMDEX_OK && n == 10);
    for (size_t i = 0; i < n; i++)
        CHECK(h[i].id % 2 == 0 && h[i].id < 25);
    for (size_t i = 1; i < n; i++)
        CHECK(h[i - 1].score >= h[i].score);
    CHECKF(calls < 50, "the filter ran %d times for 10 results", calls);
    /* a filter that refuses everything */
    n = bm25_search(ix, "alpha", 5, 10, even_only, &calls, h, &err);
    CHECK(n == 10);
    bm25_close(ix);
    sqlite3_close(db);
}

TEST(bm25_collections_are_separate_and_dropped)
{
    sqlite3 *db = mem_db();
    CHECK(db);
    bm25_index *a = open_ix(db, 1, 1), *b = open_ix(db, 2, 1);
    CHECK(a && b);
    CHECK(!add(a, 1, "shared words here") && !add(a, 2, "only in a"));
    CHECK(!add(b, 1, "shared words there"));
    bm25_hit h[4];
    CHECK(search(a, "shared", 4, h) == 1 && search(b, "only", 4, h) == 0);
    bm25_close(b);
    semdex_error err = {0};
    CHECK(bm25_drop(db, 2, &err) == SEMDEX_OK);
    b = open_ix(db, 2, 1);
    CHECK(b && search(b, "shared", 4, h) == 0);
    CHECK(search(a, "shared", 4, h) == 1);
    bm25_close(a);
    bm25_close(b);
    sqlite3 *db2 = mem_db();
    CHECK(bm25_drop(db2, 5, &err) == SEMDEX_OK); /* never made: nothing to do */
    sqlite3_close(db2);
    sqlite3_close(db);
}

TEST(bm25_refuses_an_index_made_by_another_analyzer)
{
    char path[] = "/tmp/semdex-bm25-test-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    bm25_index *ix = open_ix(db, 1, 1);
    CHECK(ix && !add(ix, 1, "running dogs"));
    bm25_close(ix);
    sqlite3_close(db);
    /* reopened from the file: same analyzer works, another is refused */
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    ix = open_ix(db, 1, 1);
    bm25_hit h[2];
    CHECK(ix && search(ix, "run", 2, h) == 1);
    bm25_close(ix);
    bm25_params p = bm25_params_default();
    p.stem = 0;
    semdex_error err = {0};
    CHECK(!bm25_open(db, 1, &p, &err) && err.status == SEMDEX_ERR_FORMAT);
    CHECKF(strstr(err.message, "re-index"), "%s", err.message);
    /* an empty index takes the new analyzer */
    CHECK((ix = bm25_open(db, 2, &p, &err)) != NULL);
    bm25_close(ix);
    sqlite3_close(db);
    remove(path);
}

TEST(bm25_changes_follow_the_callers_transaction)
{
    sqlite3 *db = mem_db();
    CHECK(db);
    bm25_index *ix = open_ix(db, 1, 1);
    CHECK(ix && !add(ix, 1, "kept document"));
    semdex_error err = {0};
    CHECK(sqlite3_exec(db, "BEGIN", 0, 0, 0) == SQLITE_OK);
    CHECK(!add(ix, 2, "rolled back document"));
    CHECK(bm25_delete(ix, 1, &err) == SEMDEX_OK);
    CHECK(sqlite3_exec(db, "ROLLBACK", 0, 0, 0) == SQLITE_OK);
    bm25_stats st;
    CHECK(bm25_get_stats(ix, &st, &err) == SEMDEX_OK && st.n_docs == 1 && st.total_len == 2);
    bm25_hit h[2];
    CHECK(search(ix, "kept", 2, h) == 1 && search(ix, "rolled", 2, h) == 0);
    /* a failed add (invalid UTF-8) changes nothing, not even the old text of the id */
    CHECK(bm25_add(ix, 1, "bad \xff text", 10, &err) == SEMDEX_ERR_UTF8 && err.offset == 4);
    CHECK(bm25_get_stats(ix, &st, &err) == SEMDEX_OK && st.n_docs == 1 && st.total_len == 2);
    CHECK(search(ix, "kept", 2, h) == 1);
    bm25_close(ix);
    sqlite3_close(db);
}

TEST(bm25_allocation_failures_leave_the_index_consistent)
{
    sqlite3 *db = mem_db();
    CHECK(db);
    bm25_index *ix = open_ix(db, 1, 1);
    CHECK(ix && !add(ix, 1, "search engine index") && !add(ix, 2, "检索 向量 数据库"));
    /* an add failing at every allocation in turn changes nothing */
    bm25_stats before;
    semdex_error e0 = {0};
    CHECK(bm25_get_stats(ix, &before, &e0) == SEMDEX_OK && before.n_docs == 2);
    size_t failures = 0;
    for (long n = 0; n < 400; n++) {
        semdex_error err = {0};
        sx_alloc_fail_after(n);
        const char *text = "黑豹队的防守 search running engines 数据库";
        semdex_status st = bm25_add(ix, 3, text, strlen(text), &err);
        sx_alloc_fail_after(-1);
        bm25_stats s;
        CHECK(bm25_get_stats(ix, &s, &err) == SEMDEX_OK);
        if (st == SEMDEX_OK) {
            CHECK(s.n_docs == 3);
            break;
        }
        CHECKF(st == SEMDEX_ERR_NOMEM, "allocation %ld: status %d", n, st);
        CHECKF(s.n_docs == before.n_docs && s.total_len == before.total_len && s.n_terms == before.n_terms,
               "allocation %ld: %lld docs", n, (long long)s.n_docs);
        failures++;
    }
    for (long n = 0; n < 400; n++) {
        semdex_error err = {0};
        bm25_hit h[4];
        sx_alloc_fail_after(n);
        const char *q = "search 检索 running";
        size_t got = bm25_search(ix, q, strlen(q), 4, NULL, NULL, h, &err);
        sx_alloc_fail_after(-1);
        if (err.status == SEMDEX_OK) {
            CHECK(got == 3);
            break;
        }
        CHECK(err.status == SEMDEX_ERR_NOMEM && got == 0);
        failures++;
    }
    bm25_close(ix);
    /* opening fails cleanly too */
    for (long n = 0; n < 100; n++) {
        semdex_error err = {0};
        sx_alloc_fail_after(n);
        bm25_index *x = bm25_open(db, 9, NULL, &err);
        sx_alloc_fail_after(-1);
        if (x) {
            bm25_close(x);
            break;
        }
        CHECK(err.status == SEMDEX_ERR_NOMEM);
    }
    test_note("%zu failure points", failures);
    sqlite3_close(db);
}

/* ----------------------------------------------------------- fusion */

TEST(fuse_rrf_keeps_per_arm_ranks_and_scores)
{
    const int64_t vi[] = {10, 20, 30, 40};
    const double vs[] = {0.9, 0.8, 0.7, 0.1};
    const int64_t ki[] = {30, 10, 50};
    const double ks[] = {12.0, 7.5, 3.0};
    fuse_list arms[2] = {{vi, vs, 4}, {ki, ks, 3}};
    fuse_hit out[8];
    size_t n;
    semdex_error err = {0};
    CHECK(fuse_rrf(arms, NULL, 0, out, 8, &n, &err) == SEMDEX_OK && n == 5);
    /* 10: 1/61 + 1/62; 30: 1/63 + 1/61; 20: 1/62; 50: 1/63; 40: 1/64 */
    CHECK(out[0].id == 10 && near(out[0].score, 1.0 / 61 + 1.0 / 62));
    CHECK(out[1].id == 30 && near(out[1].score, 1.0 / 63 + 1.0 / 61));
    CHECK(out[2].id == 20 && out[3].id == 50 && out[4].id == 40);
    CHECK(out[0].rank[0] == 1 && out[0].rank[1] == 2 && out[0].arm_score[0] == 0.9 && out[0].arm_score[1] == 7.5);
    CHECK(out[1].rank[0] == 3 && out[1].rank[1] == 1 && out[1].arm_score[1] == 12.0);
    CHECK(out[3].rank[0] == 0 && out[3].rank[1] == 3 && out[3].arm_score[0] == 0);
    CHECK(out[4].rank[0] == 4 && out[4].rank[1] == 0);
    /* weights, another k, a cap */
    double w[2] = {1.0, 3.0};
    CHECK(fuse_rrf(arms, w, 1.0, out, 2, &n, &err) == SEMDEX_OK && n == 2);
    CHECK(out[0].id == 30 && near(out[0].score, 1.0 / 4 + 3.0 / 2));
    CHECK(out[1].id == 10 && near(out[1].score, 1.0 / 2 + 3.0 / 3));
    /* ties go to the better best rank, then the smaller id */
    const int64_t a1[] = {1, 2}, b1[] = {2, 1};
    fuse_list tie[2] = {{a1, NULL, 2}, {b1, NULL, 2}};
    CHECK(fuse_rrf(tie, NULL, 0, out, 8, &n, &err) == SEMDEX_OK && n == 2 && out[0].id == 1 && out[1].id == 2);
    const int64_t c1[] = {7}, d1[] = {5};
    fuse_list tie2[2] = {{c1, NULL, 1}, {d1, NULL, 1}};
    CHECK(fuse_rrf(tie2, NULL, 0, out, 8, &n, &err) == SEMDEX_OK && n == 2 && out[0].id == 5);
    /* one arm empty, both empty */
    fuse_list one[2] = {{NULL, NULL, 0}, {ki, ks, 3}};
    CHECK(fuse_rrf(one, NULL, 0, out, 8, &n, &err) == SEMDEX_OK && n == 3 && out[0].id == 30 && out[0].rank[0] == 0);
    fuse_list none[2] = {{NULL, NULL, 0}, {NULL, NULL, 0}};
    CHECK(fuse_rrf(none, NULL, 0, out, 8, &n, &err) == SEMDEX_OK && n == 0);
}

TEST(fuse_weighted_normalizes_each_arm)
{
    const int64_t vi[] = {1, 2, 3};
    const double vs[] = {0.9, 0.5, 0.1};
    const int64_t ki[] = {3, 4};
    const double ks[] = {20.0, 10.0};
    fuse_list arms[2] = {{vi, vs, 3}, {ki, ks, 2}};
    double w[2] = {0.7, 0.3};
    fuse_hit out[8];
    size_t n;
    semdex_error err = {0};
    CHECK(fuse_weighted(arms, w, out, 8, &n, &err) == SEMDEX_OK && n == 4);
    /* vector: 1 -> 1, 2 -> 0.5, 3 -> 0; keyword: 3 -> 1, 4 -> 0 */
    CHECK(out[0].id == 1 && near(out[0].score, 0.7));
    CHECK(out[1].id == 2 && near(out[1].score, 0.35));
    CHECK(out[2].id == 3 && near(out[2].score, 0.3) && out[2].rank[0] == 3 && out[2].rank[1] == 1);
    CHECK(out[3].id == 4 && out[3].score == 0 && out[3].arm_score[1] == 10.0);
    /* a one-element arm normalizes to 1; scores are required */
    fuse_list single[2] = {{vi, vs, 1}, {ki, NULL, 2}};
    CHECK(fuse_weighted(single, w, out, 8, &n, &err) == SEMDEX_ERR_INVALID_ARG);
    single[1].scores = ks;
    single[1].n = 1;
    CHECK(fuse_weighted(single, w, out, 8, &n, &err) == SEMDEX_OK && n == 2 && near(out[0].score, 0.7));
    const double bad[] = {NAN};
    fuse_list nan_arm[2] = {{vi, bad, 1}, {NULL, NULL, 0}};
    CHECK(fuse_weighted(nan_arm, w, out, 8, &n, &err) == SEMDEX_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------ eval */

/* Runs semdex with args; returns its exit status and stdout (malloc'ed). */
static int run_semdex(const char *args, char **out) { return test_run_semdex(args, NULL, out, NULL); }

/* Nonzero when semdex with args exits with status 1 and says `want` on
 * standard error (printed otherwise). */
static int fails_saying(const char *args, const char *want)
{
    char *out = NULL, *err = NULL;
    int ok = test_run_semdex(args, NULL, &out, &err) == 1 && err && strstr(err, want);
    if (!ok)
        printf("      wanted exit 1 and \"%s\"; stderr: %s\n", want, err ? err : "(none)");
    free(out);
    free(err);
    return ok;
}

static double json_num_after(const char *s, const char *key)
{
    const char *p = s ? strstr(s, key) : NULL;
    return p ? atof(p + strlen(key)) : -1;
}

static int xquad_dir(char *buf, size_t size)
{
    snprintf(buf, size, "%s/../data/qa-xquad", test_fixtures_dir());
    struct stat st;
    char f[1100];
    snprintf(f, sizeof f, "%s/xquad.zh.json", buf);
    return stat(f, &st) == 0;
}

TEST(eval_xquad_keyword_chinese_close_to_english)
{
    char dir[1024];
    if (!xquad_dir(dir, sizeof dir)) {
        test_note("skipped: no %s", dir);
        return;
    }
    double r[2], mrr[2];
    const char *langs[2] = {"en", "zh"};
    for (int i = 0; i < 2; i++) {
        char args[1300], *out;
        snprintf(args, sizeof args, "eval --xquad %s --lang %s --json", dir, langs[i]);
        CHECK(run_semdex(args, &out) == 0 && out);
        r[i] = json_num_after(out, "\"recall\": ");
        mrr[i] = json_num_after(out, "\"mrr@10\": ");
        CHECKF(strstr(out, "\"queries\": 1190") && strstr(out, "\"documents\": 240"), "%s", out);
        free(out);
    }
    CHECKF(r[0] >= 0.99 && r[1] >= 0.99 && mrr[0] >= 0.95 && mrr[1] >= 0.95, "en %.4f/%.4f zh %.4f/%.4f", r[0],
           mrr[0], r[1], mrr[1]);
    CHECKF(fabs(r[0] - r[1]) <= 0.02, "recall@10 en %.4f zh %.4f", r[0], r[1]);
    test_note("recall@10 en %.4f zh %.4f, MRR@10 en %.4f zh %.4f", r[0], r[1], mrr[0], mrr[1]);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

TEST(eval_beir_files_runs_and_usage)
{
    char dir[] = "/tmp/semdex-eval-beir-XXXXXX";
    CHECK(mkdtemp(dir));
    char c[128], q[128], r[128], run[128], args[1024], *out;
    snprintf(c, sizeof c, "%s/corpus.jsonl", dir);
    snprintf(q, sizeof q, "%s/queries.jsonl", dir);
    snprintf(r, sizeof r, "%s/qrels.tsv", dir);
    snprintf(run, sizeof run, "%s/x.run", dir);
    write_file(c, "{\"_id\": \"d1\", \"title\": \"Apples\", \"text\": \"Red fruit growing on trees.\"}\n"
                  "{\"_id\": \"d2\", \"title\": \"\", \"text\": \"Bananas are yellow.\"}\n"
                  "{\"_id\": 3, \"text\": \"苹果是一种水果。\"}\n");
    write_file(q, "{\"_id\": \"q1\", \"text\": \"apples\"}\n{\"_id\": \"q2\", \"text\": \"yellow banana\"}\n"
                  "{\"_id\": \"q3\", \"text\": \"水果\"}\n{\"_id\": \"q4\", \"text\": \"unjudged\"}\n");
    write_file(r, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq3\t3\t1\nq3\td1\t1\nq9\td1\t1\n");
    /* q3's second relevant document (d1) is not found: recall 0.5 there */
    snprintf(args, sizeof args, "eval --corpus %s --queries %s --qrels %s --json", c, q, r);
    CHECK(run_semdex(args, &out) == 0 && out);
    CHECKF(strstr(out, "\"queries\": 3") && fabs(json_num_after(out, "\"recall\": ") - (1 + 1 + 0.5) / 3) < 1e-4,
           "%s", out);
    CHECKF(fabs(json_num_after(out, "\"mrr@10\": ") - 1.0) < 1e-4, "%s", out);
    free(out);
    /* a run file made elsewhere: q1 finds d1 second, q2 nothing, q3 finds 3 first and d1 third */
    write_file(run, "q1 Q0 d2 1 5.0 x\nq1 Q0 d1 2 4.0 x\nq3 Q0 3 1 9 x\nq3 Q0 d2 2 8 x\nq3 Q0 d1 3 7 x\n"
                    "q7 Q0 d1 1 1 x\n");
    snprintf(args, sizeof args, "eval --corpus %s --queries %s --qrels %s --run %s --label other --json", c, q, r, run);
    CHECK(run_semdex(args, &out) == 0 && out);
    CHECKF(strstr(out, "\"mode\": \"other\""), "%s", out);
    CHECKF(fabs(json_num_after(out, "\"recall\": ") - (1 + 0 + 1) / 3.0) < 1e-4, "%s", out);
    CHECKF(fabs(json_num_after(out, "\"mrr@10\": ") - (0.5 + 0 + 1) / 3.0) < 1e-4, "%s", out);
    /* nDCG@10: q1 1/log2(3); q3 (1 + 1/log2(4)) / (1 + 1/log2(3)) */
    double want = (1 / log2(3.0) + 0 + (1 + 1 / log2(4.0)) / (1 + 1 / log2(3.0))) / 3;
    CHECKF(fabs(json_num_after(out, "\"ndcg@10\": ") - want) < 1e-4, "%s want %.4f", out, want);
    free(out);
    /* CRLF line ends read the same; a run line without a score, or a qrels
     * line without its third field, is an error naming the line */
    write_file(run, "q1 Q0 d2 1 5.0 x\r\nq1 Q0 d1 2 4.0 x\r\nq3 Q0 3 1 9 x\r\nq3 Q0 d2 2 8 x\r\nq3 Q0 d1 3 7 x\r\n");
    CHECK(run_semdex(args, &out) == 0 && out);
    CHECKF(fabs(json_num_after(out, "\"mrr@10\": ") - (0.5 + 0 + 1) / 3.0) < 1e-4, "%s", out);
    free(out);
    write_file(run, "q1 Q0 d2 1 5.0 x\nq1 Q0 d1 2\n");
    CHECK(fails_saying(args, "x.run: line 2: want qid Q0 docid rank score"));
    write_file(run, "q1 Q0 d1 1 5.0 x\n");
    write_file(r, "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq2\td2\r\n");
    CHECK(fails_saying(args, "qrels.tsv: line 3: want query-id<TAB>corpus-id<TAB>score"));
    write_file(r, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq3\t3\t1\nq3\td1\t1\nq9\td1\t1\n");
    /* vector and hybrid modes embed through a model (a fixture: random weights, so only the plumbing counts) */
    snprintf(args, sizeof args, "eval --corpus %s --queries %s --qrels %s --mode all -m %s/models/bert-mean --json", c,
             q, r, test_fixtures_dir());
    CHECK(run_semdex(args, &out) == 0 && out);
    CHECKF(strstr(out, "\"mode\": \"keyword\"") && strstr(out, "\"mode\": \"vector\"") &&
               strstr(out, "\"mode\": \"hybrid\""),
           "%s", out);
    free(out);
    snprintf(args, sizeof args, "eval --corpus %s --queries %s --qrels %s --mode vector", c, q, r);
    CHECK(run_semdex(args, &out) == 1);
    free(out);
    /* usage errors exit 2; a missing file or malformed line exits 1 */
    CHECK(run_semdex("eval", &out) == 2);
    free(out);
    CHECK(run_semdex("eval --xquad /nonexistent --lang zh --mode sideways", &out) == 2);
    free(out);
    CHECK(run_semdex("eval --corpus /nonexistent --queries /nonexistent --qrels /nonexistent", &out) == 1);
    free(out);
    write_file(q, "{\"_id\": \"q1\", \"text\": \"apples\"}\n{not json}\n");
    snprintf(args, sizeof args, "eval --corpus %s --queries %s --qrels %s", c, q, r);
    CHECK(run_semdex(args, &out) == 1);
    free(out);
    CHECK(run_semdex("eval --help", &out) == 0 && out && strstr(out, "--xquad"));
    free(out);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    CHECK(system(args) == 0);
}

TEST(eval_xquad_converts_to_beir_with_the_same_numbers)
{
    char dir[1024];
    if (!xquad_dir(dir, sizeof dir)) {
        test_note("skipped: no %s", dir);
        return;
    }
    char out_dir[] = "/tmp/semdex-eval-xq-XXXXXX";
    CHECK(mkdtemp(out_dir));
    char args[2600], *a = NULL, *b = NULL;
    snprintf(args, sizeof args, "eval --xquad %s --lang zh --unit sentence --write-beir %s", dir, out_dir);
    CHECK(run_semdex(args, &a) == 0);
    free(a);
    snprintf(args, sizeof args, "eval --xquad %s --lang zh --unit sentence --json", dir);
    CHECK(run_semdex(args, &a) == 0 && a);
    snprintf(args, sizeof args,
             "eval --corpus %s/corpus.jsonl --queries %s/queries.jsonl --qrels %s/qrels/test.tsv --json", out_dir,
             out_dir, out_dir);
    CHECK(run_semdex(args, &b) == 0 && b);
    double ra = json_num_after(a, "\"recall\": "), rb = json_num_after(b, "\"recall\": ");
    double ma = json_num_after(a, "\"mrr@10\": "), mb = json_num_after(b, "\"mrr@10\": ");
    CHECKF(ra > 0.9 && ra == rb && ma == mb, "%s / %s", a, b);
    test_note("zh sentences: recall@10 %.4f, MRR@10 %.4f", ra, ma);
    free(a);
    free(b);
    snprintf(args, sizeof args, "rm -rf %s", out_dir);
    CHECK(system(args) == 0);
}
