"""torch_bench.py: PyTorch side of the encoder benchmark (bench/encoder/run.sh).

  torch_bench.py throughput MODEL INPUTS [--threads 2 --batch 32 --reps 1 --warmup 2 --texts 0]
  torch_bench.py latency MODEL QUERY [--threads 1 --runs 200]
  torch_bench.py embed MODEL INPUTS OUT.f32 [--n 16 --batch 8 --threads 2]
  torch_bench.py fixture DIR        the encoder against a transformers fixture's
                                    expected_embeddings.jsonl (../shared/fixtures/models)
  torch_bench.py info               torch build, threads, BLAS library and kernel

MODEL is a directory written by gen.py; its model.safetensors is loaded into the
plain-PyTorch encoder of encoder.py.  Inputs carry the token ids semdex gave; each
batch is padded to its longest input (pad id from config.json) with an attention
mask, as HF tokenizers pad.  Padding and tensor creation are done before timing.

Threads: torch.set_num_threads(T) and set_num_interop_threads(1); run.sh also sets
OMP_NUM_THREADS=T and OPENBLAS_NUM_THREADS=T (Debian's torch runs nn.Linear through
libblas.so.3, i.e. OpenBLAS, which has its own thread pool).
Prints progress on stderr and RESULT lines on stdout.
"""
import ctypes
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import encoder  # noqa: E402

import torch  # noqa: E402


def say(*a):
    print(*a, file=sys.stderr, flush=True)


def set_threads(t):
    torch.set_num_threads(t)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (only possible once per process)


def batches(recs, order, bs, pad):
    """[(ids tensor [B, L], mask [B, L], real tokens, padded tokens)]."""
    idx = list(range(len(recs)))
    if order == "sorted":
        idx.sort(key=lambda i: len(recs[i][1]))
    out = []
    for s in range(0, len(idx), bs):
        group = [recs[i][1] for i in idx[s:s + bs]]
        L = max(len(g) for g in group)
        ids = torch.full((len(group), L), pad, dtype=torch.long)
        mask = torch.zeros((len(group), L), dtype=torch.long)
        for r, g in enumerate(group):
            ids[r, :len(g)] = torch.tensor(g, dtype=torch.long)
            mask[r, :len(g)] = 1
        out.append((ids, mask, sum(len(g) for g in group), len(group) * L))
    return out


def blas_info():
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        return (lib.openblas_get_corename().decode(), lib.openblas_get_config().decode().replace(" ", "_"),
                lib.openblas_get_num_threads())
    except (OSError, AttributeError):
        return ("none", "none", 0)


def cmd_throughput(model_dir, inputs, threads=2, batch=32, reps=1, warmup=2, texts=0):
    set_threads(threads)
    model, cfg = encoder.load_model(model_dir)
    recs = encoder.read_inputs(inputs)
    if texts:
        recs = recs[:texts]
    pad = cfg.get("pad_token_id", 0)
    with torch.inference_mode():
        for order in ("asis", "sorted"):
            bl = batches(recs, order, batch, pad)
            for ids, mask, _, _ in bl[:warmup]:
                model(ids, mask)
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                for ids, mask, _, _ in bl:
                    model(ids, mask)
                times.append(time.perf_counter() - t0)
            tokens = sum(b[2] for b in bl)
            padded = sum(b[3] for b in bl)
            med = encoder.median(times)
            say(f"  torch {order}: {med:.3f} s, {tokens / med:.0f} tok/s")
            print(f"RESULT engine=torch mode=throughput order={order} threads={threads} batch={batch} "
                  f"texts={len(recs)} tokens={tokens} padded_tokens={padded} reps={reps} "
                  f"times={','.join(f'{t:.6f}' for t in times)} median_s={med:.6f}", flush=True)


def cmd_latency(model_dir, query, threads=1, runs=200):
    set_threads(threads)
    model, cfg = encoder.load_model(model_dir)
    (text, ids), = encoder.read_inputs(query)
    x = torch.tensor([ids], dtype=torch.long)
    m = torch.ones_like(x)
    with torch.inference_mode():
        for _ in range(10):
            model(x, m)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x, m)
            times.append(time.perf_counter() - t0)
    med = encoder.median(times)
    say(f"  torch latency: {med * 1e3:.3f} ms")
    print(f"RESULT engine=torch mode=latency threads={threads} tokens={len(ids)} runs={runs} "
          f"median_s={med:.7f} min_s={min(times):.7f}", flush=True)


def cmd_embed(model_dir, inputs, out, n=16, batch=8, threads=2):
    set_threads(threads)
    model, cfg = encoder.load_model(model_dir)
    recs = encoder.read_inputs(inputs)[:n]
    res = []
    with torch.inference_mode():
        for ids, mask, _, _ in batches(recs, "asis", batch, cfg.get("pad_token_id", 0)):
            res.append(model(ids, mask))
    torch.cat(res).numpy().astype("<f4").tofile(out)
    say(f"  torch: {len(recs)} embeddings -> {out}")


def cmd_fixture(d):
    model, _ = encoder.load_model(d)
    worst, n = 0.0, 0
    with open(os.path.join(d, "expected_embeddings.jsonl")) as f:
        lines = [json.loads(x) for x in f]
    with torch.inference_mode():
        for o in lines:
            if o.get("prompt_name"):
                continue
            ids = torch.tensor([o["ids"]], dtype=torch.long)
            e = model(ids, torch.ones_like(ids))[0]
            worst = max(worst, (e - torch.tensor(o["embedding"])).abs().max().item())
            n += 1
    ok = worst <= 1e-5
    print(f"CHECK name=torch-vs-transformers:{os.path.basename(os.path.normpath(d))} n={n} "
          f"max_abs_diff={worst:.3g} status={'ok' if ok else 'MISMATCH'}")
    return 0 if ok else 1


def cmd_info():
    core, cfg, nt = blas_info()
    print(f"INFO engine=torch version={torch.__version__} threads={torch.get_num_threads()} "
          f"mkldnn={int(torch.backends.mkldnn.is_available())} blas_core={core} blas_threads={nt} "
          f"blas_config={cfg} cpu_capability={torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, 'cpu') else 'n/a'}")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmd = argv[1]
    pos, opts = [], {}
    it = iter(argv[2:])
    for a in it:
        if a.startswith("--"):
            opts[a[2:].replace("-", "_")] = int(next(it))
        else:
            pos.append(a)
    fn = {"throughput": cmd_throughput, "latency": cmd_latency, "embed": cmd_embed,
          "fixture": cmd_fixture, "info": cmd_info}.get(cmd)
    if fn is None:
        raise SystemExit(f"torch_bench.py: unknown command {cmd}")
    return fn(*pos, **opts) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
