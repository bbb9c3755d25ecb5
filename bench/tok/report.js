'use strict'
// report.js: turns the result lines that run.sh collected (bench/out/tok_results.txt)
// into the benchmark's table.  Knows the goals; knows nothing of how the
// numbers were measured (bench_tok.c, hf_bench.js).
//
//   node report.js RESULTS_FILE
//
// Input lines:
//   RESULT name=N family=F side=semdex|hf mode=encode|load key=value ...
//   ERROR name=N family=F side=semdex|hf mode=encode|load msg=rest of the line

const fs = require('node:fs')
const os = require('node:os')

const GOALS = { WordPiece: 1.0, Unigram: 1.0, BPE: 0.8 } // semdex / HF throughput
const LOAD_GOAL_MS = 300

function parseLine(line) {
  const m = /^(RESULT|ERROR) (.*)$/.exec(line)
  if (!m) return null
  const rec = { kind: m[1] }
  let rest = m[2]
  const msgAt = rest.indexOf(' msg=')
  if (msgAt >= 0) {
    rec.msg = rest.slice(msgAt + 5)
    rest = rest.slice(0, msgAt)
  }
  for (const kv of rest.split(' ')) {
    const eq = kv.indexOf('=')
    if (eq > 0) rec[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  return rec
}

const num = (x) => (x === undefined ? NaN : Number(x))
function si(x) {
  if (!Number.isFinite(x)) return '-'
  if (x >= 1e6) return (x / 1e6).toFixed(2) + 'M'
  if (x >= 1e3) return (x / 1e3).toFixed(1) + 'k'
  return x.toFixed(0)
}
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-')
const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)

function main() {
  const file = process.argv[2]
  if (!file) {
    process.stderr.write('usage: node report.js RESULTS_FILE\n')
    process.exit(2)
  }
  const recs = fs.readFileSync(file, 'utf8').split('\n').map(parseLine).filter(Boolean)
  const byName = new Map()
  for (const r of recs) {
    if (!byName.has(r.name)) byName.set(r.name, { family: r.family })
    byName.get(r.name)[`${r.side}_${r.mode}`] = r
  }

  const out = []
  const semdexVersion = recs.find((r) => r.side === 'semdex' && r.version)
  const hfVersion = recs.find((r) => r.side === 'hf' && r.version)
  out.push('Tokenizer throughput, single thread: semdex vs Hugging Face tokenizers (same run)')
  out.push(
    `  semdex ${semdexVersion ? semdexVersion.version : '-'}; tokenizers ${hfVersion ? hfVersion.version : '-'} ` +
      `(npm binding, node ${process.version}); ${os.cpus()[0].model}, ${os.cpus().length} CPUs`,
  )
  const any = recs.find((r) => r.mode === 'encode' && r.reps)
  out.push(
    `  median of ${any ? any.reps : '?'} repetitions per side, each >= the minimum repetition time; ` +
      'MB = 10^6 bytes of UTF-8 input (text + text_pair)',
  )
  out.push('')

  const header = [
    pad('tokenizer', 24),
    pad('family', 10),
    lpad('semdex MB/s', 11),
    lpad('tok/s', 8),
    lpad('HF batch MB/s', 14),
    lpad('tok/s', 8),
    lpad('ratio', 8),
    lpad('goal', 7),
    pad('  status', 9),
    pad('ids', 5),
    lpad('HF call MB/s', 13),
    lpad('ratio', 8),
  ].join(' ')
  out.push(header)
  out.push('-'.repeat(header.length))

  const notes = []
  let missed = 0
  let invalid = 0
  let unmeasured = 0
  const overheads = []
  for (const [name, t] of byName) {
    if (name === 'load-250k') continue
    const s = t.semdex_encode
    const h = t.hf_encode
    const sOk = s && s.kind === 'RESULT'
    const hOk = h && h.kind === 'RESULT'
    const sPass = sOk ? num(s.median_pass_s) : NaN
    const hPass = hOk ? num(h.median_pass_s) : NaN
    const bytes = num((sOk ? s : h || {}).bytes)
    const sMB = bytes / sPass / 1e6
    const hMB = bytes / hPass / 1e6
    const sTok = sOk ? num(s.tokens) / sPass : NaN
    const hTok = hOk ? num(h.tokens) / hPass : NaN
    // The goal is judged against HF's encodeBatch on one thread: the per-call
    // figure is dominated by the Node binding's fixed cost of each call.
    const hBatch = hOk && h.batch_median_pass_s ? num(h.batch_median_pass_s) : NaN
    const ratio = hBatch / sPass
    const callRatio = hPass / sPass
    const goal = GOALS[t.family]
    // A figure counts only when both sides produced the reference ids.
    const sBad = sOk && num(s.id_mismatches) > 0
    const hBad = hOk && num(h.id_mismatches) > 0
    let status = 'n/a'
    if (Number.isFinite(ratio) && goal !== undefined) {
      if (sBad || hBad) {
        status = 'INVALID'
        invalid++
      } else {
        status = ratio >= goal ? 'met' : 'MISSED'
        if (ratio < goal) missed++
      }
    }
    if (goal !== undefined && !Number.isFinite(ratio)) unmeasured++
    const ids = !sOk && !hOk ? '-' : sBad || hBad ? 'DIFF' : 'ok'
    if (sBad) notes.push(`${name}: semdex ids differ from the reference on ${s.id_mismatches} of ${s.records} inputs (first: input ${s.first_mismatch}; ${s.tokens} tokens, reference ${h && h.tokens ? h.tokens : '?'})`)
    if (hBad) notes.push(`${name}: HF ids differ from the reference on ${h.id_mismatches} of ${h.records} inputs (first: input ${h.first_mismatch})`)
    const hb = bytes / hBatch / 1e6
    if (hOk && h.call_overhead_us) overheads.push(`${name} ${num(h.call_overhead_us).toFixed(1)}`)
    for (const [side, r] of [['semdex', s], ['HF', h]]) {
      if (r && r.kind === 'ERROR') notes.push(`${name}: ${side} failed: ${r.msg}`)
      if (!r && side === 'semdex' && byName.get(name).hf_encode) notes.push(`${name}: semdex not run`)
    }
    out.push(
      [
        pad(name, 24),
        pad(t.family || '?', 10),
        lpad(f2(sMB), 11),
        lpad(si(sTok), 8),
        lpad(f2(hb), 14),
        lpad(si(hTok * hPass / hBatch), 8),
        lpad(Number.isFinite(ratio) ? ratio.toFixed(2) + 'x' : '-', 8),
        lpad(goal !== undefined ? '>=' + goal.toFixed(1) + 'x' : '-', 7),
        pad('  ' + status, 9),
        pad(ids, 5),
        lpad(f2(hMB), 13),
        lpad(Number.isFinite(callRatio) ? callRatio.toFixed(2) + 'x' : '-', 8),
      ].join(' '),
    )
  }
  out.push('')
  out.push('ratio = semdex throughput / HF throughput with encodeBatch on one thread (RAYON_NUM_THREADS=1): the')
  out.push("anchor, as it spreads the Node binding's fixed cost per call over the corpus (the 40 pairs go one at")
  out.push('a time: the binding refuses pairs in a batch).  HF call MB/s and the last ratio are informational:')
  out.push('one `await encode(text, pair)` per input, dominated by the per-call cost of the binding.')
  if (overheads.length) out.push(`HF cost of one encode("") call, us: ${overheads.join(', ')}.`)
  for (const n of notes) out.push('note: ' + n)

  const load = byName.get('load-250k')
  if (load) {
    out.push('')
    const s = load.semdex_load
    const h = load.hf_load
    const vs = (h && h.vocab_size) || (s && s.vocab_size) || '?'
    out.push(`Load time of a tokenizer.json with a ${Number(vs).toLocaleString('en-US')}-piece Unigram vocabulary (median of ${(s && s.reps) || (h && h.reps) || '?'}):`)
    if (s && s.kind === 'RESULT') {
      const ms = num(s.median_s) * 1e3
      const ok = ms < LOAD_GOAL_MS
      const differs = h && h.vocab_size && h.vocab_size !== s.vocab_size
      const verdict = differs ? 'INVALID (vocab size differs from HF)' : ok ? 'met' : 'MISSED'
      if (differs) invalid++
      else if (!ok) missed++
      out.push(`  semdex ${lpad(ms.toFixed(1), 8)} ms   goal < ${LOAD_GOAL_MS} ms: ${verdict}   (vocab size ${s.vocab_size})`)
    } else {
      out.push(`  semdex        - ms   ${s ? 'failed: ' + s.msg : 'not run'}`)
      unmeasured++
    }
    if (h && h.kind === 'RESULT') {
      out.push(`  HF     ${lpad((num(h.median_s) * 1e3).toFixed(1), 8)} ms   (vocab size ${h.vocab_size})`)
    } else {
      out.push(`  HF            - ms   ${h ? 'failed: ' + h.msg : 'not run'}`)
    }
  }
  out.push('')
  const summary = []
  if (missed) summary.push(`${missed} goal(s) missed`)
  if (invalid) summary.push(`${invalid} figure(s) invalid: semdex or HF output differs from the reference`)
  if (unmeasured) summary.push(`${unmeasured} goal(s) not measured: a side failed or was not run`)
  out.push(summary.length ? summary.join('; ') + '.' : 'All measured goals met.')
  console.log(out.join('\n'))
}

main()
