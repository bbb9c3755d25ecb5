'use strict'
// gen_big_unigram.js: makes a tokenizer.json with a large Unigram vocabulary
// (250,000 pieces, as XLM-R / bge-m3 / multilingual-e5 have) for the load-time
// benchmark, from a smaller Unigram tokenizer.json (the xlmr-unigram fixture).
// Everything but model.vocab is kept; synthetic pieces are appended until the
// vocabulary has N entries.  Knows nothing of either tokenizer library.
//
//   node gen_big_unigram.js SRC_TOKENIZER_JSON OUT_TOKENIZER_JSON [N=250000]
//
// The pieces are distinct from each other and from the source's: random
// mixtures of Latin (with some accented letters), CJK ideographs, Cyrillic
// and Hangul, of 1 to 10 characters, about 40% with the SentencePiece word
// prefix "▁", as a multilingual vocabulary has.  Scores continue the source's
// below its lowest score, decreasing with the id like a trained model's, down
// to about -20, rounded to float32 as SentencePiece stores them.  The output is
// pretty-printed with a two-space indent like the files the Hugging Face
// libraries save, so its size (about 17 MB) is close to xlm-roberta-base's.
// A fixed seed makes the file the same on every run.

const fs = require('node:fs')

function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const LATIN = 'abcdefghijklmnopqrstuvwxyzaeiounrstlaeioéèàüöäñçß'
const rnd = mulberry32(250000)
const pick = (s) => s[Math.floor(rnd() * s.length)]
const range = (lo, hi) => String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1)))

function piece() {
  const kind = rnd()
  let n
  let s = ''
  if (kind < 0.4) {
    n = 2 + Math.floor(rnd() * 9)
    for (let i = 0; i < n; i++) s += pick(LATIN)
  } else if (kind < 0.75) {
    n = 1 + Math.floor(rnd() * 4)
    for (let i = 0; i < n; i++) s += range(0x4e00, 0x9fff)
  } else if (kind < 0.9) {
    n = 2 + Math.floor(rnd() * 5)
    for (let i = 0; i < n; i++) s += rnd() < 0.5 ? pick(LATIN) : range(0x4e00, 0x9fff)
  } else if (kind < 0.96) {
    n = 2 + Math.floor(rnd() * 7)
    for (let i = 0; i < n; i++) s += range(0x0430, 0x044f)
  } else {
    n = 1 + Math.floor(rnd() * 3)
    for (let i = 0; i < n; i++) s += range(0xac00, 0xd7a3)
  }
  return rnd() < 0.4 ? '\u2581' + s : s
}

function main() {
  const [src, out, nArg] = process.argv.slice(2)
  const target = nArg ? parseInt(nArg, 10) : 250000
  if (!src || !out || !(target > 0)) {
    process.stderr.write('usage: node gen_big_unigram.js SRC_TOKENIZER_JSON OUT_TOKENIZER_JSON [N]\n')
    process.exit(2)
  }
  const tok = JSON.parse(fs.readFileSync(src, 'utf8'))
  const vocab = tok.model && tok.model.vocab
  if (!Array.isArray(vocab) || (tok.model.type && tok.model.type !== 'Unigram')) {
    throw new Error(`${src}: not a Unigram tokenizer.json`)
  }
  const seen = new Set(vocab.map((e) => e[0]))
  const minScore = Math.min(...vocab.map((e) => e[1]).filter((x) => x < 0))
  const lowest = Math.min(-20, minScore - 1)
  const start = vocab.length
  const extra = target - start
  for (let i = 0; vocab.length < target; ) {
    const p = piece()
    if (seen.has(p)) continue
    seen.add(p)
    // From just below the source's lowest score down to about -20.
    const frac = extra > 1 ? i / (extra - 1) : 0
    const score = Math.fround(minScore - 0.01 + (lowest - minScore) * Math.pow(frac, 0.8))
    vocab.push([p, score])
    i++
  }
  const tmp = `${out}.tmp${process.pid}`
  fs.writeFileSync(tmp, JSON.stringify(tok, null, 2))
  fs.renameSync(tmp, out)
  const size = fs.statSync(out).size
  console.log(`pieces=${vocab.length} added=${vocab.length - start} bytes=${size}`)
}

main()
