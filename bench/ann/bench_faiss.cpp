// bench_faiss.cpp: the FAISS anchor (Debian libfaiss-dev, IndexHNSWFlat) of
// the ANN benchmark: one OpenMP thread, same M / ef_construction as semdex;
// build time, memory, per-ef recall@10 and single-thread QPS (median of
// reps; queries searched one at a time, as the others do).
//
//   bench_faiss BASE.fvecs QUERY.fvecs GT.ivecs METRIC(l2|ip) M EFC EFS REPS
#include "vecs_io.h"
#include <faiss/IndexHNSW.h>
#include <omp.h>

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: bench_faiss BASE QUERY GT l2|ip M EFC EFS REPS\n");
        return 2;
    }
    omp_set_num_threads(1);
    size_t n, dim, nq, qdim, ng, gk;
    std::vector<float> base = read_vecs<float>(argv[1], &n, &dim);
    std::vector<float> q = read_vecs<float>(argv[2], &nq, &qdim);
    std::vector<int32_t> gt = read_vecs<int32_t>(argv[3], &ng, &gk);
    bool ip = std::string(argv[4]) == "ip";
    int M = atoi(argv[5]), efc = atoi(argv[6]);
    std::vector<size_t> efs = parse_efs(argv[7]);
    int reps = atoi(argv[8]);
    const size_t k = 10;
    double rss0 = rss_mb();
    double t0 = now_s(), w0 = wall_s();
    faiss::IndexHNSWFlat index((int)dim, M, ip ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2);
    index.hnsw.efConstruction = efc;
    index.add((faiss::Index::idx_t)n, base.data());
    double build = now_s() - t0, wall = wall_s() - w0;
    printf("build seconds=%.3f wall_seconds=%.3f vectors_per_s=%.1f rss_mb=%.1f\n", build, wall, n / build,
           rss_mb() - rss0);
    fflush(stdout);
    std::vector<faiss::Index::idx_t> lab(k);
    std::vector<float> dist(k);
    for (size_t ef : efs) {
        index.hnsw.efSearch = (int)ef;
        size_t hit = 0;
        for (size_t i = 0; i < nq; i++) {
            index.search(1, q.data() + i * dim, k, dist.data(), lab.data());
            for (size_t a = 0; a < k; a++)
                for (size_t c = 0; c < k; c++)
                    if (lab[c] == gt[i * gk + a]) {
                        hit++;
                        break;
                    }
        }
        std::vector<double> t;
        for (int rep = 0; rep < reps; rep++) {
            double s = now_s();
            for (size_t i = 0; i < nq; i++)
                index.search(1, q.data() + i * dim, k, dist.data(), lab.data());
            t.push_back(now_s() - s);
        }
        printf("search ef=%zu recall@10=%.4f qps=%.1f\n", ef, (double)hit / (double)(nq * k), nq / median(t));
        fflush(stdout);
    }
    return 0;
}
