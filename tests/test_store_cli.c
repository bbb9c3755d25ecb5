/* test_store_cli.c: the store commands run as a program: `semdex add`,
 * `search`, `rm`, `stats`, `doctor`: their output, their errors with line
 * numbers, their exit statuses. */
#include "test.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct clidir {
    char dir[64];
} clidir;

static int clidir_make(clidir *d)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/semdex-cli-XXXXXX");
    return mkdtemp(d->dir) ? 0 : -1;
}

static void clidir_free(clidir *d)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
    if (system(cmd)) {
    }
}

static void put(const clidir *d, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Runs `semdex ARGS` in directory d; returns the exit status and the
 * captured stdout / stderr (malloc'ed). */
static int sx(const clidir *d, const char *args, char **out, char **err)
{
    char cmd[8192], bin[4096];
    if (!realpath(test_semdex_bin(), bin))
        snprintf(bin, sizeof bin, "%s", test_semdex_bin());
    snprintf(cmd, sizeof cmd, "cd %s && %s %s > out.txt 2> err.txt", d->dir, bin, args);
    int st = system(cmd);
    char path[256];
    snprintf(path, sizeof path, "%s/out.txt", d->dir);
    *out = test_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/err.txt", d->dir);
    *err = test_read_file(path, NULL);
    if (!*out)
        *out = strdup("");
    if (!*err)
        *err = strdup("");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* n records "r<i>": text with a unique word, a 4-float vector, metadata. */
static char *records(int first, int n)
{
    static const char *words[] = {"apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel"};
    char *buf = malloc((size_t)n * 200 + 1), *p = buf;
    *p = 0;
    for (int i = first; i < first + n; i++)
        p += sprintf(p,
                     "{\"id\": \"r%d\", \"text\": \"fruit %s number %d\", \"metadata\": {\"group\": \"%s\", \"n\": %d}, "
                     "\"vector\": [%d, %d, 1, 0.5]}\n",
                     i, words[i % 8], i, i % 2 ? "odd" : "even", i, i % 7, i % 3);
    return buf;
}

#define FREE2() (free(out), free(err), out = err = NULL)

TEST(cli_store_add_search_rm_stats_doctor)
{
    clidir d;
    CHECK(!clidir_make(&d));
    char *recs = records(0, 40), *out, *err;
    put(&d, "r.jsonl", recs);
    free(recs);
    CHECK(sx(&d, "add -d s.db r.jsonl", &out, &err) == 0);
    CHECKF(strstr(err, "stored 40 documents (40 chunks, 40 vectors)"), "stderr: %s", err);
    FREE2();
    CHECK(sx(&d, "search -d s.db -k 3 --json --vector '[3, 2, 1, 0.5]' cherry", &out, &err) == 0);
    CHECKF(count_lines(out) == 3, "out: %s err: %s", out, err);
    CHECK(strstr(out, "\"rank\": 1, \"id\": \"r") && strstr(out, "\"metadata\": {\"group\": "));
    CHECK(strstr(out, "\"vector\": {\"rank\": ") && strstr(out, "\"keyword\": {\"rank\": 1,"));
    FREE2();
    /* vector only, exact, filtered */
    CHECK(sx(&d, "search -d s.db -k 40 --json --mode vector --exact --filter group=odd --vector '[3, 2, 1, 0.5]' x",
             &out, &err) == 0);
    CHECK(count_lines(out) == 20 && !strstr(out, "\"even\"") && strstr(out, "\"keyword\": null"));
    FREE2();
    CHECK(sx(&d, "search -d s.db --mode keyword --filter n=17 fruit", &out, &err) == 0);
    CHECKF(strstr(out, "1. r17#0") && count_lines(out) == 2, "out: %s", out);
    FREE2();
    CHECK(sx(&d, "search -d s.db fig", &out, &err) == 0 && strstr(err, "keyword arm only"));
    FREE2();
    CHECK(sx(&d, "search -d s.db --vector '[1, 2]' fig", &out, &err) == 1 && strstr(err, "dimension 2"));
    FREE2();
    CHECK(sx(&d, "search -d s.db --filter nokey fig", &out, &err) == 2 && strstr(err, "key=value"));
    FREE2();
    CHECK(sx(&d, "search -d s.db -c other fig", &out, &err) == 1 && strstr(err, "no collection named 'other'"));
    FREE2();
    /* rm: found and missing ids */
    CHECK(sx(&d, "rm -d s.db r1 r2 nope", &out, &err) == 1 && strstr(out, "removed 2 of 3") && strstr(err, "1 ids"));
    FREE2();
    CHECK(sx(&d, "stats -d s.db --json", &out, &err) == 0);
    CHECKF(strstr(out, "\"documents\": 38") && strstr(out, "\"dim\": 4") && strstr(out, "\"model\": null"), "%s", out);
    FREE2();
    CHECK(sx(&d, "stats -d s.db", &out, &err) == 0 && strstr(out, "collection 'default': 38 documents"));
    FREE2();
    CHECK(sx(&d, "doctor -d s.db", &out, &err) == 0 && strstr(out, "s.db: ok"));
    FREE2();
    CHECK(sx(&d, "doctor -d s.db --repair", &out, &err) == 0 && strstr(out, "ok"));
    FREE2();
    /* re-adding replaces by id */
    CHECK(sx(&d, "add -q -d s.db r.jsonl", &out, &err) == 0 && !err[0]);
    FREE2();
    CHECK(sx(&d, "stats -d s.db --json", &out, &err) == 0 && strstr(out, "\"documents\": 40"));
    FREE2();
    clidir_free(&d);
}

TEST(cli_store_bad_line_stores_nothing_of_its_batch)
{
    clidir d;
    CHECK(!clidir_make(&d));
    char *a = records(0, 7), *b = records(8, 4), *out, *err;
    char *all = malloc(strlen(a) + strlen(b) + 64);
    sprintf(all, "%s{\"id\": \"bad\", \"text\": \"oops\",}\n%s", a, b); /* line 8 */
    put(&d, "r.jsonl", all);
    free(a), free(b), free(all);
    CHECK(sx(&d, "add -d s.db --batch-size 5 r.jsonl", &out, &err) == 1);
    CHECKF(strstr(err, "r.jsonl: line 8: byte 29:") && strstr(err, "nothing of lines 6-8 was stored"), "%s", err);
    FREE2();
    CHECK(sx(&d, "stats -d s.db --json", &out, &err) == 0 && strstr(out, "\"documents\": 5,"));
    FREE2();
    /* a vector of the wrong dimension: refused with its line */
    put(&d, "v.jsonl", "{\"id\": \"a\", \"vector\": [1, 2, 3, 4]}\n\n{\"id\": \"b\", \"vector\": [1, 2, 3]}\n");
    CHECK(sx(&d, "add -d s.db v.jsonl", &out, &err) == 1);
    CHECKF(strstr(err, "v.jsonl: line 3: vector: vector of dimension 3") && strstr(err, "holds dimension 4"), "%s",
           err);
    FREE2();
    CHECK(sx(&d, "stats -d s.db --json", &out, &err) == 0 && strstr(out, "\"documents\": 5,"));
    FREE2();
    put(&d, "t.jsonl", "{\"id\": \"a\", \"text\": 5}\n");
    CHECK(sx(&d, "add -d s.db t.jsonl", &out, &err) == 1 && strstr(err, "line 1: text: byte 20: \"text\" must be"));
    FREE2();
    CHECK(sx(&d, "doctor -d s.db", &out, &err) == 0);
    FREE2();
    clidir_free(&d);
}

TEST(cli_store_text_files_and_models)
{
    clidir d;
    CHECK(!clidir_make(&d));
    put(&d, "guide.md",
        "# Guide\n\nSemdex keeps documents in one SQLite file.\n\n## Install\n\nRun make to build the program.\n"
        "It needs SQLite.\n\n## Search\n\nHybrid search fuses vector and keyword results.\n");
    put(&d, "bad.txt", "caf\xe9 au lait\n");
    char *out, *err, args[8192], fx[4096];
    if (!realpath(test_fixtures_dir(), fx))
        snprintf(fx, sizeof fx, "%s", test_fixtures_dir());
    snprintf(args, sizeof args, "add -d s.db -m %s/models/bert-mean guide.md", fx);
    CHECKF(sx(&d, args, &out, &err) == 0, "%s", err);
    CHECK(strstr(err, "stored 1 documents (3 chunks, 3 vectors)"));
    FREE2();
    /* the query is embedded with the collection's model */
    CHECK(sx(&d, "search -d s.db --json -k 3 build the program", &out, &err) == 0);
    CHECKF(count_lines(out) == 3 && strstr(out, "\"heading\": \"Guide > Install\"") && strstr(out, "\"vector\": {"),
           "out: %s err: %s", out, err);
    CHECK(strstr(out, "\"uri\": \"guide.md\"") && strstr(out, "\"start\": 53"));
    FREE2();
    CHECK(sx(&d, "stats -d s.db", &out, &err) == 0 && strstr(out, "bert-mean (mean pooling, normalized, weights "));
    FREE2();
    /* outside vectors are refused by a model's collection */
    put(&d, "v.jsonl", "{\"id\": \"v\", \"vector\": [1, 2, 3, 4]}\n");
    CHECK(sx(&d, "add -d s.db v.jsonl", &out, &err) == 1 && strstr(err, "line 1: vector:"));
    FREE2();
    /* a text file that is not UTF-8 */
    CHECK(sx(&d, "add -d s.db bad.txt", &out, &err) == 1 && strstr(err, "bad.txt: byte 3: invalid UTF-8"));
    FREE2();
    CHECK(sx(&d, "add -d s.db missing.txt", &out, &err) == 1 && strstr(err, "missing.txt"));
    FREE2();
    CHECK(sx(&d, "doctor -d s.db", &out, &err) == 0);
    FREE2();
    clidir_free(&d);
}

TEST(cli_store_damaged_files_and_usage)
{
    clidir d;
    CHECK(!clidir_make(&d));
    char *out, *err;
    put(&d, "junk.db", "this is not a database, not at all, it is text that goes on for a while............"
                       "................................................................................");
    CHECK(sx(&d, "doctor -d junk.db", &out, &err) == 1 && strstr(err, "junk.db") && strstr(err, "not a SQLite"));
    FREE2();
    CHECK(sx(&d, "search -d junk.db x", &out, &err) == 1 && strstr(err, "not a SQLite"));
    FREE2();
    CHECK(sx(&d, "add -d junk.db x.jsonl", &out, &err) == 1 && strstr(err, "not a SQLite"));
    FREE2();
    CHECK(sx(&d, "stats -d none.db", &out, &err) == 1 && strstr(err, "none.db") && strstr(err, "no such"));
    FREE2();
    CHECK(access("/nonexistent", F_OK) != 0);
    static const char *const cmds[][2] = {
        {"add", "--batch-size"}, {"search", "--filter"}, {"rm", "ID..."}, {"stats", "--json"}, {"doctor", "--repair"},
    };
    char args[128];
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(args, sizeof args, "%s --help", cmds[i][0]);
        CHECK(sx(&d, args, &out, &err) == 0 && strstr(out, cmds[i][1]) && strstr(out, "-d"));
        FREE2();
        snprintf(args, sizeof args, "%s", cmds[i][0]);
        CHECKF(sx(&d, args, &out, &err) == 2 && strstr(err, "-d DB is required"), "%s: %s", cmds[i][0], err);
        FREE2();
    }
    CHECK(sx(&d, "--help", &out, &err) == 0 && strstr(out, "doctor") && strstr(out, "search"));
    FREE2();
    clidir_free(&d);
}
