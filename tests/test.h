/* test.h: the tiny test harness of semdex.  A test is a function registered
 * with TEST(name) (or test_register at run time for data-driven cases);
 * CHECK fails the current test and returns from it.  The runner prints one
 * line per test and ends with "N passed, N failed". */
#ifndef SEMDEX_TEST_H
#define SEMDEX_TEST_H
#include <stddef.h>
#include <stdio.h>

typedef void (*test_fn)(const void *arg);

void test_register(const char *name, test_fn fn, const void *arg);
/* Marks the current test failed with a message (printf format). */
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int test_current_failed(void);
/* Adds a note printed after the test's "ok" line (e.g. "5486 cases"). */
void test_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Paths: the shared fixtures directory (SEMDEX_FIXTURES, default
 * ../shared/fixtures) and the semdex program (SEMDEX_BIN, default ./semdex). */
const char *test_fixtures_dir(void);
const char *test_semdex_bin(void);
/* Runs the semdex program with args (a shell word list), standard input
 * from `input` (NULL: empty); returns its exit status (-1 when it did not
 * exit) and the captured standard output and error (malloc'ed; NULL when
 * unreadable; err may be NULL to drop standard error). */
int test_run_semdex(const char *args, const char *input, char **out, char **err);
/* Newlines in s (0 for NULL). */
size_t test_count_lines(const char *s);
/* Reads a whole file; NULL when it cannot. Caller frees. */
char *test_read_file(const char *path, size_t *len);

#define TEST(name)                                                                                  \
    static void name(const void *arg);                                                              \
    __attribute__((constructor)) static void name##_register(void) { test_register(#name, name, NULL); } \
    static void name(const void *arg)

#define CHECK(cond)                                                                                 \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            test_fail(__FILE__, __LINE__, "check failed: %s", #cond);                               \
            return;                                                                                 \
        }                                                                                           \
    } while (0)

#define CHECKF(cond, ...)                                                                           \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                             \
            return;                                                                                 \
        }                                                                                           \
    } while (0)

#endif
