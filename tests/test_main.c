/* test_main.c: runs every registered test (or those whose name contains
 * argv[1]) and prints "N passed, N failed". */
#include "test.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct test_case {
    char name[160];
    test_fn fn;
    const void *arg;
} test_case;

static test_case *cases;
static size_t n_cases, cap_cases;
static int cur_failed;
static char cur_note[512];

void test_register(const char *name, test_fn fn, const void *arg)
{
    if (n_cases == cap_cases) {
        cap_cases = cap_cases ? cap_cases * 2 : 64;
        cases = realloc(cases, cap_cases * sizeof *cases);
        if (!cases) {
            fprintf(stderr, "out of memory registering tests\n");
            exit(2);
        }
    }
    snprintf(cases[n_cases].name, sizeof cases[n_cases].name, "%s", name);
    cases[n_cases].fn = fn;
    cases[n_cases].arg = arg;
    n_cases++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    if (!cur_failed)
        printf("\n");
    cur_failed = 1;
    printf("    %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

int test_current_failed(void) { return cur_failed; }

void test_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cur_note, sizeof cur_note, fmt, ap);
    va_end(ap);
}

const char *test_fixtures_dir(void)
{
    const char *e = getenv("SEMDEX_FIXTURES");
    return e && *e ? e : "../shared/fixtures";
}

const char *test_semdex_bin(void)
{
    const char *e = getenv("SEMDEX_BIN");
    return e && *e ? e : "./semdex";
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int test_run_semdex(const char *args, const char *input, char **out, char **err)
{
    char in_path[] = "/tmp/semdex-test-in-XXXXXX";
    int fd = mkstemp(in_path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "wb");
    fputs(input ? input : "", f);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s < %s > %s.out 2> %s.err", test_semdex_bin(), args, in_path, in_path, in_path);
    int st = system(cmd);
    char path[512];
    snprintf(path, sizeof path, "%s.out", in_path);
    *out = test_read_file(path, NULL);
    remove(path);
    snprintf(path, sizeof path, "%s.err", in_path);
    if (err)
        *err = test_read_file(path, NULL);
    remove(path);
    remove(in_path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

size_t test_count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

void test_register_fixtures(void);
void test_register_fuzz_replay(void);

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    test_register_fixtures();
    test_register_fuzz_replay();
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n_cases; i++) {
        if (filter && !strstr(cases[i].name, filter))
            continue;
        cur_failed = 0;
        cur_note[0] = 0;
        printf("%-60s", cases[i].name);
        fflush(stdout);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cases[i].fn(cases[i].arg);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (cur_failed) {
            printf("FAIL  %s\n", cases[i].name);
            failed++;
        } else {
            printf(" ok  (%.0f ms)%s%s\n", ms, cur_note[0] ? "  " : "", cur_note);
            passed++;
        }
        fflush(stdout);
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    free(cases);
    return failed ? 1 : 0;
}
