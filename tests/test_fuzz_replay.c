/* test_fuzz_replay.c: replays every committed fuzz corpus (fuzz/corpus/NAME)
 * through its harness, compiled into the test runner. */
#include "test.h"
#include "../fuzz/fuzz.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

void fuzz_report(const char *file, int line, const char *what)
{
    test_fail(file, line, "fuzz invariant failed: %s", what);
}

static void replay(const void *arg)
{
    const fuzz_target *t = arg;
    char dir[512];
    snprintf(dir, sizeof dir, "fuzz/corpus/%s", t->name);
    DIR *d = opendir(dir);
    CHECKF(d, "no corpus directory %s", dir);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *data = test_read_file(path, &len);
        if (!data)
            continue;
        t->fn((const uint8_t *)data, len);
        free(data);
        n++;
    }
    closedir(d);
    CHECKF(n > 0, "corpus %s is empty", dir);
    test_note("%zu inputs", n);
}

void test_register_fuzz_replay(void);
void test_register_fuzz_replay(void)
{
    for (const fuzz_target *t = fuzz_targets; t->name; t++) {
        char name[128];
        snprintf(name, sizeof name, "fuzz_replay_%s", t->name);
        test_register(name, replay, t);
    }
}
