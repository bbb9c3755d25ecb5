#!/usr/bin/env bash
# run.sh: tokenizer benchmark, semdex against Hugging Face tokenizers 0.23.2
# (npm package, the Rust library's Node binding), in one run.  `make bench-tok`
# calls it; run it from anywhere.  See bench/README.md.
#
#   bash bench/tok/run.sh [--hf-only]
#
#   --hf-only   measure only the Hugging Face side (no semdex build)
# Environment:
#   BENCH_REPS=5          timed repetitions per side (medians are reported)
#   BENCH_MIN_REP_S=0.3   minimum seconds per repetition (passes over the corpus are added until reached)
#   BENCH_TOKENIZERS=""   fixture names to run, space- or comma-separated (default: all)
#   BENCH_HF_EXTRAS=1     also time HF encodeBatch and the per-call cost (informational); 0 skips
#   SEMDEX_SHARED=../shared   the shared fixtures, relative to the repository root
#   CC=cc, MAKE=make
#
# Writes bench/out/ (gitignored): tok/*.corpus, bench_tok, xlmr-unigram-250k/,
# tok_results.txt (raw result lines) and tok_report.txt (the table, also printed).
set -eu
set -o pipefail

hf_only=0
for arg in "$@"; do
    case "$arg" in
    --hf-only) hf_only=1 ;;
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
MIN_REP_S=${BENCH_MIN_REP_S:-0.3}
EXTRAS=${BENCH_HF_EXTRAS:-1}
SHARED=${SEMDEX_SHARED:-../shared}
FIXTURES=$SHARED/fixtures/tokenizers
CC=${CC:-cc}
MAKE=${MAKE:-make}
OUT=bench/out
RESULTS=$OUT/tok_results.txt
HF_VERSION=0.23.2

say() { printf '%s\n' "$*" >&2; }
die() {
    say "run.sh: $*"
    exit 1
}

case "$REPS" in '' | *[!0-9]*) die "BENCH_REPS must be a number" ;; esac
[ "$REPS" -ge 5 ] || say "warning: BENCH_REPS=$REPS; the reported figures are meant as medians of at least 5"
[ -d "$FIXTURES" ] || die "no tokenizer fixtures at $FIXTURES (set SEMDEX_SHARED)"

# --- Node.js and the pinned tokenizers package -----------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    pkgs=""
    command -v node >/dev/null 2>&1 || pkgs="nodejs"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
    say "== installing Node.js with apt-get: $pkgs"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs
fi
hf_installed() {
    (cd bench/tok && node -e "
        const v = require('tokenizers/package.json').version;
        if (v !== '$HF_VERSION') { console.error('tokenizers ' + v + ' installed, want $HF_VERSION'); process.exit(1) }
        require('tokenizers')" >/dev/null 2>&1)
}
if ! hf_installed; then
    say "== installing tokenizers@$HF_VERSION (npm, bench/tok/node_modules)"
    (cd bench/tok && { npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error; })
    hf_installed || die "tokenizers@$HF_VERSION does not load after npm install (see bench/README.md)"
fi

# --- semdex: library and benchmark program ---------------------------------
mkdir -p "$OUT/tok"
if [ "$hf_only" -eq 0 ]; then
    say "== building libsemdex.a and $OUT/bench_tok"
    "$MAKE" --no-print-directory libsemdex.a >&2 ||
        die "make libsemdex.a failed (run with --hf-only to measure the Hugging Face side alone)"
    "$CC" -O2 -Iinclude bench/tok/bench_tok.c libsemdex.a -lutf8proc -lpcre2-8 -lm -lpthread \
        -o "$OUT/bench_tok" || die "compiling bench/tok/bench_tok.c failed"
fi

# --- run --------------------------------------------------------------------
hf() { env RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node "$@"; }
log=$OUT/tok/last.log
: >"$RESULTS"

# Runs one side; appends its RESULT line (or an ERROR line) to $RESULTS.
#   measure NAME FAMILY SIDE MODE command...
measure() {
    local name=$1 family=$2 side=$3 mode=$4 line
    shift 4
    if line=$("$@" 2>"$log" | grep '^RESULT '); then
        sed 's/^/    /' "$log" >&2
        printf 'RESULT name=%s family=%s %s\n' "$name" "$family" "${line#RESULT }" >>"$RESULTS"
    else
        sed 's/^/    /' "$log" >&2
        printf 'ERROR name=%s family=%s side=%s mode=%s msg=%s\n' "$name" "$family" "$side" "$mode" \
            "$(grep -v '^ ' "$log" | tail -n 1 | tr -d '\r')" >>"$RESULTS"
        say "    ($side failed; continuing)"
    fi
}

selected() {
    [ -z "${BENCH_TOKENIZERS:-}" ] && return 0
    case " $(printf '%s' "$BENCH_TOKENIZERS" | tr ',' ' ') " in *" $1 "*) return 0 ;; esac
    return 1
}

names=()
for dir in "$FIXTURES"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/tokenizer.json" ] && [ -f "$dir/expected.jsonl" ] && selected "$name" && names+=("$name")
done
[ "${#names[@]}" -gt 0 ] || die "no tokenizer fixture selected under $FIXTURES"
total=${#names[@]}
hf_extra=""
[ "$EXTRAS" = 0 ] || hf_extra="--batch --overhead"

say "== throughput: $total tokenizers, median of $REPS repetitions of >= ${MIN_REP_S}s per side, one thread"
i=0
for name in "${names[@]}"; do
    i=$((i + 1))
    dir=$FIXTURES/$name
    corpus=$OUT/tok/$name.corpus
    info=$(node bench/tok/corpus.js prep "$dir" "$corpus") || die "cannot read $dir/expected.jsonl"
    family=${info##*family=}
    say "== [$i/$total] $name ($family): $info"
    if [ "$hf_only" -eq 0 ]; then
        measure "$name" "$family" semdex encode \
            "$OUT/bench_tok" encode "$dir/tokenizer.json" "$corpus" --reps "$REPS" --min-rep-s "$MIN_REP_S"
    fi
    # shellcheck disable=SC2086
    measure "$name" "$family" hf encode \
        hf bench/tok/hf_bench.js encode "$dir/tokenizer.json" "$corpus" --reps "$REPS" --min-rep-s "$MIN_REP_S" $hf_extra
done

big_src=$FIXTURES/xlmr-unigram/tokenizer.json
big=$OUT/xlmr-unigram-250k/tokenizer.json
if [ -f "$big_src" ]; then
    if [ ! -f "$big" ] || [ "$big_src" -nt "$big" ] || [ bench/tok/gen_big_unigram.js -nt "$big" ]; then
        say "== generating $big (250,000 Unigram pieces)"
        mkdir -p "$(dirname "$big")"
        node bench/tok/gen_big_unigram.js "$big_src" "$big" 250000 >&2
    fi
    say "== load time: $big ($(wc -c <"$big" | tr -d ' ') bytes), median of $REPS"
    if [ "$hf_only" -eq 0 ]; then
        measure load-250k Unigram semdex load "$OUT/bench_tok" load "$big" --reps "$REPS"
    fi
    measure load-250k Unigram hf load hf --expose-gc bench/tok/hf_bench.js load "$big" --reps "$REPS"
else
    say "== skipping the load benchmark: no $big_src"
fi

say ""
node bench/tok/report.js "$RESULTS" | tee "$OUT/tok_report.txt"
