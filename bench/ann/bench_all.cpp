// bench_all.cpp: the side-by-side part of the ANN benchmark: builds
// semdex's HNSW (libsemdex.a, src/index/hnsw.h), hnswlib (Debian
// libhnswlib-dev, header-only) and FAISS IndexHNSWFlat (Debian libfaiss-dev)
// with the same M and ef_construction, one thread each, then measures
// recall@10 and QPS per search ef with the engines' timed passes interleaved
// (rep 1: A B C, rep 2: B C A, ...), so that a shared machine's load falls on
// all of them alike; medians of the passes.  Times are process CPU time.
// Prints `ENGINE build ...` and `ENGINE search ef=.. recall@10=.. qps=..`.
//
//   bench_all BASE.fvecs QUERY.fvecs GT.ivecs l2|ip M EFC EFS REPS ENGINES
//   (ENGINES: comma-separated among semdex,hnswlib,faiss)
#include "vecs_io.h"
#include <faiss/IndexHNSW.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>
extern "C" {
#include "../../src/index/hnsw.h"
}

struct engine {
    std::string name;
    virtual ~engine() {}
    virtual void add_all(const float *x, size_t n, size_t dim) = 0;
    virtual void set_ef(size_t ef) = 0;
    // writes k labels (fewer: -1)
    virtual void search(const float *q, size_t k, int64_t *out) = 0;
};

struct semdex_engine : engine {
    hnsw_index *h = nullptr;
    size_t ef = 10;
    semdex_engine(size_t dim, bool ip, size_t M, size_t efc)
    {
        name = "semdex";
        hnsw_params p = hnsw_params_default();
        p.M = M;
        p.ef_construction = efc;
        h = hnsw_new(dim, ip ? HNSW_METRIC_DOT : HNSW_METRIC_L2, &p);
        if (!h) {
            fprintf(stderr, "hnsw_new failed\n");
            exit(1);
        }
    }
    ~semdex_engine() { hnsw_free(h); }
    void add_all(const float *x, size_t n, size_t dim) override
    {
        semdex_error err = {};
        hnsw_reserve(h, n, &err); /* as hnswlib's max_elements */
        for (size_t i = 0; i < n; i++)
            if (hnsw_add(h, (int64_t)i, x + i * dim, &err)) {
                fprintf(stderr, "hnsw_add: %s\n", err.message);
                exit(1);
            }
    }
    void set_ef(size_t e) override { ef = e; }
    void search(const float *q, size_t k, int64_t *out) override
    {
        size_t got = hnsw_search(h, q, k, ef, nullptr, nullptr, out, nullptr);
        for (size_t i = got; i < k; i++)
            out[i] = -1;
    }
};

struct hnswlib_engine : engine {
    hnswlib::L2Space l2;
    hnswlib::InnerProductSpace ips;
    hnswlib::HierarchicalNSW<float> *h = nullptr;
    hnswlib_engine(size_t dim, bool ip, size_t n, size_t M, size_t efc) : l2(dim), ips(dim)
    {
        name = "hnswlib";
        h = new hnswlib::HierarchicalNSW<float>(ip ? (hnswlib::SpaceInterface<float> *)&ips : &l2, n, M, efc, 100);
    }
    ~hnswlib_engine() { delete h; }
    void add_all(const float *x, size_t n, size_t dim) override
    {
        for (size_t i = 0; i < n; i++)
            h->addPoint(x + i * dim, i);
    }
    void set_ef(size_t ef) override { h->setEf(ef); }
    void search(const float *q, size_t k, int64_t *out) override
    {
        auto r = h->searchKnn(q, k);
        size_t i = r.size();
        for (size_t j = i; j < k; j++)
            out[j] = -1;
        while (!r.empty()) {
            out[--i] = (int64_t)r.top().second;
            r.pop();
        }
    }
};

struct faiss_engine : engine {
    faiss::IndexHNSWFlat index;
    std::vector<float> dist;
    std::vector<faiss::Index::idx_t> lab;
    faiss_engine(size_t dim, bool ip, size_t M, size_t efc)
        : index((int)dim, (int)M, ip ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2)
    {
        name = "faiss";
        index.hnsw.efConstruction = (int)efc;
    }
    void add_all(const float *x, size_t n, size_t) override { index.add((faiss::Index::idx_t)n, x); }
    void set_ef(size_t ef) override { index.hnsw.efSearch = (int)ef; }
    void search(const float *q, size_t k, int64_t *out) override
    {
        dist.resize(k);
        lab.resize(k);
        index.search(1, q, (faiss::Index::idx_t)k, dist.data(), lab.data());
        for (size_t i = 0; i < k; i++)
            out[i] = lab[i];
    }
};

int main(int argc, char **argv)
{
    if (argc < 10) {
        fprintf(stderr, "usage: bench_all BASE QUERY GT l2|ip M EFC EFS REPS ENGINES\n");
        return 2;
    }
    omp_set_num_threads(1);
    size_t n, dim, nq, qdim, ng, gk;
    std::vector<float> base = read_vecs<float>(argv[1], &n, &dim);
    std::vector<float> q = read_vecs<float>(argv[2], &nq, &qdim);
    std::vector<int32_t> gt = read_vecs<int32_t>(argv[3], &ng, &gk);
    if (qdim != dim || ng < nq || gk < 10) {
        fprintf(stderr, "mismatched files\n");
        return 1;
    }
    bool ip = std::string(argv[4]) == "ip";
    size_t M = strtoul(argv[5], NULL, 10), efc = strtoul(argv[6], NULL, 10);
    std::vector<size_t> efs = parse_efs(argv[7]);
    int reps = atoi(argv[8]);
    std::string names = std::string(",") + argv[9] + ",";
    const size_t k = 10;

    std::vector<engine *> engines;
    for (const char *name : {"semdex", "hnswlib", "faiss"}) {
        if (names.find(std::string(",") + name + ",") == std::string::npos)
            continue;
        double rss0 = rss_mb();
        double t0 = now_s(), w0 = wall_s();
        engine *e = !strcmp(name, "semdex")    ? (engine *)new semdex_engine(dim, ip, M, efc)
                    : !strcmp(name, "hnswlib") ? (engine *)new hnswlib_engine(dim, ip, n, M, efc)
                                               : (engine *)new faiss_engine(dim, ip, M, efc);
        e->add_all(base.data(), n, dim);
        double build = now_s() - t0, wall = wall_s() - w0;
        printf("%s build seconds=%.3f wall_seconds=%.3f vectors_per_s=%.1f rss_mb=%.1f\n", name, build, wall,
               n / build, rss_mb() - rss0);
        fflush(stdout);
        engines.push_back(e);
    }
    std::vector<int64_t> out(k);
    for (size_t ef : efs) {
        std::vector<double> recall(engines.size());
        std::vector<std::vector<double>> t(engines.size());
        for (size_t j = 0; j < engines.size(); j++) {
            engines[j]->set_ef(ef);
            size_t hit = 0;
            for (size_t i = 0; i < nq; i++) {
                engines[j]->search(q.data() + i * dim, k, out.data());
                for (size_t a = 0; a < k; a++)
                    for (size_t c = 0; c < k; c++)
                        if (out[c] == gt[i * gk + a]) {
                            hit++;
                            break;
                        }
            }
            recall[j] = (double)hit / (double)(nq * k);
        }
        for (int rep = 0; rep < reps; rep++)
            for (size_t o = 0; o < engines.size(); o++) {
                size_t j = (o + (size_t)rep) % engines.size();
                double s = now_s();
                for (size_t i = 0; i < nq; i++)
                    engines[j]->search(q.data() + i * dim, k, out.data());
                t[j].push_back(now_s() - s);
            }
        for (size_t j = 0; j < engines.size(); j++)
            printf("%s search ef=%zu recall@10=%.4f qps=%.1f\n", engines[j]->name.c_str(), ef, recall[j],
                   nq / median(t[j]));
        fflush(stdout);
    }
    for (engine *e : engines)
        delete e;
    return 0;
}
