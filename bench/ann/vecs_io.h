// vecs_io.h: minimal .fvecs/.ivecs reading and timing for the C++ anchor
// benchmarks (bench_hnswlib.cpp, bench_faiss.cpp); prints the same
// `KIND key=value` lines as `semdex bench ann`.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <time.h>
#include <vector>

template <class T> static std::vector<T> read_vecs(const char *path, size_t *n, size_t *dim)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    std::vector<T> out;
    int32_t d;
    *n = 0;
    while (fread(&d, 4, 1, f) == 1) {
        if (d <= 0 || d > 65536) {
            fprintf(stderr, "%s: bad dimension\n", path);
            exit(1);
        }
        size_t old = out.size();
        out.resize(old + (size_t)d);
        if (fread(out.data() + old, sizeof(T), (size_t)d, f) != (size_t)d) {
            fprintf(stderr, "%s: truncated\n", path);
            exit(1);
        }
        *dim = (size_t)d;
        (*n)++;
    }
    fclose(f);
    return out;
}

// Process CPU time, as semdex bench ann measures (see cmd_bench.c).
static double now_s()
{
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double wall_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double rss_mb()
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (double)res * 4096.0 / 1e6;
}

static std::vector<size_t> parse_efs(const char *s)
{
    std::vector<size_t> v;
    while (*s) {
        char *end;
        v.push_back(strtoul(s, &end, 10));
        s = *end == ',' ? end + 1 : end;
        if (end == s && *s)
            break;
    }
    return v;
}

static double median(std::vector<double> t)
{
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}
