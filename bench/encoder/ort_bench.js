// ort_bench.js: ONNX Runtime side of the encoder benchmark (bench/encoder/run.sh),
// through the npm package onnxruntime-node (pinned in bench/encoder/package.json).
//
//   node ort_bench.js throughput MODEL.onnx INPUTS [--threads 2 --batch 32 --reps 1 --warmup 2 --pad 0 --texts 0]
//   node ort_bench.js latency MODEL.onnx QUERY [--threads 1 --runs 200]
//   node ort_bench.js embed MODEL.onnx INPUTS OUT.f32 [--n 16 --batch 8 --threads 2 --pad 0]
//   node ort_bench.js info
//
// The ONNX file (gen.py) takes input_ids and attention_mask (int64, [batch, sequence])
// and returns the pooled, normalized embedding.  Each batch is padded to its longest
// input; the tensors are built before timing.  Session: intraOpNumThreads = --threads,
// interOpNumThreads = 1, sequential execution, graphOptimizationLevel 'all' (ORT's
// own fusions: Gelu, LayerNorm, attention, MatMul+Add).
// Prints progress on stderr and RESULT lines on stdout.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function say(s) {
    process.stderr.write(s + '\n');
}

function readInputs(file) {
    const buf = fs.readFileSync(file);
    if (buf.toString('latin1', 0, 8) !== 'SDXENCI1') throw new Error(`${file}: not an inputs file`);
    const count = buf.readUInt32LE(8);
    let pos = 12;
    const recs = [];
    for (let i = 0; i < count; i++) {
        const tl = buf.readUInt32LE(pos), ni = buf.readUInt32LE(pos + 4);
        pos += 8;
        const text = buf.toString('utf8', pos, pos + tl);
        pos += tl;
        const ids = new Int32Array(ni);
        for (let j = 0; j < ni; j++) ids[j] = buf.readInt32LE(pos + 4 * j);
        pos += 4 * ni;
        recs.push({ text, ids });
    }
    return recs;
}

function makeBatches(recs, order, bs, pad) {
    const idx = recs.map((_, i) => i);
    if (order === 'sorted') idx.sort((a, b) => recs[a].ids.length - recs[b].ids.length || a - b);
    const out = [];
    for (let s = 0; s < idx.length; s += bs) {
        const group = idx.slice(s, s + bs).map((i) => recs[i].ids);
        const L = Math.max(...group.map((g) => g.length));
        const ids = new BigInt64Array(group.length * L).fill(BigInt(pad));
        const mask = new BigInt64Array(group.length * L);
        let real = 0;
        group.forEach((g, r) => {
            for (let j = 0; j < g.length; j++) {
                ids[r * L + j] = BigInt(g[j]);
                mask[r * L + j] = 1n;
            }
            real += g.length;
        });
        out.push({
            feeds: {
                input_ids: new ort.Tensor('int64', ids, [group.length, L]),
                attention_mask: new ort.Tensor('int64', mask, [group.length, L]),
            },
            real,
            padded: group.length * L,
        });
    }
    return out;
}

function session(model, threads) {
    return ort.InferenceSession.create(model, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const n = s.length;
    return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

async function throughput(model, inputs, o) {
    const threads = o.threads ?? 2, bs = o.batch ?? 32, reps = o.reps ?? 1, warmup = o.warmup ?? 2;
    const sess = await session(model, threads);
    let recs = readInputs(inputs);
    if (o.texts) recs = recs.slice(0, o.texts);
    for (const order of ['asis', 'sorted']) {
        const bl = makeBatches(recs, order, bs, o.pad ?? 0);
        for (const b of bl.slice(0, warmup)) await sess.run(b.feeds);
        const times = [];
        for (let r = 0; r < reps; r++) {
            const t0 = now();
            for (const b of bl) await sess.run(b.feeds);
            times.push(now() - t0);
        }
        const tokens = bl.reduce((a, b) => a + b.real, 0), padded = bl.reduce((a, b) => a + b.padded, 0);
        const med = median(times);
        say(`  ort ${order}: ${med.toFixed(3)} s, ${(tokens / med).toFixed(0)} tok/s`);
        console.log(`RESULT engine=ort mode=throughput order=${order} threads=${threads} batch=${bs} ` +
            `texts=${recs.length} tokens=${tokens} padded_tokens=${padded} reps=${reps} ` +
            `times=${times.map((t) => t.toFixed(6)).join(',')} median_s=${med.toFixed(6)}`);
    }
}

async function latency(model, query, o) {
    const threads = o.threads ?? 1, runs = o.runs ?? 200;
    const sess = await session(model, threads);
    const recs = readInputs(query);
    const b = makeBatches(recs, 'asis', 1, 0)[0];
    for (let i = 0; i < 10; i++) await sess.run(b.feeds);
    const times = [];
    for (let i = 0; i < runs; i++) {
        const t0 = now();
        await sess.run(b.feeds);
        times.push(now() - t0);
    }
    const med = median(times);
    say(`  ort latency: ${(med * 1e3).toFixed(3)} ms`);
    console.log(`RESULT engine=ort mode=latency threads=${threads} tokens=${b.real} runs=${runs} ` +
        `median_s=${med.toFixed(7)} min_s=${Math.min(...times).toFixed(7)}`);
}

async function embed(model, inputs, out, o) {
    const sess = await session(model, o.threads ?? 2);
    const recs = readInputs(inputs).slice(0, o.n ?? 16);
    const parts = [];
    for (const b of makeBatches(recs, 'asis', o.batch ?? 8, o.pad ?? 0)) {
        const r = await sess.run(b.feeds);
        parts.push(Buffer.from(r.embedding.data.buffer, r.embedding.data.byteOffset, r.embedding.data.byteLength));
    }
    fs.writeFileSync(out, Buffer.concat(parts));
    say(`  ort: ${recs.length} embeddings -> ${out}`);
}

async function main() {
    const [cmd, ...rest] = process.argv.slice(2);
    const pos = [], o = {};
    for (let i = 0; i < rest.length; i++) {
        if (rest[i].startsWith('--')) o[rest[i].slice(2)] = Number(rest[++i]);
        else pos.push(rest[i]);
    }
    if (cmd === 'throughput') await throughput(pos[0], pos[1], o);
    else if (cmd === 'latency') await latency(pos[0], pos[1], o);
    else if (cmd === 'embed') await embed(pos[0], pos[1], pos[2], o);
    else if (cmd === 'info') {
        const v = require(path.join(__dirname, 'node_modules', 'onnxruntime-node', 'package.json')).version;
        console.log(`INFO engine=ort version=${v} node=${process.version} backends=${ort.listSupportedBackends().map((b) => b.name).join(',')}`);
    } else {
        say('usage: node ort_bench.js throughput|latency|embed|info ... (see the header of this file)');
        process.exit(2);
    }
}

main().catch((e) => {
    say(`ort_bench.js: ${e.stack || e}`);
    process.exit(1);
});
