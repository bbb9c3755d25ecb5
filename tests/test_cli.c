/* test_cli.c: the command-line contract of `semdex tokenize`, run as a
 * program: output lines, error lines with their line number, exit status. */
#include "test.h"
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs semdex with args, stdin from `input`; returns the exit status and
 * the captured stdout / stderr (malloc'ed). */
static int run(const char *args, const char *input, char **out, char **err)
{
    char in_path[] = "/tmp/semdex-cli-in-XXXXXX";
    int fd = mkstemp(in_path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "wb");
    fputs(input, f);
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s < %s > %s.out 2> %s.err", test_semdex_bin(), args, in_path, in_path, in_path);
    int st = system(cmd);
    char path[512];
    snprintf(path, sizeof path, "%s.out", in_path);
    *out = test_read_file(path, NULL);
    remove(path);
    snprintf(path, sizeof path, "%s.err", in_path);
    *err = test_read_file(path, NULL);
    remove(path);
    remove(in_path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

TEST(cli_tokenize_output_lines)
{
    char *out, *err;
    int st = run("tokenize -m examples/models/all-MiniLM-L6-v2",
                 "{\"text\": \"Hello, world!\"}\n{\"text\": \"a\", \"text_pair\": \"b\"}\n", &out, &err);
    CHECK(st == 0 && out);
    const char *want = "{\"ids\": [101, 7592, 1010, 2088, 999, 102], \"tokens\": [\"[CLS]\", \"hello\", \",\", "
                       "\"world\", \"!\", \"[SEP]\"], \"offsets\": [[0, 0], [0, 5], [5, 6], [7, 12], [12, 13], [0, 0]], "
                       "\"type_ids\": [0, 0, 0, 0, 0, 0]}\n";
    CHECKF(!strncmp(out, want, strlen(want)), "got %s", out);
    CHECK(count_lines(out) == 2);
    CHECK(strstr(out, "\"type_ids\": [0, 0, 0, 1, 1]"));
    free(out);
    free(err);
}

TEST(cli_tokenize_bad_line_is_reported_and_the_rest_processed)
{
    char *out, *err;
    int st = run("tokenize -m examples/models/all-MiniLM-L6-v2",
                 "{\"text\": \"one\"}\nnot json\n{\"txt\": 1}\n{\"text\": \"four\"}\n", &out, &err);
    CHECKF(st == 1, "exit status %d", st);
    CHECK(count_lines(out) == 4);
    CHECKF(strstr(err, "line 2:") && strstr(err, "line 3:"), "stderr: %s", err);
    CHECK(strstr(out, "\"line\": 2}") && strstr(out, "\"line\": 3}"));
    CHECK(strstr(out, "\"four\""));
    free(out);
    free(err);
}

TEST(cli_tokenize_max_length)
{
    char *out, *err;
    int st = run("tokenize -m examples/models/all-MiniLM-L6-v2 --max-length 4",
                 "{\"text\": \"one two three four five\"}\n", &out, &err);
    CHECK(st == 0);
    CHECKF(strstr(out, "\"ids\": [101, 2028, 2048, 102]") && strstr(out, "\"truncated\": 3"), "got %s", out);
    free(out);
    free(err);
    st = run("tokenize -m examples/models/all-MiniLM-L6-v2 --max-length x", "", &out, &err);
    CHECK(st == 2 && strstr(err, "--max-length"));
    free(out);
    free(err);
}

TEST(cli_tokenize_usage_and_model_errors)
{
    char *out, *err;
    CHECK(run("tokenize --help", "", &out, &err) == 0 && strstr(out, "--max-length") && strstr(out, "-m"));
    free(out);
    free(err);
    CHECK(run("tokenize", "", &out, &err) == 2 && strstr(err, "-m PATH is required"));
    free(out);
    free(err);
    CHECK(run("tokenize -m /nonexistent/model", "", &out, &err) == 1 && strstr(err, "/nonexistent/model"));
    free(out);
    free(err);
    CHECK(run("frobnicate", "", &out, &err) == 2 && strstr(err, "unknown command"));
    free(out);
    free(err);
    CHECK(run("--help", "", &out, &err) == 0 && strstr(out, "tokenize"));
    free(out);
    free(err);
}
