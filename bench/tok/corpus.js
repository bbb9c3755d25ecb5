'use strict'
// corpus.js: the corpus file that both sides of the tokenizer benchmark read
// (bench_tok.c for semdex, hf_bench.js for Hugging Face tokenizers), written
// from a fixture's expected.jsonl so that the C program needs no JSON parser.
// Knows nothing of either tokenizer library.
//
// Format (all integers unsigned 32-bit little-endian):
//   magic    8 bytes "SDXTOKC1" (format version 1)
//   count    number of records
//   count records, each:
//     text_len   bytes of UTF-8 in text
//     pair_len   bytes of UTF-8 in text_pair, or 0xFFFFFFFF when the line has none
//     n_ids      number of expected ids, or 0xFFFFFFFF when the line has none
//     text       text_len bytes
//     pair       pair_len bytes (absent when there is no pair)
//     ids        n_ids signed 32-bit little-endian ids (absent when none)
// Texts are length-prefixed, not NUL-separated: fixture texts may hold any
// character, U+0000 included.  The expected ids are what the reference
// produced (special tokens added, no truncation, no padding); each side
// checks its output against them once, outside the timed passes.
//
// Command line:  node corpus.js prep FIXTURE_DIR OUT_FILE
// prints one line "records=N pairs=N bytes=N tokens=N family=F".

const fs = require('node:fs')
const path = require('node:path')

const MAGIC = 'SDXTOKC1'
const NONE = 0xffffffff

// Tokenizer family from tokenizer.json.  Old files (bert-base-chinese) have no
// model.type; the Rust library then infers it from the keys, and so do we.
function familyOf(tokJson) {
  const m = tokJson.model || {}
  if (typeof m.type === 'string') return m.type
  if (Array.isArray(m.vocab)) return 'Unigram'
  if (m.merges !== undefined) return 'BPE'
  if (m.continuing_subword_prefix !== undefined || m.max_input_chars_per_word !== undefined) return 'WordPiece'
  return 'WordLevel'
}

function u32(n) {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

function writeCorpus(jsonlPath, outPath) {
  const lines = fs.readFileSync(jsonlPath, 'utf8').split('\n').filter((l) => l.length > 0)
  const parts = [Buffer.from(MAGIC, 'latin1'), u32(lines.length)]
  const st = { records: 0, pairs: 0, bytes: 0, tokens: 0 }
  for (const [i, line] of lines.entries()) {
    const rec = JSON.parse(line)
    if (typeof rec.text !== 'string') throw new Error(`${jsonlPath}: line ${i + 1}: no "text"`)
    const text = Buffer.from(rec.text, 'utf8')
    const hasPair = typeof rec.text_pair === 'string'
    const pair = hasPair ? Buffer.from(rec.text_pair, 'utf8') : null
    const ids = Array.isArray(rec.ids) ? rec.ids : null
    const idBuf = ids ? Buffer.alloc(4 * ids.length) : null
    if (ids) ids.forEach((id, k) => idBuf.writeInt32LE(id, 4 * k))
    parts.push(u32(text.length), u32(hasPair ? pair.length : NONE), u32(ids ? ids.length : NONE), text)
    if (hasPair) parts.push(pair)
    if (ids) parts.push(idBuf)
    st.records++
    st.pairs += hasPair ? 1 : 0
    st.bytes += text.length + (hasPair ? pair.length : 0)
    st.tokens += ids ? ids.length : 0
  }
  const tmp = `${outPath}.tmp${process.pid}`
  fs.writeFileSync(tmp, Buffer.concat(parts))
  fs.renameSync(tmp, outPath)
  return st
}

// Returns { records: [{ text, pair (string or null), ids (array or null) }], bytes }.
function readCorpus(file) {
  const b = fs.readFileSync(file)
  if (b.length < 12 || b.toString('latin1', 0, 8) !== MAGIC) throw new Error(`${file}: not a ${MAGIC} corpus`)
  const count = b.readUInt32LE(8)
  let off = 12
  const need = (n) => {
    if (off + n > b.length) throw new Error(`${file}: truncated at byte ${off}`)
  }
  const records = []
  let bytes = 0
  for (let i = 0; i < count; i++) {
    need(12)
    const tl = b.readUInt32LE(off)
    const pl = b.readUInt32LE(off + 4)
    const ni = b.readUInt32LE(off + 8)
    off += 12
    need(tl)
    const text = b.toString('utf8', off, off + tl)
    off += tl
    let pair = null
    if (pl !== NONE) {
      need(pl)
      pair = b.toString('utf8', off, off + pl)
      off += pl
    }
    let ids = null
    if (ni !== NONE) {
      need(4 * ni)
      ids = new Array(ni)
      for (let k = 0; k < ni; k++) ids[k] = b.readInt32LE(off + 4 * k)
      off += 4 * ni
    }
    bytes += tl + (pl !== NONE ? pl : 0)
    records.push({ text, pair, ids })
  }
  if (off !== b.length) throw new Error(`${file}: ${b.length - off} trailing bytes`)
  return { records, bytes }
}

module.exports = { familyOf, writeCorpus, readCorpus, MAGIC }

if (require.main === module) {
  const [cmd, dir, out] = process.argv.slice(2)
  if (cmd !== 'prep' || !dir || !out) {
    process.stderr.write('usage: node corpus.js prep FIXTURE_DIR OUT_FILE\n')
    process.exit(2)
  }
  const tokJson = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'))
  const st = writeCorpus(path.join(dir, 'expected.jsonl'), out)
  console.log(`records=${st.records} pairs=${st.pairs} bytes=${st.bytes} tokens=${st.tokens} family=${familyOf(tokJson)}`)
}
