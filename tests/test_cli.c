/* test_cli.c: the command-line contract of `semdex tokenize`, run as a
 * program: output lines, error lines with their line number, exit status. */
#include "test.h"
#include <stdlib.h>
#include <string.h>

TEST(cli_tokenize_output_lines)
{
    char *out, *err;
    int st = test_run_semdex("tokenize -m examples/models/all-MiniLM-L6-v2",
                 "{\"text\": \"Hello, world!\"}\n{\"text\": \"a\", \"text_pair\": \"b\"}\n", &out, &err);
    CHECK(st == 0 && out);
    const char *want = "{\"ids\": [101, 7592, 1010, 2088, 999, 102], \"tokens\": [\"[CLS]\", \"hello\", \",\", "
                       "\"world\", \"!\", \"[SEP]\"], \"offsets\": [[0, 0], [0, 5], [5, 6], [7, 12], [12, 13], [0, 0]], "
                       "\"type_ids\": [0, 0, 0, 0, 0, 0]}\n";
    CHECKF(!strncmp(out, want, strlen(want)), "got %s", out);
    CHECK(test_count_lines(out) == 2);
    CHECK(strstr(out, "\"type_ids\": [0, 0, 0, 1, 1]"));
    free(out);
    free(err);
}

TEST(cli_tokenize_bad_line_is_reported_and_the_rest_processed)
{
    char *out, *err;
    int st = test_run_semdex("tokenize -m examples/models/all-MiniLM-L6-v2",
                 "{\"text\": \"one\"}\nnot json\n{\"txt\": 1}\n{\"text\": \"four\"}\n", &out, &err);
    CHECKF(st == 1, "exit status %d", st);
    CHECK(test_count_lines(out) == 4);
    CHECKF(strstr(err, "line 2:") && strstr(err, "line 3:"), "stderr: %s", err);
    CHECK(strstr(out, "\"line\": 2}") && strstr(out, "\"line\": 3}"));
    CHECK(strstr(out, "\"four\""));
    free(out);
    free(err);
}

TEST(cli_tokenize_max_length)
{
    char *out, *err;
    int st = test_run_semdex("tokenize -m examples/models/all-MiniLM-L6-v2 --max-length 4",
                 "{\"text\": \"one two three four five\"}\n", &out, &err);
    CHECK(st == 0);
    CHECKF(strstr(out, "\"ids\": [101, 2028, 2048, 102]") && strstr(out, "\"truncated\": 3"), "got %s", out);
    free(out);
    free(err);
    st = test_run_semdex("tokenize -m examples/models/all-MiniLM-L6-v2 --max-length x", "", &out, &err);
    CHECK(st == 2 && strstr(err, "--max-length"));
    free(out);
    free(err);
}

TEST(cli_tokenize_usage_and_model_errors)
{
    char *out, *err;
    CHECK(test_run_semdex("tokenize --help", "", &out, &err) == 0 && strstr(out, "--max-length") && strstr(out, "-m"));
    free(out);
    free(err);
    CHECK(test_run_semdex("tokenize", "", &out, &err) == 2 && strstr(err, "-m PATH is required"));
    free(out);
    free(err);
    CHECK(test_run_semdex("tokenize -m /nonexistent/model", "", &out, &err) == 1 && strstr(err, "/nonexistent/model"));
    free(out);
    free(err);
    CHECK(test_run_semdex("frobnicate", "", &out, &err) == 2 && strstr(err, "unknown command"));
    free(out);
    free(err);
    CHECK(test_run_semdex("--help", "", &out, &err) == 0 && strstr(out, "tokenize"));
    free(out);
    free(err);
}
