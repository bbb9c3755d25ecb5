// bench_hnswlib.cpp: the hnswlib anchor (Debian libhnswlib-dev, header-only)
// of the ANN benchmark: builds HierarchicalNSW single-threaded with the same
// M / ef_construction as semdex and reports build time, memory, and per-ef
// recall@10 with single-thread QPS (median of reps), as `semdex bench ann`.
//
//   bench_hnswlib BASE.fvecs QUERY.fvecs GT.ivecs METRIC(l2|ip) M EFC EFS REPS
#include "vecs_io.h"
#include <hnswlib/hnswlib.h>

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: bench_hnswlib BASE QUERY GT l2|ip M EFC EFS REPS\n");
        return 2;
    }
    size_t n, dim, nq, qdim, ng, gk;
    std::vector<float> base = read_vecs<float>(argv[1], &n, &dim);
    std::vector<float> q = read_vecs<float>(argv[2], &nq, &qdim);
    std::vector<int32_t> gt = read_vecs<int32_t>(argv[3], &ng, &gk);
    bool ip = std::string(argv[4]) == "ip";
    size_t M = strtoul(argv[5], NULL, 10), efc = strtoul(argv[6], NULL, 10);
    std::vector<size_t> efs = parse_efs(argv[7]);
    int reps = atoi(argv[8]);
    const size_t k = 10;
    hnswlib::L2Space l2(dim);
    hnswlib::InnerProductSpace ips(dim);
    hnswlib::SpaceInterface<float> *space = ip ? (hnswlib::SpaceInterface<float> *)&ips : &l2;
    double rss0 = rss_mb();
    double t0 = now_s(), w0 = wall_s();
    auto *h = new hnswlib::HierarchicalNSW<float>(space, n, M, efc, 100);
    for (size_t i = 0; i < n; i++)
        h->addPoint(base.data() + i * dim, i);
    double build = now_s() - t0, wall = wall_s() - w0;
    printf("build seconds=%.3f wall_seconds=%.3f vectors_per_s=%.1f rss_mb=%.1f\n", build, wall, n / build,
           rss_mb() - rss0);
    fflush(stdout);
    for (size_t ef : efs) {
        h->setEf(ef);
        size_t hit = 0;
        for (size_t i = 0; i < nq; i++) {
            auto r = h->searchKnn(q.data() + i * dim, k);
            while (!r.empty()) {
                for (size_t a = 0; a < k; a++)
                    if ((int32_t)r.top().second == gt[i * gk + a]) {
                        hit++;
                        break;
                    }
                r.pop();
            }
        }
        std::vector<double> t;
        for (int rep = 0; rep < reps; rep++) {
            double s = now_s();
            for (size_t i = 0; i < nq; i++)
                h->searchKnn(q.data() + i * dim, k);
            t.push_back(now_s() - s);
        }
        printf("search ef=%zu recall@10=%.4f qps=%.1f\n", ef, (double)hit / (double)(nq * k), nq / median(t));
        fflush(stdout);
    }
    delete h;
    return 0;
}
