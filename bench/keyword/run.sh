#!/usr/bin/env bash
# run.sh: keyword retrieval, semdex against SQLite FTS5 (unicode61 and trigram
# tokenizers, bm25() ranking) on XQuAD English and Chinese, in one run, scored
# by one program (`semdex eval`).  `make bench-keyword` calls it; run it from
# anywhere.  See bench/keyword/README.md.
#
#   bash bench/keyword/run.sh [--no-icu] [--sentences]
#
#   --no-icu      leave out the ICU segmenter rows (no libicu-dev needed)
#   --sentences   also the harder set: each sentence a document
# Environment:
#   SEMDEX_SHARED=../shared   where data/qa-xquad is, relative to the repository root
#   CC=cc, MAKE=make
#
# Writes bench/out/keyword/ (gitignored): the BEIR files of each set, the run
# files of the other engines, results.jsonl (one JSON line per engine and
# set) and report.txt (the tables, also printed).
set -eu
set -o pipefail

icu=1
sentences=0
for arg in "$@"; do
    case "$arg" in
    --no-icu) icu=0 ;;
    --sentences) sentences=1 ;;
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
SHARED=${SEMDEX_SHARED:-../shared}
XQUAD=$SHARED/data/qa-xquad
CC=${CC:-cc}
MAKE=${MAKE:-make}
OUT=bench/out/keyword
RESULTS=$OUT/results.jsonl
LIBS="-lutf8proc -lpcre2-8 -lsqlite3 -lm -lpthread"

say() { printf '%s\n' "$*" >&2; }
die() {
    say "run.sh: $*"
    exit 1
}

[ -f "$XQUAD/xquad.zh.json" ] || die "no XQuAD at $XQUAD (set SEMDEX_SHARED)"
mkdir -p "$OUT"

# --- build -------------------------------------------------------------------
say "== building semdex, libsemdex.a and $OUT/bench_keyword"
"$MAKE" --no-print-directory semdex libsemdex.a >&2 || die "make failed"
if [ "$icu" = 1 ] && [ ! -f /usr/include/unicode/ubrk.h ]; then
    say "== installing libicu-dev with apt-get (for the ICU segmenter rows; --no-icu skips them)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libicu-dev; } >&2 ||
        { say "    (apt-get failed: no ICU rows)"; icu=0; }
fi
icu_flags=""
[ "$icu" = 1 ] && icu_flags="-DBENCH_ICU -licuuc -licudata"
# shellcheck disable=SC2086
"$CC" -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc/core -Isrc/index bench/keyword/bench_keyword.c libsemdex.a \
    $icu_flags $LIBS -o "$OUT/bench_keyword" || die "compiling bench/keyword/bench_keyword.c failed"
sqlite3_version=$(printf 'SELECT sqlite_version();' | sqlite3 2>/dev/null || echo "?")

# --- run ---------------------------------------------------------------------
: >"$RESULTS"
# field NAME JSON: the number after "NAME": in a JSON line
field() { sed -n "s/.*\"$1\": \([-0-9.e]*\).*/\1/p" <<<"$2"; }

# One set: semdex in its default and alternative analyses, then the other engines.
run_set() {
    local lang=$1 unit=$2 set=xquad-$1-$2 dir=$OUT/xquad-$1-$2
    ./semdex eval --xquad "$XQUAD" --lang "$lang" --unit "$unit" --write-beir "$dir" 2>/dev/null ||
        die "semdex eval --write-beir failed"
    local beir=(--corpus "$dir/corpus.jsonl" --queries "$dir/queries.jsonl" --qrels "$dir/qrels/test.tsv")
    local line
    say "== $set"
    line=$(./semdex eval "${beir[@]}" --json) || die "semdex eval failed on $set"
    printf '{"set": "%s", "engine": "semdex", %s\n' "$set" "${line#\{}" >>"$RESULTS"
    if [ "$lang" = zh ]; then
        for zh in words bigrams chars+bigrams chars; do
            line=$(./semdex eval "${beir[@]}" --zh "$zh" --json) || die "semdex eval --zh $zh failed"
            printf '{"set": "%s", "engine": "semdex --zh %s", %s\n' "$set" "$zh" "${line#\{}" >>"$RESULTS"
        done
    fi
    local engines="fts5-unicode61 fts5-trigram"
    [ "$icu" = 1 ] && [ "$lang" = zh ] && engines="$engines icu-words icu-words+chars"
    for e in $engines; do
        local res
        res=$("$OUT/bench_keyword" "$e" "$dir/corpus.jsonl" "$dir/queries.jsonl" "$OUT/$set.$e.run") ||
            die "bench_keyword $e failed on $set"
        line=$(./semdex eval "${beir[@]}" --run "$OUT/$set.$e.run" --label "$e" --json) ||
            die "semdex eval --run failed for $e on $set"
        local idx ms
        idx=$(sed -n 's/.*index_s=\([0-9.]*\).*/\1/p' <<<"$res")
        ms=$(sed -n 's/.*ms_per_query=\([0-9.]*\).*/\1/p' <<<"$res")
        line=$(sed "s/\"index_s\": [0-9.]*/\"index_s\": $idx/; s/\"ms_per_query\": [0-9.]*/\"ms_per_query\": $ms/" <<<"$line")
        printf '{"set": "%s", "engine": "%s", %s\n' "$set" "$e" "${line#\{}" >>"$RESULTS"
    done
}

units="passage"
[ "$sentences" = 1 ] && units="passage sentence"
for unit in $units; do
    for lang in en zh; do
        run_set "$lang" "$unit"
    done
done

# --- report ------------------------------------------------------------------
report() {
    local unit=$1
    local first_en first_zh
    first_en=$(grep -m1 -F "\"set\": \"xquad-en-$unit\"" "$RESULTS")
    first_zh=$(grep -m1 -F "\"set\": \"xquad-zh-$unit\"" "$RESULTS")
    printf '\nXQuAD, documents = %ss (en %s, zh %s), %s questions per language; SQLite %s; k1 = 1.2, b = 0.75\n' \
        "$unit" "$(field documents "$first_en")" "$(field documents "$first_zh")" "$(field queries "$first_en")" \
        "$sqlite3_version"
    printf '%-26s | %-24s | %-24s | %s\n' "" "English" "Chinese" "index s / ms per query"
    printf '%-26s | %7s %7s %8s | %7s %7s %8s | %s\n' "engine" "R@10" "MRR@10" "nDCG@10" "R@10" "MRR@10" "nDCG@10" "(en; zh)"
    local engines
    engines=$(grep "\"set\": \"xquad-[a-z]*-$unit\"" "$RESULTS" | sed 's/.*"engine": "\([^"]*\)".*/\1/' | awk '!seen[$0]++')
    while IFS= read -r e; do
        local en zh
        en=$(grep -F "\"set\": \"xquad-en-$unit\", \"engine\": \"$e\"," "$RESULTS" || true)
        zh=$(grep -F "\"set\": \"xquad-zh-$unit\", \"engine\": \"$e\"," "$RESULTS" || true)
        cell() {
            if [ -n "$1" ]; then
                printf '%7.4f %7.4f %8.4f' "$(field recall "$1")" "$(field 'mrr@10' "$1")" "$(field 'ndcg@10' "$1")"
            else
                printf '%7s %7s %8s' - - -
            fi
        }
        timing() { [ -n "$1" ] && printf '%.2f / %.2f' "$(field index_s "$1")" "$(field ms_per_query "$1")" || printf -- '-'; }
        printf '%-26s | %s | %s | %s; %s\n' "$e" "$(cell "$en")" "$(cell "$zh")" "$(timing "$en")" "$(timing "$zh")"
    done <<<"$engines"
}
{
    for unit in $units; do report "$unit"; done
} | tee "$OUT/report.txt"
