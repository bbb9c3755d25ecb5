/* test_fixtures.c: golden tests against the Hugging Face reference outputs
 * in ../shared/fixtures/tokenizers: every case of expected.jsonl and
 * expected_truncated_16.jsonl must give identical ids, tokens, offsets and
 * type ids.  One test per fixture file; the first differing case is named. */
#include "test.h"
#include "json.h"
#include "semdex.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    char dir[512];
    char file[64];
} fixture;

static void show_text(const char *s, size_t n)
{
    printf("    text: \"");
    for (size_t i = 0; i < n && i < 120; i++)
        putchar(s[i] == '\n' ? ' ' : s[i]);
    printf(n > 120 ? "...\"\n" : "\"\n");
}

static int compare_ints(const char *what, const json_value *want, const int64_t *got, size_t n, size_t line)
{
    if (!json_is_arr(want))
        return 0;
    size_t m = want->n;
    for (size_t i = 0; i < m && i < n; i++) {
        if ((int64_t)json_arr_at(want, (uint32_t)i)->u.num != got[i]) {
            printf("    line %zu: %s[%zu]: expected %lld, got %lld\n", line, what, i,
                   (long long)json_arr_at(want, (uint32_t)i)->u.num, (long long)got[i]);
            return 1;
        }
    }
    if (m != n) {
        printf("    line %zu: %s: expected %zu entries, got %zu\n", line, what, m, n);
        return 1;
    }
    return 0;
}

static void run_fixture(const void *arg)
{
    const fixture *fx = arg;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fx->dir, fx->file);
    size_t len;
    char *data = test_read_file(path, &len);
    CHECKF(data, "cannot read %s", path);
    semdex_error err = {0};
    semdex_tokenizer *tok = NULL;
    if (semdex_tokenizer_load(fx->dir, &tok, &err)) {
        char buf[1024];
        free(data);
        CHECKF(0, "load %s: %s", fx->dir, semdex_error_format(&err, buf, sizeof buf));
    }
    semdex_encoding enc = {0};
    int64_t *tmp = malloc(sizeof *tmp * 65536);
    size_t line = 0, cases = 0;
    char *p = data, *end = data + len;
    int bad = 0;
    while (p < end && !bad) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (!ll) {
            p += 1;
            continue;
        }
        json_doc *doc = json_parse(p, ll, &err);
        if (!doc) {
            test_fail(__FILE__, __LINE__, "%s line %zu: bad JSON", path, line);
            break;
        }
        const json_value *c = json_doc_root(doc);
        const json_value *text = json_get(c, "text"), *pair = json_get(c, "text_pair");
        semdex_encode_options o = semdex_encode_options_default();
        const json_value *ml = json_get(c, "max_length");
        if (json_is_num(ml))
            o.max_length = (size_t)ml->u.num;
        semdex_status st = semdex_tokenizer_encode(tok, text->u.str, text->n, json_is_str(pair) ? pair->u.str : NULL,
                                                   json_is_str(pair) ? pair->n : 0, &o, &enc, &err);
        if (st) {
            char buf[1024];
            test_fail(__FILE__, __LINE__, "%s line %zu: encode failed: %s", path, line,
                      semdex_error_format(&err, buf, sizeof buf));
            show_text(text->u.str, text->n);
            json_doc_free(doc);
            break;
        }
        if (enc.n > 65536) {
            test_fail(__FILE__, __LINE__, "line %zu: too many tokens", line);
            json_doc_free(doc);
            break;
        }
        for (size_t i = 0; i < enc.n; i++)
            tmp[i] = enc.ids[i];
        bad = compare_ints("ids", json_get(c, "ids"), tmp, enc.n, line);
        const json_value *toks = json_get(c, "tokens");
        if (!bad && json_is_arr(toks)) {
            for (size_t i = 0; i < enc.n && i < toks->n; i++) {
                const char *t = semdex_tokenizer_id_to_token(tok, enc.ids[i]);
                const json_value *w = json_arr_at(toks, (uint32_t)i);
                if (!t || strlen(t) != w->n || memcmp(t, w->u.str, w->n)) {
                    printf("    line %zu: tokens[%zu]: expected \"%s\", got \"%s\"\n", line, i, w->u.str,
                           t ? t : "(null)");
                    bad = 1;
                    break;
                }
            }
        }
        const json_value *offs = json_get(c, "offsets");
        if (!bad && json_is_arr(offs)) {
            for (size_t i = 0; i < enc.n && i < offs->n; i++) {
                const json_value *w = json_arr_at(offs, (uint32_t)i);
                uint32_t a = (uint32_t)json_arr_at(w, 0)->u.num, b = (uint32_t)json_arr_at(w, 1)->u.num;
                if (a != enc.offsets[i][0] || b != enc.offsets[i][1]) {
                    printf("    line %zu: offsets[%zu]: expected [%u, %u], got [%u, %u]\n", line, i, a, b,
                           enc.offsets[i][0], enc.offsets[i][1]);
                    bad = 1;
                    break;
                }
            }
        }
        if (!bad) {
            for (size_t i = 0; i < enc.n; i++)
                tmp[i] = enc.type_ids[i];
            bad = compare_ints("type_ids", json_get(c, "type_ids"), tmp, enc.n, line);
        }
        if (bad) {
            test_fail(__FILE__, __LINE__, "%s: case on line %zu differs from the reference", path, line);
            show_text(text->u.str, text->n);
        }
        cases++;
        json_doc_free(doc);
        p += ll + 1;
    }
    free(tmp);
    free(data);
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(tok);
    if (!test_current_failed())
        test_note("%zu cases identical", cases);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void test_register_fixtures(void);
void test_register_fixtures(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/tokenizers", test_fixtures_dir());
    DIR *d = opendir(dir);
    if (!d) {
        static fixture missing;
        snprintf(missing.dir, sizeof missing.dir, "%s", dir);
        snprintf(missing.file, sizeof missing.file, "expected.jsonl");
        test_register("fixtures_directory_present", run_fixture, &missing);
        return;
    }
    char *names[128];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 128)
        if (e->d_name[0] != '.' && strlen(e->d_name) < 200)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        for (int t = 0; t < 2; t++) {
            static fixture pool[256]; /* lives for the whole run */
            fixture *fx = &pool[2 * i + (size_t)t];
            snprintf(fx->dir, sizeof fx->dir, "%s/%s", dir, names[i]);
            snprintf(fx->file, sizeof fx->file, "%s", t ? "expected_truncated_16.jsonl" : "expected.jsonl");
            char name[200];
            snprintf(name, sizeof name, "fixture_%s_%s", names[i], t ? "truncated_16" : "expected");
            test_register(name, run_fixture, fx);
        }
        free(names[i]);
    }
}
