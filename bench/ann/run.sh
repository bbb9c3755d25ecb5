#!/usr/bin/env bash
# run.sh: ANN benchmark, semdex's HNSW against hnswlib (Debian libhnswlib-dev)
# and FAISS IndexHNSWFlat (Debian libfaiss-dev), in one run, single thread,
# M 16, ef_construction 200, inner product on normalized vectors; the three
# are built and searched by one program (bench_all.cpp) with interleaved
# timed passes, then `semdex bench ann` measures exact search, filters and
# deletes.  `make bench-ann` calls it; run it from anywhere.  See
# bench/README.md.
#
#   bash bench/ann/run.sh
#
# Environment:
#   BENCH_ANN_N=100000     base vectors (synthetic, clustered, normalized, 384-d)
#   BENCH_ANN_1M=1         also run 1,000,000 vectors (long: hours single-threaded)
#   BENCH_ANN_NQ=1000      queries
#   BENCH_ANN_EFS=...      search ef sweep (default 10,16,24,32,48,64,96,128,192,256,384,512)
#   BENCH_REPS=5           timed passes per ef (medians are reported)
#   BENCH_ANN_ENGINES="semdex hnswlib faiss"
#   BENCH_ANN_PARTS="side cli"   side: the engines side by side (starts the results
#                          file afresh); cli: `semdex bench ann` (exact search, filters,
#                          deletes, the saved image reloaded), appended; the report is made
#                          from the file either way
#                          (BENCH_ANN_PARTS=report: only that)
#   SEMDEX_BIN=./semdex    the semdex program (make builds ./semdex and libsemdex.a first)
#   BENCH_ANN_MARCH=x86-64-v3   -march of the anchors and the bandwidth test: AVX2+FMA, no
#                          AVX-512, as semdex's kernels and the project's target machines
#   CC=cc, CXX=g++, MAKE=make
#
# Writes bench/out/ann/ (gitignored): data (*.fvecs, *.ivecs, cached by size),
# the programs, raw result lines (results_N.txt) and report_N.txt (the table,
# also printed).
set -eu
set -o pipefail
for arg in "$@"; do
    case "$arg" in
    -h | --help)
        sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p;}' "$0"
        exit 0
        ;;
    *)
        echo "run.sh: unknown argument: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done
cd "$(dirname "$0")/../.."

N=${BENCH_ANN_N:-100000}
NQ=${BENCH_ANN_NQ:-1000}
DIM=384
M=16
EFC=200
EFS=${BENCH_ANN_EFS:-10,16,24,32,48,64,96,128,192,256,384,512}
REPS=${BENCH_REPS:-5}
ENGINES=${BENCH_ANN_ENGINES:-semdex hnswlib faiss}
PARTS=" ${BENCH_ANN_PARTS:-side cli} "
CC=${CC:-cc}
MARCH=${BENCH_ANN_MARCH:-x86-64-v3}
CXX=${CXX:-g++}
MAKE=${MAKE:-make}
OUT=bench/out/ann
mkdir -p "$OUT"

say() { printf '%s\n' "$*" >&2; }
die() {
    say "run.sh: $*"
    exit 1
}

# --- anchors: Debian packages, installed when missing -----------------------
missing=""
for p in libhnswlib-dev libfaiss-dev g++; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing$missing"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

# --- programs -----------------------------------------------------------------
$MAKE -s semdex libsemdex.a >&2 || die "make failed"
SEMDEX_BIN=${SEMDEX_BIN:-./semdex}
LIBS=$(sed -n 's/^LIBS *= *//p' Makefile)
$CC -O3 -march=native -ffast-math bench/ann/gen.c -o $OUT/gen -lm -lpthread
$CC -O3 -march=$MARCH bench/ann/bw.c -o $OUT/bw
$CXX -O3 -march=$MARCH -std=c++17 -fopenmp -Iinclude bench/ann/bench_all.cpp libsemdex.a -o $OUT/bench_all \
    -lfaiss -lopenblas $LIBS

run_size() {
    local n=$1 data=$OUT/syn${1}x${DIM}
    local res=$OUT/results_$n.txt rep=$OUT/report_$n.txt
    if [ ! -s ${data}_groundtruth.ivecs ]; then
        say "generating $n x $DIM vectors and exact ground truth"
        $OUT/gen $n $NQ $DIM $data
    fi
    if [ "${PARTS#* side }" != "$PARTS" ]; then
        : >"$res"
        say "memory bandwidth (single thread)"
        $OUT/bw 1024 | sed 's/^/all /' >>"$res"
        say "== $ENGINES side by side, $n vectors (builds, then interleaved search passes)"
        OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $OUT/bench_all ${data}_base.fvecs ${data}_query.fvecs \
            ${data}_groundtruth.ivecs ip $M $EFC $EFS $REPS "$(echo $ENGINES | tr ' ' ,)" | tee -a "$res" >&2
    fi
    if [ "${PARTS#* cli }" != "$PARTS" ]; then
        # semdex alone: exact search, filters and deletes (the issue's sizes: 100k)
        extra="--exact --persist"
        [ "$n" -le 100000 ] && extra="$extra --delete-frac 0.1 --filter-frac 0.01,0.02,0.05,0.1,0.2,0.5"
        say "== semdex bench ann: exact search, filters, deletes"
        $SEMDEX_BIN bench ann --base ${data}_base.fvecs --query ${data}_query.fvecs \
            --gt ${data}_groundtruth.ivecs --metric dot --M $M --ef-construction $EFC \
            --ef 10,16,24,32,48,64 --reps $REPS $extra | sed 's/^/semdex-cli /' | tee -a "$res" >&2
    fi
    report "$res" $n | tee "$rep"
}

# report RESULTS N: the table (QPS at recall 0.90/0.95/0.99, interpolated
# linearly in recall between the two ef around the target; "-" when no ef
# reaches it), build time, memory, exact-search speed against bandwidth.
report() {
    awk -v n="$2" -v engines="$ENGINES" '
    function val(key,   i, kv) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } return "" }
    $2 == "build" { build[$1] = val("seconds"); rss[$1] = val("rss_mb"); idx[$1] = val("index_mb") }
    $2 == "search" { e = $1; k = ++ns[e]; ef[e, k] = val("ef"); rc[e, k] = val("recall@10"); qp[e, k] = val("qps") }
    $2 == "bandwidth" { bw = val("gb_per_s") }
    $2 == "exact" { exq = val("qps"); exgb = val("gb_per_s"); exst = val("stream_gb_per_s") }
    $2 == "filter" { fr = val("frac"); ++nfr; frs[nfr] = fr; fexact[fr] = val("exact_qps"); fbest[fr] = -1 }
    $2 == "filtered" { fr = val("frac"); k = ++nf; fline[k] = sprintf("  %5.1f%% pass  ef %-4s recall@10 %.4f  %8.0f QPS", 100 * fr, val("ef"), val("recall@10"), val("qps"))
        if (val("recall@10") + 0 >= 0.99 && fbest[fr] < 0) { fbest[fr] = val("qps"); fbef[fr] = val("ef") } }
    $2 == "delete" { del_s = val("seconds") }
    $2 == "before_delete" { k = ++nb; brc[k] = val("recall@10") }
    $2 == "after_delete" { k = ++na; arc[k] = val("recall@10"); bad += val("deleted_returned"); aef[k] = val("ef") }
    $2 == "after_reinsert" { k = ++nr; rrc[k] = val("recall@10"); bad += val("deleted_returned") }
    $2 == "reinsert" { growth = val("memory_growth_bytes") }
    $2 == "persist" { p_mb = val("image_mb"); p_save = val("save_seconds"); p_load = val("load_seconds"); p_diff = val("differing") }
    $1 == "semdex-cli" && $2 == "build" { cli_build = val("seconds") }
    function at(e, target,   k, r0, q0) {
        for (k = 1; k <= ns[e]; k++) if (rc[e, k] + 0 >= target) {
            if (k == 1 || rc[e, k] == rc[e, k - 1]) { used[e] = ef[e, k]; return qp[e, k] }
            r0 = rc[e, k - 1]; q0 = qp[e, k - 1]; used[e] = ef[e, k - 1] "-" ef[e, k]
            return q0 + (qp[e, k] - q0) * (target - r0) / (rc[e, k] - r0)
        }
        used[e] = "-"; return -1
    }
    END {
        ne = split(engines, E, " ")
        printf "ANN benchmark: %d synthetic clustered normalized %d-d vectors, inner product, M 16, ef_construction 200, single thread\n\n", n, 384
        printf "%-28s", "" ; for (i = 1; i <= ne; i++) printf "%18s", E[i]; printf "%26s\n", "goal (semdex vs hnswlib)"
        printf "%-28s", "build time (s)"; for (i = 1; i <= ne; i++) printf "%18.1f", build[E[i]]
        if (build["hnswlib"] > 0) printf "%18.2fx %s\n", build["semdex"] / build["hnswlib"], (build["semdex"] <= build["hnswlib"] ? "<= 1: met" : "<= 1: NOT met"); else printf "\n"
        printf "%-28s", "memory, RSS growth (MB)"; for (i = 1; i <= ne; i++) printf "%18.1f", rss[E[i]]; printf "\n"
        for (t = 1; t <= 3; t++) {
            target = (t == 1 ? 0.90 : t == 2 ? 0.95 : 0.99)
            printf "QPS at recall@10 %.2f      ", target
            for (i = 1; i <= ne; i++) { q[E[i]] = at(E[i], target); if (q[E[i]] < 0) printf "%18s", "-"; else printf "%18.0f", q[E[i]] }
            if (q["hnswlib"] > 0 && q["semdex"] > 0) printf "%18.2fx %s", q["semdex"] / q["hnswlib"], (q["semdex"] >= q["hnswlib"] ? ">= 1: met" : ">= 1: NOT met")
            printf "\n%-28s", "  (ef)"; for (i = 1; i <= ne; i++) printf "%18s", used[E[i]]; printf "\n"
        }
        if (exgb != "") {
            printf "\nexact search (semdex, float32, 1 thread): %.1f QPS, %.2f GB/s scanned\n", exq, exgb
            printf "  = %.0f%% of the streaming read of the same bytes interleaved with it (%.2f GB/s; goal >= 80%%: %s)\n", 100 * exgb / exst, exst, (exgb >= 0.8 * exst ? "met" : "NOT met")
            printf "  = %.0f%% of bench/ann/bw.c (AVX2 streaming read, 1 GiB, measured first: %.2f GB/s)\n", 100 * exgb / bw, bw
        }
        if (nf) {
            printf "\nfiltered search (semdex), recall@10 against exact filtered search; QPS of hnsw_search at the first ef with recall >= 0.99 and of hnsw_search_exact:\n"
            for (k = 1; k <= nfr; k++) { fr = frs[k]; printf "  %5.1f%% pass: hnsw %8s QPS (ef %s), exact %8.0f QPS -> %s\n", 100 * fr, (fbest[fr] < 0 ? "-" : sprintf("%.0f", fbest[fr])), (fbest[fr] < 0 ? "-" : fbef[fr]), fexact[fr], (fbest[fr] > fexact[fr] ? "hnsw" : "exact") }
            for (k = 1; k <= nf; k++) print fline[k]
        }
        if (na) {
            printf "\ndeletes (semdex): 10%% of the rows deleted in %.1f s; recall@10 against exact search over the live rows:\n", del_s
            for (k = 1; k <= na; k++) printf "  ef %-4s before %.4f  after delete %.4f (%+.4f)  after reinsert %.4f\n", aef[k], brc[k], arc[k], arc[k] - brc[k], rrc[k]
            printf "  deleted labels returned: %d; memory growth after reinserting as many: %s bytes\n", bad, growth
        }
        if (p_mb != "") {
            printf "\nreopening instead of rebuilding (semdex): the %.0f MB index image saved to a file in %.1f s, read back and loaded in %.1f s", p_mb, p_save, p_load
            if (cli_build > 0) printf " (the build took %.0f s)", cli_build
            printf "; queries answered differently by the loaded index: %d\n", p_diff
        }
        printf "\nper-ef raw figures: %s\n", FILENAME
    }' "$1"
}

run_size "$N"
if [ "${BENCH_ANN_1M:-0}" = 1 ]; then
    run_size 1000000
fi
