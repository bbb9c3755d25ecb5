#!/usr/bin/env bash
# run.sh: encoder benchmark, semdex against ONNX Runtime (npm onnxruntime-node)
# and PyTorch (Debian's python3-torch), the same random-weight all-MiniLM-L6-v2
# shaped model in all three, in one run.  `make bench-encoder` calls it; run it
# from anywhere.  See bench/README.md ("Encoder").
#
#   bash bench/encoder/run.sh [--no-semdex]
#
#   --no-semdex   measure only ONNX Runtime and PyTorch (semdex still tokenizes the inputs)
# Environment:
#   BENCH_REPS=5          rounds; every figure is the median over the rounds
#   BENCH_TEXTS=1024      texts for the throughput measurement (the first N of 1024)
#   BENCH_THREADS=2       threads for throughput (latency is always 1 thread)
#   BENCH_BATCH=32        texts per batch for throughput
#   BENCH_LAT_RUNS=200    single-query runs per latency measurement (median)
#   BENCH_MEM_LENGTHS="2048 4096 8192"   token counts of the memory measurement
#   BENCH_PARTS="check ceiling throughput latency memory"   what to run
#   BENCH_KEEP_OPENBLAS_ENV=0   1: keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for PyTorch and
#                         the SGEMM ceiling (by default they are unset there: OpenBLAS detects the CPU)
#   SEMDEX_SHARED=../shared   the shared fixtures and data, relative to the repository root
#   SEMDEX_BIN=""         the semdex program that tokenizes the inputs (default: ./semdex, built by make)
#   PYTHON=""             a python3 with torch and numpy (default: python3 if it has them, else
#                         Debian's /usr/bin/python3, installing python3-torch when missing)
#   CC=cc, MAKE=make
#
# Writes bench/out/ (gitignored): encoder/ (model directories, the ONNX file, inputs,
# programs), encoder_results.txt (raw result lines) and encoder_report.txt (the table,
# also printed).
set -eu
set -o pipefail

no_semdex=0
for arg in "$@"; do
    case "$arg" in
    --no-semdex) no_semdex=1 ;;
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
REPS=${BENCH_REPS:-5}
TEXTS=${BENCH_TEXTS:-1024}
THREADS=${BENCH_THREADS:-2}
BATCH=${BENCH_BATCH:-32}
LAT_RUNS=${BENCH_LAT_RUNS:-200}
MEM_LENGTHS=${BENCH_MEM_LENGTHS:-2048 4096 8192}
PARTS=" ${BENCH_PARTS:-check ceiling throughput latency memory} "
SHARED=${SEMDEX_SHARED:-../shared}
CC=${CC:-cc}
MAKE=${MAKE:-make}
OUT=bench/out
E=$OUT/encoder
RESULTS=$OUT/encoder_results.txt
ORT_VERSION=1.30.0
CORPUS=$SHARED/data/qa-xquad/xquad.en.json

say() { printf '%s\n' "$*" >&2; }
die() {
    say "run.sh: $*"
    exit 1
}
part() { case "$PARTS" in *" $1 "*) return 0 ;; esac; return 1; }

for v in REPS TEXTS THREADS BATCH LAT_RUNS; do
    case "${!v}" in '' | *[!0-9]*) die "BENCH_$v must be a number" ;; esac
done
[ "$REPS" -ge 5 ] || say "warning: BENCH_REPS=$REPS; the reported figures are meant as medians of at least 5"
[ -f "$CORPUS" ] || die "no $CORPUS (set SEMDEX_SHARED)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_install() {
    say "== installing with apt-get: $*"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# --- Node.js and the pinned onnxruntime-node --------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    pkgs=""
    command -v node >/dev/null 2>&1 || pkgs="nodejs"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
    # shellcheck disable=SC2086
    apt_install $pkgs
fi
ort_installed() {
    (cd bench/encoder && node -e "
        const v = require('./node_modules/onnxruntime-node/package.json').version;
        if (v !== '$ORT_VERSION') { console.error('onnxruntime-node ' + v + ' installed, want $ORT_VERSION'); process.exit(1) }
        require('./node_modules/onnxruntime-node')" >/dev/null 2>&1)
}
if ! ort_installed; then
    say "== installing onnxruntime-node@$ORT_VERSION (npm, bench/encoder/node_modules)"
    # its postinstall fetches CUDA binaries only on request; say "skip" anyway
    (cd bench/encoder && export ONNXRUNTIME_NODE_INSTALL=skip npm_config_onnxruntime_node_install=skip &&
        { npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error; })
    ort_installed || die "onnxruntime-node@$ORT_VERSION does not load after npm install (see bench/README.md)"
fi

# --- Python with torch and numpy (Debian's packages) ------------------------
has_torch() { "$1" -c 'import torch, numpy' >/dev/null 2>&1; }
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    for p in python3 /usr/bin/python3; do
        if command -v "$p" >/dev/null 2>&1 && has_torch "$p"; then
            PY=$p
            break
        fi
    done
fi
if [ -z "$PY" ]; then
    apt_install python3-torch python3-numpy python3-onnx
    PY=/usr/bin/python3
fi
has_torch "$PY" || die "$PY cannot import torch and numpy (install python3-torch python3-numpy)"
"$PY" -c 'import onnx' >/dev/null 2>&1 || apt_install python3-onnx || say "warning: no python3-onnx; the ONNX file will not be checked"

# --- programs ----------------------------------------------------------------
mkdir -p "$E"
say "== building ./semdex (tokenizes the inputs) and libsemdex.a"
if [ -n "${SEMDEX_BIN:-}" ]; then
    say "   tokenizing with SEMDEX_BIN=$SEMDEX_BIN"
elif ! "$MAKE" --no-print-directory semdex >&2; then
    [ -x ./semdex ] || die "make semdex failed (SEMDEX_BIN=PATH names another semdex program to tokenize with)"
    say "warning: make semdex failed; tokenizing with the existing ./semdex"
fi
SEMDEX_BIN=${SEMDEX_BIN:-./semdex}
if [ "$no_semdex" -eq 0 ]; then
    "$MAKE" --no-print-directory libsemdex.a >&2 || die "make libsemdex.a failed (--no-semdex measures the others)"
    "$CC" -std=c11 -O2 -Iinclude bench/encoder/bench_encoder.c libsemdex.a -lutf8proc -lpcre2-8 -lm -lpthread \
        -o "$E/bench_encoder" ||
        die "building bench/encoder/bench_encoder.c failed (semdex's model API missing? --no-semdex measures the others)"
fi
if part ceiling; then
    if ! "$CC" -std=c11 -O2 bench/encoder/sgemm.c -lopenblas -o "$E/sgemm" 2>/dev/null; then
        apt_install libopenblas-dev
        "$CC" -std=c11 -O2 bench/encoder/sgemm.c -lopenblas -o "$E/sgemm" || die "building bench/encoder/sgemm.c failed"
    fi
fi

# --- models and inputs -------------------------------------------------------
MINILM=$E/minilm-l6
ONNX=$E/minilm-l6.onnx
BGEM3=$E/bge-m3-2l
stale() { # stale TARGET: missing or older than the generator
    [ ! -e "$1" ] || [ bench/encoder/gen.py -nt "$1" ] || [ bench/encoder/encoder.py -nt "$1" ]
}
if stale "$ONNX" || stale "$MINILM/model.safetensors"; then
    say "== generating $MINILM and $ONNX"
    # (torch.onnx.export's tracer warnings go to the log)
    "$PY" bench/encoder/gen.py model-minilm "$MINILM" "$ONNX" 2>"$E/gen.log" || { cat "$E/gen.log" >&2; die "gen.py model-minilm failed"; }
    grep '^gen:' "$E/gen.log" >&2 || true
fi
if part memory || part check; then
    if stale "$BGEM3/model.safetensors"; then
        say "== generating $BGEM3"
        "$PY" bench/encoder/gen.py model-bgem3 "$BGEM3"
    fi
fi
say "== inputs (token ids from $SEMDEX_BIN tokenize)"
"$PY" bench/encoder/gen.py inputs "$SEMDEX_BIN" "$MINILM" "$CORPUS" "$E/inputs.bin" --n 1024 --min 16 --max 128
"$PY" bench/encoder/gen.py exact "$SEMDEX_BIN" "$MINILM" "$CORPUS" "$E/query16.bin" 16
if part memory || part check; then
    "$PY" bench/encoder/gen.py inputs "$SEMDEX_BIN" "$BGEM3" "$CORPUS" "$E/inputs-xlmr.bin" --n 16 --min 16 --max 128
    for n in $MEM_LENGTHS; do
        "$PY" bench/encoder/gen.py exact "$SEMDEX_BIN" "$BGEM3" "$CORPUS" "$E/long$n.bin" "$n"
    done
fi

# --- engines -----------------------------------------------------------------
log=$E/last.log
: >"$RESULTS"
openblas_env=()
if [ "${BENCH_KEEP_OPENBLAS_ENV:-0}" != 1 ]; then
    openblas_env=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
fi
printf 'ENV openblas_coretype=%s openblas_l2_size=%s kept=%s threads=%s batch=%s texts=%s reps=%s nproc=%s\n' \
    "${OPENBLAS_CORETYPE:-unset}" "${OPENBLAS_L2_SIZE:-unset}" "${BENCH_KEEP_OPENBLAS_ENV:-0}" "$THREADS" "$BATCH" \
    "$TEXTS" "$REPS" "$(nproc)" >>"$RESULTS"
printf 'ENV cpu=%s\n' "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //; s/ /_/g')" >>"$RESULTS"

# thread controls of each engine, for T threads
semdex_run() { # semdex_run T args...
    local t=$1
    shift
    env OMP_NUM_THREADS="$t" "$E/bench_encoder" "$@"
}
ort_run() {
    local t=$1
    shift
    env OMP_NUM_THREADS="$t" node bench/encoder/ort_bench.js "$@"
}
torch_run() {
    local t=$1
    shift
    env "${openblas_env[@]}" OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" OMP_WAIT_POLICY=PASSIVE \
        "$PY" bench/encoder/torch_bench.py "$@"
}

# measure NAME command...: keeps the RESULT/CHECK/INFO lines (with round=N appended
# inside a round), or records an ERROR line
round=""
keep() { grep -E '^(RESULT|CHECK|INFO) ' "$log.out" | sed "s/\$/${round:+ round=$round}/" >>"$RESULTS" || true; }
measure() {
    local name=$1
    shift
    if "$@" >"$log.out" 2>"$log"; then
        sed 's/^/    /' "$log" >&2
        keep
    else
        sed 's/^/    /' "$log" >&2
        keep
        printf 'ERROR name=%s msg=%s\n' "$name" "$(grep -v '^ ' "$log" | tail -n 1 | tr -d '\r')" >>"$RESULTS"
        say "    ($name failed; continuing)"
    fi
}

engines="ort torch"
[ "$no_semdex" -eq 1 ] || engines="semdex ort torch"
measure ort-info node bench/encoder/ort_bench.js info
measure torch-info torch_run "$THREADS" info

if part check; then
    say "== correctness: the same 16 texts (batches of 8, padded) in every engine"
    measure torch-fixture-bert torch_run "$THREADS" fixture "$SHARED/fixtures/models/bert-mean"
    measure torch-fixture-xlmr torch_run "$THREADS" fixture "$SHARED/fixtures/models/xlmr-cls-long"
    measure torch-embed torch_run "$THREADS" embed "$MINILM" "$E/inputs.bin" "$E/emb_torch.f32"
    measure ort-embed ort_run "$THREADS" embed "$ONNX" "$E/inputs.bin" "$E/emb_ort.f32"
    measure check-ort "$PY" bench/encoder/gen.py compare ort-vs-torch "$E/emb_ort.f32" "$E/emb_torch.f32" 384
    measure torch-embed-xlmr torch_run "$THREADS" embed "$BGEM3" "$E/inputs-xlmr.bin" "$E/emb_torch_xlmr.f32"
    if [ "$no_semdex" -eq 0 ]; then
        measure semdex-embed semdex_run "$THREADS" embed "$MINILM" "$E/inputs.bin" "$E/emb_semdex.f32" --threads "$THREADS"
        measure check-semdex-torch "$PY" bench/encoder/gen.py compare semdex-vs-torch "$E/emb_semdex.f32" "$E/emb_torch.f32" 384
        measure check-semdex-ort "$PY" bench/encoder/gen.py compare semdex-vs-ort "$E/emb_semdex.f32" "$E/emb_ort.f32" 384
        measure semdex-embed-xlmr semdex_run "$THREADS" embed "$BGEM3" "$E/inputs-xlmr.bin" "$E/emb_semdex_xlmr.f32" --threads "$THREADS"
        measure check-semdex-torch-xlmr "$PY" bench/encoder/gen.py compare semdex-vs-torch:bge-m3-2l \
            "$E/emb_semdex_xlmr.f32" "$E/emb_torch_xlmr.f32" 1024
    fi
fi

if part ceiling; then
    # bench/kern's program (semdex's packed SGEMM and OpenBLAS, 1 and 2 threads; its
    # "RESULT kind=sgemm ... ours_2t= blas_2t=" lines), through `make bench-kern` when the
    # Makefile has it, else built here from bench/kern/sgemm.c; and, always, OpenBLAS
    # through bench/encoder/sgemm.c for each of three kernel sets.
    if [ "$no_semdex" -eq 0 ]; then
        if grep -q '^bench-kern:' Makefile; then
            say "== SGEMM ceiling: make bench-kern"
            measure kern-ceiling env "${openblas_env[@]}" BENCH_REPS=5 "$MAKE" --no-print-directory bench-kern
        elif [ -f bench/kern/sgemm.c ] &&
            "$CC" -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc/core -Isrc/kern bench/kern/sgemm.c libsemdex.a \
                -lutf8proc -lpcre2-8 -ldl -lm -lpthread -o "$E/kern_sgemm" 2>"$log"; then
            say "== SGEMM ceiling: bench/kern/sgemm.c"
            measure kern-ceiling env "${openblas_env[@]}" BENCH_REPS=5 "$E/kern_sgemm"
        else
            say "   (no bench/kern program to run; the ceiling is OpenBLAS's)"
        fi
    fi
    for core in auto Haswell SkylakeX; do
        say "== SGEMM ceiling: OpenBLAS ($core), $THREADS threads"
        if [ "$core" = auto ]; then
            measure "sgemm-$core" env "${openblas_env[@]}" "$E/sgemm" --threads "$THREADS"
        else
            measure "sgemm-$core" env "${openblas_env[@]}" OPENBLAS_CORETYPE="$core" "$E/sgemm" --threads "$THREADS"
        fi
    done
fi

for round in $(seq 1 "$REPS"); do
    if part throughput; then
        for eng in $engines; do
            say "== round $round/$REPS: throughput, $eng, $THREADS threads, $TEXTS texts in batches of $BATCH"
            case $eng in
            semdex) measure semdex-throughput semdex_run "$THREADS" throughput "$MINILM" "$E/inputs.bin" \
                --threads "$THREADS" --batch "$BATCH" --texts "$TEXTS" ;;
            ort) measure ort-throughput ort_run "$THREADS" throughput "$ONNX" "$E/inputs.bin" \
                --threads "$THREADS" --batch "$BATCH" --texts "$TEXTS" ;;
            torch) measure torch-throughput torch_run "$THREADS" throughput "$MINILM" "$E/inputs.bin" \
                --threads "$THREADS" --batch "$BATCH" --texts "$TEXTS" ;;
            esac
        done
        if part ceiling; then
            # the ceiling again, right after the passes: the share of (3) is taken per round,
            # against the ceiling measured under the same load
            say "== round $round/$REPS: SGEMM ceiling, OpenBLAS, $THREADS threads"
            measure sgemm-round env "${openblas_env[@]}" "$E/sgemm" --threads "$THREADS" --reps 3 --min-s 0.2
        fi
    fi
    if part latency; then
        for eng in $engines; do
            say "== round $round/$REPS: latency, $eng, 1 thread, one 16-token query x $LAT_RUNS"
            case $eng in
            semdex) measure semdex-latency semdex_run 1 latency "$MINILM" "$E/query16.bin" --threads 1 --runs "$LAT_RUNS" ;;
            ort) measure ort-latency ort_run 1 latency "$ONNX" "$E/query16.bin" --threads 1 --runs "$LAT_RUNS" ;;
            torch) measure torch-latency torch_run 1 latency "$MINILM" "$E/query16.bin" --threads 1 --runs "$LAT_RUNS" ;;
            esac
        done
    fi
done

round=""
if part memory && [ "$no_semdex" -eq 0 ]; then
    for n in $MEM_LENGTHS; do
        say "== memory: semdex, $BGEM3, one input of $n tokens, $THREADS threads"
        measure "semdex-memory-$n" semdex_run "$THREADS" memory "$BGEM3" "$E/long$n.bin" --threads "$THREADS"
    done
fi

say ""
"$PY" bench/encoder/report.py "$RESULTS" | tee "$OUT/encoder_report.txt"
