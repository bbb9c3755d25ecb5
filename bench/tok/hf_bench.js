'use strict'
// hf_bench.js: the Hugging Face side of the tokenizer benchmark, through the
// `tokenizers` npm package (the Rust library's Node binding, pinned in
// package.json).  Mirrors bench_tok.c: same corpus file, same pass /
// repetition scheme, same RESULT line.  Run it with RAYON_NUM_THREADS=1 and
// TOKENIZERS_PARALLELISM=false (run.sh does) so that the Rust side uses one
// thread.
//
//   node hf_bench.js encode TOKENIZER_JSON CORPUS [--reps N] [--min-rep-s S] [--batch] [--overhead]
//   node --expose-gc hf_bench.js load TOKENIZER_JSON [--reps N]
//
// encode: one `await tokenizer.encode(text, pair, {addSpecialTokens: true})`
// per record, one at a time, padding and truncation disabled (the fixtures'
// expected ids have neither; all-MiniLM-L6-v2's tokenizer.json asks for both).
// A pass is one walk over the corpus; each repetition runs as many passes as
// make it last at least --min-rep-s; the figure is the median time per pass.
// The first pass checks every record's ids against the corpus's expected ids.
//   --batch     also times encodeBatch over the single texts (the binding's
//               encodeBatch takes no pairs, so the pair records are encoded
//               one at a time inside the same pass): informational, it shows
//               the Rust library with the binding's per-call cost amortised.
//   --overhead  also times encode("") per call: the binding's fixed cost.
// load: Tokenizer.fromFile, one untimed warm-up then --reps timed loads.
//
// Prints progress on stderr and one line on stdout:
//   RESULT side=hf mode=encode records=.. bytes=.. tokens=.. id_mismatches=.. passes=.. reps=.. median_pass_s=.. ...
//   RESULT side=hf mode=load reps=.. median_s=.. min_s=.. max_s=.. vocab_size=..

const { readCorpus } = require('./corpus.js')

let tokenizers
try {
  tokenizers = require('tokenizers')
} catch (e) {
  process.stderr.write(`hf_bench: cannot load the tokenizers package (run npm ci in bench/tok): ${e.message}\n`)
  process.exit(1)
}
const { Tokenizer } = tokenizers
const HF_VERSION = require('tokenizers/package.json').version

function parseArgs(argv) {
  const o = { pos: [], reps: 5, minRepS: 0.3, batch: false, overhead: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--reps') o.reps = parseInt(argv[++i], 10)
    else if (a === '--min-rep-s') o.minRepS = parseFloat(argv[++i])
    else if (a === '--batch') o.batch = true
    else if (a === '--overhead') o.overhead = true
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
    else o.pos.push(a)
  }
  if (!(o.reps >= 1) || !(o.minRepS >= 0)) throw new Error('bad --reps or --min-rep-s')
  return o
}

const now = () => process.hrtime.bigint()
const secs = (t0, t1) => Number(t1 - t0) / 1e9

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

// Calibrates the passes per repetition (these runs are the warm-up), then
// times `reps` repetitions; returns seconds per pass of each repetition.
async function timeReps(label, pass, reps, minRepS) {
  let passes = 1
  for (;;) {
    const t0 = now()
    for (let p = 0; p < passes; p++) await pass()
    const t = secs(t0, now())
    if (t >= minRepS) break
    const grow = Math.ceil((passes * minRepS * 1.2) / Math.max(t, 1e-9))
    passes = Math.min(Math.max(grow, passes + 1), passes * 100)
  }
  const perPass = []
  for (let r = 0; r < reps; r++) {
    const t0 = now()
    for (let p = 0; p < passes; p++) await pass()
    perPass.push(secs(t0, now()) / passes)
  }
  process.stderr.write(`  hf ${label}: ${passes} passes/rep, per pass ${perPass.map((x) => (x * 1e3).toFixed(2)).join(' ')} ms\n`)
  return { passes, perPass }
}

function fmt(x) {
  return Number.isInteger(x) ? String(x) : x.toPrecision(9)
}

async function benchEncode(tokPath, corpusPath, o) {
  const tok = Tokenizer.fromFile(tokPath)
  tok.disablePadding()
  tok.disableTruncation()
  const { records, bytes } = readCorpus(corpusPath)
  const opts = { addSpecialTokens: true }

  // Check pass: ids against the reference, token count.
  let tokens = 0
  let mismatches = 0
  let firstMismatch = -1
  for (const [i, r] of records.entries()) {
    const ids = (await tok.encode(r.text, r.pair, opts)).getIds()
    tokens += ids.length
    if (r.ids && (ids.length !== r.ids.length || ids.some((id, k) => id !== r.ids[k]))) {
      if (mismatches++ === 0) firstMismatch = i
    }
  }

  const single = async () => {
    for (const r of records) await tok.encode(r.text, r.pair, opts)
  }
  const res = await timeReps('encode', single, o.reps, o.minRepS)
  const out = {
    side: 'hf',
    mode: 'encode',
    version: HF_VERSION,
    records: records.length,
    bytes,
    tokens,
    id_mismatches: mismatches,
    first_mismatch: firstMismatch,
    passes: res.passes,
    reps: o.reps,
    median_pass_s: median(res.perPass),
    min_pass_s: Math.min(...res.perPass),
    max_pass_s: Math.max(...res.perPass),
  }

  if (o.batch) {
    const singles = records.filter((r) => r.pair === null).map((r) => r.text)
    const pairs = records.filter((r) => r.pair !== null)
    const batch = async () => {
      await tok.encodeBatch(singles, opts)
      for (const r of pairs) await tok.encode(r.text, r.pair, opts)
    }
    const rb = await timeReps('encodeBatch', batch, o.reps, o.minRepS)
    out.batch_passes = rb.passes
    out.batch_median_pass_s = median(rb.perPass)
  }

  if (o.overhead) {
    const n = records.length
    const empty = async () => {
      for (let i = 0; i < n; i++) await tok.encode('', null, opts)
    }
    const re = await timeReps('encode("")', empty, o.reps, o.minRepS)
    out.call_overhead_us = (median(re.perPass) / n) * 1e6
  }
  return out
}

function benchLoad(tokPath, o) {
  const gc = typeof global.gc === 'function' ? global.gc : () => {}
  let tok = Tokenizer.fromFile(tokPath) // warm-up: page cache, allocator
  const vocabSize = tok.getVocabSize(true)
  tok = null
  gc()
  const ts = []
  for (let r = 0; r < o.reps; r++) {
    const t0 = now()
    tok = Tokenizer.fromFile(tokPath)
    ts.push(secs(t0, now()))
    tok = null
    gc()
  }
  process.stderr.write(`  hf load: ${ts.map((x) => (x * 1e3).toFixed(1)).join(' ')} ms\n`)
  return {
    side: 'hf',
    mode: 'load',
    version: HF_VERSION,
    reps: o.reps,
    median_s: median(ts),
    min_s: Math.min(...ts),
    max_s: Math.max(...ts),
    vocab_size: vocabSize,
  }
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2)
  const o = parseArgs(rest)
  let out
  if (cmd === 'encode' && o.pos.length === 2) out = await benchEncode(o.pos[0], o.pos[1], o)
  else if (cmd === 'load' && o.pos.length === 1) out = benchLoad(o.pos[0], o)
  else {
    process.stderr.write(
      'usage: node hf_bench.js encode TOKENIZER_JSON CORPUS [--reps N] [--min-rep-s S] [--batch] [--overhead]\n' +
        '       node --expose-gc hf_bench.js load TOKENIZER_JSON [--reps N]\n',
    )
    process.exit(2)
  }
  console.log('RESULT ' + Object.entries(out).map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`).join(' '))
}

main().catch((e) => {
  process.stderr.write(`hf_bench: ${e && e.message ? e.message : e}\n`)
  process.exit(1)
})
